"""The REST API under /api/v1: the console's data for scripts, with the same filters, behind
personal API tokens (`Authorization: Bearer lbt_...`). Officers read and export; admins also
manage accounts and read the audit log. Documented at /docs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select

from bot.console import accounts, audit, passwords, queries
from bot.console.accounts import AccountError
from bot.console.auth import Principal, admin_api, db_of, new_api_token, officer_api
from bot.console.exports import export_response
from bot.console.filters import FilterError, Filters, parse
from bot.console.tables import Account, ApiToken, AuditEntry
from bot.console.web import default_survey, survey_store, surveys_of
from bot.storage.tables import utcnow

router = APIRouter(prefix="/api/v1", tags=["console API"])

Officer = Annotated[Principal, Depends(officer_api)]
Admin = Annotated[Principal, Depends(admin_api)]


def api_filters(
    request: Request,
    survey: Annotated[str | None, Query(description="survey id (default: DEFAULT_SURVEY)")] = None,
    version: Annotated[str | None, Query(description="survey version, e.g. 1")] = None,
    language: Annotated[str | None, Query(description="language code, e.g. pl")] = None,
    channel: Annotated[str | None, Query(description="sms or whatsapp")] = None,
    date_from: Annotated[str | None, Query(alias="from", description="first day (UTC), YYYY-MM-DD, on when the conversation started")] = None,
    date_to: Annotated[str | None, Query(alias="to", description="last day (UTC), YYYY-MM-DD, inclusive")] = None,
    completed: Annotated[str | None, Query(description="yes: completed only; no: not completed only")] = None,
) -> Filters:
    params = {"survey": survey, "version": version, "language": language, "channel": channel,
              "from": date_from, "to": date_to, "completed": completed}
    try:
        return parse(params, surveys_of(request), default_survey(request))
    except FilterError as exc:
        raise HTTPException(422, str(exc)) from None


FiltersDep = Annotated[Filters, Depends(api_filters)]


def _questions(request: Request, filters: Filters) -> list[queries.Shown]:
    """Every version's questions, or with a version filter that version's (as the pages)."""
    return queries.shown_questions(survey_store(request), filters.survey, filters.version)


# -- response models ------------------------------------------------------------------------
class Me(BaseModel):
    id: int
    email: str
    name: str
    role: str


class OptionOut(BaseModel):
    key: str
    text: str


class QuestionOut(BaseModel):
    key: str
    type: str
    text: str = Field(description="in English")
    options: list[OptionOut]
    free_text: bool = Field(description="answers in people's own words, with an English column")


class SurveyOut(BaseModel):
    id: str
    version: int
    title: str
    languages: list[str]
    questions: list[QuestionOut]


class OverviewOut(BaseModel):
    filters: dict[str, str]
    overview: queries.Overview


class ResultsOut(BaseModel):
    filters: dict[str, str]
    questions: list[queries.QuestionResult]


class ConversationsOut(BaseModel):
    filters: dict[str, str]
    total: int
    page: int
    per_page: int
    conversations: list[queries.ConversationRow]


class AccountOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    active: bool
    must_change_password: bool
    created_at: datetime
    last_sign_in_at: datetime | None


class AccountIn(BaseModel):
    email: str = Field(max_length=254)
    name: str = Field(default="", max_length=100)
    role: Literal["officer", "admin"] = "officer"


class AccountPatch(BaseModel):
    name: str | None = Field(default=None, max_length=100)
    role: Literal["officer", "admin"] | None = None
    active: bool | None = None


class Handover(BaseModel):
    account: AccountOut
    temporary_password: str = Field(description="shown once; the person must change it at first sign-in")


class TokenOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class NewToken(BaseModel):
    token: TokenOut
    secret: str = Field(description="the token itself: shown once, store it safely")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: dict[str, Any] | None
    ip: str | None
    via: str


class AuditPage(BaseModel):
    total: int
    page: int
    entries: list[AuditOut]


def _account_out(a: Account) -> AccountOut:
    return AccountOut(id=a.id, email=a.email, name=a.name, role=a.role, active=a.active,
                      must_change_password=a.must_change_password, created_at=a.created_at,
                      last_sign_in_at=a.last_sign_in_at)


def _token_out(t: ApiToken) -> TokenOut:
    return TokenOut(id=t.id, name=t.name, prefix=t.prefix, created_at=t.created_at,
                    last_used_at=t.last_used_at, revoked_at=t.revoked_at)


# -- officers ---------------------------------------------------------------------------------
@router.get("/me", response_model=Me, summary="The account this token acts for")
def me(principal: Officer) -> Me:
    return Me(id=principal.account_id, email=principal.email, name=principal.name,
              role=principal.role)


@router.get("/surveys", response_model=list[SurveyOut], summary="Surveys and their questions")
def list_surveys(request: Request, principal: Officer) -> list[SurveyOut]:
    from bot.export import english_columns

    out = []
    for survey in sorted(surveys_of(request).values(), key=lambda s: s.id):
        free = english_columns(survey)
        out.append(SurveyOut(
            id=survey.id, version=survey.version, title=survey.title.get("en", survey.id),
            languages=list(survey.languages),
            questions=[QuestionOut(key=q.key, type=q.type, text=q.text_in("en"), free_text=q.key in free,
                                   options=[OptionOut(key=o.key, text=o.text_in("en")) for o in q.options])
                       for q in survey.questions]))
    return out


@router.get("/overview", response_model=OverviewOut,
            summary="Responses per day, completion, by language and channel, drop-off per question")
def overview(request: Request, principal: Officer, filters: FiltersDep) -> OverviewOut:
    with db_of(request).read() as session:
        data = queries.overview(session, _questions(request, filters), filters)
    return OverviewOut(filters=filters.describe(), overview=data)


@router.get("/results", response_model=ResultsOut,
            summary="Counts per answer for each question; free-text answers with English")
def results(request: Request, principal: Officer, filters: FiltersDep) -> ResultsOut:
    with db_of(request).read() as session:
        data = queries.results(session, _questions(request, filters), filters)
    return ResultsOut(filters=filters.describe(), questions=data)


@router.get("/conversations", response_model=ConversationsOut,
            summary="Conversations, newest first; search by pseudonym or words said")
def list_conversations(
    request: Request, principal: Officer, filters: FiltersDep,
    q: Annotated[str, Query(max_length=100, description="a contact pseudonym, or words in any message")] = "",
    page: Annotated[int, Query(ge=1)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ConversationsOut:
    with db_of(request).read() as session:
        rows, total = queries.conversations(session, filters, q, page, per_page)
    return ConversationsOut(filters=filters.describe(), total=total, page=page, per_page=per_page,
                            conversations=rows)


@router.get("/conversations/{conversation_id}", response_model=queries.Transcript,
            summary="A transcript: every message in and out, English beside the original (audited)")
def get_transcript(request: Request, principal: Officer, conversation_id: int) -> queries.Transcript:
    db = db_of(request)
    with db.read() as session:
        survey = queries.conversation_survey(session, survey_store(request), conversation_id)
        data = queries.transcript(session, conversation_id, survey)
    if data is None:
        raise HTTPException(404, f"no conversation {conversation_id}")
    with db.transaction() as session:
        audit.record(session, principal.actor, audit.TRANSCRIPT_VIEW,
                     f"conversation {conversation_id}", {"contact": data.conversation.contact})
    return data


@router.get("/export", summary="Answers as CSV, Excel or JSON under the filters (audited)",
            response_class=Response,
            responses={200: {"content": {"text/csv": {}, "application/json": {},
                                         "application/vnd.openxmlformats-officedocument."
                                         "spreadsheetml.sheet": {}},
                             "description": "one row per conversation, one column per question; "
                             "free text also in English (`<question>_en`); no phone numbers"}})
def export(request: Request, principal: Officer, filters: FiltersDep,
           format: Annotated[Literal["csv", "xlsx", "json"], Query()] = "csv") -> Response:
    return export_response(db_of(request), surveys_of(request)[filters.survey],
                           _questions(request, filters), filters, format, principal.actor)


@router.get("/tokens", response_model=list[TokenOut], summary="Your API tokens")
def list_tokens(request: Request, principal: Officer) -> list[TokenOut]:
    with db_of(request).read() as session:
        rows = session.scalars(select(ApiToken).where(ApiToken.account_id == principal.account_id)
                               .order_by(ApiToken.id))
        return [_token_out(t) for t in rows]


@router.post("/tokens", response_model=NewToken, status_code=201,
             summary="Create an API token for yourself (the secret is shown once)")
def create_token(request: Request, principal: Officer, body: TokenIn) -> NewToken:
    with db_of(request).transaction() as session:
        row, secret = new_api_token(session, principal.account_id, body.name)
        audit.record(session, principal.actor, audit.TOKEN_CREATED, row.name, {"prefix": row.prefix})
        return NewToken(token=_token_out(row), secret=secret)


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response,
               summary="Revoke one of your tokens (admins: anyone's)")
def revoke_token(request: Request, principal: Officer, token_id: int) -> Response:
    with db_of(request).transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or (row.account_id != principal.account_id and not principal.can("admin")):
            raise HTTPException(404, f"no token {token_id}")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(session, principal.actor, audit.TOKEN_REVOKED, row.name, {"prefix": row.prefix})
    return Response(status_code=204)


# -- admins -----------------------------------------------------------------------------------
@router.get("/accounts", response_model=list[AccountOut], summary="All accounts (admin)")
def list_accounts(request: Request, principal: Admin) -> list[AccountOut]:
    with db_of(request).read() as session:
        return [_account_out(a) for a in session.scalars(select(Account).order_by(Account.email))]


@router.post("/accounts", response_model=Handover, status_code=201,
             summary="Create an account with a temporary password (admin)")
def create_account(request: Request, principal: Admin, body: AccountIn) -> Handover:
    temporary = passwords.temporary_password()
    try:
        with db_of(request).transaction() as session:
            account = accounts.create(session, principal.actor, body.email, body.role, temporary,
                                      body.name, must_change_password=True)
            return Handover(account=_account_out(account), temporary_password=temporary)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None


@router.patch("/accounts/{account_id}", response_model=AccountOut,
              summary="Change an account's name, role or active (admin)")
def update_account(request: Request, principal: Admin, account_id: int,
                   body: AccountPatch) -> AccountOut:
    try:
        with db_of(request).transaction() as session:
            account = session.get(Account, account_id)
            if account is None:
                raise HTTPException(404, f"no account {account_id}")
            accounts.update(session, principal.actor, account, name=body.name, role=body.role,
                            active=body.active)
            return _account_out(account)
    except AccountError as exc:
        raise HTTPException(422, str(exc)) from None


@router.post("/accounts/{account_id}/reset-password", response_model=Handover,
             summary="Give an account a new temporary password (admin)")
def reset_password(request: Request, principal: Admin, account_id: int) -> Handover:
    temporary = passwords.temporary_password()
    with db_of(request).transaction() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise HTTPException(404, f"no account {account_id}")
        accounts.set_password(session, principal.actor, account, temporary, must_change=True)
        return Handover(account=_account_out(account), temporary_password=temporary)


@router.get("/audit", response_model=AuditPage, summary="The audit log, newest first (admin)")
def audit_log(request: Request, principal: Admin,
              action: Annotated[str | None, Query(description=", ".join(audit.ACTIONS))] = None,
              actor: Annotated[str | None, Query(max_length=254, description="email contains")] = None,
              page: Annotated[int, Query(ge=1)] = 1,
              per_page: Annotated[int, Query(ge=1, le=1000)] = 100) -> AuditPage:
    if action and action not in audit.ACTIONS:
        raise HTTPException(422, f"action must be one of {', '.join(audit.ACTIONS)}")
    where = []
    if action:
        where.append(AuditEntry.action == action)
    if actor:
        where.append(AuditEntry.actor.ilike(queries.like_pattern(actor.lower()), escape="\\"))
    with db_of(request).read() as session:
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
        rows = session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.id.desc())
                               .offset((page - 1) * per_page).limit(per_page))
        entries = [AuditOut(id=e.id, at=e.at, actor=e.actor, action=e.action, target=e.target,
                            detail=e.detail, ip=e.ip, via=e.via) for e in rows]
    return AuditPage(total=total, page=page, entries=entries)

