"""Session lifecycle (issue 3) on an SQLite file and on PostgreSQL: start, end, resume,
heartbeat, notes, input limits, and the atomicity of END."""

from __future__ import annotations

import getpass
import json
import sqlite3
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, text

from nexus_logger.core import get_sessions_to_build, timestamps
from nexus_logger.core.db.engine import get_engine
from nexus_logger.core.errors import (
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NoteChanged,
    NotFound,
    SessionEnded,
)
from nexus_logger.core.sessions import ending, lifecycle
from nexus_logger.core.sessions.lifecycle import (
    NoOpenSession,
    end_session,
    find_open_session,
    get_note,
    last_heartbeat,
    record_heartbeat,
    replace_session,
    set_note,
    start_session,
)
from tests.helpers_lifecycle import (
    dump_database,
    dump_session_log,
    raw_execute,
    raw_query,
    starts_on,
)

TEM, SEM, FIB = "TEST-TEM-001", "TEST-SEM-002", "TEST-FIB-003"
ZONES = {TEM: "America/New_York", SEM: "Europe/Berlin", FIB: "Asia/Kolkata"}


def _rows(db: str, ident: str) -> list[tuple]:
    return raw_query(
        db,
        'SELECT event_type, record_status, "user", timestamp FROM session_log '
        "WHERE session_identifier = ? ORDER BY id_session_log",
        (ident,),
    )


# --- start ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pid", [TEM, SEM, FIB])
def test_start_writes_one_waiting_start_in_the_instrument_zone(db: str, pid: str) -> None:
    before = datetime.now(ZoneInfo("UTC"))
    result = start_session(instrument=pid, user="alice", engine=db)
    assert result.created
    s = result.session
    assert uuid.UUID(s.session_identifier).version == 4
    rows = _rows(db, s.session_identifier)
    assert [r[:3] for r in rows] == [("START", "WAITING_FOR_END", "alice")]
    stored = rows[0][3]
    assert stored == s.start_text
    parsed = datetime.fromisoformat(stored)
    assert parsed.utcoffset() == parsed.astimezone(ZoneInfo(ZONES[pid])).utcoffset()
    assert before - timedelta(seconds=1) <= parsed <= datetime.now(ZoneInfo("UTC"))
    assert s.started == parsed and s.started.tzinfo == ZoneInfo(ZONES[pid])
    assert s.instrument.instrument_pid == pid and s.user == "alice"


def test_second_start_returns_the_open_session_and_writes_nothing(db: str) -> None:
    first = start_session(instrument=TEM, user="alice", note="grid 3", engine=db)
    before = dump_database(db)
    second = start_session(instrument=TEM, user="bob", note="other", engine=db)
    assert not second.created
    assert second.session.session_identifier == first.session.session_identifier
    assert second.session.user == "alice" and second.session.note == "grid 3"
    assert dump_database(db) == before
    # Other instruments are independent.
    assert start_session(instrument=SEM, user="bob", engine=db).created


def test_default_user_is_the_os_login(db: str) -> None:
    result = start_session(instrument=TEM, engine=db)
    assert result.session.user == getpass.getuser()
    assert starts_on(db, TEM)[0][1] == getpass.getuser()


def test_start_with_explicit_identifier_is_idempotent(db: str) -> None:
    """What the outbox replay relies on: the same START twice gives one row."""
    ident = str(uuid.uuid4())
    at = datetime(2025, 3, 4, 9, 15, 0)  # naive: the instrument's zone
    first = start_session(instrument=SEM, user="carol", at=at, session_identifier=ident, engine=db)
    assert first.created and first.session.start_text == "2025-03-04T09:15:00+01:00"
    again = start_session(instrument=SEM, user="carol", at=at, session_identifier=ident, engine=db)
    assert not again.created and again.session.session_identifier == ident
    assert starts_on(db, SEM) == [(ident, "carol", "WAITING_FOR_END")]


def test_start_on_unknown_instrument_is_refused(db: str) -> None:
    before = dump_database(db)
    with pytest.raises(NotFound, match=r"'NOPE'.*Known instruments: .*TEST-TEM-001"):
        start_session(instrument="NOPE", user="alice", engine=db)
    assert dump_database(db) == before


# --- input limits ---------------------------------------------------------------------------


BAD_INPUT = [
    ({"user": "u" * 51}, "51 characters long; NexusLIMS allows at most 50"),
    ({"user": "bob\nsmith"}, "control characters"),
    ({"user": "a\x00b"}, "control characters"),
    ({"user": "   "}, "user name is empty"),
    ({"instrument": ""}, "instrument is empty"),
    ({"instrument": "  "}, "instrument is empty"),
    ({"instrument": "TEST\tTEM"}, "control characters"),
    ({"note": "x" * 2001}, "2001 characters long"),
    ({"note": "bell\x07"}, "control characters"),
    ({"session_identifier": "has space"}, "contains spaces"),
    ({"session_identifier": "x" * 37}, "at most 36"),
]

AWKWARD_NAMES = [
    "O'Brien; DROP TABLE session_log; --",
    'say "cheese"',
    "Zoë Ångström-Øster",
    "李小龙",
    "u" * 50,
]


def test_bad_input_is_refused_before_anything_is_written(db: str) -> None:
    before = dump_database(db)
    for kwargs, message in BAD_INPUT:
        args = {"instrument": TEM, "user": "alice", **kwargs}
        with pytest.raises(InvalidInput, match=message):
            start_session(engine=db, **args)
        assert dump_database(db) == before, kwargs


def test_awkward_names_are_stored_and_read_back_exactly(db: str) -> None:
    note = "semicolon; 'quote' \"dq\" ü"
    idents = {}
    for user in AWKWARD_NAMES:
        ident = start_session(instrument=FIB, user=user, note=note, engine=db).session
        idents[ident.session_identifier] = user
        assert find_open_session(FIB, engine=db).user == user
        assert get_note(ident.session_identifier, engine=db) == note
        assert end_session(instrument=FIB, engine=db).user == user
        assert [r[2] for r in _rows(db, ident.session_identifier)] == [user, user]
    built = {s.session_identifier: s.user for s in get_sessions_to_build(engine=db)}
    assert built == idents


# --- end ------------------------------------------------------------------------------------


def test_end_queues_start_and_end_together_with_the_start_user(db: str) -> None:
    started = start_session(instrument=TEM, user="alice", engine=db).session
    ended = end_session(instrument=TEM, engine=db)
    assert not ended.already_ended
    assert ended.session_identifier == started.session_identifier
    rows = _rows(db, started.session_identifier)
    assert [r[:3] for r in rows] == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    assert datetime.fromisoformat(rows[1][3]) == ended.ended
    assert ended.ended.tzinfo == ZoneInfo(ZONES[TEM]) and ended.ended >= ended.started
    sessions = get_sessions_to_build(engine=db)
    assert [(s.session_identifier, s.user, s.dt_from, s.dt_to) for s in sessions] == [
        (started.session_identifier, "alice", started.started, ended.ended)
    ]
    assert find_open_session(TEM, engine=db) is None


def test_end_with_nothing_open_is_refused(db: str) -> None:
    with pytest.raises(NoOpenSession, match="No session is open on TEST-SEM-002"):
        end_session(instrument=SEM, engine=db)


def test_end_at_a_given_time_naive_means_instrument_zone(db: str) -> None:
    start_session(instrument=FIB, user="d", at=datetime(2025, 1, 6, 9, 0), engine=db)
    ended = end_session(instrument=FIB, at=datetime(2025, 1, 6, 10, 30), engine=db)
    assert ended.ended.isoformat() == "2025-01-06T10:30:00+05:30"
    assert ended.duration_seconds == 5400


def test_end_before_start_is_refused_and_changes_nothing(db: str) -> None:
    start_session(instrument=TEM, user="alice", at=datetime(2025, 1, 6, 9, 0), engine=db)
    before = dump_database(db)
    with pytest.raises(InvalidInput, match="before the session started"):
        end_session(instrument=TEM, at=datetime(2025, 1, 6, 8, 59), engine=db)
    assert dump_database(db) == before


def test_end_in_the_future_is_refused_and_changes_nothing(db: str) -> None:
    start_session(instrument=TEM, user="alice", engine=db)
    before = dump_database(db)
    later = datetime.now(ZoneInfo("UTC")) + lifecycle.CLOCK_SLACK + timedelta(minutes=1)
    with pytest.raises(InvalidInput, match="in the future"):
        end_session(instrument=TEM, at=later, engine=db)
    assert dump_database(db) == before
    # Within the slack (clocks of two PCs differ a little) it is still accepted.
    soon = datetime.now(ZoneInfo("UTC")) + timedelta(minutes=1)
    assert end_session(instrument=TEM, at=soon, engine=db).ended == soon


def test_ending_twice_is_a_harmless_no_op(db: str) -> None:
    ident = start_session(instrument=TEM, user="alice", engine=db).session.session_identifier
    first = end_session(session_identifier=ident, engine=db)
    before = dump_database(db)
    again = end_session(session_identifier=ident, engine=db)
    assert again.already_ended and again.ended == first.ended
    assert dump_database(db) == before


def test_end_of_unknown_session_is_refused(db: str) -> None:
    with pytest.raises(NotFound, match="no session"):
        end_session(session_identifier=str(uuid.uuid4()), engine=db)


def test_end_names_wrong_instrument(db: str) -> None:
    ident = start_session(instrument=TEM, user="a", engine=db).session.session_identifier
    before = dump_database(db)
    with pytest.raises(InvalidInput, match="belongs to TEST-TEM-001, not TEST-SEM-002"):
        end_session(instrument=SEM, session_identifier=ident, engine=db)
    assert dump_database(db) == before


def test_half_done_end_of_the_original_logger_is_finished(db: str) -> None:
    """END written but statuses never changed (the old logger's failure): end completes it."""
    ident = str(uuid.uuid4())
    for event, ts in (("START", "2024-05-01T09:00:00-04:00"), ("END", "2024-05-01T11:00:00-04:00")):
        raw_execute(
            db,
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
            (ident, TEM, ts, event, "WAITING_FOR_END", "eve"),
        )
    assert get_sessions_to_build(engine=db) == []
    ended = end_session(session_identifier=ident, engine=db)
    assert ended.already_ended
    assert ended.ended.isoformat() == "2024-05-01T11:00:00-04:00"
    assert [r[:2] for r in _rows(db, ident)] == [("START", "TO_BE_BUILT"), ("END", "TO_BE_BUILT")]
    assert [s.session_identifier for s in get_sessions_to_build(engine=db)] == [ident]


def test_half_done_end_with_another_user_is_not_queued(db: str) -> None:
    ident = str(uuid.uuid4())
    for event, user in (("START", "eve"), ("END", "mallory")):
        raw_execute(
            db,
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
            (ident, TEM, "2024-05-01T09:00:00-04:00", event, "WAITING_FOR_END", user),
        )
    before = dump_database(db)
    with pytest.raises(Conflict, match="user differs"):
        end_session(session_identifier=ident, engine=db)
    assert dump_database(db) == before


def test_queued_start_without_end_becomes_buildable(db: str) -> None:
    """A START already TO_BE_BUILT with no END stops NexusLIMS's whole run; ending fixes it."""
    ident = str(uuid.uuid4())
    raw_execute(
        db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
        (ident, SEM, "2024-05-01T09:00:00+02:00", "START", "TO_BE_BUILT", "zed"),
    )
    with pytest.raises(ValueError):
        get_sessions_to_build(engine=db)
    end_session(instrument=SEM, engine=db)
    assert [s.session_identifier for s in get_sessions_to_build(engine=db)] == [ident]


def test_start_without_end_in_a_final_status_does_not_block_the_instrument(db: str) -> None:
    """Someone marked a stuck START as ERROR: it can never be ended, so it is not open."""
    ident = str(uuid.uuid4())
    raw_execute(
        db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
        (ident, FIB, "2024-05-01T09:00:00+05:30", "START", "ERROR", "old"),
    )
    assert find_open_session(FIB, engine=db) is None
    assert start_session(instrument=FIB, user="new", engine=db).created
    with pytest.raises(Conflict, match="already ERROR"):
        end_session(session_identifier=ident, engine=db)


def test_failure_between_end_insert_and_status_update_leaves_database_as_before(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ident = start_session(
        instrument=TEM, user="alice", note="n", engine=db
    ).session.session_identifier
    record_heartbeat(ident, engine=db)
    start_session(instrument=SEM, user="bob", engine=db)
    before = dump_database(db)
    seen: list[list[tuple]] = []

    def fail(conn: Connection) -> None:
        # Prove where the seam is: the END is already inserted in this transaction.
        seen.append(
            conn.execute(
                text(
                    "SELECT event_type, record_status FROM session_log "
                    "WHERE session_identifier = :i ORDER BY id_session_log"
                ),
                {"i": ident},
            ).all()
        )
        raise RuntimeError("power cut")

    monkeypatch.setattr(ending, "_between_end_insert_and_status_update", fail)
    with pytest.raises(RuntimeError, match="power cut"):
        end_session(instrument=TEM, engine=db)
    assert seen == [[("START", "WAITING_FOR_END"), ("END", "WAITING_FOR_END")]]
    assert dump_database(db) == before
    assert find_open_session(TEM, engine=db).session_identifier == ident
    monkeypatch.setattr(ending, "_between_end_insert_and_status_update", None)
    end_session(instrument=TEM, engine=db)
    assert [s.session_identifier for s in get_sessions_to_build(engine=db)] == [ident]


def test_row_count_mismatch_rolls_everything_back(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the status UPDATE does not change exactly START + END, nothing is kept."""
    ident = start_session(instrument=FIB, user="alice", engine=db).session.session_identifier
    before = dump_database(db)

    def tamper(conn: Connection) -> None:  # someone else changes the START meanwhile
        conn.execute(
            text(
                "UPDATE session_log SET record_status = 'ERROR' "
                "WHERE session_identifier = :i AND event_type = 'START'"
            ),
            {"i": ident},
        )

    monkeypatch.setattr(ending, "_between_end_insert_and_status_update", tamper)
    with pytest.raises(Conflict, match="changed 1 rows instead of 2; nothing was written"):
        end_session(instrument=FIB, engine=db)
    assert dump_database(db) == before


# --- resume ---------------------------------------------------------------------------------


def test_open_session_is_latest_start_without_end_ignoring_record_generation(db: str) -> None:
    old = start_session(instrument=TEM, user="a", at=datetime(2025, 1, 1, 9), engine=db)
    end_session(instrument=TEM, at=datetime(2025, 1, 1, 10), engine=db)
    # NexusLIMS's RECORD_GENERATION row is WAITING_FOR_END for a while: not an open session.
    raw_execute(
        db,
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        'record_status, "user") VALUES (?, ?, ?, ?, ?, ?)',
        (
            old.session.session_identifier,
            TEM,
            "2025-01-02T01:00:00-05:00",
            "RECORD_GENERATION",
            "WAITING_FOR_END",
            "nexuslims",
        ),
    )
    assert find_open_session(TEM, engine=db) is None
    new = start_session(instrument=TEM, user="b", engine=db)
    assert new.created
    found = find_open_session(TEM, engine=db)
    assert found.session_identifier == new.session.session_identifier and found.user == "b"


def test_continue_writes_nothing(db: str) -> None:
    ident = start_session(instrument=SEM, user="a", engine=db).session.session_identifier
    record_heartbeat(ident, engine=db)
    before = dump_database(db)
    found = find_open_session(SEM, engine=db)
    assert found.session_identifier == ident and found.last_heartbeat is not None
    assert dump_database(db) == before


def test_new_session_ends_old_at_its_last_heartbeat(db: str) -> None:
    old = start_session(instrument=TEM, user="a", at=datetime(2025, 1, 6, 8), engine=db).session
    beat = record_heartbeat(old.session_identifier, engine=db)
    result = replace_session(
        old_session_identifier=old.session_identifier,
        end_at=beat,
        instrument=TEM,
        user="b",
        note="fresh",
        engine=db,
    )
    assert result.created and result.session.user == "b" and result.session.note == "fresh"
    rows = _rows(db, old.session_identifier)
    assert [r[:3] for r in rows] == [("START", "TO_BE_BUILT", "a"), ("END", "TO_BE_BUILT", "a")]
    assert datetime.fromisoformat(rows[1][3]) == beat
    assert find_open_session(TEM, engine=db).session_identifier == result.session.session_identifier
    built = get_sessions_to_build(engine=db)
    assert [(s.session_identifier, s.dt_to) for s in built] == [(old.session_identifier, beat)]


def test_replace_is_one_transaction(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old = start_session(instrument=TEM, user="a", engine=db).session
    before = dump_database(db)

    def fail(conn: Connection) -> None:
        raise RuntimeError("crash")

    monkeypatch.setattr(ending, "_between_end_insert_and_status_update", fail)
    with pytest.raises(RuntimeError):
        replace_session(
            old_session_identifier=old.session_identifier,
            end_at=datetime.now(ZoneInfo("UTC")),
            instrument=TEM,
            user="b",
            engine=db,
        )
    assert dump_database(db) == before


def test_replace_refuses_end_in_the_future_and_foreign_sessions(db: str) -> None:
    old = start_session(instrument=TEM, user="a", engine=db).session
    before = dump_database(db)
    with pytest.raises(InvalidInput, match="cannot end after the new one starts"):
        replace_session(
            old_session_identifier=old.session_identifier,
            end_at=datetime.now(ZoneInfo("UTC")) + timedelta(hours=1),
            instrument=TEM,
            user="b",
            engine=db,
        )
    with pytest.raises(InvalidInput, match="belongs to TEST-TEM-001"):
        replace_session(
            old_session_identifier=old.session_identifier,
            end_at=datetime.now(ZoneInfo("UTC")),
            instrument=SEM,
            user="b",
            engine=db,
        )
    assert dump_database(db) == before


# --- heartbeat ------------------------------------------------------------------------------


def test_heartbeat_goes_to_table_and_local_file(db: str) -> None:
    ident = start_session(instrument=FIB, user="a", engine=db).session.session_identifier
    first = record_heartbeat(ident, engine=db)
    second = record_heartbeat(ident, engine=db)
    assert second >= first and second.tzinfo == ZoneInfo(ZONES[FIB])
    rows = raw_query(
        db,
        "SELECT instrument, last_alive FROM nexus_logger_heartbeat WHERE session_identifier = ?",
        (ident,),
    )
    assert rows == [(FIB, second.isoformat())]
    local = json.loads(lifecycle.heartbeat_file().read_text(encoding="utf-8"))
    assert local["sessions"][ident]["last_alive"] == second.isoformat()
    assert local["sessions"][ident]["instrument"] == FIB
    assert last_heartbeat(ident, engine=db) == second
    assert not list(lifecycle.heartbeat_file().parent.glob("*.tmp"))


def test_last_heartbeat_is_the_later_of_database_and_local_file(db: str) -> None:
    ident = start_session(instrument=TEM, user="a", engine=db).session.session_identifier
    beat = record_heartbeat(ident, engine=db)
    later = beat + timedelta(minutes=3)
    path = lifecycle.heartbeat_file()
    data = json.loads(path.read_text(encoding="utf-8"))
    data["sessions"][ident]["last_alive"] = later.isoformat()
    path.write_text(json.dumps(data), encoding="utf-8")
    assert last_heartbeat(ident, engine=db) == later
    path.unlink()
    assert last_heartbeat(ident, engine=db) == beat


def test_heartbeat_refused_after_end_and_unknown_session(db: str) -> None:
    ident = start_session(instrument=TEM, user="a", engine=db).session.session_identifier
    record_heartbeat(ident, engine=db)
    ended = end_session(instrument=TEM, engine=db)
    assert ident not in json.loads(lifecycle.heartbeat_file().read_text())["sessions"]
    with pytest.raises(Conflict, match="has ended") as refused:
        record_heartbeat(ident, engine=db)
    # It says when the session ended, as stored, so a window can show that time.
    assert isinstance(refused.value, SessionEnded)
    assert refused.value.ended_at == ended.ended
    assert refused.value.ended_at.utcoffset() == ended.ended.utcoffset()
    with pytest.raises(NotFound):
        record_heartbeat(str(uuid.uuid4()), engine=db)


def test_an_ended_session_names_the_end_nexuslims_pairs_with_it(db: str) -> None:
    """The END of the START's user (not a newer END of someone else's with the same
    identifier), a time without an offset read in the instrument's zone."""
    from tests.rawdb import raw_execute

    ident = start_session(instrument=TEM, user="a", engine=db).session.session_identifier
    lifecycle.forget_open_here(ident)  # no local record: the zone must come from the database
    insert = (
        "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
        "record_status, \"user\") VALUES (?, ?, ?, 'END', 'TO_BE_BUILT', ?)"
    )
    raw_execute(db, insert, (ident, TEM, "2031-05-06T07:08:09", "a"))  # naive: 1.x style
    raw_execute(db, insert, (ident, TEM, "2031-05-06T09:00:00+00:00", "someone else"))
    with pytest.raises(SessionEnded) as ended:
        record_heartbeat(ident, engine=db)
    assert ended.value.ended_at == datetime(
        2031, 5, 6, 7, 8, 9, tzinfo=ZoneInfo("America/New_York")
    )


def test_heartbeat_without_database_is_kept_locally(sqlite_db: str) -> None:
    """The network share is gone (here: the file stays locked): the local file still learns."""
    started = start_session(instrument=SEM, user="a", engine=sqlite_db).session
    ident = started.session_identifier
    first = record_heartbeat(ident, engine=sqlite_db)
    locker = sqlite3.connect(sqlite_db, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        short = get_engine(sqlite_db, timeout=0.2)
        with pytest.raises(DatabaseUnavailable):
            find_open_session(SEM, engine=short)
        with pytest.raises(DatabaseUnavailable):  # the caller says where the time went
            record_heartbeat(ident, engine=short)
        offline = lifecycle.record_local_heartbeat(ident, started.instrument)
        assert offline > first and offline.tzinfo == ZoneInfo(ZONES[SEM])
        assert last_heartbeat(ident, engine=short) == offline
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert raw_query(sqlite_db, "SELECT last_alive FROM nexus_logger_heartbeat") == [
        (first.isoformat(),)
    ]
    assert last_heartbeat(ident, engine=sqlite_db) == offline


def test_the_newer_heartbeat_wins_between_the_pcs_record_and_the_logins_own() -> None:
    """A login that cannot write the PC's record keeps its heartbeats in its own file: the
    PC's older entry for the same session hid them (it ended a session too early)."""
    from nexus_logger.core.sessions.local_heartbeat import read_local_file
    from nexus_logger.core.settings import paths

    def write(path: Path, last_alive: str) -> None:
        entry = {"instrument": TEM, "user": "bob", "started": "2026-12-07T08:00:00-05:00"}
        path.parent.mkdir(parents=True, exist_ok=True)
        sessions = {"s-1": {**entry, "last_alive": last_alive}}
        path.write_text(json.dumps({"version": 1, "sessions": sessions}), encoding="utf-8")

    own = paths.data_dir() / "heartbeat.json"
    write(lifecycle.heartbeat_file(), "2026-12-07T09:00:00-05:00")
    write(own, "2026-12-07T11:30:00-05:00")
    assert read_local_file()["s-1"]["last_alive"] == "2026-12-07T11:30:00-05:00"
    write(own, "2026-12-07T08:30:00-05:00")
    assert read_local_file()["s-1"]["last_alive"] == "2026-12-07T09:00:00-05:00"


def test_unreadable_local_heartbeat_file_is_ignored(db: str) -> None:
    ident = start_session(instrument=TEM, user="a", engine=db).session.session_identifier
    path = lifecycle.heartbeat_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json", encoding="utf-8")
    beat = record_heartbeat(ident, engine=db)
    assert last_heartbeat(ident, engine=db) == beat
    assert json.loads(path.read_text())["sessions"][ident]["last_alive"] == beat.isoformat()


def test_a_session_over_the_autumn_clock_change_ends_by_real_time(db: str) -> None:
    """New York's clocks went from 01:59 EDT back to 01:00 EST on 2026-11-01: an END at
    01:10 EST is twenty minutes after a START at 01:50 EDT. Compared on the instrument's
    clock it came 40 minutes before, and the END was refused, in the database and in the
    window (kept on the PC as a conflict); the session stayed open."""
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions.time_rules import TimeRules

    rules = TimeRules(backfill=timedelta(days=3650))
    start = datetime.fromisoformat("2026-11-01T01:50:00-04:00")
    end = datetime.fromisoformat("2026-11-01T01:10:00-05:00")
    start_session(instrument=TEM, user="a", at=start, engine=db, rules=rules)
    ended = end_session(instrument=TEM, at=end, engine=db, rules=rules)
    assert ended.duration_seconds == 20 * 60
    # The same through the outbox, as the window ends a session.
    start_session(instrument=TEM, user="b", at=end + timedelta(minutes=5), engine=db, rules=rules)
    session = find_open_session(TEM, engine=db)
    assert session is not None and session.started.fold == 1  # the second 01:15
    outcome = DurableLogger(get_engine(db), rules=rules).end(
        session, at=datetime.fromisoformat("2026-11-01T01:40:00-05:00"), typed=True
    )
    assert not outcome.queued, outcome.message
    assert outcome.started is not None
    assert timestamps.seconds_between(outcome.started, outcome.ended) == 25 * 60
    assert [r[0] for r in _rows(db, session.session_identifier)] == ["START", "END"]


def test_an_instrument_zone_written_in_lower_case_is_that_zone_not_utc(db: str) -> None:
    """NexusLIMS reads an instrument's 'europe/berlin' as Berlin (pytz ignores case); a time
    typed for it was stored as UTC, an hour off what was meant and what NexusLIMS reads."""
    raw_execute(
        db, "UPDATE instruments SET timezone = ? WHERE instrument_pid = ?", ("europe/berlin", SEM)
    )
    berlin = ZoneInfo("Europe/Berlin")
    typed = datetime.now(berlin).replace(tzinfo=None, microsecond=0) - timedelta(minutes=30)
    ident = start_session(instrument=SEM, user="a", at=typed, engine=db).session.session_identifier
    ((stored,),) = raw_query(
        db, "SELECT timestamp FROM session_log WHERE session_identifier = ?", (ident,)
    )
    assert datetime.fromisoformat(stored) == typed.replace(tzinfo=berlin), stored
    assert (
        find_open_session(SEM, engine=db).started.utcoffset()
        == typed.replace(tzinfo=berlin).utcoffset()
    )


# --- notes ----------------------------------------------------------------------------------


def test_note_editable_until_end(db: str) -> None:
    ident = start_session(instrument=SEM, user="a", engine=db).session.session_identifier
    assert get_note(ident, engine=db) is None
    set_note(ident, "Sample: Au grid #4\nTilt series 1–3", engine=db)
    assert get_note(ident, engine=db) == "Sample: Au grid #4\nTilt series 1–3"
    set_note(ident, "replaced", engine=db)
    assert find_open_session(SEM, engine=db).note == "replaced"
    set_note(ident, "   ", engine=db)
    assert get_note(ident, engine=db) is None
    set_note(ident, "final words", engine=db)
    end_session(instrument=SEM, engine=db)
    before = dump_database(db)
    with pytest.raises(InvalidInput, match="has ended; its note can no longer be changed"):
        set_note(ident, "too late", engine=db)
    assert dump_database(db) == before
    assert get_note(ident, engine=db) == "final words"


def test_a_note_changed_since_it_was_read_is_not_overwritten_unseen(db: str) -> None:
    """Two windows on one session (a login continuing another's): a save that names the note
    as it read it is refused, saying what is there now, when someone changed it meanwhile."""
    ident = start_session(instrument=SEM, user="a", engine=db).session.session_identifier
    set_note(ident, "grid 4", engine=db, expected=None)
    set_note(ident, "grid 4, tilt series", engine=db)  # the other window, or the CLI
    before = dump_database(db)
    with pytest.raises(NoteChanged) as refused:
        set_note(ident, "grid 5", engine=db, expected="grid 4")
    assert refused.value.current == "grid 4, tilt series"
    assert dump_database(db) == before
    with pytest.raises(NoteChanged):
        set_note(ident, "  ", engine=db, expected=None)  # removing it is a change too
    set_note(ident, "grid 5", engine=db, expected="grid 4, tilt series")
    assert get_note(ident, engine=db) == "grid 5"
    set_note(ident, "", engine=db, expected="grid 5")
    assert get_note(ident, engine=db) is None


def test_note_for_unknown_session_is_refused(db: str) -> None:
    with pytest.raises(NotFound):
        set_note(str(uuid.uuid4()), "x", engine=db)


def test_reading_never_creates_logger_tables(tmp_path: Path, sqlite_db: str) -> None:
    from tests.helpers_lifecycle import table_names

    ident = start_session(instrument=TEM, user="a", engine=sqlite_db).session.session_identifier
    # The START itself claims the instrument (the one-open-session rule); reads add nothing.
    written = {t for t in table_names(sqlite_db) if t.startswith("nexus_logger_")}
    assert written == {"nexus_logger_open_session"}
    assert find_open_session(TEM, engine=sqlite_db).note is None
    assert get_note(ident, engine=sqlite_db) is None
    assert last_heartbeat(ident, engine=sqlite_db) is None
    assert {t for t in table_names(sqlite_db) if t.startswith("nexus_logger_")} == written


def test_nexuslims_tables_are_not_altered(sqlite_db: str) -> None:
    def schema() -> list[tuple]:
        return raw_query(
            sqlite_db,
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name NOT LIKE 'nexus_logger_%' "
            "ORDER BY name",
        )

    before = schema()
    ident = start_session(instrument=TEM, user="a", note="n", engine=sqlite_db).session
    record_heartbeat(ident.session_identifier, engine=sqlite_db)
    end_session(instrument=TEM, engine=sqlite_db)
    assert schema() == before
    added = {
        r[0]
        for r in raw_query(sqlite_db, "SELECT name FROM sqlite_master")
        if r[0].startswith("nexus_logger_")
    }
    assert added == {"nexus_logger_note", "nexus_logger_heartbeat", "nexus_logger_open_session"}
    assert dump_session_log(sqlite_db)  # and the rows went into NexusLIMS's own table


def test_lock_timeout_still_reads_as_before_for_every_caller(sqlite_db: str) -> None:
    """The write lock is polled for (fair to many writers); a timeout looks as it always did."""
    from nexus_logger.core import db_query

    locker = sqlite3.connect(sqlite_db, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    try:
        short = get_engine(sqlite_db, timeout=0.3)
        before = dump_session_log(sqlite_db)
        with pytest.raises(DatabaseUnavailable, match="stayed locked"):
            start_session(instrument=TEM, user="a", engine=short)
        assert db_query("UPDATE session_log SET user = 'x'", engine=short) == (False, [])
        with short.connect() as conn:  # and the busy timeout is back after each attempt
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 300
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert dump_session_log(sqlite_db) == before
    assert start_session(instrument=TEM, user="a", engine=short).created


def test_local_only_heartbeat_is_merged_into_last_heartbeat(sqlite_db: str) -> None:
    """While the database is away the caller records locally; the time is not lost."""
    started = start_session(instrument=FIB, user="a", engine=sqlite_db).session
    in_db = record_heartbeat(started.session_identifier, engine=sqlite_db)
    local = lifecycle.record_local_heartbeat(started.session_identifier, started.instrument)
    assert local > in_db and local.tzinfo == ZoneInfo(ZONES[FIB])
    assert raw_query(sqlite_db, "SELECT last_alive FROM nexus_logger_heartbeat") == [
        (in_db.isoformat(),)
    ]
    assert last_heartbeat(started.session_identifier, engine=sqlite_db) == local
    assert find_open_session(FIB, engine=sqlite_db).last_heartbeat == local
