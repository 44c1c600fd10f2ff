"""The console's pages: sign-in, overview, results, conversations and transcripts, export, the
officer's own account and tokens, and (admins) accounts and the audit log.

Every route declares who may use it (`officer_page`, `admin_form`, ...); every form POST
carries a CSRF token; every transcript view and export is audited.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool

from bot.console import accounts, audit, passwords, queries
from bot.console.accounts import AccountError
from bot.console.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Principal,
    admin_form,
    admin_page,
    client_ip,
    csrf_token,
    csrf_valid,
    db_of,
    end_session,
    new_api_token,
    officer_form,
    officer_page,
    require_form,
    require_page,
    set_session_cookie,
    settings_of,
    start_session,
)
from bot.console.exports import export_response
from bot.console.filters import Filters
from bot.console.tables import OFFICER, ROLES, Account, ApiToken, AuditEntry
from bot.console.web import filters_from, private, render, survey_store, surveys_of
from bot.storage.tables import utcnow

router = APIRouter(prefix="/console", include_in_schema=False)

Officer = Annotated[Principal, Depends(officer_page)]
Admin = Annotated[Principal, Depends(admin_page)]
OfficerForm = Annotated[Principal, Depends(officer_form)]
AdminForm = Annotated[Principal, Depends(admin_form)]
# The own-account page stays reachable while an admin-set password must be replaced.
Own = Annotated[Principal, Depends(require_page(OFFICER, allow_password_change=True))]
OwnForm = Annotated[Principal, Depends(require_form(OFFICER, allow_password_change=True))]

DONE_MESSAGES = {
    "password": "Your password is changed.",
    "revoked": "The token is revoked: scripts using it stop working now.",
    "saved": "Saved.",
}


def safe_next(value: str | None) -> str:
    """Only a path inside the console: never a redirect to another site."""
    if value and value.startswith("/console") and not value.startswith("//") and "\\" not in value:
        return value
    return "/console/"


# -- sign in and out ------------------------------------------------------------------------
def _sign_in_page(request: Request, nonce: str, error: str | None = None, email: str = "",
                  status_code: int = 200) -> HTMLResponse:
    response = render(request, "sign_in.html", None, status_code, error=error, email=email,
                      next=safe_next(request.query_params.get("next")),
                      sign_in_csrf=csrf_token(settings_of(request), "sign-in:" + nonce))
    response.set_cookie(SIGN_IN_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax",
                        secure=settings_of(request).secure_cookies, path="/console")
    return response


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request) -> Response:
    nonce = request.cookies.get(SIGN_IN_COOKIE) or secrets.token_urlsafe(16)
    return _sign_in_page(request, nonce)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request, email: Annotated[str, Form(max_length=254)] = "",
                  password: Annotated[str, Form(max_length=1024)] = "",
                  csrf_token_field: Annotated[str, Form(alias=CSRF_FIELD)] = "") -> Response:
    nonce = request.cookies.get(SIGN_IN_COOKIE) or ""
    settings = settings_of(request)
    if not nonce or not csrf_valid(settings, "sign-in:" + nonce, csrf_token_field):
        return _sign_in_page(request, nonce or secrets.token_urlsafe(16),
                             "The sign-in form had expired. Please try again.", email, 400)
    db = db_of(request)

    def check() -> tuple[Account | None, str | None]:
        with db.transaction() as session:
            return accounts.authenticate(session, email, password, client_ip(request))

    account, reason = await run_in_threadpool(check)
    if account is None:
        message = ("Too many failed attempts for this email. Wait 15 minutes and try again."
                   if reason == "locked" else "That email and password do not match an account.")
        return _sign_in_page(request, nonce, message, email, 401)
    token = await run_in_threadpool(start_session, db, account.id, settings.console_session_hours)
    target = "/console/account" if account.must_change_password else safe_next(
        request.query_params.get("next"))
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, settings, token)
    response.delete_cookie(SIGN_IN_COOKIE, path="/console")
    return private(response)


@router.post("/sign-out")
def sign_out(request: Request, principal: OwnForm) -> Response:
    db = db_of(request)
    end_session(db, principal.bound_to)
    with db.transaction() as session:
        audit.record(session, principal.actor, audit.SIGN_OUT)
    response = RedirectResponse("/console/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return private(response)


# -- officers' pages ------------------------------------------------------------------------
def _questions(request: Request, filters: Filters) -> list[queries.Shown]:
    """Every version's questions, or with a version filter that version's."""
    return queries.shown_questions(survey_store(request), filters.survey, filters.version)


def _filter_context(request: Request) -> dict:
    filters, error = filters_from(request)
    with db_of(request).read() as session:
        options = queries.filter_options(session, filters.survey)
    return {"filters": filters, "filter_error": error, "options": options,
            "surveys": surveys_of(request)}


@router.get("/", response_class=HTMLResponse)
def overview_page(request: Request, principal: Officer) -> Response:
    context = _filter_context(request)
    survey = surveys_of(request)[context["filters"].survey]
    questions = _questions(request, context["filters"])
    with db_of(request).read() as session:
        data = queries.overview(session, questions, context["filters"])
    return render(request, "overview.html", principal, survey=survey, data=data, **context)


@router.get("/results", response_class=HTMLResponse)
def results_page(request: Request, principal: Officer) -> Response:
    context = _filter_context(request)
    survey = surveys_of(request)[context["filters"].survey]
    questions = _questions(request, context["filters"])
    with db_of(request).read() as session:
        data = queries.results(session, questions, context["filters"])
    return render(request, "results.html", principal, survey=survey, questions=data, **context)


PER_PAGE = 50


@router.get("/conversations", response_class=HTMLResponse)
def conversations_page(request: Request, principal: Officer, q: str = "", page: int = 1) -> Response:
    context = _filter_context(request)
    page = max(page, 1)
    with db_of(request).read() as session:
        rows, total = queries.conversations(session, context["filters"], q, page, PER_PAGE)
    pages = max((total + PER_PAGE - 1) // PER_PAGE, 1)
    return render(request, "conversations.html", principal, rows=rows, total=total, q=q,
                  page=page, pages=pages, **context)


@router.get("/conversations/{conversation_id}", response_class=HTMLResponse)
def transcript_page(request: Request, principal: Officer, conversation_id: int) -> Response:
    db = db_of(request)
    with db.read() as session:
        survey = queries.conversation_survey(session, survey_store(request), conversation_id)
        data = queries.transcript(session, conversation_id, survey)
    if data is None:
        return render(request, "error.html", principal, 404, title="Not found",
                      message=f"There is no conversation {conversation_id}.")
    with db.transaction() as session:
        audit.record(session, principal.actor, audit.TRANSCRIPT_VIEW, f"conversation {conversation_id}",
                     {"contact": data.conversation.contact})
    return render(request, "transcript.html", principal, t=data)


@router.get("/export", response_class=HTMLResponse)
def export_page(request: Request, principal: Officer) -> Response:
    context = _filter_context(request)
    filters = context["filters"]
    with db_of(request).read() as session:
        _, total = queries.conversations(session, filters, per_page=1)
    return render(request, "export.html", principal, total=total,
                  survey=surveys_of(request)[filters.survey], **context)


@router.get("/export/answers.{fmt}")
def export_download(request: Request, principal: Officer, fmt: str) -> Response:
    filters, error = filters_from(request)
    if fmt not in ("csv", "xlsx", "json") or error:
        return render(request, "error.html", principal, 400, title="Cannot export",
                      message=error or f"Unknown format {fmt!r}: choose csv, xlsx or json.")
    return export_response(db_of(request), surveys_of(request)[filters.survey],
                           _questions(request, filters), filters, fmt, principal.actor)


# -- own account: password and API tokens -----------------------------------------------
def _account_page(request: Request, principal: Principal, status_code: int = 200,
                  **context: object) -> HTMLResponse:
    with db_of(request).read() as session:
        tokens = list(session.scalars(select(ApiToken).where(
            ApiToken.account_id == principal.account_id).order_by(ApiToken.id.desc())))
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "account.html", principal, status_code, tokens=tokens, done=done,
                  min_length=passwords.MIN_LENGTH, **context)


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, principal: Own) -> Response:
    return _account_page(request, principal)


@router.post("/account/password", response_class=HTMLResponse)
def change_password(request: Request, principal: OwnForm,
                    current: Annotated[str, Form(max_length=1024)] = "",
                    new: Annotated[str, Form(max_length=1024)] = "",
                    confirm: Annotated[str, Form(max_length=1024)] = "") -> Response:
    db = db_of(request)
    error = None
    with db.transaction() as session:
        account = session.get(Account, principal.account_id)
        assert account is not None
        if not passwords.verify(account.password_hash, current):
            error = "Your current password is not right."
        elif new != confirm:
            error = "The two new passwords are not the same."
        elif new == current:
            error = "Choose a password different from the current one."
        else:
            try:
                accounts.set_password(session, principal.actor, account, new)
            except AccountError as exc:
                error = f"That password cannot be used: {exc}."
    if error:
        return _account_page(request, principal, 400, password_error=error)
    # Changing the password ends every session, this one too: start a fresh one.
    token = start_session(db, principal.account_id, settings_of(request).console_session_hours)
    response = RedirectResponse("/console/account?done=password", status_code=303)
    set_session_cookie(response, settings_of(request), token)
    return private(response)


@router.post("/account/tokens", response_class=HTMLResponse)
def create_token(request: Request, principal: OfficerForm,
                 name: Annotated[str, Form(max_length=100)] = "") -> Response:
    if not name.strip():
        return _account_page(request, principal, 400, token_error="Give the token a name.")
    with db_of(request).transaction() as session:
        row, secret = new_api_token(session, principal.account_id, name)
        audit.record(session, principal.actor, audit.TOKEN_CREATED, row.name, {"prefix": row.prefix})
    return _account_page(request, principal, new_token=secret, new_token_name=row.name)


@router.post("/account/tokens/{token_id}/revoke")
def revoke_token(request: Request, principal: OfficerForm, token_id: int) -> Response:
    with db_of(request).transaction() as session:
        row = session.get(ApiToken, token_id)
        if row is None or row.account_id != principal.account_id:
            return render(request, "error.html", principal, 404, title="Not found",
                          message="You have no such token.")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            audit.record(session, principal.actor, audit.TOKEN_REVOKED, row.name, {"prefix": row.prefix})
    return private(RedirectResponse("/console/account?done=revoked", status_code=303))


# -- admin: accounts and the audit log --------------------------------------------------
def _accounts_page(request: Request, principal: Principal, status_code: int = 200,
                   **context: object) -> HTMLResponse:
    with db_of(request).read() as session:
        rows = list(session.scalars(select(Account).order_by(Account.email)))
    done = DONE_MESSAGES.get(request.query_params.get("done", ""))
    return render(request, "accounts.html", principal, status_code, accounts=rows, roles=ROLES,
                  done=done, **context)


@router.get("/admin/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, principal: Admin) -> Response:
    return _accounts_page(request, principal)


@router.post("/admin/accounts", response_class=HTMLResponse)
def create_account(request: Request, principal: AdminForm,
                   email: Annotated[str, Form(max_length=254)] = "",
                   name: Annotated[str, Form(max_length=100)] = "",
                   role: Annotated[str, Form(max_length=16)] = OFFICER) -> Response:
    temporary = passwords.temporary_password()
    try:
        with db_of(request).transaction() as session:
            account = accounts.create(session, principal.actor, email, role, temporary, name,
                                      must_change_password=True)
            created = account.email
    except AccountError as exc:
        return _accounts_page(request, principal, 400, create_error=str(exc).capitalize() + ".",
                              form={"email": email, "name": name, "role": role})
    return _accounts_page(request, principal, handover={"email": created, "password": temporary})


@router.post("/admin/accounts/{account_id}", response_class=HTMLResponse)
def update_account(request: Request, principal: AdminForm, account_id: int,
                   role: Annotated[str, Form(max_length=16)] = "",
                   active: Annotated[str, Form(max_length=8)] = "",
                   name: Annotated[str | None, Form(max_length=100)] = None) -> Response:
    try:
        with db_of(request).transaction() as session:
            account = session.get(Account, account_id)
            if account is None:
                return render(request, "error.html", principal, 404, title="Not found",
                              message="There is no such account.")
            accounts.update(session, principal.actor, account, name=name, role=role or None,
                            active=active == "yes")
    except AccountError as exc:
        return _accounts_page(request, principal, 400, update_error=str(exc).capitalize() + ".")
    return private(RedirectResponse("/console/admin/accounts?done=saved", status_code=303))


@router.post("/admin/accounts/{account_id}/reset-password", response_class=HTMLResponse)
def reset_password(request: Request, principal: AdminForm, account_id: int) -> Response:
    temporary = passwords.temporary_password()
    with db_of(request).transaction() as session:
        account = session.get(Account, account_id)
        if account is None:
            return render(request, "error.html", principal, 404, title="Not found",
                          message="There is no such account.")
        accounts.set_password(session, principal.actor, account, temporary, must_change=True)
        email = account.email
    return _accounts_page(request, principal, handover={"email": email, "password": temporary})


AUDIT_PER_PAGE = 100


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request, principal: Admin, action: str = "", actor: str = "",
               page: int = 1) -> Response:
    page = max(page, 1)
    where = []
    if action in audit.ACTIONS:
        where.append(AuditEntry.action == action)
    if actor.strip():
        where.append(AuditEntry.actor.ilike(queries.like_pattern(actor.strip().lower()), escape="\\"))
    with db_of(request).read() as session:
        total = session.scalar(select(func.count()).select_from(AuditEntry).where(*where)) or 0
        rows = list(session.scalars(select(AuditEntry).where(*where).order_by(AuditEntry.id.desc())
                                    .offset((page - 1) * AUDIT_PER_PAGE).limit(AUDIT_PER_PAGE)))
    pages = max((total + AUDIT_PER_PAGE - 1) // AUDIT_PER_PAGE, 1)
    return render(request, "audit.html", principal, rows=rows, total=total, page=page,
                  pages=pages, action=action, actor=actor, actions=audit.ACTIONS)
