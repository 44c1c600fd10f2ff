"""Parsing Twilio's inbound message shapes, and the no-NLU text the worker sends Rasa."""

from __future__ import annotations

import pytest

from bot.worker import Pending, rasa_text
from tests.fakes.payloads import load
from webhooks.twilio_channel import parse_inbound


def test_sms():
    m = parse_inbound(load("sms_inbound"))
    assert (m.channel, m.sender, m.our_address, m.body) == ("sms", "+447700900123", "+447700900000", "Dzień dobry")
    assert m.media == [] and m.sid.startswith("SM")


def test_whatsapp_text():
    m = parse_inbound(load("whatsapp_inbound"))
    assert (m.channel, m.sender, m.our_address) == ("whatsapp", "+447700900123", "+447700900001")


def test_whatsapp_voice_note_keeps_media():
    m = parse_inbound(load("whatsapp_media_audio"))
    assert m.body == ""
    assert m.media == [{"url": load("whatsapp_media_audio")["MediaUrl0"], "content_type": "audio/ogg"}]
    item = Pending(1, m.body, bool(m.media), None, "C1", "en")
    assert rasa_text(item) == "/media"


def test_whatsapp_button_payload_needs_no_nlu():
    m = parse_inbound(load("whatsapp_button"))
    assert m.button_payload == "1"
    assert rasa_text(Pending(1, m.body, False, f"button:{m.button_payload}", "C1", "en")) == '/choose{"number": 1}'


@pytest.mark.parametrize(("body", "expected"), [
    ("٣", '/choose{"number": 3}'), ("STOP", "/stop"), ("/affirm", "affirm"),
    ("tak", "tak"), ("1, 3", '/choose{"numbers": [1, 3]}'),
])
def test_text_sent_to_rasa(body, expected):
    assert rasa_text(Pending(1, body, False, None, "C1", "pl")) == expected


@pytest.mark.parametrize("missing", ["MessageSid", "From", "To"])
def test_required_fields(missing):
    form = load("sms_inbound")
    form.pop(missing)
    if missing == "MessageSid":
        form.pop("SmsMessageSid")
    with pytest.raises(ValueError):
        parse_inbound(form)


def test_status_fixtures_have_what_the_callback_reads():
    for name, status in [("status_delivered", "delivered"), ("status_read_whatsapp", "read"),
                         ("status_failed_21610", "failed")]:
        form = load(name)
        assert form["MessageStatus"] == status and form["MessageSid"].startswith("SM")
    assert load("status_failed_21610")["ErrorCode"] == "21610"
