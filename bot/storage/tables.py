"""The database schema (SQLAlchemy 2). Alembic migrations in `migrations/` build it.

Phone numbers live only in `contacts.phone_encrypted` (Fernet) and `contacts.phone_hash`
(keyed HMAC, for lookup). Everything an officer sees names a contact by `public_id`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every database (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime stored; use bot.storage.tables.utcnow()")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(16), unique=True)
    phone_hash: Mapped[str] = mapped_column(String(64), unique=True)
    phone_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]
    consent_at: Mapped[datetime | None]
    opted_out_at: Mapped[datetime | None]
    opted_in_at: Mapped[datetime | None]

    conversations: Mapped[list[Conversation]] = relationship(back_populates="contact")

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


class ContactEvent(Base):
    """Consent, opt-out and opt-in history: who agreed to what, and when."""

    __tablename__ = "contact_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """One person's pass through one version of a survey."""

    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    survey_version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(16))
    question_key: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # engine state without a column

    contact: Mapped[Contact] = relationship(back_populates="conversations")
    answers: Mapped[list[Answer]] = relationship(back_populates="conversation", order_by="Answer.id")


class Message(Base):
    """Every message in and out, in order. Inbound: status received -> processed.
    Outbound: pending -> queued/sent -> delivered/read, or failed/undelivered."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_pending", "direction", "status"),
        Index("ix_messages_contact", "contact_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    channel: Mapped[str] = mapped_column(String(16))  # "sms" | "whatsapp"
    our_address: Mapped[str] = mapped_column(String(64))  # the Twilio number (ours, not personal)
    body: Mapped[str] = mapped_column(Text, default="")
    language: Mapped[str | None] = mapped_column(String(8))
    twilio_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(32))  # Twilio code or ours
    media: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    in_reply_to_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    purpose: Mapped[str | None] = mapped_column(String(32))  # e.g. "opt_out_confirmation"
    # English for officers, of a person's own words: pending -> done, or failed (retried later).
    text_en: Mapped[str | None] = mapped_column(Text)
    translation_status: Mapped[str | None] = mapped_column(String(16))
    translation_attempts: Mapped[int] = mapped_column(Integer, default=0)
    translation_next_at: Mapped[datetime | None]
    translation_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Answer(Base):
    """One answer to one question. `value` is the normalised form (option key, number, list)."""

    __tablename__ = "answers"
    __table_args__ = (UniqueConstraint("conversation_id", "question_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    question_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))  # answered | skipped | dont_know | unclear
    raw_text: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    language: Mapped[str | None] = mapped_column(String(8))
    survey_version: Mapped[int] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    conversation: Mapped[Conversation] = relationship(back_populates="answers")


class TranslationCache(Base):
    """Machine translations already paid for: the same words are never sent twice."""

    __tablename__ = "translation_cache"
    __table_args__ = (UniqueConstraint("language", "text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    text_hash: Mapped[str] = mapped_column(String(64))
    text_en: Mapped[str] = mapped_column(Text)
    provider: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SurveyDraft(Base):
    """A survey being written: its flow YAML and language files as uploaded or edited, one per
    survey id. Always a valid flow: an upload that fails validation stores nothing."""

    __tablename__ = "survey_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64), unique=True)
    source_name: Mapped[str] = mapped_column(String(200))  # the file it came from, for messages
    source: Mapped[str] = mapped_column(Text)  # the flow's YAML, as written
    language_files: Mapped[dict[str, Any]] = mapped_column(JSON)  # "ar.yml" -> its YAML
    warnings: Mapped[list[str] | None] = mapped_column(JSON)  # e.g. a language left out
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str] = mapped_column(String(254), default="")


class SurveyVersion(Base):
    """A published version of a survey, frozen: written once, never changed or deleted, so a
    conversation can always finish on the version it started on."""

    __tablename__ = "survey_versions"
    __table_args__ = (
        UniqueConstraint("survey_id", "version"),
        Index("ix_survey_versions_hash", "survey_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # the flow, every language merged in
    content_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the document
    source_name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text)
    language_files: Mapped[dict[str, Any]] = mapped_column(JSON)
    warnings: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")


class SurveyPublication(Base):
    """Each time a version became the one new conversations get (a rollback is one too). The
    newest row per survey is its published version."""

    __tablename__ = "survey_publications"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str] = mapped_column(String(254), default="")
