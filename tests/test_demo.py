"""The demo (issue 7, requirement 3): made once, safe to race, never the configured database."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_logger.cli import main
from nexus_logger.core.db.schema import Layout, inspect_schema
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.sessions.lifecycle import (
    end_session,
    find_open_session,
    identify_instrument,
    start_session,
)
from nexus_logger.core.settings import paths
from nexus_logger.core.setup import demo
from nexus_logger.core.setup.demo import DEMO_INSTRUMENTS, DEMO_STATION, ensure_demo_database
from tests.headless import run_main_in_child
from tests.nexuslims_ref import nexuslims_sessions_to_build


def rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(path: Path) -> dict[str, list[tuple]]:
    return {
        "instruments": rows(path, "SELECT instrument_pid, timezone FROM instruments ORDER BY 1"),
        "session_log": rows(path, "SELECT * FROM session_log ORDER BY id_session_log"),
        "stations": rows(path, "SELECT hostname, instrument_pid FROM nexus_logger_station"),
    }


def test_created_once_with_instruments_in_several_zones() -> None:
    path = ensure_demo_database()
    assert path == paths.demo_database() and path.is_file()
    info = inspect_schema(str(path))
    assert info.layout is Layout.NEXUSLIMS_2 and info.alembic_version == "v2_5_0b"
    first = snapshot(path)
    zones = {tz for _pid, tz in first["instruments"]}
    assert {pid for pid, _ in first["instruments"]} == {i.pid for i in DEMO_INSTRUMENTS}
    assert len(zones) >= 3
    assert first["stations"] == [(socket.gethostname().casefold(), DEMO_STATION)]
    # the sessions it ships with are finished: nothing is open on any instrument
    assert all(find_open_session(i.pid, engine=str(path)) is None for i in DEMO_INSTRUMENTS)
    # journal mode stays DELETE (the same rules as a shared database)
    assert rows(path, "PRAGMA journal_mode") == [("delete",)]

    before = digest(path)
    assert ensure_demo_database() == path  # twice: nothing changes
    assert digest(path) == before
    demo._marker(path).unlink()  # without the fast path it checks and still adds nothing
    assert ensure_demo_database() == path
    assert snapshot(path) == first
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "demo.sqlite",
        "demo.sqlite.lock",
        "demo.sqlite.ready",
    ]


def test_this_pc_starts_a_session_at_once() -> None:
    path = str(ensure_demo_database())
    instrument = identify_instrument(engine=path, use_config=False)
    assert instrument.instrument_pid == DEMO_STATION
    started = start_session(instrument=instrument.instrument_pid, user="newcomer", engine=path)
    assert started.created
    open_now = find_open_session(DEMO_STATION, engine=path)
    assert open_now is not None and open_now.user == "newcomer"
    ended = end_session(instrument=DEMO_STATION, engine=path)
    assert ended.session_identifier == started.session.session_identifier


def test_the_command_line_promises_no_record_for_a_demo_session(capsys) -> None:
    from nexus_logger.cli import main

    path = str(ensure_demo_database())
    assert main(["session", "start", "--db", path, "--instrument", DEMO_STATION]) == 0
    assert main(["session", "end", "--db", path, "--instrument", DEMO_STATION]) == 0
    out = capsys.readouterr().out
    assert "NexusLIMS never reads" in out and "will build its record" not in out


def test_a_demo_file_held_locked_does_not_keep_the_window_from_opening(capsys) -> None:
    """Another program holds the demo file locked: the command goes on to the window (here
    --no-window) after a short wait instead of failing on the terminal after the full lock
    timeout with no window at all."""
    import sqlite3

    from nexus_logger.cli import main

    path = str(ensure_demo_database())
    holder = sqlite3.connect(path)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        assert main(["demo", "--no-window"]) == 0
    finally:
        holder.rollback()
        holder.close()
    assert f"is {DEMO_STATION} in the demo" in capsys.readouterr().out


def test_another_pc_sharing_the_folder_gets_mapped_too() -> None:
    path = ensure_demo_database()
    ensure_demo_database(hostname="OTHER-PC")
    stations = dict(rows(path, "SELECT hostname, instrument_pid FROM nexus_logger_station"))
    assert stations == {socket.gethostname().casefold(): DEMO_STATION, "other-pc": DEMO_STATION}
    assert set(json.loads(demo._marker(path).read_text())["hosts"]) == set(stations)


def test_real_nexuslims_reads_the_demo(nexuslims_python: Path) -> None:
    path = ensure_demo_database()
    expected = {
        r[0]
        for r in rows(
            path, "SELECT session_identifier FROM session_log WHERE record_status = 'TO_BE_BUILT'"
        )
    }
    assert expected
    result = nexuslims_sessions_to_build(nexuslims_python, path)
    assert "error" not in result, result
    assert {s["session_identifier"] for s in result["sessions"]} == expected


def test_two_processes_racing_make_one_database(isolated_home: Path) -> None:
    code = (
        "import sys; from nexus_logger.core.setup.demo import ensure_demo_database\n"
        "print(ensure_demo_database())\n"
    )
    env = {**os.environ, paths.HOME_ENV: str(isolated_home)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert {out.strip() for out, _err in outputs} == {str(paths.demo_database())}
    path = paths.demo_database()
    assert len(rows(path, "SELECT * FROM instruments")) == len(DEMO_INSTRUMENTS)
    assert len(rows(path, "SELECT * FROM nexus_logger_station")) == 1
    assert len(rows(path, "SELECT DISTINCT session_identifier FROM session_log")) == 3
    assert not list(path.parent.glob("*.tmp"))


def test_reset_starts_over_and_keeps_the_old_file() -> None:
    path = ensure_demo_database()
    start_session(instrument=DEMO_STATION, user="someone", engine=str(path))
    with_session = digest(path)
    assert ensure_demo_database(reset=True) == path
    assert digest(path.with_name("demo.sqlite.old")) == with_session
    assert find_open_session(DEMO_STATION, engine=str(path)) is None


def test_a_damaged_demo_file_is_set_aside_and_made_again() -> None:
    path = paths.demo_database()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database at all" * 100)
    assert ensure_demo_database() == path
    assert inspect_schema(str(path)).layout is Layout.NEXUSLIMS_2
    broken = list(path.parent.glob("demo.sqlite.broken-*"))
    assert len(broken) == 1 and broken[0].read_bytes().startswith(b"not a database")


# -- the command -------------------------------------------------------------------------------


def test_demo_command_never_touches_the_configured_database(
    reference_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    production = Path(reference_db)
    before = digest(production)
    missing = tmp_path / "not-there.sqlite"
    config = tmp_path / "config.toml"
    config.write_text(
        f"database = '{production}'\ninstrument = 'FEI-Titan-TEM-635816'\n", encoding="utf-8"
    )
    monkeypatch.setenv("NX_DB_PATH", str(missing))
    assert main(["--db", str(production), "demo", "--no-window", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"Demo database: {paths.demo_database()}" in out
    assert f"is {DEMO_STATION} in the demo" in out
    assert "The configured database is not used by the demo." in out
    assert digest(production) == before
    assert not missing.exists()
    assert "nexus_logger_station" not in {
        r[0] for r in rows(production, "SELECT name FROM sqlite_master")
    }


def test_demo_command_refuses_an_instrument_that_is_not_a_demo_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--no-window", "--instrument", "FEI-Titan-TEM-635816"]) == (
        InvalidInput.exit_code
    )
    err = capsys.readouterr().err
    assert "'FEI-Titan-TEM-635816' is not a demo instrument" in err and DEMO_STATION in err
    assert main(["demo", "--no-window", "--instrument", DEMO_INSTRUMENTS[2].pid]) == 0
    assert f"This run uses {DEMO_INSTRUMENTS[2].pid};" in capsys.readouterr().out


def test_demo_without_window_needs_no_qt(isolated_home: Path) -> None:
    run = run_main_in_child(["demo", "--no-window"], {paths.HOME_ENV: str(isolated_home)})
    assert (run.rc, run.qt_modules) == (0, [])


def test_demo_opens_the_window_on_the_demo_database(isolated_home: Path) -> None:
    from nexus_logger.gui import app

    probe = app.STARTUP_PROBE_ENV
    result = subprocess.run(
        [sys.executable, "-m", "nexus_logger", "demo"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            paths.HOME_ENV: str(isolated_home),
            probe: "1",
            "QT_QPA_PLATFORM": "offscreen",
        },
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "window shown" in result.stdout
    assert paths.demo_database().is_file()


def test_later_calls_are_cheap_no_sqlalchemy(isolated_home: Path) -> None:
    """Once made, the window's start-up can call it without importing SQLAlchemy."""
    ensure_demo_database()
    code = (
        "import sys, json\n"
        "from nexus_logger.core.setup.demo import ensure_demo_database\n"
        "path = ensure_demo_database()\n"
        "print(json.dumps([str(path), 'sqlalchemy' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, paths.HOME_ENV: str(isolated_home)},
        timeout=120,
    )
    assert json.loads(out.stdout) == [str(paths.demo_database()), False]


def test_the_instrument_chosen_for_a_run_is_not_said_to_be_this_pcs(capsys) -> None:
    """``demo --instrument OTHER`` is for that run's window; the PC stays mapped to its own
    demo instrument, and the command said the PC *was* the other one."""
    from nexus_logger.cli import main
    from nexus_logger.core.setup import demo

    other = next(pid for pid in demo.demo_pids() if pid != demo.DEMO_STATION)
    assert main(["demo", "--no-window", "--instrument", other]) == 0
    said = capsys.readouterr().out
    assert f"This run uses {other};" in said and f"is {demo.DEMO_STATION} in the demo" in said
