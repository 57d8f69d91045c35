"""Pre-flight checks (issue 7, requirement 4): a healthy set-up, and each way one breaks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from nexus_logger.cli import main
from nexus_logger.core.db.engine import is_url
from nexus_logger.core.errors import DatabaseUnavailable, NotFound, SchemaError
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.sessions.station import set_station, this_host
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import Settings, load_settings
from nexus_logger.core.setup.doctor import (
    TITLES,
    Check,
    format_checks,
    problems,
    relevant_check,
    run_checks,
)
from tests.headless import run_main_in_child

NAMES = list(TITLES)


def settings_for(database: str, **values: object) -> Settings:
    overrides = {"database": database, **values}
    return load_settings(overrides=overrides)


def by_name(checks: list[Check]) -> dict[str, Check]:
    assert [c.name for c in checks] == NAMES
    return {c.name: c for c in checks}


def assert_only_problem(checks: list[Check], name: str, *fragments: str) -> Check:
    found = by_name(checks)
    bad = [c.name for c in checks if not c.ok]
    assert bad == [name], format_checks(checks)
    check = found[name]
    assert check.status == "PROBLEM" and check.fix
    for fragment in fragments:
        assert fragment in check.message + " " + check.fix, check
    return check


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def mapped_db(db: str) -> str:
    """A NexusLIMS database (SQLite and PostgreSQL) with this PC mapped to TEST-TEM-001."""
    set_station("TEST-TEM-001", engine=db)
    return db


# -- healthy -----------------------------------------------------------------------------------


def test_healthy_setup_passes_every_check(
    mapped_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = run_checks(settings_for(mapped_db))
    found = by_name(checks)
    assert not problems(checks), format_checks(checks)
    assert "reachable and writable" in found["database"].message
    assert "NexusLIMS 2.8 layout (Alembic revision v2_5_0b)" in found["schema"].message
    assert f"This PC ({this_host()}) is TEST-TEM-001" in found["station"].message
    assert "America/New_York" in found["station"].message
    assert "agrees with" in found["clock"].message
    assert relevant_check(checks, DatabaseUnavailable("x")) is None

    assert main(["doctor", "--db", mapped_db]) == 0
    out = capsys.readouterr().out
    # The suite's PostgreSQL login is a superuser: its account check warns, and is still OK.
    warned = out.count("\nWARNING  Database account and rights")
    assert warned == (1 if is_url(mapped_db) else 0)
    assert out.count("\nOK ") + out.startswith("OK ") + warned == len(NAMES)
    assert "All checks passed" in out
    assert main(["doctor", "--db", mapped_db, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True and {c["status"] for c in data["checks"]} <= {"OK", "WARNING"}


def test_checks_change_nothing(reference_db: str) -> None:
    """The write probe is rolled back and the clock probe file removed: byte-for-byte."""
    folder = Path(reference_db).parent
    before = digest(reference_db), sorted(p.name for p in folder.iterdir())
    checks = run_checks(settings_for(reference_db, instrument="NX-TEST-INSTR-001"))
    assert not problems(checks), format_checks(checks)
    assert (digest(reference_db), sorted(p.name for p in folder.iterdir())) == before


def test_legacy_layout_is_recognised_and_mapped_by_computer_name(legacy_db: str) -> None:
    checks = run_checks(settings_for(legacy_db), hostname="TITAN-SUPPORT-PC")
    found = by_name(checks)
    assert not problems(checks), format_checks(checks)
    assert found["schema"].message.startswith("Legacy NexusLIMS 1.x layout")
    assert "legacy instruments.computer_name" in found["station"].message


# -- broken, one thing at a time ----------------------------------------------------------------


def test_missing_database_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "share" / "nexuslims.sqlite"
    checks = run_checks(settings_for(str(missing)))
    found = by_name(checks)
    assert found["database"].status == "PROBLEM"
    assert "does not exist" in found["database"].message
    assert "'database' setting (from the command line option --db)" in found["database"].fix
    skipped = ("schema", "station", "account", "clock", "bridge")
    assert [found[n].status for n in skipped] == ["SKIPPED"] * 5
    assert found["outbox"].ok and found["log"].ok
    assert not missing.exists()

    assert main(["doctor", "--db", str(missing)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("PROBLEM  ") and "What to do:" in out
    assert "1 problem found, 5 check(s) skipped." in out


def test_nothing_configured_is_not_set_up(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "This PC is not set up: sessions are not sent to NexusLIMS" in out
    assert "config init --machine" in out and "nexus-logger demo" in out
    assert main(["demo", "--no-window"]) == 0
    capsys.readouterr()
    assert main(["doctor"]) == 1  # having tried the demo once does not set the PC up
    assert "This PC is not set up" in capsys.readouterr().out
    monkeypatch.setenv("NEXUS_LOGGER_DEMO", "true")  # the demo asked for explicitly
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "the local demo database" in out and str(paths.demo_database()) in out


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("meeting notes, not a database\n" * 100)
    checks = run_checks(settings_for(str(path)))
    assert by_name(checks)["database"].status == "PROBLEM"
    assert "is not an SQLite database" in by_name(checks)["database"].message


@pytest.mark.parametrize("kind", ["empty", "other"])
def test_unknown_layout(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    with sqlite3.connect(path) as conn:
        if kind == "other":
            conn.execute("CREATE TABLE inventory (id INTEGER PRIMARY KEY, item TEXT)")
    conn.close()
    checks = run_checks(settings_for(str(path)))
    found = by_name(checks)
    assert found["database"].ok
    assert found["schema"].status == "PROBLEM"
    assert found["schema"].message.startswith("Unknown layout")
    assert found["station"].status == "SKIPPED"
    fix = "init-db" if kind == "empty" else "config show"
    assert fix in found["schema"].fix


def test_pc_not_mapped(db: str) -> None:
    checks = run_checks(settings_for(db), hostname="UNKNOWN-PC")
    check = assert_only_problem(
        checks, "station", "'UNKNOWN-PC'", "TEST-TEM-001", "nexus-logger station set PID"
    )
    assert relevant_check(checks, NotFound("x")) is check


def test_a_staff_pc_without_an_instrument_is_a_warning_not_a_problem(db: str) -> None:
    """postgres-roles.md asks for 'doctor' on each PC: on a staff PC it said PROBLEM and
    advised mapping it to an instrument, which would make its window log sessions."""
    from nexus_logger.core.staff.admin_actions import current_login

    settings = settings_for(db, administrators=[current_login()])
    found = by_name(run_checks(settings, hostname="STAFF-PC"))
    station = found["station"]
    assert station.status == "WARNING", station
    assert "That is right for a staff PC" in station.message
    assert station.fix.startswith("On an instrument PC: map this PC once")
    assert [c.name for c in found.values() if c.status == "PROBLEM"] == []


@pytest.mark.parametrize("zone", ["Mars/Olympus", "EST+5"])
def test_an_instrument_whose_time_zone_is_no_zone_is_a_problem(mapped_db: str, zone: str) -> None:
    """Its times would silently be written in UTC (the zone falls back), and NexusLIMS cannot
    read the instrument: the doctor says so rather than "OK ... time zone Mars/Olympus"."""
    from tests.rawdb import raw_execute

    raw_execute(
        mapped_db,
        "UPDATE instruments SET timezone = ? WHERE instrument_pid = 'TEST-TEM-001'",
        (zone,),
    )
    check = assert_only_problem(
        run_checks(settings_for(mapped_db)), "station", f"{zone!r}", "is not a time zone name"
    )
    assert "IANA name" in check.fix


def test_a_database_without_instruments_says_where_they_come_from(tmp_path: Path) -> None:
    from nexus_logger.core.db.schema import init_db

    empty = str(tmp_path / "new.sqlite")
    init_db(empty)
    check = by_name(run_checks(settings_for(empty), hostname="NEW-PC"))["station"]
    assert check.status == "PROBLEM"
    assert "has no instruments yet" in check.message
    assert check.fix.startswith("Have NexusLIMS's staff add the instruments")


def test_configured_instrument_that_does_not_exist(
    sqlite_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_LOGGER_INSTRUMENT", "NO-SUCH-TEM")
    checks = run_checks(load_settings(overrides={"database": sqlite_db}))
    assert_only_problem(checks, "station", "NO-SUCH-TEM", "Fix 'instrument' (from the environment")


def skewed(delta: timedelta) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + delta


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(minutes=5, seconds=3), "5 min 3 s ahead of"),
        (timedelta(hours=-1, minutes=-2), "1 h 2 min 0 s behind"),
    ],
)
def test_clock_off_by_more_than_two_minutes(delta: timedelta, words: str, mapped_db: str) -> None:
    checks = run_checks(settings_for(mapped_db), clock=skewed(delta))
    check = assert_only_problem(checks, "clock", words, "Sync now")
    what = "the file server's" if "sqlite" in mapped_db else "the database server's"
    assert what in check.message


def test_clock_within_two_minutes_is_ok(sqlite_db: str) -> None:
    set_station("TEST-SEM-002", engine=sqlite_db)
    checks = run_checks(settings_for(sqlite_db), clock=skewed(timedelta(seconds=-100)))
    assert by_name(checks)["clock"].ok
    assert "1 min 40 s behind" in by_name(checks)["clock"].message or "100 s behind" in (
        by_name(checks)["clock"].message
    )


def test_events_waiting_in_the_outbox(sqlite_db: str, tmp_path: Path) -> None:
    """A START made while the share was away stays in the outbox until it is sent."""
    set_station("TEST-TEM-001", engine=sqlite_db)
    logger = DurableLogger(sqlite_db)
    instrument = logger.identify()
    away = Path(sqlite_db).with_suffix(".away")
    Path(sqlite_db).rename(away)  # the share went away
    try:
        outcome = logger.start(instrument=instrument, user="alice")
        assert outcome.queued
    finally:
        away.rename(sqlite_db)
    checks = run_checks(settings_for(sqlite_db))
    assert_only_problem(checks, "outbox", "1 session event waits", "nexus-logger sync")
    report = logger.sync()
    assert report.complete
    assert not problems(run_checks(settings_for(sqlite_db)))


def test_log_folder_not_writable(mapped_db: str, isolated_home: Path) -> None:
    (isolated_home / "logs").write_text("a file where the log folder should be")
    checks = run_checks(settings_for(mapped_db))
    assert_only_problem(checks, "log", "cannot be written", paths.HOME_ENV)


def test_locked_database(sqlite_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    set_station("TEST-TEM-001", engine=sqlite_db)
    monkeypatch.setenv("NEXUS_LOGGER_DB_TIMEOUT_SECONDS", "0.3")
    holder = sqlite3.connect(sqlite_db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        checks = run_checks(load_settings(overrides={"database": sqlite_db}))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    found = by_name(checks)
    assert found["database"].status == "PROBLEM"
    assert "locked" in found["database"].message
    assert "Another program holds the database" in found["database"].fix
    assert relevant_check(checks, DatabaseUnavailable("x")) is found["database"]


def test_unreachable_server_never_shows_the_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = "postgresql+psycopg://nexus:hunter2@127.0.0.1:9/nexuslims"
    assert main(["doctor", "--db", url, "--format", "json"]) == 1
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["checks"][0]["status"] == "PROBLEM"
    assert "cannot be reached" in data["checks"][0]["message"]
    assert "hunter2" not in out


@pytest.mark.postgres
def test_postgres_login_without_write_privileges(pg_cluster, pg_db: str) -> None:
    dbname = pg_db.rsplit("/", 1)[1]
    role = f"reader_{uuid.uuid4().hex[:8]}"
    pg_cluster.execute(f"CREATE ROLE {role} LOGIN")
    set_station("TEST-TEM-001", engine=pg_db)
    pg_cluster.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}", dbname=dbname)
    reader = pg_cluster.url(dbname, user=role)
    checks = run_checks(settings_for(reader))
    check = assert_only_problem(checks, "database", "read-only", f"{role} lacks INSERT")
    assert "grant this login INSERT and UPDATE on session_log" in check.fix
    pg_cluster.execute(f"GRANT INSERT, UPDATE ON session_log TO {role}", dbname=dbname)
    assert by_name(run_checks(settings_for(reader)))["database"].ok


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to drop root privileges")
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_database(what: str, reference_db: str) -> None:
    """As an account without write permission (root ignores permission bits: fork + setuid)."""
    outer = Path(tempfile.mkdtemp(prefix="nexus-logger-doctor-"))
    outer.chmod(0o755)
    folder = outer / "share"
    folder.mkdir()
    path = folder / "nexuslims.sqlite"
    shutil.copyfile(reference_db, path)
    settings = settings_for(str(path), instrument="NX-TEST-INSTR-001")
    run_checks(settings)  # import everything the child needs while we may still read it
    before = digest(path)
    if what == "file":
        path.chmod(0o444)
        folder.chmod(0o777)
    else:
        path.chmod(0o666)
        folder.chmod(0o555)
    result = _run_as_nobody(lambda: run_checks(settings))
    folder.chmod(0o755)
    path.chmod(0o644)
    try:
        found = {c["name"]: c for c in result}
        database = found["database"]
        assert database["status"] == "PROBLEM", result
        if what == "file":
            assert "read-only for this account" in database["message"]
            assert "write (Modify) permission on the database file" in database["fix"]
        else:
            assert "can be read but not written" in database["message"]
            assert "permission on the folder" in database["fix"]
        assert found["schema"]["status"] == "OK"
        assert digest(path) == before
    finally:
        shutil.rmtree(outer)


def _run_as_nobody(fn: Callable[[], list[Check]]) -> list[dict[str, object]]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_end)
        try:
            if os.geteuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            payload = json.dumps([c.as_dict() for c in fn()])
        except BaseException as err:  # report anything to the parent
            payload = json.dumps([{"name": "error", "message": repr(err)}])
        with os.fdopen(write_end, "w") as fh:
            fh.write(payload)
        os._exit(0)
    os.close(write_end)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(os.fdopen(read_end).read()))
    reader.start()
    _, status = os.waitpid(pid, 0)
    reader.join(timeout=60)
    assert status == 0
    return json.loads(chunks[0])


# -- helpers the window uses --------------------------------------------------------------------


def test_relevant_check_picks_the_one_that_explains_the_error() -> None:
    checks = [
        Check("database", True, "ok"),
        Check("schema", False, "unknown layout", "fix it"),
        Check("station", False, "not mapped", "map it"),
        Check("clock", False, "Not checked", skipped=True),
        Check("outbox", True, "empty"),
        Check("log", False, "not writable", "fix"),
    ]
    assert relevant_check(checks, NotFound("no instrument")).name == "station"
    assert relevant_check(checks, SchemaError("bad")).name == "schema"
    assert relevant_check(checks, DatabaseUnavailable("away")).name == "schema"  # first real
    assert relevant_check(checks).name == "schema"
    assert relevant_check([Check("clock", False, "x", skipped=True)]) is None


@pytest.mark.parametrize(
    "argv", [["doctor"], ["config", "show"], ["config", "path", "--all"], ["config"]]
)
def test_headless_commands_do_not_import_qt(argv: list[str], isolated_home: Path) -> None:
    run = run_main_in_child(argv, {paths.HOME_ENV: str(isolated_home)})
    assert run.qt_modules == [] and run.rc in (0, 1)


def test_a_database_error_inside_a_check_is_one_sentence(sqlite_db: str) -> None:
    """A check the database broke says what the database answered, without SQLAlchemy's
    wrapping (the SQL, the link to its website), and what to look at."""
    from sqlalchemy import text

    from nexus_logger.core.db.engine import get_engine
    from nexus_logger.core.setup.doctor import _guarded

    def broken() -> Check:
        with get_engine(sqlite_db).connect() as conn:
            conn.execute(text("SELECT no_such_function()"))
        raise AssertionError("not reached")

    check = _guarded("account", broken)
    assert not check.ok
    assert check.message == (
        'The check could not finish: the database answered "no such function: no_such_function".'
    )
    assert "sqlalche.me" not in check.message and "[SQL:" not in check.message
    assert "docs/postgres-roles.md" in check.fix
