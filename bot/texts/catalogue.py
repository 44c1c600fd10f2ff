"""The text catalogue: one YAML file per language, each with its origin and review state.

Adding a language is adding a file: its texts, its own name, and its words for STOP, START,
yes, no and "prefer not to say". A text missing in a language falls back to English rather
than failing (a person should always get an answer); tests make sure no launch language
actually misses one. A translation whose {placeholders} differ from English fails at load.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

TEXTS_DIR = Path(__file__).resolve().parent
FALLBACK = "en"
REVIEW_STATES = ("reviewed", "draft")


class CatalogueError(ValueError):
    pass


@dataclass(frozen=True, eq=False)  # hashed by identity: loaded once, cached by users
class Catalogue:
    texts: dict[str, dict[str, Any]]

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
    texts = {}
    for path in sorted(directory.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(data, dict):
            raise CatalogueError(f"{path.name}: expected a mapping of keys to texts")
        texts[path.stem] = data
    if FALLBACK not in texts:
        raise CatalogueError(f"no {FALLBACK}.yml in {directory}")
    _check(texts)
    return Catalogue(texts)
