"""The session_handler API on SQLite and PostgreSQL, and on NexusLIMS's own databases."""

from __future__ import annotations

import logging
import sqlite3
import threading
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core import (
    EventType,
    RecordStatus,
    Session,
    SessionLog,
    db_query,
    get_all_session_logs,
    get_sessions_to_build,
)
from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.errors import InvalidInput, NotFound
from tests.nexuslims_ref import nexuslims_sessions_to_build


def _log(
    db: str, ident: str, pid: str, when: datetime, event: str, user: str | None, status: str
) -> None:
    assert SessionLog(ident, pid, when, event, user, status).insert_log(engine=db)


def _session(
    db: str, pid: str, user: str, start: datetime, minutes: int = 30, status: str = "TO_BE_BUILT"
) -> str:
    ident = str(uuid.uuid4())
    _log(db, ident, pid, start, "START", user, status)
    _log(db, ident, pid, start + timedelta(minutes=minutes), "END", user, status)
    return ident


def _raw_to_be_built(path: str) -> set[tuple[str, str, str, str, str]]:
    """Independent pairing straight from the file, for comparison."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT session_identifier, instrument, user, event_type, timestamp FROM session_log "
            "WHERE record_status = 'TO_BE_BUILT'"
        ).fetchall()
    starts = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "START"}
    ends = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "END"}
    return {(k[0], k[1], k[2], starts[k], ends[k]) for k in starts if k in ends}


def test_reference_fixture_sessions_to_build(reference_db: str) -> None:
    sessions = get_sessions_to_build(engine=reference_db)
    assert len(sessions) == 6  # shared/README.md: exactly the 6 TO_BE_BUILT sessions
    zones = {pid: inst.timezone for pid, inst in load_instruments(reference_db).items()}
    got = set()
    for s in sessions:
        assert s.dt_from.tzinfo is not None and s.dt_to.tzinfo is not None
        assert s.dt_from < s.dt_to
        assert (
            s.dt_from.utcoffset()
            == s.dt_from.astimezone(ZoneInfo(zones[s.instrument.instrument_pid])).utcoffset()
        )
        got.add(
            (
                s.session_identifier,
                s.instrument.instrument_pid,
                s.user,
                s.dt_from.isoformat(),
                s.dt_to.isoformat(),
            )
        )
    assert got == _raw_to_be_built(reference_db)
    assert {s.instrument.instrument_pid for s in sessions} == set(zones)


def test_reference_fixture_agrees_with_real_nexuslims(reference_db: str, nexuslims_python) -> None:
    theirs = nexuslims_sessions_to_build(nexuslims_python, reference_db)["sessions"]
    ours = get_sessions_to_build(engine=reference_db)
    assert sorted(
        (
            s.session_identifier,
            s.instrument.instrument_pid,
            s.user,
            s.dt_from.isoformat(),
            s.dt_to.isoformat(),
        )
        for s in ours
    ) == sorted(
        (t["session_identifier"], t["instrument"], t["user"], t["dt_from"], t["dt_to"])
        for t in theirs
    )


def test_legacy_fixture_naive_times_read_in_instrument_zone(legacy_db: str) -> None:
    sessions = get_sessions_to_build(engine=legacy_db)
    assert len(sessions) == 1
    (s,) = sessions
    assert s.instrument.instrument_pid == "FEI-Quanta200-ESEM-633137"
    ny = ZoneInfo("America/New_York")
    assert s.dt_from == datetime(2020, 2, 4, 13, 0, tzinfo=ny)
    assert s.dt_to == datetime(2020, 2, 4, 15, 30, tzinfo=ny)
    assert s.dt_from.tzinfo is not None


def test_pairing_rules_strict_and_lenient(db: str) -> None:
    ny = ZoneInfo("America/New_York")
    t0 = datetime(2025, 3, 1, 9, 0, tzinfo=ny)
    good = _session(db, "TEST-TEM-001", "alice", t0)
    # END by another user: NexusLIMS cannot pair it
    bad = str(uuid.uuid4())
    _log(db, bad, "TEST-TEM-001", t0 + timedelta(hours=2), "START", "bob", "TO_BE_BUILT")
    _log(db, bad, "TEST-TEM-001", t0 + timedelta(hours=3), "END", "mallory", "TO_BE_BUILT")
    with pytest.raises(ValueError, match=bad):
        get_sessions_to_build(engine=db)
    lenient = get_sessions_to_build(strict=False, engine=db)
    assert [s.session_identifier for s in lenient] == [good]
    assert [u.session_identifier for u in lenient.unpaired] == [bad]
    assert lenient.unpaired[0].user == "bob"


def test_newest_of_several_ends_is_used(db: str) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    t0 = datetime(2025, 3, 2, 9, 0, tzinfo=berlin)
    ident = _session(db, "TEST-SEM-002", "carol", t0, minutes=10)
    # a second END, written later (higher id), one hour after the start
    ok, _ = db_query(
        'INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, record_status, "user") '
        "VALUES (?, ?, ?, 'END', 'TO_BE_BUILT', ?)",
        (ident, "TEST-SEM-002", (t0 + timedelta(hours=1)).isoformat(), "carol"),
        engine=db,
    )
    assert ok
    (s,) = get_sessions_to_build(engine=db)
    assert s.dt_to == t0 + timedelta(hours=1)


def test_waiting_and_completed_sessions_are_not_built(db: str) -> None:
    t0 = datetime(2025, 3, 3, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    _session(db, "TEST-FIB-003", "dave", t0, status="COMPLETED")
    ident = str(uuid.uuid4())
    _log(db, ident, "TEST-FIB-003", t0 + timedelta(hours=2), "START", "dave", "WAITING_FOR_END")
    assert get_sessions_to_build(engine=db) == []


def test_all_session_logs_ordered_by_instant_not_text(db: str) -> None:
    # 10:00+05:30 is 04:30 UTC, earlier than 09:00-05:00 (14:00 UTC) though its text sorts later
    kolkata = datetime(2025, 4, 1, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    ny = datetime(2025, 4, 1, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    berlin = datetime(2025, 4, 1, 7, 0, tzinfo=ZoneInfo("Europe/Berlin"))  # 05:00 UTC
    _log(db, str(uuid.uuid4()), "TEST-TEM-001", ny, "START", "a", "WAITING_FOR_END")
    _log(db, str(uuid.uuid4()), "TEST-FIB-003", kolkata, "START", "b", "WAITING_FOR_END")
    _log(db, str(uuid.uuid4()), "TEST-SEM-002", berlin, "START", "c", "WAITING_FOR_END")
    logs = get_all_session_logs(engine=db)
    assert [log.user for log in logs] == ["b", "c", "a"]
    instants = [datetime.fromisoformat(log.timestamp) for log in logs]
    assert instants == sorted(instants)


def test_all_session_logs_legacy_naive_and_aware_mixed(legacy_db: str) -> None:
    logs = get_all_session_logs(engine=legacy_db)
    ny = "America/New_York"
    instants = [log.datetime(ny) for log in logs]
    assert instants == sorted(instants)
    assert len(logs) == 6


def test_insert_log_once_and_warns(db: str, caplog: pytest.LogCaptureFixture) -> None:
    ident = str(uuid.uuid4())
    when = datetime(2025, 5, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    log = SessionLog(
        ident, "TEST-TEM-001", when, EventType.START, "o'brien; DROP TABLE x", "WAITING_FOR_END"
    )
    assert log.insert_log(engine=db)
    with caplog.at_level(logging.WARNING):
        assert SessionLog(
            ident, "TEST-TEM-001", when, "START", "o'brien; DROP TABLE x", "WAITING_FOR_END"
        ).insert_log(engine=db)
    assert "already exists" in caplog.text
    ok, rows = db_query(
        'SELECT "user", timestamp FROM session_log WHERE session_identifier = ?',
        (ident,),
        engine=db,
    )
    assert ok and rows == [("o'brien; DROP TABLE x", when.isoformat())]


def test_session_log_default_status_is_to_be_built() -> None:
    log = SessionLog("x", "y", "2025-01-01T00:00:00+00:00", "START", "u")
    assert log.record_status == RecordStatus.TO_BE_BUILT == "TO_BE_BUILT"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"user": "x" * 51}, InvalidInput, "at most 50"),
        ({"user": "bad\nname"}, InvalidInput, "control characters"),
        ({"user": "evil\u202etxt.exe"}, InvalidInput, "control characters"),
        ({"instrument": "   "}, InvalidInput, "instrument is empty"),
        ({"instrument": "NOPE-1"}, NotFound, "Known instruments: TEST-"),
        ({"record_status": "DONE"}, InvalidInput, "is not a valid RecordStatus"),
        ({"event_type": "PAUSE"}, InvalidInput, "is not a valid EventType"),
        ({"timestamp": "yesterday"}, InvalidInput, "^Invalid isoformat string: .yesterday."),
    ],
)
def test_insert_log_refuses_bad_input_and_writes_nothing(
    db: str, kwargs: dict, error: type, match: str
) -> None:
    values = {
        "session_identifier": str(uuid.uuid4()),
        "instrument": "TEST-TEM-001",
        "timestamp": "2025-05-01T08:00:00-04:00",
        "event_type": "START",
        "user": "alice",
        "record_status": "WAITING_FOR_END",
    } | kwargs
    with pytest.raises(error, match=match):
        SessionLog(**values).insert_log(engine=db)
    assert db_query("SELECT COUNT(*) FROM session_log", engine=db) == (True, [(0,)])


def test_insert_log_racing_threads_insert_once(db: str) -> None:
    """Eight threads inserting the same START: exactly one row (check and insert are atomic)."""
    ident = str(uuid.uuid4())
    barrier = threading.Barrier(8)
    results: list[bool] = []

    def insert() -> None:
        log = SessionLog(
            ident, "TEST-TEM-001", "2025-05-02T08:00:00-04:00", "START", "amy", "WAITING_FOR_END"
        )
        barrier.wait(10)
        results.append(log.insert_log(engine=db))

    threads = [threading.Thread(target=insert) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [True] * 8
    assert db_query(
        "SELECT COUNT(*) FROM session_log WHERE session_identifier = ?", (ident,), engine=db
    ) == (True, [(1,)])


@pytest.mark.parametrize(
    "given", ["2025-01-06T13:06:34Z", "2025-01-06 13:06:34+00:00", "2025-01-06T14:06:34+01:00"]
)
def test_aware_timestamp_is_stored_in_instrument_zone(db: str, given: str) -> None:
    ident = str(uuid.uuid4())
    assert SessionLog(ident, "TEST-TEM-001", given, "START", "ann", "WAITING_FOR_END").insert_log(
        engine=db
    )
    _, rows = db_query(
        "SELECT timestamp FROM session_log WHERE session_identifier = ?", (ident,), engine=db
    )
    assert rows == [("2025-01-06T08:06:34-05:00",)]  # the same instant, New York time


def test_naive_timestamp_is_stored_aware_in_instrument_zone(db: str) -> None:
    ident = str(uuid.uuid4())
    assert SessionLog(
        ident, "TEST-SEM-002", "2025-07-01 10:00:00", "START", "eve", "WAITING_FOR_END"
    ).insert_log(engine=db)
    _, rows = db_query(
        "SELECT timestamp FROM session_log WHERE session_identifier = ?", (ident,), engine=db
    )
    assert rows == [("2025-07-01T10:00:00+02:00",)]


def test_non_ascii_names_round_trip(db: str) -> None:
    name = "Zoë Ångström-Łukasz 田中 Mohammad\u200cReza"  # with a zero-width non-joiner
    ident = _session(db, "TEST-TEM-001", name, datetime(2025, 6, 1, 9, tzinfo=ZoneInfo("UTC")))
    (s,) = get_sessions_to_build(engine=db)
    assert (s.session_identifier, s.user) == (ident, name)


def test_update_status_and_record_generation(db: str) -> None:
    ident = _session(
        db, "TEST-SEM-002", "frank", datetime(2025, 6, 2, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    )
    (s,) = get_sessions_to_build(engine=db)
    with pytest.raises(InvalidInput, match="is not a valid RecordStatus"):
        s.update_session_status("FINISHED")
    event = s.insert_record_generation_event()
    assert event["event_type"] == "RECORD_GENERATION" and event["session_identifier"] == ident
    stamp = datetime.fromisoformat(event["timestamp"])
    assert stamp.tzinfo is not None
    assert stamp.utcoffset() == datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()
    assert s.update_session_status(RecordStatus.COMPLETED)
    _, rows = db_query(
        'SELECT event_type, record_status, "user" FROM session_log WHERE session_identifier = ? ORDER BY id_session_log',
        (ident,),
        engine=db,
    )
    assert rows == [
        ("START", "COMPLETED", "frank"),
        ("END", "COMPLETED", "frank"),
        ("RECORD_GENERATION", "COMPLETED", "nexuslims"),
    ]
    assert get_sessions_to_build(engine=db) == []


def test_legacy_database_refuses_statuses_it_cannot_hold(legacy_db: str) -> None:
    sessions = get_sessions_to_build(engine=legacy_db)
    with pytest.raises(InvalidInput, match="does not allow the status BUILT_NOT_EXPORTED"):
        sessions[0].update_session_status("BUILT_NOT_EXPORTED")


def test_db_query_binds_parameters_and_reports_failure(db: str) -> None:
    hostile = "x'); DELETE FROM instruments; --"
    ok, rows = db_query(
        "SELECT instrument_pid FROM instruments WHERE display_name = ?", (hostile,), engine=db
    )
    assert ok and rows == []
    ok, rows = db_query(
        "SELECT COUNT(*) FROM instruments WHERE location = :loc", {"loc": "Lab"}, engine=db
    )
    assert ok and rows == [(3,)]
    ok, rows = db_query("SELECT '50%' , ? ", ("?",), engine=db)
    assert ok and rows == [("50%", "?")]
    assert db_query("SELECT * FROM no_such_table", engine=db) == (False, [])


def test_session_constructor_matches_reference_signature(reference_db: str) -> None:
    inst = load_instruments(reference_db)["NX-TEST-INSTR-001"]
    start = datetime(2025, 1, 1, 9, tzinfo=ZoneInfo("America/New_York"))
    s = Session("abc", inst, (start, start + timedelta(hours=1)), "zed")
    assert (s.session_identifier, s.instrument, s.dt_from, s.user) == ("abc", inst, start, "zed")
    assert repr(s).endswith("on NX-TEST-INSTR-001")
