"""`listening-bot chat`: a terminal phone for trying the bot.

It talks to the running bot exactly as Twilio would (a signed webhook POST) and shows the
replies the bot stored for this number, so what you see is what a person would get.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterable
from typing import TextIO

import httpx
from sqlalchemy import select

from bot.inbox import find_contact
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.phones import PhoneVault, channel_address
from bot.storage.tables import Message
from webhooks.signature import SIGNATURE_HEADER, sign

WEBHOOK_PATH = "/webhooks/twilio/messages"


class Phone:
    def __init__(self, settings: Settings, number: str, channel: str, our_number: str) -> None:
        self.settings = settings
        self.number = number
        self.channel = channel
        self.our_number = our_number
        self.db = Database(settings)
        self.vault = PhoneVault(settings.fernet_key, settings.hash_key)
        self.http = httpx.Client(timeout=10.0)
        self.seen = self._last_reply_id()

    def send(self, body: str) -> None:
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "SmsMessageSid": "",
            "AccountSid": self.settings.twilio_account_sid or "AC" + "0" * 32,
            "From": channel_address(self.channel, self.number),
            "To": channel_address(self.channel, self.our_number),
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": "2010-04-01",
        }
        params["SmsMessageSid"] = params["MessageSid"]
        url = self.settings.base_url + WEBHOOK_PATH
        signature = sign(self.settings.webhook_auth_token, url, params)
        response = self.http.post(url, data=params, headers={SIGNATURE_HEADER: signature})
        response.raise_for_status()

    def _last_reply_id(self) -> int:
        with self.db.read() as session:
            contact = find_contact(session, self.vault, self.number)
            if contact is None:
                return 0
            return session.scalar(
                select(Message.id).where(Message.contact_id == contact.id)
                .order_by(Message.id.desc()).limit(1)
            ) or 0

    def replies(self) -> list[str]:
        with self.db.read() as session:
            contact = find_contact(session, self.vault, self.number)
            if contact is None:
                return []
            found = session.execute(
                select(Message.id, Message.body).where(
                    Message.contact_id == contact.id, Message.direction == "out",
                    Message.id > self.seen,
                ).order_by(Message.id)
            ).all()
        if found:
            self.seen = found[-1][0]
        return [body for _, body in found]

    def wait_for_replies(self, timeout: float, settle: float = 1.0) -> list[str]:
        """Collect replies until none has come for `settle` seconds after the first one."""
        got: list[str] = []
        deadline = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < deadline:
            new = self.replies()
            if new:
                got.extend(new)
                quiet_since = time.monotonic()
            elif got and quiet_since and time.monotonic() - quiet_since >= settle:
                break
            time.sleep(0.1)
        return got


def run(phone: Phone, lines: Iterable[str], out: TextIO, timeout: float, interactive: bool) -> int:
    out.write(f"Texting the bot at {phone.settings.base_url} as {phone.channel}. "
              "Type a message; Ctrl-D to quit.\n")
    for line in lines:
        body = line.rstrip("\n")
        if not interactive:
            out.write(f"> {body}\n")
        try:
            phone.send(body)
        except httpx.HTTPError as exc:
            out.write(f"! could not reach the bot: {exc}\n")
            return 1
        replies = phone.wait_for_replies(timeout)
        if not replies:
            out.write("(no reply)\n")
        for reply in replies:
            out.write("\n".join(f"< {part}" for part in reply.splitlines()) + "\n")
        out.flush()
        if interactive:
            out.write("> ")
            out.flush()
    return 0


def input_lines() -> Iterable[str]:
    if sys.stdin.isatty():
        sys.stdout.write("> ")
        sys.stdout.flush()
    yield from sys.stdin
