"""Which language is this person writing in? Decided once, on first contact, offline.

Short greetings ("hi", "tak") are too short for a statistical detector, so the words people
actually send first are looked up in the NLU training examples (one file per language, so
each example is labelled with its language for free). Longer text goes to lingua, whose model
ships inside its wheel, limited to the languages the bot speaks. Not sure means None: the
engine then shows the language menu, which is always a safe answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import yaml

_SPACE = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def _nlu_examples(path: Path) -> Iterable[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in data.get("nlu", []):
        for line in str(item.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield _MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", line[2:])


class LanguageDetector:
    def __init__(
        self, languages: Iterable[str], nlu_dir: Path, min_confidence: float = 0.75
    ) -> None:
        self.languages = list(languages)
        self.min_confidence = min_confidence
        self._lexicon: dict[str, set[str]] = {}
        for lang in self.languages:
            path = nlu_dir / f"{lang}.yml"
            if path.exists():
                for example in _nlu_examples(path):
                    self._lexicon.setdefault(normalise(example), set()).add(lang)

    @cached_property
    def _lingua(self):  # noqa: ANN202 - lingua has no type stubs
        from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

        known = []
        for code in self.languages:
            iso = getattr(IsoCode639_1, code.upper(), None)
            if iso is not None:
                known.append(Language.from_iso_code_639_1(iso))
        if len(known) < 2:
            return None
        return LanguageDetectorBuilder.from_languages(*known).build()

    def detect(self, text: str) -> str | None:
        key = normalise(text)
        if not key:
            return None
        found = self._lexicon.get(key)
        if found is not None:
            return next(iter(found)) if len(found) == 1 else None
        if len(key) < 8 or self._lingua is None:
            return None
        values = self._lingua.compute_language_confidence_values(text)
        if not values or values[0].value < self.min_confidence:
            return None
        return values[0].language.iso_code_639_1.name.lower()
