"""End to end, on SQLite and PostgreSQL: surveys published with the CLI while the real app runs.

A person part-way through version 1 finishes version 1 after version 2 is published, while a
new person gets version 2; a keyword starts its survey; a closed survey says so and starts
nothing; results combine the versions by question key.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.settings import PROJECT_ROOT, Settings
from bot.storage.db import Database
from bot.storage.tables import Conversation
from bot.survey.flow import Survey, load_survey, load_text
from bot.survey.store import answers_by_question
from bot.texts.catalogue import Catalogue
from tests.e2e.harness import CLI, Phone
from tests.e2e.respondent import Respondent

pytestmark = pytest.mark.e2e

V1 = load_survey(PROJECT_ROOT / "surveys" / "demo.yml")
# Version 2: no question about children translating; a new number question after `access`.
V2_TEXT = (PROJECT_ROOT / "surveys" / "demo.yml").read_text(encoding="utf-8").replace(
    "  - key: info_language\n",
    "  - key: gp_visits\n    type: number\n    range: [0, 50]\n"
    "    text: {en: \"How many times did you see a GP in the last year?\"}\n\n"
    "  - key: info_language\n",
).replace("  - key: children_translate\n", "  - key: children_translate_removed\n", 1)
HEALTH_TEXT = """\
id: health
title: {en: Health check}
keywords: [HEALTH, ZDROWIE]
questions:
  - key: flu_jab
    type: yesno
    text: {en: "Have you had a flu jab this winter?"}
  - key: gp_visits
    type: number
    range: [0, 50]
    text: {en: "How many times did you see a GP in the last year?"}
"""
WINTER_TEXT = """\
id: winter
status: closed
keywords: [WINTER]
questions:
  - key: warm
    type: yesno
    text: {en: "Is your home warm enough?"}
"""
CATALOGUE = Catalogue.load()


def v2_text() -> str:
    # Drop the renamed question entirely (its block runs to the next question).
    start = V2_TEXT.index("  - key: children_translate_removed\n")
    end = V2_TEXT.index("  - key: staff_respect\n")
    return V2_TEXT[:start] + V2_TEXT[end:]


def cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(CLI), "survey", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=PROJECT_ROOT)
    assert done.returncode == 0, done.stderr
    return done.stdout


FREE_TEXT = "More interpreters at the GP surgery, and letters in my language please"


def answer(question) -> str:
    by_type = {"yesno": "yes", "scale": "4", "multiple": "1, 2", "single": "1", "number": "3"}
    if question.type in by_type:
        return by_type[question.type]
    return "IP4 2AB" if question.validate else FREE_TEXT


def answer_until_done(who: Respondent, contact_id: int, survey: Survey) -> list[str]:
    asked = []
    for _ in range(25):
        conversation = who.conversation(contact_id)
        if conversation.stage == "completed":
            return asked
        question = survey.question(conversation.question_key)
        asked.append(question.key)
        assert who.say(answer(question)).replies, f"no reply after {question.key}"
    raise AssertionError(f"not completed; asked {asked}")


def test_versions_keywords_and_a_closed_survey(make_app, database_url, tmp_path: Path):
    app = make_app(database_url)
    env = dict(app.env)
    v2_file, health_file, winter_file = (tmp_path / "flows" / name for name in
                                         ("demo.yml", "health.yml", "winter.yml"))
    v2_file.parent.mkdir()
    v2_file.write_text(v2_text(), encoding="utf-8")
    health_file.write_text(HEALTH_TEXT, encoding="utf-8")
    winter_file.write_text(WINTER_TEXT, encoding="utf-8")
    v2 = load_text(v2_text(), "demo.yml")
    assert "gp_visits" in [q.key for q in v2.questions]
    assert "children_translate" not in [q.key for q in v2.questions]

    # A starts version 1 (the file in surveys/, imported when the app started).
    a = Respondent(Phone(app.url, "+447700900801", "sms"), database_url)
    a.say("Hello")
    started = a.say("yes")
    a_contact = started.inbound.contact_id
    assert a.conversation(a_contact).question_key == "access"
    a.say("4")

    # Version 2 and two more surveys are published from the CLI while A is part-way through.
    assert "draft stored" in cli(env, "upload", str(v2_file))
    assert "published as version 2" in cli(env, "publish", "demo")
    for flow in (health_file, winter_file):
        cli(env, "upload", str(flow))
        cli(env, "publish", flow.stem)
    listing = cli(env, "list")
    assert "health" in listing and "winter" in listing and "closed" in listing

    asked_a = ["access", *answer_until_done(a, a_contact, V1)]
    assert "children_translate" in asked_a and "gp_visits" not in asked_a
    conversation_a = a.conversation(a_contact)
    assert conversation_a.survey_version == 1
    assert {x.survey_version for x in a.answers(conversation_a.id).values()} == {1}

    # B, new, gets version 2.
    b = Respondent(Phone(app.url, "+447700900802", "whatsapp"), database_url)
    b.say("Hello")
    b_contact = b.say("yes").inbound.contact_id
    asked_b = answer_until_done(b, b_contact, v2)
    assert "gp_visits" in asked_b and "children_translate" not in asked_b
    conversation_b = b.conversation(b_contact)
    assert conversation_b.survey_version == 2
    assert b.answers(conversation_b.id)["gp_visits"].value == 3

    # C texts the health survey's keyword (any case) and gets that survey. One word says no
    # language, so C is asked for one first: the keyword's survey waits for the choice.
    c = Respondent(Phone(app.url, "+447700900803", "sms"), database_url)
    menu = c.say("health")
    c_contact = menu.inbound.contact_id
    assert CATALOGUE.text("language_menu", "en") in menu.text
    assert (c.conversation(c_contact).survey_id, c.conversation(c_contact).stage) == (
        "health", "language")
    intro = c.say("1")  # English
    assert CATALOGUE.text("intro", "en") in intro.text
    first = c.say("yes")
    assert "flu jab" in first.text
    conversation_c = c.conversation(c_contact)
    assert (conversation_c.survey_id, conversation_c.survey_version) == ("health", 1)

    # D texts the closed survey's keyword: a polite answer, no questions, no conversation.
    d = Respondent(Phone(app.url, "+447700900804", "sms"), database_url)
    closed = d.say("Winter")
    assert closed.texts == [CATALOGUE.text("survey_closed", "en")]
    assert d.conversation(closed.inbound.contact_id) is None

    # A, who finished demo, texts HEALTH: a new conversation on the health survey.
    again = a.say("HEALTH")
    assert CATALOGUE.text("intro", "en") in again.text, "A's language is known: straight in"
    latest = a.conversation(a_contact)
    assert latest.survey_id == "health" and latest.id != conversation_a.id
    with Session(a.engine) as session:
        kept = session.get(Conversation, conversation_a.id)
        assert kept.stage == "completed", "the finished conversation is kept as it was"
        mine = list(session.scalars(select(Conversation.survey_id)
                                    .where(Conversation.contact_id == a_contact)
                                    .order_by(Conversation.id)))
    assert mine == ["demo", "health"]

    # Results across versions: version 1's and version 2's answers to `access` count together.
    db = Database(Settings(database_url=database_url, data_dir=tmp_path, encryption_key="x"))
    try:
        grouped = answers_by_question(db, "demo")
    finally:
        db.dispose()
    assert {row.survey_version for row in grouped["access"]} == {1, 2}
    assert {row.survey_version for row in grouped["children_translate"]} == {1}
    assert {row.survey_version for row in grouped["gp_visits"]} == {2}
    for who in (a, b, c, d):
        who.close()
