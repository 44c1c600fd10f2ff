"""Console accounts from the command line: `create-admin` for the first admin, and `user` to
list, add, re-password, disable or enable accounts (for when no admin can sign in).

Passwords are never taken as an argument (it would sit in the shell history and in `ps`):
from --password-file, else typed twice at a terminal, else the first line of standard input.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from bot.console import accounts, passwords
from bot.console.accounts import AccountError
from bot.console.audit import Actor
from bot.console.tables import ADMIN, OFFICER, ROLES, Account
from bot.settings import Settings


def _actor() -> Actor:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in this environment
        user = "unknown"
    return Actor(None, f"cli:{user}", "cli")


def read_password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise AccountError(f"cannot read the password file: {exc.strerror}") from None
        password = text.splitlines()[0] if text else ""
    elif sys.stdin.isatty():
        password = getpass.getpass(f"Password for {args.email} (at least {passwords.MIN_LENGTH} characters): ")
        if getpass.getpass("The same password again: ") != password:
            raise AccountError("the two passwords are not the same")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise AccountError("no password given (use --password-file, a terminal, or standard input)")
    return password


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.storage.db import Database
    from bot.storage.migrate import upgrade

    upgrade(settings)  # the first admin may come before the bot ever ran
    return Database(settings)


def audit_export(settings: Settings, db, survey_id: str, to_file: bool) -> None:  # type: ignore[no-untyped-def]
    """`listening-bot export` is an export too: it goes in the audit log like the console's."""
    from bot.console import audit
    from bot.storage.migrate import upgrade

    upgrade(settings)  # the audit log's table, on a database from before the console
    with db.transaction() as session:
        audit.record(session, _actor(), audit.EXPORT, survey_id,
                     {"format": "csv", "to": "file" if to_file else "stdout"})


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def cmd_add(args: argparse.Namespace, settings: Settings, role: str | None = None) -> int:
    role = role or args.role
    try:
        email = accounts.normalise_email(args.email)
        password = read_password(args)
        db = _database(settings)
        with db.transaction() as session:
            accounts.create(session, _actor(), email, role, password, args.name or "")
    except (AccountError, passwords.PasswordError) as exc:
        return _fail(str(exc))
    print(f"Created the {role} account {email}. Sign in at {settings.base_url}/console/")
    return 0


def cmd_create_admin(args: argparse.Namespace, settings: Settings) -> int:
    return cmd_add(args, settings, ADMIN)


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    db = _database(settings)
    with db.read() as session:
        rows = list(session.scalars(select(Account).order_by(Account.email)))
    if not rows:
        print("No accounts yet: create the first admin with `listening-bot create-admin --email ...`.")
    for a in rows:
        last = a.last_sign_in_at.strftime("%Y-%m-%d %H:%M") if a.last_sign_in_at else "never"
        state = "active" if a.active else "disabled"
        print(f"{a.email}\t{a.role}\t{state}\tlast sign-in {last}\t{a.name}")
    return 0


def _change(args: argparse.Namespace, settings: Settings, what: str) -> int:
    try:
        password = read_password(args) if what == "password" else ""
        db = _database(settings)
        with db.transaction() as session:
            account = accounts.by_email(session, args.email)
            if account is None:
                return _fail(f"no account {args.email.strip().lower()}")
            if what == "password":
                accounts.set_password(session, _actor(), account, password)
            else:
                accounts.update(session, _actor(), account, active=what == "enable")
    except (AccountError, passwords.PasswordError) as exc:
        return _fail(str(exc))
    done = {"password": "has a new password", "enable": "is enabled", "disable": "is disabled"}[what]
    print(f"{args.email.strip().lower()} {done}.")
    return 0


def _password_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password-file", metavar="FILE",
                        help="read the password from the first line of FILE (default: ask at the "
                        "terminal, or read the first line of standard input)")


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    admin = sub.add_parser(
        "create-admin", help="create a console admin account (the first one, or another)",
        description="Create an admin account for the officers' console at /console/.")
    admin.add_argument("--email", required=True, help="the admin's email, used to sign in")
    admin.add_argument("--name", default="", help="a display name (optional)")
    _password_args(admin)
    admin.set_defaults(func=cmd_create_admin)

    user = sub.add_parser("user", help="list and manage console accounts",
                          description="Console accounts: officers read and export; admins also "
                          "manage accounts and read the audit log.")
    actions = user.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every account, its role and last sign-in")
    listing.set_defaults(func=cmd_list)
    add = actions.add_parser("add", help="create an account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", default="")
    add.add_argument("--role", choices=ROLES, default=OFFICER, help="default: %(default)s")
    _password_args(add)
    add.set_defaults(func=cmd_add)
    password = actions.add_parser("password", help="set an account's password (signs it out)")
    password.add_argument("--email", required=True)
    _password_args(password)
    password.set_defaults(func=lambda a, s: _change(a, s, "password"))
    for what, text in (("disable", "stop an account signing in (its sessions and tokens end)"),
                       ("enable", "let a disabled account sign in again")):
        action = actions.add_parser(what, help=text)
        action.add_argument("--email", required=True)
        action.set_defaults(func=lambda a, s, what=what: _change(a, s, what))
