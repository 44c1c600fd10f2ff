"""A local fake of Twilio's REST API (Messages), speaking the real protocol so the real
`twilio` client works against it unchanged: the tests and the benchmark exercise our real
sending code, retries and crash recovery without a Twilio account or the internet.

    with FakeTwilio(account_sid=..., auth_token=...) as fake:
        client = Client(sid, token); client.api.base_url = fake.url

Or as its own process (the benchmark): `python -m tests.fakes.twilio_api --port N --auth-token T`
prints its URL on the first line and runs until killed.

What it models, after Twilio's Message resource: `POST .../Messages.json` (Basic auth with the
account SID and auth token; 201 with the message resource, status "queued", date_sent null),
`GET .../Messages/{Sid}.json`, and `GET .../Messages.json` filtered by To, From and DateSent
(a *date* filter on the sent date, as Twilio documents it, so a message still queued has no
sent date and is not matched) and paged with `next_page_uri`. Failure injection: `fail_next`,
`unsubscribed` (error 21610), `drop_after_accept` (Twilio has the message; the client never
hears). Status callbacks: `deliver()` (or `send_callbacks=True`) posts signed callbacks.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import httpx
from twilio.request_validator import RequestValidator

from bot.sms import segments

API = "2010-04-01"
MESSAGES = re.compile(
    rf"^/{API}/Accounts/(?P<account>AC\w+)/Messages(?:/(?P<sid>(?:SM|MM)\w+))?\.json$"
)
# Injected failures: an HTTP status alone (500, 503, 429) or (status, Twilio code, message).
Failure = int | tuple[int, int, str]
_GENERIC = {
    429: (20429, "Too Many Requests"),
    500: (20500, "Internal Server Error"),
    502: (20500, "Bad Gateway"),
    503: (20503, "Service Unavailable"),
    400: (21211, "The 'To' number is not a valid phone number."),
}


@dataclass
class FakeMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    created: datetime
    arrived: float  # time.perf_counter() when the request came in
    status: str = "queued"
    media_urls: list[str] = field(default_factory=list)
    date_sent: datetime | None = None
    error_code: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def resource(self, account_sid: str) -> dict[str, Any]:
        """The JSON Twilio returns for a Message (API 2010-04-01), field for field."""
        uri = f"/{API}/Accounts/{account_sid}/Messages/{self.sid}"
        whatsapp = self.to.startswith("whatsapp:")
        return {
            "account_sid": account_sid,
            "api_version": API,
            "body": self.body,
            "date_created": format_datetime(self.created),
            "date_sent": format_datetime(self.date_sent) if self.date_sent else None,
            "date_updated": format_datetime(self.date_sent or self.created),
            "direction": "outbound-api",
            "error_code": self.error_code,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": str(len(self.media_urls)),
            "num_segments": "1" if whatsapp else str(segments(self.body)[1]),
            "price": None,
            "price_unit": "GBP",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": self.to,
            "uri": f"{uri}.json",
        }


def _error(
    status: int, code: int, message: str, detail: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Twilio's error body: what `TwilioRestException` reads (code, message, status)."""
    payload: dict[str, Any] = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    if detail:
        payload["detail"] = detail
    return status, payload


def _not_found() -> tuple[int, dict[str, Any]]:
    return _error(404, 20404, "The requested resource was not found")


def _bare(address: str) -> str:
    return address.removeprefix("whatsapp:")


class FakeTwilio:
    def __init__(
        self, account_sid: str, auth_token: str, port: int = 0, send_callbacks: bool = False
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.send_callbacks = send_callbacks
        self.messages: list[FakeMessage] = []
        self.requests = 0  # POSTs that passed authentication
        self.fail_next: list[Failure] = []  # failures for the next POSTs, in order
        self.unsubscribed: set[str] = set()  # To numbers answered with error 21610
        self.drop_after_accept = 0  # accept, then drop the connection (lost answer)
        self.callbacks_posted: list[dict[str, str]] = []
        self._cond = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    # -- control -----------------------------------------------------------------------------
    def __enter__(self) -> FakeTwilio:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def snapshot(self) -> list[FakeMessage]:
        with self._cond:
            return list(self.messages)

    def messages_to(self, to: str) -> list[FakeMessage]:
        """Accepted messages to `to`: a full address (`whatsapp:+44…`) or a bare number."""
        return [m for m in self.snapshot() if to in (m.to, _bare(m.to))]

    def wait_for(
        self, count: int, to: str | None = None, timeout: float = 5.0
    ) -> list[FakeMessage]:
        """Wait until `count` messages (to `to`, if given) were accepted; TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                mine = [m for m in self.messages if to is None or to in (m.to, _bare(m.to))]
                if len(mine) >= count:
                    return mine
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(mine)} of {count} messages after {timeout} s")
                self._cond.wait(left)

    def wait_for_new(self, to: str, seen: int, timeout: float) -> float | None:
        """Wait until `to` has more than `seen` messages; the arrival time of the next one."""
        try:
            return self.wait_for(seen + 1, to, timeout)[seen].arrived
        except TimeoutError:
            return None

    def deliver(
        self,
        message: FakeMessage,
        statuses: tuple[str, ...] = ("sent", "delivered"),
        error_code: str | None = None,
    ) -> None:
        """Move `message` through `statuses`, POSTing each status callback as Twilio does:
        form fields signed with X-Twilio-Signature over the callback URL."""
        for status in statuses:
            with self._cond:
                message.status = status
                if status in ("sent", "delivered", "read", "undelivered") and not message.date_sent:
                    message.date_sent = datetime.now(UTC)
                if error_code:
                    message.error_code = int(error_code)
            if not message.status_callback:
                continue
            params = {
                "SmsSid": message.sid,
                "SmsStatus": status,
                "MessageStatus": status,
                "To": message.to,
                "MessageSid": message.sid,
                "AccountSid": self.account_sid,
                "From": message.from_,
                "ApiVersion": API,
            }
            if message.to.startswith("whatsapp:"):
                params["ChannelPrefix"] = "whatsapp"
            if error_code:
                params["ErrorCode"] = error_code
            signature = RequestValidator(self.auth_token).compute_signature(
                message.status_callback, params
            )
            self.callbacks_posted.append(params)
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(
                    message.status_callback,
                    data=params,
                    headers={"X-Twilio-Signature": signature},
                    timeout=5,
                )

    # -- the API -------------------------------------------------------------------------------
    def _authorised(self, account: str, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return account == self.account_sid and header == f"Basic {expected}"

    def _create(
        self, form: list[tuple[str, str]], arrived: float
    ) -> tuple[int, dict[str, Any]] | FakeMessage:
        fields = dict(form)
        with self._cond:
            self.requests += 1
            injected = self.fail_next.pop(0) if self.fail_next else None
        if injected is not None:
            status, code, text = (
                injected
                if isinstance(injected, tuple)
                else (injected, *_GENERIC.get(injected, (20500, "Error")))
            )
            return _error(status, code, text)
        if not fields.get("To"):
            return _error(400, 21604, "A 'To' phone number is required.")
        if not fields.get("From"):
            return _error(400, 21603, "A 'From' phone number is required.")
        media = [v for k, v in form if k == "MediaUrl"]
        if not fields.get("Body") and not media:
            return _error(400, 21602, "Message body is required.")
        if _bare(fields["To"]) in {_bare(a) for a in self.unsubscribed}:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        message = FakeMessage(
            "SM" + secrets.token_hex(16),
            fields["To"],
            fields["From"],
            fields.get("Body", ""),
            fields.get("StatusCallback"),
            datetime.now(UTC),
            arrived,
            media_urls=media,
        )
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()
        return message

    def _list(self, query: dict[str, str]) -> dict[str, Any]:
        rows = self.snapshot()
        if "To" in query:
            rows = [m for m in rows if m.to == query["To"]]
        if "From" in query:
            rows = [m for m in rows if m.from_ == query["From"]]
        for key, keep in (
            ("DateSent", date.__eq__),
            ("DateSent<", date.__le__),
            ("DateSent>", date.__ge__),
        ):
            if key in query:  # "DateSent>=2024-05-01" arrives as key "DateSent>"
                day = date.fromisoformat(query[key].lstrip("=")[:10])
                rows = [m for m in rows if m.date_sent and keep(m.date_sent.date(), day)]
        rows.sort(key=lambda m: m.created, reverse=True)  # most recent first
        size = max(1, min(1000, int(query.get("PageSize", 50))))
        page = int(query.get("Page", 0))
        chunk = rows[page * size : (page + 1) * size]
        base = f"/{API}/Accounts/{self.account_sid}/Messages.json"
        filters = {k: v for k, v in query.items() if k not in ("PageSize", "Page", "PageToken")}

        def page_uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': size, 'Page': number})}"

        more = (page + 1) * size < len(rows)
        return {
            "messages": [m.resource(self.account_sid) for m in chunk],
            "end": page * size + max(0, len(chunk) - 1),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": page_uri(page - 1) if page else None,
            "start": page * size,
            "uri": page_uri(page),
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write: two small writes on a keep-alive
            # connection meet the client's delayed ACK and stall each request by ~40 ms.
            wbufsize = 1 << 16
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                if status == 401:
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                self.end_headers()
                self.wfile.write(body)

            def _route(self) -> re.Match[str] | None:
                match = MESSAGES.match(urlparse(self.path).path)
                if not match:
                    self._reply(*_not_found())
                elif not fake._authorised(match["account"], self.headers.get("Authorization")):
                    self._reply(
                        *_error(
                            401,
                            20003,
                            "Authenticate",
                            "Your AccountSid or AuthToken was incorrect.",
                        )
                    )
                    match = None
                return match

            def do_GET(self) -> None:
                match = self._route()
                if match is None:
                    return
                if match["sid"]:
                    found = [m for m in fake.snapshot() if m.sid == match["sid"]]
                    if not found:
                        return self._reply(*_not_found())
                    return self._reply(200, found[0].resource(fake.account_sid))
                query = dict(parse_qsl(urlparse(self.path).query, keep_blank_values=True))
                self._reply(200, fake._list(query))

            def do_POST(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True)
                match = self._route()
                if match is None:
                    return
                if match["sid"]:
                    return self._reply(*_not_found())
                result = fake._create(form, arrived)
                if not isinstance(result, FakeMessage):
                    return self._reply(*result)
                with fake._cond:
                    drop = fake.drop_after_accept > 0
                    if drop:
                        fake.drop_after_accept -= 1
                if drop:  # Twilio has it; the client sees the connection close, no answer
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._reply(201, result.resource(fake.account_sid))
                if fake.send_callbacks and result.status_callback:
                    threading.Thread(target=fake.deliver, args=(result,), daemon=True).start()

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Twilio REST API until killed.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--account-sid", default="AC" + "0" * 32)
    parser.add_argument("--auth-token", required=True)
    parser.add_argument("--callbacks", action="store_true", help="send sent/delivered callbacks")
    args = parser.parse_args()
    with FakeTwilio(args.account_sid, args.auth_token, args.port, args.callbacks) as fake:
        print(fake.url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
