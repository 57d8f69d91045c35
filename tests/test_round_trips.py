"""PostgreSQL: a START and an END in at most 4 round trips each (issue 19), counted on the wire.

The lock, the exact check and the claim row (and the transaction's BEGIN) go to the server
in one pipeline (core/db/pipeline.py). These tests also hold the pipeline to what the plain
path guaranteed: errors read the same, nothing autocommits afterwards, a lost connection is
replaced.
"""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from nexus_logger.core.db.engine import get_engine, write_transaction
from nexus_logger.core.db.instrument_lock import lock_instrument
from nexus_logger.core.errors import DatabaseUnavailable, NexusLoggerError
from nexus_logger.core.sessions.lifecycle import end_session, find_open_session, start_session
from tests.helpers_outbox import durable_for
from tests.rawdb import pg_dsn, raw_query
from tests.roundtrips import traced

pytestmark = pytest.mark.postgres

TEM = "TEST-TEM-001"


def test_start_and_end_take_at_most_four_round_trips(pg_db: str) -> None:
    durable = durable_for(pg_db)
    inst = durable.identify(instrument=TEM)
    # First cycle: one-off reads (which tables exist, the instruments) are not counted.
    durable.end(durable.start(instrument=inst, user="alice").session)
    engine = get_engine(pg_db)
    with traced(engine) as start_trips:
        began = durable.start(instrument=inst, user="alice", note="a note")
    with traced(engine) as end_trips:
        ended = durable.end(began.session)
    assert began.created and not began.queued and not ended.queued
    assert start_trips.count <= 4, start_trips.statements()
    assert end_trips.count <= 4, end_trips.statements()
    # What the server holds is what the plain path wrote.
    rows = raw_query(
        pg_db,
        'SELECT event_type, record_status, "user" FROM session_log '
        "WHERE session_identifier = ? ORDER BY id_session_log",
        (began.session.session_identifier,),
    )
    assert rows == [("START", "TO_BE_BUILT", "alice"), ("END", "TO_BE_BUILT", "alice")]
    note = raw_query(
        pg_db,
        "SELECT note FROM nexus_logger_note WHERE session_identifier = ?",
        (began.session.session_identifier,),
    )
    assert note == [("a note",)]


def test_a_connection_with_its_isolation_level_set_keeps_it_and_the_round_trips(
    pg_db: str,
) -> None:
    """SQLAlchemy sets the driver's isolation level back after a connection ran with another
    one; the batch's own BEGIN then names it, as psycopg's would, and still goes with the lock."""
    engine = get_engine(pg_db)
    start_session(instrument=TEM, user="alice", engine=engine)  # one-off reads done
    end_session(instrument=TEM, engine=engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("SELECT 1")
    with engine.connect() as conn:
        assert conn.connection.driver_connection.isolation_level is not None
    with traced(engine) as trips:
        began = start_session(instrument=TEM, user="alice", engine=engine)
    assert began.created
    assert trips.count <= 3, trips.statements()
    assert any("BEGIN ISOLATION LEVEL READ COMMITTED" in s for s in trips.statements())


def test_after_a_pipelined_start_nothing_autocommits(pg_db: str) -> None:
    """The batch switched the driver's autocommit on for its BEGIN; the next transaction on the
    same pooled connection must again be one transaction that a failure rolls back whole."""
    engine = get_engine(pg_db)
    start_session(instrument=TEM, user="alice", engine=engine)
    with pytest.raises(RuntimeError, match="power cut"):
        with write_transaction(engine) as conn:
            assert not conn.connection.driver_connection.autocommit
            conn.execute(text("UPDATE instruments SET location = 'moved'"))
            raise RuntimeError("power cut")
    assert {loc for (loc,) in raw_query(pg_db, "SELECT location FROM instruments")} == {"Lab"}
    end_session(instrument=TEM, engine=engine)  # and the lifecycle still works on it


def test_a_lock_held_elsewhere_reads_as_busy_and_the_connection_stays_usable(
    pg_db: str,
) -> None:
    engine = get_engine(pg_db, timeout=0.5)
    other = get_engine(pg_db, timeout=5.0)
    with write_transaction(other) as holder:
        lock_instrument(holder, TEM)  # another PC's START, between its check and its commit
        with pytest.raises(DatabaseUnavailable, match="stayed locked"):
            start_session(instrument=TEM, user="alice", engine=engine)
    began = start_session(instrument=TEM, user="alice", engine=engine)
    assert began.created
    assert find_open_session(TEM, engine=engine).user == "alice"


def test_a_connection_killed_by_the_server_is_replaced(pg_db: str) -> None:
    engine = get_engine(pg_db)
    start_session(instrument=TEM, user="alice", engine=engine)  # a pooled connection now
    with psycopg.connect(pg_dsn(pg_db), autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'nexus-logger' AND pid <> pg_backend_pid()"
        )
    try:
        ended = end_session(instrument=TEM, engine=engine)
    except NexusLoggerError:  # the dead connection, reported as such, and dropped ...
        ended = end_session(instrument=TEM, engine=engine)  # ... so the next call works
    assert ended.user == "alice"
    assert find_open_session(TEM, engine=engine) is None
