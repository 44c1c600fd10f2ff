"""The console under test: the real app from `create_app` (its lifespan, which starts Rasa and
the worker, is not run: the console needs only the database), on a real SQLite file or the
test script's PostgreSQL, migrated by the real migrations, with known conversations seeded."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.console import accounts
from bot.console.audit import Actor
from bot.console.auth import new_api_token
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.migrate import upgrade
from tests.console.seed import seed
from tests.e2e.conftest import _postgres_database

ADMIN_EMAIL, OFFICER_EMAIL = "admin@example.org", "officer@example.org"
PASSWORD = "correct horse battery staple"
CLI = Actor(None, "cli:test", "cli")


@dataclass
class Console:
    app: FastAPI
    db: Database
    settings: Settings
    conversations: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)
    account_ids: dict[str, int] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def api(self, method: str, path: str, role: str | None = None, token: str | None = None,
            **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if role or token:
            headers["Authorization"] = f"Bearer {token or self.tokens[role or '']}"
        return self.client().request(method, path, headers=headers, **kwargs)

    def signed_in(self, email: str, password: str = PASSWORD) -> TestClient:
        client = self.client()
        form = client.get("/console/sign-in")
        response = client.post("/console/sign-in", data={
            "email": email, "password": password, "csrf_token": csrf_of(form.text)})
        assert response.status_code == 303, response.text
        return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def make_console(tmp_path: Path, database_url: str) -> Console:
    """Migrate, seed, and add an admin and an officer, each with an API token."""
    settings = _settings(tmp_path, database_url)
    upgrade(settings)
    db = Database(settings)
    console = Console(_app(settings, db), db, settings, seed(db))
    with db.transaction() as session:
        for role, email in (("admin", ADMIN_EMAIL), ("officer", OFFICER_EMAIL)):
            account = accounts.create(session, CLI, email, role, PASSWORD, name=role.title())
            console.account_ids[role] = account.id
            console.tokens[role] = new_api_token(session, account.id, f"{role} script")[1]
    return console


def _settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(data_dir=tmp_path, database_url=database_url,
                    encryption_key="console-test-key", public_base_url="http://testserver")


def _app(settings: Settings, db: Database) -> FastAPI:
    app = create_app(settings)
    app.state.db = db
    return app


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Console:
    """Built once (migrations and argon2 take a second); each test gets a copy of the file."""
    folder = tmp_path_factory.mktemp("console-template")
    made = make_console(folder, f"sqlite:///{folder / 'console.db'}")
    made.db.dispose()
    return made


@pytest.fixture
def console(console_template: Console, tmp_path: Path) -> Iterator[Console]:
    """A console of its own, for tests that change things."""
    shutil.copy(console_template.settings.data_dir / "console.db", tmp_path / "console.db")
    settings = _settings(tmp_path, f"sqlite:///{tmp_path / 'console.db'}")
    db = Database(settings)
    yield Console(_app(settings, db), db, settings, dict(console_template.conversations),
                  dict(console_template.tokens), dict(console_template.account_ids))
    db.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def console_on(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console on each database the bot supports (the figures are computed in SQL),
    shared by the tests that only read."""
    folder = tmp_path_factory.mktemp(f"console-{request.param}")
    if request.param == "sqlite":
        made = make_console(folder, f"sqlite:///{folder / 'console.db'}")
        yield made
        made.db.dispose()
    else:
        for url in _postgres_database():
            made = make_console(folder, url)
            yield made
            made.db.dispose()
