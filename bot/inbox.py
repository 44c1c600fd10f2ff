"""Inbound messages: stored before Twilio gets its 200, exactly once per MessageSid.

The unique constraint on `messages.twilio_sid` is the real guard against Twilio's retries;
the lookup before the insert only spares the common case an exception.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.storage.db import Database
from bot.storage.phones import PhoneVault
from bot.storage.tables import Contact, Message, utcnow

if TYPE_CHECKING:
    from datetime import datetime

RECEIVED = "received"
PROCESSED = "processed"

_PSEUDONYM_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class InboundMessage:
    """An inbound message as a channel parsed it: `sender` is the person's number, never logged."""

    sid: str
    channel: str
    sender: str
    our_address: str
    body: str
    media: list[dict[str, str]] = field(default_factory=list)
    button_payload: str | None = None


def new_public_id() -> str:
    """A random pseudonym officers see instead of the number: not derivable from it."""
    return "C" + "".join(secrets.choice(_PSEUDONYM_ALPHABET) for _ in range(9))


def find_contact(session: Session, vault: PhoneVault, number: str) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.phone_hash == vault.lookup_hash(number)))


def get_or_create_contact(
    session: Session, vault: PhoneVault, number: str, now: datetime
) -> Contact:
    contact = find_contact(session, vault, number)
    if contact is None:
        contact = Contact(
            public_id=new_public_id(),
            phone_hash=vault.lookup_hash(number),
            phone_encrypted=vault.encrypt(number),
            created_at=now,
        )
        session.add(contact)
        session.flush()
    return contact


def store_inbound(db: Database, vault: PhoneVault, message: InboundMessage) -> int | None:
    """Store one inbound message; returns its id, or None if this MessageSid is already stored."""
    with db.read() as session:
        if session.scalar(select(Message.id).where(Message.twilio_sid == message.sid)):
            return None
    now = utcnow()
    try:
        with db.transaction(urgent=True) as session:  # Twilio waits for this one
            contact = get_or_create_contact(session, vault, message.sender, now)
            contact.last_inbound_at = now
            row = Message(
                contact_id=contact.id,
                direction="in",
                channel=message.channel,
                our_address=message.our_address,
                body=message.body,
                twilio_sid=message.sid,
                status=RECEIVED,
                media=message.media or None,
                purpose=f"button:{message.button_payload}" if message.button_payload else None,
                created_at=now,
            )
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:
        # Either a concurrent retry of the same MessageSid, or two first messages from one new
        # number racing to create the contact: the first is a duplicate, the second is retried.
        with db.read() as session:
            if session.scalar(select(Message.id).where(Message.twilio_sid == message.sid)):
                return None
        return store_inbound(db, vault, message)
