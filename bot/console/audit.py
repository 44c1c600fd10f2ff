"""The audit log: one row per sign-in (and failed attempt), export, transcript view, account
and token change. Written in the same transaction as the change it records where there is one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console.tables import AuditEntry

SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
EXPORT = "export"
TRANSCRIPT_VIEW = "transcript_view"
ACCOUNT_CREATED = "account_created"
ACCOUNT_UPDATED = "account_updated"
PASSWORD_CHANGED = "password_changed"
PASSWORD_RESET = "password_reset"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
ACTIONS: tuple[str, ...] = (SIGN_IN, SIGN_IN_FAILED, SIGN_OUT, EXPORT, TRANSCRIPT_VIEW,
                           ACCOUNT_CREATED, ACCOUNT_UPDATED, PASSWORD_CHANGED, PASSWORD_RESET,
                           TOKEN_CREATED, TOKEN_REVOKED)
# Survey flows (bot/console/survey_pages.py)
SURVEY_UPLOADED = "survey_uploaded"
SURVEY_SOURCE_EDITED = "survey_source_edited"
SURVEY_TEXTS_EDITED = "survey_texts_edited"
SURVEY_DRAFT_DISCARDED = "survey_draft_discarded"
SURVEY_PUBLISHED = "survey_published"
SURVEY_ROLLED_BACK = "survey_rolled_back"
ACTIONS += (SURVEY_UPLOADED, SURVEY_SOURCE_EDITED, SURVEY_TEXTS_EDITED, SURVEY_DRAFT_DISCARDED,
            SURVEY_PUBLISHED, SURVEY_ROLLED_BACK)
PREVIEW_STARTED = "preview_started"
RETRAIN_REQUESTED = "retrain_requested"
NLU_EXAMPLES_ADDED = "nlu_examples_added"
ACTIONS += (PREVIEW_STARTED, RETRAIN_REQUESTED, NLU_EXAMPLES_ADDED)
SURVEY_TEXTS_SAVED = "survey_texts_saved"
SURVEY_TEXTS_REVIEWED = "survey_texts_reviewed"
SURVEY_MACHINE_TRANSLATED = "survey_machine_translated"
SURVEY_DRAFT_STARTED = "survey_draft_started"
ACTIONS += (SURVEY_TEXTS_SAVED, SURVEY_TEXTS_REVIEWED, SURVEY_MACHINE_TRANSLATED,
            SURVEY_DRAFT_STARTED)


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where: an account (by id and email) or a CLI user."""

    account_id: int | None
    email: str
    via: str = "console"  # console | api | cli
    ip: str | None = None


def record(session: Session, actor: Actor, action: str, target: str | None = None,
           detail: dict[str, Any] | None = None) -> None:
    session.add(AuditEntry(account_id=actor.account_id, actor=actor.email[:254], action=action,
                           target=target[:200] if target else None, detail=detail or None,
                           ip=actor.ip, via=actor.via))


def failures_since(session: Session, email: str, since: datetime) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == SIGN_IN_FAILED, AuditEntry.actor == email[:254],
            AuditEntry.at >= since)
    ) or 0
