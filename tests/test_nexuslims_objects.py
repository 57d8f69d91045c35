"""NexusLIMS 2.8's own code on nexus-logger's core, and nexus-logger's core on NexusLIMS's objects.

Both run in the real NexusLIMS environment (``tests/nexuslims_ref.py``) against real SQLite
files; the dry run also against a folder of real files with known modification times.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from enum import Enum
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core import EventType, Session, SessionLog, db_query, get_sessions_to_build
from nexus_logger.core.db.schema import load_instruments
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.session_instrument import InstrumentZone, SessionInstrument
from tests.nexuslims_ref import nexuslims_sessions_to_build, run_in_nexuslims

SCRIPTS = Path(__file__).parent / "nexuslims_scripts"


def _to_be_built(path: str) -> list[tuple[str, str, datetime, datetime]]:
    """(identifier, filestore folder, start, end) of every TO_BE_BUILT pair, read directly."""
    with sqlite3.connect(path) as conn:
        folders = dict(conn.execute("SELECT instrument_pid, filestore_path FROM instruments"))
        rows = conn.execute(
            "SELECT session_identifier, instrument, user, event_type, timestamp "
            "FROM session_log WHERE record_status = 'TO_BE_BUILT'"
        ).fetchall()
    starts = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "START"}
    ends = {(r[0], r[1], r[2]): r[4] for r in rows if r[3] == "END"}
    return [
        (key[0], folders[key[1]], datetime.fromisoformat(ts), datetime.fromisoformat(ends[key]))
        for key, ts in starts.items()
        if key in ends
    ]


def _file(path: Path, modified: datetime) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * 64)
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def test_record_builder_dry_run_finds_the_same_files(
    reference_db: str, nexuslims_python: Path, tmp_path: Path
) -> None:
    # One more session, written by nexus-logger with naive local times (stored aware, in the
    # instrument's zone), next to the six NexusLIMS wrote itself.
    ident = "5b0c4f3e-1d2a-4c43-9a57-2f6f3d1e0a11"
    for event, minute in ((EventType.START, 0), (EventType.END, 40)):
        stamp = datetime(2025, 1, 7, 9, minute)
        log = SessionLog(ident, "NX-TEST-INSTR-003", stamp, event, "frank", "TO_BE_BUILT")
        assert log.insert_log(engine=reference_db)

    data = (tmp_path / "instrument-data").resolve()
    expected: dict[str, list[str]] = {}
    for session_id, folder, start, end in _to_be_built(reference_db):
        inside = [
            _file(data / folder / f"{session_id}-first.dm3", start + timedelta(minutes=1)),
            _file(data / folder / "deep" / f"{session_id}-mid.tif", start + (end - start) / 2),
            _file(data / folder / f"{session_id}-last.ser", end - timedelta(minutes=1)),
        ]
        _file(data / folder / f"{session_id}-before.dm3", start - timedelta(minutes=1))
        _file(data / folder / "deep" / f"{session_id}-after.dm3", end + timedelta(minutes=1))
        expected[session_id] = sorted(str(p) for p in inside)
    assert len(expected) == 7

    found = run_in_nexuslims(
        nexuslims_python,
        (SCRIPTS / "dry_run.py").read_text(),
        reference_db,
        reference_db,
        instrument_data=data,
        extra_env={"NX_FILE_STRATEGY": "inclusive"},
    )
    assert found["theirs"] == expected  # NexusLIMS on its own sessions
    assert found["ours"] == expected  # NexusLIMS on nexus-logger's sessions
    assert found["ours_with_their_instrument"] == expected


def test_nexuslims_objects_through_every_public_function(
    reference_db: str, nexuslims_python: Path, tmp_path: Path
) -> None:
    plain_db = tmp_path / "plain.sqlite"
    shutil.copyfile(reference_db, plain_db)
    result = run_in_nexuslims(
        nexuslims_python,
        (SCRIPTS / "own_types.py").read_text(),
        reference_db,
        reference_db,
        str(plain_db),
    )
    theirs, plain, reference = result["nexuslims"], result["plain"], result["reference"]
    assert theirs == plain  # the same results as with nexus-logger's own forms

    # ... and those results are right, not merely equal.
    assert all(a.startswith("str:") for attrs in theirs["log_attributes"] for a in attrs)
    assert theirs["log_attributes"][0][2:4] == ["str:2025-02-03T09:15:00-07:00", "str:START"]
    assert theirs["default_status"] == "TO_BE_BUILT"
    # Not local mean time (pytz: -07:00 for Denver), which replace(tzinfo=<pytz zone>) gives.
    assert theirs["naive_read_in_zone"] == "2025-07-01T09:15:00-06:00"
    # In the repeated hour, the second pass (MST), as pytz's localize() reads it for NexusLIMS.
    assert theirs["naive_repeated_read_in_zone"] == "2025-11-02T01:30:00-07:00"
    assert theirs["inserted"] == [True, True] and theirs["inserted_again"] is True
    assert theirs["refused_log"].startswith("InvalidInput: 'nemo' is not a valid RecordStatus; ")
    assert theirs["refused_status"] == theirs["refused_log"]
    ident = "7d1b6e0c-3f7a-4d8e-b1f4-0c2d9e5a6b7c"
    assert [
        ident,
        "NX-TEST-INSTR-002",
        "grace",
        "2025-02-03T09:15:00-07:00",
        "2025-02-03T10:05:00-07:00",
        "America/Denver",
    ] in theirs["to_build"]
    assert len(theirs["to_build"]) == 7
    session = theirs["session"]
    for key in ("instrument", "name", "str", "timezone_str", "localized", "localized_str"):
        assert session[key] == reference[key], key
    assert session["pytz_localize"] == reference["localized"]
    assert session["localized_aware"] == reference["localized_aware"]
    assert session["mtime"] == reference["mtime"]
    assert session["repr"] == (
        "2025-02-03T09:15:00-07:00 to 2025-02-03T10:05:00-07:00 on NX-TEST-INSTR-002"
    )
    assert theirs["record_generation"] == {
        "event_type": "RECORD_GENERATION",
        "session_identifier": ident,
        "record_status": "WAITING_FOR_END",
        "user": "nexuslims",
        "instrument": "NX-TEST-INSTR-002",
    }
    assert theirs["record_generation_in_zone"] is True
    assert theirs["query_positional"] == [True, [[1]]]
    assert theirs["query_named"] == [True, [[1]]]
    assert theirs["updated"] is True
    assert theirs["rows"] == [
        True,
        [
            ["START", "ERROR", "grace", "NX-TEST-INSTR-002"],
            ["END", "ERROR", "grace", "NX-TEST-INSTR-002"],
            ["RECORD_GENERATION", "ERROR", "nexuslims", "NX-TEST-INSTR-002"],
        ],
    ]
    assert theirs["to_build_after"] == 6
    assert len(theirs["all_logs"]) == 21


def test_build_errors_start_with_nexuslims_wording(reference_db: str, nexuslims_python) -> None:
    stem = "There was not exactly one 'END' log for this 'START' log; len(el_list) was 0; "
    ident = "0f5e8a44-8d7c-4b11-a3a9-6c1f2b7d9e10"
    start = datetime(2025, 1, 8, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    SessionLog(ident, "NX-TEST-INSTR-001", start, "START", "hana", "TO_BE_BUILT").insert_log(
        engine=reference_db
    )
    SessionLog(ident, "NX-TEST-INSTR-001", start, "END", "ivan", "TO_BE_BUILT").insert_log(
        engine=reference_db
    )
    theirs = nexuslims_sessions_to_build(nexuslims_python, reference_db)["error"]
    with pytest.raises(ValueError) as ours:
        get_sessions_to_build(engine=reference_db)
    assert theirs.startswith(stem) and str(ours.value).startswith(stem)
    assert ident in str(ours.value) and "same session identifier, instrument and user" in str(
        ours.value
    )

    # A timestamp NexusLIMS cannot read: Python's wording, which NexusLIMS passes on.
    with sqlite3.connect(reference_db) as conn:
        conn.execute("DELETE FROM session_log WHERE session_identifier = ?", (ident,))
        conn.execute("UPDATE session_log SET timestamp = 'noon-ish' WHERE id_session_log = 10")
    theirs = nexuslims_sessions_to_build(nexuslims_python, reference_db)["error"]
    with pytest.raises(ValueError) as ours:
        get_sessions_to_build(engine=reference_db)
    assert theirs == "Invalid isoformat string: 'noon-ish'"
    assert str(ours.value).startswith(theirs + ": session d3ac94af-")


def test_duplicate_log_warning_starts_with_nexuslims_wording(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    when = datetime(2025, 5, 1, 8, 0, tzinfo=ZoneInfo("America/New_York"))
    log = SessionLog("dup-1", "TEST-TEM-001", when, "START", "jo")
    assert log.insert_log(engine=db)
    with caplog.at_level(logging.WARNING):
        assert log.insert_log(engine=db)
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert record.getMessage().startswith("SessionLog already exists: SessionLog (id=dup-1, ")


# The same rules without NexusLIMS installed, on SQLite and PostgreSQL: look-alikes of its
# types (a ``(str, Enum)``, a plain ``Enum``, an instrument with only ``name`` and a tzinfo).


class LabStatus(str, Enum):  # noqa: UP042 (NexusLIMS's shape, on purpose)
    TO_BE_BUILT = "TO_BE_BUILT"
    ERROR = "ERROR"


class LabEvent(Enum):
    START = "START"
    END = "END"


@dataclass
class LookAlike:
    name: str
    timezone: tzinfo | str


def test_foreign_enums_datetimes_and_instruments(db: str) -> None:
    ny = ZoneInfo("America/New_York")
    start = datetime(2025, 4, 1, 9, 0, tzinfo=ny)
    end = start + timedelta(hours=1)
    ident = "c0ffee00-1111-4222-8333-444455556666"
    assert str(LabStatus.ERROR) == "LabStatus.ERROR"  # why str() cannot be used
    for event, when in ((LabEvent.START, start), (LabEvent.END, end)):
        log = SessionLog(
            ident, LookAlike("TEST-TEM-001", ny), when, event, "kim", LabStatus.TO_BE_BUILT
        )
        assert (log.instrument, log.event_type, log.record_status) == (
            "TEST-TEM-001",
            event.value,
            "TO_BE_BUILT",
        )
        assert log.insert_log(engine=db)
    ok, rows = db_query(
        "SELECT event_type, timestamp FROM session_log "
        "WHERE session_identifier = ? AND timestamp = ? AND record_status = ?",
        (ident, start, LabStatus.TO_BE_BUILT),
        engine=db,
    )
    assert ok and rows == [("START", "2025-04-01T09:00:00-04:00")]
    ok, rows = db_query(
        "SELECT COUNT(*) FROM session_log WHERE timestamp = :ts AND event_type = :ev",
        {"ts": end, "ev": LabEvent.END},
        engine=db,
    )
    assert ok and rows == [(1,)]

    (session,) = get_sessions_to_build(engine=db)
    inst = session.instrument
    assert (inst.name, inst.timezone_str, inst.display_name) == (
        "TEST-TEM-001",
        "America/New_York",
        "Test TEM",
    )
    assert isinstance(inst.timezone, tzinfo)
    assert inst.localize_datetime(datetime(2025, 4, 1, 9)) == start
    with pytest.raises(InvalidInput, match=r"^'START' is not a valid RecordStatus; "):
        session.update_session_status(LabEvent.START)
    assert session.update_session_status(LabStatus.ERROR)
    ok, rows = db_query(
        "SELECT DISTINCT record_status FROM session_log WHERE session_identifier = ?",
        (ident,),
        engine=db,
    )
    assert rows == [("ERROR",)]

    # A look-alike instrument with a fixed-offset tzinfo (no IANA name) is kept as given.
    minus_five = timezone(timedelta(hours=-5))
    fixed = Session(ident, LookAlike("TEST-TEM-001", minus_five), (start, end), "kim", engine=db)
    assert fixed.instrument.timezone is minus_five
    event = fixed.insert_record_generation_event()
    assert datetime.fromisoformat(event["timestamp"]).utcoffset() == timedelta(hours=-5)
    assert event["instrument"] == "TEST-TEM-001"


def test_session_instrument_from_a_database_row(sqlite_db: str) -> None:
    row = load_instruments(sqlite_db)["TEST-FIB-003"]
    inst = SessionInstrument.of(row)
    assert inst == row and SessionInstrument.of(inst) is inst
    assert inst.to_dict() == {
        "instrument_pid": "TEST-FIB-003",
        "api_url": row.api_url,
        "calendar_url": "",
        "location": "Lab",
        "display_name": "Test FIB",
        "property_tag": "",
        "filestore_path": "TEST-FIB-003",
        "harvester": "nemo",
        "timezone": "Asia/Kolkata",
    }
    assert str(inst) == "TEST-FIB-003 in Lab"
    assert inst.timezone.zone == "Asia/Kolkata"
    assert inst.localize_datetime_str(datetime(2025, 1, 1, 12)) == "2025-01-01 12:00:00 IST"
    with pytest.raises(InvalidInput, match="has no instrument_pid or name"):
        SessionInstrument.of(object())


def test_a_hand_made_instrument_row_gets_add_instruments_defaults() -> None:
    """Columns left out of a hand-made row are 'not given': NexusLIMS then looks for the files
    under the PID (as add_instrument stores it), never in the data root itself."""
    from nexus_logger.core.db.models import Instrument

    inst = SessionInstrument.of(Instrument(instrument_pid="HAND-TEM-01", timezone="UTC"))
    assert (inst.display_name, inst.filestore_path, inst.harvester, inst.timezone_str) == (
        "HAND-TEM-01",
        "HAND-TEM-01",
        "nemo",
        "UTC",
    )
    session = Session(
        "hand-1",
        Instrument(instrument_pid="HAND-TEM-01", display_name="Hand TEM", timezone="UTC"),
        (datetime(2025, 1, 1, 9, tzinfo=UTC), datetime(2025, 1, 1, 10, tzinfo=UTC)),
        "alice",
    )
    assert session.instrument.filestore_path == "HAND-TEM-01"
    assert session.instrument.display_name == "Hand TEM"


def test_instrument_zone_localizes_like_pytz() -> None:
    zone = InstrumentZone("America/New_York")
    repeated = datetime(2025, 11, 2, 1, 30)  # clocks go back at 02:00
    skipped = datetime(2025, 3, 9, 2, 30)  # clocks go forward at 02:00
    assert zone.localize(repeated).utcoffset() == timedelta(hours=-5)
    assert zone.localize(repeated, is_dst=True).utcoffset() == timedelta(hours=-4)
    assert zone.localize(skipped).utcoffset() == timedelta(hours=-5)
    assert zone.normalize(datetime(2025, 7, 1, 12, tzinfo=UTC)).hour == 8
    with pytest.raises(ValueError, match="Not naive datetime"):
        zone.localize(datetime(2025, 1, 1, tzinfo=UTC))
