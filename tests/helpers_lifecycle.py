"""Helpers for the lifecycle tests: raw dumps of the database and child-process bodies.

The dumps read the database with the plain driver (``sqlite3`` / ``psycopg``), not through
nexus-logger's engine, so a test compares what is really stored. The child functions are
module-level so that ``multiprocessing``'s *spawn* start method (the only one on Windows) can
import them.
"""

from __future__ import annotations

import time
from typing import Any

from nexus_logger.core.db.engine import is_url
from tests.rawdb import Row, dump_session_log, pg_dsn, raw_execute, raw_query  # noqa: F401


def table_names(target: str) -> set[str]:
    if is_url(target):
        rows = raw_query(target, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        rows = raw_query(target, "SELECT name FROM sqlite_master WHERE type = 'table'")
    return {r[0] for r in rows}


def dump_database(target: str) -> dict[str, list[Row]]:
    """``session_log`` plus every logger-owned table that exists, for before/after checks."""
    out = {"session_log": dump_session_log(target)}
    for name in sorted(t for t in table_names(target) if t.startswith("nexus_logger_")):
        out[name] = sorted(raw_query(target, f"SELECT * FROM {name}"), key=repr)
    return out


def starts_on(target: str, pid: str) -> list[Row]:
    """The START rows of an instrument: (session_identifier, user, record_status)."""
    return raw_query(
        target,
        'SELECT session_identifier, "user", record_status FROM session_log '
        "WHERE instrument = ? AND event_type = 'START' ORDER BY id_session_log",
        (pid,),
    )


# --- child processes (spawn) ----------------------------------------------------------------


def race_start(target: str, pid: str, user: str, barrier: Any, results: Any) -> None:
    """Warm up, wait for every racer, then try to start a session on ``pid``."""
    from nexus_logger.core.sessions import lifecycle

    try:
        # Warm-up (imports, schema reflection, instrument cache, first connection) so that the
        # racers meet at the transaction, not at start-up.
        lifecycle.find_open_session(pid, engine=target)
        barrier.wait(timeout=60)
        result = lifecycle.start_session(instrument=pid, user=user, engine=target)
        results.put(
            (user, result.created, result.session.session_identifier, result.session.user, None)
        )
    except BaseException as err:  # reported to the parent, which fails the test
        results.put((user, None, None, None, repr(err)))


def start_then_hang(target: str, pid: str, user: str, ready: Any) -> None:
    """Start a session, record a heartbeat, report both, then wait to be killed."""
    from nexus_logger.core.sessions import lifecycle

    try:
        result = lifecycle.start_session(instrument=pid, user=user, engine=target)
        beat = lifecycle.record_heartbeat(result.session.session_identifier, engine=target)
        ready.put((result.session.session_identifier, beat.isoformat(), None))
    except BaseException as err:
        ready.put((None, None, repr(err)))
        return
    time.sleep(600)
