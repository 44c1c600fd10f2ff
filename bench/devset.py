"""The labelled development set in `tests/data/dev/`: loading it, and the few facts about a
message (its length class, whether it is a transliteration) that every report splits on.

Shared by `bench/compare_detectors.py`, `bench/nlu_eval.py` and `tests/test_nlu_eval.py`, so the
figures in the README, the decision record and the test floors are counted the same way.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEV_DIR = ROOT / "tests" / "data" / "dev"
# The launch languages of issue 3, in the repo's codes.
LAUNCH = [
    "en", "pl", "ro", "pt", "lt", "lv", "bg", "ru", "uk", "tr",
    "ar", "ur", "bn", "pa", "ckb", "fa", "ps", "ne", "ti", "es",
]
SHORT, SENTENCE = "short", "sentence"
# Languages whose own script is not Latin: a Latin-letter message in one is a transliteration.
NON_LATIN = frozenset({"bg", "ru", "uk", "ar", "ur", "bn", "pa", "ckb", "fa", "ps", "ne", "ti"})


class DevSetError(ValueError):
    pass


@dataclass(frozen=True)
class Sample:
    lang: str
    text: str
    kind: str  # SHORT or SENTENCE for language ID; the intent's name for intent samples

    @property
    def latin(self) -> bool:
        """A transliteration: a language of another script written in Latin letters."""
        return self.lang in NON_LATIN and is_latin(self.text)


@dataclass(frozen=True)
class DevSet:
    lang: str
    short: tuple[Sample, ...]
    sentences: tuple[Sample, ...]
    intents: dict[str, tuple[Sample, ...]]

    @property
    def language_id(self) -> tuple[Sample, ...]:
        return self.short + self.sentences

    @property
    def intent_samples(self) -> tuple[Sample, ...]:
        return tuple(s for samples in self.intents.values() for s in samples)


def is_latin(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and all("LATIN" in unicodedata.name(c, "") for c in letters)


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not value:
        raise DevSetError(f"{where}: expected a non-empty list of messages")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise DevSetError(f"{where}: {item!r} is not text (quote yes/no words)")
    return value


def load(path: Path) -> DevSet:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    lang = data.get("language")
    if lang != path.stem:
        raise DevSetError(f"{path.name}: 'language' must be {path.stem!r}, got {lang!r}")
    short = _strings(data.get("short"), f"{path.name}: short")
    sentences = _strings(data.get("sentences"), f"{path.name}: sentences")
    for text in short:
        if len(text.split()) > 3:
            raise DevSetError(f"{path.name}: short message {text!r} has more than 3 words")
    intents = data.get("intents")
    if not isinstance(intents, dict) or not intents:
        raise DevSetError(f"{path.name}: expected 'intents', a mapping of intent to messages")
    return DevSet(
        lang=lang,
        short=tuple(Sample(lang, t, SHORT) for t in short),
        sentences=tuple(Sample(lang, t, SENTENCE) for t in sentences),
        intents={
            name: tuple(
                Sample(lang, t, name) for t in _strings(msgs, f"{path.name}: intents.{name}")
            )
            for name, msgs in intents.items()
        },
    )


def load_all(directory: Path = DEV_DIR, languages: list[str] | None = None) -> dict[str, DevSet]:
    """Every language's dev set (or the ones asked for), by code, in launch order."""
    found = {p.stem: p for p in directory.glob("*.yml")}
    wanted = languages or [code for code in LAUNCH if code in found] + sorted(
        set(found) - set(LAUNCH)
    )
    missing = [code for code in wanted if code not in found]
    if missing:
        raise DevSetError(f"no dev set for {', '.join(missing)} in {directory}")
    return {code: load(found[code]) for code in wanted}
