"""The fake Twilio API answers as Twilio does, so tests that pass against it mean something:
authentication, errors, listing and paging, and status callbacks Twilio's own validator
accepts."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fakes.payloads import FIXTURES, load_fixture
from tests.fakes.twilio_api import FakeTwilio

SID, TOKEN = "AC" + "2" * 32, "fake-test-token"
TO, FROM = "+447700900777", "+447700900000"


@pytest.fixture
def fake():
    with FakeTwilio(account_sid=SID, auth_token=TOKEN) as fake:
        yield fake


def client(fake: FakeTwilio, token: str = TOKEN) -> Client:
    c = Client(SID, token)
    c.api.base_url = fake.url
    return c


def test_create_answers_with_the_message_resource(fake):
    m = client(fake).messages.create(to=TO, from_=FROM, body="Zażółć gęślą jaźń " * 5)
    assert m.sid.startswith("SM") and len(m.sid) == 34
    assert (m.status, m.direction, m.to, m.from_) == ("queued", "outbound-api", TO, FROM)
    assert m.num_segments == "2", "UCS-2: 90 characters is two segments"
    assert m.date_created is not None and m.date_sent is None and m.error_code is None
    assert client(fake).messages(m.sid).fetch().body == m.body


def test_wrong_credentials_get_401(fake):
    with pytest.raises(TwilioRestException) as caught:
        client(fake, "wrong").messages.create(to=TO, from_=FROM, body="x")
    assert (caught.value.status, caught.value.code) == (401, 20003)
    assert fake.messages == []


def test_injected_errors_have_twilio_codes(fake):
    fake.fail_next = [429, 500]
    fake.unsubscribed.add(TO)
    codes = []
    for _ in range(3):
        with pytest.raises(TwilioRestException) as caught:
            client(fake).messages.create(to=f"whatsapp:{TO}", from_=FROM, body="x")
        codes.append((caught.value.status, caught.value.code))
    assert codes == [(429, 20429), (500, 20500), (400, 21610)]


def test_list_filters_and_pages(fake):
    c = client(fake)
    sids = [c.messages.create(to=TO, from_=FROM, body=str(i)).sid for i in range(5)]
    c.messages.create(to="+447700900778", from_=FROM, body="other")
    listed = [m.sid for m in c.messages.stream(to=TO, page_size=2)]
    assert listed == sids[::-1], "all five, most recent first, over three pages"
    # DateSent is Twilio's filter on the *sent* date: queued messages have none yet.
    assert c.messages.list(to=TO, date_sent_after=fake.messages[0].created) == []
    fake.deliver(fake.messages[0], ("sent",))
    assert [
        m.sid for m in c.messages.list(to=TO, date_sent_after=fake.messages[0].created)
    ] == sids[:1]


def test_wait_for(fake):
    threading.Timer(0.1, lambda: client(fake).messages.create(to=TO, from_=FROM, body="hi")).start()
    assert [m.body for m in fake.wait_for(1, to=TO, timeout=5)] == ["hi"]
    with pytest.raises(TimeoutError):
        fake.wait_for(2, timeout=0.1)


def test_status_callbacks_are_signed_as_twilio_signs_them():
    received: list[tuple[str, dict[str, str], str]] = []

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, dict(parse_qsl(body)), self.headers["X-Twilio-Signature"]))
            self.send_response(204)
            self.end_headers()

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/twilio/status?x=1"
    try:
        with FakeTwilio(SID, TOKEN, send_callbacks=True) as fake:
            m = client(fake).messages.create(
                to=f"whatsapp:{TO}", from_=f"whatsapp:{FROM}", body="hi", status_callback=url
            )
            for _ in range(100):
                if len(received) == 2:
                    break
                threading.Event().wait(0.05)
    finally:
        server.shutdown()
    assert [form["MessageStatus"] for _, form, _ in received] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for _, form, signature in received:
        assert form["MessageSid"] == form["SmsSid"] == m.sid and form["AccountSid"] == SID
        assert validator.validate(url, form, signature)
        assert not RequestValidator("other").validate(url, form, signature)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.txt")), ids=lambda p: p.stem)
def test_fixtures_are_twilio_forms(path):
    form = load_fixture(path.stem, AccountSid=SID)
    assert form["AccountSid"] == SID and form["ApiVersion"] == "2010-04-01"
    assert form["MessageSid"] == form["SmsSid"] and form["MessageSid"][:2] in ("SM", "MM")
    assert all(
        n.startswith(("+447700900", "whatsapp:+447700900")) for n in (form["To"], form["From"])
    )
    if int(form.get("NumMedia", 0)):
        assert form["MediaUrl0"].startswith("https://api.twilio.com/") and form["MediaContentType0"]
