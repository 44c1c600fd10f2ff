"""Apply one understood message to a contact's conversation, in one transaction.

Rasa calls our custom action for each inbound message; the action lands here. We load the
contact and conversation as an engine `State`, let the pure engine decide, and write the
outcome: state, answer, consent/opt-out events, the replies (as pending outbound messages)
and the inbound message marked processed. All or nothing, and only once per inbound message,
so a crash anywhere before the commit simply means the message is processed again.

Which survey: a conversation stays on the survey version it started on, whatever is published
since. When no survey is in progress, a message that is a survey's keyword starts that survey
(its published version); a person with no conversation gets the default survey's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.inbox import PROCESSED, RECEIVED
from bot.rasa_actions import ActionCall
from bot.storage.db import Database
from bot.storage.tables import Answer, Contact, ContactEvent, Conversation, Message, utcnow
from bot.survey.answers import redact_postcodes
from bot.survey.engine import Engine
from bot.survey.flow import Survey
from bot.survey.model import CONSENT, LANGUAGE, AnswerWrite, Outcome, State, Turn
from bot.survey.routing import in_progress, keyword_survey
from bot.survey.shortcuts import shortcut
from bot.survey.store import SurveyStore
from bot.translation import PENDING as TRANSLATION_PENDING
from bot.translation import needs_translation

log = logging.getLogger(__name__)

ABANDONED = "abandoned"  # a conversation the person chose to start again; kept for the record


class ConversationService:
    def __init__(
        self,
        db: Database,
        engine: Engine,
        surveys: SurveyStore,
        default_survey: str,
        on_replies: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.surveys = surveys
        self.default_survey = default_survey
        self.on_replies = on_replies

    def handle(self, call: ActionCall) -> bool:
        """Returns True if the message was processed now, False if there was nothing to do."""
        message_id = call.metadata.get("message_id")
        if not isinstance(message_id, int):
            log.warning("action %s called without a message_id; ignored", call.action)
            return False
        with self.db.transaction() as session:
            message = session.get(Message, message_id, with_for_update=True)
            if message is None or message.direction != "in" or message.status != RECEIVED:
                return False  # already processed (e.g. Rasa retried the action) or not ours
            replies = self._apply(session, message, call)
        log.info("message %s processed by %s: %d replies", message_id, call.action, replies)
        if replies:
            self.on_replies()
        return True

    def _apply(self, session: Session, message: Message, call: ActionCall) -> int:
        now = utcnow()
        contact = session.get(Contact, message.contact_id)
        assert contact is not None
        conversation = session.scalar(
            select(Conversation)
            .where(Conversation.contact_id == contact.id)
            .order_by(Conversation.id.desc())
            .limit(1)
        )
        state = _load_state(session, contact, conversation, message)
        detected = call.metadata.get("detected_language") if contact.language is None else None
        turn = Turn(
            intent=call.intent,
            text=message.body,
            now=now,
            confidence=call.confidence,
            entities=call.entities,
            detected_language=detected if isinstance(detected, str) else None,
        )
        survey, conversation, state, replaced = self._route(session, conversation, state, turn)
        turn = _keyword_is_no_stop(turn, survey)
        outcome = self.engine.handle(state, turn, survey)
        conversation = self._save_outcome(
            session, contact, conversation, message, outcome, now, survey, replaced
        )

        message.status = PROCESSED
        message.language = contact.language
        # A full postcode identifies a household: only its outward part is ever kept.
        message.body = redact_postcodes(message.body)
        if needs_translation(message.body, contact.language):
            message.translation_status = TRANSLATION_PENDING
        message.conversation_id = conversation.id if conversation else None
        for reply in outcome.replies:
            session.add(
                Message(
                    contact_id=contact.id,
                    conversation_id=message.conversation_id,
                    direction="out",
                    channel=message.channel,
                    our_address=message.our_address,
                    body=reply.text,
                    language=contact.language,
                    status="pending",
                    purpose=reply.purpose,
                    in_reply_to_id=message.id,
                    created_at=now,
                )
            )
        return len(outcome.replies)

    def _route(
        self, session: Session, conversation: Conversation | None, state: State, turn: Turn
    ) -> tuple[Survey, Conversation | None, State, Conversation | None]:
        """The survey version this message is for, the conversation it continues (None: a new
        one if the engine starts one), the state to run on, and a conversation the new one
        replaces (one still at the consent question when a keyword starts another survey)."""
        live = conversation if conversation is not None and conversation.stage != ABANDONED else None
        current = (
            self.surveys.get(live.survey_id, live.survey_version, session) if live else None
        )
        if not (
            state.opted_out
            or _said_stop_or_start(turn)
            or in_progress(state.stage, state.resume_stage)
        ):
            chosen = keyword_survey(turn.text, self.surveys.published(session).values())
            if chosen is not None and (current is None or chosen.id != current.id):
                fresh = State(stage=None, language=state.language, consented=state.consented,
                              last_inbound_at=state.last_inbound_at)
                replaced = live if live is not None and live.stage in (CONSENT, LANGUAGE) else None
                return chosen, None, fresh, replaced
        if current is not None:
            return current, live, state, None
        default = self.surveys.published_survey(self.default_survey, session)
        if default is None:
            raise RuntimeError(f"DEFAULT_SURVEY {self.default_survey!r} is not published")
        return default, None, state, None

    def _save_outcome(
        self,
        session: Session,
        contact: Contact,
        conversation: Conversation | None,
        message: Message,
        outcome: Outcome,
        now: datetime,
        survey: Survey,
        replaced: Conversation | None = None,
    ) -> Conversation | None:
        new = outcome.state
        for event in outcome.events:
            if event == "consent_given":
                contact.consent_at = now
            elif event == "opted_out":
                contact.opted_out_at = now
            elif event == "opted_in":
                contact.opted_out_at = None
                contact.opted_in_at = now
            detail = new.language if event == "language_changed" else None
            session.add(ContactEvent(contact_id=contact.id, kind=event, detail=detail, created_at=now))
        contact.language = new.language

        restarted = "survey_restarted" in outcome.events
        if conversation is not None and restarted:
            conversation.stage = ABANDONED
            conversation = None
        if conversation is None and new.stage is not None:
            if replaced is not None:  # a keyword started another survey before consent
                replaced.stage = ABANDONED
            conversation = Conversation(
                contact_id=contact.id,
                survey_id=survey.id,
                survey_version=survey.version,
                stage=new.stage,
                channel=message.channel,
                started_at=now,
            )
            session.add(conversation)
            session.flush()
        if conversation is None:
            return None
        conversation.stage = new.stage or conversation.stage
        conversation.question_key = new.question_key
        conversation.attempts = new.attempts
        conversation.language = new.language
        conversation.context = _engine_context(new)
        if "survey_completed" in outcome.events:
            conversation.completed_at = now
        if outcome.answer is not None:
            _save_answer(session, conversation, outcome.answer, message, new.language, now)
        return conversation


def _load_state(
    session: Session, contact: Contact, conversation: Conversation | None, message: Message
) -> State:
    previous_inbound = session.scalar(
        select(Message.created_at)
        .where(Message.contact_id == contact.id, Message.direction == "in", Message.id < message.id)
        .order_by(Message.id.desc())
        .limit(1)
    )
    state = State(
        stage=conversation.stage if conversation and conversation.stage != ABANDONED else None,
        language=contact.language,
        opted_out=contact.opted_out_at is not None,
        consented=contact.consent_at is not None,
        last_inbound_at=previous_inbound,
    )
    if conversation is not None and conversation.stage != ABANDONED:
        state.question_key = conversation.question_key
        state.attempts = conversation.attempts
        state.answers = {a.question_key: a.value for a in conversation.answers if a.status == "answered"}
        for name, value in (conversation.context or {}).items():
            if hasattr(state, name):
                setattr(state, name, value)
    return state


# Engine state fields that have no column of their own travel in `conversations.context`.
_COLUMN_FIELDS = {"stage", "language", "opted_out", "consented", "question_key", "attempts",
                  "answers", "last_inbound_at"}


def _engine_context(state: State) -> dict | None:
    extra = {k: v for k, v in vars(state).items() if k not in _COLUMN_FIELDS}
    return extra or None


def _save_answer(
    session: Session,
    conversation: Conversation,
    answer: AnswerWrite,
    message: Message,
    language: str | None,
    now: datetime,
) -> None:
    row = session.scalar(
        select(Answer).where(
            Answer.conversation_id == conversation.id, Answer.question_key == answer.question_key
        )
    )
    if row is None:
        row = Answer(conversation_id=conversation.id, question_key=answer.question_key)
        session.add(row)
    row.status = answer.status
    row.raw_text = answer.raw_text
    row.value = answer.value
    row.language = language
    row.survey_version = conversation.survey_version
    row.message_id = message.id
    row.created_at = now


def _said_stop_or_start(turn: Turn) -> bool:
    """STOP or START in the person's words (a shortcut word), not the language model's guess:
    the model may read an unknown word such as a survey keyword ("LISTEN") as stop."""
    found = shortcut(turn.text)
    return found is not None and found[0] in ("stop", "start")


def _keyword_is_no_stop(turn: Turn, survey: Survey) -> Turn:
    """A survey keyword (never a STOP or START word: the store refuses those) starts the survey,
    whatever intent the model gave it."""
    if turn.intent in ("stop", "start") and not _said_stop_or_start(turn) and \
            keyword_survey(turn.text, [survey]) is not None:
        return replace(turn, intent="greet")
    return turn
