"""The worker: inbound messages to Rasa, one contact at a time, in arrival order.

The database is the queue. Webhooks store a message and call `notify()`; the dispatcher
looks for contacts with unprocessed messages and gives each its own task, which feeds that
contact's messages to Rasa strictly one after another. Different contacts run concurrently.
A poll every few seconds picks up anything a lost notification or a restart left behind, so
a crash at any point loses nothing: a message stays "received" until the transaction that
stores its replies also marks it processed.

Replies are sent by the outbox loop here too, woken as soon as new replies are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from bot.inbox import RECEIVED
from bot.language import LanguageDetector
from bot.outbox import Outbox
from bot.rasa_client import escape_user_text, send_to_rasa, shortcut_message
from bot.storage.db import Database
from bot.storage.tables import Contact, Message
from bot.survey.shortcuts import shortcut
from bot.translation import Translations

log = logging.getLogger(__name__)

UNHANDLED = "unhandled"  # Rasa answered but no action took the message: kept, and logged


@dataclass(frozen=True)
class Pending:
    id: int
    body: str
    has_media: bool
    purpose: str | None
    sender: str  # the contact's pseudonym: Rasa never sees a phone number
    language: str | None


def rasa_text(item: Pending) -> str:
    """What Rasa gets: a `/intent{...}` shortcut when no understanding is needed, else the words."""
    if item.purpose and item.purpose.startswith("button:"):
        found = shortcut(item.purpose.removeprefix("button:"))
        if found:
            return shortcut_message(*found)
    if item.has_media and not item.body.strip():
        return shortcut_message("media", {})
    found = shortcut(item.body)
    if found:
        return shortcut_message(*found)
    return escape_user_text(item.body)


class Worker:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        detector: LanguageDetector,
        rasa_url: str,
        translations: Translations,
        poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.translations = translations
        self.detector = detector
        self.rasa_url = rasa_url
        self.poll_seconds = poll_seconds
        self.rasa_ready = asyncio.Event()
        self._inbound = asyncio.Event()
        self._outbound = asyncio.Event()
        self._active: dict[int, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        self._stop_translations = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0))
        await asyncio.to_thread(self.outbox.recover)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="inbound-dispatch"),
            asyncio.create_task(self._outbox_loop(), name="outbox"),
        ]
        threading.Thread(target=self._translation_loop, args=(self._stop_translations,),
                         name="translations", daemon=True).start()
        self.notify()
        self.notify_outbox()

    async def stop(self) -> None:
        self._stop_translations.set()
        for task in [*self._tasks, *self._active.values()]:
            task.cancel()
        for task in [*self._tasks, *self._active.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._http is not None:
            await self._http.aclose()

    def notify(self) -> None:
        self._inbound.set()

    def notify_outbox(self) -> None:
        """Thread-safe: called from the action handler's worker thread."""
        loop = self._tasks[0].get_loop() if self._tasks else None
        if loop is None:
            return
        loop.call_soon_threadsafe(self._outbound.set)

    # -- inbound ------------------------------------------------------------------------
    async def _dispatch_loop(self) -> None:
        await self.rasa_ready.wait()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._inbound.wait(), self.poll_seconds)
            self._inbound.clear()
            try:
                contact_ids = await asyncio.to_thread(self._contacts_with_pending)
            except Exception:
                log.exception("could not read pending messages")
                continue
            for contact_id in contact_ids:
                if contact_id not in self._active:
                    self._active[contact_id] = asyncio.create_task(self._drain(contact_id))

    def _contacts_with_pending(self) -> list[int]:
        with self.db.read() as session:
            rows = session.execute(
                select(Message.contact_id, Message.id)
                .where(Message.direction == "in", Message.status == RECEIVED)
                .order_by(Message.id)
            )
            return list(dict.fromkeys(contact_id for contact_id, _ in rows))

    def _next_pending(self, contact_id: int) -> Pending | None:
        with self.db.read() as session:
            row = session.execute(
                select(Message, Contact.public_id, Contact.language)
                .join(Contact, Contact.id == Message.contact_id)
                .where(
                    Message.contact_id == contact_id,
                    Message.direction == "in",
                    Message.status == RECEIVED,
                )
                .order_by(Message.id)
                .limit(1)
            ).first()
            if row is None:
                return None
            message, public_id, language = row
            return Pending(message.id, message.body, bool(message.media), message.purpose,
                           public_id, language)

    async def _drain(self, contact_id: int) -> None:
        look_again = True
        try:
            while (item := await asyncio.to_thread(self._next_pending, contact_id)) is not None:
                if not await self._process(item):
                    look_again = False
                    break  # Rasa unreachable: the message waits for the next poll
        except Exception:
            look_again = False
            log.exception("contact task failed; its messages wait for the next poll")
        finally:
            del self._active[contact_id]
            if look_again:  # a message may have arrived after our last look
                self._inbound.set()  # (not after a failure: that would retry in a tight loop)

    async def _process(self, item: Pending) -> bool:
        metadata: dict[str, object] = {"message_id": item.id}
        if item.language is None and item.body.strip():
            metadata["detected_language"] = await asyncio.to_thread(self.detector.detect, item.body)
        assert self._http is not None
        try:
            await send_to_rasa(self._http, self.rasa_url, item.sender, rasa_text(item), metadata)
        except (httpx.HTTPError, json.JSONDecodeError) as exc:
            log.warning("Rasa did not take message %s (%s); will retry", item.id, type(exc).__name__)
            return False
        await asyncio.to_thread(self._check_handled, item.id)
        return True

    def _check_handled(self, message_id: int) -> None:
        with self.db.read() as session:
            status = session.scalar(select(Message.status).where(Message.id == message_id))
        if status != RECEIVED:
            return
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is not None and message.status == RECEIVED:
                log.error("message %s was not handled by any action; marked unhandled", message_id)
                message.status = UNHANDLED

    # -- outbound -----------------------------------------------------------------------
    async def _outbox_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbound.wait(), self.poll_seconds)
            self._outbound.clear()
            try:
                sent = await asyncio.to_thread(self.outbox.send_due)
            except Exception:
                log.exception("outbox run failed; retrying on the next poll")
                continue
            if sent:
                self._outbound.set()  # there may be more, or retries now due

    # -- translations for officers (never on the reply path) --------------------------------
    def _translation_loop(self, stop: threading.Event) -> None:
        """A daemon thread: a provider that hangs can delay translations, never replies or
        shutdown."""
        while not stop.wait(max(2.0, self.poll_seconds)):
            try:
                while not stop.is_set() and self.translations.translate_due():
                    pass
            except Exception:
                log.exception("translation run failed; retrying later")
