"""The SQLite write lock: one writer at a time, re-entrant, and a webhook's (urgent) write goes
before the worker's and the outbox's waiting writes."""

from __future__ import annotations

import threading
import time

from bot.storage.db import WriteLock


def _wait_until(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_an_urgent_writer_goes_before_ordinary_writers_that_waited_longer():
    lock = WriteLock()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with lock.hold():
            order.append("holder")
            release.wait(5)

    def writer(name: str, urgent: bool) -> None:
        with lock.hold(urgent):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    _wait_until(lambda: order == ["holder"])
    ordinary = [threading.Thread(target=writer, args=(f"worker{i}", False)) for i in range(3)]
    for t in ordinary:
        t.start()
    time.sleep(0.1)  # the ordinary writers are waiting
    webhook = threading.Thread(target=writer, args=("webhook", True))
    webhook.start()
    _wait_until(lambda: lock._urgent_waiting == 1)
    release.set()
    for t in [first, webhook, *ordinary]:
        t.join(5)
    assert order[:2] == ["holder", "webhook"]
    assert sorted(order[2:]) == ["worker0", "worker1", "worker2"]


def test_one_writer_at_a_time_and_re_entrant():
    lock = WriteLock()
    inside = 0
    most = 0
    guard = threading.Lock()

    def write() -> None:
        nonlocal inside, most
        for _ in range(50):
            with lock.hold(), lock.hold(urgent=True):  # nested in one thread: no deadlock
                with guard:
                    inside += 1
                    most = max(most, inside)
                time.sleep(0.0005)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=write) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert most == 1
    assert lock._owner is None and lock._depth == 0
