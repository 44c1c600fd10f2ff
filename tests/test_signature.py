"""Signature checking, with Twilio's own RequestValidator producing the signatures."""

from __future__ import annotations

from twilio.request_validator import RequestValidator

from webhooks.signature import is_valid, signed_url

TOKEN = "12345678901234567890123456789012"
PARAMS = {"MessageSid": "SM" + "a" * 32, "From": "+447700900123", "To": "+447700900000",
          "Body": "Dzień dobry 👋"}


def test_valid_signature_against_public_url():
    url = "https://bot.example.nhs.uk/webhooks/twilio/messages"
    signature = RequestValidator(TOKEN).compute_signature(url, PARAMS)
    assert is_valid(TOKEN, url, PARAMS, signature)


def test_signature_checked_against_public_url_not_internal_one():
    public = "https://bot.example.nhs.uk/webhooks/twilio/messages"
    signature = RequestValidator(TOKEN).compute_signature(public, PARAMS)
    # Behind a proxy the request arrives on http://127.0.0.1:8000/...; only the public URL works.
    assert not is_valid(TOKEN, "http://127.0.0.1:8000/webhooks/twilio/messages", PARAMS, signature)
    assert is_valid(TOKEN, signed_url("https://bot.example.nhs.uk/", "/webhooks/twilio/messages", ""),
                    PARAMS, signature)


def test_query_string_is_part_of_the_signed_url():
    url = signed_url("https://bot.example.nhs.uk", "/webhooks/twilio/messages", "channel=a")
    assert url.endswith("/messages?channel=a")
    signature = RequestValidator(TOKEN).compute_signature(url, PARAMS)
    assert is_valid(TOKEN, url, PARAMS, signature)


def test_changed_body_wrong_token_or_missing_signature_fail():
    url = "https://bot.example.nhs.uk/webhooks/twilio/messages"
    signature = RequestValidator(TOKEN).compute_signature(url, PARAMS)
    assert not is_valid(TOKEN, url, {**PARAMS, "Body": "changed"}, signature)
    assert not is_valid("another-token-000000000000000000", url, PARAMS, signature)
    assert not is_valid(TOKEN, url, PARAMS, None)
    assert not is_valid(TOKEN, url, PARAMS, "")
    assert not is_valid("", url, PARAMS, signature)


def test_sha256_signature_settings_header():
    url = "https://bot.example.nhs.uk/webhooks/twilio/messages"
    signature = RequestValidator(TOKEN).compute_signature(url, PARAMS, "HMAC_SHA256")
    assert is_valid(TOKEN, url, PARAMS, signature, "key=abc,algorithm=HMAC_SHA256")
    assert not is_valid(TOKEN, url, PARAMS, signature)
