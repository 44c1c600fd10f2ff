"""One set of filters for results, conversations, exports and the API: survey, version,
language, channel, a date range (UTC days, on when the conversation started) and completed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement

from bot.storage.tables import Conversation

CHANNELS = ("sms", "whatsapp")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_YES = {"yes", "true", "1"}
_NO = {"no", "false", "0"}


class FilterError(ValueError):
    pass


@dataclass(frozen=True)
class Filters:
    survey: str
    version: int | None = None
    language: str | None = None
    channel: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    completed: bool | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """WHERE clauses on `Conversation` (join it in any query that uses them)."""
        out: list[ColumnElement[bool]] = [Conversation.survey_id == self.survey]
        if self.version is not None:
            out.append(Conversation.survey_version == self.version)
        if self.language:
            out.append(Conversation.language == self.language)
        if self.channel:
            out.append(Conversation.channel == self.channel)
        if self.date_from:
            out.append(Conversation.started_at >= _day_start(self.date_from))
        if self.date_to:
            out.append(Conversation.started_at < _day_start(self.date_to + timedelta(days=1)))
        if self.completed is True:
            out.append(Conversation.completed_at.is_not(None))
        elif self.completed is False:
            out.append(Conversation.completed_at.is_(None))
        return out

    def params(self) -> dict[str, str]:
        """The filters as query parameters (only those set), for links that keep them."""
        raw = {
            "survey": self.survey,
            "version": "" if self.version is None else str(self.version),
            "language": self.language or "",
            "channel": self.channel or "",
            "from": self.date_from.isoformat() if self.date_from else "",
            "to": self.date_to.isoformat() if self.date_to else "",
            "completed": "" if self.completed is None else ("yes" if self.completed else "no"),
        }
        return {k: v for k, v in raw.items() if v}

    def query(self, **extra: str) -> str:
        return urlencode({**self.params(), **extra})

    def describe(self) -> dict[str, Any]:
        """For the audit log and the API's echo of what was asked."""
        return self.params()


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise FilterError(f"{name} must be a date like 2026-11-25, not {value!r}") from None


def parse(params: Mapping[str, str | None], surveys: Mapping[str, object],
          default_survey: str) -> Filters:
    """Filters from query parameters; empty values mean "any". Bad values raise FilterError."""
    def get(name: str) -> str:
        return (params.get(name) or "").strip()

    survey = get("survey") or default_survey
    if survey not in surveys:
        known = ", ".join(sorted(surveys)) or "none"
        raise FilterError(f"no survey {survey!r} (known: {known})")
    version = None
    if get("version"):
        if not get("version").isdigit() or int(get("version")) < 1:
            raise FilterError(f"version must be a whole number from 1, not {get('version')!r}")
        version = int(get("version"))
    language = get("language").lower() or None
    if language and not _LANGUAGE.match(language):
        raise FilterError(f"language must be a language code like 'pl', not {language!r}")
    channel = get("channel").lower() or None
    if channel and channel not in CHANNELS:
        raise FilterError(f"channel must be one of {', '.join(CHANNELS)}, not {channel!r}")
    date_from = _date(get("from"), "from") if get("from") else None
    date_to = _date(get("to"), "to") if get("to") else None
    if date_from and date_to and date_from > date_to:
        raise FilterError("'from' is after 'to'")
    completed = None
    if get("completed"):
        flag = get("completed").lower()
        if flag not in _YES | _NO:
            raise FilterError(f"completed must be yes or no, not {get('completed')!r}")
        completed = flag in _YES
    return Filters(survey, version, language, channel, date_from, date_to, completed)
