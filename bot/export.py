"""Answers of one survey as CSV, Excel (.xlsx) or JSON: one row per conversation, one column per
question, and for free-text questions the English translation beside the original (empty
until translated). The CLI and the console export the same rows; the console narrows them
with its filters (`where`).

No phone numbers, ever: a contact is its pseudonym. Rows are read in batches so a big survey
exports in steady memory. A cell that a spreadsheet would run as a formula (people's own
words can start with `=`) is written as text: quoted in CSV, typed as a string in Excel.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any, TextIO

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import selectinload

from bot.storage.db import Database
from bot.storage.tables import Contact, Conversation, Message
from bot.survey.flow import Question, Survey

FIXED_COLUMNS = ["conversation", "contact", "survey_version", "language", "channel", "stage",
                 "started", "completed"]
STATUS_MARKERS = {"skipped": "[skipped]", "dont_know": "[don't know]", "unclear": "[unclear]"}
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
           "json": "application/json"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def cell(status: str, value: Any, raw_text: str) -> str:
    if status != "answered":
        marker = STATUS_MARKERS.get(status, f"[{status}]")
        return f"{marker} {raw_text}".strip() if status == "unclear" else marker
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def free_text(question: Question) -> bool:
    """Answered in a person's own words (a text question without validation)."""
    return question.type == "text" and question.validate is None


def english_columns(survey: Survey) -> set[str]:
    """Questions answered in a person's own words: these get an `<key>_en` column."""
    return {q.key for q in survey.questions if free_text(q)}


def columns(question_keys: list[str], english_for: set[str]) -> list[str]:
    out = list(FIXED_COLUMNS)
    for key in question_keys:
        out += [key, f"{key}_en"] if key in english_for else [key]
    return out


def rows(db: Database, survey_id: str, question_keys: list[str], english_for: set[str],
         batch: int = 500, where: Sequence[ColumnElement[bool]] = ()) -> Iterator[list[str]]:
    last_id = 0
    while True:
        with db.read() as session:
            found = session.execute(
                select(Conversation, Contact.public_id)
                .join(Contact, Contact.id == Conversation.contact_id)
                .where(Conversation.survey_id == survey_id, Conversation.id > last_id, *where)
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


def csv_safe(value: str) -> str:
    """A cell a spreadsheet would treat as a formula, quoted so it stays text."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def write_csv(db: Database, survey_id: str, question_keys: list[str], english_for: set[str],
              out: TextIO, where: Sequence[ColumnElement[bool]] = ()) -> int:
    writer = csv.writer(out)
    writer.writerow(columns(question_keys, english_for))
    count = 0
    for row in rows(db, survey_id, question_keys, english_for, where=where):
        writer.writerow([csv_safe(v) for v in row])
        count += 1
    return count


class _Line:
    """A file-like that hands back what csv.writer wrote, one row at a time."""

    def __init__(self) -> None:
        self.text = ""

    def write(self, text: str) -> None:
        self.text += text


def csv_chunks(header: list[str], data: Iterable[list[str]]) -> Iterator[str]:
    line = _Line()
    writer = csv.writer(line)
    writer.writerow(header)
    yield line.text
    for row in data:
        line.text = ""
        writer.writerow([csv_safe(v) for v in row])
        yield line.text


def json_chunks(header: list[str], data: Iterable[list[str]]) -> Iterator[str]:
    """A JSON array of objects keyed by the same column names as the CSV."""
    yield "["
    first = True
    for row in data:
        record: dict[str, Any] = dict(zip(header, row, strict=True))
        record["conversation"] = int(record["conversation"])
        record["survey_version"] = int(record["survey_version"])
        yield ("\n" if first else ",\n") + json.dumps(record, ensure_ascii=False)
        first = False
    yield "\n]\n"


def write_xlsx(header: list[str], data: Iterable[list[str]], out: IO[bytes],
               title: str = "answers") -> int:
    """An Excel workbook written row by row (openpyxl's write-only mode); every cell text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    bold = Font(bold=True)
    heading = []
    for name in header:
        c = WriteOnlyCell(sheet, value=name)
        c.font = bold
        heading.append(c)
    sheet.append(heading)
    count = 0
    for row in data:
        cells = []
        for value in row:
            c = WriteOnlyCell(sheet, value=_XLSX_ILLEGAL.sub("", value))
            c.data_type = "s"  # never a formula, whatever the text starts with
            cells.append(c)
        sheet.append(cells)
        count += 1
    book.save(out)
    return count
