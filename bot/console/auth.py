"""Who is asking: console sessions (cookie), CSRF tokens for forms, API tokens (Bearer), and
the role checks every route declares as a dependency.

Sessions and tokens are random secrets; the database keeps only their SHA-256, so a copy of the
database signs no one in. Roles are ordered: an admin can do everything an officer can.
Reuse `officer_page`/`admin_page` (HTML) and `officer_api`/`admin_api` (JSON) on new routes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import delete, select
from starlette.concurrency import run_in_threadpool

from bot.console.audit import Actor
from bot.console.tables import ADMIN, OFFICER, ROLES, Account, ApiToken, ConsoleSession
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.tables import utcnow

SESSION_COOKIE = "lb_session"
SIGN_IN_COOKIE = "lb_signin"  # binds the sign-in form's CSRF token to this browser
CSRF_FIELD = "csrf_token"
TOKEN_PREFIX = "lbt_"
TOKEN_TOUCH_EVERY = timedelta(minutes=5)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """The signed-in account as a request sees it."""

    account_id: int
    email: str
    name: str
    role: str
    via: str  # console | api
    ip: str | None
    bound_to: str = ""  # the session token (console): what CSRF tokens are tied to
    must_change_password: bool = False

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def actor(self) -> Actor:
        return Actor(self.account_id, self.email, self.via, self.ip)

    @property
    def label(self) -> str:
        return self.name or self.email


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def db_of(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


def settings_of(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


# -- sessions -----------------------------------------------------------------------------
def start_session(db: Database, account_id: int, hours: float) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with db.transaction() as session:
        session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at <= now))
        session.add(ConsoleSession(token_hash=hash_secret(token), account_id=account_id,
                                   created_at=now, expires_at=now + timedelta(hours=hours)))
    return token


def end_session(db: Database, token: str) -> None:
    with db.transaction() as session:
        row = session.scalar(select(ConsoleSession).where(
            ConsoleSession.token_hash == hash_secret(token)))
        if row is not None:
            session.delete(row)


def session_principal(db: Database, token: str | None, ip: str | None) -> Principal | None:
    if not token:
        return None
    with db.read() as session:
        found = session.execute(
            select(Account).join(ConsoleSession, ConsoleSession.account_id == Account.id).where(
                ConsoleSession.token_hash == hash_secret(token),
                ConsoleSession.expires_at > utcnow(), Account.active.is_(True))
        ).scalar_one_or_none()
    if found is None:
        return None
    return Principal(found.id, found.email, found.name, found.role, "console", ip, token,
                     found.must_change_password)


def set_session_cookie(response, settings: Settings, token: str) -> None:  # type: ignore[no-untyped-def]
    response.set_cookie(SESSION_COOKIE, token, max_age=int(settings.console_session_hours * 3600),
                        httponly=True, samesite="lax", secure=settings.secure_cookies, path="/")


# -- CSRF -----------------------------------------------------------------------------------
def csrf_token(settings: Settings, bound_to: str) -> str:
    """A form token tied to this browser's session (or sign-in cookie): another site cannot
    read it, so it cannot post a form as the officer."""
    return hmac.new(settings.console_secret, b"csrf:" + bound_to.encode(), hashlib.sha256).hexdigest()


def csrf_valid(settings: Settings, bound_to: str, given: object) -> bool:
    return bool(bound_to) and isinstance(given, str) and hmac.compare_digest(
        csrf_token(settings, bound_to), given)


# -- API tokens -----------------------------------------------------------------------------
def new_api_token(session, account_id: int, name: str) -> tuple[ApiToken, str]:  # type: ignore[no-untyped-def]
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(account_id=account_id, name=name.strip()[:100] or "token",
                   token_hash=hash_secret(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    return row, secret


def token_principal(db: Database, secret: str, ip: str | None) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with db.read() as session:
        found = session.execute(
            select(ApiToken, Account).join(Account, Account.id == ApiToken.account_id).where(
                ApiToken.token_hash == hash_secret(secret), ApiToken.revoked_at.is_(None),
                Account.active.is_(True))
        ).one_or_none()
    if found is None:
        return None
    token, account = found
    if token.last_used_at is None or now - token.last_used_at > TOKEN_TOUCH_EVERY:
        with db.transaction() as session:  # at most one write per token every few minutes
            row = session.get(ApiToken, token.id)
            if row is not None:
                row.last_used_at = now
    return Principal(account.id, account.email, account.name, account.role, "api", ip)


# -- dependencies ---------------------------------------------------------------------------
class SignInRequired(Exception):
    """A page asked for without a session: the app's handler sends the browser to sign in."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PasswordChangeRequired(Exception):
    """Signed in with a password an admin set: choose one's own before anything else."""


class FormExpired(Exception):
    """A form POST whose CSRF token does not match the session (or is missing)."""

    def __init__(self, principal: Principal) -> None:
        self.principal = principal


class PageForbidden(Exception):
    def __init__(self, principal: Principal, role: str) -> None:
        self.principal = principal
        self.role = role


def _page_principal(request: Request) -> Principal:
    principal = session_principal(db_of(request), request.cookies.get(SESSION_COOKIE),
                                  client_ip(request))
    if principal is None:
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(next_url)
    return principal


def require_page(role: str, allow_password_change: bool = False):  # type: ignore[no-untyped-def]
    """A dependency for HTML pages: a session whose account has at least `role`."""

    def dependency(request: Request) -> Principal:
        principal = _page_principal(request)
        if principal.must_change_password and not allow_password_change:
            raise PasswordChangeRequired()
        if not principal.can(role):
            raise PageForbidden(principal, role)
        return principal

    return dependency


def require_form(role: str, allow_password_change: bool = False):  # type: ignore[no-untyped-def]
    """Like `require_page`, for a form POST: the form's CSRF token must match the session."""
    page = require_page(role, allow_password_change)

    async def dependency(request: Request) -> Principal:
        principal = await run_in_threadpool(page, request)
        form = await request.form()
        if not csrf_valid(settings_of(request), principal.bound_to, form.get(CSRF_FIELD)):
            raise FormExpired(principal)
        return principal

    return dependency


bearer = HTTPBearer(auto_error=False, scheme_name="API token",
                    description="A personal API token from the console's *My account* page.")


def require_api(role: str):  # type: ignore[no-untyped-def]
    """A dependency for /api/v1: a Bearer token whose account has at least `role`."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = None
        if credentials is not None and credentials.scheme.lower() == "bearer":
            principal = token_principal(db_of(request), credentials.credentials, client_ip(request))
        if principal is None:
            raise HTTPException(401, "a valid API token is required (Authorization: Bearer ...)",
                                headers={"WWW-Authenticate": "Bearer"})
        if not principal.can(role):
            raise HTTPException(403, f"this needs the {role} role")
        return principal

    return dependency


officer_page = require_page(OFFICER)
admin_page = require_page(ADMIN)
officer_form = require_form(OFFICER)
admin_form = require_form(ADMIN)
officer_api = require_api(OFFICER)
admin_api = require_api(ADMIN)
