"""The text catalogue: one YAML file per language, each with its origin and review state.

Adding a language is adding a file: its texts, its own name, and its words for STOP, START,
yes, no and "prefer not to say". `<lang>.yml` is written by people; `<lang>.machine.yml` holds
machine pre-translations (`listening-bot translate --system`), and a person's text always wins.
A text missing in a language falls back to English rather than failing (a person should always
get an answer); tests make sure no launch language actually misses one. A translation whose
{placeholders} differ from English fails at load.

Right-to-left languages (`_meta.direction: rtl`) get a right-to-left mark at the start of each
line, so a line that starts with a number or a Latin word ("NHS") still reads from the right
on a phone; `_meta.digits` names the digits a language's readers use every day, and option
numbers are written in them (any script's digits are understood either way).
"""

from __future__ import annotations

import string
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_DIR = Path(__file__).resolve().parent
FALLBACK = "en"
REVIEW_STATES = ("reviewed", "draft")
MACHINE_SUFFIX = ".machine"
RLM, LRM = "\u200f", "\u200e"
_MARKS = (RLM, LRM)


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once, cached by users
class Catalogue:
    texts: dict[str, dict[str, Any]]  # lang -> key -> text, as people wrote them
    machine: dict[str, dict[str, Any]] = field(default_factory=dict)  # as machines wrote them

    @classmethod
    def load(cls, directory: Path = TEXTS_DIR) -> Catalogue:
        return _load(Path(directory))

    @property
    def languages(self) -> list[str]:
        """English first, then the others by code; the language menu numbers them in this order."""
        return [FALLBACK] + sorted(lang for lang in self.texts if lang != FALLBACK)

    def text(self, key: str, lang: str | None, **fmt: Any) -> str:
        """The text in `lang`, else in English; KeyError if English lacks it too."""
        found = self.texts.get(lang or FALLBACK, {}).get(key)
        if not isinstance(found, str):
            found = self.machine.get(lang or FALLBACK, {}).get(key)
        if not isinstance(found, str):
            found = self.texts[FALLBACK][key]
        return found.format(**fmt) if fmt else found

    def language_name(self, lang: str) -> str:
        """The language's name in its own script ("Polski"), as the person would look for it."""
        return self.text("language_name", lang)

    def words(self, lang: str | None, key: str) -> list[str]:
        """A word list (stop_words, yes_words...) of one language; no English fallback."""
        return [str(w) for w in self.texts.get(lang or FALLBACK, {}).get(key) or []]

    def meta(self, lang: str) -> dict[str, str]:
        return dict(self.texts.get(lang, {}).get("_meta", {}))

    def origin(self, key: str, lang: str) -> str | None:
        """Who wrote this text: "human", "machine", or None when the language lacks it."""
        if isinstance(self.texts.get(lang, {}).get(key), str):
            return "human"
        if isinstance(self.machine.get(lang, {}).get(key), str):
            return "machine"
        return None

    def is_rtl(self, lang: str | None) -> bool:
        return self.meta(lang or FALLBACK).get("direction") == "rtl"

    def number(self, n: int, lang: str | None) -> str:
        """`n` in the digits the language's readers use every day."""
        digits = self.meta(lang or FALLBACK).get("digits") or "0123456789"
        return "".join(digits[int(d)] for d in str(n))

    def dress(self, text: str, lang: str | None) -> str:
        """Mark every line of a right-to-left message as right-to-left; others as they are."""
        if not self.is_rtl(lang):
            return text
        return "\n".join(
            line if not line or line.startswith(_MARKS) else RLM + line
            for line in text.split("\n")
        )

    def text_keys(self) -> list[str]:
        """Keys of the texts (not word lists or metadata), as English defines them."""
        return [k for k, v in self.texts[FALLBACK].items() if isinstance(v, str)]


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _check(texts: dict[str, dict[str, Any]]) -> None:
    english = texts[FALLBACK]
    for lang, entries in texts.items():
        meta = entries.get("_meta")
        if (
            not isinstance(meta, dict)
            or meta.get("review") not in REVIEW_STATES
            or not meta.get("origin")
        ):
            raise CatalogueError(
                f"{lang}.yml: needs _meta with origin and review ({'|'.join(REVIEW_STATES)})"
            )
        if meta.get("direction", "ltr") not in ("ltr", "rtl"):
            raise CatalogueError(f"{lang}.yml: _meta direction must be ltr or rtl")
        digits = str(meta.get("digits", "0123456789"))
        if [unicodedata.decimal(d, None) for d in digits] != list(range(10)):
            raise CatalogueError(f"{lang}.yml: _meta digits must be the ten digits 0 to 9, in order")
        if not isinstance(entries.get("language_name"), str):
            raise CatalogueError(f"{lang}.yml: needs language_name, in the language's own script")
        for key, value in entries.items():
            if isinstance(value, bool):
                raise CatalogueError(f"{lang}.yml: '{key}' reads as {value}; put it in quotes")
            if isinstance(value, list) and not all(isinstance(w, str) for w in value):
                raise CatalogueError(
                    f"{lang}.yml: '{key}' has a word that is not text; put it in quotes"
                )
            if (
                isinstance(value, str)
                and isinstance(english.get(key), str)
                and _placeholders(value) != _placeholders(english[key])
            ):
                raise CatalogueError(
                    f"{lang}.yml: '{key}' must use the placeholders {sorted(_placeholders(english[key]))}"
                )


@lru_cache(maxsize=4)
def _load(directory: Path) -> Catalogue:
    texts: dict[str, dict[str, Any]] = {}
    machine: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{path.name}: not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise CatalogueError(f"{path.name}: expected a mapping of keys to texts")
        if path.stem.endswith(MACHINE_SUFFIX):
            machine[path.stem[: -len(MACHINE_SUFFIX)]] = data
        else:
            texts[path.stem] = data
    if FALLBACK not in texts:
        raise CatalogueError(f"no {FALLBACK}.yml in {directory}")
    orphans = sorted(set(machine) - set(texts))
    if orphans:
        raise CatalogueError(
            f"{orphans[0]}{MACHINE_SUFFIX}.yml: write {orphans[0]}.yml first (at least _meta and"
            " language_name, in the language's own script)"
        )
    _check(texts)
    _check({FALLBACK: texts[FALLBACK], **{k: {**texts[k], **v, "_meta": texts[k]["_meta"]}
                                          for k, v in machine.items()}})
    return Catalogue(texts, machine)
