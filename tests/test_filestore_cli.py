"""``sessions --files`` and ``check``: the files of pending sessions, in text and JSON.

NexusLIMS's reference database (six TO_BE_BUILT sessions in three zones) and a real data
folder; the data root comes from NexusLIMS's own variable NX_INSTRUMENT_DATA_PATH.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nexus_logger.cli import main
from tests.helpers_files import WITH_FILES, build_data_root


@pytest.fixture
def data_root(reference_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two files inside WITH_FILES's window; for every other pending session only files that
    NexusLIMS would not take (before START, or an ignored .emi)."""
    root = build_data_root(reference_db, tmp_path / "instrument-data")
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

    assert main([*argv, "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0].endswith(",files,total_bytes,newest_file,predicted")
    assert next(line for line in csv_lines if line.startswith(WITH_FILES)).endswith(
        f",2,3000,{WITH_FILES[:8]}/run/b.tif,FILES_FOUND"
    )

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


def test_check_lists_each_folder_once_for_all_its_pending_sessions(
    reference_db: str, data_root: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pending session walked its instrument's folder again: a backlog of sessions
    beside a large folder took hours. Now each folder is listed once."""
    from nexus_logger.core.files import filestore_scan

    listed: list[str] = []
    real = filestore_scan.os.scandir

    def counting(path):
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(filestore_scan.os, "scandir", counting)
    assert main(["check", "--db", reference_db, "--format", "json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["files"]["sessions"]) == 6
    assert listed and len(listed) == len(set(listed)), sorted(listed)


def test_counting_stops_after_its_time_in_all_and_says_so(
    reference_db: str, data_root: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each session's scan walks its instrument's folder again: a backlog of thousands of
    pending sessions beside a large folder made `check` run for hours. Past the command's
    time in all, the rest are not counted, and each says so (never "no files")."""
    from nexus_logger.core.files import filestore_pending

    monkeypatch.setattr(filestore_pending, "TOTAL_SECONDS", 0.0)
    assert main(["check", "--db", reference_db, "--format", "json"]) in (0, 1)
    files = json.loads(capsys.readouterr().out)["files"]
    assert files["no_files_found_count"] == 0 and len(files["sessions"]) == 6
    assert {s["predicted"] for s in files["sessions"]} == {"UNKNOWN"}
    assert all("counting files stops after 0 s" in s["problem"] for s in files["sessions"])
    main(["check", "--db", reference_db])
    out = capsys.readouterr().out
    assert "0 TO_BE_BUILT sessions checked, 0 without files." in out
    assert "6 more not counted: counting files stops after 0 s in all." in out
    argv = ["sessions", "--db", reference_db, "--files", "--status", "TO_BE_BUILT"]
    assert main([*argv, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["files"]["predicted"] for r in rows} == {"UNKNOWN"}


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
