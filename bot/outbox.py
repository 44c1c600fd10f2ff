"""The outbox: replies are stored first (as pending messages), then sent from here.

Never twice: a message is marked "sending" (committed) before Twilio is called, so after a
crash we know which sends are in doubt, and `recover()` asks Twilio whether each of those
arrived before sending it again. Failures that may pass (429, 5xx, the network) are retried
with exponential backoff; a definite refusal is final. Twilio's error 21610 means the person
opted out at their carrier: we honour it as STOP.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import requests
from sqlalchemy import select
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.phones import PhoneVault, channel_address
from bot.storage.tables import Contact, ContactEvent, Message, utcnow

log = logging.getLogger(__name__)

PENDING, SENDING, LOCAL, FAILED = "pending", "sending", "local", "failed"
CARRIER_OPT_OUT = "21610"
WHATSAPP_WINDOW = timedelta(hours=24)
# Delivery states only move forward; failed/undelivered cannot undo delivered or read.
RANK = {PENDING: 0, SENDING: 1, "accepted": 2, "queued": 2, "sending_twilio": 2, "sent": 3,
        "delivered": 4, "undelivered": 4, FAILED: 4, "read": 5}


class Outbox:
    """Sends to different people side by side; one person's replies strictly in order."""

    def __init__(self, db: Database, settings: Settings, vault: PhoneVault,
                 parallel: int = 4) -> None:
        self.db = db
        self.settings = settings
        self.vault = vault
        self._local = threading.local()
        self._pool = ThreadPoolExecutor(parallel, thread_name_prefix="outbox")

    @property
    def client(self) -> Client | None:
        """One twilio client per sending thread (its HTTP session is not shared)."""
        if self.settings.local_mode:
            return None
        client = getattr(self._local, "client", None)
        if client is None:
            client = Client(self.settings.twilio_account_sid, self.settings.twilio_auth_token)
            client.api.base_url = self.settings.twilio_api_base_url.rstrip("/")
            self._local.client = client
        return client

    @property
    def status_callback(self) -> str:
        return f"{self.settings.base_url}/webhooks/twilio/status"

    # -- sending ---------------------------------------------------------------------------
    def send_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Send pending messages that are due, oldest first. Returns how many were tried."""
        now = now or utcnow()
        with self.db.transaction() as session:
            due = list(session.scalars(
                select(Message)
                .where(Message.direction == "out", Message.status == PENDING)
                .where((Message.next_attempt_at.is_(None)) | (Message.next_attempt_at <= now))
                .order_by(Message.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ))
            by_contact: dict[int, list[int]] = {}
            for message in due:
                message.status = SENDING
                message.attempts += 1
                message.updated_at = now
                by_contact.setdefault(message.contact_id, []).append(message.id)
        jobs = [self._pool.submit(self._send_in_order, ids) for ids in by_contact.values()]
        for job in jobs:
            job.result()
        return len(due)

    def _send_in_order(self, message_ids: list[int]) -> None:
        for index, message_id in enumerate(message_ids):
            if not self._send(message_id):
                self._hold_behind(message_id, message_ids[index + 1 :])
                return

    def _hold_behind(self, waiting_id: int, claimed: list[int]) -> None:
        """A reply waits for a retry: the person's later replies wait behind it, in order."""
        with self.db.transaction() as session:
            waiting = session.get(Message, waiting_id)
            if waiting is None or waiting.next_attempt_at is None:
                return
            later = session.scalars(select(Message).where(
                Message.contact_id == waiting.contact_id, Message.direction == "out",
                Message.id > waiting_id, Message.status.in_([PENDING, SENDING])))
            for message in later:
                if message.status == SENDING and message.id in claimed:
                    message.attempts -= 1  # claimed but never tried
                if message.status == PENDING or message.id in claimed:
                    message.status = PENDING
                    message.next_attempt_at = max(message.next_attempt_at or waiting.next_attempt_at,
                                                  waiting.next_attempt_at)

    def _send(self, message_id: int) -> bool:
        """Try one message. False if it was put back for a retry."""
        with self.db.read() as session:
            message = session.get(Message, message_id)
            contact = session.get(Contact, message.contact_id) if message else None
        if message is None or contact is None:
            return True
        refusal = self._refusal(message, contact)
        if refusal:
            self._finish(message_id, FAILED, error_code=refusal)
            log.info("message %s not sent: %s", message_id, refusal)
            return True
        client = self.client
        if client is None:
            self._finish(message_id, LOCAL)
            return True
        number = self.vault.decrypt(contact.phone_encrypted)
        try:
            sent = client.messages.create(
                to=channel_address(message.channel, number),
                from_=channel_address(message.channel, message.our_address),
                body=message.body,
                status_callback=self.status_callback,
            )
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                return self._retry(message_id, message.attempts, f"http_{exc.status}")
            self._finish(message_id, FAILED, error_code=str(exc.code or exc.status))
            if str(exc.code) == CARRIER_OPT_OUT:
                mark_carrier_opt_out(self.db, contact.id)
            return True
        except (requests.RequestException, TwilioException) as exc:
            return self._retry(message_id, message.attempts, type(exc).__name__)
        self._finish(message_id, sent.status or "queued", sid=sent.sid)
        log.info("message %s sent: %s", message_id, sent.status)
        return True

    def _refusal(self, message: Message, contact: Contact) -> str | None:
        if contact.opted_out_at is not None and message.purpose != "opt_out_confirmation":
            return "opted_out"
        if message.channel == "whatsapp" and (
            contact.last_inbound_at is None or utcnow() - contact.last_inbound_at > WHATSAPP_WINDOW
        ):
            return "outside_24h_window"
        return None

    def _finish(self, message_id: int, status: str, sid: str | None = None,
                error_code: str | None = None) -> None:
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is None:
                return
            if sid:
                message.twilio_sid = sid
            if RANK.get(status, 2) >= RANK.get(message.status, 0) or message.status == SENDING:
                message.status = status
            message.error_code = error_code
            message.next_attempt_at = None

    def _retry(self, message_id: int, attempts: int, reason: str) -> bool:
        """Schedule another try with backoff; False (waiting), or True if it has given up."""
        if attempts >= self.settings.send_max_attempts:
            self._finish(message_id, FAILED, error_code="max_attempts")
            log.warning("message %s failed after %d attempts (%s)", message_id, attempts, reason)
            return True
        delay = min(300.0, 2.0 ** attempts) * (0.5 + random.random())
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is not None:
                message.status = PENDING
                message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.info("message %s will be retried in %.1f s (%s)", message_id, delay, reason)
        return False

    # -- after a crash -----------------------------------------------------------------------
    def recover(self) -> int:
        """Settle messages left "sending" by a crash: adopt what Twilio has, resend the rest."""
        with self.db.read() as session:
            in_doubt = list(session.scalars(
                select(Message).where(Message.direction == "out", Message.status == SENDING)))
            known = {sid for sid in session.scalars(select(Message.twilio_sid)) if sid}
        for message in in_doubt:
            found = self._find_at_twilio(message, known) if self.client else None
            if found is not None:
                known.add(found.sid)
                self._finish(message.id, found.status or "queued", sid=found.sid)
                log.info("message %s was sent before the restart; not sending again", message.id)
            else:
                with self.db.transaction() as session:
                    row = session.get(Message, message.id)
                    if row is not None and row.status == SENDING:
                        row.status = PENDING
        return len(in_doubt)

    def _find_at_twilio(self, message: Message, known: set[str]):  # noqa: ANN202 - twilio type
        assert self.client is not None
        with self.db.read() as session:
            contact = session.get(Contact, message.contact_id)
        if contact is None:
            return None
        since = message.updated_at - timedelta(seconds=5)
        to = channel_address(message.channel, self.vault.decrypt(contact.phone_encrypted))
        for candidate in self.client.messages.list(to=to, date_sent_after=since, limit=50):
            created = candidate.date_created
            if (candidate.sid not in known and candidate.body == message.body
                    and (created is None or created >= since - timedelta(seconds=1))):
                return candidate
        return None


def mark_carrier_opt_out(db: Database, contact_id: int) -> None:
    with db.transaction() as session:
        contact = session.get(Contact, contact_id)
        if contact is not None and contact.opted_out_at is None:
            contact.opted_out_at = utcnow()
            session.add(ContactEvent(contact_id=contact_id, kind="carrier_opt_out", detail=CARRIER_OPT_OUT))


def apply_status_callback(db: Database, form: dict[str, str]) -> bool:
    """Update an outbound message from Twilio's status callback; never moves backwards."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        return False
    with db.transaction() as session:
        message = session.scalar(select(Message).where(Message.twilio_sid == sid))
        if message is None:
            return False
        if RANK.get(status, 2) > RANK.get(message.status, 0):
            message.status = status
        if form.get("ErrorCode"):
            message.error_code = form["ErrorCode"]
        contact_id = message.contact_id
    if form.get("ErrorCode") == CARRIER_OPT_OUT:
        mark_carrier_opt_out(db, contact_id)
    return True
