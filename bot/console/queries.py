"""What the console shows, read from the database under one set of filters: the overview,
results per question, the conversation list and a transcript. Pages and the API both call
these, so they always agree. Contacts appear only as their pseudonym (`Contact.public_id`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.orm import Session

from bot.console.filters import Filters
from bot.export import cell, free_text
from bot.storage.tables import Answer, Contact, Conversation, Message
from bot.survey.flow import Question, Survey
from bot.survey.store import SurveyStore, SurveyStoreError

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


# -- the questions to show, across versions ------------------------------------------------
TYPE_WORDS = {"yesno": "yes or no", "single": "one choice", "multiple": "several choices",
              "scale": "scale 1 to 5", "text": "own words"}


@dataclass(frozen=True)
class Asked:
    version: int
    question: Question
    survey: Survey  # that version: its skip logic names its own questions


@dataclass(frozen=True)
class Shown:
    """One question key as the console shows it: answers to one key count together across
    versions, worded as the newest version that asks it words it."""

    key: str
    asked: tuple[Asked, ...]  # newest version first
    of_versions: tuple[int, ...]  # every version in view (all of them, or the filtered one)

    @property
    def question(self) -> Question:
        return self.asked[0].question

    @property
    def survey(self) -> Survey:
        return self.asked[0].survey

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(a.version for a in self.asked))

    @property
    def free_text(self) -> bool:
        """Answered in people's own words by any version (so the export keeps the English)."""
        return any(free_text(a.question) for a in self.asked)

    @property
    def changed_type(self) -> bool:
        return len({a.question.type for a in self.asked}) > 1

    @property
    def asked_in(self) -> str:
        """"asked in versions 1–2" when not every version in view asks it, else ""."""
        if set(self.versions) >= set(self.of_versions):
            return ""
        return "asked in " + versions_words(self.versions)

    def by_type(self) -> list[list[Asked]]:
        """The versions grouped by the type they ask it as, newest type first: answers of
        different types cannot share a chart (a "yes" is not a 4 on a scale)."""
        groups: dict[str, list[Asked]] = {}
        for a in self.asked:
            groups.setdefault(a.question.type, []).append(a)
        return list(groups.values())


def versions_words(versions: Sequence[int]) -> str:
    """[2] -> "version 2"; [1, 2, 3, 5] -> "versions 1–3, 5"."""
    numbers = sorted(set(versions))
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    words = ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 1 else str(r[0]) for r in runs)
    return ("version " if len(numbers) == 1 else "versions ") + words


def shown_questions(store: SurveyStore, survey_id: str, version: int | None = None) -> list[Shown]:
    """The questions to show for a survey under a version filter. With none: every key any
    version asked, in the newest version's order, then keys only older versions had (newest
    first), so answers to a dropped question still count. With one: that version's questions
    (a version the survey never had shows them all; nothing matches it anyway)."""
    numbers = sorted((v.version for v in store.versions(survey_id)), reverse=True)
    if version in numbers:
        numbers = [version]
    seen: dict[str, list[Asked]] = {}
    for number in numbers:
        survey = store.get(survey_id, number)
        for q in survey.questions:
            seen.setdefault(q.key, []).append(Asked(number, q, survey))
    in_view = tuple(sorted(numbers))
    return [Shown(key, tuple(asked), in_view) for key, asked in seen.items()]


def conversation_survey(session: Session, store: SurveyStore, conversation_id: int) -> Survey | None:
    """The version a conversation was on: its answers are to that version's questions."""
    found = session.execute(select(Conversation.survey_id, Conversation.survey_version)
                            .where(Conversation.id == conversation_id)).one_or_none()
    if found is None:
        return None
    survey_id, version = found
    try:
        return store.get(survey_id, version, session)
    except SurveyStoreError:  # a version not in the store (imported data): the live one
        return store.published_survey(survey_id, session)


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
    asked_in: str = ""  # "asked in versions 1–2" when not every version asks it


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


def overview(session: Session, questions: list[Shown], filters: Filters) -> Overview:
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
    for shown in questions:
        key = shown.key
        any_answer = sum(n for (k, _), n in answers.items() if k == key)
        dropoff.append(QuestionFlow(key, shown.question.text_in("en"),
                                    any_answer + waiting.get(key, 0), answers[(key, "answered")],
                                    waiting.get(key, 0), shown.asked_in))
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
    versions: list[int] = field(default_factory=list)  # the versions counted here
    asked_in: str = ""  # "asked in versions 1–2" when not every version in view asks it
    type_note: str = ""  # the key's type changed between versions: how they are counted
    anchor: str = ""  # the page's id for it (a key split by type has one per type)

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


def _merged_labels(questions: list[Question]) -> list[tuple[Any, str]]:
    """Every answer any of these versions offered, worded as the newest words it, so an
    option a later version dropped still gets its bar."""
    seen: dict[Any, str] = {}
    for q in questions:
        for key, label in _labels(q):
            seen.setdefault(key, label)
    return list(seen.items())


def _type_note(shown: Shown, group: list[Asked]) -> str:
    parts = [f"as {TYPE_WORDS.get(g[0].question.type, g[0].question.type)} in "
             f"{versions_words([a.version for a in g])}" for g in shown.by_type()]
    return ("This question changed type: asked " + " and ".join(parts) + ". Each type is "
            f"counted apart; this one counts {versions_words([a.version for a in group])}. "
            "Compare them with care.")


def results(session: Session, questions: list[Shown], filters: Filters) -> list[QuestionResult]:
    where = filters.conditions()
    out: list[QuestionResult] = []
    group_of: dict[tuple[str, int], int] = {}  # (key, version) -> index in out
    first_of: dict[str, int] = {}
    asked_of: list[list[Asked]] = []
    for shown in questions:
        for group in shown.by_type():
            q = group[0].question
            note = _type_note(shown, group) if shown.changed_type else ""
            versions = sorted(a.version for a in group)
            anchor = shown.key if not note else f"{shown.key}-{q.type}"
            result = QuestionResult(q.key, q.type, q.text_in("en"), free_text(q),
                                    asked_if(group[0].survey, q), versions=versions,
                                    asked_in=shown.asked_in, type_note=note, anchor=anchor)
            first_of.setdefault(shown.key, len(out))
            for v in versions:
                group_of[(shown.key, v)] = len(out)
            out.append(result)
            asked_of.append(group)
    values: list[Counter[Any]] = [Counter() for _ in out]
    rows = session.execute(
        select(Answer.question_key, Conversation.survey_version, Answer.status, Answer.value)
        .join(Conversation, Conversation.id == Answer.conversation_id).where(*where)
        .execution_options(yield_per=2000))
    for key, version, status, value in rows:
        index = group_of.get((key, version), first_of.get(key))
        if index is None:  # a key no version in view asks
            continue
        result = out[index]
        if status in NON_ANSWERS:
            setattr(result, status, getattr(result, status) + 1)
            continue
        result.answered += 1
        for v in value if isinstance(value, list) else [value]:
            values[index][v] += 1
    for index, result in enumerate(out):
        counts, group = values[index], asked_of[index]
        if result.free_text:
            only = [Conversation.survey_version.in_(result.versions)] if result.type_note else []
            result.texts = _texts(session, [*where, *only], result.key)
            continue
        known = _merged_labels([a.question for a in group]) if result.type != "text" else [
            (v, str(v)) for v, _ in counts.most_common(TOP_VALUES)]
        result.bars = [Bar(str(k), label, counts[k], counts[k] / result.answered
                           if result.answered else 0.0) for k, label in known]
        if result.type == "scale" and result.answered:
            numbers = {k: n for k, n in counts.items() if isinstance(k, int)}
            result.mean = sum(k * n for k, n in numbers.items()) / max(sum(numbers.values()), 1)
    return out


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

