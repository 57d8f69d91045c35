"""The open-session check remembers its last full look at ``session_log`` (open_sessions.py).

Each test checks that the shortcut gives the same answer as reading the whole table would, in
the cases its docstring names: sessions started and ended by another process, a status set
back through the NexusLIMS API, an id SQLite hands out a second time, and a memo that expired.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, event

from nexus_logger.core import lifecycle, open_sessions
from nexus_logger.core.engine import create_db_engine, get_engine, is_url
from nexus_logger.core.lifecycle import (
    OpenSession,
    end_session,
    find_open_session,
    replace_session,
    start_session,
)
from nexus_logger.core.logger_tables import ADVISORY_NAMESPACE, advisory_key
from nexus_logger.core.schema import load_instruments
from nexus_logger.core.session_handler import Session, db_query, get_sessions_to_build
from tests.helpers_lifecycle import pg_dsn, raw_execute, raw_query

PID = "TEST-TEM-001"
OTHER = "TEST-SEM-002"


class _Statements:
    """The SQL an engine sends while the context is open."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sql: list[str] = []

    def _record(self, *args: object) -> None:
        statement = str(args[2])  # (conn, cursor, statement, parameters, context, executemany)
        self.sql.append(" ".join(statement.split()))

    def __enter__(self) -> _Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def open_checks(self) -> list[str]:
        """The open-session queries among them (they alone probe for a missing END)."""
        return [s for s in self.sql if "NOT (EXISTS" in s]


@pytest.fixture
def second_process_engine(db: str) -> Iterator[Engine]:
    """A second engine on the same database: its own memo, as another PC or process has."""
    engine = create_db_engine(db)
    yield engine
    engine.dispose()


def _full_look(target: str, pid: str = PID) -> object:
    """This process reads the whole history now, and remembers it (the memo's ``upto`` is the
    newest row): what a launch, or the first start after a quiet minute, does."""
    open_sessions.forget()
    return find_open_session(pid, engine=target)


def _history(db: str, sessions: int) -> None:
    for _ in range(sessions):
        start_session(instrument=PID, user="past", engine=db)
        end_session(instrument=PID, engine=db)


def _start_finds(engine: str | Engine, ident: str, *, user: str) -> OpenSession:
    """A start on :data:`PID` writes nothing and returns the open session ``ident``."""
    result = start_session(instrument=PID, user=user, engine=engine)
    assert not result.created
    assert result.session.session_identifier == ident
    return result.session


def _replace_that_fails_after_its_check(
    monkeypatch: pytest.MonkeyPatch, engine: str | Engine
) -> None:
    """Start a session, look, then "end it and start a new one" failing after its open check.

    That check comes after the transaction's own END insert; the rollback takes the END back,
    so the old session must still be found open afterwards.
    """
    old = start_session(instrument=PID, user="alice", engine=engine).session
    open_sessions.forget()
    assert find_open_session(PID, engine=engine).session_identifier == old.session_identifier

    def crash(**_: object) -> None:
        raise RuntimeError("crash after the new START")

    with monkeypatch.context() as patch:
        patch.setattr(lifecycle, "OpenSession", crash)
        with pytest.raises(RuntimeError, match="crash after the new START"):
            replace_session(
                old_session_identifier=old.session_identifier,
                end_at=old.started,
                instrument=PID,
                user="bob",
                engine=engine,
            )
    _start_finds(engine, old.session_identifier, user="carol")


def test_after_a_full_look_only_newer_rows_are_read(db: str) -> None:
    _history(db, 3)
    engine = get_engine(db)
    open_sessions.forget()
    with _Statements(engine) as first:
        started = start_session(instrument=PID, user="alice", engine=db)
    with _Statements(engine) as second:
        ended = end_session(instrument=PID, engine=db)
    assert ended.session_identifier == started.session.session_identifier
    [full] = first.open_checks()
    [short] = second.open_checks()
    assert "id_session_log >" not in full  # the whole history
    assert "id_session_log >" in short  # a primary-key range: rows since the full look


def test_an_expired_memo_takes_a_full_look(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _history(db, 1)
    engine = get_engine(db)
    monkeypatch.setattr(open_sessions, "MEMO_SECONDS", 0.0)
    with _Statements(engine) as seen:
        start_session(instrument=PID, user="alice", engine=db)
    assert all("id_session_log >" not in s for s in seen.open_checks())
    assert seen.open_checks()


def test_sessions_of_another_process_are_seen_through_the_memo(
    db: str, second_process_engine: Engine
) -> None:
    _history(db, 2)
    assert _full_look(db) is None  # this process's memo: nothing open
    theirs = start_session(instrument=PID, user="bob", engine=second_process_engine)
    assert theirs.created
    assert _start_finds(db, theirs.session.session_identifier, user="alice").user == "bob"
    # Ended by the other process: this one must see the instrument free again.
    end_session(instrument=PID, engine=second_process_engine)
    assert find_open_session(PID, engine=db) is None
    again = start_session(instrument=PID, user="alice", engine=db)
    assert again.created
    assert find_open_session(PID, engine=second_process_engine).user == "alice"
    ended = end_session(instrument=PID, engine=db)
    built = {s.session_identifier for s in get_sessions_to_build(engine=db)}
    assert {theirs.session.session_identifier, ended.session_identifier} <= built


def test_other_instruments_rows_do_not_hide_this_ones(
    db: str, second_process_engine: Engine
) -> None:
    _history(db, 1)
    assert _full_look(db) is None
    assert find_open_session(OTHER, engine=db) is None
    for _ in range(5):  # rows of another instrument move the top id on
        start_session(instrument=OTHER, user="carol", engine=second_process_engine)
        end_session(instrument=OTHER, engine=second_process_engine)
    theirs = start_session(instrument=PID, user="bob", engine=second_process_engine)
    found = find_open_session(PID, engine=db)
    assert found is not None and found.session_identifier == theirs.session.session_identifier
    assert find_open_session(OTHER, engine=db) is None


@pytest.mark.parametrize("api", ["update_session_status", "db_query", "db_query with a comment"])
def test_status_set_back_through_the_nexuslims_api_reopens_the_session(
    db: str, second_process_engine: Engine, api: str
) -> None:
    started = start_session(instrument=PID, user="alice", engine=db)
    ident = started.session.session_identifier
    raw_execute(
        db, "UPDATE session_log SET record_status = 'ERROR' WHERE session_identifier = ?", (ident,)
    )
    assert _full_look(db) is None  # memo: ERROR without END is not open
    # Through another engine on the same database (a path here, the configured default
    # there): what every engine of the process remembers must go.
    if api.startswith("db_query"):
        comment = "/* put it back */ " if "comment" in api else ""
        ok, _ = db_query(
            comment + "UPDATE session_log SET record_status = ? WHERE session_identifier = ?",
            ("WAITING_FOR_END", ident),
            engine=second_process_engine,
        )
        assert ok
    else:
        instrument = load_instruments(get_engine(db))[PID]
        span = (started.session.started, started.session.started)
        session = Session(ident, instrument, span, "alice", engine=second_process_engine)
        assert session.update_session_status("WAITING_FOR_END")
    _start_finds(db, ident, user="bob")


def test_an_engine_built_elsewhere_is_not_trusted_with_the_memo(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller's own ``create_engine`` does not mark its writes, so nothing it reads is kept."""
    url = db if is_url(db) else f"sqlite:///{db}"
    foreign = create_engine(url)
    try:
        _replace_that_fails_after_its_check(monkeypatch, foreign)
    finally:
        foreign.dispose()


_INSERT = (
    "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
    'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)'
)


def test_an_id_handed_out_again_is_noticed(db: str) -> None:
    done = start_session(instrument=PID, user="past", engine=db)
    end_session(instrument=PID, engine=db)
    ident = done.session.session_identifier
    stamp = "2026-01-01T00:00:00+00:00"
    raw_execute(db, _INSERT, (ident, PID, stamp, "RECORD_GENERATION", "COMPLETED", "nexuslims"))
    assert _full_look(db) is None  # memo: up to the newest row
    [(top,)] = raw_query(db, "SELECT max(id_session_log) FROM session_log")
    # The newest row goes away and its id is handed out again: SQLite does so by itself; a
    # PostgreSQL sequence after it was set back (a restore from a backup). The next row, a
    # START of another program, has an id the memo counts as already read.
    raw_execute(db, "DELETE FROM session_log WHERE id_session_log = ?", (top,))
    if is_url(db):
        raw_execute(
            db,
            "SELECT setval(pg_get_serial_sequence('session_log', 'id_session_log'), ?)",
            (top - 1,),
        )
    other = str(uuid.uuid4())
    stamp = "2026-01-02T09:00:00+01:00"
    raw_execute(db, _INSERT, (other, PID, stamp, "START", "WAITING_FOR_END", "legacy"))
    assert raw_query(
        db, "SELECT id_session_log FROM session_log WHERE session_identifier = ?", (other,)
    ) == [(top,)]
    _start_finds(db, other, user="alice")


def test_hand_edit_reopening_a_session_is_found_once_the_memo_expires(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _history(db, 2)
    [(ident,)] = raw_query(
        db,
        "SELECT session_identifier FROM session_log WHERE event_type = 'START' "
        "ORDER BY id_session_log LIMIT 1",
    )
    assert _full_look(db) is None
    raw_execute(
        db, "DELETE FROM session_log WHERE session_identifier = ? AND event_type = 'END'", (ident,)
    )
    monkeypatch.setattr(open_sessions, "MEMO_SECONDS", 0.0)
    found = find_open_session(PID, engine=db)
    assert found is not None and found.session_identifier == ident


def test_many_open_starts_are_read_in_full_each_time(sqlite_db: str) -> None:
    idents = [str(uuid.uuid4()) for _ in range(open_sessions._MAX_REMEMBERED + 5)]
    for k, ident in enumerate(idents):
        stamp = f"2026-01-01T{k // 60:02d}:{k % 60:02d}:00+00:00"
        raw_execute(sqlite_db, _INSERT, (ident, PID, stamp, "START", "WAITING_FOR_END", "legacy"))
    for expected in reversed(idents[-3:]):  # newest first, each ended in turn
        assert find_open_session(PID, engine=sqlite_db).session_identifier == expected
        end_session(instrument=PID, engine=sqlite_db)
    assert find_open_session(PID, engine=sqlite_db).session_identifier == idents[-4]


def test_a_session_open_at_the_full_look_is_still_found_after_it(db: str) -> None:
    _history(db, 1)
    started = start_session(instrument=PID, user="alice", engine=db)
    ident = started.session.session_identifier
    found = _full_look(db)  # the open START is now at or below the memo's ``upto``
    assert found is not None and found.session_identifier == ident
    for _ in range(2):  # checked again by id, not by the range of newer rows
        again = start_session(instrument=PID, user="bob", engine=db)
        assert not again.created and again.session.session_identifier == ident
    assert end_session(instrument=PID, engine=db).session_identifier == ident
    assert find_open_session(PID, engine=db) is None


def test_a_check_after_own_writes_is_forgotten_when_they_roll_back(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _replace_that_fails_after_its_check(monkeypatch, db)


@pytest.mark.postgres
def test_a_start_committing_after_a_newer_row_is_not_missed(pg_db: str) -> None:
    """On PostgreSQL ids are handed out at insert and made visible at commit, in any order."""
    import psycopg

    _history(pg_db, 1)
    ident = str(uuid.uuid4())
    stamp = "2026-01-02T09:00:00+01:00"
    # A writer of this instrument (another PC) holds its lock and has inserted a START that it
    # has not committed yet...
    with psycopg.connect(pg_dsn(pg_db)) as writer:
        writer.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            (ADVISORY_NAMESPACE, advisory_key(f"nexus_logger:instrument:{PID}")),
        )
        row = (ident, PID, stamp, "START", "WAITING_FOR_END", "w")
        writer.execute(_INSERT.replace("?", "%s"), row)
        # ...when a row with a larger id, of another instrument, commits.
        raw_execute(pg_db, _INSERT, (str(uuid.uuid4()), OTHER, stamp, "START", "COMPLETED", "x"))
        # A look now does not wait for the writer, and cannot see its START yet...
        assert _full_look(pg_db) is None
    # ...which commits (leaving the block), with an id below the newest row the look read.
    _start_finds(pg_db, ident, user="alice")


@pytest.mark.postgres
def test_a_sequence_with_a_cache_is_read_in_full_every_time(pg_db: str) -> None:
    """With a cache each connection takes ids from its own block: they are not in order."""
    raw_execute(pg_db, "ALTER SEQUENCE session_log_id_session_log_seq CACHE 20")
    first, second = create_db_engine(pg_db), create_db_engine(pg_db)
    try:
        for engine in (first, second):  # each takes its block: ids 1-20, then 21-40
            start_session(instrument=PID, user="past", engine=engine)
            end_session(instrument=PID, engine=engine)
        assert _full_look(pg_db) is None  # the newest row read has id 22
        theirs = start_session(instrument=PID, user="alice", engine=first)  # id 3
        [(theirs_id,)] = raw_query(
            pg_db,
            "SELECT id_session_log FROM session_log WHERE session_identifier = ?",
            (theirs.session.session_identifier,),
        )
        assert theirs_id < 22
        _start_finds(pg_db, theirs.session.session_identifier, user="bob")
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_a_remembered_check_needs_no_second_connection(pg_db: str) -> None:
    """While it holds the instrument lock, a check must not wait for another pooled connection:
    those may all be waiting for that lock."""
    engine = create_db_engine(pg_db)
    out = [0]
    most = [0]

    def checkout(*_: object) -> None:
        out[0] += 1
        most[0] = max(most[0], out[0])

    def checkin(*_: object) -> None:
        out[0] -= 1

    event.listen(engine, "checkout", checkout)
    event.listen(engine, "checkin", checkin)
    try:
        started = start_session(instrument=PID, user="alice", engine=engine)  # a fresh engine
        assert started.created
        end_session(instrument=PID, engine=engine)
        assert most[0] == 1
    finally:
        engine.dispose()
