"""Answers of one survey as CSV: one row per conversation, one column per question, and for
free-text questions the English translation beside the original (empty until translated).

No phone numbers, ever: a contact is its pseudonym. Rows are streamed in batches so a big
survey exports in constant memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from bot.storage.db import Database
from bot.storage.tables import Contact, Conversation, Message

FIXED_COLUMNS = ["conversation", "contact", "survey_version", "language", "channel", "stage",
                 "started", "completed"]
STATUS_MARKERS = {"skipped": "[skipped]", "dont_know": "[don't know]", "unclear": "[unclear]"}


def cell(status: str, value: Any, raw_text: str) -> str:
    if status != "answered":
        marker = STATUS_MARKERS.get(status, f"[{status}]")
        return f"{marker} {raw_text}".strip() if status == "unclear" else marker
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def columns(question_keys: list[str], english_for: set[str]) -> list[str]:
    out = list(FIXED_COLUMNS)
    for key in question_keys:
        out += [key, f"{key}_en"] if key in english_for else [key]
    return out


def rows(db: Database, survey_id: str, question_keys: list[str], english_for: set[str],
         batch: int = 500) -> Iterator[list[str]]:
    last_id = 0
    while True:
        with db.read() as session:
            found = session.execute(
                select(Conversation, Contact.public_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.survey_id == survey_id, Conversation.id > last_id)
                .order_by(Conversation.id)
                .limit(batch)
                .options(selectinload(Conversation.answers))
            ).all()
            message_ids = [a.message_id for c, _ in found for a in c.answers
                           if a.question_key in english_for and a.message_id]
            english = dict(session.execute(
                select(Message.id, Message.text_en).where(Message.id.in_(message_ids))).all())
        if not found:
            return
        for conversation, public_id in found:
            answers = {a.question_key: a for a in conversation.answers}
            row = [
                str(conversation.id),
                public_id,
                str(conversation.survey_version),
                conversation.language or "",
                conversation.channel,
                conversation.stage,
                conversation.started_at.isoformat(timespec="seconds"),
                conversation.completed_at.isoformat(timespec="seconds") if conversation.completed_at else "",
            ]
            for key in question_keys:
                answer = answers.get(key)
                row.append(cell(answer.status, answer.value, answer.raw_text) if answer else "")
                if key in english_for:
                    text_en = english.get(answer.message_id) if answer and answer.message_id else None
                    row.append(text_en or "")
            yield row
        last_id = found[-1][0].id


def write_csv(db: Database, survey_id: str, question_keys: list[str], english_for: set[str],
              out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow(columns(question_keys, english_for))
    count = 0
    for row in rows(db, survey_id, question_keys, english_for):
        writer.writerow(row)
        count += 1
    return count
