"""A local fake of LibreTranslate's HTTP API (`POST /translate`), so deep-translator's real
LibreTranslator client runs in the tests. It knows a few phrases; anything else comes back
marked with its source language, which is enough to see where a translation went."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

KNOWN = {
    ("pl", "Więcej tłumaczy w przychodni"): "More interpreters at the clinic",
    ("pl", "Więcej tłumaczy w przychodni i listy po polsku"):
        "More interpreters at the clinic and letters in Polish",
}


class FakeLibreTranslate:
    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.fail_next = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 1 << 16

            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                url = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                if raw and self.headers.get("Content-Type", "").startswith("application/json"):
                    params.update(json.loads(raw))
                elif raw:
                    params.update({k: v[0] for k, v in parse_qs(raw).items()})
                if url.path != "/translate":
                    return self._reply(404, {"error": "Not Found"})
                fake.requests.append(params)
                if fake.fail_next:
                    fake.fail_next -= 1
                    return self._reply(500, {"error": "Translation service unavailable"})
                if not params.get("q") or not params.get("target"):
                    return self._reply(400, {"error": "Invalid request: missing q or target"})
                text = KNOWN.get((params.get("source", ""), params["q"]),
                                 f"[{params.get('source')}->{params['target']}] {params['q']}")
                return self._reply(200, {"translatedText": text})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> FakeLibreTranslate:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
