"""Edges of the lifecycle's rules that the main tests pass by: a START sent twice, a row
added between the END's two statements, a clock seconds behind another PC's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from nexus_logger.core.errors import Conflict
from nexus_logger.core.sessions import ending, lifecycle
from nexus_logger.core.staff.problems import find_problems
from tests.helpers_lifecycle import dump_database
from tests.rawdb import dump_session_log

FIB = "TEST-FIB-003"
TEM = "TEST-TEM-001"


def test_a_start_sent_again_after_its_session_ended_writes_nothing(sqlite_db: str) -> None:
    """The outbox may send a START twice (its answer was lost); if the session was ended
    meanwhile, a second START row with the same identifier would corrupt it."""
    at = datetime.now(UTC) - timedelta(hours=2)
    first = lifecycle.start_session(
        instrument=FIB, user="alice", at=at, session_identifier="s-1", engine=sqlite_db
    )
    assert first.created
    lifecycle.end_session(session_identifier="s-1", at=at + timedelta(hours=1), engine=sqlite_db)
    before = dump_session_log(sqlite_db)
    again = lifecycle.start_session(
        instrument=FIB, user="alice", at=at, session_identifier="s-1", engine=sqlite_db
    )
    assert not again.created
    assert dump_session_log(sqlite_db) == before


def test_an_end_refuses_a_row_another_writer_added_meanwhile(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The END marks exactly its START and END: a third row of the session, added between
    its two statements by a writer that skips the lock, is not made TO_BE_BUILT with them."""
    ident = lifecycle.start_session(instrument=FIB, user="alice", engine=sqlite_db)
    ident = ident.session.session_identifier
    before = dump_database(sqlite_db)

    def another_writer(conn: Connection) -> None:
        conn.execute(
            text(
                "INSERT INTO session_log (session_identifier, instrument, timestamp, "
                'event_type, record_status, "user") VALUES (:i, :p, '
                "'2099-01-01T00:00:00+05:30', 'END', 'WAITING_FOR_END', 'mallory')"
            ),
            {"i": ident, "p": FIB},
        )

    monkeypatch.setattr(ending, "_between_end_insert_and_status_update", another_writer)
    with pytest.raises(Conflict, match="changed 3 rows instead of 2"):
        lifecycle.end_session(instrument=FIB, engine=sqlite_db)
    assert dump_database(sqlite_db) == before


def test_a_start_never_begins_before_an_end_written_30_s_ahead(sqlite_db: str) -> None:
    """Another PC's clock 30 s ahead wrote the last END: the next START on this PC is not
    placed before it (the sessions would overlap)."""
    first = lifecycle.start_session(instrument=TEM, user="alice", engine=sqlite_db).session
    ahead = datetime.now(UTC) + timedelta(seconds=30)
    ended = lifecycle.end_session(
        session_identifier=first.session_identifier, at=ahead, engine=sqlite_db
    )
    second = lifecycle.start_session(instrument=TEM, user="bob", engine=sqlite_db).session
    assert second.started >= ended.ended
    assert find_problems(engine=sqlite_db) == []
