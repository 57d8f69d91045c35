"""Helpers for the bridge tests: sessions written straight into PostgreSQL, and checks of
what both databases hold, read with the plain drivers (not through the bridge's code)."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.rawdb import raw_execute, raw_query

PID = "TEST-TEM-001"
_INSERT = (
    "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
    'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)'
)


def stamp(minutes: int) -> str:
    """An aware ISO-8601 time ``minutes`` after 08:00 on a fixed day in New York (-05:00)."""
    return (datetime(2026, 11, 2, 8, 0) + timedelta(minutes=minutes)).isoformat() + "-05:00"


def add_session(
    url: str,
    n: int,
    *,
    user: str = "alice",
    status: str = "TO_BE_BUILT",
    end: bool = True,
    end_user: str | None = None,
    pid: str = PID,
) -> str:
    """A session in PostgreSQL: START (and END) ``n`` hours into the fixed day."""
    sid = str(uuid.uuid4())
    start_status = status if end else "WAITING_FOR_END"
    raw_execute(url, _INSERT, (sid, pid, stamp(60 * n), "START", start_status, user))
    if end:
        raw_execute(url, _INSERT, (sid, pid, stamp(60 * n + 30), "END", status, end_user or user))
    return sid


def add_sessions_bulk(url: str, count: int, *, offset: int = 0) -> list[str]:
    """``count`` complete TO_BE_BUILT sessions in one statement batch (benchmarks, kill loop)."""
    import psycopg

    from tests.rawdb import pg_dsn

    sids = [str(uuid.uuid4()) for _ in range(count)]
    rows = []
    for i, sid in enumerate(sids):
        rows.append((sid, PID, stamp(i + offset), "START", "TO_BE_BUILT", "alice"))
        rows.append((sid, PID, stamp(i + offset + 1), "END", "TO_BE_BUILT", "alice"))
    with psycopg.connect(pg_dsn(url)) as conn, conn.cursor() as cur:
        cur.executemany(_INSERT.replace("?", "%s"), rows)
    return sids


def rows_by_session(target: str) -> dict[str, list[tuple]]:
    """(event_type, record_status, user, timestamp, instrument) per session, sorted."""
    out: dict[str, list[tuple]] = {}
    for sid, ev, st, user, ts, inst in raw_query(
        target,
        'SELECT session_identifier, event_type, record_status, "user", timestamp, instrument '
        "FROM session_log ORDER BY id_session_log",
    ):
        out.setdefault(sid, []).append((ev, st, user, ts, inst))
    return {k: sorted(v) for k, v in out.items()}


def nexuslims_build(path: str, sid: str, status: str = "COMPLETED") -> None:
    """What NexusLIMS's record builder writes for one session (RECORD_GENERATION, then the
    final status on every row), in two transactions as it does, through plain sqlite3."""
    raw_execute(
        path,
        _INSERT,
        (
            sid,
            PID,
            datetime.now(UTC).isoformat(),
            "RECORD_GENERATION",
            "WAITING_FOR_END",
            "nexuslims",
        ),
    )
    raw_execute(
        path, "UPDATE session_log SET record_status = ? WHERE session_identifier = ?", (status, sid)
    )


def check_invariants(pg: str, path: str) -> None:
    """After a clean run: both sides hold the same sessions with the same rows, once each."""
    pg_rows, sq_rows = rows_by_session(pg), rows_by_session(path)
    for sid, rows in sq_rows.items():
        kinds = Counter(r[0] for r in rows)
        assert kinds["START"] == 1 and kinds["END"] == 1, (sid, rows)
        assert pg_rows.get(sid) == rows, (sid, pg_rows.get(sid), rows)
    queued = {  # complete pairs NexusLIMS can build: one START, one END, same user
        s
        for s, rows in pg_rows.items()
        if sorted((r[0], r[1]) for r in rows) == [("END", "TO_BE_BUILT"), ("START", "TO_BE_BUILT")]
        and len({r[2] for r in rows}) == 1
    }
    assert queued <= set(sq_rows), queued - set(sq_rows)
    dup = raw_query(
        pg,
        "SELECT file_id, sqlite_id, count(*) FROM nexus_logger_bridge_rg "
        "GROUP BY file_id, sqlite_id HAVING count(*) > 1",
    )
    assert dup == []


def sessions_so_far(nx_file: str) -> int:
    """Sessions in the file the bridge is creating (0 until its tables are committed)."""
    if not Path(nx_file).exists():
        return 0
    try:
        return len(rows_by_session(nx_file))
    except sqlite3.OperationalError:  # the file is there, its schema not yet
        return 0
