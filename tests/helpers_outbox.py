"""Helpers for the outbox tests: cutting the database off, and checking what ended up in it.

The checks read the database with the plain driver (``sqlite3`` / ``psycopg``), never through
nexus-logger's engine, so they see what is really stored.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine

from nexus_logger.core.db import engine as engines
from nexus_logger.core.db.instruments import add_instrument
from nexus_logger.core.db.schema import init_db
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventKind, OutboxEvent
from nexus_logger.core.session_handler import get_sessions_to_build
from tests.rawdb import Row, dump_session_log, pg_dsn, raw_execute, raw_query  # noqa: F401

TEM = "TEST-TEM-001"
SEM = "TEST-SEM-002"

#: Same instruments as tests/conftest.py's TEST_INSTRUMENTS (for databases made here).
INSTRUMENTS = (
    ("TEST-TEM-001", "Test TEM", "America/New_York"),
    ("TEST-SEM-002", "Test SEM", "Europe/Berlin"),
    ("TEST-FIB-003", "Test FIB", "Asia/Kolkata"),
)


def populate(target: str) -> str:
    """A NexusLIMS 2.8 schema with the test instruments in a new database."""
    init_db(target)
    for pid, name, tz in INSTRUMENTS:
        add_instrument(pid, display_name=name, timezone=tz, location="Lab", engine=target)
    return target


def fast_engine(target: str, timeout: float = 1.0) -> Engine:
    """An engine that gives up on a locked file or a dead server after ``timeout`` seconds."""
    return engines.get_engine(target, timeout=timeout)


def durable_for(target: str, timeout: float = 1.0, **kw: object) -> DurableLogger:
    return DurableLogger(fast_engine(target, timeout), **kw)  # type: ignore[arg-type]


@contextmanager
def moved_away(path: str | os.PathLike[str]) -> Iterator[Path]:
    """The database file is moved away (a share that dropped) and put back afterwards."""
    src = Path(path)
    away = src.with_name(src.name + ".away")
    os.replace(src, away)
    try:
        yield away
    finally:
        os.replace(away, src)


class ExclusiveLock:
    """Another process holding an SQLite file under an EXCLUSIVE lock until told to let go.

    No sleeping: the child reports when it holds the lock, and releases it when the test
    writes a line to its stdin.
    """

    _CODE = (
        "import sqlite3, sys\n"
        "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "conn.execute('BEGIN EXCLUSIVE')\n"
        "conn.execute('SELECT count(*) FROM session_log').fetchone()\n"
        "print('locked', flush=True)\n"
        "sys.stdin.readline()\n"
        "conn.execute('ROLLBACK')\n"
        "conn.close()\n"
        "print('released', flush=True)\n"
    )

    def __init__(self, path: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self._CODE, path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if line != "locked":
            self.proc.kill()
            raise RuntimeError(f"lock holder did not start: {line!r}")

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "released"
        assert self.proc.wait(timeout=30) == 0

    def __enter__(self) -> ExclusiveLock:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.release()


def queue_offline(
    durable: DurableLogger,
    kind: EventKind,
    sid: str,
    at_text: str,
    *,
    pid: str = TEM,
    tz: str = "America/New_York",
    user: str | None = "alice",
    note: str | None = None,
    start_text: str | None = None,
) -> OutboxEvent:
    """Put an event in the outbox exactly as an offline start/end would have left it."""
    return durable.outbox.add(
        kind,
        database=durable.database_key,
        session_identifier=sid,
        instrument_pid=pid,
        timezone=tz,
        at_text=at_text,
        user=user,
        note=note,
        start_text=start_text,
    )


def session_events(target: str) -> Counter[tuple[str, str]]:
    """How many START and END rows each session has: {(session_identifier, event): n}."""
    return Counter(
        (row[1], row[4]) for row in dump_session_log(target) if row[4] in ("START", "END")
    )


def assert_exactly_once(target: str, sessions: dict[str, str | None]) -> None:
    """Each session has one START and (if ``sessions[sid]`` is "ended") one END, no more."""
    counts = session_events(target)
    duplicates = {k: n for k, n in counts.items() if n > 1}
    assert not duplicates, f"duplicated rows: {duplicates}"
    for sid, state in sessions.items():
        assert counts[(sid, "START")] == 1, f"START of {sid} missing"
        assert counts[(sid, "END")] == (1 if state == "ended" else 0), f"END of {sid}"


def assert_pairing_holds(target: str) -> list[tuple[str, str, str | None]]:
    """NexusLIMS's pairing rule: every TO_BE_BUILT START has a TO_BE_BUILT END with the same
    identifier, instrument and user (strict pairing raises otherwise). Returns the sessions."""
    rows = dump_session_log(target)
    for _id, sid, inst, _ts, event, status, user in rows:
        if event == "START" and status == "TO_BE_BUILT":
            ends = [
                r
                for r in rows
                if r[1] == sid and r[4] == "END" and r[5] == "TO_BE_BUILT" and r[2] == inst
            ]
            assert ends and all(r[6] == user for r in ends), f"unpaired START {sid}"
        if event == "END":
            starts = [r for r in rows if r[1] == sid and r[4] == "START"]
            assert starts and starts[0][5] == status, f"END {sid} status differs from START"
    built = get_sessions_to_build(strict=True, engine=target)
    return sorted((s.session_identifier, s.instrument.instrument_pid, s.user) for s in built)
