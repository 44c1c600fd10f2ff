"""Load the recorded Twilio payload shapes in tests/fixtures/twilio/."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "twilio"


def load_fixture(name: str, **overrides: str) -> dict[str, str]:
    """The form Twilio posts, as a dict, with `overrides` replacing (or adding) fields.
    `name` is the file name without `.txt`, e.g. `load_fixture("sms_inbound", Body="STOP")`."""
    body = (FIXTURES / f"{name}.txt").read_text(encoding="utf-8").strip()
    form = dict(parse_qsl(body, keep_blank_values=True, strict_parsing=True))
    form.update(overrides)
    return form


load = load_fixture  # the name the earlier tests import
