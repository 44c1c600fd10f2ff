"""What the browser tests share: the bot as the README runs it (`listening-bot serve`, SQLite,
its own Rasa, local mode, a local LibreTranslate instead of Google's), the CLI beside it, and
Debian's Chromium driven by Playwright (never `playwright install`: scripts/test.sh installs
the Debian package)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import CLI, ROOT, AppProcess, free_port
from tests.fakes.libretranslate import FakeLibreTranslate

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@dataclass
class Bot:
    url: str
    env: dict[str, str]
    app: AppProcess
    libre: FakeLibreTranslate

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(CLI), *args], env=self.env, input=stdin, capture_output=True,
                              text=True, cwd=ROOT, timeout=180)

    def chat(self, number: str, *lines: str, channel: str = "sms") -> str:
        """`listening-bot chat` as a person: the lines typed, what the terminal showed."""
        done = self.cli("chat", "--channel", channel, "--number", number, "--timeout", "20",
                        stdin="\n".join(lines) + "\n")
        assert done.returncode == 0, done.stderr
        assert "(no reply)" not in done.stdout, done.stdout[-2000:]
        return done.stdout


@contextmanager
def running_bot(data: Path) -> Iterator[Bot]:
    """The bot with nothing configured but where to keep its files."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TWILIO_", "DATABASE_", "RASA_", "ENCRYPTION_", "ACTION_"))}
    with FakeLibreTranslate() as libre:
        env.update(DATA_DIR=str(data), PORT=str(port), RASA_PORT=str(free_port()),
                   TRANSLATION_PROVIDER="libre", TRANSLATION_URL=libre.url,
                   TRANSLATION_API_KEY="test", WORKER_POLL_SECONDS="0.5", LOG_LEVEL="INFO")
        app = AppProcess(env, port, data / "app.log")
        app.start(timeout=180)
        try:
            yield Bot(app.url, env, app, libre)
        finally:
            app.stop()


@contextmanager
def chromium(shots: Path) -> Iterator[Any]:
    """A headless Chromium; `shots` is emptied for this run's screenshots."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser: Any, url: str) -> tuple[Any, Any]:
    """A laptop-sized page in British English, downloads allowed: (context, page)."""
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True, locale="en-GB", timezone_id="Europe/London")
    page = context.new_page()
    page.set_default_timeout(15_000)
    return context, page
