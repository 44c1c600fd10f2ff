"""Drive the real app as Twilio would: a subprocess of `listening-bot serve`, signed webhooks.

The app is a real process so the tests can kill it mid-conversation; Rasa is one real server
for the whole session (its action endpoint points at the app's fixed port), so restarting the
app takes a second instead of Rasa's start-up time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx

from tests.fakes.payloads import load
from webhooks.signature import SIGNATURE_HEADER, sign

ROOT = Path(__file__).resolve().parents[2]
CLI = ROOT / ".venv" / "bin" / "listening-bot"
ACCOUNT_SID = "AC" + "e2e0" * 8
AUTH_TOKEN = "e2e-auth-token-" + "x" * 17
ACTION_TOKEN = "e2e-action-token"
BOT_SMS = "+447700900000"
BOT_WHATSAPP = "+447700900001"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppProcess:
    def __init__(self, env: dict[str, str], port: int, log_path: Path) -> None:
        self.env = env
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(CLI), "serve", "--no-train"], env=self.env, stdout=log, stderr=log, cwd=ROOT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited early:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"app not healthy after {timeout}s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, as in a power cut."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


def app_env(tmp: Path, port: int, database_url: str, twilio_url: str, rasa_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "DATABASE_"))}
    env.update(
        DATA_DIR=str(tmp),
        DATABASE_URL=database_url,
        PORT=str(port),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        TWILIO_API_BASE_URL=twilio_url,
        RASA_URL=rasa_url,
        ACTION_TOKEN=ACTION_TOKEN,
        ENCRYPTION_KEY="e2e-secret-key-not-for-production",
        WORKER_POLL_SECONDS="0.5",
        LOG_LEVEL="INFO",
    )
    return env


class Phone:
    """A person's phone: posts Twilio-shaped, correctly signed webhooks to the app."""

    def __init__(self, app_url: str, number: str, channel: str = "sms") -> None:
        self.app_url = app_url
        self.number = number
        self.channel = channel
        self.http = httpx.Client(timeout=10.0)

    @property
    def address(self) -> str:
        return f"whatsapp:{self.number}" if self.channel == "whatsapp" else self.number

    @property
    def bot_address(self) -> str:
        return f"whatsapp:{BOT_WHATSAPP}" if self.channel == "whatsapp" else BOT_SMS

    def form(self, body: str, sid: str | None = None, **extra: str) -> dict[str, str]:
        """A recorded Twilio payload shape (tests/fixtures/twilio) for this phone and text."""
        sid = sid or "SM" + uuid.uuid4().hex
        shape = "whatsapp_inbound" if self.channel == "whatsapp" else "sms_inbound"
        overrides = {"SmsMessageSid": sid, "SmsSid": sid, "MessageSid": sid, "Body": body,
                     "AccountSid": ACCOUNT_SID, "From": self.address, "To": self.bot_address}
        if self.channel == "whatsapp":
            overrides["WaId"] = self.number.lstrip("+")
        return load(shape, **overrides, **extra)

    def post(self, form: dict[str, str], path: str = "/webhooks/twilio/messages",
             token: str = AUTH_TOKEN) -> httpx.Response:
        url = self.app_url + path
        return self.http.post(url, data=form, headers={SIGNATURE_HEADER: sign(token, url, form)})

    def send(self, body: str, **extra: str) -> httpx.Response:
        response = self.post(self.form(body, **extra))
        response.raise_for_status()
        return response
