"""First-contact language detection: the NLU examples as a lexicon, the script, lingua and
fastText agreeing on longer text, and None (the menu) when unsure."""

from __future__ import annotations

import socket

import pytest

from bench.devset import LAUNCH
from bot.language import LanguageDetector, normalise, script_candidates, script_of
from bot.settings import PROJECT_ROOT

NLU = PROJECT_ROOT / "nlu"
DETECTOR = LanguageDetector(LAUNCH, NLU)
EN_PL = LanguageDetector(["en", "pl"], NLU)


@pytest.mark.parametrize(("text", "lang"), [
    ("Hi", "en"), ("hello!", "en"), ("Dzień dobry", "pl"), ("czesc", "pl"), ("Witam", "pl"),
    ("I would like to tell you about my GP surgery", "en"),
    ("Chciałabym opowiedzieć o mojej przychodni", "pl"),
])
def test_detects_english_and_polish(text, lang):
    assert EN_PL.detect(text) == lang


@pytest.mark.parametrize("text", ["", "👋", "123", "Salut"])
def test_unsure_means_menu(text):
    assert EN_PL.detect(text) is None


@pytest.mark.parametrize(("text", "lang"), [
    ("ሰላም", "ti"),                       # Ethiopic: only Tigrinya among ours
    ("ਹੈਲੋ ਜੀ", "pa"),                    # Gurmukhi
    ("হ্যালো ভাই", "bn"),                 # Bengali
    ("नमस्ते हजुर", "ne"),                 # Devanagari
    ("ئێوارەتان باش", "ckb"),            # Sorani's own letters
    ("ښه راغلاست", "ps"),                 # Pashto's own letters
    ("ٹھیک ہے جی", "ur"),                 # Urdu's own letters
])
def test_a_script_or_letters_only_one_language_uses_decide_even_one_word(text, lang):
    assert DETECTOR.detect(text) == lang


@pytest.mark.parametrize(("text", "lang"), [
    ("Ich hätte gerne einen Termin beim Hausarzt in der nächsten Woche", None),  # not ours
    ("Моя мама живе сама, і ніхто з соціальної служби її не відвідував.", "uk"),
    ("Моята майка живее сама и никой от социалните служби не я е посетил.", "bg"),
    ("Моя мама живёт одна, и никто из социальной службы её не навещал.", "ru"),
    ("Mi madre vive sola y nadie de servicios sociales ha ido a verla.", "es"),
    ("A minha mãe vive sozinha e ninguém da assistência social a visitou.", "pt"),
    ("Annem yalnız yaşıyor ve sosyal hizmetlerden kimse onu ziyaret etmedi.", "tr"),
])
def test_sentences_need_lingua_and_fasttext_to_agree(text, lang):
    assert DETECTOR.detect(text) == lang


def test_transliteration_full_of_english_words_is_not_taken_for_english():
    # Restricted to the bot's Latin-script languages, lingua calls this English; fastText,
    # which knows 176 languages, does not agree, so the person gets the menu.
    assert DETECTOR.detect("kaj theke chuti pai nai tai appointment e jete parini") != "en"


def test_only_the_bots_languages_and_no_script_it_does_not_use():
    assert EN_PL.detect("ሰላም ከመይ ኣለኻ") is None, "Tigrinya is not among en, pl"
    assert DETECTOR.detect("안녕하세요 반갑습니다") is None, "Hangul: no language of ours"
    assert DETECTOR.detect("سلام") is None, "shared by five Arabic-script languages"


def test_script_of_and_candidates():
    assert script_of("یہ NHS ہے؟") == "ARABIC", "non-Latin letters win over an acronym"
    assert script_of("hello") == "LATIN"
    assert script_of("123 👍") is None
    assert script_candidates("Привет", LAUNCH) == ["bg", "ru", "uk"]
    assert script_candidates("سلام علیکم", LAUNCH) == ["ar", "ur", "ckb", "fa", "ps"]
    assert script_candidates("دی", LAUNCH) == ["ar", "ur", "ckb", "fa", "ps"], "ي/ی say nothing"
    assert script_candidates("مدرسة", LAUNCH) == ["ar"]


def test_works_with_the_network_unreachable(monkeypatch):
    """Both models ship inside their wheels: nothing is downloaded at run time."""

    def refuse(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    fresh = LanguageDetector(LAUNCH, NLU)
    assert fresh.detect("Esperé tres semanas para una cita con el médico de cabecera.") == "es"


def test_normalise_keeps_indic_vowel_signs_and_drops_punctuation_and_emoji():
    assert normalise("ਹਾਂ") != normalise("ਹੈ"), "two Punjabi words, not one"
    assert normalise("ਸਤ ਸ੍ਰੀ ਅਕਾਲ!") == "ਸਤ ਸ੍ਰੀ ਅਕਾਲ"
    assert normalise("Hi 👋🏽!!") == "hi"
    assert normalise("  Dzień   DOBRY. ") == "dzień dobry"


def test_an_english_word_other_languages_borrow_is_english():
    detector = LanguageDetector(["en", "ps", "ur", "pa"], NLU)
    assert detector.detect("Hello") == "en"
    assert detector.detect("haan ji") in (None, "ur", "pa")
