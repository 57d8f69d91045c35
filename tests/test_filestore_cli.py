"""``sessions --files`` and ``check``: the files of pending sessions, in text and JSON.

NexusLIMS's reference database (six TO_BE_BUILT sessions in three zones) and a real data
folder; the data root comes from NexusLIMS's own variable NX_INSTRUMENT_DATA_PATH.
"""

from __future__ import annotations

import json
import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nexus_logger.cli import main

#: The reference database's pending session on NX-TEST-INSTR-001 at 10:04-10:45 New York time.
WITH_FILES = "d3ac94af-0f21-4db6-acad-4a268d116ece"


def _pending(db: str) -> dict[str, tuple[str, datetime]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT session_identifier, instrument, timestamp FROM session_log "
            "WHERE record_status = 'TO_BE_BUILT' AND event_type = 'START'"
        ).fetchall()
    return {sid: (pid, datetime.fromisoformat(ts)) for sid, pid, ts in rows}


@pytest.fixture
def data_root(reference_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two files inside WITH_FILES's window; for every other pending session only files that
    NexusLIMS would not take (before START, or an ignored .emi)."""
    root = tmp_path / "instrument-data"
    for sid, (pid, start) in _pending(reference_db).items():
        names = ("a.dm3", "run/b.tif") if sid == WITH_FILES else ("c.emi",)
        for i, name in enumerate(names):
            path = root / pid / sid[:8] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (1000 * (i + 1)))
            moment = (start + timedelta(minutes=1 + i)).timestamp()
            os.utime(path, (moment, moment))
        old = root / pid / sid[:8] / "before.dm3"
        old.write_bytes(b"x")
        os.utime(old, (start.timestamp() - 60, start.timestamp() - 60))
    monkeypatch.setenv("NX_INSTRUMENT_DATA_PATH", str(root))
    return root


def test_sessions_files_json_and_table(reference_db: str, data_root: Path, capsys) -> None:
    argv = ["sessions", "--db", reference_db, "--files", "--status", "TO_BE_BUILT"]
    assert main([*argv, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6
    by_sid = {r["session_identifier"]: r["files"] for r in rows}
    mine = by_sid.pop(WITH_FILES)
    assert (mine["files"], mine["total_bytes"], mine["predicted"]) == (2, 3000, "FILES_FOUND")
    assert mine["newest_file"] == f"{WITH_FILES[:8]}/run/b.tif"
    assert mine["newest_mtime"] == "2025-01-06T15:06:06+00:00"
    assert mine["folder"] == str(data_root / "NX-TEST-INSTR-001")
    assert {f["predicted"] for f in by_sid.values()} == {"NO_FILES_FOUND"}
    assert {f["files"] for f in by_sid.values()} == {0}

    assert main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[-4:] == ["FILES", "TOTAL_BYTES", "NEWEST_FILE", "PREDICTED"]
    mine_line = next(line for line in table if line.startswith(WITH_FILES))
    assert mine_line.split()[-4:] == ["2", "3000", f"{WITH_FILES[:8]}/run/b.tif", "FILES_FOUND"]
    assert sum(line.endswith("NO_FILES_FOUND") for line in table) == 5

    # Without --files nothing changes (and no folder is read).
    assert main(["sessions", "--db", reference_db, "--format", "json"]) == 0
    assert all("files" not in r for r in json.loads(capsys.readouterr().out))


def test_sessions_files_when_the_data_root_cannot_be_reached(
    reference_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("NX_INSTRUMENT_DATA_PATH", str(tmp_path / "share-down"))
    argv = ["sessions", "--db", reference_db, "--files", "--status", "TO_BE_BUILT"]
    assert main([*argv, "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "cannot be reached" in captured.err
    rows = json.loads(captured.out)
    assert {r["files"]["predicted"] for r in rows} == {"UNKNOWN"}
    assert all(r["files"]["files"] is None for r in rows)


def test_check_reports_sessions_without_files(
    reference_db: str, data_root: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["check", "--db", reference_db, "--format", "json"]) == 1
    found = json.loads(capsys.readouterr().out)
    files = found["files"]
    assert files["checked"] and files["data_root"] == str(data_root)
    assert files["no_files_found_count"] == 5
    assert len(files["sessions"]) == 6
    assert {s["session_identifier"] for s in files["sessions"] if s["files"]} == {WITH_FILES}

    assert main(["check", "--db", reference_db]) == 1
    out = capsys.readouterr().out
    assert f"Files under {data_root}: 6 TO_BE_BUILT sessions checked, 5 without files." in out
    # The Berlin session of carol, listed with NexusLIMS's own times and the sentence.
    assert (
        "11e20b8f-6b0d-449b-af03-675a1600a35a on NX-TEST-INSTR-003 (carol), "
        "2025-01-06T08:03:39+01:00 to 2025-01-06T08:37:39+01:00: NexusLIMS will find no files "
        "for this session (it will be marked NO_FILES_FOUND)."
    ) in out
    assert WITH_FILES not in out


def test_check_without_a_data_root_says_nothing_about_files(
    sqlite_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert main(["check", "--db", sqlite_db]) == 0
    assert "Files" not in capsys.readouterr().out
    assert main(["check", "--db", sqlite_db, "--format", "json"]) == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert files["checked"] is False and "no data root is set" in files["problem"]
    monkeypatch.setenv("NX_INSTRUMENT_DATA_PATH", str(tmp_path / "gone"))
    assert main(["check", "--db", sqlite_db]) == 0  # a PC's view of a share is no problem
    assert "cannot be reached" in capsys.readouterr().out
