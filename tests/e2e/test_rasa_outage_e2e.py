"""End to end: when a message's call to Rasa fails (Rasa down, restarting, or swapping its
model), the worker keeps the message and sends it again later; nothing is lost, nothing is
answered twice, and the worker waits for its next poll instead of hammering Rasa.

The app reaches the real Rasa server through a small TCP relay that the test can cut."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.storage.tables import Message
from tests.e2e.harness import AppProcess, Phone, app_env
from tests.e2e.respondent import Respondent

pytestmark = pytest.mark.e2e


class Relay:
    """Forwards TCP connections to `target`; cut, it drops the open ones (the app keeps
    connections alive) and closes every new one at once."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = False
        self.refused = 0
        self.open: list[socket.socket] = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if self.cut:
                self.refused += 1
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            for s in self.open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            self.open.clear()

    def close(self) -> None:
        self.set_cut(True)
        self.server.close()


def test_a_message_whose_rasa_call_fails_is_sent_again_later(
    e2e_rasa: str, fake_twilio, app_port: int, sqlite_url: str, tmp_path: Path
) -> None:
    relay = Relay(int(e2e_rasa.rsplit(":", 1)[1]))
    env = app_env(tmp_path, app_port, sqlite_url, fake_twilio.url, relay.url)
    env["TRANSLATION_PROVIDER"] = "none"
    app = AppProcess(env, app_port, tmp_path / "app.log")
    app.start()
    try:
        number = "+447700900901"
        who = Respondent(Phone(app.url, number, "sms"), sqlite_url)
        who.say("Hello")

        relay.set_cut(True)
        form = who.phone.form("yes")
        who.phone.post(form).raise_for_status()
        time.sleep(3.0)
        with Session(who.engine) as session:
            waiting = session.scalar(select(Message).where(Message.twilio_sid == form["MessageSid"]))
            assert waiting is not None and waiting.status == "received", "kept, not dropped"
        tries = relay.refused
        print(f"\nRasa cut for 3 s: {tries} calls (poll every {env['WORKER_POLL_SECONDS']} s)")
        assert 1 <= tries <= 8, f"{tries} calls in 3 s: retried on the poll, not in a tight loop"
        assert "will retry" in app.log_text()

        relay.set_cut(False)
        answered = who.wait_processed(form["MessageSid"], timeout=20)
        assert answered.replies, "answered once Rasa is back"
        with Session(who.engine) as session:
            replies = list(session.scalars(select(Message).where(
                Message.in_reply_to_id == answered.inbound.id)))
        assert len(replies) == len(answered.replies)
        assert len({m.twilio_sid for m in replies}) == len(replies), "each reply sent once"
        conversation = who.conversation(answered.inbound.contact_id)
        assert conversation.stage == "question" and conversation.question_key == "access"
        who.close()
    finally:
        app.stop()
        relay.close()

