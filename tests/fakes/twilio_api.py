"""A local fake of Twilio's REST API (Messages), speaking the real protocol so the real
`twilio` client works against it unchanged. Used by the tests and the benchmark.

    with FakeTwilio(account_sid=..., auth_token=...) as fake:
        client = Client(sid, token); client.api.base_url = fake.url
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
from twilio.request_validator import RequestValidator

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC\w+)/Messages(?:/(?P<sid>SM\w+))?\.json$")


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
    extra: dict[str, str] = field(default_factory=dict)

    def resource(self, account_sid: str) -> dict[str, Any]:
        return {
            "account_sid": account_sid, "api_version": "2010-04-01", "body": self.body,
            "date_created": format_datetime(self.created), "date_sent": None,
            "date_updated": format_datetime(self.created), "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": self.from_,
            "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
            "price_unit": "GBP", "sid": self.sid, "status": self.status,
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}/Media.json"},
            "to": self.to, "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"code": code, "message": message,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


class FakeTwilio:
    def __init__(self, account_sid: str, auth_token: str, port: int = 0,
                 send_callbacks: bool = False) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.send_callbacks = send_callbacks
        self.messages: list[FakeMessage] = []
        self.requests = 0
        self.fail_next: list[int] = []          # HTTP statuses for the next requests (500, 429)
        self.unsubscribed: set[str] = set()     # To addresses answered with error 21610
        self.drop_after_accept = 0              # accept, then drop the connection (lost answer)
        self._cond = threading.Condition()
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
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _authorised(self, account: str) -> bool:
                expected = base64.b64encode(f"{fake.account_sid}:{fake.auth_token}".encode()).decode()
                return account == fake.account_sid and self.headers.get("Authorization") == f"Basic {expected}"

            def do_GET(self) -> None:
                url = urlparse(self.path)
                match = MESSAGES.match(url.path)
                if not match:
                    return self._reply(*_error(404, 20404, "The requested resource was not found"))
                if not self._authorised(match["account"]):
                    return self._reply(*_error(401, 20003, "Authenticate"))
                if match["sid"]:
                    found = [m for m in fake.snapshot() if m.sid == match["sid"]]
                    if not found:
                        return self._reply(*_error(404, 20404, "The requested resource was not found"))
                    return self._reply(200, found[0].resource(fake.account_sid))
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                rows = [m for m in fake.snapshot() if m.to == query.get("To", m.to)]
                if "DateSent>" in query or "DateSent>=" in query:
                    day = query.get("DateSent>") or query.get("DateSent>=")
                    rows = [m for m in rows if m.created.date().isoformat() >= str(day)[:10]]
                rows.sort(key=lambda m: m.created, reverse=True)
                size = int(query.get("PageSize", 50))
                base = f"/2010-04-01/Accounts/{fake.account_sid}/Messages.json"
                self._reply(200, {
                    "messages": [m.resource(fake.account_sid) for m in rows[:size]],
                    "end": max(0, min(size, len(rows)) - 1), "first_page_uri": f"{base}?PageSize={size}&Page=0",
                    "next_page_uri": None, "page": 0, "page_size": size, "previous_page_uri": None,
                    "start": 0, "uri": f"{base}?PageSize={size}&Page=0",
                })

            def do_POST(self) -> None:
                arrived = time.perf_counter()
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode(), keep_blank_values=True).items()}
                match = MESSAGES.match(urlparse(self.path).path)
                if not match or match["sid"]:
                    return self._reply(*_error(404, 20404, "The requested resource was not found"))
                if not self._authorised(match["account"]):
                    return self._reply(*_error(401, 20003, "Authenticate"))
                with fake._cond:
                    fake.requests += 1
                    injected = fake.fail_next.pop(0) if fake.fail_next else None
                if injected:
                    return self._reply(*_error(injected, 20429 if injected == 429 else 20500,
                                               "Too Many Requests" if injected == 429 else "Internal Server Error"))
                for needed in ("To", "From"):
                    if not form.get(needed):
                        return self._reply(*_error(400, 21604 if needed == "To" else 21603,
                                                   f"A '{needed}' phone number is required."))
                if not form.get("Body") and not form.get("MediaUrl"):
                    return self._reply(*_error(400, 21602, "Message body is required."))
                if form["To"] in fake.unsubscribed:
                    return self._reply(*_error(400, 21610, "Attempt to send to unsubscribed recipient"))
                message = FakeMessage("SM" + secrets.token_hex(16), form["To"], form["From"],
                                      form.get("Body", ""), form.get("StatusCallback"),
                                      datetime.now(UTC), arrived)
                with fake._cond:
                    fake.messages.append(message)
                    drop = fake.drop_after_accept > 0
                    if drop:
                        fake.drop_after_accept -= 1
                    fake._cond.notify_all()
                if drop:
                    self.close_connection = True
                    self.connection.close()
                    return None
                self._reply(201, message.resource(fake.account_sid))
                if fake.send_callbacks and message.status_callback:
                    threading.Thread(target=fake.deliver, args=(message,), daemon=True).start()
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

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
        return [m for m in self.snapshot() if m.to == to]

    def wait_for_new(self, to: str, seen: int, timeout: float) -> float | None:
        """Wait until `to` has more than `seen` messages; the arrival time of the next one."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                mine = [m for m in self.messages if m.to == to]
                if len(mine) > seen:
                    return mine[seen].arrived
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def deliver(self, message: FakeMessage, statuses: tuple[str, ...] = ("sent", "delivered"),
                error_code: str | None = None) -> None:
        """POST status callbacks as Twilio does: form fields signed with X-Twilio-Signature."""
        assert message.status_callback
        for status in statuses:
            message.status = status
            params = {"MessageSid": message.sid, "SmsSid": message.sid, "MessageStatus": status,
                      "SmsStatus": status, "AccountSid": self.account_sid, "From": message.from_,
                      "To": message.to, "ApiVersion": "2010-04-01"}
            if error_code:
                params["ErrorCode"] = error_code
            signature = RequestValidator(self.auth_token).compute_signature(message.status_callback, params)
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(message.status_callback, data=params,
                           headers={"X-Twilio-Signature": signature}, timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the fake Twilio REST API until interrupted.")
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
