"""Retraining the Rasa model in the background, and swapping it into the running Rasa server.

When the sources of the model change (`nlu/`, `stories/`, `config.yml`, `domain.yml`: the
fingerprint in `bot.rasa_runtime`), or when asked (`request`, e.g. by the console after an admin
added NLU examples), a thread snapshots the sources, trains a model from the snapshot with
`rasa train` (the running model keeps answering), and loads it into the running server with
Rasa's HTTP API (`PUT /model`). Progress, the error of a failed run and the loaded model are in
`status`. A failed training or load keeps the old model.

What Rasa 3.6.21 does during `PUT /model` (rasa/server.py `load_model`, rasa/core/agent.py):
it builds the new agent with a synchronous `Agent.load_model` inside the request handler, so
its event loop serves nothing while the model loads. Requests that arrive meanwhile wait and
are then handled by the new agent; a request already being handled finishes on the old one
(each message reads `app.ctx.agent` when it starts). A model that fails to load raises before
`app.ctx.agent` is replaced, so the old agent stays. The new agent gets a new, empty in-memory
tracker store: Rasa forgets its conversation histories, which our conversations do not depend
on (docs/decisions.md, entry 1). A message whose Rasa call fails or times out during the swap
stays `received` and the worker sends it again on its next poll; our action handles each
inbound message at most once, so a message Rasa did take is not answered twice.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import httpx

from bot import rasa_runtime
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.tables import utcnow

log = logging.getLogger(__name__)

IDLE, TRAINING, LOADING, DONE, FAILED = "idle", "training", "loading", "done", "failed"
PROGRESS_LINES = 200
LOAD_TIMEOUT = 600.0  # seconds Rasa may take to load a model


@dataclass(frozen=True)
class RetrainStatus:
    """What the retrainer is doing, for the console: a copy, safe to read from any thread."""

    state: str = IDLE  # idle | training | loading | done | failed
    reason: str | None = None  # why the last run started
    started_at: datetime | None = None
    finished_at: datetime | None = None
    progress: tuple[str, ...] = ()  # the last run's progress lines, oldest first
    error: str | None = None  # why the last run failed (the old model is still loaded)
    model: str | None = None  # the model file Rasa has loaded
    queued: bool = False  # asked again while running: another run follows
    load_seconds: float | None = None  # how long Rasa took to swap the model in (PUT /model)

    @property
    def running(self) -> bool:
        return self.state in (TRAINING, LOADING)


@dataclass
class _Run:
    reason: str
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=PROGRESS_LINES))


class Retrainer:
    """Trains and hot-swaps the model of a running Rasa server (see the module's docstring).

    `root` holds the sources (the project by default); `model` is the file Rasa runs now;
    `on_loaded(path)` is called after a new model is live (the app rebuilds what depends on
    the NLU examples, and remembers the model for its next start).
    """

    def __init__(
        self,
        settings: Settings,
        rasa_url: str,
        model: Path | None,
        *,
        root: Path = PROJECT_ROOT,
        on_loaded: Callable[[Path], None] | None = None,
    ) -> None:
        self.settings = settings
        self.rasa_url = rasa_url.rstrip("/")
        self.root = root
        self.on_loaded = on_loaded
        self._lock = threading.Lock()
        self._status = RetrainStatus(model=model.name if model else None)
        self._thread: threading.Thread | None = None
        self._failed_fingerprint: str | None = None
        self._idle = threading.Event()
        self._idle.set()

    # -- what others call -----------------------------------------------------------------
    @property
    def status(self) -> RetrainStatus:
        with self._lock:
            return self._status

    def request(self, reason: str) -> RetrainStatus:
        """Train and swap in a new model now (or right after the run under way)."""
        with self._lock:
            if self._status.running:
                self._status = replace(self._status, queued=True)
                return self._status
            self._start(reason)
            return self._status

    def stale(self) -> bool:
        """The sources differ from what the loaded model was trained on (and did not already
        fail to train as they are)."""
        fingerprint = rasa_runtime.model_fingerprint(self.root)[:12]
        model = self.status.model or ""
        return fingerprint not in model and fingerprint != self._failed_fingerprint

    def check(self) -> bool:
        """Start a run if the sources changed; True if one started."""
        if self.status.running or not self.stale():
            return False
        self.request("the model's sources changed")
        return True

    def watch(self, every: float, stop: threading.Event) -> None:
        """Check the sources every `every` seconds until `stop` is set (a daemon thread)."""
        while not stop.wait(every):
            try:
                self.check()
            except Exception:
                log.exception("could not check the model's sources; trying again later")

    def wait(self, timeout: float) -> RetrainStatus:
        """Until no run is under way or queued (for tests and the CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._idle.wait(max(0.0, deadline - time.monotonic())):
                with self._lock:
                    if not self._status.running:
                        return self._status
            time.sleep(0.05)
        return self.status

    # -- one run ----------------------------------------------------------------------------
    def _start(self, reason: str) -> None:
        """With the lock held."""
        run = _Run(reason)
        self._status = replace(self._status, state=TRAINING, reason=reason, started_at=utcnow(),
                               finished_at=None, progress=(), error=None, queued=False,
                               load_seconds=None)
        self._idle.clear()
        self._thread = threading.Thread(target=self._run, args=(run,), name="retrain",
                                        daemon=True)
        self._thread.start()

    def _say(self, run: _Run, line: str) -> None:
        run.lines.append(line.rstrip())
        with self._lock:
            self._status = replace(self._status, progress=tuple(run.lines))

    def _run(self, run: _Run) -> None:
        log.info("retraining the Rasa model: %s", run.reason)
        fingerprint = None
        try:
            with tempfile.TemporaryDirectory(prefix="rasa-sources-") as folder:
                snapshot = _snapshot(self.root, Path(folder))
                fingerprint = rasa_runtime.model_fingerprint(snapshot)[:12]
                self._say(run, f"sources snapshot {fingerprint}: {run.reason}")
                model = rasa_runtime.train(self.settings, lambda line: self._say(run, line),
                                           root=snapshot, prune=False)
            with self._lock:
                self._status = replace(self._status, state=LOADING)
            self._say(run, f"loading {model.name} into the running Rasa server...")
            try:
                seconds = self._load(model)
            except Exception:
                if model.name != self.status.model:
                    model.unlink(missing_ok=True)  # a restart must not pick it up either
                raise
            self._say(run, f"{model.name} is live (Rasa took {seconds:.1f} s to swap it in)")
            rasa_runtime.prune_models(self.settings, keep=model)
            self._failed_fingerprint = None
            with self._lock:
                self._status = replace(self._status, state=DONE, model=model.name,
                                       finished_at=utcnow(), load_seconds=seconds)
            log.info("Rasa model %s is live", model.name)
            if self.on_loaded is not None:
                self.on_loaded(model)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old model, and says why
            self._failed_fingerprint = fingerprint
            error = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, rasa_runtime.RasaError) else str(exc)
            self._say(run, "failed; the model that was running is still running")
            with self._lock:
                self._status = replace(self._status, state=FAILED, error=error,
                                       finished_at=utcnow())
            log.error("retraining failed; the old model is still loaded: %s",
                      error.splitlines()[0] if error else type(exc).__name__)
        finally:
            with self._lock:
                again = self._status.queued
                if again:
                    self._start("asked again while training")
                else:
                    self._idle.set()

    def _load(self, model: Path) -> float:
        """PUT /model, then check that /status names the new model. Returns the seconds the
        swap took."""
        started = time.monotonic()
        response = httpx.put(f"{self.rasa_url}/model", json={"model_file": str(model)},
                             timeout=LOAD_TIMEOUT)
        seconds = time.monotonic() - started
        if response.status_code != 204:
            raise rasa_runtime.RasaError(
                f"Rasa did not load {model.name} ({response.status_code}): {response.text[:500]}"
            )
        status = httpx.get(f"{self.rasa_url}/status", timeout=30.0).json()
        if model.name not in str(status.get("model_file", "")):
            raise rasa_runtime.RasaError(
                f"Rasa reports {status.get('model_file')!r} after loading {model.name}")
        return seconds


def _snapshot(root: Path, folder: Path) -> Path:
    """Copy what the model is trained from, so files edited during training cannot mix into
    a model named after other contents."""
    for source in rasa_runtime.SOURCES:
        path = root / source
        target = folder / source
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns(".*"))
        elif path.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    return folder
