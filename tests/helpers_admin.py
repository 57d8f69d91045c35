"""Helpers for the admin tests: raw rows in a test database, one builder per problem type.

Rows are written straight through the driver (``sqlite3`` / ``psycopg``), not through
nexus-logger, so that the tests can make the broken states that nexus-logger itself never
writes but the original logger, hand edits or the back-end left behind.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from nexus_logger.core.db.engine import is_url
from tests.rawdb import Row, dump_session_log, pg_dsn, raw_execute, raw_query  # noqa: F401

#: The "now" of the problem tests: 2025-02-10 12:00 in New York (UTC-5, no DST).
NOW = datetime(2025, 2, 10, 17, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
TEM = "TEST-TEM-001"
SEM = "TEST-SEM-002"
FIB = "TEST-FIB-003"


def insert_rows(target: str, rows: list[Row]) -> list[int]:
    """Insert ``(session_identifier, instrument, timestamp, event_type, status, user)`` rows.

    Returns their ``id_session_log`` values, in order.
    """
    sql = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)'
    )
    ids: list[int] = []
    if is_url(target):
        import psycopg

        with psycopg.connect(pg_dsn(target)) as conn:
            for row in rows:
                cur = conn.execute(sql.replace("?", "%s") + " RETURNING id_session_log", row)
                ids.append(cur.fetchone()[0])
        return ids
    conn = sqlite3.connect(target)
    try:
        for row in rows:
            ids.append(conn.execute(sql, row).lastrowid)
        conn.commit()
    finally:
        conn.close()
    return ids


def audit_count(target: str) -> int:
    """Rows in ``nexus_logger_audit`` (0 when the table does not exist)."""
    try:
        return raw_query(target, "SELECT COUNT(*) FROM nexus_logger_audit")[0][0]
    except Exception:  # no such table
        return 0


def ny(hours_before_now: float) -> str:
    """A stored New York timestamp ``hours_before_now`` hours before :data:`NOW`."""
    return (NOW - timedelta(hours=hours_before_now)).astimezone(NY).isoformat()


def session(
    target: str,
    ident: str,
    *,
    user: str = "alice",
    status: str = "TO_BE_BUILT",
    start_h: float = 50.0,
    end_h: float | None = 49.0,
    instrument: str = TEM,
    generations: int = 0,
) -> list[int]:
    """A well-formed session (START, END, RECORD_GENERATION rows); returns the row ids."""
    rows: list[Row] = [(ident, instrument, ny(start_h), "START", status, user)]
    if end_h is not None:
        rows.append((ident, instrument, ny(end_h), "END", status, user))
    for i in range(generations):
        rows.append(
            (ident, instrument, ny(end_h - 1 - i), "RECORD_GENERATION", status, "nexuslims")
        )
    return insert_rows(target, rows)


@dataclass(frozen=True)
class Expected:
    """A problem the database was built to contain."""

    kind: str
    row_ids: tuple[int, ...]
    blocks_build: bool
    fix: str | None


def build_problem_db(target: str, *, unknown_instrument: bool = True) -> dict[str, Expected]:
    """One session per problem type, plus healthy sessions; returns what must be found.

    Keys are session identifiers. ``unknown_instrument`` is False on PostgreSQL, whose foreign
    key refuses rows naming an instrument that does not exist.
    """
    exp: dict[str, Expected] = {}
    # Healthy sessions: nothing may be reported for them.
    # Each session on TEM has a time slot of its own (sessions that overlap are a problem too);
    # the sessions still open run on instruments of their own.
    session(target, "ok-built", status="COMPLETED", generations=1, start_h=70, end_h=69)
    session(target, "ok-pending", user="bob", start_h=68, end_h=67)
    session(
        target,
        "ok-open",
        user="carol",
        status="WAITING_FOR_END",
        start_h=1,
        end_h=None,
        instrument=FIB,
    )

    ids = session(target, "p-start-no-end", user="dave", start_h=5, end_h=None)
    exp["p-start-no-end"] = Expected("start_without_end", tuple(ids), True, "force_end")

    ids = insert_rows(
        target,
        [
            ("p-end-waiting", TEM, ny(40), "START", "TO_BE_BUILT", "erin"),
            ("p-end-waiting", TEM, ny(39), "END", "WAITING_FOR_END", "erin"),
        ],
    )
    exp["p-end-waiting"] = Expected("start_without_end", tuple(ids), True, "requeue")

    ids = insert_rows(
        target,
        [
            ("p-user", TEM, ny(38), "START", "TO_BE_BUILT", "frank"),
            ("p-user", TEM, ny(37), "END", "TO_BE_BUILT", "grace"),
        ],
    )
    exp["p-user"] = Expected("user_mismatch", tuple(ids), True, "fix_user")

    ids = insert_rows(
        target,
        [
            ("p-inst", TEM, ny(36), "START", "TO_BE_BUILT", "heidi"),
            ("p-inst", SEM, ny(35), "END", "TO_BE_BUILT", "heidi"),
        ],
    )
    exp["p-inst"] = Expected("instrument_mismatch", tuple(ids), True, None)

    ids = session(target, "p-dup-end", user="ivan", status="COMPLETED", start_h=66, end_h=65)
    ids += insert_rows(target, [("p-dup-end", TEM, ny(64.5), "END", "COMPLETED", "ivan")])
    exp["p-dup-end"] = Expected("duplicate_end", (ids[1], ids[2]), False, None)

    ids = insert_rows(target, [("p-orphan-end", TEM, ny(30), "END", "TO_BE_BUILT", "judy")])
    exp["p-orphan-end"] = Expected("end_without_start", tuple(ids), False, None)

    ids = session(target, "p-end-first", user="mallory", start_h=20, end_h=22)
    exp["p-end-first"] = Expected("end_before_start", tuple(ids), False, None)

    ids = insert_rows(
        target,
        [
            ("p-naive", TEM, "2025-02-07T09:00:00", "START", "COMPLETED", "oscar"),
            ("p-naive", TEM, "2025-02-07T10:00:00", "END", "COMPLETED", "oscar"),
        ],
    )
    exp["p-naive"] = Expected("naive_timestamp", tuple(ids), False, None)

    ids = insert_rows(
        target,
        [
            ("p-bad-ts", TEM, "yesterday morning", "START", "TO_BE_BUILT", "peggy"),
            ("p-bad-ts", TEM, ny(10), "END", "TO_BE_BUILT", "peggy"),
        ],
    )
    exp["p-bad-ts"] = Expected("bad_timestamp", (ids[0],), True, None)

    ids = session(
        target,
        "p-long-open",
        user="trent",
        status="WAITING_FOR_END",
        start_h=30,
        end_h=None,
        instrument=SEM,
    )
    exp["p-long-open"] = Expected("long_open_session", tuple(ids), False, "force_end")

    # Ended, not built yet, 20 h long: left open, then ended (perhaps by the next login).
    ids = session(target, "p-long-ended", user="root", start_h=100, end_h=80, instrument=FIB)
    exp["p-long-ended"] = Expected("long_session", tuple(ids), False, None)

    ids = session(
        target, "p-error", user="victor", status="ERROR", generations=1, start_h=64, end_h=63
    )
    exp["p-error"] = Expected("stuck_status", tuple(ids), False, "requeue")

    ids = session(
        target,
        "p-nofiles",
        user="walter",
        status="NO_FILES_FOUND",
        generations=1,
        start_h=62,
        end_h=61,
    )
    exp["p-nofiles"] = Expected("stuck_status", tuple(ids), False, "requeue")

    ids = insert_rows(
        target,
        [
            ("p-status", TEM, ny(12), "START", "WAITING_FOR_END", "wendy"),
            ("p-status", TEM, ny(11), "END", "TO_BE_BUILT", "wendy"),
        ],
    )
    exp["p-status"] = Expected("status_mismatch", tuple(ids), False, "requeue")

    ids = session(target, "p-dup-start", user="sybil", status="COMPLETED", start_h=60, end_h=59)
    ids += insert_rows(target, [("p-dup-start", TEM, ny(59.5), "START", "COMPLETED", "sybil")])
    exp["p-dup-start"] = Expected("duplicate_start", (ids[0], ids[2]), False, None)

    first = session(target, "p-overlap-a", user="uma", start_h=10, end_h=8, instrument=FIB)
    later = session(target, "p-overlap-b", user="uri", start_h=9, end_h=7, instrument=FIB)
    exp["p-overlap-b"] = Expected("overlap", (first[0], later[0]), False, None)

    # Far ahead of any clock the tests run with (rows an older logger or a hand edit made).
    future = "2999-01-01T09:00:00-05:00"
    ids = insert_rows(target, [("p-future", SEM, future, "START", "WAITING_FOR_END", "xavier")])
    exp["p-future"] = Expected("future_start", tuple(ids), False, "force_end")

    if unknown_instrument:
        ids = session(target, "p-ghost", user="zoe", status="COMPLETED", instrument="GHOST-999")
        exp["p-ghost"] = Expected("unknown_instrument", tuple(ids), False, None)
    return exp
