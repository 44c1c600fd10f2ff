"""Shared fixtures: the trained Rasa model (trained once per session if its sources changed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import rasa_runtime
from bot.settings import Settings


@pytest.fixture(scope="session")
def rasa_model() -> Path:
    settings = Settings()
    if not rasa_runtime.is_model_current(settings):
        rasa_runtime.train(settings, print)
    return rasa_runtime.model_path(settings)
