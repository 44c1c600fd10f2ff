"""`listening-bot survey ...` as an admin runs it: every action has --help; a bad file is
refused with its line and nothing is stored; upload, publish, show and roll back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import PROJECT_ROOT

GOOD = """\
id: clinic
title: {en: Clinic visits}
keywords: [CLINIC]
questions:
  - key: visits
    type: number
    range: [0, 20]
    text: {en: "How many times did you visit the clinic this year?"}
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATA_DIR": str(tmp_path / "data"), "ENCRYPTION_KEY": "k",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run([sys.executable, "-m", "bot.cli", "survey", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)


@pytest.mark.parametrize("action", ["list", "validate", "upload", "publish", "show"])
def test_every_action_has_help(tmp_path: Path, action: str) -> None:
    done = run(tmp_path, action, "--help")
    assert done.returncode == 0 and "usage: listening-bot survey " + action in done.stdout


def test_upload_publish_show_and_roll_back(tmp_path: Path) -> None:
    flow = tmp_path / "clinic.yml"
    flow.write_text(GOOD.replace("range: [0, 20]", "range: [20, 0]"), encoding="utf-8")
    bad = run(tmp_path, "upload", str(flow))
    assert bad.returncode == 2
    assert ("error: clinic.yml line 5: question 'visits': range must be [lowest, highest] "
            "whole numbers") in bad.stderr
    assert "nothing was stored" in bad.stderr
    assert "clinic" not in run(tmp_path, "list").stdout
    assert run(tmp_path, "validate", str(flow)).returncode == 2

    flow.write_text(GOOD, encoding="utf-8")
    valid = run(tmp_path, "validate", str(flow))
    assert valid.returncode == 0 and "valid: survey 'clinic': 1 questions, open" in valid.stdout
    assert run(tmp_path, "upload", str(flow)).returncode == 0
    assert "published as version 1" in run(tmp_path, "publish", "clinic").stdout
    flow.write_text(GOOD.replace("range: [0, 20]", "range: [0, 30]"), encoding="utf-8")
    run(tmp_path, "upload", str(flow))
    assert "published as version 2" in run(tmp_path, "publish", "clinic").stdout

    listing = run(tmp_path, "list").stdout
    assert "demo (default)" in listing, "the surveys/ folder is imported first"
    clinic = next(line for line in listing.splitlines() if line.startswith("clinic"))
    assert clinic.split()[1:3] == ["v2", "open"] and clinic.endswith("CLINIC")

    back = run(tmp_path, "publish", "clinic", "--version", "1")
    assert back.returncode == 0 and "version 1 re-published" in back.stdout
    shown = run(tmp_path, "show", "clinic").stdout
    assert shown.startswith("version 1 (live): survey 'clinic'")
    assert "visits [number; range 0-20]" in shown
    assert "v2" in shown and shown.count(" by cli:") == 3
    assert run(tmp_path, "show", "clinic", "--version", "2", "--source").stdout == (
        GOOD.replace("range: [0, 20]", "range: [0, 30]"))

    missing = run(tmp_path, "publish", "clinic", "--version", "9")
    assert missing.returncode == 2 and "survey 'clinic' has no version 9" in missing.stderr
    unknown = run(tmp_path, "show", "nope")
    assert unknown.returncode == 2 and "no survey 'nope' (known: clinic, demo)" in unknown.stderr
    no_file = run(tmp_path, "validate", str(tmp_path / "absent.yml"))
    assert no_file.returncode == 2 and "cannot read it" in no_file.stderr
