"""The real Rasa server with the real trained model: NLU in English and Polish, the REST
round trip to our action endpoint, and the `/intent` shortcut that skips NLU."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from bot import rasa_actions
from bot.rasa_actions import ActionCall
from bot.rasa_client import escape_user_text, send_to_rasa, shortcut_message
from bot.rasa_runtime import RasaServer
from bot.settings import Settings
from tests.e2e.harness import free_port

TOKEN = "rasa-test-token"


class Recorder:
    """A small app that mounts our action router and records each call."""

    def __init__(self, settings: Settings) -> None:
        self.calls: list[ActionCall] = []
        app = FastAPI()
        app.state.settings = settings

        async def handler(call: ActionCall) -> None:
            self.calls.append(call)

        app.state.action_handler = handler
        app.include_router(rasa_actions.router)
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=settings.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture(scope="module")
def rasa(rasa_model, tmp_path_factory) -> Iterator[tuple[str, Recorder]]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("rasa"), port=free_port(),
                        rasa_port=free_port(), action_token=TOKEN, encryption_key="k")
    recorder = Recorder(settings)
    recorder.thread.start()
    with RasaServer(settings, rasa_model) as server:
        yield server.url, recorder
    recorder.server.should_exit = True
    recorder.thread.join(5)


def parse(url: str, text: str) -> tuple[str, float]:
    result = httpx.post(f"{url}/model/parse", json={"text": text}, timeout=10).json()
    return result["intent"]["name"], result["intent"]["confidence"]


@pytest.mark.parametrize(("text", "intent"), [
    ("yes please", "affirm"), ("yeah ok", "affirm"), ("tak", "affirm"), ("jasne", "affirm"),
    ("no thanks", "deny"), ("nie", "deny"),
    ("nie wiem", "dont_know"), ("idk", "dont_know"),
    ("pomiń", "skip"), ("pomin to", "skip"), ("skip this one", "skip"),
    ("help me", "help"), ("pomocy", "help"),
    ("who are you?", "ask_who"), ("kim jestescie", "ask_who"),
    ("czy to jest poufne", "ask_confidential"), ("is this private", "ask_confidential"),
    ("change language", "change_language"), ("zmien jezyk", "change_language"),
    ("say that again", "repeat"), ("powtórz", "repeat"),
    ("dzień dobry", "greet"), ("hi there", "greet"),
    ("thank you", "thanks"), ("dziekuje", "thanks"),
    ("the waiting list for my mum's operation was far too long", "inform"),
    ("nie mogłam się dodzwonić do przychodni przez tydzień", "inform"),
])
def test_nlu_understands_both_languages(rasa, text, intent):
    url, _ = rasa
    assert parse(url, text)[0] == intent


def run(coro):
    return asyncio.run(coro)


async def say(url: str, sender: str, message: str, metadata: dict) -> list:
    async with httpx.AsyncClient(timeout=20) as client:
        return await send_to_rasa(client, url, sender, message, metadata)


def wait_calls(recorder: Recorder, count: int) -> list[ActionCall]:
    deadline = time.monotonic() + 10
    while len(recorder.calls) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return recorder.calls


def test_round_trip_reaches_our_action_with_metadata(rasa):
    url, recorder = rasa
    before = len(recorder.calls)
    assert run(say(url, "CTEST1", "kim jesteście?", {"message_id": 41})) == []
    call = wait_calls(recorder, before + 1)[-1]
    assert call.action == "action_faq" and call.intent == "ask_who"
    assert call.sender_id == "CTEST1" and call.text == "kim jesteście?"
    assert call.metadata["message_id"] == 41


def test_shortcut_skips_nlu(rasa):
    url, recorder = rasa
    before = len(recorder.calls)
    run(say(url, "CTEST2", shortcut_message("choose", {"number": 3}), {"message_id": 42}))
    call = wait_calls(recorder, before + 1)[-1]
    assert call.action == "action_answer" and call.intent == "choose"
    assert call.entities == {"number": 3} and call.confidence == 1.0
    run(say(url, "CTEST2", shortcut_message("stop", {}), {"message_id": 43}))
    assert wait_calls(recorder, before + 2)[-1].action == "action_stop"


def test_typed_slash_cannot_inject_an_intent(rasa):
    url, recorder = rasa
    before = len(recorder.calls)
    run(say(url, "CTEST3", escape_user_text("/stop"), {"message_id": 44}))
    call = wait_calls(recorder, before + 1)[-1]
    assert call.text == "stop" and call.confidence < 1.0, "went through NLU as plain words"


def test_action_endpoint_refuses_calls_without_the_token(rasa):
    _, recorder = rasa
    port = recorder.server.config.port
    payload = {"next_action": "action_stop", "sender_id": "x", "tracker": {}}
    assert httpx.post(f"http://127.0.0.1:{port}/rasa/actions", json=payload).status_code == 403
    assert httpx.post(f"http://127.0.0.1:{port}/rasa/actions?token=wrong", json=payload).status_code == 403
