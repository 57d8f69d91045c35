"""nexus-logger's file count and NO_FILES_FOUND prediction against NexusLIMS 2.8's own search.

The same database (NexusLIMS's reference file plus sessions nexus-logger wrote across DST
changes) and the same folder of real files; NexusLIMS's record builder runs its
``dry_run_file_find`` (GNU ``find``) in its own environment (tests/nexuslims_ref.py).
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core import EventType, SessionLog
from nexus_logger.core.files.filestore import Outcome, session_files
from nexus_logger.core.files.filestore_rules import EXCLUSIVE_EXTENSIONS, FileRules
from tests.nexuslims_ref import run_in_nexuslims

SCRIPTS = Path(__file__).parent / "nexuslims_scripts"
NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
#: Sessions nexus-logger writes next to NexusLIMS's own: across the autumn change in New York
#: (01:00-02:00 twice) and the spring change in Berlin (02:00-03:00 missing).
DST_SESSIONS = (
    (
        "6a1e9d1c-0b7f-4e55-8c1a-dstautumnny",
        "NX-TEST-INSTR-001",
        datetime(2025, 11, 2, 0, 50, tzinfo=NEW_YORK),
        datetime(2025, 11, 2, 1, 40, fold=1, tzinfo=NEW_YORK),
    ),
    (
        "7b2f0e2d-1c80-4f66-9d2b-dstspringbe",
        "NX-TEST-INSTR-003",
        datetime(2025, 3, 30, 1, 30, tzinfo=BERLIN),
        datetime(2025, 3, 30, 3, 30, tzinfo=BERLIN),
    ),
)


def _put(path: Path, modified: datetime, size: int = 64) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00" * size)
    os.utime(path, ns=(int(modified.timestamp()) * 10**9,) * 2)


def _sessions(db: str) -> list[tuple[str, str, datetime, datetime]]:
    """(identifier, filestore folder, start, end) of every TO_BE_BUILT session, read directly."""
    with sqlite3.connect(db) as conn:
        folders = dict(conn.execute("SELECT instrument_pid, filestore_path FROM instruments"))
        rows = conn.execute(
            "SELECT session_identifier, instrument, event_type, timestamp FROM session_log "
            "WHERE record_status = 'TO_BE_BUILT' ORDER BY id_session_log"
        ).fetchall()
    times: dict[str, dict[str, datetime]] = {}
    where: dict[str, str] = {}
    for ident, pid, event, stamp in rows:
        times.setdefault(ident, {})[event] = datetime.fromisoformat(stamp)
        where[ident] = folders[pid]
    return [(i, where[i], t["START"], t["END"]) for i, t in times.items()]


def _layout(data: Path, sessions: list[tuple[str, str, datetime, datetime]]) -> None:
    """Files around each session; the kind of session decides what lies inside its window."""
    for n, (ident, folder, start, end) in enumerate(sessions):
        base = data / folder / ident[:8]
        _put(base / "before.dm3", start - timedelta(seconds=1))
        _put(base / "at-start.dm3", start)  # not after START: not taken
        _put(base / "after.tif", end + timedelta(seconds=1))
        _put(base / "inside.MIB", start + timedelta(seconds=5))  # ignored pattern
        _put(base / "inside.emi", start + timedelta(seconds=6))  # ignored pattern
        kind = n % 3
        if kind == 1:  # files NexusLIMS has extractors for, one exactly at END
            _put(base / "deep" / "a.DM3", start + timedelta(seconds=30), size=1000)
            _put(base / "b.tiff", start + (end - start) / 2, size=2000)
            _put(base / "at-end.ser", end, size=3000)
        elif kind == 2:  # only a file without extractor: found by "inclusive" only
            _put(base / "notes.txt", start + timedelta(minutes=1), size=10)
    # The DST sessions: one file in the repeated hour before END (EDT 01:45 < EST 01:40), one
    # after the missing hour in Berlin.
    _put(
        data / "NX-TEST-INSTR-001" / "dst" / "edt.dm3",
        datetime(2025, 11, 2, 1, 45, tzinfo=NEW_YORK),
    )
    _put(
        data / "NX-TEST-INSTR-001" / "dst" / "est.dm3",
        datetime(2025, 11, 2, 1, 45, fold=1, tzinfo=NEW_YORK),
    )
    _put(
        data / "NX-TEST-INSTR-003" / "dst" / "cest.tif", datetime(2025, 3, 30, 3, 1, tzinfo=BERLIN)
    )


def _theirs(python: Path, db: str, data: Path, strategy: str) -> dict:
    return run_in_nexuslims(
        python,
        (SCRIPTS / "file_search.py").read_text(),
        db,
        db,
        json.dumps(list(EXCLUSIVE_EXTENSIONS)),
        instrument_data=data,
        extra_env={"NX_FILE_STRATEGY": strategy, "NX_FILE_DELAY_DAYS": "2"},
    )


def test_the_exclusive_extensions_are_nexuslims_own(nexuslims_python: Path, tmp_path: Path) -> None:
    found = run_in_nexuslims(
        nexuslims_python, (SCRIPTS / "extractor_extensions.py").read_text(), tmp_path / "x.db"
    )
    assert found == sorted(EXCLUSIVE_EXTENSIONS)


@pytest.mark.parametrize("strategy", ["exclusive", "inclusive"])
def test_files_and_no_files_found_match_nexuslims_record_builder(
    reference_db: str, nexuslims_python: Path, tmp_path: Path, strategy: str
) -> None:
    for ident, pid, start, end in DST_SESSIONS:
        for event, stamp in ((EventType.START, start), (EventType.END, end)):
            assert SessionLog(ident, pid, stamp, event, "frank", "TO_BE_BUILT").insert_log(
                engine=reference_db
            )
    data = (tmp_path / "instrument-data").resolve()
    sessions = _sessions(reference_db)
    assert len(sessions) == 8
    _layout(data, sessions)
    # A link to a folder in one instrument's folder: NexusLIMS then searches only the link.
    _ident, folder, start, _end = next(s for s in sessions if s[1] == "NX-TEST-INSTR-002")
    linked = tmp_path / "linked-day"
    _put(linked / "via-link.dm3", start + timedelta(minutes=2), size=7)
    (data / folder / "day-link").symlink_to(linked, target_is_directory=True)
    # An instrument folder that is itself a link (a share mounted elsewhere) holding a link of
    # its own: NexusLIMS searches the folder, not the inner link.
    _ident, folder, start, _end = next(s for s in sessions if s[1] == "NX-TEST-INSTR-003")
    real = tmp_path / "instrument-3-elsewhere"
    (data / folder).rename(real)
    (data / folder).symlink_to(real, target_is_directory=True)
    _put(tmp_path / "inner-day" / "inner.dm3", start + timedelta(minutes=3), size=9)
    (real / "inner-link").symlink_to(tmp_path / "inner-day", target_is_directory=True)

    theirs = _theirs(nexuslims_python, reference_db, data, strategy)
    assert set(theirs) == {s[0] for s in sessions}
    rules = FileRules(strategy=strategy)
    outcomes = set()
    for ident, folder, start, end in sessions:
        report = session_files(str(data), rules, folder, start, end)
        their_files = theirs[ident]["files"]
        assert report.tally is not None and report.tally.complete
        assert report.tally.count == len(their_files), ident
        assert report.tally.total_bytes == sum(size for _p, size, _m in their_files), ident
        if their_files:
            newest = max(their_files, key=lambda f: f[2])
            assert str(report.folder / report.tally.newest_path) == newest[0]
            assert report.tally.newest_mtime == datetime.fromtimestamp(newest[2] / 1e9, UTC)
        # NexusLIMS marks NO_FILES_FOUND when it found nothing and the delay has passed.
        nexuslims_marks = not their_files and theirs[ident]["delay_passed"]
        assert (report.outcome() is Outcome.NO_FILES_FOUND) == nexuslims_marks, ident
        outcomes.add(report.outcome())
    assert outcomes == {Outcome.NO_FILES_FOUND, Outcome.FILES_FOUND}
