"""Values that cross the engine's boundary. The engine is pure: it gets a `State` and a `Turn`
and returns an `Outcome`; `bot.conversation` loads and saves them in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Intents shared by the Rasa domain (nlu/, stories/, domain.yml) and the engine.
INTENTS = (
    "greet", "affirm", "deny", "stop", "start", "skip", "dont_know", "help", "repeat",
    "change_language", "ask_who", "ask_confidential", "ask_why", "thanks", "goodbye",
    "choose", "inform", "media", "nlu_fallback",
)

# Stages of a conversation.
LANGUAGE = "language"    # language menu sent, waiting for a choice
CONSENT = "consent"      # introduction sent, waiting for yes/no
QUESTION = "question"    # `question_key` asked, waiting for an answer
RESUME = "resume"        # came back after the expiry: asked whether to carry on
COMPLETED = "completed"
DECLINED = "declined"
STAGES = (LANGUAGE, CONSENT, QUESTION, RESUME, COMPLETED, DECLINED)


@dataclass(frozen=True)
class Turn:
    """One inbound message as understood by Rasa (or by the no-NLU shortcut)."""

    intent: str
    text: str
    now: datetime
    confidence: float = 1.0
    entities: dict[str, Any] = field(default_factory=dict)
    detected_language: str | None = None  # set only while the contact has no language


@dataclass
class State:
    """A contact and their current conversation, as the engine needs them."""

    stage: str | None               # None: no conversation yet (first contact)
    language: str | None
    opted_out: bool = False
    consented: bool = False
    question_key: str | None = None
    attempts: int = 0               # failed attempts at the current question
    answers: dict[str, Any] = field(default_factory=dict)  # key -> normalised value (answered only)
    last_inbound_at: datetime | None = None  # the message before this one
    resume_stage: str | None = None  # where to go back to after the language menu


@dataclass(frozen=True)
class Reply:
    text: str
    purpose: str | None = None  # "opt_out_confirmation" may be sent to an opted-out contact


@dataclass(frozen=True)
class AnswerWrite:
    question_key: str
    status: str                 # answered | skipped | dont_know | unclear
    raw_text: str
    value: Any = None


@dataclass
class Outcome:
    state: State
    replies: list[Reply] = field(default_factory=list)
    answer: AnswerWrite | None = None
    # consent_given, consent_declined, opted_out, opted_in, language_changed,
    # survey_started, survey_completed, survey_restarted (start a new conversation)
    events: list[str] = field(default_factory=list)
