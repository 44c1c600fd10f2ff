"""The outbox: replies are stored first (as pending messages), then sent from here.

Never twice. A message is marked "sending" (committed) before Twilio is called. If the call
ends without an answer (a crash, a dropped connection, a timeout), Twilio may or may not have
the message: it stays "sending" and is *in doubt*, and before it is sent again we ask Twilio
whether it arrived (`_settle`). `recover()` does this at start-up; `send_due()` does it for
doubts that are due, so a lost answer without a crash is no more likely to be sent twice.

Failures that may pass (429, 5xx) are retried with exponential backoff and jitter; a definite
refusal (other 4xx) is final. Twilio's error 21610 means the person opted out at their
carrier: we honour it as STOP. One person's replies go strictly in order: a reply waiting for
a retry holds back that person's later replies.

States of an outbound message:
  pending (next_attempt_at null or due) -> sending -> queued/sent/delivered/read | failed
  sending with next_attempt_at null = in flight; with next_attempt_at set = in doubt.
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import requests
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import aliased
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.rest.api.v2010.account.message import MessageInstance

from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.phones import WHATSAPP_PREFIX, PhoneVault, channel_address
from bot.storage.tables import Contact, ContactEvent, Message, utcnow

log = logging.getLogger(__name__)
# The twilio client logs query strings (a phone number, in a lookup) at INFO: keep it quiet.
_twilio_http_log = logging.getLogger("bot.outbox.twilio_http")
_twilio_http_log.setLevel(logging.WARNING)

PENDING, SENDING, LOCAL, FAILED = "pending", "sending", "local", "failed"
OPT_OUT_CONFIRMATION = "opt_out_confirmation"
CARRIER_OPT_OUT = "21610"
WHATSAPP_WINDOW = timedelta(hours=24)
HTTP_TIMEOUT = 15.0  # seconds for each connect and read: a hung Twilio must not hang the outbox
STALE_AFTER = timedelta(seconds=4 * HTTP_TIMEOUT)  # "sending" this long: its sender is gone
CLOCK_SKEW = timedelta(minutes=5)  # our clock against Twilio's, when matching by date
LOOKUP_LIMIT = 200  # newest messages to one person searched for an in-doubt send
MAX_BACKOFF = 300.0

# Delivery states only move forward; failed/undelivered cannot undo delivered or read.
RANK = {
    PENDING: 0,
    SENDING: 1,
    "queued": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    FAILED: 4,
    "canceled": 4,
    "read": 5,
}
# Twilio's own names for "Twilio has it, not sent yet"; ours would be ambiguous ("sending").
_TWILIO_QUEUED = {"accepted", "scheduled", "queued", "sending"}


def normalise_status(twilio_status: str | None) -> str:
    status = (twilio_status or "queued").lower()
    return "queued" if status in _TWILIO_QUEUED else status


class Outbox:
    """Sends to different people side by side; one person's replies strictly in order.

    Synchronous (the twilio client uses requests): run its methods in a thread from async code.
    """

    def __init__(
        self, db: Database, settings: Settings, vault: PhoneVault, parallel: int = 4
    ) -> None:
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
            http = TwilioHttpClient(timeout=HTTP_TIMEOUT, logger=_twilio_http_log)
            client = Client(
                self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=http
            )
            client.api.base_url = self.settings.twilio_api_base_url.rstrip("/")
            self._local.client = client
        return client

    @property
    def status_callback(self) -> str:
        return f"{self.settings.base_url}/webhooks/twilio/status"

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    # -- sending ---------------------------------------------------------------------------
    def send_due(self, now: datetime | None = None, limit: int = 50) -> int:
        """Settle due doubts, then send pending messages that are due, oldest first.
        Returns how many messages were claimed for sending."""
        now = now or utcnow()
        self._settle_due(now)
        earlier = aliased(Message)
        held_back = exists().where(  # an earlier reply to the same person is not settled yet
            earlier.contact_id == Message.contact_id,
            earlier.direction == "out",
            earlier.id < Message.id,
            or_(
                earlier.status == SENDING,
                and_(earlier.status == PENDING, earlier.next_attempt_at > now),
            ),
        )
        with self.db.transaction() as session:
            due = list(
                session.scalars(
                    select(Message)
                    .where(Message.direction == "out", Message.status == PENDING)
                    .where(or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now))
                    .where(~held_back)
                    .order_by(Message.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            by_contact: dict[int, list[int]] = {}
            for message in due:
                message.status = SENDING
                message.attempts += 1
                message.next_attempt_at = None
                message.updated_at = now
                by_contact.setdefault(message.contact_id, []).append(message.id)
        jobs = [self._pool.submit(self._send_in_order, ids) for ids in by_contact.values()]
        for job in jobs:
            job.result()
        return len(due)

    def _send_in_order(self, message_ids: list[int]) -> None:
        for index, message_id in enumerate(message_ids):
            if not self._send(message_id):
                self._release(message_ids[index + 1 :])
                return

    def _release(self, claimed: list[int]) -> None:
        """Claimed but not tried (an earlier reply waits for a retry): back to pending, where
        the earlier one holds them back until it is settled."""
        if not claimed:
            return
        with self.db.transaction() as session:
            for message in session.scalars(select(Message).where(Message.id.in_(claimed))):
                if message.status == SENDING and message.next_attempt_at is None:
                    message.status = PENDING
                    message.attempts -= 1

    def _send(self, message_id: int) -> bool:
        """Try one claimed message. False if it waits for a retry (or a check at Twilio)."""
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
                from_=_our_address(message),
                body=message.body,
                status_callback=self.status_callback,
            )
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                return self._retry(message_id, message.attempts, f"http_{exc.status}")
            code = str(exc.code or exc.status)
            self._finish(message_id, FAILED, error_code=code)
            log.warning("message %s refused by Twilio: error %s", message_id, code)
            if code == CARRIER_OPT_OUT:
                mark_carrier_opt_out(self.db, contact.id)
            return True
        except (requests.RequestException, TwilioException) as exc:
            # Twilio may have the message: check there before sending it again.
            return self._retry(message_id, message.attempts, type(exc).__name__, in_doubt=True)
        self._finish(message_id, normalise_status(sent.status), sid=sent.sid)
        log.info("message %s accepted by Twilio: %s", message_id, sent.status)
        return True

    def _refusal(self, message: Message, contact: Contact) -> str | None:
        if contact.opted_out_at is not None and message.purpose != OPT_OUT_CONFIRMATION:
            return "opted_out"
        if message.channel == "whatsapp" and (
            contact.last_inbound_at is None or utcnow() - contact.last_inbound_at > WHATSAPP_WINDOW
        ):
            return "outside_24h_window"  # WhatsApp refuses free-form messages after 24 hours
        return None

    def _finish(
        self, message_id: int, status: str, sid: str | None = None, error_code: str | None = None
    ) -> None:
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is None:
                return
            if sid:
                message.twilio_sid = sid
            # A status callback may already have moved it further: keep the furthest.
            if message.status in (PENDING, SENDING) or RANK.get(status, 2) >= RANK.get(
                message.status, 0
            ):
                message.status = status
            message.error_code = error_code
            message.next_attempt_at = None

    def _retry(self, message_id: int, attempts: int, reason: str, in_doubt: bool = False) -> bool:
        """Schedule another try with backoff; False (waiting), or True if it has given up.
        In doubt, the message stays "sending" and is looked up at Twilio when due."""
        if attempts >= self.settings.send_max_attempts and not in_doubt:
            self._finish(message_id, FAILED, error_code="max_attempts")
            log.warning("message %s failed after %d attempts (%s)", message_id, attempts, reason)
            return True
        delay = backoff(attempts)
        with self.db.transaction() as session:
            message = session.get(Message, message_id)
            if message is not None:
                message.status = SENDING if in_doubt else PENDING
                message.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.info(
            "message %s: %s; %s in %.1f s",
            message_id,
            reason,
            "checking Twilio" if in_doubt else "retrying",
            delay,
        )
        return False

    # -- in doubt: after a crash or a lost answer -------------------------------------------
    def recover(self, now: datetime | None = None, grace: timedelta | None = None) -> int:
        """At start-up: settle messages a crash left "sending" (adopt what Twilio has, send
        the rest again). Returns how many were settled.

        `grace`: how old a claim must be to count as abandoned. On SQLite the app is one
        process, so at start-up every "sending" row is a crash's: none (settle all now). On
        PostgreSQL other workers may be inside `create` right now: STALE_AFTER; `send_due`
        settles the younger ones once they are that old."""
        if grace is None:
            grace = timedelta(0) if self.db.engine.dialect.name == "sqlite" else STALE_AFTER
        return self._settle_due(now or utcnow(), grace)

    def _settle_due(self, now: datetime, stale_after: timedelta = STALE_AFTER) -> int:
        with self.db.read() as session:
            in_doubt = list(
                session.scalars(
                    select(Message.id)
                    .where(Message.direction == "out", Message.status == SENDING)
                    .where(
                        or_(
                            Message.next_attempt_at <= now,
                            and_(
                                Message.next_attempt_at.is_(None),
                                Message.updated_at <= now - stale_after,
                            ),
                        )
                    )
                    .order_by(Message.id)
                )
            )
        for message_id in in_doubt:
            self._settle(message_id)
        return len(in_doubt)

    def _settle(self, message_id: int) -> None:
        with self.db.read() as session:
            message = session.get(Message, message_id)
            contact = session.get(Contact, message.contact_id) if message else None
        if message is None or contact is None or message.status != SENDING:
            return
        client = self.client
        if client is None:  # local mode: nothing can have left
            self._back_to_pending(message_id, message.attempts)
            return
        try:
            found = self._find_at_twilio(client, message, contact)
        except (requests.RequestException, TwilioException) as exc:
            self._retry(message_id, message.attempts, f"lookup {type(exc).__name__}", in_doubt=True)
            return
        if found is not None:
            self._finish(message_id, normalise_status(found.status), sid=found.sid)
            log.info("message %s had reached Twilio; not sending it again", message_id)
        elif message.attempts >= self.settings.send_max_attempts:
            self._finish(message_id, FAILED, error_code="max_attempts")
            log.warning("message %s failed after %d attempts", message_id, message.attempts)
        elif self._back_to_pending(message_id, message.attempts):
            log.info("message %s never reached Twilio; sending it again", message_id)

    def _back_to_pending(self, message_id: int, attempts: int) -> bool:
        """Only if nobody settled and claimed it meanwhile (another worker settling the same
        doubt): a claim adds an attempt, so an unchanged count means still ours to release."""
        with self.db.transaction() as session:
            message = session.get(Message, message_id, with_for_update=True)
            if message is None or message.status != SENDING or message.attempts != attempts:
                return False
            message.status = PENDING
            message.next_attempt_at = None
            return True

    def _find_at_twilio(
        self, client: Client, message: Message, contact: Contact
    ) -> MessageInstance | None:
        """The Twilio message that is this one: same To, From and body, created since we
        stored it, and not already another row's. Not filtered by DateSent: a message Twilio
        still has queued has no sent date yet, and that is just the case to catch."""
        to = channel_address(message.channel, self.vault.decrypt(contact.phone_encrypted))
        since = message.created_at - CLOCK_SKEW
        for candidate in client.messages.stream(to=to, limit=LOOKUP_LIMIT, page_size=50):
            created = candidate.date_created
            if created is not None and created < since:
                continue
            if candidate.body != message.body or candidate.from_ != _our_address(message):
                continue
            with self.db.read() as session:
                if session.scalar(select(Message.id).where(Message.twilio_sid == candidate.sid)):
                    continue  # an earlier reply with the same words
            return candidate
        return None


def backoff(attempts: int) -> float:
    """Seconds before the next try: 2, 4, 8… capped at five minutes, with ±50% jitter so
    many retries after one outage do not arrive together."""
    return min(MAX_BACKOFF, 2.0**attempts) * (0.5 + random.random())


def _our_address(message: Message) -> str:
    address = message.our_address
    if address.lower().startswith(WHATSAPP_PREFIX):
        return address
    return channel_address(message.channel, address)


def mark_carrier_opt_out(db: Database, contact_id: int) -> None:
    """Error 21610: the person sent STOP to the carrier. No more messages until START."""
    with db.transaction() as session:
        contact = session.get(Contact, contact_id)
        if contact is not None and contact.opted_out_at is None:
            contact.opted_out_at = utcnow()
            session.add(
                ContactEvent(contact_id=contact_id, kind="carrier_opt_out", detail=CARRIER_OPT_OUT)
            )
    log.info("contact %s opted out at the carrier (error 21610)", contact_id)


def apply_status_callback(db: Database, form: dict[str, str]) -> bool:
    """Update an outbound message from Twilio's status callback; never moves backwards
    (callbacks can arrive out of order: a late "sent" after "delivered" is ignored).
    False if no outbound message has that sid."""
    sid = form.get("MessageSid") or form.get("SmsSid")
    reported = form.get("MessageStatus") or form.get("SmsStatus")
    if not sid or not reported:
        return False
    status = normalise_status(reported)
    error_code = form.get("ErrorCode") or None
    with db.transaction(urgent=True) as session:  # a webhook: Twilio waits for it
        message = session.scalar(
            select(Message).where(Message.twilio_sid == sid, Message.direction == "out")
        )
        if message is None:
            return False
        if RANK.get(status, 2) > RANK.get(message.status, 0):
            message.status = status
            if error_code:
                message.error_code = error_code
        contact_id, message_id, current = message.contact_id, message.id, message.status
    log.info("message %s status %s (callback said %s)", message_id, current, status)
    if error_code == CARRIER_OPT_OUT:
        mark_carrier_opt_out(db, contact_id)
    return True
