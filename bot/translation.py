"""People's own words in English for officers, translated in the background.

The bot never waits on a translation service: a processed message in another language is
marked `pending`, and this job translates it later with deep-translator, through a cache so
the same words are paid for once. When the provider is unreachable the message is marked
`failed` with the reason, and tried again with backoff; the original is always kept.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.tables import Message, TranslationCache, utcnow

log = logging.getLogger(__name__)

PENDING, DONE, FAILED = "pending", "done", "failed"
Translate = Callable[[str, str], str]  # (text, source language) -> English


def needs_translation(body: str, language: str | None) -> bool:
    """Words worth translating: not English, and more than digits and punctuation."""
    return bool(language and language != "en" and any(c.isalpha() for c in body))


def make_translator(settings: Settings, target: str = "en") -> Translate | None:
    """The configured deep-translator client into `target`, or None when switched off."""
    provider = settings.translation_provider.lower()
    if provider == "none":
        return None

    def translate(text: str, source: str) -> str:
        from deep_translator import (
            DeeplTranslator,
            GoogleTranslator,
            LibreTranslator,
            MicrosoftTranslator,
        )

        key = settings.translation_api_key or None
        if provider == "google":
            client = GoogleTranslator(source=source, target=target)
        elif provider == "deepl":
            client = DeeplTranslator(source=source, target=target, api_key=key)
        elif provider == "microsoft":
            client = MicrosoftTranslator(source=source, target=target, api_key=key)
        elif provider == "libre":
            url = settings.translation_url.rstrip("/") + "/" if settings.translation_url else None
            client = LibreTranslator(source=source, target=target, api_key=key or "-",
                                     use_free_api=url is None, custom_url=url)
        else:
            raise ValueError(f"unknown TRANSLATION_PROVIDER {provider!r}")
        result = _within(settings.translation_timeout_seconds, client.translate, text)
        if not isinstance(result, str) or not result.strip():
            raise ValueError("empty translation")
        return result

    return translate


def _within(seconds: float, fn: Callable[[str], object], arg: str) -> object:
    """deep-translator sets no network timeout: wait in a daemon thread, give up after `seconds`."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = fn(arg)
        except Exception as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer from the translation provider in {seconds:.0f} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("result")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()


class Translations:
    def __init__(self, db: Database, settings: Settings, translate: Translate | None) -> None:
        self.db = db
        self.settings = settings
        self.translate = translate
        self.provider = settings.translation_provider.lower()

    def translate_due(self, now: datetime | None = None, limit: int = 20) -> int:
        """Translate pending (and failed, when due) messages. Returns how many were tried."""
        if self.translate is None:
            return 0
        now = now or utcnow()
        with self.db.read() as session:
            due = session.execute(
                select(Message.id, Message.body, Message.language, Message.translation_attempts)
                .where(Message.translation_status.in_([PENDING, FAILED]))
                .where((Message.translation_next_at.is_(None)) | (Message.translation_next_at <= now))
                .order_by(Message.id)
                .limit(limit)
            ).all()
        for message_id, body, language, attempts in due:
            self._one(message_id, body, language or "auto", attempts)
        return len(due)

    def _one(self, message_id: int, body: str, language: str, attempts: int) -> None:
        assert self.translate is not None
        digest = text_hash(body)
        with self.db.read() as session:
            cached = session.scalar(select(TranslationCache.text_en).where(
                TranslationCache.language == language, TranslationCache.text_hash == digest))
        if cached is None:
            try:
                cached = self.translate(body, language)
            except Exception as exc:  # any provider failure: keep the original, retry later
                self._failed(message_id, attempts, f"{type(exc).__name__}: {exc}"[:200])
                return
            try:
                with self.db.transaction() as session:
                    session.add(TranslationCache(language=language, text_hash=digest,
                                                 text_en=cached, provider=self.provider))
            except IntegrityError:
                pass  # translated by another worker meanwhile; same words, same answer
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is not None:
                message.text_en = cached
                message.translation_status = DONE
                message.translation_error = None
                message.translation_next_at = None

    def _failed(self, message_id: int, attempts: int, error: str) -> None:
        attempts += 1
        give_up = attempts >= self.settings.translation_max_attempts
        delay = min(6 * 3600.0, 30.0 * 2 ** attempts) * (0.5 + random.random())
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is None:
                return
            message.translation_status = FAILED
            message.translation_attempts = attempts
            message.translation_error = error
            # After the last attempt it is left alone: an officer can still read the original.
            message.translation_next_at = None if give_up else utcnow() + timedelta(seconds=delay)
            if give_up:
                message.translation_status = "gave_up"
        log.info("translation of message %s failed (attempt %d)", message_id, attempts)
