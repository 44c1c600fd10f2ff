"""Which survey a person gets (keywords, the default), a closed survey's polite answer, and
number questions with a range, through the pure engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.survey.engine import Engine
from bot.survey.flow import load_text
from bot.survey.model import COMPLETED, CONSENT, DECLINED, LANGUAGE, QUESTION, RESUME, State, Turn
from bot.survey.routing import fold_keyword, in_progress, keyword_survey
from bot.texts.catalogue import Catalogue

CATALOGUE = Catalogue.load()
NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def survey(survey_id: str, keywords: str, status: str = "open"):
    return load_text(
        f"id: {survey_id}\nstatus: {status}\nkeywords: {keywords}\nquestions:\n"
        "  - key: visits\n    type: number\n    range: [0, 20]\n"
        "    text: How many times did you see a GP this year?\n"
        "  - key: why\n    type: text\n    text: What for?\n",
        f"{survey_id}.yml",
    )


HEALTH = survey("health", "[HEALTH, Zdrowie, HEALTH CHECK]")
CHECK = survey("check", "[HEALTH CHECK UP]")
SANTE = survey("sante", "[Santé, صحة]", status="closed")
ALL = [HEALTH, CHECK, SANTE]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HEALTH", "health"),
        ("health", "health"),
        (" Health! ", "health"),
        ("health please", "health"),
        ("ZDRÓWIE", "health"),  # accents do not count
        ("health check up", "check"),  # the longest keyword wins
        ("sante", "sante"),
        ("صحة", "sante"),
        ("I have a health question", None),  # not at the start: an ordinary message
        ("healthy", None),
        ("hello", None),
        ("", None),
    ],
)
def test_keywords_match_whole_words_at_the_start_ignoring_case_and_accents(text, expected):
    found = keyword_survey(text, ALL)
    assert (found.id if found else None) == expected


def test_an_open_survey_wins_a_keyword_a_closed_one_also_has():
    closed_health = survey("old-health", "[HEALTH]", status="closed")
    assert keyword_survey("health", [closed_health, HEALTH]).id == "health"
    assert keyword_survey("health", [HEALTH, closed_health]).id == "health"


def test_fold_keyword():
    assert fold_keyword("Zdrowie!") == fold_keyword("zdrowie") == "zdrowie"
    assert fold_keyword("Santé") == "sante"


@pytest.mark.parametrize(
    ("stage", "resume", "expected"),
    [
        (None, None, False), (LANGUAGE, None, False), (CONSENT, None, False),
        (COMPLETED, None, False), (DECLINED, None, False),
        (QUESTION, None, True), (RESUME, None, True), (LANGUAGE, QUESTION, True),
    ],
)
def test_a_survey_is_in_progress_only_while_questions_wait(stage, resume, expected):
    assert in_progress(stage, resume) is expected


@pytest.fixture
def engine() -> Engine:
    return Engine(None, CATALOGUE, default_survey="health", privacy_url="https://x.example/p",
                  welcome_back_after=timedelta(hours=1), resume_expiry=timedelta(hours=72))


def turn(text: str, intent: str = "inform", detected: str | None = None, **entities) -> Turn:
    return Turn(intent=intent, text=text, now=NOW, entities=entities, detected_language=detected)


def test_a_closed_survey_answers_politely_in_the_persons_language_and_asks_nothing(engine):
    out = engine.handle(State(stage=None, language=None), turn("sante", detected="pl"), SANTE)
    assert [r.text for r in out.replies] == [CATALOGUE.text("survey_closed", "pl")]
    assert out.state.stage is None, "no conversation is started"
    assert out.state.language == "pl" and out.events == ["language_changed"]
    unknown = engine.handle(State(stage=None, language=None), turn("???"), SANTE)
    assert [r.text for r in unknown.replies] == [CATALOGUE.text("survey_closed", "en")]
    back = engine.handle(State(stage=None, language="pl", opted_out=True),
                         turn("start", "start"), SANTE)
    assert back.replies[-1].text == CATALOGUE.text("survey_closed", "pl")
    assert back.state.stage is None


def test_an_open_survey_introduces_itself(engine):
    out = engine.handle(State(stage=None, language="en"), turn("health", "inform"), HEALTH)
    assert out.state.stage == CONSENT
    assert CATALOGUE.text("intro", "en") in out.replies[0].text


def test_number_questions_take_numbers_in_range_in_any_digits(engine):
    state = State(stage=QUESTION, language="ar", consented=True, question_key="visits")
    for text, value in [("12", 12), ("١٢", 12), ("0", 0), ("about 7 times", 7)]:
        out = engine.handle(state, turn(text), HEALTH)
        assert out.answer is not None and out.answer.value == value, text
        assert out.state.question_key == "why"
    via_shortcut = engine.handle(state, turn("3", "choose", number=3), HEALTH)
    assert via_shortcut.answer.value == 3

    too_many = engine.handle(state, turn("25"), HEALTH)
    assert too_many.answer is None and too_many.state.attempts == 1
    assert [r.text for r in too_many.replies] == [
        CATALOGUE.dress(CATALOGUE.text("retry_number", "ar", min="٠", max="٢٠"), "ar")]
    words = engine.handle(state, turn("many"), HEALTH)
    assert words.answer is None and words.state.question_key == "visits"


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("HEALTH", "stop", "greet"),  # the model's guess for an unknown word: the keyword wins
        ("health please", "start", "greet"),
        ("STOP", "stop", "stop"),  # a real STOP word is always a stop
        ("please stop texting me", "stop", "stop"),  # not a keyword: the model is believed
        ("HEALTH", "greet", "greet"),
    ],
)
def test_a_keyword_the_model_reads_as_stop_starts_its_survey(text, intent, expected):
    from bot.conversation import _keyword_is_no_stop

    turn = Turn(intent=intent, text=text, now=NOW, confidence=0.6)
    assert _keyword_is_no_stop(turn, HEALTH).intent == expected
