"""The Rasa side, driven from the app's Python 3.11 process by subprocess.

Rasa 3.6 needs Python 3.10 and old libraries, so it lives in its own virtual environment
(`settings.rasa_venv`, pinned by `requirements/rasa.txt`) and is never imported here.

- `ensure_rasa_env` builds that environment when it is missing or its lock changed;
- the model is named after a fingerprint of its sources, so it is retrained only when they
  change (`is_model_current`, `train`);
- `RasaServer` runs `rasa run` on 127.0.0.1 only, with its custom actions pointed at our app.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import httpx
import yaml

from bot.settings import PROJECT_ROOT, Settings

Progress = Callable[[str], None]

PYTHON_VERSION = "3.10.13"
LOCK_FILE = PROJECT_ROOT / "requirements" / "rasa.txt"
# What the model is trained from; any change to these gives a new model name.
SOURCES = ("domain.yml", "config.yml", "nlu", "stories", "requirements/rasa.txt")
MODEL_PREFIX = "listening-"
# Quiet and offline: no telemetry, no TensorFlow chatter, no hub downloads, no GPU probing.
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "CUDA_VISIBLE_DEVICES": "",
    "PYTHONWARNINGS": "ignore",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}
HEARTBEAT_SECONDS = 5.0


class RasaError(RuntimeError):
    """Rasa could not be installed, trained or started; the message carries the log's tail."""


# Rasa runs from rasa_addons/rasa_server.py and imports our tracker store from there; each
# module there says why.
RASA_ADDONS = PROJECT_ROOT / "rasa_addons"
TRACKER_STORE = "bounded_tracker_store.BoundedTrackerStore"
TRACKER_MAX_EVENTS = 24


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(RASA_ADDONS), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, **QUIET_ENV, "PYTHONPATH": path}


def _rasa(settings: Settings) -> Path:
    return settings.rasa_venv / "bin" / "rasa"


def rasa_python(settings: Settings) -> Path:
    """The Python of Rasa's environment: it runs rasa_addons/rasa_server.py."""
    return settings.rasa_venv / "bin" / "python"


def _tail(path: Path, lines: int = 25) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


# -- running a long command with visible progress -------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_LOG_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \w+ +\S+ +- ")


def _summary(line: str) -> str:
    """A Rasa or pip output line, short enough for one progress line."""
    line = _LOG_PREFIX.sub("", _ANSI.sub("", line)).strip()
    return line if len(line) <= 90 else line[:87] + "..."


def _run_with_progress(
    cmd: list[str], log_path: Path, progress: Progress, doing: str, cwd: Path = PROJECT_ROOT
) -> tuple[int, float]:
    """Run `cmd` with its output in `log_path`; every few seconds tell the user how long it
    has run and what it last said, so a minute of training never looks like a hang."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    last = ""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
        )
        assert proc.stdout is not None

        def pump(stream: IO[str]) -> None:
            nonlocal last
            for line in stream:
                log.write(line)
                if line.strip() and not line.lstrip().startswith(("/", "Processed")):
                    last = _summary(line)

        reader = threading.Thread(target=pump, args=(proc.stdout,), daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(HEARTBEAT_SECONDS)
                break
            except subprocess.TimeoutExpired:
                progress(f"  ...{doing}, {time.monotonic() - start:.0f} s: {last}")
        reader.join(10)
    return proc.returncode, time.monotonic() - start


# -- the environment ------------------------------------------------------------------------
def find_python310() -> str:
    """Python 3.10 for Rasa's venv: $PYTHON310, pyenv's 3.10.13, or python3.10 on PATH."""
    candidates: list[str] = []
    if os.environ.get("PYTHON310"):
        candidates.append(os.environ["PYTHON310"])
    if shutil.which("pyenv"):
        found = subprocess.run(["pyenv", "prefix", PYTHON_VERSION], capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            candidates.append(str(Path(found.stdout.strip()) / "bin" / "python"))
    candidates.append(str(Path.home() / ".pyenv" / "versions" / PYTHON_VERSION / "bin" / "python"))
    if shutil.which("python3.10"):
        candidates.append("python3.10")
    for candidate in candidates:
        python = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
        if (
            python
            and subprocess.run(
                [python, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 10))"],
                capture_output=True,
            ).returncode
            == 0
        ):
            return python
    raise RasaError(
        "Rasa needs Python 3.10 and none was found. Install it (`pyenv install "
        f"{PYTHON_VERSION}`) or set PYTHON310 to a Python 3.10 interpreter."
    )


def lock_stamp(lock: Path = LOCK_FILE) -> str:
    """The lock's hash, computed exactly as scripts/setup.sh does, so both agree on `.stamp`:
    `sha256sum requirements/rasa.txt | sha256sum | cut -c1-16`."""
    line = f"{hashlib.sha256(lock.read_bytes()).hexdigest()}  requirements/rasa.txt\n"
    return hashlib.sha256(line.encode()).hexdigest()[:16]


def _installed_rasa(venv: Path) -> str | None:
    """The installed Rasa's version, or None if the venv has no working Rasa (fast: no import)."""
    python = venv / "bin" / "python"
    if not (python.exists() and (venv / "bin" / "rasa").exists()):
        return None
    found = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('rasa'))"],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() if found.returncode == 0 else None


def ensure_rasa_env(settings: Settings, progress: Progress) -> None:
    """Create `settings.rasa_venv` and install the lock unless it already holds a working Rasa
    installed from this very lock (its hash is kept in `<venv>/.stamp`)."""
    venv, stamp = settings.rasa_venv, lock_stamp()
    marker = venv / ".stamp"
    if _installed_rasa(venv) and marker.exists() and marker.read_text().strip() == stamp:
        return
    log_path = settings.data_dir / "rasa" / "install.log"
    if not (venv / "bin" / "python").exists():
        python = find_python310()
        progress(f"Creating Rasa's environment in {venv} with {python}...")
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    progress("Installing Rasa 3.6 from requirements/rasa.txt (a few minutes the first time)...")
    cmd = [str(venv / "bin" / "python"), "-m", "pip", "install", "-r", str(LOCK_FILE)]
    code, seconds = _run_with_progress(cmd, log_path, progress, "installing")
    if code != 0 or not _installed_rasa(venv):
        raise RasaError(f"Installing Rasa failed (log: {log_path}):\n{_tail(log_path)}")
    marker.write_text(stamp + "\n")
    progress(f"Rasa {_installed_rasa(venv)} installed in {seconds:.0f} s.")


# -- the model ------------------------------------------------------------------------------
def _source_files(root: Path) -> list[Path]:
    files: list[Path] = []
    for source in SOURCES:
        path = root / source
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            files.append(path)
    return files


def model_fingerprint(root: Path = PROJECT_ROOT) -> str:
    """sha256 over the names and contents of everything the model is trained from."""
    digest = hashlib.sha256()
    for file in _source_files(root):
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()


def model_path(settings: Settings, root: Path = PROJECT_ROOT) -> Path:
    return settings.models_dir / f"{MODEL_PREFIX}{model_fingerprint(root)[:12]}.tar.gz"


def is_model_current(settings: Settings, root: Path = PROJECT_ROOT) -> bool:
    return model_path(settings, root).exists()


def train(
    settings: Settings, progress: Progress, root: Path = PROJECT_ROOT, prune: bool = True
) -> Path:
    """Train the model for the sources under `root` into models/ and (with `prune`) remove
    older ones.

    Rasa writes into a temporary directory and the archive is moved into place only when
    training succeeded, so an interrupted run never leaves a model that looks current.
    """
    target = model_path(settings, root)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "rasa" / "train.log"
    progress(f"Training the Rasa model {target.name} (about half a minute)...")
    with tempfile.TemporaryDirectory(prefix=".training-", dir=settings.models_dir) as out:
        name = target.name.removesuffix(".tar.gz")
        cmd = [
            str(_rasa(settings)),
            "train",
            "--domain",
            "domain.yml",
            "--config",
            "config.yml",
            "--data",
            "nlu",
            "stories",
            "--out",
            out,
            "--fixed-model-name",
            name,
        ]
        code, seconds = _run_with_progress(cmd, log_path, progress, "training", cwd=root)
        trained = Path(out) / target.name
        if code != 0 or not trained.exists():
            raise RasaError(f"Rasa training failed (log: {log_path}):\n{_tail(log_path)}")
        os.replace(trained, target)
    if prune:
        prune_models(settings, keep=target)
    progress(f"Trained {target.name} in {seconds:.0f} s.")
    return target


def prune_models(settings: Settings, keep: Path) -> None:
    """Remove every model but `keep` (a loaded model lives in Rasa's memory, not its file)."""
    for old in settings.models_dir.glob(f"{MODEL_PREFIX}*.tar.gz"):
        if old != keep:
            old.unlink(missing_ok=True)


# -- the server -----------------------------------------------------------------------------
def _die_with_parent_command() -> list[str]:
    """Linux: Rasa gets SIGTERM if the app dies, even by SIGKILL, so no orphan keeps the port.

    util-linux's `setpriv --pdeathsig` sets this before it execs Rasa; a `preexec_fn` would do
    the same but is unsafe in a process with threads (the app has several). The signal follows
    the thread that started Rasa, so start it from one that lives as long as the app.
    """
    setpriv = shutil.which("setpriv")
    if sys.platform.startswith("linux") and setpriv:
        return [setpriv, "--pdeathsig", "TERM", "--"]
    return []


def _port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class RasaServer:
    """`rasa run` on 127.0.0.1 with the REST channel, the HTTP API and our action endpoint.

    `start()` = `launch()` + `wait_ready()`; the app calls the two apart so that the process
    is started from its event loop's thread. Also a context manager.
    """

    def __init__(self, settings: Settings, model: Path | None = None) -> None:
        self.settings = settings
        self.model = model or model_path(settings)
        self.runtime = settings.data_dir / "rasa"
        self.port = settings.rasa_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.runtime / "rasa.log"

    @property
    def console_path(self) -> Path:
        """stdout/stderr: what Rasa prints before its logging is set up (import errors...)."""
        return self.runtime / "console.log"

    def _write_config(self) -> tuple[Path, Path]:
        """endpoints.yml holds the action token (Rasa sends it as `?token=`): owner-only."""
        self.runtime.mkdir(parents=True, exist_ok=True)
        endpoints = self.runtime / "endpoints.yml"
        credentials = self.runtime / "credentials.yml"
        fd = os.open(endpoints, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(
                {
                    "action_endpoint": {
                        "url": f"{self.settings.base_url}/rasa/actions",
                        "token": self.settings.effective_action_token,
                    },
                    "tracker_store": {
                        "type": TRACKER_STORE,
                        "max_events": TRACKER_MAX_EVENTS,
                        "max_senders": self.settings.rasa_max_senders,
                    },
                },
                fh,
            )
        credentials.write_text(yaml.safe_dump({"rest": None}))
        return endpoints, credentials

    def start(self, timeout: float = 180.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to load the model."""
        if not self.model.exists():
            raise RasaError(f"No trained model at {self.model}: run `listening-bot train`.")
        if _port_in_use(self.port):
            raise RasaError(f"Port {self.port} on 127.0.0.1 is taken (another Rasa still running?)")
        endpoints, credentials = self._write_config()
        self.log_path.unlink(missing_ok=True)
        self._console = open(self.console_path, "wb")
        cmd = [
            *_die_with_parent_command(), str(rasa_python(self.settings)),
            str(RASA_ADDONS / "rasa_server.py"), "run", "--enable-api",
            "-i", "127.0.0.1", "-p", str(self.port), "--model", str(self.model),
            "--endpoints", str(endpoints), "--credentials", str(credentials),
            "--log-file", str(self.log_path),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.runtime,
            env=_env(),
            stdout=self._console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until `/status` reports our model loaded; on failure stop and show the log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise RasaError(f"Rasa exited ({code}):\n{self.log_tail()}")
            try:
                status = httpx.get(f"{self.url}/status", timeout=1.0)
                if status.status_code == 200 and self.model.name in str(
                    status.json().get("model_file", "")
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RasaError(f"Rasa was not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        return _tail(self.console_path, lines) or _tail(self.log_path, lines)

    def stop(self) -> None:
        """SIGTERM to Rasa's process group, SIGKILL if it has not gone within 20 s."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        if self._console is not None:
            self._console.close()
            self._console = None

    def __enter__(self) -> RasaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
