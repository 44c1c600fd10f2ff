"""The outbox with the real twilio client against the local fake of Twilio's REST API, on a
real SQLite file: sent once, retried when it may pass, never twice after a crash."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.outbox import Outbox, apply_status_callback
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.phones import PhoneVault
from bot.storage.tables import Base, Contact, ContactEvent, Message, utcnow
from tests.fakes.twilio_api import FakeTwilio

SID, TOKEN = "AC" + "1" * 32, "outbox-test-token"
NUMBER = "+447700900555"


@pytest.fixture
def fake():
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


@pytest.fixture
def settings(tmp_path, fake) -> Settings:
    return Settings(data_dir=tmp_path, twilio_account_sid=SID, twilio_auth_token=TOKEN,
                    twilio_api_base_url=fake.url, public_base_url="https://bot.example.nhs.uk",
                    encryption_key="outbox-test-key", send_max_attempts=3)


@pytest.fixture
def db(settings):
    database = Database(settings)
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def add_reply(db: Database, settings: Settings, body: str = "Hello", channel: str = "sms",
              purpose: str | None = None, opted_out: bool = False,
              last_inbound_hours: float = 0) -> int:
    vault = PhoneVault(settings.fernet_key, settings.hash_key)
    with db.transaction() as s:
        contact = s.scalar(select(Contact).where(Contact.phone_hash == vault.lookup_hash(NUMBER)))
        if contact is None:
            contact = Contact(public_id="CTEST", phone_hash=vault.lookup_hash(NUMBER),
                              phone_encrypted=vault.encrypt(NUMBER))
            s.add(contact)
        contact.last_inbound_at = utcnow() - timedelta(hours=last_inbound_hours)
        contact.opted_out_at = utcnow() if opted_out else None
        s.flush()
        m = Message(contact_id=contact.id, direction="out", channel=channel,
                    our_address="+447700900000", body=body, status="pending", purpose=purpose)
        s.add(m)
        s.flush()
        return m.id


def outbox(db, settings) -> Outbox:
    return Outbox(db, settings, PhoneVault(settings.fernet_key, settings.hash_key))


def row(db, message_id) -> Message:
    with db.read() as s:
        return s.get(Message, message_id)


def test_sent_once_with_the_right_fields(db, settings, fake):
    mid = add_reply(db, settings, "Dzień dobry", channel="whatsapp")
    assert outbox(db, settings).send_due() == 1
    [sent] = fake.messages
    assert (sent.to, sent.from_, sent.body) == (f"whatsapp:{NUMBER}", "whatsapp:+447700900000", "Dzień dobry")
    assert sent.status_callback == "https://bot.example.nhs.uk/webhooks/twilio/status"
    assert row(db, mid).twilio_sid == sent.sid and row(db, mid).status == "queued"
    assert outbox(db, settings).send_due() == 0, "nothing left to send"


def test_server_error_is_retried_with_backoff_and_sent_once(db, settings, fake):
    mid = add_reply(db, settings)
    fake.fail_next = [500]
    box = outbox(db, settings)
    box.send_due()
    assert row(db, mid).status == "pending" and row(db, mid).next_attempt_at is not None
    assert box.send_due() == 0, "not due yet"
    box.send_due(now=utcnow() + timedelta(minutes=10))
    assert len(fake.messages) == 1 and row(db, mid).status == "queued"
    assert row(db, mid).attempts == 2


def test_gives_up_after_max_attempts(db, settings, fake):
    mid = add_reply(db, settings)
    fake.fail_next = [429, 503, 500]
    box = outbox(db, settings)
    for minutes in (0, 10, 20, 30):
        box.send_due(now=utcnow() + timedelta(minutes=minutes))
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "max_attempts"
    assert fake.messages == []


def test_carrier_opt_out_21610_marks_the_contact(db, settings, fake):
    mid = add_reply(db, settings)
    fake.unsubscribed.add(NUMBER)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "21610"
    with db.read() as s:
        contact = s.scalar(select(Contact))
        assert contact.opted_out_at is not None
        assert s.scalar(select(ContactEvent.kind)) == "carrier_opt_out"


def test_opted_out_gets_only_the_confirmation(db, settings, fake):
    blocked = add_reply(db, settings, "Next question", opted_out=True)
    confirmation = add_reply(db, settings, "You will not get more messages",
                             purpose="opt_out_confirmation", opted_out=True)
    outbox(db, settings).send_due()
    assert row(db, blocked).status == "failed" and row(db, blocked).error_code == "opted_out"
    assert [m.body for m in fake.messages] == ["You will not get more messages"]
    assert row(db, confirmation).status == "queued"


def test_whatsapp_outside_24_hours_is_not_sent(db, settings, fake):
    mid = add_reply(db, settings, channel="whatsapp", last_inbound_hours=25)
    outbox(db, settings).send_due()
    assert row(db, mid).error_code == "outside_24h_window" and fake.messages == []


def test_lost_answer_after_twilio_accepted_is_not_sent_again(db, settings, fake):
    mid = add_reply(db, settings, "Only once please")
    fake.drop_after_accept = 1
    box = outbox(db, settings)
    box.send_due()  # Twilio accepted; our side never saw the answer
    assert len(fake.messages) == 1
    assert row(db, mid).status in ("pending", "sending")
    # A crash here leaves it "sending"; simulate the restart's view of it.
    with db.transaction() as s:
        s.get(Message, mid).status = "sending"
    restarted = outbox(db, settings)
    restarted.recover()
    restarted.send_due(now=utcnow() + timedelta(minutes=10))
    assert len(fake.messages) == 1, "recover() found it at Twilio: no second send"
    assert row(db, mid).twilio_sid == fake.messages[0].sid


def test_in_doubt_message_twilio_never_got_is_sent_once(db, settings, fake):
    mid = add_reply(db, settings, "Never arrived")
    with db.transaction() as s:
        m = s.get(Message, mid)
        m.status, m.attempts = "sending", 1
    box = outbox(db, settings)
    box.recover()
    box.send_due()
    assert [m.body for m in fake.messages] == ["Never arrived"]
    assert row(db, mid).twilio_sid == fake.messages[0].sid


def test_status_callbacks_move_forward_only(db, settings, fake):
    mid = add_reply(db, settings)
    outbox(db, settings).send_due()
    sid = row(db, mid).twilio_sid
    for status in ("sent", "delivered", "sent", "read", "delivered"):
        assert apply_status_callback(db, {"MessageSid": sid, "MessageStatus": status})
    assert row(db, mid).status == "read"
    assert not apply_status_callback(db, {"MessageSid": "SMunknown", "MessageStatus": "sent"})


def test_status_callback_21610_opts_out(db, settings, fake):
    mid = add_reply(db, settings)
    outbox(db, settings).send_due()
    sid = row(db, mid).twilio_sid
    apply_status_callback(db, {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "21610"})
    assert row(db, mid).status == "failed"
    with db.read() as s:
        assert s.scalar(select(Contact)).opted_out_at is not None


def test_local_mode_sends_nothing(tmp_path, fake):
    settings = Settings(data_dir=tmp_path, encryption_key="k", twilio_api_base_url=fake.url)
    db = Database(settings)
    Base.metadata.create_all(db.engine)
    mid = add_reply(db, settings)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "local" and fake.messages == []
    db.dispose()


def test_a_retry_holds_the_persons_later_replies_in_order(db, settings, fake):
    first = add_reply(db, settings, "First")
    second = add_reply(db, settings, "Second")
    fake.fail_next = [503]
    box = outbox(db, settings)
    box.send_due()
    assert fake.messages == [], "the second reply does not overtake the first"
    assert row(db, second).status == "pending" and row(db, second).attempts == 0
    box.send_due(now=utcnow() + timedelta(minutes=10))
    assert [m.body for m in fake.messages] == ["First", "Second"]
    assert row(db, first).status == row(db, second).status == "queued"
