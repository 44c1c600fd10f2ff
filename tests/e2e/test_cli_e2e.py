"""The CLI as a person uses it: chat through the real signed webhook path, export as CSV,
and --help on every command."""

from __future__ import annotations

import csv
import io
import subprocess
import time

import pytest

from tests.e2e.harness import CLI, ROOT, app_env

pytestmark = pytest.mark.e2e


def run_cli(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLI), *args], env=env, input=stdin, capture_output=True,
                          text=True, cwd=ROOT, timeout=120)


def test_chat_in_polish_then_export(make_app, sqlite_url, fake_twilio, app_port, e2e_rasa, tmp_path):
    make_app(sqlite_url)
    env = app_env(tmp_path, app_port, sqlite_url, fake_twilio.url, e2e_rasa)
    lines = ["Dzień dobry", "tak", "2", "czasami", "nie", "3", "5",
             "Więcej tłumaczy w przychodni", "4", "5", "3", "IP4 2AB"]
    chat = run_cli(env, "chat", "--number", "+447700900801", "--timeout", "20",
                   stdin="\n".join(lines) + "\n")
    assert chat.returncode == 0, chat.stderr
    assert "< Dzień dobry! Tu NHS" in chat.stdout
    assert "< Bardzo dziękujemy!" in chat.stdout, chat.stdout[-2000:]
    assert "(no reply)" not in chat.stdout

    # The free-text answer is translated for officers in the background (fake LibreTranslate).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        export = run_cli(env, "export")
        assert export.returncode == 0, export.stderr
        rows = list(csv.DictReader(io.StringIO(export.stdout)))
        [row] = [r for r in rows if r["language"] == "pl"]
        if row["one_thing_en"]:
            break
        time.sleep(0.5)
    assert row["one_thing_en"] == "More interpreters at the clinic"
    assert row["stage"] == "completed" and row["completed"]
    assert row["access"] == "2" and row["info_language"] == "sometimes"
    assert row["needed_interpreter"] == "no" and row["got_interpreter"] == ""
    assert row["one_thing"] == "Więcej tłumaczy w przychodni"
    assert row["ethnic_white"] == "other_white" and row["postcode"] == "IP4"
    assert row["contact"].startswith("C") and "447700900801" not in export.stdout
    assert "Exported 1 conversations" in export.stderr

    unknown = run_cli(env, "export", "--survey", "nope")
    assert unknown.returncode == 2 and "no survey 'nope'" in unknown.stderr


@pytest.mark.parametrize("command", ["serve", "train", "chat", "export", "migrate"])
def test_every_command_has_help(command):
    result = subprocess.run([str(CLI), command, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: listening-bot" in result.stdout
