"""The survey engine, driven turn by turn as the conversation service drives it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest

from bot.settings import PROJECT_ROOT
from bot.sms import segments
from bot.survey.engine import Engine
from bot.survey.flow import load_surveys
from bot.survey.model import COMPLETED, CONSENT, DECLINED, LANGUAGE, QUESTION, RESUME, State, Turn
from bot.texts.catalogue import LRM, Catalogue

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
PRIVACY = "https://example.nhs.uk/listening-bot/privacy"
CATALOGUE = Catalogue.load()
POLISH = CATALOGUE.languages.index("pl") + 1  # its number in the language menu
MENU_HEADINGS = {CATALOGUE.text("language_menu", lang) for lang in CATALOGUE.languages}


class Person:
    """Keeps the engine's state between turns, as the database does."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.state = State(stage=None, language=None)
        self.now = T0
        self.answers: dict[str, tuple[str, object]] = {}
        self.raw: dict[str, str] = {}
        self.events: list[str] = []
        self.purposes: list[str | None] = []

    def say(
        self,
        text: str,
        intent: str = "inform",
        after: timedelta = timedelta(seconds=20),
        detected: str | None = None,
        confidence: float = 0.95,
        **entities,
    ) -> list[str]:
        self.now += after
        turn = Turn(
            intent=intent,
            text=text,
            now=self.now,
            confidence=confidence,
            entities=entities,
            detected_language=detected,
        )
        before = copy.deepcopy(self.state)
        out = self.engine.handle(self.state, turn, "demo")
        assert self.state == before, "the engine must not change the state it was given"
        self.state = out.state
        self.state.last_inbound_at = self.now  # as the conversation service records it
        self.events += out.events
        self.purposes = [r.purpose for r in out.replies]
        if out.answer:
            self.answers[out.answer.question_key] = (out.answer.status, out.answer.value)
            self.raw[out.answer.question_key] = out.answer.raw_text
        texts = [r.text for r in out.replies]
        for reply in texts:
            # The language menu must name every language, each in its own script: the one
            # message allowed more than 2 segments (see docs/decisions.md).
            limit = 6 if reply.lstrip("\u200f").split("\n")[0] in MENU_HEADINGS else 2
            assert segments(reply)[1] <= limit, f"too long for {limit} SMS segments: {reply!r}"
        return texts

    @property
    def question(self) -> str | None:
        return self.state.question_key if self.state.stage == QUESTION else None


@pytest.fixture
def engine() -> Engine:
    return Engine(
        load_surveys(PROJECT_ROOT / "surveys"),
        CATALOGUE,
        default_survey="demo",
        privacy_url=PRIVACY,
        welcome_back_after=timedelta(hours=1),
        resume_expiry=timedelta(hours=72),
    )


def t(key: str, lang: str = "en", **fmt) -> str:
    return CATALOGUE.text(key, lang, **fmt)


def consented(engine: Engine, lang: str = "en") -> Person:
    p = Person(engine)
    p.say("hello", "greet", detected=lang)
    p.say("yes", "affirm")
    assert p.question == "access"
    return p


def answer_up_to_free_text(p: Person) -> None:
    """Scale, choice, no interpreter needed, choice, scale: the free-text question is next."""
    for text, intent, number in [
        ("3", "choose", 3),
        ("1", "choose", 1),
        ("no", "deny", None),
        ("3", "choose", 3),
        ("4", "choose", 4),
    ]:
        p.say(text, intent, **({"number": number} if number else {}))
    assert p.question == "one_thing"


# -- first contact, language, consent --------------------------------------------------------
@pytest.mark.parametrize("lang", ["en", "pl"])
def test_first_contact_in_the_detected_language_introduces_and_asks_consent(engine, lang):
    p = Person(engine)
    replies = p.say("Dzień dobry" if lang == "pl" else "Hello", "greet", detected=lang)
    assert p.state.language == lang and p.state.stage == CONSENT
    assert p.events == ["language_changed"]
    assert replies[0].startswith(t("intro", lang))
    assert any(t("language_set", lang) in r and "LANGUAGE" in r for r in replies), (
        "how to change language"
    )
    assert replies[-1] == t("consent", lang, privacy_url=PRIVACY)
    assert PRIVACY in replies[-1]
    assert p.question is None and not p.state.consented, "nothing is asked before consent"


def test_unknown_language_gets_the_menu_in_each_own_script(engine):
    p = Person(engine)
    [menu] = p.say("👋", "nlu_fallback", detected=None)
    assert p.state.stage == LANGUAGE and p.state.language is None
    names = [CATALOGUE.language_name(code) for code in CATALOGUE.languages]
    lines = [line.lstrip(LRM) for line in menu.splitlines()[1:]]
    assert lines == [f"{n}. {name}" for n, name in enumerate(names, start=1)]
    assert lines[0] == "1. English" and f"{POLISH}. Polski" in lines
    [again] = p.say("what?", "nlu_fallback")
    assert again == menu and p.state.stage == LANGUAGE
    replies = p.say(str(POLISH), "choose", number=POLISH)
    assert p.state.language == "pl" and p.state.stage == CONSENT
    assert replies[0].startswith(t("language_set", "pl"))
    assert replies[-1] == t("consent", "pl", privacy_url=PRIVACY)


@pytest.mark.parametrize(
    ("text", "intent", "lang"),
    [
        ("polski", "change_language", "pl"),
        ("Polish", "inform", "pl"),
        ("POLSKI!", "inform", "pl"),
        ("polsky", "inform", "pl"),
        ("po polsku prosze", "inform", "pl"),
        ("English", "inform", "en"),
        ("angielski", "inform", "en"),
        ("۱", "choose", "en"),
    ],
)
def test_language_menu_accepts_names_in_any_form(engine, text, intent, lang):
    p = Person(engine)
    p.say("?", "nlu_fallback")
    p.say(text, intent, **({"number": 1} if intent == "choose" else {}))
    assert p.state.language == lang and p.state.stage == CONSENT


def test_help_and_side_questions_work_before_consent(engine):
    p = Person(engine)
    p.say("hi", "greet", detected="en")
    replies = p.say("who are you?", "ask_who")
    assert t("faq_who") in replies[0] and t("consent_again") in replies[-1]
    replies = p.say("help", "help")
    assert t("help") in replies[0] and p.state.stage == CONSENT
    [again] = p.say("maybe later", "inform")
    assert again == t("consent_again") and p.question is None
    p.say("1", "choose", number=1)
    assert p.state.stage == CONSENT, "a number is not consent"


def test_consent_in_words_when_the_model_missed_it(engine):
    p = Person(engine)
    p.say("Dzień dobry", "greet", detected="pl")
    replies = p.say("Tak!", "inform")
    assert p.state.consented and p.question == "access"
    assert p.events[-2:] == ["consent_given", "survey_started"]
    assert replies == [engine.render(engine.surveys["demo"].question("access"), "pl")]
    assert "bardzo trudno" in replies[0]


def test_start_when_asked_whether_to_start_is_a_yes(engine):
    p = Person(engine)
    p.say("hello", "greet", detected="en")
    p.say("START", "start")
    assert p.state.consented and p.question == "access"


def test_declining_consent_is_respected_without_pressure(engine):
    p = Person(engine)
    p.say("hi", "greet", detected="en")
    [reply] = p.say("no", "deny")
    assert p.state.stage == DECLINED and p.events[-1] == "consent_declined"
    assert reply == t("declined") and p.question is None
    assert p.say("thanks", "thanks") == [t("faq_thanks")]
    assert p.say("bye", "goodbye") == [t("goodbye")]
    assert p.state.stage == DECLINED
    replies = p.say("hello again", "greet")
    assert p.state.stage == CONSENT, "a person who declined can change their mind"
    assert replies[-1] == t("consent", privacy_url=PRIVACY)


# -- whole surveys ---------------------------------------------------------------------------
def test_whole_survey_in_english_with_words_emoji_and_skip_logic(engine):
    p = consented(engine)
    replies = p.say("very easy", "inform")
    assert p.answers["access"] == ("answered", 5)
    assert replies == [
        "Do you get information about health and care in a language and format you "
        "understand?\n1. Always\n2. Sometimes\n3. Never"
    ]
    p.say("sometims", "inform")
    assert p.answers["info_language"] == ("answered", "sometimes")
    [asked] = p.say("👍", "nlu_fallback")
    assert p.answers["needed_interpreter"] == ("answered", "yes")
    assert p.question == "got_interpreter", "asked only because an interpreter was needed"
    assert asked.endswith("3. No, never")
    p.say("never", "deny")
    assert p.answers["got_interpreter"] == ("answered", "never")
    p.say("2", "choose", number=2)
    p.say("4️⃣", "choose", number=4)
    assert p.answers["staff_respect"] == ("answered", 4)
    replies = p.say("An interpreter who speaks Tigrinya at my GP", "inform")
    assert p.answers["one_thing"] == ("answered", "An interpreter who speaks Tigrinya at my GP")
    assert replies[0].startswith("Last, a few short questions about you")
    assert "6. Prefer not to say" in replies[-1]
    p.say("Black", "inform")
    assert p.question == "ethnic_black"
    p.say("african", "inform")
    assert p.answers["ethnic_black"] == ("answered", "african")
    p.say("I am old", "inform")
    assert p.question == "age", "not an answer: asked again"
    p.say("I am 42", "inform")
    assert p.answers["age"] == ("answered", "35_44"), "the one number in a short reply"
    replies = p.say("ip4 2ab", "inform")
    assert p.answers["postcode"] == ("answered", "IP4")
    assert p.raw["postcode"] == "IP4", "the full postcode is never stored"
    assert p.state.stage == COMPLETED and p.events.count("survey_completed") == 1
    assert replies == [t("completed")]
    assert len(p.answers) == 11
    assert p.say("hello", "greet") == [t("already_completed")]
    assert p.say("thank you!", "thanks") == [t("faq_thanks")]
    assert p.state.stage == COMPLETED and p.events.count("survey_started") == 1, "no new survey"


def test_whole_survey_in_polish(engine):
    p = consented(engine, "pl")
    assert p.say("2", "choose", number=2)[0].startswith("Czy informacje o zdrowiu")
    p.say("czasami", "inform")
    assert p.answers["info_language"] == ("answered", "sometimes")
    [asked] = p.say("tak", "affirm")
    assert p.question == "got_interpreter" and asked.startswith("Czy zapewniono Ci tłumacza")
    p.say("nie zawsze", "inform")
    assert p.answers["got_interpreter"] == ("answered", "sometimes")
    p.say("tak, często", "affirm")
    assert p.answers["children_translate"] == ("answered", "often")
    p.say("5", "choose", number=5)
    assert p.question == "one_thing"
    p.say("Więcej tłumaczy i listy po polsku", "help", confidence=0.9)  # long: an answer
    assert p.answers["one_thing"] == ("answered", "Więcej tłumaczy i listy po polsku")
    p.say("biała", "inform")
    assert p.question == "ethnic_white"
    p.say("polska", "inform")
    assert p.answers["ethnic_white"] == ("answered", "other_white")
    p.say("wolę nie odpowiadać", "skip")
    assert p.answers["age"] == ("answered", "prefer_not"), "an option, though the model said skip"
    replies = p.say("co4 3fx", "inform")
    assert p.answers["postcode"] == ("answered", "CO4")
    assert p.state.stage == COMPLETED and replies == [t("completed", "pl")]
    assert len(p.answers) == 11


def test_no_interpreter_needed_skips_the_follow_up(engine):
    p = consented(engine)
    p.say("3", "choose", number=3)
    p.say("1", "choose", number=1)
    replies = p.say("no", "deny")
    assert p.answers["needed_interpreter"] == ("answered", "no")
    assert p.question == "children_translate" and replies[0].startswith("Do children")


def test_prefer_not_to_say_skips_the_detailed_ethnic_group(engine):
    p = consented(engine)
    answer_up_to_free_text(p)
    p.say("More interpreters please at my GP", "inform")
    assert p.question == "ethnic_group"
    p.say("6", "choose", number=6)
    assert p.answers["ethnic_group"] == ("answered", "prefer_not")
    assert p.question == "age", "prefer not to say: no detailed question"


# -- when an answer does not fit ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("question", "hint"),
    [
        ("access", "retry_scale"),
        ("info_language", "retry_single"),
        ("needed_interpreter", "retry_yesno"),
        ("postcode", "retry_postcode"),
    ],
)
def test_a_wrong_answer_gets_a_hint_for_its_type(engine, question, hint):
    p = consented(engine)
    p.state.question_key = question
    assert p.say("purple", "inform") == [t(hint)]
    assert p.question == question and p.state.attempts == 1 and question not in p.answers


def test_a_wrong_answer_is_asked_again_once_then_moved_on(engine):
    p = consented(engine)
    [hint] = p.say("purple", "inform")
    assert "1 to 5" in hint and p.question == "access" and p.state.attempts == 1
    replies = p.say("green", "inform")
    assert p.answers["access"] == ("unclear", None) and p.raw["access"] == "green"
    assert p.question == "info_language" and p.state.attempts == 0
    assert replies[0].startswith(t("move_on")) and "1. Always" in replies[-1]
    [hint] = p.say("purple", "inform")
    assert hint == t("retry_single"), "a new question gets its own second chance"
    p.say("2", "choose", number=2)
    assert p.answers["info_language"] == ("answered", "sometimes")


def test_a_question_no_longer_in_the_survey_moves_on_to_what_applies_now(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    p.state.question_key = "removed_in_version_2"
    replies = p.say("2", "choose", number=2)
    assert p.question == "info_language" and replies[0].startswith("Do you get")
    assert p.say("?", "repeat")[0].startswith("Do you get")


def test_a_miss_on_the_last_question_finishes_without_promising_another(engine):
    p = consented(engine)
    p.state.question_key = "postcode"
    p.say("Ipswich", "inform")
    assert p.say("near the hospital", "inform") == [t("completed")]
    assert p.answers["postcode"] == ("unclear", None) and p.state.stage == COMPLETED


def test_skip_and_dont_know_are_acknowledged_in_the_same_message_as_the_next_question(engine):
    p = consented(engine)
    [reply] = p.say("skip", "skip")
    assert p.answers["access"] == ("skipped", None) and p.question == "info_language"
    assert reply.startswith(t("skipped") + "\nDo you get information")
    [reply] = p.say("not sure", "dont_know")
    assert p.answers["info_language"] == ("dont_know", None) and p.question == "needed_interpreter"
    assert reply.startswith(t("dont_know") + "\nIn the last year")


def test_a_command_does_not_pick_an_option_named_inside_it(engine):
    p = consented(engine)
    for text, intent, number in [("3", "choose", 3), ("1", "choose", 1), ("no", "deny", None)]:
        p.say(text, intent, **({"number": number} if number else {}))
    assert p.question == "children_translate"
    p.say("no idea", "dont_know")
    assert p.answers["children_translate"] == ("dont_know", None), "not the option 'No'"


def test_help_repeat_and_side_questions_bring_the_person_back_to_the_question(engine):
    p = consented(engine)
    p.say("2", "choose", number=2)
    question = engine.render(engine.surveys["demo"].question("info_language"), "en")
    assert p.say("repeat", "repeat") == [question]
    replies = p.say("help", "help")
    assert replies == [t("help") + "\n" + question], "short enough to go as one message"
    for intent, key in [
        ("ask_confidential", "faq_confidential"),
        ("ask_who", "faq_who"),
        ("ask_why", "faq_why"),
    ]:
        replies = p.say("?", intent)
        assert replies[0].startswith(t(key)) and replies[-1].endswith(question)
    assert (
        p.question == "info_language" and p.state.attempts == 0 and "info_language" not in p.answers
    )
    replies = p.say("thanks", "thanks")
    assert replies[0].startswith(t("faq_thanks")) and replies[-1].endswith(question)
    assert p.say("bye for now", "goodbye") == [t("paused")]
    assert p.question == "info_language"


def test_free_text_commands_count_only_when_short_and_confident(engine):
    p = consented(engine)
    answer_up_to_free_text(p)
    p.say("help", "help", confidence=0.5)
    assert p.answers["one_thing"] == ("answered", "help"), "unsure: taken as the answer"
    p = consented(engine)
    answer_up_to_free_text(p)
    p.say("I need help getting an appointment in the morning", "help", confidence=0.9)
    assert p.answers["one_thing"][0] == "answered"
    p = consented(engine)
    answer_up_to_free_text(p)
    p.say("skip", "skip")
    assert p.answers["one_thing"] == ("skipped", None)


def test_free_text_answers_never_keep_a_full_postcode(engine):
    p = consented(engine)
    answer_up_to_free_text(p)
    p.say("A clinic near IP4 2AB with interpreters", "inform")
    assert p.raw["one_thing"] == "A clinic near IP4 with interpreters"


# -- change language, stop/start, resume, media ------------------------------------------------
def test_change_language_mid_survey_keeps_the_place(engine):
    p = consented(engine)
    p.say("2", "choose", number=2)
    assert p.question == "info_language"
    [menu] = p.say("language", "change_language")
    assert p.state.stage == LANGUAGE and p.state.resume_stage == QUESTION
    assert f"{POLISH}. Polski" in menu
    replies = p.say(str(POLISH), "choose", number=POLISH)
    assert (
        p.state.language == "pl" and p.question == "info_language" and p.state.resume_stage is None
    )
    assert p.events[-1] == "language_changed"
    assert replies[0].startswith(t("language_set", "pl"))
    assert replies[-1].endswith("3. Nigdy"), "same question, new language"
    assert p.answers["access"] == ("answered", 2), "earlier answers kept"


def test_change_language_before_consent_introduces_again(engine):
    p = Person(engine)
    p.say("hello", "greet", detected="en")
    p.say("language", "change_language")
    replies = p.say("Polski", "inform")
    assert p.state.stage == CONSENT and p.state.language == "pl"
    assert replies[-1] == t("consent", "pl", privacy_url=PRIVACY)


def test_stop_at_any_time_then_silence_until_start(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    [confirm] = p.say("STOP", "stop")
    assert p.state.opted_out and confirm == t("stopped") and "START" in confirm
    assert p.purposes == ["opt_out_confirmation"] and p.events[-1] == "opted_out"
    assert p.say("hello?", "greet") == []
    assert p.say("2", "choose", number=2) == []
    assert "info_language" not in p.answers, "nothing is recorded while opted out"
    assert p.say("STOP", "stop") == [], "one confirmation only"
    replies = p.say("START", "start")
    assert not p.state.opted_out and p.events[-1] == "opted_in"
    assert replies[0].startswith(t("started"))
    assert replies[-1].endswith("3. Never") and p.question == "info_language", (
        "back where they were"
    )


def test_stop_in_polish_before_consent_and_start_brings_the_introduction_back(engine):
    p = Person(engine)
    p.say("Dzień dobry", "greet", detected="pl")
    [confirm] = p.say("koniec", "stop")
    assert confirm == t("stopped", "pl") and p.state.opted_out
    replies = p.say("wznów", "start")
    assert replies[0].startswith(t("started", "pl"))
    assert replies[-1] == t("consent", "pl", privacy_url=PRIVACY) and p.state.stage == CONSENT


def test_stop_as_the_very_first_message(engine):
    p = Person(engine)
    assert p.say("STOP", "stop") == [t("stopped")]
    assert p.state.opted_out and p.state.stage is None
    replies = p.say("START", "start")
    assert replies[0].startswith(t("started")) and p.state.stage == LANGUAGE


def test_welcome_back_after_a_pause(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    [reply] = p.say("hi", "greet", after=timedelta(hours=3))
    assert reply.startswith(t("welcome_back") + "\nDo you get") and p.question == "info_language"
    [reply] = p.say("sorry, where were we", "nlu_fallback", after=timedelta(hours=3))
    assert reply.startswith(t("welcome_back")) and p.state.attempts == 0, "not counted as a miss"
    p.say("1", "choose", number=1, after=timedelta(hours=3))
    assert p.answers["info_language"] == ("answered", "always"), "an answer after a pause counts"


def test_resume_after_expiry_carry_on_or_start_again(engine):
    p = consented(engine)
    p.say("4", "choose", number=4)
    assert p.say("2", "choose", number=2, after=timedelta(days=4)) == [t("resume_ask")]
    assert p.state.stage == RESUME and "info_language" not in p.answers
    assert p.say("what?", "nlu_fallback") == [t("resume_ask")]
    replies = p.say("yes", "affirm")
    assert p.question == "info_language" and replies[0].startswith("Do you get")
    assert p.state.answers == {"access": 4}
    p.say("hi", "greet", after=timedelta(days=4))
    replies = p.say("no", "deny")
    assert p.events[-1] == "survey_restarted" and p.question == "access"
    assert p.state.answers == {} and replies[0].startswith("How easy")
    assert p.state.consented, "consent is not asked twice"


def test_media_gets_a_polite_text_only_answer_and_the_question(engine):
    p = consented(engine)
    [reply] = p.say("", "media")
    assert reply.startswith(t("media")) and reply.endswith("5 (very easy).")
    assert p.question == "access" and p.state.attempts == 0


def test_polish_person_never_gets_an_english_text(engine):
    p = consented(engine, "pl")
    english = {t(k) for k in CATALOGUE.text_keys()}
    for text, intent in [
        ("pomoc", "help"),
        ("kto to?", "ask_who"),
        ("pomiń", "skip"),
        ("xyz", "inform"),
        ("xyz", "inform"),
        ("", "media"),
        ("stop", "stop"),
    ]:
        for reply in p.say(text, intent):
            assert not any(e in reply for e in english), reply
