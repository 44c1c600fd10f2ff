"""First-contact language detection: the NLU examples as a lexicon, lingua for longer text,
and None (the menu) when unsure."""

from __future__ import annotations

import pytest

from bot.language import LanguageDetector
from bot.settings import PROJECT_ROOT

DETECTOR = LanguageDetector(["en", "pl"], PROJECT_ROOT / "nlu")


@pytest.mark.parametrize(("text", "lang"), [
    ("Hi", "en"), ("hello!", "en"), ("Dzień dobry", "pl"), ("czesc", "pl"), ("Witam", "pl"),
    ("I would like to tell you about my GP surgery", "en"),
    ("Chciałabym opowiedzieć o mojej przychodni", "pl"),
])
def test_detects(text, lang):
    assert DETECTOR.detect(text) == lang


@pytest.mark.parametrize("text", ["", "👋", "123", "stop", "Salut"])
def test_unsure_means_menu(text):
    assert DETECTOR.detect(text) is None
