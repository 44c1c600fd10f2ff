"""Passwords: argon2id (argon2-cffi's current defaults), a minimum length, and rehashing on
sign-in when the defaults move on."""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_hasher = PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so a failed sign-in takes as long either way."""
    return _hasher.hash(secrets.token_urlsafe(16))


class PasswordError(ValueError):
    pass


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise PasswordError(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise PasswordError(f"a password has at most {MAX_LENGTH} characters")
    if len(set(password)) < 4:
        raise PasswordError("a password needs more than a few different characters")


def hash_password(password: str, check: bool = True) -> str:
    if check:
        check_strength(password)
    return _hasher.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def temporary_password() -> str:
    """A password an admin hands over once; the person must choose their own at first sign-in."""
    return secrets.token_urlsafe(12)
