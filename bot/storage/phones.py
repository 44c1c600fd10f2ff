"""Phone numbers: encrypted at rest, found by keyed hash, never logged.

A WhatsApp address (`whatsapp:+44...`) and an SMS address for the same number are the same
person, so both hash to the same contact; the channel travels with each message instead.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet

WHATSAPP_PREFIX = "whatsapp:"


def split_address(address: str) -> tuple[str, str]:
    """`whatsapp:+447700900123` -> ("whatsapp", "+447700900123"); `+44...` -> ("sms", ...)."""
    address = address.strip()
    if address.lower().startswith(WHATSAPP_PREFIX):
        return "whatsapp", address[len(WHATSAPP_PREFIX) :].strip()
    return "sms", address


def channel_address(channel: str, number: str) -> str:
    return f"{WHATSAPP_PREFIX}{number}" if channel == "whatsapp" else number


class PhoneVault:
    def __init__(self, fernet_key: bytes, hash_key: bytes) -> None:
        self._fernet = Fernet(fernet_key)
        self._hash_key = hash_key

    def lookup_hash(self, number: str) -> str:
        return hmac.new(self._hash_key, number.encode(), hashlib.sha256).hexdigest()

    def encrypt(self, number: str) -> bytes:
        return self._fernet.encrypt(number.encode())

    def decrypt(self, token: bytes) -> str:
        return self._fernet.decrypt(token).decode()
