"""Every launch language end to end: two people, one on SMS and one on WhatsApp, greet the bot
in their language, consent with their own word for yes, and answer the whole demo survey with
numbers in their own digits, option words in their language, and their own words; the bot
writes to them only in that language, right-to-left lines marked as such."""

from __future__ import annotations

import threading

import pytest
import yaml

from bot.settings import PROJECT_ROOT
from bot.survey.flow import load_surveys
from bot.texts.catalogue import RLM, Catalogue
from tests.e2e.harness import Phone
from tests.e2e.respondent import Respondent

pytestmark = pytest.mark.e2e

CATALOGUE = Catalogue.load()
SURVEY = load_surveys(PROJECT_ROOT / "surveys")["demo"]
# English and Polish have their own fuller tests (both databases) in test_conversation_e2e.py.
LANGUAGES = [lang for lang in CATALOGUE.languages if lang not in ("en", "pl")]


def first_greeting(lang: str) -> str:
    """The first `greet` example of the language's NLU file: what people of it send first."""
    data = yaml.safe_load((PROJECT_ROOT / "nlu" / f"{lang}.yml").read_text(encoding="utf-8"))
    for item in data["nlu"]:
        if item.get("intent") == "greet":
            return str(item["examples"]).splitlines()[0].lstrip("- ").strip()
    raise AssertionError(f"nlu/{lang}.yml has no greet examples")


def answer_for(question, lang: str, in_words: set[str]) -> str:
    number = CATALOGUE.number
    if question.type == "yesno":
        return CATALOGUE.words(lang, "yes_words")[0]
    if question.type == "scale":
        return number(4, lang)
    if question.type == "multiple":
        return f"{number(1, lang)}, {number(2, lang)}"
    if question.type == "single":
        if not in_words:  # one choice answered with the option's words, the rest by number
            in_words.add(question.key)
            return question.options[0].text_in(lang)
        return number(1, lang)
    if question.validate == "postcode_district":
        return "IP4 2AB"
    return SURVEY.title[lang]  # a few words of their own language, not a command


def complete(who: Respondent, lang: str) -> tuple[int, list[str]]:
    sent: list[str] = []
    first = who.say(first_greeting(lang))
    heading = CATALOGUE.text("language_menu", None)
    if first.texts and first.texts[0].startswith(heading):  # not sure of the language: the menu
        # (in English, before the language is known: not counted among the person's messages)
        choice = who.say(str(CATALOGUE.languages.index(lang) + 1))
        sent += choice.texts
        assert CATALOGUE.text("language_set", lang) in choice.text, choice.text
    else:
        sent += first.texts
        assert CATALOGUE.text("intro", lang) in first.text, f"{lang}: {first.text!r}"
    consent = who.say(CATALOGUE.words(lang, "yes_words")[0])
    sent += consent.texts
    conversation = who.conversation(consent.inbound.contact_id)
    assert conversation is not None and conversation.stage == "question", consent.text
    in_words: set[str] = set()
    for _ in range(20):
        conversation = who.conversation(consent.inbound.contact_id)
        assert conversation is not None
        if conversation.stage == "completed":
            break
        question = SURVEY.question(conversation.question_key)
        assert question.text_in(lang) in sent[-1].replace(RLM, ""), (
            f"{lang}: {question.key} not asked in the language: {sent[-1]!r}")
        exchange = who.say(answer_for(question, lang, in_words))
        assert exchange.replies, f"{lang}: no reply after {question.key}"
        sent += exchange.texts
    assert conversation.stage == "completed", f"{lang}: not completed"
    assert CATALOGUE.text("completed", lang) in sent[-1].replace(RLM, "")
    return conversation.id, sent


@pytest.mark.parametrize("lang", LANGUAGES)
def test_survey_in_each_launch_language_on_both_channels(make_app, sqlite_url, lang):
    assert lang in SURVEY.languages, f"the demo survey misses texts in {lang}"
    app = make_app(sqlite_url)
    n = CATALOGUE.languages.index(lang)
    people = {
        channel: Respondent(Phone(app.url, f"+4477009{n:02d}{k}00", channel), sqlite_url)
        for k, channel in enumerate(("sms", "whatsapp"))
    }
    results: dict[str, tuple[int, list[str]]] = {}
    errors: list[BaseException] = []

    def run(channel: str) -> None:
        try:
            results[channel] = complete(people[channel], lang)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in people]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    if errors:
        raise errors[0]

    for channel, (conversation_id, sent) in results.items():
        answers = people[channel].answers(conversation_id)
        assert answers and all(a.language == lang for a in answers.values())
        assert all(a.status == "answered" for a in answers.values()), {
            k: (a.status, a.raw_text) for k, a in answers.items() if a.status != "answered"}
        free = [a for a in answers.values() if a.raw_text == SURVEY.title[lang]]
        assert free, f"{lang}/{channel}: own words not stored as said"
        english = CATALOGUE.text("intro", "en")
        assert not any(english in text for text in sent), "nothing in English"
        if CATALOGUE.is_rtl(lang):
            for text in sent:
                lines = [line for line in text.split("\n") if line]
                assert all(line.startswith(RLM) for line in lines), (
                    f"{lang}: a line without its right-to-left mark: {text!r}")
        digits = CATALOGUE.meta(lang).get("digits")
        if digits and digits != "0123456789":
            assert any(f"{digits[1]}. " in text for text in sent), (
                f"{lang}: options not numbered in the language's digits")
    for who in people.values():
        who.close()
