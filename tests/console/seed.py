"""A small, known set of conversations of the demo survey, written as the bot writes them
(contacts, conversations, every message in and out, answers pointing at their message), with
fixed dates so the filters and figures can be checked exactly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.storage.db import Database
from bot.storage.tables import Answer, Contact, Conversation, Message

BOT_NUMBER = "+447700900000"


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@dataclass
class Turn:
    said: str
    replies: list[str]
    answer: tuple[str, str, Any] | None = None  # question key, status, value
    english: str | None = None
    translation: str | None = None  # pending | done | failed
    delivery: str = "delivered"


@dataclass
class Person:
    public_id: str
    language: str
    channel: str
    started: datetime
    stage: str
    turns: list[Turn] = field(default_factory=list)
    question_key: str | None = None
    completed: bool = False
    opted_out: bool = False


PEOPLE = [
    Person("CAAAAA", "pl", "sms", at(20), "completed", completed=True, turns=[
        Turn("Dzień dobry", ["Dzień dobry! Tu NHS. Czy zgadzasz się?"]),
        Turn("tak", ["Jak łatwo jest Ci dostać pomoc?"]),
        Turn("2", ["Czy informacje dostajesz w języku, który rozumiesz?"], ("access", "answered", 2)),
        Turn("czasami", ["Czy potrzebny był Ci tłumacz?"], ("info_language", "answered", "sometimes")),
        Turn("nie", ["Czy dzieci tłumaczą?"], ("needed_interpreter", "answered", "no")),
        Turn("1", ["Jak traktował Cię personel?"], ("children_translate", "answered", "often")),
        Turn("5", ["Jaka jedna zmiana?"], ("staff_respect", "answered", 5)),
        Turn("Więcej tłumaczy w przychodni", ["Bardzo dziękujemy!"],
             ("one_thing", "answered", "Więcej tłumaczy w przychodni"),
             english="More interpreters at the clinic", translation="done"),
    ]),
    Person("CBBBBB", "en", "whatsapp", at(21), "question", question_key="needed_interpreter", turns=[
        Turn("Hello", ["Hello! This is the NHS. Do you agree?"]),
        Turn("yes", ["How easy is it to get care?"]),
        Turn("4", ["Do you get information you understand?"], ("access", "answered", 4)),
        Turn("always", ["Did you need an interpreter?"], ("info_language", "answered", "always"),
             delivery="failed"),
    ]),
    Person("CCCCCC", "pl", "whatsapp", at(21, 15), "declined", turns=[
        Turn("Cześć", ["Dzień dobry! Tu NHS. Czy zgadzasz się?"]),
        Turn("nie", ["Rozumiemy. Dziękujemy."]),
    ]),
    Person("CDDDDD", "pl", "sms", at(22), "completed", completed=True, opted_out=True, turns=[
        Turn("Dzień dobry", ["Dzień dobry! Tu NHS. Czy zgadzasz się?"]),
        Turn("tak", ["Jak łatwo jest Ci dostać pomoc?"]),
        Turn("3", ["Czy informacje dostajesz w języku, który rozumiesz?"], ("access", "answered", 3)),
        Turn("nigdy", ["Czy potrzebny był Ci tłumacz?"], ("info_language", "answered", "never")),
        Turn("tak", ["Czy zapewniono Ci tłumacza?"], ("needed_interpreter", "answered", "yes")),
        Turn("nie wiem", ["Czy dzieci tłumaczą?"], ("got_interpreter", "dont_know", None)),
        Turn("czasem", ["Jak traktował Cię personel?"], ("children_translate", "answered", "sometimes")),
        Turn("nie wiem", ["Jaka jedna zmiana?"], ("staff_respect", "dont_know", None)),
        Turn("=1+1 lekarzy po polsku", ["Bardzo dziękujemy!"],
             ("one_thing", "answered", "=1+1 lekarzy po polsku"), translation="failed"),
        Turn("STOP", ["Nie wyślemy więcej wiadomości."]),
    ]),
]


def seed(db: Database, people: list[Person] = PEOPLE, survey_id: str = "demo") -> dict[str, int]:
    """Write the people; returns conversation ids by pseudonym."""
    ids = {}
    with db.transaction() as session:
        for p in people:
            contact = Contact(public_id=p.public_id, phone_hash=f"hash-{p.public_id}",
                              phone_encrypted=b"not-a-number", language=p.language,
                              created_at=p.started, last_inbound_at=p.started,
                              consent_at=p.started if p.stage != "declined" else None,
                              opted_out_at=p.started + timedelta(minutes=30) if p.opted_out else None)
            session.add(contact)
            session.flush()
            conversation = Conversation(
                contact_id=contact.id, survey_id=survey_id, survey_version=1, stage=p.stage,
                question_key=p.question_key, language=p.language, channel=p.channel,
                started_at=p.started, updated_at=p.started + timedelta(minutes=len(p.turns)),
                completed_at=p.started + timedelta(minutes=len(p.turns)) if p.completed else None)
            session.add(conversation)
            session.flush()
            ids[p.public_id] = conversation.id
            for i, turn in enumerate(p.turns):
                when = p.started + timedelta(minutes=i)
                inbound = Message(
                    contact_id=contact.id, conversation_id=conversation.id, direction="in",
                    channel=p.channel, our_address=BOT_NUMBER, body=turn.said, language=p.language,
                    twilio_sid=f"SM{p.public_id}{i:03d}", status="processed",
                    text_en=turn.english, translation_status=turn.translation,
                    translation_error="ServerException: 503" if turn.translation == "failed" else None,
                    created_at=when)
                session.add(inbound)
                session.flush()
                for reply in turn.replies:
                    session.add(Message(
                        contact_id=contact.id, conversation_id=conversation.id, direction="out",
                        channel=p.channel, our_address=BOT_NUMBER, body=reply, language=p.language,
                        status=turn.delivery, error_code="63016" if turn.delivery == "failed" else None,
                        in_reply_to_id=inbound.id, created_at=when))
                if turn.answer:
                    key, status, value = turn.answer
                    session.add(Answer(conversation_id=conversation.id, question_key=key,
                                       status=status, raw_text=turn.said, value=value,
                                       language=p.language, survey_version=1,
                                       message_id=inbound.id, created_at=when))
    return ids
