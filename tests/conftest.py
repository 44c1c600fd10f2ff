"""Shared fixtures: the trained Rasa model (trained once per session if its sources changed) and
a real Rasa server whose custom actions go to a small recording app on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot import rasa_actions, rasa_runtime
from bot.rasa_actions import ActionCall
from bot.rasa_client import send_to_rasa
from bot.settings import Settings
from tests.e2e.harness import free_port

RASA_TEST_TOKEN = "rasa-test-token"


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    settings = Settings()
    rasa_runtime.ensure_rasa_env(settings, print)
    if not rasa_runtime.is_model_current(settings):
        return rasa_runtime.train(settings, print)  # the model of the sources as they were read
    return rasa_runtime.model_path(settings)


@dataclass
class RasaUnderTest:
    """The running Rasa server and the action calls it made to our router."""

    url: str
    actions_url: str
    calls: list[ActionCall] = field(default_factory=list)
    pid: int = 0
    console: Path | None = None  # what Rasa's process printed

    def wait_calls(self, count: int, timeout: float = 10.0) -> list[ActionCall]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls


def _action_app(settings: Settings, calls: list[ActionCall]) -> uvicorn.Server:
    app = FastAPI()
    app.state.settings = settings

    async def record(call: ActionCall) -> None:
        calls.append(call)

    app.state.action_handler = record
    app.include_router(rasa_actions.router)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    return uvicorn.Server(config)


def say(rasa: RasaUnderTest, sender: str, message: str, metadata: dict[str, Any]) -> list:
    """One message into the running Rasa's REST channel, as our worker sends it."""

    async def post() -> list:
        async with httpx.AsyncClient(timeout=20) as client:
            return await send_to_rasa(client, rasa.url, sender, message, metadata)

    return asyncio.run(post())


@contextmanager
def running_rasa(model: Path, data_dir: Path, **overrides: object) -> Iterator[RasaUnderTest]:
    """A real Rasa server with `model`, its actions recorded by a small app on loopback."""
    settings = Settings(
        data_dir=data_dir,
        port=free_port(),
        rasa_port=free_port(),
        public_base_url="",
        action_token=RASA_TEST_TOKEN,
        encryption_key="unused-by-rasa",
        **overrides,  # type: ignore[arg-type]
    )
    under_test = RasaUnderTest(
        url=settings.effective_rasa_url, actions_url=f"{settings.base_url}/rasa/actions"
    )
    actions = _action_app(settings, under_test.calls)
    thread = threading.Thread(target=actions.run, daemon=True)
    thread.start()
    try:
        with rasa_runtime.RasaServer(settings, model) as server:
            assert server.proc is not None
            under_test.pid, under_test.console = server.proc.pid, server.console_path
            yield under_test
    finally:
        actions.should_exit = True
        thread.join(5)


@pytest.fixture(scope="session")
def rasa_server(
    rasa_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RasaUnderTest]:
    with running_rasa(rasa_model, tmp_path_factory.mktemp("rasa")) as under_test:
        yield under_test
