"""Answer understanding: numbers in any script, option words, misspellings, emoji, postcodes,
and the no-NLU shortcuts (numbers, STOP and START in every language)."""

from __future__ import annotations

import pytest

from bot.settings import PROJECT_ROOT
from bot.survey.answers import (
    Words,
    fold,
    match_option,
    matches_words,
    number_in_short_reply,
    parse_number,
    parse_numbers,
    postcode_district,
    redact_postcodes,
    understand,
)
from bot.survey.flow import Option, Question, load_surveys
from bot.survey.shortcuts import shortcut

SURVEY = load_surveys(PROJECT_ROOT / "surveys")["demo"]
INFO = SURVEY.question("info_language")  # single: always / sometimes / never
GOT = SURVEY.question("got_interpreter")  # single: yes every time / sometimes / no, never
YESNO = SURVEY.question("needed_interpreter")
SCALE = SURVEY.question("access")  # 1 very hard .. 5 very easy
AGE = SURVEY.question("age")
WHITE = SURVEY.question("ethnic_white")
POSTCODE = SURVEY.question("postcode")
FREE = SURVEY.question("one_thing")
PL_WORDS = Words(
    yes=("tak", "jasne", "yes"),
    no=("nie", "no"),
    prefer_not=("wolę nie odpowiadać", "nie chcę mówić", "prefer not to say"),
)
SUPPORT = Question(
    key="support",
    type="multiple",
    text={"en": "Who helps you?"},
    options=tuple(
        Option(k, {"en": t, "pl": p})
        for k, t, p in [
            ("family", "Family", "Rodzina"),
            ("friends", "Friends", "Przyjaciele"),
            ("gp", "My GP", "Mój lekarz"),
            ("nobody", "Nobody", "Nikt"),
        ]
    ),
)


def answer(question: Question, text: str, lang: str = "en", intent: str = "inform", **entities):
    result = understand(question, text, lang, intent, entities, PL_WORDS if lang == "pl" else None)
    return result.value if result.ok else None


# -- numbers --------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["3", "٣", "۳", "৩", "३", "੩", "３", "3️⃣", " 3. ", "3)", "#3"])
def test_number_in_any_script(text):
    assert parse_number(text) == 3


def test_numbers_with_more_digits_in_other_scripts():
    assert parse_number("٤٢") == 42
    assert parse_number("४२") == 42


@pytest.mark.parametrize("text", ["", "three", "3a", "1234", "-", "3.5", "👍"])
def test_not_a_number(text):
    assert parse_number(text) is None


@pytest.mark.parametrize(
    "text", ["1, 3", "1,3", "1 3", "1 and 3", "1 i 3", "1;3", "١،٣", "1️⃣ 3️⃣", "1, 3, 1"]
)
def test_several_numbers(text):
    assert parse_numbers(text) == [1, 3]


@pytest.mark.parametrize("text", ["1 and a half", "1, three", ""])
def test_not_a_list_of_numbers(text):
    assert parse_numbers(text) is None


# -- words ----------------------------------------------------------------------------------
def test_numbers_joined_by_and_in_any_language_and_one_number_in_a_short_reply():
    for text in ("1 и 3", "1 ve 3", "1 și 3", "١ و ٣", "১ এবং ৩", "1 y 3"):
        assert parse_numbers(text) == [1, 3], text
    assert parse_numbers("и") is None and parse_numbers("1 и") is None
    assert number_in_short_reply("option 3") == 3
    assert number_in_short_reply("номер ٢") == 2
    assert number_in_short_reply("3") is None, "a bare number is parsed elsewhere"
    assert number_in_short_reply("1 or 2") is None, "two numbers: not sure which"
    assert number_in_short_reply("I think it was about 3 times") is None, "too long to be sure"


def test_scale_words_are_read_at_the_nearer_end_only():
    q = Question("q", "scale", {"en": "?"}, scale={
        "min": {"en": "very hard", "es": "muy difícil"}, "max": {"en": "very easy", "es": "muy fácil"}})
    assert understand(q, "muy difícil", "es").value == 1
    assert understand(q, "muy dificil", "es").value == 1
    assert understand(q, "muy facil", "es").value == 5
    assert understand(q, "very hard", "es").value == 1, "English labels count too"
    assert understand(q, "muy", "es").ok is False


def test_negation_in_the_persons_language_turns_an_option_off():
    q = SURVEY.question("info_language")
    assert match_option(q, "sometimes but not always", "en").value == "sometimes"


def test_fold_evens_out_keyboards_of_arabic_script_and_keeps_indic_vowels():
    # Arabic and Persian/Urdu keyboards type different yeh and kaf; vowel marks are optional.
    assert fold("كيف") == fold("کیف")
    assert fold("نعم، دائماً") == fold("نعم دايما")
    assert fold("می\u200cخواهم") == "می خواهم", "a zero-width non-joiner is a word break"
    assert fold("\u200fنعم") == "نعم", "a direction mark is invisible"
    # Bengali, Devanagari and Gurmukhi vowel signs are letters, not accents.
    assert fold("हाँ") != fold("ह") and fold("ਹਾਂ ਜੀ") == "ਹਾਂ ਜੀ"
    assert fold("3️⃣") == "3" and fold("❤️ tak") == "tak"


def test_fold_drops_case_accents_and_punctuation():
    assert fold("  Tak, CZĘSTO!  ") == "tak czesto"
    assert fold("Wolę nie mówić.") == "wole nie mowic"
    assert fold("Łódź") == "lodz"


def test_words_match_whole_message_or_a_close_misspelling():
    assert matches_words("Yes!", ["yes"])
    assert matches_words("prefer not to sya", ["prefer not to say"])
    assert not matches_words("n", ["no"]), "short words only match exactly"
    assert not matches_words("yes please call me", ["yes"])


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("2", "en", "sometimes"),
        ("Sometimes", "en", "sometimes"),
        ("sometims", "en", "sometimes"),  # misspelt
        ("I'd say sometimes", "en", "sometimes"),  # named inside a longer reply
        ("not always", "en", "sometimes"),  # alias
        ("czasem", "pl", "sometimes"),  # Polish alias
        ("CZASAMI!", "pl", "sometimes"),
        ("nigdy", "pl", "never"),
        ("never", "pl", "never"),  # English words work in any language
        ("zawsze", "pl", "always"),
        ("zawsze.", "pl", "always"),
    ],
)
def test_single_choice(text, lang, expected):
    assert answer(INFO, text, lang) == expected


@pytest.mark.parametrize("text", ["4", "0", "maybe tomorrow", "", "1, 2", "not sometimes"])
def test_single_choice_rejects(text):
    assert answer(INFO, text) is None


def test_a_negation_around_an_option_is_not_that_option():
    assert answer(INFO, "I would not say always") is None
    assert answer(INFO, "nie zawsze", "pl") == "sometimes", "unless the option says so itself"
    assert not match_option(INFO, "always or sometimes", "en").ok, "two options named: ambiguous"


def test_part_of_an_option_counts_when_only_one_option_has_it():
    assert answer(GOT, "never") == "never"
    assert answer(GOT, "every time") == "every_time"
    assert answer(GOT, "time") is None, "two options have 'time': ambiguous"


def test_choice_from_rasa_entity():
    assert answer(INFO, "/choose", intent="choose", number=3) == "never"
    assert answer(INFO, "three", intent="choose", number="3") == "never", "entity given as text"
    assert answer(SCALE, "four", intent="choose", number="4") == 4
    assert answer(YESNO, "one", intent="choose", number="1") == "yes"
    assert answer(INFO, "9", intent="choose", number=9) is None


def test_age_in_years_finds_its_band_but_small_numbers_are_option_numbers():
    assert answer(AGE, "42") == "35_44"
    assert answer(AGE, "٤٢") == "35_44"
    assert answer(AGE, "70") == "65_plus"
    assert answer(AGE, "3") == "25_34", "3 is the third option, not an age"
    assert answer(INFO, "42") is None, "no ranges on this question"


def test_aliases_in_either_language():
    assert answer(WHITE, "Polish") == "other_white"
    assert answer(WHITE, "polska", "pl") == "other_white"
    assert answer(WHITE, "Scottish") == "british"


def test_prefer_not_to_say_is_matched_by_words_on_optional_questions():
    assert answer(AGE, "prefer not to say") == "prefer_not"
    assert answer(AGE, "Wolę nie odpowiadać", "pl") == "prefer_not"
    assert answer(AGE, "nie chcę mówić", "pl") == "prefer_not"
    assert answer(POSTCODE, "I'd rather not", "en") is None, "not one of the words"
    assert answer(POSTCODE, "prefer not to say") == "prefer_not"
    assert answer(INFO, "prefer not to say") is None, "not an optional question"


def test_multiple_choice():
    assert answer(SUPPORT, "1, 3") == ["family", "gp"]
    assert answer(SUPPORT, "3 and 1") == ["gp", "family"]
    assert answer(SUPPORT, "x", intent="choose", numbers=[2, 4]) == ["friends", "nobody"]
    assert answer(SUPPORT, "family, my gp") == ["family", "gp"]
    assert answer(SUPPORT, "rodzina, przyjaciele", "pl") == ["family", "friends"]
    assert answer(SUPPORT, "Friends") == ["friends"]
    assert answer(SUPPORT, "1, 7") is None, "7 is not an option"


def test_yes_no_from_intent_emoji_words_and_number():
    assert answer(YESNO, "tak", "pl", "affirm") == "yes"
    assert answer(YESNO, "nope", "en", "deny") == "no"
    assert answer(YESNO, "👍", "en", "nlu_fallback") == "yes"
    assert answer(YESNO, "👍🏽", "en", "nlu_fallback") == "yes", "any skin tone"
    assert answer(YESNO, "✅", "en", "nlu_fallback") == "yes"
    assert answer(YESNO, "👎", "en", "nlu_fallback") == "no"
    assert answer(YESNO, "❌", "en", "nlu_fallback") == "no"
    assert answer(YESNO, "Tak!", "pl", "inform") == "yes", "words, when Rasa did not say affirm"
    assert answer(YESNO, "nie", "pl", "inform") == "no"
    assert answer(YESNO, "1", "en", "choose", number=1) == "yes"
    assert answer(YESNO, "2", "en", "inform") == "no"
    assert answer(YESNO, "purple", "en", "inform") is None
    assert answer(YESNO, "3", "en", "choose", number=3) is None


def test_scale():
    assert answer(SCALE, "4", intent="choose", number=4) == 4
    assert answer(SCALE, "٥", "ar") == 5
    assert answer(SCALE, "⭐⭐", intent="nlu_fallback") == 2
    assert answer(SCALE, "⭐️⭐️⭐️") == 3
    assert answer(SCALE, "very easy") == 5, "the end labels are answers too"
    assert answer(SCALE, "bardzo trudno", "pl") == 1
    assert answer(SCALE, "6", intent="choose", number=6) is None
    assert answer(SCALE, "0") is None
    assert answer(SCALE, "quite easy") is None


# -- postcodes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IP4", "IP4"),
        ("ip4 2ab", "IP4"),
        ("IP42AB", "IP4"),
        ("co1 1aa", "CO1"),
        ("CB10 1AB", "CB10"),
        ("SW1A 1AA", "SW1A"),
        ("E1", "E1"),
        ("  co4  ", "CO4"),
        ("my postcode is IP4 2AB thanks", "IP4"),
        ("I live in CO10", "CO10"),
    ],
)
def test_postcode_keeps_only_the_outward_code(text, expected):
    assert postcode_district(text) == expected
    assert answer(POSTCODE, text) == expected


@pytest.mark.parametrize(
    "text", ["Ipswich", "12345", "I live near the park", "IP", "IP4 or CO1", "4IP"]
)
def test_postcode_rejects(text):
    assert postcode_district(text) is None
    assert answer(POSTCODE, text) is None


def test_full_postcodes_are_redacted_from_stored_text():
    assert redact_postcodes("I live at ip4 2ab, near the park") == "I live at IP4, near the park"
    assert redact_postcodes("CB101AB") == "CB10"
    assert redact_postcodes("More interpreters please") == "More interpreters please"


def test_free_text_is_kept_as_written():
    text = "  Więcej tłumaczy w przychodni  "
    assert answer(FREE, text, "pl", "help") == text.strip()
    assert answer(FREE, "   ") is None


# -- shortcuts ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", ("choose", {"number": 3})),
        ("٣", ("choose", {"number": 3})),
        ("３", ("choose", {"number": 3})),
        ("3️⃣", ("choose", {"number": 3})),
        ("1, 2", ("choose", {"numbers": [1, 2]})),
        ("1 and 3", ("choose", {"numbers": [1, 3]})),
        ("STOP", ("stop", {})),
        ("stop.", ("stop", {})),
        (" Stop! ", ("stop", {})),
        ("STOPALL", ("stop", {})),
        ("Unsubscribe", ("stop", {})),
        ("cancel", ("stop", {})),
        ("END", ("stop", {})),
        ("quit", ("stop", {})),
        ("koniec", ("stop", {})),
        ("rezygnuję", ("stop", {})),
        ("REZYGNUJE", ("stop", {})),
        ("wypisz", ("stop", {})),
        ("anuluj", ("stop", {})),
        ("start", ("start", {})),
        ("UNSTOP", ("start", {})),
        ("wznów", ("start", {})),
        ("Wznow", ("start", {})),
        ("hello", None),
        ("", None),
        ("   ", None),
        ("yes", None),
        ("subscribe", None),
        ("stop the waiting lists", None),
        ("please don't stop helping", None),
    ],
)
def test_shortcuts_need_no_nlu(text, expected):
    assert shortcut(text) == expected
