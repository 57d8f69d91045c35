"""PostgreSQL: the open-session check's partial index (core/db/open_start_index.py).

``init-db`` makes it there and nowhere else; the check's own statement is planned through it
instead of reading the history; without it (a server set up before, whose owner has not run
the roles script) the check gives the same answers, only slower.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event

from nexus_logger.core.db.engine import get_engine, read_connection, write_transaction
from nexus_logger.core.db.open_start_index import NAME
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.lifecycle import end_session, start_session
from tests.rawdb import raw_execute, raw_query

pytestmark = pytest.mark.postgres

TEM = "TEST-TEM-001"

# 20,000 finished sessions of TEM (START and END, COMPLETED) written in one statement.
_HISTORY = """
INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, record_status, "user")
SELECT 'old-' || n, 'TEST-TEM-001', '2020-01-01T00:00:00+00:00', kind, 'COMPLETED', 'someone'
FROM generate_series(1, 20000) AS n, (VALUES ('START'), ('END')) AS kinds(kind)
"""


def _indexes(url: str) -> set[str]:
    rows = raw_query(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'session_log'")
    return {name for (name,) in rows}


def _check_plan(url: str) -> str:
    """``EXPLAIN`` of the statement the check really sends, with its parameters."""
    engine = get_engine(url)
    sent: list[tuple[str, Any]] = []

    def catch(conn, cursor, statement, parameters, context, executemany) -> None:
        if "session_log" in statement:
            sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        with write_transaction(engine) as conn:
            open_rule.lock_instrument(conn, TEM)  # as writers call it
            open_rule.open_start_rows(conn, TEM)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    assert len(sent) == 1, sent
    statement, parameters = sent[0]
    with read_connection(engine) as conn:
        return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, parameters))


def test_init_db_adds_the_index_on_postgresql_only_beside_nexuslims_own(pg_db: str) -> None:
    # NexusLIMS's primary key and its one index, and ours (SQLite: test_schema compares the
    # whole schema with NexusLIMS's own and finds nothing added).
    assert len(_indexes(pg_db)) == 3
    assert NAME in _indexes(pg_db)


def test_the_check_reads_the_index_not_the_history(pg_db: str) -> None:
    raw_execute(pg_db, _HISTORY)
    raw_execute(pg_db, "ANALYZE session_log")
    plan = _check_plan(pg_db)
    assert NAME in plan
    assert "Seq Scan on session_log" not in plan
    # and without the index the same statement reads the whole table
    raw_execute(pg_db, f"DROP INDEX {NAME}")
    assert "Seq Scan on session_log" in _check_plan(pg_db)


@pytest.mark.parametrize("with_index", [True, False])
def test_the_answers_are_the_same_without_the_index(pg_db: str, with_index: bool) -> None:
    raw_execute(pg_db, _HISTORY)
    if not with_index:
        raw_execute(pg_db, f"DROP INDEX {NAME}")
    assert (NAME in _indexes(pg_db)) is with_index
    first = start_session(instrument=TEM, user="alice", engine=pg_db)
    assert first.created
    again = start_session(instrument=TEM, user="bob", engine=pg_db)
    assert not again.created
    assert again.session.session_identifier == first.session.session_identifier
    # A START written by another program (no claim row) is seen all the same, and ended.
    end_session(instrument=TEM, engine=pg_db)
    raw_execute(
        pg_db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
        ("by-hand", TEM, "2026-01-01T09:00:00+00:00", "START", "TO_BE_BUILT", "carol"),
    )
    found = start_session(instrument=TEM, user="dave", engine=pg_db)
    assert not found.created
    assert found.session.session_identifier == "by-hand"
    ended = end_session(instrument=TEM, engine=pg_db)
    assert (ended.session_identifier, ended.user) == ("by-hand", "carol")
    assert start_session(instrument=TEM, user="dave", engine=pg_db).created
