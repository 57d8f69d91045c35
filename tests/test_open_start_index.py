"""PostgreSQL: the open-session check's partial index (core/db/open_start_index.py).

``init-db`` makes it there and nowhere else; the check's own statement is planned through it
instead of reading the history; without it (a server set up before, whose owner has not run
the roles script) the check gives the same answers, only slower.
"""

from __future__ import annotations

import re
import time
from typing import Any

import psycopg
import pytest
from psycopg import sql as psql
from sqlalchemy import event
from sqlalchemy.engine import make_url

from nexus_logger.core.db.engine import (
    dispose_engines,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.open_start_index import NAME
from nexus_logger.core.db.schema import init_db
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.lifecycle import end_session, start_session
from tests.rawdb import dump_session_log, pg_dsn, raw_execute, raw_query

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


def _check_plan(url: str, *, generic: bool = False) -> str:
    """``EXPLAIN`` of the statement the check really sends, with its parameters.

    ``generic``: as planned once for any parameters (a prepared statement's generic plan, which
    PostgreSQL may choose after five runs, or a pooler may force).
    """
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
        if not generic:
            rows = conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            return "\n".join(r[0] for r in rows)
        # A named prepared statement with $n parameters, planned without their values.
        names = re.findall(r"%\((\w+)\)s", statement)
        order = list(dict.fromkeys(names))
        prepared = re.sub(r"%\((\w+)\)s", lambda m: f"${order.index(m.group(1)) + 1}", statement)
        conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.exec_driver_sql("PREPARE open_check AS " + prepared)
        # EXECUTE's arguments cannot be bound parameters: quoted by the driver instead.
        raw = conn.connection.driver_connection
        values = psql.SQL(", ").join(psql.Literal(parameters[name]) for name in order)
        explain = psql.SQL("EXPLAIN EXECUTE open_check({})").format(values).as_string(raw)
        rows = conn.exec_driver_sql(explain)
        plan = "\n".join(r[0] for r in rows)
        conn.exec_driver_sql("DEALLOCATE open_check")
        return plan


def test_init_db_adds_the_index_on_postgresql_only_beside_nexuslims_own(pg_db: str) -> None:
    # NexusLIMS's primary key and its one index, and ours (SQLite: test_schema compares the
    # whole schema with NexusLIMS's own and finds nothing added).
    assert len(_indexes(pg_db)) == 3
    assert NAME in _indexes(pg_db)


def test_the_check_reads_the_index_not_the_history(pg_db: str) -> None:
    raw_execute(pg_db, _HISTORY)
    raw_execute(pg_db, "ANALYZE session_log")
    for generic in (False, True):
        plan = _check_plan(pg_db, generic=generic)
        assert NAME in plan, plan
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


def test_init_db_on_an_existing_server_adds_only_the_index(pg_db: str) -> None:
    """A server set up before init-db made the index: init-db leaves the tables and adds it."""
    raw_execute(pg_db, f"DROP INDEX {NAME}")
    before = dump_session_log(pg_db)
    created, message = init_db(pg_db)
    assert not created and NAME in message and "left as they are" in message
    assert NAME in _indexes(pg_db)
    assert dump_session_log(pg_db) == before
    created, message = init_db(pg_db)  # and again: nothing to do
    assert not created and "nothing was changed" in message


def test_init_db_as_an_account_that_may_not_create_it_says_so(pg_cluster, pg_db: str) -> None:
    raw_execute(pg_db, f"DROP INDEX {NAME}")
    pg_cluster.execute(
        "DO $$ BEGIN CREATE ROLE plain_pc LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
    )
    dbname = make_url(pg_db).database
    pg_cluster.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO plain_pc", dbname=dbname)
    created, message = init_db(pg_cluster.url(dbname, user="plain_pc"))
    assert not created and "nothing was changed" in message and "owner" in message
    assert NAME not in _indexes(pg_db)


def test_init_db_on_a_read_only_server_changes_nothing_and_says_why(pg_cluster, pg_db: str) -> None:
    raw_execute(pg_db, f"DROP INDEX {NAME}")
    dbname = make_url(pg_db).database
    pg_cluster.execute(f"ALTER DATABASE {dbname} SET default_transaction_read_only = on")
    dispose_engines()  # (the setting holds for new connections)
    created, message = init_db(pg_db)
    assert not created and "nothing was changed" in message and "read-only" in message
    assert NAME not in _indexes(pg_db)


def test_init_db_does_not_hold_up_a_busy_server(pg_db: str) -> None:
    """CREATE INDEX waits for open writers and holds new ones behind it: a short wait only."""
    raw_execute(pg_db, f"DROP INDEX {NAME}")
    with psycopg.connect(pg_dsn(pg_db)) as writer:  # a START between its insert and commit
        writer.execute("LOCK TABLE session_log IN ROW EXCLUSIVE MODE")
        began = time.monotonic()
        created, message = init_db(get_engine(pg_db, timeout=30.0))
        waited = time.monotonic() - began
    assert not created and "run init-db again later" in message
    assert waited < 5.0
    assert NAME not in _indexes(pg_db)
