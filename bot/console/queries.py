"""What the console shows, read from the database under one set of filters: the overview,
results per question, the conversation list and a transcript. Pages and the API both call
these, so they always agree. Contacts appear only as their pseudonym (`Contact.public_id`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.console.filters import Filters
from bot.export import cell, english_columns
from bot.storage.tables import Answer, Contact, Conversation, Message
from bot.survey.flow import Question, Survey

IN_SURVEY = ("question", "resume", "completed")  # stages after consent
WAITING = ("question", "resume")
STAGE_LABELS = {
    "language": "choosing a language",
    "consent": "asked for consent",
    "question": "answering",
    "resume": "asked to carry on",
    "completed": "completed",
    "declined": "declined",
    "abandoned": "started again",
}
NON_ANSWERS = ("skipped", "dont_know", "unclear")
TEXT_SAMPLE = 100  # free-text answers listed per question; the export has them all
TOP_VALUES = 20  # most common values shown for a validated text question (e.g. postcode)


def stage_label(stage: str) -> str:
    return STAGE_LABELS.get(stage, stage)


def day_of(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, as SQL on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# -- options for the filter form -----------------------------------------------------------
@dataclass
class FilterOptions:
    versions: list[int]
    languages: list[str]
    channels: list[str]


def filter_options(session: Session, survey_id: str) -> FilterOptions:
    def distinct(column: Any) -> list[Any]:
        return sorted(v for v in session.scalars(
            select(column).where(Conversation.survey_id == survey_id).distinct()) if v is not None)

    return FilterOptions(distinct(Conversation.survey_version), distinct(Conversation.language),
                         distinct(Conversation.channel))


# -- overview -----------------------------------------------------------------------------
@dataclass
class Count:
    key: str
    conversations: int
    completed: int


@dataclass
class DayCount:
    day: date
    started: int
    completed: int


@dataclass
class QuestionFlow:
    key: str
    text: str
    reached: int  # answered in any way, or waiting at it
    answered: int
    waiting: int  # not finished, the question is the last one they were asked


@dataclass
class Overview:
    conversations: int
    in_survey: int  # consented and reached the questions
    completed: int
    declined: int
    completion_rate: float | None  # completed / in_survey
    per_day: list[DayCount]
    by_language: list[Count]
    by_channel: list[Count]
    dropoff: list[QuestionFlow]


def overview(session: Session, survey: Survey, filters: Filters) -> Overview:
    where = filters.conditions()
    by_stage = {stage: (n, done) for stage, n, done in session.execute(
        select(Conversation.stage, func.count(), func.count(Conversation.completed_at))
        .where(*where).group_by(Conversation.stage))}
    total = sum(n for n, _ in by_stage.values())
    completed = sum(done for _, done in by_stage.values())
    answered_any = exists().where(Answer.conversation_id == Conversation.id)
    in_survey = session.scalar(select(func.count()).select_from(Conversation).where(
        *where, or_(Conversation.stage.in_(IN_SURVEY), answered_any))) or 0

    day = day_of(session, Conversation.started_at)
    per_day = [DayCount(_as_date(d), n, done) for d, n, done in session.execute(
        select(day, func.count(), func.count(Conversation.completed_at))
        .where(*where).group_by(day).order_by(day))]

    def breakdown(column: Any) -> list[Count]:
        rows = session.execute(select(column, func.count(), func.count(Conversation.completed_at))
                               .where(*where).group_by(column))
        return sorted((Count(k or "unknown", n, done) for k, n, done in rows),
                      key=lambda c: (-c.conversations, c.key))

    answers: Counter[tuple[str, str]] = Counter({
        (key, status): n for key, status, n in session.execute(
            select(Answer.question_key, Answer.status, func.count())
            .join(Conversation, Conversation.id == Answer.conversation_id)
            .where(*where).group_by(Answer.question_key, Answer.status))})
    waiting = dict(session.execute(
        select(Conversation.question_key, func.count())
        .where(*where, Conversation.stage.in_(WAITING), Conversation.completed_at.is_(None))
        .group_by(Conversation.question_key)).all())
    dropoff = []
    for q in survey.questions:
        any_answer = sum(n for (key, _), n in answers.items() if key == q.key)
        dropoff.append(QuestionFlow(q.key, q.text_in("en"), any_answer + waiting.get(q.key, 0),
                                    answers[(q.key, "answered")], waiting.get(q.key, 0)))
    return Overview(total, in_survey, completed, by_stage.get("declined", (0, 0))[0],
                    completed / in_survey if in_survey else None, fill_days(per_day),
                    breakdown(Conversation.language), breakdown(Conversation.channel), dropoff)


def fill_days(days: list[DayCount]) -> list[DayCount]:
    """Every day from the first to the last response, so a quiet day shows as a gap."""
    if not days:
        return []
    found = {d.day: d for d in days}
    first, last = days[0].day, days[-1].day
    out: list[DayCount] = []
    day = first
    while day <= last and len(out) < 366:
        out.append(found.get(day, DayCount(day, 0, 0)))
        day += timedelta(days=1)
    return out


# -- results per question ---------------------------------------------------------------
@dataclass
class Bar:
    key: str
    label: str
    count: int
    share: float  # of the answers to this question


@dataclass
class TextAnswer:
    conversation_id: int
    contact: str
    language: str | None
    original: str
    english: str | None
    translation_status: str | None  # pending | done | failed | gave_up | None (English)
    at: datetime


@dataclass
class QuestionResult:
    key: str
    type: str
    text: str
    free_text: bool
    asked_if: str = ""  # skip logic in words: "when needed_interpreter was “Yes”"
    answered: int = 0
    skipped: int = 0
    dont_know: int = 0
    unclear: int = 0
    bars: list[Bar] = field(default_factory=list)
    mean: float | None = None
    texts: list[TextAnswer] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.answered + self.skipped + self.dont_know + self.unclear


def _labels(question: Question) -> list[tuple[Any, str]]:
    if question.type == "yesno":
        return [("yes", "Yes"), ("no", "No")]
    if question.type == "scale":
        low, high = question.scale_label("min", "en"), question.scale_label("max", "en")
        return [(n, f"{n} ({low})" if n == 1 else f"{n} ({high})" if n == 5 else str(n))
                for n in range(1, 6)]
    return [(o.key, o.text_in("en")) for o in question.options]


def label_of(question: Question, value: Any) -> str:
    """An answer as officers read it: the option's English text, or the value itself."""
    labels = dict(_labels(question)) if question.type != "text" else {}
    values = value if isinstance(value, list) else [value]
    return "; ".join(str(labels.get(v, v)) for v in values if v is not None)


def asked_if(survey: Survey, question: Question) -> str:
    parts = []
    for ref, allowed in question.show_if.items():
        earlier = survey.question(ref)
        parts.append(f"when {ref} was " + " or ".join(f"“{label_of(earlier, v)}”" for v in allowed))
    return " and ".join(parts)


def results(session: Session, survey: Survey, filters: Filters) -> list[QuestionResult]:
    where = filters.conditions()
    english_for = english_columns(survey)
    out = {q.key: QuestionResult(q.key, q.type, q.text_in("en"), q.key in english_for,
                                 asked_if(survey, q))
           for q in survey.questions}
    values: dict[str, Counter[Any]] = {q.key: Counter() for q in survey.questions}
    rows = session.execute(
        select(Answer.question_key, Answer.status, Answer.value)
        .join(Conversation, Conversation.id == Answer.conversation_id).where(*where)
        .execution_options(yield_per=2000))
    for key, status, value in rows:
        result = out.get(key)
        if result is None:  # a question of another version, no longer in the survey
            continue
        if status in NON_ANSWERS:
            setattr(result, status, getattr(result, status) + 1)
            continue
        result.answered += 1
        for v in value if isinstance(value, list) else [value]:
            values[key][v] += 1
    for q in survey.questions:
        result, counts = out[q.key], values[q.key]
        if q.key in english_for:
            result.texts = _texts(session, where, q.key)
            continue
        known = _labels(q) if q.type != "text" else [
            (v, str(v)) for v, _ in counts.most_common(TOP_VALUES)]
        result.bars = [Bar(str(k), label, counts[k], counts[k] / result.answered
                           if result.answered else 0.0) for k, label in known]
        if q.type == "scale" and result.answered:
            numbers = {k: n for k, n in counts.items() if isinstance(k, int)}
            result.mean = sum(k * n for k, n in numbers.items()) / max(sum(numbers.values()), 1)
    return list(out.values())


def _texts(session: Session, where: list[ColumnElement[bool]], key: str) -> list[TextAnswer]:
    rows = session.execute(
        select(Answer, Contact.public_id, Message.text_en, Message.translation_status)
        .join(Conversation, Conversation.id == Answer.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .outerjoin(Message, Message.id == Answer.message_id)
        .where(*where, Answer.question_key == key, Answer.status == "answered")
        .order_by(Answer.id.desc()).limit(TEXT_SAMPLE))
    return [TextAnswer(a.conversation_id, public_id, a.language, a.raw_text, text_en, status,
                       a.created_at) for a, public_id, text_en, status in rows]


# -- conversations ------------------------------------------------------------------------
@dataclass
class ConversationRow:
    id: int
    contact: str
    survey_version: int
    language: str | None
    channel: str
    stage: str
    started_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    answers: int
    opted_out: bool

    @property
    def state(self) -> str:
        return stage_label(self.stage) + (" · opted out" if self.opted_out else "")


def like_pattern(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def conversations(session: Session, filters: Filters, search: str = "", page: int = 1,
                  per_page: int = 50) -> tuple[list[ConversationRow], int]:
    """A page of conversations, newest first, and how many match in all. `search` finds a
    contact by pseudonym, or words in any message of the conversation (original or English)."""
    where = filters.conditions()
    search = search.strip()[:100]
    if search:
        pattern = like_pattern(search)
        # One pass over the messages (not one per conversation): the ids of those that match.
        said = select(Message.conversation_id).where(
            Message.conversation_id.is_not(None),
            or_(Message.body.ilike(pattern, escape="\\"), Message.text_en.ilike(pattern, escape="\\")))
        where.append(or_(Contact.public_id.ilike(pattern, escape="\\"), Conversation.id.in_(said)))
    answer_count = (select(func.count()).where(Answer.conversation_id == Conversation.id)
                    .correlate(Conversation).scalar_subquery())
    base = select(Conversation, Contact.public_id, Contact.opted_out_at, answer_count).join(
        Contact, Contact.id == Conversation.contact_id).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(base.order_by(Conversation.id.desc())
                           .offset((max(page, 1) - 1) * per_page).limit(per_page))
    return [ConversationRow(c.id, public_id, c.survey_version, c.language, c.channel, c.stage,
                            c.started_at, c.updated_at, c.completed_at, n, opted_out is not None)
            for c, public_id, opted_out, n in rows], total


# -- transcript -------------------------------------------------------------------------
@dataclass
class Line:
    id: int
    direction: str  # in | out
    at: datetime
    body: str
    language: str | None
    english: str | None
    translation_status: str | None
    translation_error: str | None
    status: str  # inbound: received/processed; outbound: delivery status
    error_code: str | None
    media: list[str]  # content types of attachments


@dataclass
class AnswerLine:
    key: str
    text: str
    status: str
    value: str  # as in the export
    label: str  # as officers read it: the option's English text
    original: str
    english: str | None


@dataclass
class Transcript:
    conversation: ConversationRow
    survey_id: str
    consent_at: datetime | None
    lines: list[Line]
    answers: list[AnswerLine]


def transcript(session: Session, conversation_id: int, survey: Survey | None) -> Transcript | None:
    found = session.execute(
        select(Conversation, Contact).join(Contact, Contact.id == Conversation.contact_id)
        .where(Conversation.id == conversation_id)).one_or_none()
    if found is None:
        return None
    conv, contact = found
    messages = list(session.scalars(select(Message).where(Message.conversation_id == conv.id)
                                    .order_by(Message.id)))
    by_id = {m.id: m for m in messages}
    lines = [Line(m.id, m.direction, m.created_at, m.body, m.language, m.text_en,
                  m.translation_status, m.translation_error, m.status, m.error_code,
                  [str(x.get("content_type") or "attachment") for x in (m.media or [])])
             for m in messages]
    order = {q.key: i for i, q in enumerate(survey.questions)} if survey else {}
    answers = []
    for a in sorted(conv.answers, key=lambda a: (order.get(a.question_key, 999), a.id)):
        value = cell(a.status, a.value, a.raw_text)
        text, label = a.question_key, value
        if survey and a.question_key in order:
            question = survey.question(a.question_key)
            text = question.text_in("en")
            if a.status == "answered":
                label = label_of(question, a.value)
        message = by_id.get(a.message_id) if a.message_id else None
        answers.append(AnswerLine(a.question_key, text, a.status, value, label, a.raw_text,
                                  message.text_en if message else None))
    row = ConversationRow(conv.id, contact.public_id, conv.survey_version, conv.language,
                          conv.channel, conv.stage, conv.started_at, conv.updated_at,
                          conv.completed_at, len(conv.answers), contact.opted_out_at is not None)
    return Transcript(row, conv.survey_id, contact.consent_at, lines, answers)

