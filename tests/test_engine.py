"""The survey engine, driven turn by turn as the conversation service drives it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import PROJECT_ROOT
from bot.survey.engine import Engine
from bot.survey.flow import load_surveys
from bot.survey.model import COMPLETED, CONSENT, DECLINED, LANGUAGE, QUESTION, RESUME, State, Turn
from bot.texts.catalogue import Catalogue

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


class Person:
    """Keeps the engine's state between turns, as the database does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = State(stage=None, language=None)
        self.now = T0
        self.answers: dict[str, tuple[str, object]] = {}
        self.events: list[str] = []

    def say(self, text: str, intent: str = "inform", after: timedelta = timedelta(seconds=20),
            detected: str | None = None, confidence: float = 0.95, **entities) -> list[str]:
        self.state.last_inbound_at = self.now
        self.now += after
        turn = Turn(intent=intent, text=text, now=self.now, confidence=confidence,
                    entities=entities, detected_language=detected)
        out = self.engine.handle(self.state, turn, "demo")
        self.state = out.state
        self.events += out.events
        if out.answer:
            self.answers[out.answer.question_key] = (out.answer.status, out.answer.value)
        return [r.text for r in out.replies]

    @property
    def question(self) -> str | None:
        return self.state.question_key if self.state.stage == QUESTION else None


@pytest.fixture
def engine() -> Engine:
    return Engine(load_surveys(PROJECT_ROOT / "surveys"), Catalogue.load(), default_survey="demo",
                  privacy_url="https://example.nhs.uk/privacy",
                  welcome_back_after=timedelta(hours=1), resume_expiry=timedelta(hours=72))


def consented(engine: Engine, lang: str = "en") -> Person:
    p = Person(engine)
    p.say("hello", "greet", detected=lang)
    p.say("yes", "affirm")
    assert p.question == "access"
    return p


def answer_up_to_free_text(p: Person) -> None:
    """Scale, choice, no interpreter needed, choice, scale: the free-text question is next."""
    for text, intent, number in [("3", "choose", 3), ("1", "choose", 1), ("no", "deny", None),
                                 ("3", "choose", 3), ("4", "choose", 4)]:
        p.say(text, intent, **({"number": number} if number else {}))


def test_first_contact_detected_language_intro_and_consent(engine):
    p = Person(engine)
    replies = p.say("Dzień dobry", "greet", detected="pl")
    assert p.state.language == "pl" and p.state.stage == CONSENT
    assert "NHS" in replies[0] and "TAK" in replies[1]
    assert "https://example.nhs.uk/privacy" in replies[1]
    assert p.question is None, "nothing is asked before consent"


def test_unknown_language_gets_the_menu_in_each_own_script(engine):
    p = Person(engine)
    [menu] = p.say("👋", "nlu_fallback", detected=None)
    assert p.state.stage == LANGUAGE
    assert "1. English" in menu and "2. Polski" in menu
    replies = p.say("2", "choose", number=2)
    assert p.state.language == "pl" and p.state.stage == CONSENT
    assert any("TAK lub NIE" in r for r in replies)


def test_language_menu_accepts_the_name(engine):
    p = Person(engine)
    p.say("?", "help")
    p.say("polski", "change_language")
    assert p.state.language == "pl"


def test_declining_consent(engine):
    p = Person(engine)
    p.say("hi", "greet", detected="en")
    [reply] = p.say("no", "deny")
    assert p.state.stage == DECLINED and "consent_declined" in p.events
    assert "won't ask" in reply
    p.say("hello again", "greet")
    assert p.state.stage == CONSENT, "a person who declined can change their mind"


def test_whole_survey_with_skip_logic_in_polish(engine):
    p = consented(engine, "pl")
    assert p.say("2", "choose", number=2)[0].startswith("Czy informacje")
    p.say("czasami", "inform")
    assert p.answers["info_language"] == ("answered", "sometimes")
    p.say("tak", "affirm")
    assert p.question == "got_interpreter", "asked only because an interpreter was needed"
    p.say("1", "choose", number=1)
    p.say("3", "choose", number=3)
    p.say("5", "choose", number=5)
    assert p.question == "one_thing"
    p.say("Więcej tłumaczy i listy po polsku", "help", confidence=0.9)  # long: an answer
    assert p.answers["one_thing"] == ("answered", "Więcej tłumaczy i listy po polsku")
    p.say("4", "choose", number=4)
    assert p.question == "ethnic_white"
    p.say("5", "choose", number=5)
    assert p.question == "age"
    p.say("3", "choose", number=3)
    replies = p.say("ip4 2ab", "inform")
    assert p.answers["postcode"] == ("answered", "IP4")
    assert p.state.stage == COMPLETED and "survey_completed" in p.events
    assert "dziękujemy" in replies[-1]
    assert len(p.answers) == 11


def test_no_interpreter_needed_skips_the_follow_up(engine):
    p = consented(engine)
    p.say("3", "choose", number=3)
    p.say("1", "choose", number=1)
    p.say("no", "deny")
    assert p.question == "children_translate"


def test_about_you_section_has_an_intro(engine):
    p = consented(engine)
    answer_up_to_free_text(p)
    replies = p.say("More interpreters please at my GP", "inform")
    assert p.question == "ethnic_group"
    assert replies[0].startswith("Last, 3 short questions")
    p.say("6", "choose", number=6)
    assert p.question == "age", "prefer not to say: no detailed question"


def test_a_wrong_answer_is_asked_again_once_then_moved_on(engine):
    p = consented(engine)
    [hint] = p.say("purple", "inform")
    assert "1 to 5" in hint and p.question == "access" and p.state.attempts == 1
    replies = p.say("green", "inform")
    assert p.answers["access"] == ("unclear", None)
    assert p.question == "info_language"
    assert "next question" in replies[0]


def test_skip_dont_know_help_repeat_and_side_questions(engine):
    p = consented(engine)
    p.say("skip", "skip")
    assert p.answers["access"] == ("skipped", None) and p.question == "info_language"
    help_replies = p.say("help", "help")
    assert "SKIP" in help_replies[0] and help_replies[1].startswith("Do you get")
    assert p.question == "info_language"
    [again] = p.say("repeat", "repeat")
    assert again.startswith("Do you get") and "3. Never" in again
    faq = p.say("is this confidential?", "ask_confidential")
    assert "private" in faq[0] and faq[1] == again, "answered, then back to the question"
    p.say("not sure", "dont_know")
    assert p.answers["info_language"] == ("dont_know", None)


def test_change_language_mid_survey_keeps_the_place(engine):
    p = consented(engine)
    p.say("2", "choose", number=2)
    assert p.question == "info_language"
    [menu] = p.say("language", "change_language")
    assert p.state.stage == LANGUAGE and "Polski" in menu
    replies = p.say("2", "choose", number=2)
    assert p.state.language == "pl" and p.question == "info_language"
    assert replies[-1].startswith("Czy informacje"), "same question, new language"


def test_stop_at_any_time_then_silence_until_start(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    [confirm] = p.say("STOP", "stop")
    assert p.state.opted_out and "START" in confirm
    assert p.say("hello?", "greet") == []
    assert p.say("2", "choose", number=2) == []
    assert p.say("STOP", "stop") == [], "one confirmation only"
    replies = p.say("START", "start")
    assert not p.state.opted_out and "opted_in" in p.events
    assert replies[-1].startswith("Do you get"), "back where they were"


def test_resume_after_a_pause_and_restart_after_expiry(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    replies = p.say("hi", "greet", after=timedelta(hours=3))
    assert replies[0].startswith("Welcome back") and p.question == "info_language"
    p.say("hi", "greet", after=timedelta(days=4))
    assert p.state.stage == RESUME
    replies = p.say("no", "deny")
    assert "survey_restarted" in p.events and p.question == "access"
    p.say("hi", "greet", after=timedelta(days=4))
    p.say("yes", "affirm")
    assert p.question == "access"


def test_free_text_short_commands_still_work(engine):
    p = consented(engine)
    answer_up_to_free_text(p)
    assert p.question == "one_thing"
    p.say("skip", "skip")
    assert p.answers["one_thing"] == ("skipped", None)


def test_media_and_after_completion(engine):
    p = consented(engine)
    replies = p.say("", "media")
    assert "text" in replies[0] and p.question == "access"
    p.state.stage = COMPLETED
    assert "already" in p.say("hello", "greet")[0]
