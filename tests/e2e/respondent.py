"""A person texting the bot, seen from both ends: their phone and the bot's database."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.storage.tables import Answer, Conversation, Message
from tests.e2e.harness import Phone

SETTLED = {"queued", "sent", "delivered", "read", "failed", "undelivered"}


@dataclass
class Exchange:
    inbound: Message
    replies: list[Message]

    @property
    def texts(self) -> list[str]:
        return [m.body for m in self.replies]

    @property
    def text(self) -> str:
        return "\n".join(self.texts)


class Respondent:
    def __init__(self, phone: Phone, database_url: str) -> None:
        self.phone = phone
        self.engine = create_engine(database_url)

    def close(self) -> None:
        self.engine.dispose()

    def say(self, body: str, timeout: float = 20.0, **extra: str) -> Exchange:
        form = self.phone.form(body, **extra)
        self.phone.post(form).raise_for_status()
        return self.wait_processed(form["MessageSid"], timeout)

    def wait_processed(self, sid: str, timeout: float = 20.0) -> Exchange:
        """Until the bot processed the message and every reply to it has left the outbox."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with Session(self.engine) as session:
                inbound = session.scalar(select(Message).where(Message.twilio_sid == sid))
                if inbound is not None and inbound.status == "processed":
                    replies = list(session.scalars(
                        select(Message).where(Message.in_reply_to_id == inbound.id)
                        .order_by(Message.id)))
                    if all(r.status in SETTLED for r in replies):
                        return Exchange(inbound, replies)
            time.sleep(0.05)
        raise AssertionError(f"message {sid} not processed and answered within {timeout}s")

    def conversation(self, contact_id: int) -> Conversation | None:
        with Session(self.engine) as session:
            return session.scalar(
                select(Conversation).where(Conversation.contact_id == contact_id)
                .order_by(Conversation.id.desc()).limit(1))

    def answers(self, conversation_id: int) -> dict[str, Answer]:
        with Session(self.engine) as session:
            rows = session.scalars(select(Answer).where(Answer.conversation_id == conversation_id))
            return {a.question_key: a for a in rows}
