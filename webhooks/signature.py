"""Twilio request signatures, checked against the public URL (the app may sit behind a proxy
that rewrites host and scheme, so the URL the request arrived on is not the one Twilio signed)."""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator, get_signature_algorithm

SIGNATURE_HEADER = "X-Twilio-Signature"
SETTINGS_HEADER = "X-Twilio-Webhooks-Signature-Settings"


def signed_url(public_base_url: str, path: str, query: str) -> str:
    url = public_base_url.rstrip("/") + path
    return f"{url}?{query}" if query else url


def is_valid(
    token: str,
    url: str,
    params: Mapping[str, str],
    signature: str | None,
    settings_header: str | None = None,
) -> bool:
    if not signature or not token:
        return False
    algorithm = get_signature_algorithm(settings_header)
    return RequestValidator(token).validate(url, dict(params), signature, algorithm)


def sign(token: str, url: str, params: Mapping[str, str]) -> str:
    """What Twilio would send; used by `listening-bot chat`, the tests and the benchmark."""
    return RequestValidator(token).compute_signature(url, dict(params))
