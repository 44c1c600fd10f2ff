"""SMS segments: counted as a network counts them, and every text the bot can send, in every
language, costs at most 2 segments (Polish goes as UCS-2, so at most 134 characters)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import segments_report
from bot.settings import PROJECT_ROOT, Settings
from bot.sms import GSM7, UCS2, segments
from bot.survey.engine import Engine
from bot.survey.flow import load_surveys
from bot.texts.catalogue import Catalogue

CATALOGUE = Catalogue.load()
SURVEYS = load_surveys(PROJECT_ROOT / "surveys")
PRIVACY = Settings.model_fields["privacy_url"].default
ENGINE = Engine(
    SURVEYS,
    CATALOGUE,
    default_survey="demo",
    privacy_url=PRIVACY,
    welcome_back_after=timedelta(hours=1),
    resume_expiry=timedelta(days=3),
)
LANGUAGES = tuple(CATALOGUE.languages)  # every language of the catalogue


def test_gsm7_single_and_concatenated():
    assert segments("") == (GSM7, 1)
    assert segments("a" * 160) == (GSM7, 1)
    assert segments("a" * 161) == (GSM7, 2)
    assert segments("a" * 306) == (GSM7, 2)
    assert segments("a" * 307) == (GSM7, 3)
    assert segments("Ñandù £5 @ 10:00 §ÄÖÜ¿¡")[0] == GSM7
    assert segments("ú")[0] == UCS2, "ù is GSM, ú is not"


def test_gsm7_extension_characters_count_twice_and_are_never_split():
    assert segments("€" * 80) == (GSM7, 1)
    assert segments("€" * 81) == (GSM7, 2)
    assert segments("{}[]~|^\\") == (GSM7, 1)
    # 152 plain + "€" (2 septets) does not fit the first 153-septet part: it moves whole.
    assert segments("a" * 152 + "€" + "a" * 152) == (GSM7, 3)
    assert segments("a" * 151 + "€" + "a" * 153) == (GSM7, 2)


def test_any_other_character_makes_the_whole_text_ucs2():
    assert segments("ą" * 70) == (UCS2, 1)
    assert segments("ą" * 71) == (UCS2, 2)
    assert segments("ą" * 134) == (UCS2, 2)
    assert segments("ą" * 135) == (UCS2, 3)
    assert segments("a" * 69 + "ł") == (UCS2, 1)
    assert segments("a" * 70 + "ł") == (UCS2, 2), "one Polish letter halves the room"
    assert segments("ç") == (UCS2, 1), "lower-case ç is not in GSM 03.38 (only Ç is)"
    assert segments("’") == (UCS2, 1), "a curly apostrophe is not GSM either"


def test_emoji_are_two_utf16_units_and_never_split():
    assert segments("😀" * 35) == (UCS2, 1)
    assert segments("😀" * 36) == (UCS2, 2)
    # 66 units + one emoji: the emoji does not fit the 67-unit part and moves whole.
    assert segments("ą" * 66 + "😀" + "ą" * 66) == (UCS2, 3)
    assert segments("ą" * 65 + "😀" + "ą" * 67) == (UCS2, 2)


def sent_texts(lang: str) -> list[tuple[str, str]]:
    """Every text the bot can send in `lang`, as sent: the same list `listening-bot segments`
    reports (system texts, both language menus, every question of every survey as rendered)."""
    return [
        (item.key, item.text)
        for survey in SURVEYS.values()
        for item in segments_report.sent_texts(ENGINE, survey, lang)
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_and_question_fits_two_segments(lang):
    for survey in SURVEYS.values():
        summary = segments_report.summarise(ENGINE, survey, [lang])[0]
        assert summary.sent, "nothing to check"
        over = [f"{s.key}: {s.cost[1]} {s.cost[0]} segments ({len(s.text)} chars)"
                for s in summary.over]
        assert not over, f"{lang}: " + "; ".join(over)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_whole_survey_walks_through_the_engine_in_every_language(lang):
    summary = segments_report.summarise(ENGINE, SURVEYS["demo"], [lang])[0]
    assert summary.completed, f"{lang}: the walk did not reach the end of the survey"
    assert summary.path_segments >= len(summary.path) >= len(SURVEYS["demo"].questions)


def test_the_language_menu_is_the_one_exception_and_lists_every_language():
    """It names every language in its own script, so it cannot fit 2 segments; it is reported
    on its own by `listening-bot segments` and kept from growing past 5."""
    for lang in [None, *LANGUAGES]:
        menu = ENGINE.language_menu(lang)
        for code in LANGUAGES:
            assert CATALOGUE.language_name(code) in menu
        assert segments(menu)[1] <= 5, f"menu in {lang}: {segments(menu)}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_launch_language_has_every_text(lang):
    for key in CATALOGUE.text_keys():
        assert isinstance(CATALOGUE.texts[lang].get(key), str), f"{lang}: missing {key}"
    for survey in SURVEYS.values():
        assert lang in survey.languages


def test_polish_really_is_sent_as_ucs2_and_english_as_gsm7():
    english = [text for key, text in sent_texts("en") if not key.startswith("language_menu")]
    assert english and all(segments(text)[0] == GSM7 for text in english), (
        "no stray non-GSM character (the menu names every language in its own script)"
    )
    assert segments(CATALOGUE.text("intro", "pl"))[0] == UCS2


def test_meta_says_who_wrote_each_language():
    assert CATALOGUE.meta("en")["origin"] == "human"
    assert CATALOGUE.meta("pl")["review"] == "draft", "Polish needs a native speaker's review"
