"""Retraining in the background and swapping the model into a running Rasa server, with the
real Rasa 3.6.21 server and `rasa train`, on a copy of the sources in a temporary folder with
one NLU example added: messages sent all through the training and the swap are each handled
(none lost), the new model is live and knows the example, and a failed training keeps the old
model, says why, and is not retried on its own until the sources change again."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from bot import rasa_runtime
from bot.rasa_client import send_to_rasa
from bot.retrain import DONE, FAILED, Retrainer
from bot.settings import PROJECT_ROOT, Settings
from tests.conftest import RasaUnderTest, _action_app
from tests.e2e.harness import free_port

EXAMPLE = "zorblax quimble"  # nonsense until the model is taught it as a greeting
TOKEN = "retrain-test-token"


@dataclass
class Traffic:
    """A stream of messages into Rasa's REST channel while the model is retrained and swapped."""

    url: str
    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    slowest: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        import asyncio

        async def loop() -> None:
            async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
                n = 0
                while not self.stop.is_set():
                    n += 1
                    started = time.monotonic()
                    try:
                        await send_to_rasa(client, self.url, f"sender-{n % 7}", "hello",
                                           {"message_id": n})
                        self.sent.append(n)
                    except httpx.HTTPError as exc:  # the worker would retry it on its next poll
                        self.failed[n] = type(exc).__name__
                    self.slowest = max(self.slowest, time.monotonic() - started)
                    await asyncio.sleep(0.05)

        asyncio.run(loop())


@pytest.fixture
def sources(tmp_path: Path) -> Path:
    """The model's sources, copied, with one example added to the English greetings."""
    root = tmp_path / "project"
    for name in rasa_runtime.SOURCES:
        src = PROJECT_ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name)
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, root / name)
    return root


@pytest.fixture
def rasa(rasa_model: Path, tmp_path: Path) -> Iterator[tuple[RasaUnderTest, Settings]]:
    """A Rasa server of its own (the session's shared one must keep its model), running the
    trained model of the project's sources, its actions recorded by a small app."""
    settings = Settings(data_dir=tmp_path / "data", models_dir=tmp_path / "models",
                        port=free_port(), rasa_port=free_port(), public_base_url="",
                        action_token=TOKEN, encryption_key="unused")
    settings.models_dir.mkdir(parents=True)
    model = settings.models_dir / rasa_model.name
    shutil.copy2(rasa_model, model)
    under_test = RasaUnderTest(url=settings.effective_rasa_url,
                               actions_url=f"{settings.base_url}/rasa/actions")
    actions = _action_app(settings, under_test.calls)
    thread = threading.Thread(target=actions.run, daemon=True)
    thread.start()
    try:
        with rasa_runtime.RasaServer(settings, model) as server:
            assert server.proc is not None
            yield under_test, settings
    finally:
        actions.should_exit = True
        thread.join(5)


def parse(url: str, text: str) -> tuple[str, float]:
    result = httpx.post(f"{url}/model/parse", json={"text": text}, timeout=10).json()
    return result["intent"]["name"], result["intent"]["confidence"]


def loaded_model(url: str) -> str:
    return Path(httpx.get(f"{url}/status", timeout=10).json()["model_file"]).name


def test_retrain_in_the_background_and_swap_without_losing_a_message(rasa, sources) -> None:
    server, settings = rasa
    old_model = loaded_model(server.url)
    before = parse(server.url, EXAMPLE)
    assert before[0] != "greet", f"the example must be new to the model: {before}"
    loaded: list[Path] = []
    retrainer = Retrainer(settings, server.url, settings.models_dir / old_model, root=sources,
                          on_loaded=loaded.append)
    assert not retrainer.stale(), "the running model is the model of these sources"

    en = sources / "nlu" / "en.yml"
    text = en.read_text(encoding="utf-8")
    assert "      - hi good morning\n" in text
    en.write_text(text.replace("      - hi good morning\n",
                               f"      - hi good morning\n      - {EXAMPLE}\n", 1),
                  encoding="utf-8")
    assert retrainer.stale()

    traffic = Traffic(server.url)
    sender = threading.Thread(target=traffic.run, daemon=True)
    sender.start()
    assert retrainer.check(), "changed sources start a run (what the app's watcher calls)"
    assert retrainer.status.running
    status = retrainer.wait(600)
    time.sleep(0.5)  # a few messages after the swap, on the new model
    traffic.stop.set()
    sender.join(60)

    assert status.state == DONE, (status.error, status.progress[-10:])
    new_model = rasa_runtime.model_path(settings, sources).name
    assert status.model == new_model != old_model
    assert loaded_model(server.url) == new_model
    assert loaded == [settings.models_dir / new_model]
    assert [p.name for p in settings.models_dir.glob("*.tar.gz")] == [new_model], "old pruned"
    assert any("training" in line for line in status.progress), status.progress
    assert status.progress[-1].startswith(f"{new_model} is live")
    assert status.load_seconds is not None and status.started_at and status.finished_at
    assert parse(server.url, EXAMPLE)[0] == "greet", "the new model knows the new example"
    assert not retrainer.stale()

    # Every message sent during training and the swap reached our action: none was lost.
    assert traffic.failed == {}, traffic.failed
    assert len(traffic.sent) > 20
    handled = {call.metadata.get("message_id") for call in server.wait_calls(len(traffic.sent))}
    assert set(traffic.sent) <= handled, sorted(set(traffic.sent) - handled)[:10]
    took = (status.finished_at - status.started_at).total_seconds()
    print(f"\nretrain {took:.1f} s, of which PUT /model {status.load_seconds:.2f} s; "
          f"{len(traffic.sent)} messages during training and swap, slowest "
          f"{traffic.slowest:.2f} s, none lost")

    # A training that fails keeps the model that runs, says why, and is not retried on its own.
    en.write_text(en.read_text(encoding="utf-8") + "  - intent: [broken\n", encoding="utf-8")
    assert retrainer.check()
    failed = retrainer.wait(300)
    assert failed.state == FAILED and failed.error, failed
    assert "Rasa training failed" in failed.error
    assert failed.model == new_model and loaded_model(server.url) == new_model
    assert parse(server.url, "hello")[0] == "greet", "the old model still answers"
    assert not retrainer.stale() and not retrainer.check(), "not retried until sources change"
    again = retrainer.request("asked from the console")
    assert again.running, "asked for, it runs again"
    assert retrainer.wait(300).state == FAILED


def test_the_app_watches_its_own_rasa_servers_sources(rasa_model: Path, tmp_path: Path) -> None:
    """`serve` without RASA_URL runs Rasa itself, and with it a retrainer the console can ask
    (app.state.retrainer) and a thread that watches the sources; with RASA_URL, neither."""
    from fastapi.testclient import TestClient

    from bot.app import create_app
    from bot.retrain import IDLE
    from bot.storage.migrate import upgrade

    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'bot.db'}",
                        port=free_port(), rasa_port=free_port(), encryption_key="k",
                        retrain_watch_seconds=0.2, translation_provider="none")
    upgrade(settings)
    app = create_app(settings)
    with TestClient(app) as client:
        deadline = time.monotonic() + 180
        while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        retrainer = app.state.retrainer
        assert isinstance(retrainer, Retrainer)
        assert retrainer.status.model == rasa_model.name and retrainer.status.state == IDLE
        [watcher] = [t for t in threading.enumerate() if t.name == "retrain-watch"]
        time.sleep(0.5)
        assert retrainer.status.state == IDLE, "current sources: the watcher does nothing"
    watcher.join(2)
    assert not watcher.is_alive(), "the watcher stops with the app"
