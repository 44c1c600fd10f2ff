"""Answer understanding: numbers in any script, option words, misspellings, postcodes."""

from __future__ import annotations

import pytest

from bot.settings import PROJECT_ROOT
from bot.survey.answers import parse_number, parse_numbers, postcode_district, understand
from bot.survey.flow import load_surveys
from bot.survey.shortcuts import shortcut

SURVEY = load_surveys(PROJECT_ROOT / "surveys")["demo"]
INFO = SURVEY.question("info_language")          # single: always / sometimes / never
YESNO = SURVEY.question("needed_interpreter")
SCALE = SURVEY.question("access")
POSTCODE = SURVEY.question("postcode")
FREE = SURVEY.question("one_thing")


@pytest.mark.parametrize("text", ["3", "٣", "۳", "৩", "३", "੩", "３", "3️⃣", " 3. ", "3)"])
def test_number_in_any_script(text):
    assert parse_number(text) == 3


@pytest.mark.parametrize("text", ["", "three", "3a", "1234", "-"])
def test_not_a_number(text):
    assert parse_number(text) is None


@pytest.mark.parametrize("text", ["1, 3", "1,3", "1 3", "1 and 3", "١ و ٣".replace(" و ", ",")])
def test_several_numbers(text):
    assert parse_numbers(text) == [1, 3]


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("2", "en", "sometimes"),
        ("Sometimes", "en", "sometimes"),
        ("sometims", "en", "sometimes"),           # misspelt
        ("czasem", "pl", "sometimes"),             # alias
        ("CZASAMI!", "pl", "sometimes"),
        ("Nigdy", "pl", "never"),
        ("never", "pl", "never"),                  # English words work in any language
        ("zawsze", "pl", "always"),
    ],
)
def test_single_choice(text, lang, expected):
    result = understand(INFO, text, lang, "inform", {})
    assert result.ok and result.value == expected


@pytest.mark.parametrize("text", ["4", "0", "maybe tomorrow", ""])
def test_single_choice_rejects(text):
    assert not understand(INFO, text, "en", "inform", {}).ok


def test_choice_from_rasa_entity():
    assert understand(INFO, "/choose", "en", "choose", {"number": 3}).value == "never"
    assert not understand(INFO, "9", "en", "choose", {"number": 9}).ok


def test_prefer_not_to_say_is_an_option_in_words():
    q = SURVEY.question("age")
    assert understand(q, "prefer not to say", "en", "skip", {}).value == "prefer_not"
    assert understand(q, "wolę nie mówić", "pl", "skip", {}).value == "prefer_not"


def test_yes_no_from_intent_emoji_and_number():
    assert understand(YESNO, "tak", "pl", "affirm", {}).value == "yes"
    assert understand(YESNO, "nope", "en", "deny", {}).value == "no"
    assert understand(YESNO, "👍", "en", "nlu_fallback", {}).value == "yes"
    assert understand(YESNO, "👎", "en", "nlu_fallback", {}).value == "no"
    assert understand(YESNO, "1", "en", "choose", {"number": 1}).value == "yes"
    assert not understand(YESNO, "purple", "en", "inform", {}).ok


def test_scale():
    assert understand(SCALE, "4", "en", "choose", {"number": 4}).value == 4
    assert understand(SCALE, "٥", "ar", "inform", {}).value == 5
    assert understand(SCALE, "⭐⭐", "en", "nlu_fallback", {}).value == 2
    assert not understand(SCALE, "6", "en", "choose", {"number": 6}).ok


@pytest.mark.parametrize(
    ("text", "expected"),
    [("IP4", "IP4"), ("ip4 2ab", "IP4"), ("IP42AB", "IP4"), ("co1 1aa", "CO1"),
     ("CB10 1AB", "CB10"), ("SW1A 1AA", "SW1A"), ("E1", "E1")],
)
def test_postcode_keeps_only_the_outward_code(text, expected):
    assert postcode_district(text) == expected
    result = understand(POSTCODE, text, "en", "inform", {})
    assert result.ok and result.value == expected


@pytest.mark.parametrize("text", ["Ipswich", "12345", "I live near the park"])
def test_postcode_rejects(text):
    assert not understand(POSTCODE, text, "en", "inform", {}).ok


def test_free_text_is_kept_as_written():
    text = "  Więcej tłumaczy w przychodni  "
    assert understand(FREE, text, "pl", "help", {}).value == text.strip()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3", ("choose", {"number": 3})), ("٣", ("choose", {"number": 3})),
     ("1, 2", ("choose", {"numbers": [1, 2]})), ("STOP", ("stop", {})), ("stop.", ("stop", {})),
     ("Unsubscribe", ("stop", {})), ("rezygnuję", ("stop", {})), ("REZYGNUJE", ("stop", {})),
     ("start", ("start", {})), ("hello", None), ("", None), ("stop the waiting lists", None)],
)
def test_shortcuts_need_no_nlu(text, expected):
    assert shortcut(text) == expected
