"""Every text in every language: present, and short enough for SMS (at most 2 segments)."""

from __future__ import annotations

import pytest

from bot.settings import PROJECT_ROOT
from bot.sms import segments
from bot.survey.engine import Engine
from bot.survey.flow import load_surveys
from bot.texts.catalogue import Catalogue

CATALOGUE = Catalogue.load()
SURVEYS = load_surveys(PROJECT_ROOT / "surveys")
PRIVACY = "https://example.nhs.uk/listening-bot/privacy"


def test_segment_counting():
    assert segments("a" * 160) == ("GSM-7", 1)
    assert segments("a" * 161) == ("GSM-7", 2)
    assert segments("€" * 80) == ("GSM-7", 1)       # extension characters count twice
    assert segments("€" * 81) == ("GSM-7", 2)
    assert segments("ą" * 70) == ("UCS-2", 1)
    assert segments("ą" * 71) == ("UCS-2", 2)
    assert segments("😀" * 35) == ("UCS-2", 1)      # an emoji is two UTF-16 units
    assert segments("ą" * 135) == ("UCS-2", 3)


@pytest.mark.parametrize("lang", CATALOGUE.languages)
def test_every_system_text_exists_and_fits_two_segments(lang):
    for key in CATALOGUE.text_keys():
        assert isinstance(CATALOGUE.texts[lang].get(key), str), f"{lang}: missing {key}"
        text = CATALOGUE.text(key, lang, privacy_url=PRIVACY, min="very hard", max="very easy")
        encoding, count = segments(text)
        assert count <= 2, f"{lang}.{key}: {count} {encoding} segments ({len(text)} chars)"


@pytest.mark.parametrize("lang", CATALOGUE.languages)
def test_every_question_as_sent_fits(lang):
    engine = Engine(SURVEYS, CATALOGUE, default_survey="demo", privacy_url=PRIVACY,
                    welcome_back_after=None, resume_expiry=None)  # type: ignore[arg-type]
    for question in SURVEYS["demo"].questions:
        text = engine.render(question, lang)
        # Long option lists (ethnic group, age) may take 3 UCS-2 segments, never more.
        limit = 3 if len(question.options) > 5 else 2
        assert segments(text)[1] <= limit, f"{lang}.{question.key}: {segments(text)}"


def test_meta_says_who_wrote_each_language():
    assert CATALOGUE.meta("en")["origin"] == "human"
    assert CATALOGUE.meta("pl")["review"] == "draft", "Polish needs a native speaker's review"
