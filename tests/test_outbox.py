"""The outbox with the real twilio client against the local fake of Twilio's REST API, on a
real SQLite file: sent once, retried when it may pass, never twice after a crash."""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.outbox import STALE_AFTER, Outbox, apply_status_callback
from bot.settings import Settings
from bot.storage.db import Database
from bot.storage.phones import PhoneVault
from bot.storage.tables import Base, Contact, ContactEvent, Message, utcnow
from tests.fakes.payloads import load_fixture
from tests.fakes.twilio_api import FakeTwilio

SID, TOKEN = "AC" + "1" * 32, "outbox-test-token"
NUMBER = "+447700900555"
OURS = "+447700900000"
LATER = timedelta(minutes=10)  # past any backoff in these tests


@pytest.fixture
def fake():
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


def make_settings(tmp_path, api_url: str, **extra) -> Settings:
    values = dict(
        data_dir=tmp_path,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_api_base_url=api_url,
        public_base_url="https://bot.example.nhs.uk",
        encryption_key="outbox-test-key",
        send_max_attempts=3,
    )
    return Settings(**{**values, **extra})


@pytest.fixture
def settings(tmp_path, fake) -> Settings:
    return make_settings(tmp_path, fake.url)


@pytest.fixture
def db(settings):
    database = Database(settings)
    Base.metadata.create_all(database.engine)
    yield database
    database.dispose()


def add_reply(
    db: Database,
    settings: Settings,
    body: str = "Hello",
    channel: str = "sms",
    purpose: str | None = None,
    opted_out: bool = False,
    last_inbound_hours: float | None = 0,
) -> int:
    vault = PhoneVault(settings.fernet_key, settings.hash_key)
    with db.transaction() as s:
        contact = s.scalar(select(Contact).where(Contact.phone_hash == vault.lookup_hash(NUMBER)))
        if contact is None:
            contact = Contact(
                public_id="CTEST",
                phone_hash=vault.lookup_hash(NUMBER),
                phone_encrypted=vault.encrypt(NUMBER),
            )
            s.add(contact)
        contact.last_inbound_at = (
            None if last_inbound_hours is None else utcnow() - timedelta(hours=last_inbound_hours)
        )
        contact.opted_out_at = utcnow() if opted_out else None
        s.flush()
        m = Message(
            contact_id=contact.id,
            direction="out",
            channel=channel,
            our_address=OURS,
            body=body,
            status="pending",
            purpose=purpose,
        )
        s.add(m)
        s.flush()
        return m.id


def outbox(db, settings) -> Outbox:
    return Outbox(db, settings, PhoneVault(settings.fernet_key, settings.hash_key))


def row(db, message_id) -> Message:
    with db.read() as s:
        return s.get(Message, message_id)


def crash_mid_send(db, message_id) -> None:
    """What a process that died inside `client.messages.create` leaves behind."""
    with db.transaction() as s:
        m = s.get(Message, message_id)
        m.status, m.attempts, m.next_attempt_at, m.twilio_sid = "sending", 1, None, None


# -- sending --------------------------------------------------------------------------------
def test_sms_reply_sent_once_with_the_right_fields(db, settings, fake):
    mid = add_reply(db, settings, "Dzień dobry")
    assert outbox(db, settings).send_due() == 1
    [sent] = fake.wait_for(1, to=NUMBER)
    assert (sent.to, sent.from_, sent.body) == (NUMBER, OURS, "Dzień dobry")
    assert sent.status_callback == "https://bot.example.nhs.uk/webhooks/twilio/status"
    assert row(db, mid).twilio_sid == sent.sid and row(db, mid).status == "queued"
    assert row(db, mid).attempts == 1
    assert outbox(db, settings).send_due(now=utcnow() + LATER) == 0, "nothing left to send"
    assert fake.requests == 1


def test_whatsapp_reply_uses_whatsapp_addresses(db, settings, fake):
    add_reply(db, settings, "Hello", channel="whatsapp")
    outbox(db, settings).send_due()
    [sent] = fake.messages
    assert (sent.to, sent.from_) == (f"whatsapp:{NUMBER}", f"whatsapp:{OURS}")


def test_server_error_is_retried_with_backoff_and_sent_once(db, settings, fake):
    mid = add_reply(db, settings)
    fake.fail_next = [500]
    box = outbox(db, settings)
    box.send_due()
    assert row(db, mid).status == "pending" and row(db, mid).next_attempt_at > utcnow()
    assert box.send_due() == 0, "not due yet"
    box.send_due(now=utcnow() + LATER)
    assert len(fake.messages) == 1 and row(db, mid).status == "queued"
    assert row(db, mid).attempts == 2 and fake.requests == 2


def test_gives_up_after_max_attempts(db, settings, fake):
    mid = add_reply(db, settings)
    fake.fail_next = [429, 503, 500]
    box = outbox(db, settings)
    for minutes in (0, 10, 20, 30):
        box.send_due(now=utcnow() + timedelta(minutes=minutes))
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "max_attempts"
    assert fake.messages == [] and fake.requests == 3


def test_definite_refusal_fails_without_retry(db, settings, fake):
    mid = add_reply(db, settings)
    fake.fail_next = [(400, 21211, "The 'To' number is not a valid phone number.")]
    box = outbox(db, settings)
    box.send_due()
    box.send_due(now=utcnow() + LATER)
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "21211"
    assert fake.requests == 1 and fake.messages == []


def test_carrier_opt_out_21610_marks_the_contact(db, settings, fake):
    mid = add_reply(db, settings)
    fake.unsubscribed.add(NUMBER)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "21610"
    with db.read() as s:
        assert s.scalar(select(Contact)).opted_out_at is not None
        assert s.scalars(select(ContactEvent.kind)).all() == ["carrier_opt_out"]
    later = add_reply(db, settings, "Next question", opted_out=True)
    outbox(db, settings).send_due()
    assert row(db, later).error_code == "opted_out" and fake.requests == 1


def test_opted_out_gets_only_the_confirmation(db, settings, fake):
    blocked = add_reply(db, settings, "Next question", opted_out=True)
    confirmation = add_reply(
        db,
        settings,
        "You will not get more messages",
        purpose="opt_out_confirmation",
        opted_out=True,
    )
    outbox(db, settings).send_due()
    assert row(db, blocked).status == "failed" and row(db, blocked).error_code == "opted_out"
    assert [m.body for m in fake.messages] == ["You will not get more messages"]
    assert row(db, confirmation).status == "queued"


@pytest.mark.parametrize("hours", [25, None])
def test_whatsapp_outside_24_hours_is_not_sent(db, settings, fake, hours):
    mid = add_reply(db, settings, channel="whatsapp", last_inbound_hours=hours)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "outside_24h_window"
    assert fake.requests == 0


def test_sms_has_no_24_hour_window(db, settings, fake):
    mid = add_reply(db, settings, channel="sms", last_inbound_hours=72)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "queued"


def test_a_retry_holds_the_persons_later_replies_in_order(db, settings, fake):
    first = add_reply(db, settings, "First")
    second = add_reply(db, settings, "Second")
    fake.fail_next = [503]
    box = outbox(db, settings)
    box.send_due()
    box.send_due(now=utcnow() + timedelta(seconds=0.1))
    assert fake.messages == [], "the second reply does not overtake the first"
    assert row(db, second).status == "pending" and row(db, second).attempts == 0
    box.send_due(now=utcnow() + LATER)
    assert [m.body for m in fake.messages] == ["First", "Second"]
    assert row(db, first).status == row(db, second).status == "queued"


def test_local_mode_sends_nothing(tmp_path, fake):
    settings = Settings(data_dir=tmp_path, encryption_key="k", twilio_api_base_url=fake.url)
    assert settings.local_mode
    db = Database(settings)
    Base.metadata.create_all(db.engine)
    mid = add_reply(db, settings)
    outbox(db, settings).send_due()
    assert row(db, mid).status == "local" and fake.requests == 0 and fake.messages == []
    db.dispose()


# -- in doubt: lost answers and crashes ----------------------------------------------------------
def test_lost_answer_is_checked_at_twilio_not_sent_again(db, settings, fake):
    """Twilio accepted, the connection dropped before the answer: no crash, still once."""
    mid = add_reply(db, settings, "Only once please")
    fake.drop_after_accept = 1
    box = outbox(db, settings)
    box.send_due()
    assert len(fake.messages) == 1
    assert row(db, mid).status == "sending" and row(db, mid).next_attempt_at is not None
    box.send_due(now=utcnow() + LATER)
    assert len(fake.messages) == 1 and fake.requests == 1, "found at Twilio: no second send"
    assert row(db, mid).twilio_sid == fake.messages[0].sid and row(db, mid).status == "queued"


def test_crash_after_twilio_accepted_recover_adopts_it(db, settings, fake):
    mid = add_reply(db, settings, "Only once please")
    fake.drop_after_accept = 1
    outbox(db, settings).send_due()
    crash_mid_send(db, mid)  # the process died before it could record anything
    restarted = outbox(db, settings)
    assert restarted.recover() == 1, "SQLite: one process, every 'sending' row is a crash's"
    assert row(db, mid).twilio_sid == fake.messages[0].sid and row(db, mid).status == "queued"
    restarted.send_due(now=utcnow() + LATER)
    assert len(fake.messages) == 1 and fake.requests == 1


def test_crash_before_twilio_got_it_recover_sends_once(db, settings, fake):
    mid = add_reply(db, settings, "Never arrived")
    crash_mid_send(db, mid)
    box = outbox(db, settings)
    box.recover()
    assert row(db, mid).status == "pending"
    box.send_due()
    box.send_due(now=utcnow() + LATER)
    assert [m.body for m in fake.messages] == ["Never arrived"]
    assert row(db, mid).twilio_sid == fake.messages[0].sid and row(db, mid).attempts == 2


def test_recover_leaves_a_fresh_send_to_its_worker(db, settings, fake):
    """Several workers (PostgreSQL): another may be inside `create` right now. A young claim
    is left alone; once stale, `send_due` settles it."""
    mid = add_reply(db, settings)
    crash_mid_send(db, mid)
    box = outbox(db, settings)
    assert box.recover(grace=STALE_AFTER) == 0
    assert row(db, mid).status == "sending" and fake.requests == 0
    box.send_due()
    assert row(db, mid).status == "sending" and fake.requests == 0, "held while young"
    box.send_due(now=utcnow() + STALE_AFTER)
    assert [m.body for m in fake.messages] == ["Hello"]


def test_recover_does_not_mistake_an_earlier_identical_reply(db, settings, fake):
    first = add_reply(db, settings, "Sorry, I did not understand")
    outbox(db, settings).send_due()
    second = add_reply(db, settings, "Sorry, I did not understand")
    crash_mid_send(db, second)
    box = outbox(db, settings)
    box.recover()
    assert row(db, second).status == "pending", "the sid at Twilio is the first reply's"
    box.send_due()
    assert len(fake.messages) == 2
    assert {row(db, first).twilio_sid, row(db, second).twilio_sid} == {m.sid for m in fake.messages}


def test_twilio_unreachable_then_back(db, settings, tmp_path, fake):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    down = make_settings(tmp_path, f"http://127.0.0.1:{closed_port}")
    mid = add_reply(db, settings, "Hello")
    outbox(db, down).send_due()
    assert row(db, mid).status == "sending" and row(db, mid).next_attempt_at is not None
    outbox(db, settings).send_due(now=utcnow() + LATER)
    assert [m.body for m in fake.messages] == ["Hello"] and row(db, mid).status == "queued"


def test_logs_carry_no_number_or_body(db, settings, fake, caplog):
    caplog.set_level(logging.INFO)
    add_reply(db, settings, "Secret words")
    fake.drop_after_accept = 1
    box = outbox(db, settings)
    box.send_due()
    box.send_due(now=utcnow() + LATER)
    assert caplog.records, "the outbox does log"
    assert "7700900555" not in caplog.text and "Secret words" not in caplog.text


# -- status callbacks -----------------------------------------------------------------------
def sent_reply(db, settings, channel: str = "sms") -> tuple[int, str]:
    mid = add_reply(db, settings, channel=channel)
    outbox(db, settings).send_due()
    return mid, row(db, mid).twilio_sid


def test_status_callbacks_move_forward_only(db, settings, fake):
    mid, sid = sent_reply(db, settings, "whatsapp")
    for name in (
        "status_sent",
        "status_delivered",
        "status_sent",
        "status_read_whatsapp",
        "status_delivered",
    ):
        assert apply_status_callback(db, load_fixture(name, MessageSid=sid, SmsSid=sid))
    assert row(db, mid).status == "read"


def test_twilio_sending_status_is_not_our_sending(db, settings, fake):
    mid, sid = sent_reply(db, settings)
    apply_status_callback(db, {"MessageSid": sid, "MessageStatus": "sending"})
    assert row(db, mid).status == "queued"


def test_undelivered_keeps_the_error_code(db, settings, fake):
    mid, sid = sent_reply(db, settings)
    apply_status_callback(db, load_fixture("status_undelivered", MessageSid=sid, SmsSid=sid))
    assert (row(db, mid).status, row(db, mid).error_code) == ("undelivered", "30003")
    apply_status_callback(db, load_fixture("status_delivered", MessageSid=sid, SmsSid=sid))
    assert row(db, mid).status == "undelivered"


def test_unknown_sid_is_reported(db, settings, fake):
    assert not apply_status_callback(db, load_fixture("status_delivered"))
    assert not apply_status_callback(db, {"MessageSid": "SMx"})


def test_status_callback_21610_opts_out(db, settings, fake):
    mid, sid = sent_reply(db, settings)
    apply_status_callback(db, load_fixture("status_failed_21610", MessageSid=sid, SmsSid=sid))
    assert row(db, mid).status == "failed" and row(db, mid).error_code == "21610"
    with db.read() as s:
        assert s.scalar(select(Contact)).opted_out_at is not None
        assert s.scalar(select(ContactEvent.kind)) == "carrier_opt_out"
