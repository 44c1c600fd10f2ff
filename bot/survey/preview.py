"""Going through a survey as a person would, without a person: the console's chat simulator.

A preview runs a draft or a published version through the real survey engine, with each
message understood by the real Rasa model (`/model/parse`, which keeps no conversation in
Rasa) or by the same no-NLU shortcuts the worker uses (numbers, STOP, START). It writes
nothing: no contact, conversation, message or answer, so results and exports never see it.
Its state lives in memory in `Previews`, which forgets a preview after a while.

Replies carry their SMS cost (encoding and segments) when the channel is SMS.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.language import LanguageDetector
from bot.rasa_actions import LIST_ENTITIES
from bot.rasa_client import escape_user_text
from bot.sms import segments
from bot.survey.engine import Engine
from bot.survey.flow import Survey
from bot.survey.model import State, Turn
from bot.survey.shortcuts import shortcut

CHANNELS = ("sms", "whatsapp")


@dataclass(frozen=True)
class PreviewReply:
    text: str
    encoding: str | None = None  # SMS only: GSM-7 or UCS-2
    segments: int | None = None  # SMS only: what the message costs


@dataclass(frozen=True)
class PreviewTurn:
    said: str
    intent: str
    confidence: float
    replies: tuple[PreviewReply, ...]
    answer: tuple[str, str, Any] | None  # (question key, status, value) when one was stored
    stage: str | None
    question_key: str | None


@dataclass
class Preview:
    """One simulated person on one survey. `language`: the person's language as if they had
    chosen it (None: the engine's first-contact path, with the language menu)."""

    engine: Engine
    survey: Survey
    rasa_url: str
    channel: str = "sms"
    language: str | None = None
    detector: LanguageDetector | None = None  # a new person's first words, as the worker does
    state: State = field(init=False)
    turns: list[PreviewTurn] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {', '.join(CHANNELS)}")
        self.state = State(stage=None, language=self.language)

    def say(self, text: str, now: datetime | None = None) -> PreviewTurn:
        intent, confidence, entities = self._understand(text)
        detected = self.detector.detect(text) if self.detector is not None and \
            self.state.language is None else None
        turn = Turn(intent=intent, text=text, now=now or datetime.now(UTC),
                    confidence=confidence, entities=entities, detected_language=detected)
        out = self.engine.handle(self.state, turn, self.survey)
        self.state = out.state
        self.state.last_inbound_at = turn.now
        replies = tuple(self._reply(r.text) for r in out.replies)
        answer = (out.answer.question_key, out.answer.status, out.answer.value) if out.answer \
            else None
        done = PreviewTurn(text, intent, confidence, replies, answer, self.state.stage,
                           self.state.question_key)
        self.turns.append(done)
        return done

    def _reply(self, text: str) -> PreviewReply:
        if self.channel != "sms":
            return PreviewReply(text)
        encoding, count = segments(text)
        return PreviewReply(text, encoding, count)

    def _understand(self, text: str) -> tuple[str, float, dict[str, Any]]:
        """As the worker and Rasa would: a shortcut, else the model's intent and entities."""
        found = shortcut(text)
        if found is not None:
            return found[0], 1.0, dict(found[1])
        response = httpx.post(f"{self.rasa_url.rstrip('/')}/model/parse",
                              json={"text": escape_user_text(text)}, timeout=30.0)
        response.raise_for_status()
        parsed = response.json()
        entities: dict[str, Any] = {}
        for entity in parsed.get("entities") or []:
            name, value = str(entity.get("entity")), entity.get("value")
            if name in LIST_ENTITIES:
                entities.setdefault(name, []).extend(value if isinstance(value, list) else [value])
            else:
                entities[name] = value
        intent = parsed.get("intent") or {}
        return str(intent.get("name") or "nlu_fallback"), float(intent.get("confidence") or 0), \
            entities


class Previews:
    """The previews under way, by a random id; one unused for `ttl` seconds is forgotten."""

    def __init__(self, ttl: float = 1800.0) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[Preview, float]] = {}
        self._lock = threading.Lock()

    def start(self, preview: Preview) -> str:
        preview_id = secrets.token_urlsafe(12)
        with self._lock:
            self._sweep()
            self._items[preview_id] = (preview, time.monotonic())
        return preview_id

    def get(self, preview_id: str) -> Preview | None:
        with self._lock:
            self._sweep()
            found = self._items.get(preview_id)
            if found is None:
                return None
            self._items[preview_id] = (found[0], time.monotonic())
            return found[0]

    def end(self, preview_id: str) -> None:
        with self._lock:
            self._items.pop(preview_id, None)

    def __len__(self) -> int:
        with self._lock:
            self._sweep()
            return len(self._items)

    def _sweep(self) -> None:
        cutoff = time.monotonic() - self.ttl
        for key in [k for k, (_, used) in self._items.items() if used < cutoff]:
            del self._items[key]
