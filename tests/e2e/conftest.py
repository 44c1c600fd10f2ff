"""Fixtures for the end-to-end tests: a real Rasa server, the fake Twilio API, the app process,
on a real SQLite file and on a real PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bot.rasa_runtime import RasaServer
from bot.settings import Settings
from tests.e2e.harness import (
    ACCOUNT_SID,
    ACTION_TOKEN,
    AUTH_TOKEN,
    AppProcess,
    app_env,
    free_port,
)
from tests.fakes.libretranslate import FakeLibreTranslate
from tests.fakes.twilio_api import FakeTwilio

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def fake_twilio() -> Iterator[FakeTwilio]:
    with FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_libre() -> Iterator[FakeLibreTranslate]:
    with FakeLibreTranslate() as fake:
        yield fake


@pytest.fixture(scope="session")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def e2e_rasa(rasa_model: Path, app_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Rasa server for every e2e test; its actions go to whichever app runs on `app_port`."""
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("rasa-e2e"),
        rasa_port=free_port(),
        public_base_url=f"http://127.0.0.1:{app_port}",
        action_token=ACTION_TOKEN,
        encryption_key="unused-by-rasa",
    )
    server = RasaServer(settings, rasa_model)
    server.start()
    try:
        yield settings.effective_rasa_url
    finally:
        server.stop()


def _postgres_database() -> Iterator[str]:
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set: run the suite with ./scripts/test.sh")
        pytest.skip("no PostgreSQL server (run ./scripts/test.sh to start one)")
    name = "e2e_" + uuid.uuid4().hex[:12]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def make_app(
    e2e_rasa: str, fake_twilio: FakeTwilio, fake_libre: FakeLibreTranslate, app_port: int,
    tmp_path: Path,
) -> Iterator:
    started: list[AppProcess] = []

    def make(database_url: str) -> AppProcess:
        env = app_env(tmp_path, app_port, database_url, fake_twilio.url, e2e_rasa)
        env.update(TRANSLATION_PROVIDER="libre", TRANSLATION_URL=fake_libre.url,
                   TRANSLATION_API_KEY="e2e")
        app = AppProcess(env, app_port, tmp_path / "app.log")
        app.start()
        started.append(app)
        return app

    yield make
    for app in started:
        app.stop()
