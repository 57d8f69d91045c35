"""The headless commands of issue 2: --version, init-db, sessions, and their error messages."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nexus_logger import __version__
from nexus_logger.cli import main


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real console entry point in a child process, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "nexus_logger", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"nexus-logger {__version__}"


def test_init_db_creates_then_leaves_alone(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    first = run_cli("init-db", str(path))
    assert first.returncode == 0, first.stderr
    assert "Created" in first.stdout
    second = run_cli("init-db", str(path))
    assert second.returncode == 0
    assert "nothing was changed" in second.stdout


def test_init_db_in_a_missing_folder_or_on_another_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init-db", str(tmp_path / "no-such-folder" / "new.sqlite")]) == 6
    err = capsys.readouterr().err
    assert "The folder" in err and "no-such-folder does not exist" in err
    assert "Create the folder first" in err
    assert not (tmp_path / "no-such-folder").exists()  # nothing was made
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    assert main(["init-db", str(notes)]) == 6
    err = capsys.readouterr().err
    assert "is not an SQLite database. Check the database path." in err
    assert "configuration" not in err  # the path came from the command line
    assert notes.read_text() == "not a database\n" * 100


def test_sessions_formats_on_reference(
    reference_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["sessions", "--db", reference_db, "--status", "TO_BE_BUILT", "--format", "json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    with sqlite3.connect(reference_db) as conn:
        expected = {
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT session_identifier FROM session_log WHERE record_status='TO_BE_BUILT'"
            )
        }
    assert {r["session_identifier"] for r in rows} == expected
    assert all(r["end"] and r["record_generation_events"] == 0 for r in rows)

    assert main(["sessions", "--db", reference_db, "--format", "csv"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    completed = [r for r in table if r["status"] == "COMPLETED"]
    assert len(completed) == 2 and all(r["record_generation_events"] == "1" for r in completed)
    open_rows = [r for r in table if r["status"] == "WAITING_FOR_END"]
    assert len(open_rows) == 1 and open_rows[0]["end"] == ""

    assert main(["sessions", "--db", reference_db]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[:3] == ["SESSION_IDENTIFIER", "INSTRUMENT", "USER"]


def test_db_option_before_or_after_the_command(reference_db: str, tmp_path: Path) -> None:
    for argv in (["--db", reference_db, "sessions"], ["sessions", "--db", reference_db]):
        result = run_cli(*argv, "--format", "json")
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)) == 9
    assert not (tmp_path / "home" / "data" / "demo.sqlite").exists()


def test_closed_pipe_is_not_an_error(reference_db: str) -> None:
    with sqlite3.connect(reference_db) as conn:  # more output than a pipe buffer holds
        conn.executemany(
            "INSERT INTO session_log (session_identifier, instrument, timestamp, event_type, "
            "record_status, user) VALUES (?, 'NX-TEST-INSTR-001', ?, 'START', 'COMPLETED', 'x')",
            [(f"bulk-{i}", f"2024-01-01T00:{i % 60:02d}:00-05:00") for i in range(3000)],
        )
    proc = subprocess.Popen(
        [sys.executable, "-m", "nexus_logger", "sessions", "--db", reference_db],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdout.readline()
    proc.stdout.close()  # like 'head -1'
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert "unexpected error" not in err and "Traceback" not in err


def test_db_from_nx_db_path_environment(reference_db: str) -> None:
    result = run_cli("sessions", "--format", "json", env={"NX_DB_PATH": reference_db})
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 9


def _assert_clean_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("nexus-logger: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_bad_inputs_give_one_clear_sentence(tmp_path: Path, reference_db: str) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("hello, I am not a database\n" * 50)
    _assert_clean_error(run_cli("sessions", "--db", str(not_db)), "is not an SQLite database")

    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    _assert_clean_error(run_cli("sessions", "--db", str(empty)), "no NexusLIMS tables", "init-db")

    missing = tmp_path / "missing.sqlite"
    _assert_clean_error(run_cli("sessions", "--db", str(missing)), "does not exist")
    assert not missing.exists()

    _assert_clean_error(
        run_cli("sessions", "--db", reference_db, "--status", "DONE"),
        "is not a valid RecordStatus",
        "TO_BE_BUILT",
    )

    result = run_cli("sessions", "--db", "postgresql+psycopg://bob:hunter2@127.0.0.1:9/nexus")
    _assert_clean_error(result, "cannot be reached")
    assert "hunter2" not in result.stderr

    _assert_clean_error(
        run_cli("sessions", "--db", "mysql://x@y/z"), "neither an SQLite file nor PostgreSQL"
    )
    result = run_cli("sessions", "--db", "postgres://bob:hunter2@db.lab/nexus")  # libpq's form
    _assert_clean_error(result, "write it postgresql+psycopg://")
    assert "hunter2" not in result.stderr

    # A server socket that is not there: "No such file or directory", but not a file problem.
    socket = "postgresql+psycopg://bob@/nexus?host=/nonexistent-socket-dir"
    _assert_clean_error(run_cli("sessions", "--db", socket), "cannot be reached", "network")

    result = run_cli("sessions", "--db", "postgresql+psycopg://bob:hunter2@127.0.0.1:5o32/nexus")
    _assert_clean_error(result, "port '5o32' is not a number")
    assert "hunter2" not in result.stderr


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to drop root privileges")
def test_json_format_gets_one_object_on_failure_too(tmp_path: Path) -> None:
    result = run_cli("sessions", "--db", str(tmp_path / "missing.sqlite"), "--format", "json")
    assert result.returncode == 6  # a missing database is a set-up problem
    data = json.loads(result.stdout)
    assert data["ok"] is False and data["exit_code"] == 6
    assert "does not exist" in data["error"]


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["sessions", "--format", "json", "--limit", "0"], "'0' is not a whole number from 1 to"),
        (["admin", "audit", "--format=json", "--limit", "0"], "from 1 to 1,000,000,000"),
        (["sessions", "--format", "json", "--limit", "9" * 23], "from 1 to 1,000,000,000"),
        (["sessions", "--format", "json", "--from", "2025-13-01"], "'2025-13-01' is not a date"),
        (["check", "--format", "json", "--long-hours", "nan"], "'nan' is not a number above 0"),
        (["check", "--format", "json", "--long-hours", "inf"], "'inf' is not a number above 0"),
        (
            ["bridge", "--format", "json", "--to", "x.sqlite", "--watch", "--interval", "nan"],
            "'nan' is not a number above 0 and up to 86400",
        ),
    ],
    ids=["limit", "sub-command", "huge", "date", "nan", "inf", "interval"],
)
def test_json_format_gets_one_object_for_a_bad_option_too(
    sqlite_db: str, argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An option argparse refuses: usage and sentence on stderr as always, and the one JSON
    object on stdout that every other failure gives a script that asked for JSON."""
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--db", sqlite_db])
    assert stop.value.code == 2
    out = capsys.readouterr()
    data = json.loads(out.out)
    assert data == {"ok": False, "error": data["error"], "exit_code": 2}
    assert words in data["error"] and words in out.err
    with pytest.raises(SystemExit):  # the table format: no JSON
        main([a for a in argv if a not in ("--format", "json", "--format=json")])
    assert capsys.readouterr().out == ""


def test_read_only_database_is_reported_and_untouched(tmp_path: Path, reference_db: str) -> None:
    """A write-protected file gives the read-only message and stays byte-for-byte the same.

    Root ignores permission bits, so the attempt runs in a forked child that has dropped to
    the unprivileged 'nobody' account (everything it needs is already imported).
    """
    from nexus_logger.core import SessionLog
    from nexus_logger.core.errors import NexusLoggerError

    outer = Path(tempfile.mkdtemp(prefix="nexus-logger-ro-"))  # /tmp, reachable by 'nobody'
    outer.chmod(0o755)
    folder = outer / "share"
    folder.mkdir()
    path = folder / "nexuslims.sqlite"
    path.write_bytes(Path(reference_db).read_bytes())
    before = path.read_bytes()
    path.chmod(0o444)
    folder.chmod(0o555)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        message = "no error"
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            SessionLog(
                "x", "NX-TEST-INSTR-001", "2025-01-01T00:00:00+00:00", "START", "u"
            ).insert_log(engine=str(path))
        except NexusLoggerError as err:
            message = f"{type(err).__name__}: {err}"
        except BaseException as err:  # report anything else to the parent
            message = f"unexpected {type(err).__name__}: {err}"
        os.write(write_end, message.encode())
        os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    message = os.read(read_end, 4096).decode()
    os.close(read_end)
    folder.chmod(0o755)
    path.chmod(0o644)
    assert status == 0
    assert message.startswith("DatabaseReadOnly: "), message
    assert "read-only" in message and "write permission" in message
    assert path.read_bytes() == before
    shutil.rmtree(outer)


def test_ctrl_c_while_the_command_is_being_read_exits_130_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl-C in the first half second, while the parser imports the command's modules, came
    before main's error handling and printed Python's traceback. (The interrupt is raised
    where the real one lands: importing the command's module.)"""
    import nexus_logger.cli as cli

    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.importlib, "import_module", interrupted)
    assert cli.main(["sessions"]) == 130
    assert capsys.readouterr() == ("", "")
