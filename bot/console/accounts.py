"""Accounts: create, change, sign in. Used by the console, the API and the CLI alike, so the
rules (a valid email, a strong password, always one active admin) hold on every path."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.console import audit, passwords
from bot.console.audit import Actor
from bot.console.tables import ADMIN, ROLES, Account
from bot.storage.tables import utcnow

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
LOCK_AFTER_FAILURES = 5
LOCK_WINDOW = timedelta(minutes=15)


class AccountError(ValueError):
    pass


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email) or len(email) > 254:
        raise AccountError(f"not an email address: {email!r}" if email else "an email is required")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


def by_email(session: Session, email: str) -> Account | None:
    return session.scalar(select(Account).where(Account.email == email.strip().lower()))


def active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Account).where(
        Account.role == ADMIN, Account.active.is_(True))) or 0


def create(session: Session, actor: Actor, email: str, role: str, password: str, name: str = "",
           must_change_password: bool = False) -> Account:
    email = normalise_email(email)
    check_role(role)
    if by_email(session, email) is not None:
        raise AccountError(f"an account for {email} already exists")
    try:
        password_hash = passwords.hash_password(password)
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from exc
    account = Account(email=email, name=name.strip()[:100], role=role, password_hash=password_hash,
                      active=True, must_change_password=must_change_password)
    session.add(account)
    session.flush()
    audit.record(session, actor, audit.ACCOUNT_CREATED, email, {"role": role})
    return account


def update(session: Session, actor: Actor, account: Account, *, name: str | None = None,
           role: str | None = None, active: bool | None = None) -> None:
    """Change name, role or active; refuses to leave the system without an active admin."""
    changes: dict[str, object] = {}
    if name is not None and name.strip()[:100] != account.name:
        account.name = changes["name"] = name.strip()[:100]
    if role is not None and role != account.role:
        account.role = changes["role"] = check_role(role)
    if active is not None and active != account.active:
        account.active = changes["active"] = active
    if not changes:
        return
    session.flush()
    if active_admins(session) == 0:
        raise AccountError("there must always be at least one active admin")
    if account.active is False:
        end_sessions(session, account.id)
    audit.record(session, actor, audit.ACCOUNT_UPDATED, account.email, changes)


def set_password(session: Session, actor: Actor, account: Account, password: str,
                 must_change: bool = False) -> None:
    try:
        account.password_hash = passwords.hash_password(password)
    except passwords.PasswordError as exc:
        raise AccountError(str(exc)) from exc
    account.must_change_password = must_change
    account.password_changed_at = utcnow()
    end_sessions(session, account.id)
    own = actor.account_id == account.id
    audit.record(session, actor, audit.PASSWORD_CHANGED if own else audit.PASSWORD_RESET,
                 account.email)


def end_sessions(session: Session, account_id: int) -> None:
    from bot.console.tables import ConsoleSession

    for row in session.scalars(select(ConsoleSession).where(ConsoleSession.account_id == account_id)):
        session.delete(row)


def authenticate(session: Session, email: str, password: str, ip: str | None,
                 via: str = "console") -> tuple[Account | None, str | None]:
    """The account if the password is right and the account may sign in, else None and why
    (locked, unknown_email, wrong_password, disabled). Every attempt is audited, and an email
    with too many recent failures is refused for a while, even with the right password."""
    typed = (email or "").strip().lower()[:254]
    account = by_email(session, typed) if typed else None
    now = utcnow()
    locked = audit.failures_since(session, typed, now - LOCK_WINDOW) >= LOCK_AFTER_FAILURES
    ok = passwords.verify(account.password_hash if account else None, password)
    reason = None
    if locked:
        reason = "locked"
    elif account is None:
        reason = "unknown_email"
    elif not ok:
        reason = "wrong_password"
    elif not account.active:
        reason = "disabled"
    if reason is not None or account is None:
        audit.record(session, Actor(account.id if account else None, typed, via, ip),
                     audit.SIGN_IN_FAILED, None, {"reason": reason})
        return None, reason
    if passwords.needs_rehash(account.password_hash):
        account.password_hash = passwords.hash_password(password, check=False)
    account.last_sign_in_at = now
    audit.record(session, Actor(account.id, account.email, via, ip), audit.SIGN_IN)
    return account, None
