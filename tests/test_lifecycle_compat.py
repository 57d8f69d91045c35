"""Start/end on databases NexusLIMS made: the 2.8 reference and the 1.4 legacy layout.

After our start/end, the core's ``get_sessions_to_build()`` returns the session, and on the 2.8
database so does the real NexusLIMS 2.8.0 back-end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core import get_sessions_to_build
from nexus_logger.core.sessions.lifecycle import (
    end_session,
    find_open_session,
    identify_instrument,
    start_session,
)
from nexus_logger.core.sessions.station import set_station
from tests.helpers_lifecycle import dump_database, raw_execute, raw_query
from tests.nexuslims_ref import nexuslims_sessions_to_build

REF_OPEN = "a38fd547-923a-4369-94e3-bf911a61dbe2"  # dave's open session on NX-TEST-INSTR-003
LEGACY_OPEN = "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"  # supervisor's open session on the Titan
TITAN, QUANTA = "FEI-Titan-TEM-635816", "FEI-Quanta200-ESEM-633137"
NY = ZoneInfo("America/New_York")


def _as_tuples(sessions) -> set[tuple[str, str, str | None, str, str]]:
    return {
        (
            s.session_identifier,
            s.instrument.instrument_pid,
            s.user,
            s.dt_from.isoformat(),
            s.dt_to.isoformat(),
        )
        for s in sessions
    }


def test_reference_open_session_is_found_and_not_duplicated(reference_db: str) -> None:
    found = find_open_session("NX-TEST-INSTR-003", engine=reference_db)
    assert found is not None
    assert (found.session_identifier, found.user) == (REF_OPEN, "dave")
    assert found.started == datetime.fromisoformat("2025-01-06T12:09:33+01:00")
    before = dump_database(reference_db)
    result = start_session(instrument="NX-TEST-INSTR-003", user="zoe", engine=reference_db)
    assert not result.created and result.session.session_identifier == REF_OPEN
    assert dump_database(reference_db) == before


def test_reference_start_end_read_back_by_core_and_by_real_nexuslims(
    reference_db: str, nexuslims_python: Path
) -> None:
    assert len(get_sessions_to_build(engine=reference_db)) == 6
    # End the fixture's open session, then run a new one with an awkward user name.
    end_dave = datetime(2025, 1, 6, 13, 0, 5)
    ended = end_session(instrument="NX-TEST-INSTR-003", at=end_dave, engine=reference_db)
    assert (ended.session_identifier, ended.user) == (REF_OPEN, "dave")
    user = "José O'Brien; --"
    new = start_session(instrument="NX-TEST-INSTR-002", user=user, engine=reference_db).session
    finished = end_session(instrument="NX-TEST-INSTR-002", engine=reference_db)

    ours = get_sessions_to_build(engine=reference_db)
    assert len(ours) == 8
    got = _as_tuples(ours)
    assert (
        REF_OPEN,
        "NX-TEST-INSTR-003",
        "dave",
        "2025-01-06T12:09:33+01:00",
        "2025-01-06T13:00:05+01:00",
    ) in got
    assert (
        new.session_identifier,
        "NX-TEST-INSTR-002",
        user,
        new.started.isoformat(),
        finished.ended.isoformat(),
    ) in got

    theirs = nexuslims_sessions_to_build(nexuslims_python, Path(reference_db))
    assert "error" not in theirs, theirs
    assert {
        (t["session_identifier"], t["instrument"], t["user"], t["dt_from"], t["dt_to"])
        for t in theirs["sessions"]
    } == got


def test_legacy_host_mapping_via_computer_name(legacy_db: str) -> None:
    for host in ("TITAN-SUPPORT-PC", "titan-support-pc", "Titan-Support-PC.lab.example.org"):
        assert identify_instrument(hostname=host, engine=legacy_db).instrument_pid == TITAN
    assert identify_instrument(hostname="QUANTA-SUPPORT-PC", engine=legacy_db).instrument_pid == (
        QUANTA
    )
    # The logger's own station table comes before the legacy column.
    set_station(QUANTA, hostname="TITAN-SUPPORT-PC", engine=legacy_db)
    assert identify_instrument(hostname="TITAN-SUPPORT-PC", engine=legacy_db).instrument_pid == (
        QUANTA
    )


def test_legacy_start_end_read_back_by_core(legacy_db: str) -> None:
    titan = identify_instrument(hostname="TITAN-SUPPORT-PC", engine=legacy_db)
    found = find_open_session(titan.instrument_pid, engine=legacy_db)
    assert found is not None and found.session_identifier == LEGACY_OPEN
    # 1.x stored naive local time: read in the instrument's zone.
    assert found.start_text == "2020-02-05T08:30:00.500"
    assert found.started == datetime(2020, 2, 5, 8, 30, 0, 500000, tzinfo=NY)
    ended = end_session(
        instrument=titan.instrument_pid, at=found.started + timedelta(hours=2), engine=legacy_db
    )
    assert ended.user == "supervisor"

    quanta = identify_instrument(hostname="QUANTA-SUPPORT-PC", engine=legacy_db)
    new = start_session(instrument=quanta.instrument_pid, user="Zoë", engine=legacy_db).session
    new_end = end_session(instrument=quanta.instrument_pid, engine=legacy_db)

    got = _as_tuples(get_sessions_to_build(engine=legacy_db))
    assert got == {
        (
            "5f3e1c2a-8b7d-4e6f-9a0b-1c2d3e4f5a6b",
            QUANTA,
            "supervisor",
            "2020-02-04T13:00:00-05:00",
            "2020-02-04T15:30:00-05:00",
        ),
        (
            LEGACY_OPEN,
            TITAN,
            "supervisor",
            "2020-02-05T08:30:00.500000-05:00",
            "2020-02-05T10:30:00.500000-05:00",
        ),
        (
            new.session_identifier,
            QUANTA,
            "Zoë",
            new.started.isoformat(),
            new_end.ended.isoformat(),
        ),
    }
    # What we wrote is aware ISO-8601 in the instrument's zone (NexusLIMS 2.x style), and the
    # 1.x CHECK constraint accepted the statuses.
    rows = raw_query(
        legacy_db,
        "SELECT timestamp, record_status FROM session_log WHERE session_identifier = ?",
        (new.session_identifier,),
    )
    assert [r[1] for r in rows] == ["TO_BE_BUILT", "TO_BE_BUILT"]
    assert all(datetime.fromisoformat(r[0]).utcoffset() is not None for r in rows)
    # The 1.x session's END has its START's form (naive, 1.x's milliseconds): NexusLIMS
    # 2.8 subtracts the two, and a naive START with an aware END raised there.
    ((legacy_end,),) = raw_query(
        legacy_db,
        "SELECT timestamp FROM session_log WHERE session_identifier = ? AND event_type = 'END'",
        (LEGACY_OPEN,),
    )
    assert legacy_end == "2020-02-05T10:30:00.500"


def test_a_1x_start_in_the_future_is_closed_with_an_end_of_its_own_form(legacy_db: str) -> None:
    """Staff close a START an older logger wrote ahead of the clock (ERROR, never built); its
    END is written without an offset too, so that once the START is corrected and re-queued
    NexusLIMS can subtract the two."""
    from nexus_logger.core.staff import admin_actions

    ahead = (datetime.now(NY) + timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    raw_execute(
        legacy_db,
        "UPDATE session_log SET timestamp = ? WHERE session_identifier = ?",
        (ahead.isoformat(timespec="milliseconds"), LEGACY_OPEN),
    )
    admin_actions.force_end(
        LEGACY_OPEN,
        at=datetime.now(NY) - timedelta(minutes=5),
        administrators=[admin_actions.current_login()],
        engine=legacy_db,
    )
    rows = raw_query(
        legacy_db,
        "SELECT event_type, timestamp, record_status FROM session_log "
        "WHERE session_identifier = ? ORDER BY id_session_log",
        (LEGACY_OPEN,),
    )
    assert [(r[0], r[2]) for r in rows] == [("START", "ERROR"), ("END", "ERROR")]
    assert datetime.fromisoformat(rows[1][1]).tzinfo is None, rows[1][1]


def test_a_1x_session_ended_here_is_one_real_nexuslims_can_measure(
    legacy_db: str, nexuslims_python: Path
) -> None:
    """Ended by nexus-logger (here forced, as staff would), the 1.x session's START and END
    are both naive for NexusLIMS 2.8, so its ``dt_to - dt_from`` works (it raised, and the
    build marked the session ERROR)."""
    from nexus_logger.core.staff import admin_actions

    admin_actions.force_end(
        LEGACY_OPEN,
        at=datetime(2020, 2, 5, 11, 45),
        administrators=[admin_actions.current_login()],
        engine=legacy_db,
    )
    # NexusLIMS 2.8 reads a 1.x file after its own migration renamed this column.
    raw_execute(legacy_db, "ALTER TABLE instruments RENAME COLUMN schema_name TO display_name")
    theirs = nexuslims_sessions_to_build(nexuslims_python, Path(legacy_db))
    assert "error" not in theirs, theirs
    (legacy,) = [t for t in theirs["sessions"] if t["session_identifier"] == LEGACY_OPEN]
    began, ended = (datetime.fromisoformat(legacy[k]) for k in ("dt_from", "dt_to"))
    assert ended - began == timedelta(hours=3, minutes=14, seconds=59, microseconds=500000)


def test_a_1x_start_in_the_repeated_hour_is_read_and_ended_as_nexuslims_reads_it(
    legacy_db: str, nexuslims_python: Path
) -> None:
    """NexusLIMS reads a time without an offset in the hour the clock repeats as the second
    pass (pytz, ``is_dst=False``), and compares a 1.x START with its END (written without an
    offset too) by wall clock. Compared by real time, an END at 01:10 EST looked 20 minutes
    after a START stored as 01:50, was stored as ``01:10`` and NexusLIMS measured a session
    that ends before it starts."""
    from nexus_logger.core.errors import InvalidInput
    from nexus_logger.core.staff import admin_actions

    raw_execute(
        legacy_db,
        "UPDATE session_log SET timestamp = '2026-11-01T01:50:00.000' WHERE session_identifier = ?",
        (LEGACY_OPEN,),
    )
    found = find_open_session(TITAN, engine=legacy_db)
    assert found is not None
    assert found.started.isoformat() == "2026-11-01T01:50:00-05:00"  # EST, the second pass
    before = dump_database(legacy_db)
    too_early = datetime.fromisoformat("2026-11-01T01:10:00-05:00")
    with pytest.raises(InvalidInput, match="before the session started"):
        end_session(instrument=TITAN, at=too_early, engine=legacy_db)
    with pytest.raises(InvalidInput, match="before the session started"):
        admin_actions.force_end(
            LEGACY_OPEN,
            at=too_early,
            administrators=[admin_actions.current_login()],
            engine=legacy_db,
        )
    assert dump_database(legacy_db) == before
    # NexusLIMS compares a 1.x pair by wall clock: an END at 01:55 EDT, in the first pass and
    # so an hour before the START's own reading, is five minutes after it there.
    ended = end_session(
        instrument=TITAN, at=datetime.fromisoformat("2026-11-01T01:55:00-04:00"), engine=legacy_db
    )
    assert (ended.ended - ended.started).total_seconds() == 300
    raw_execute(legacy_db, "ALTER TABLE instruments RENAME COLUMN schema_name TO display_name")
    theirs = nexuslims_sessions_to_build(nexuslims_python, Path(legacy_db))
    assert "error" not in theirs, theirs
    (legacy,) = [t for t in theirs["sessions"] if t["session_identifier"] == LEGACY_OPEN]
    assert (legacy["dt_from"], legacy["dt_to"]) == ("2026-11-01T01:50:00", "2026-11-01T01:55:00")


def test_the_command_line_ends_a_1x_session_by_the_wall_clock_in_the_repeated_hour(
    legacy_db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``session end --at`` checks the time before keeping anything (the path the window
    takes too): 01:40 EDT after a 1.x START stored as 01:30 is accepted and stored as 01:40;
    01:20 EST is refused, with nothing kept or written."""
    from nexus_logger.cli import main

    monkeypatch.setenv("NEXUS_LOGGER_BACKFILL_DAYS", "3650")
    raw_execute(
        legacy_db,
        "UPDATE session_log SET timestamp = '2026-11-01T01:30:00.000' WHERE session_identifier = ?",
        (LEGACY_OPEN,),
    )
    common = ["session", "end", "--db", legacy_db, "--instrument", TITAN, "--user", "supervisor"]
    before = dump_database(legacy_db)
    assert main([*common, "--at", "2026-11-01T01:20-05:00"]) != 0
    assert "before the session started" in capsys.readouterr().err
    assert dump_database(legacy_db) == before
    assert main([*common, "--at", "2026-11-01T01:40-04:00"]) == 0, capsys.readouterr()
    rows = raw_query(
        legacy_db,
        "SELECT event_type, timestamp FROM session_log WHERE session_identifier = ? "
        "ORDER BY id_session_log",
        (LEGACY_OPEN,),
    )
    assert rows == [("START", "2026-11-01T01:30:00.000"), ("END", "2026-11-01T01:40:00.000")]


@pytest.mark.parametrize("fixture", ["reference_db", "legacy_db"])
def test_unknown_host_gets_a_message_naming_it_and_the_instruments(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    from nexus_logger.core.errors import NotFound

    target = request.getfixturevalue(fixture)
    with pytest.raises(NotFound) as info:
        identify_instrument(hostname="LAB-PC-42", engine=target)
    message = str(info.value)
    assert "'LAB-PC-42'" in message and "nexus-logger station set PID" in message
    for (pid,) in raw_query(target, "SELECT instrument_pid FROM instruments"):
        assert pid in message
