"""Load the recorded Twilio payload shapes in tests/fixtures/twilio/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"


def load(name: str, **overrides: str) -> dict[str, str]:
    body = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8").strip()
    form = dict(parse_qsl(body, keep_blank_values=True))
    form.update(overrides)
    return form
