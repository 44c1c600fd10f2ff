"""Database engine and sessions. SQLite gets WAL and a busy timeout so the webhook, worker and
outbox threads can write side by side; PostgreSQL needs nothing special."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings


def make_engine(settings: Settings) -> Engine:
    url = settings.sqlalchemy_url
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # A pool as large as the threads that write (webhooks, worker, outbox): with the default
        # 5, connections beyond it were opened and closed per use (with their PRAGMAs) under load.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class WriteLock:
    """One writer at a time in this process, re-entrant; a waiting *urgent* writer goes before
    every waiting ordinary one.

    Urgent writers are the webhooks: Twilio times their answer, and under load a plain lock
    made them queue behind the worker's and the outbox's writes (measured: webhook threads
    spent most of their time waiting here).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._owner: int | None = None
        self._depth = 0
        self._urgent_waiting = 0

    @contextmanager
    def hold(self, urgent: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner == me:
                self._depth += 1
            else:
                self._urgent_waiting += urgent
                try:
                    while self._owner is not None or (self._urgent_waiting and not urgent):
                        self._cond.wait()
                finally:
                    self._urgent_waiting -= urgent
                self._owner, self._depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = None
                    self._cond.notify_all()


class Database:
    """One engine and its session factory; `transaction()` is the only way code writes.

    SQLite has one writer at a time, and a writer that finds the lock taken sleeps in steps
    of up to 100 ms. Queueing this process's writers on a lock instead keeps every write
    short, and lets a webhook's write (`urgent`) go first.
    """

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = WriteLock() if self.engine.dialect.name == "sqlite" else None

    @contextmanager
    def transaction(self, urgent: bool = False) -> Iterator[Session]:
        """A write transaction. `urgent`: someone is waiting for it (a webhook's answer)."""
        held = self._write_lock.hold(urgent) if self._write_lock else nullcontext()
        with held, self._sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
