"""The Rasa side, driven from the app's Python 3.11 process by subprocess (Rasa 3.6 needs
Python 3.10 and old libraries, so it lives in `.venv-rasa` and is never imported here).

- the model is named after a fingerprint of its sources: it is retrained only when they change;
- `RasaServer` runs `rasa run` on loopback with its custom actions pointed at our app.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from bot.settings import PROJECT_ROOT, Settings

Progress = Callable[[str], None]

SOURCES = ("domain.yml", "config.yml", "nlu", "stories", "requirements/rasa.txt")
QUIET_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "CUDA_VISIBLE_DEVICES": "",
}


class RasaError(RuntimeError):
    pass


def _rasa(settings: Settings) -> Path:
    return settings.rasa_venv / "bin" / "rasa"


def ensure_rasa_env(settings: Settings, progress: Progress) -> None:
    """`scripts/setup.sh` creates the environment; here we only say clearly if it is missing."""
    if not _rasa(settings).exists():
        raise RasaError(
            f"Rasa is not installed in {settings.rasa_venv}. Run ./scripts/setup.sh first."
        )


def model_fingerprint(root: Path = PROJECT_ROOT) -> str:
    digest = hashlib.sha256()
    for source in SOURCES:
        path = root / source
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def model_path(settings: Settings) -> Path:
    return settings.models_dir / f"listening-{model_fingerprint()[:12]}.tar.gz"


def is_model_current(settings: Settings) -> bool:
    return model_path(settings).exists()


def _env() -> dict[str, str]:
    return {**os.environ, **QUIET_ENV}


def train(settings: Settings, progress: Progress) -> Path:
    """Train into models/, showing progress; older listening-* models are removed after."""
    target = model_path(settings)
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.models_dir / "train.log"
    progress(f"Training the Rasa model ({target.name}); this takes about a minute...")
    cmd = [
        str(_rasa(settings)), "train",
        "--domain", "domain.yml", "--config", "config.yml", "--data", "nlu", "stories",
        "--out", str(settings.models_dir), "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]
    start = time.monotonic()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=PROJECT_ROOT, env=_env(), stdout=log, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            time.sleep(5)
            if proc.poll() is None:
                progress(f"  ...training, {time.monotonic() - start:.0f} s")
    if proc.returncode != 0 or not target.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        raise RasaError(f"Rasa training failed (log: {log_path}):\n{tail}")
    for old in settings.models_dir.glob("listening-*.tar.gz"):
        if old != target:
            old.unlink()
    progress(f"Trained {target.name} in {time.monotonic() - start:.0f} s.")
    return target


def _die_with_parent() -> None:
    """Linux: Rasa gets SIGTERM if the app dies, even by SIGKILL, so no orphan keeps the port."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class RasaServer:
    """`rasa run` on 127.0.0.1 with the REST channel and our action endpoint."""

    def __init__(self, settings: Settings, model: Path | None = None) -> None:
        self.settings = settings
        self.model = model or model_path(settings)
        self.runtime = settings.data_dir / "rasa"
        self.url = f"http://127.0.0.1:{settings.rasa_port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def _write_config(self) -> tuple[Path, Path]:
        self.runtime.mkdir(parents=True, exist_ok=True)
        endpoints = self.runtime / "endpoints.yml"
        credentials = self.runtime / "credentials.yml"
        endpoints.write_text(yaml.safe_dump({"action_endpoint": {
            "url": f"{self.settings.base_url}/rasa/actions",
            "token": self.settings.effective_action_token,
        }}))
        os.chmod(endpoints, 0o600)
        credentials.write_text(yaml.safe_dump({"rest": None}))
        return endpoints, credentials

    def start(self, timeout: float = 180.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process (call from the thread that lives as long as the app)."""
        if not self.model.exists():
            raise RasaError(f"No trained model at {self.model}: run `listening-bot train`.")
        endpoints, credentials = self._write_config()
        log = open(self.runtime / "rasa.log", "wb")
        self.proc = subprocess.Popen(
            [str(_rasa(self.settings)), "run", "--enable-api", "-i", "127.0.0.1",
             "-p", str(self.settings.rasa_port), "--model", str(self.model),
             "--endpoints", str(endpoints), "--credentials", str(credentials)],
            cwd=self.runtime, env=_env(), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RasaError(f"Rasa exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status = httpx.get(f"{self.url}/status", timeout=1.0)
                if status.status_code == 200 and status.json().get("model_file"):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.3)
        self.stop()
        raise RasaError(f"Rasa not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 25) -> str:
        path = self.runtime / "rasa.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def __enter__(self) -> RasaServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
