"""SMS segments: counted as a network counts them, and every text the bot can send, in every
language, costs at most 2 segments (Polish goes as UCS-2, so at most 134 characters)."""

from __future__ import annotations

from datetime import timedelta

import pytest

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
LANGUAGES = ("en", "pl")


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
    """Every text the bot can send in `lang`, as sent (placeholders filled in)."""
    texts = [
        (key, CATALOGUE.text(key, lang, privacy_url=PRIVACY, min="-", max="-"))
        for key in CATALOGUE.text_keys()
    ]
    texts.append(("language_menu", ENGINE.language_menu(lang)))
    texts.append(("language_menu(before a language)", ENGINE.language_menu(None)))
    for survey in SURVEYS.values():
        for q in survey.questions:
            texts.append((q.key, ENGINE.render(q, lang)))
            if q.intro:
                texts.append((f"{q.key}.intro", q.intro_in(lang) or ""))
    return texts


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_and_question_fits_two_segments(lang):
    for key, text in sent_texts(lang):
        encoding, count = segments(text)
        assert count <= 2, f"{lang}.{key}: {count} {encoding} segments ({len(text)} chars)"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_launch_language_has_every_text(lang):
    for key in CATALOGUE.text_keys():
        assert isinstance(CATALOGUE.texts[lang].get(key), str), f"{lang}: missing {key}"
    for survey in SURVEYS.values():
        assert lang in survey.languages


def test_polish_really_is_sent_as_ucs2_and_english_as_gsm7():
    assert all(segments(text)[0] == GSM7 for _, text in sent_texts("en")), (
        "no stray non-GSM character"
    )
    assert segments(CATALOGUE.text("intro", "pl"))[0] == UCS2


def test_meta_says_who_wrote_each_language():
    assert CATALOGUE.meta("en")["origin"] == "human"
    assert CATALOGUE.meta("pl")["review"] == "draft", "Polish needs a native speaker's review"
