"""`listening-bot create-admin` and `listening-bot user ...` as a person runs them: a fresh data
folder (no database yet), passwords from a file or standard input, clear errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot.console import passwords
from bot.console.tables import Account, AuditEntry
from tests.e2e.harness import CLI, ROOT


def run(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "TWILIO_"))}
    env.update(DATA_DIR=str(tmp_path), ENCRYPTION_KEY="cli-test-key", LOG_LEVEL="WARNING")
    return subprocess.run([str(CLI), *args], env=env, input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=120)


def accounts(tmp_path: Path) -> dict[str, Account]:
    engine = create_engine(f"sqlite:///{tmp_path / 'listening.db'}")
    with Session(engine) as session:
        found = {a.email: a for a in session.scalars(select(Account))}
    engine.dispose()
    return found


def test_create_admin_on_a_fresh_install_then_manage_users(tmp_path):
    made = run(tmp_path, "create-admin", "--email", "Lead@Example.NHS.uk", "--name", "Lead",
               stdin="a good long passphrase\n")
    assert made.returncode == 0, made.stderr
    assert "Created the admin account lead@example.nhs.uk" in made.stdout
    assert "/console/" in made.stdout
    admin = accounts(tmp_path)["lead@example.nhs.uk"]
    assert admin.role == "admin" and admin.active and not admin.must_change_password
    assert admin.password_hash.startswith("$argon2id$")
    assert passwords.verify(admin.password_hash, "a good long passphrase")

    again = run(tmp_path, "create-admin", "--email", "lead@example.nhs.uk", stdin="another passphrase\n")
    assert again.returncode == 2 and "already exists" in again.stderr

    secret = tmp_path / "pw.txt"
    secret.write_text("officer passphrase 1\n")
    added = run(tmp_path, "user", "add", "--email", "officer@example.nhs.uk", "--password-file", str(secret))
    assert added.returncode == 0, added.stderr
    listing = run(tmp_path, "user", "list")
    assert "lead@example.nhs.uk\tadmin\tactive" in listing.stdout
    assert "officer@example.nhs.uk\tofficer\tactive\tlast sign-in never" in listing.stdout

    assert run(tmp_path, "user", "disable", "--email", "officer@example.nhs.uk").returncode == 0
    assert accounts(tmp_path)["officer@example.nhs.uk"].active is False
    last = run(tmp_path, "user", "disable", "--email", "lead@example.nhs.uk")
    assert last.returncode == 2 and "at least one active admin" in last.stderr
    changed = run(tmp_path, "user", "password", "--email", "lead@example.nhs.uk", stdin="a newer passphrase\n")
    assert changed.returncode == 0
    assert passwords.verify(accounts(tmp_path)["lead@example.nhs.uk"].password_hash, "a newer passphrase")
    missing = run(tmp_path, "user", "enable", "--email", "nobody@example.nhs.uk")
    assert missing.returncode == 2 and "no account nobody@example.nhs.uk" in missing.stderr

    exported = run(tmp_path, "export", "-o", str(tmp_path / "answers.csv"))
    assert exported.returncode == 0, exported.stderr

    engine = create_engine(f"sqlite:///{tmp_path / 'listening.db'}")
    with Session(engine) as session:
        actions = [(e.action, e.via) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    engine.dispose()
    assert actions == [("account_created", "cli"), ("account_created", "cli"),
                       ("account_updated", "cli"), ("password_reset", "cli"), ("export", "cli")]


@pytest.mark.parametrize("args,stdin,error", [
    (["--email", "not-an-email"], "a good long passphrase\n", "not an email address"),
    (["--email", "a@example.org"], "short\n", "at least 12 characters"),
    (["--email", "a@example.org"], "", "no password given"),
    (["--email", "a@example.org", "--password-file", "/nonexistent/pw"], "", "cannot read the password file"),
])
def test_create_admin_refuses_bad_input_clearly(tmp_path, args, stdin, error):
    result = run(tmp_path, "create-admin", *args, stdin=stdin)
    assert result.returncode == 2 and error in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["create-admin"], ["user"], ["user", "list"], ["user", "add"],
                                     ["user", "password"], ["user", "disable"], ["user", "enable"]])
def test_every_console_command_has_help(command):
    result = subprocess.run([str(CLI), *command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: listening-bot" in result.stdout
