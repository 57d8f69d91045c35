"""One outbox per PC (issue 14, req 3 and 6): any login's next nexus-logger sends what waits.

Two OS logins are simulated by two ``NEXUS_LOGGER_HOME`` folders and login names; the PC's
machine-wide folder is ``NEXUS_LOGGER_MACHINE_DIR`` (set per test in conftest), where IT's
config file says which database to use, as on a real instrument PC. Every ``nexus-logger`` here
is a real process, so the file locks and the kill points are the real ones.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from nexus_logger.core import timestamps
from nexus_logger.core.errors import EXIT_HELD
from nexus_logger.core.offline.durable import DurableLogger, database_key
from nexus_logger.core.offline.outbox import EventKind, EventState, Outbox
from nexus_logger.core.offline.outbox_place import locate
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.settings import paths
from tests.helpers_outbox import moved_away

ROOT = Path(__file__).resolve().parents[1]
TEM = "TEST-TEM-001"
SEM = "TEST-SEM-002"


def set_up_pc(database: str) -> None:
    """What IT writes once per PC: the machine-wide config file."""
    machine = paths.machine_config_file()
    machine.parent.mkdir(parents=True, exist_ok=True)
    machine.write_text(f"database = '{database}'\ninstrument = '{TEM}'\n", encoding="utf-8")


def env_of(home: Path, name: str, **extra: str) -> dict[str, str]:
    logins = dict.fromkeys(("USER", "LOGNAME", "USERNAME", "LNAME"), name)
    return {
        **os.environ,
        **logins,
        "NEXUS_LOGGER_HOME": str(home),
        "PYTHONPATH": str(ROOT),
        **extra,
    }


def run_as(home: Path, name: str, *argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``nexus-logger ARGV`` as the login ``name`` whose profile is ``home``."""
    return subprocess.run(
        [sys.executable, "-m", "nexus_logger", *argv],
        env=env_of(home, name, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def log_of(home: Path) -> str:
    log = home / "logs" / "nexus-logger.log"
    return log.read_text(encoding="utf-8") if log.exists() else ""


def machine_outbox() -> Path:
    return paths.machine_outbox_dir() / "outbox.sqlite"


def events_in(path: Path) -> list:
    box = Outbox(path)
    try:
        return box.items(states=tuple(EventState))
    finally:
        box.close()


def rows(database: str, ident: str) -> list[tuple[str, str, str]]:
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as conn:
        return conn.execute(
            "SELECT event_type, record_status, user FROM session_log "
            "WHERE session_identifier = ? ORDER BY id_session_log",
            (ident,),
        ).fetchall()


def test_the_pcs_outbox_is_in_platformdirs_site_data_dir_or_the_folder_it_names(
    monkeypatch, tmp_path
):
    monkeypatch.delenv(paths.MACHINE_ENV)
    monkeypatch.setenv("XDG_DATA_DIRS", f"{tmp_path / 'site'}:/usr/share")
    assert paths.machine_outbox_dir() == platformdirs.site_data_path(
        "nexus-logger", appauthor=False
    )
    if sys.platform.startswith("linux"):
        assert paths.machine_outbox_dir() == tmp_path / "site" / "nexus-logger"
    assert paths.machine_outbox_dir(str(tmp_path / "it")) == tmp_path / "it"
    assert locate(str(tmp_path / "it")).path == tmp_path / "it" / "outbox.sqlite"


@pytest.mark.parametrize(
    "next_command",
    [["sessions"], ["sync"], ["session", "status"], ["check"]],
    ids=["sessions", "sync", "session-status", "check"],
)
def test_an_end_kept_offline_by_one_login_is_sent_by_the_next_command_of_another(
    sqlite_db, tmp_path, next_command
):
    set_up_pc(sqlite_db)
    alice, bob = tmp_path / "home-alice", tmp_path / "home-bob"
    started = run_as(alice, "alice", "session", "start", "--format", "json")
    assert started.returncode == 0, started.stderr
    ident = json.loads(started.stdout)["session"]["session_identifier"]
    with moved_away(sqlite_db):  # the share drops; alice ends and goes home
        ended = run_as(alice, "alice", "session", "end")
    assert ended.returncode == EXIT_HELD, ended.stderr
    assert "saved on this PC" in ended.stdout
    (kept,) = events_in(machine_outbox())
    assert (kept.kind, kept.state, kept.user) == (EventKind.END, EventState.PENDING, "alice")
    assert not (alice / "data" / "outbox.sqlite").exists()  # not in alice's own folder

    run_as(bob, "bob", *next_command)  # the exit code is the command's own business
    assert rows(sqlite_db, ident) == [
        ("START", "TO_BE_BUILT", "alice"),
        ("END", "TO_BE_BUILT", "alice"),
    ]
    assert [e.state for e in events_in(machine_outbox())] == [EventState.SENT]
    status = run_as(bob, "bob", "session", "status", "--format", "json")
    assert json.loads(status.stdout)["open"] is False, status.stdout
    assert "Traceback" not in log_of(bob)


def _old_outbox(home: Path, database: str, user: str, instrument: str) -> tuple[str, Path]:
    """A session of ``user`` started in the database, its END waiting in the user's own
    outbox, as an older nexus-logger left it (one outbox per login)."""
    session = lifecycle.start_session(instrument=instrument, user=user, engine=database).session
    path = home / "data" / "outbox.sqlite"
    box = Outbox(path)
    box.add(
        EventKind.END,
        database=database_key(database),
        session_identifier=session.session_identifier,
        instrument_pid=instrument,
        timezone=session.instrument.timezone,
        at_text=timestamps.to_db(
            timestamps.now_in(session.instrument.timezone), session.instrument.timezone
        ),
        user=user,
        start_text=session.start_text,
    )
    box.close()
    return session.session_identifier, path


def test_old_outboxes_of_two_logins_are_adopted_exactly_once_when_all_start_at_once(
    sqlite_db, tmp_path
):
    set_up_pc(sqlite_db)
    homes = {"alice": tmp_path / "home-alice", "bob": tmp_path / "home-bob"}
    idents = {
        "alice": _old_outbox(homes["alice"], sqlite_db, "alice", TEM),
        "bob": _old_outbox(homes["bob"], sqlite_db, "bob", SEM),
    }
    # Two processes of each login, started at the same moment (they only read the outbox).
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "nexus_logger", "sync", "--status"],
            env=env_of(homes[name], name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("alice", "bob", "alice", "bob")
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    machine = events_in(machine_outbox())
    assert sorted(e.session_identifier for e in machine) == sorted(i for i, _ in idents.values())
    assert {e.state for e in machine} == {EventState.PENDING}
    for name, (ident, old) in idents.items():
        (left,) = events_in(old)
        assert left.state is EventState.SKIPPED
        assert str(machine_outbox()) in (left.last_error or "")
        adopted = [line for line in log_of(homes[name]).splitlines() if "Adopted" in line]
        assert len(adopted) == 1 and ident in adopted[0], adopted
    # Then the PC's scheduled 'sync' (any account) sends both, once each.
    done = run_as(tmp_path / "home-it", "it-task", "sync")
    assert done.returncode == 0, done.stdout + done.stderr
    for name, (ident, _old) in idents.items():
        assert [r[0] for r in rows(sqlite_db, ident)] == ["START", "END"], name


@pytest.mark.parametrize("point", ["adopt:copying", "adopt:copied"])
def test_a_kill_during_adoption_loses_nothing_and_copies_nothing_twice(sqlite_db, tmp_path, point):
    set_up_pc(sqlite_db)
    alice = tmp_path / "home-alice"
    ident, old = _old_outbox(alice, sqlite_db, "alice", TEM)
    killed = run_as(alice, "alice", "sync", "--status", NEXUS_LOGGER_FAULT=point)
    assert killed.returncode == -9, killed.stderr
    copied = events_in(machine_outbox()) if machine_outbox().exists() else []
    assert len(copied) == (1 if point == "adopt:copied" else 0)
    assert [e.state for e in events_in(old)] == [EventState.PENDING]  # still in alice's file

    again = run_as(alice, "alice", "sync")
    assert again.returncode == 0, again.stdout + again.stderr
    (event,) = events_in(machine_outbox())
    assert (event.session_identifier, event.state) == (ident, EventState.SENT)
    assert [e.state for e in events_in(old)] == [EventState.SKIPPED]
    assert [r[0] for r in rows(sqlite_db, ident)] == ["START", "END"]
    if point == "adopt:copied":
        assert "already in this PC's outbox" in log_of(alice)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` cannot be written by this process: a read-only tmpfs as root (root writes
    any folder whatever its mode), its mode otherwise. Writable again afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here ({done.stderr.strip()})")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_login_that_cannot_write_the_pcs_folder_keeps_its_events_and_says_so(
    sqlite_db, tmp_path, monkeypatch, isolated_home
):
    from nexus_logger.core.setup.doctor import check_outbox

    folder = tmp_path / "pc-outbox"
    with read_only(folder):
        place = locate(str(folder))
        assert not place.shared and place.path == isolated_home / "data" / "outbox.sqlite"
        durable = DurableLogger(sqlite_db, timeout=1.0, outbox_folder=str(folder))
        inst = durable.identify(instrument=TEM)
        started = durable.start(instrument=inst, user="alice")
        assert "cannot be written by this login" in started.message
        assert str(folder) in started.message and "docs/deployment.md" in started.message
        with moved_away(sqlite_db):
            ended = durable.end(started.session)
        assert ended.queued and "cannot be written" not in ended.message  # said once
        assert [e.kind for e in events_in(place.path)] == [EventKind.END]
        check = check_outbox(configured=str(folder))
        assert not check.ok and str(folder) in check.message and "1 session event" in check.message
        assert "icacls" in check.fix
    # IT fixed the folder: the next process adopts the END and sends it; nothing was lost.
    again = DurableLogger(sqlite_db, timeout=1.0, outbox_folder=str(folder))
    assert again.outbox.path == folder / "outbox.sqlite"
    assert again.sync().sent == 1
    ident = started.session.session_identifier
    assert [r[0] for r in rows(sqlite_db, ident)] == ["START", "END"]
    assert check_outbox(configured=str(folder)).ok


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes (Windows: folder ACLs)")
def test_the_record_of_sessions_running_here_is_one_every_login_can_use(
    sqlite_db: str,
) -> None:
    """The PC's heartbeat.json sits beside its outbox; every login reads it, and its lock
    takes the write rights the folder gives (a login's private file stopped the others)."""
    folder = paths.machine_outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o777)  # as IT opens the PC's folder to every login
    started = lifecycle.start_session(instrument="TEST-TEM-001", user="alice", engine=sqlite_db)
    lifecycle.remember_open_here(started.session)
    record = lifecycle.heartbeat_file()
    assert record == folder / "heartbeat.json"
    assert record.stat().st_mode & 0o777 == 0o644
    assert Path(f"{record}.lock").stat().st_mode & 0o777 == 0o666
    assert started.session.session_identifier in json.loads(record.read_text())["sessions"]


def test_with_config_the_record_of_running_sessions_is_beside_that_configs_outbox(
    sqlite_db: str, tmp_path: Path
) -> None:
    """--config naming an outbox_folder: the outbox went there, the record of the sessions
    running on the PC to the default folder (read from the default config)."""
    from nexus_logger.cli import main

    other = tmp_path / "it-outbox"
    config = tmp_path / "it.toml"
    config.write_text(f"outbox_folder = {json.dumps(str(other))}\n", encoding="utf-8")
    argv = ["--config", str(config), "session", "start", "--db", sqlite_db]
    assert main([*argv, "--instrument", "TEST-TEM-001"]) == 0
    assert (other / "heartbeat.json").is_file()
    assert not (paths.machine_outbox_dir() / "heartbeat.json").exists()
    assert os.environ.get("NEXUS_LOGGER_CONFIG") is None  # the command's alone


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX sticky bit")
def test_doctor_names_a_sticky_outbox_folder() -> None:
    """A 1777 folder (like /tmp) lets only a file's owner replace it: every login but the
    first could not take the outbox's lock or update the record of running sessions, and
    doctor said 'OK'."""
    from nexus_logger.core.setup.doctor import check_outbox

    folder = paths.machine_outbox_dir()
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o1777)
    try:
        check = check_outbox()
    finally:
        folder.chmod(0o755)
    assert not check.ok and "sticky bit" in check.message and "2775" in check.fix
    assert check_outbox().ok


def test_the_command_line_says_once_that_the_pcs_folder_cannot_be_written(
    sqlite_db, tmp_path, monkeypatch, capsys
):
    """A START and an END that reach the database print only their own line: the warning
    that this login keeps its events elsewhere (part of the core's message) was never shown,
    though the docs promise the CLI's next message adds it. Said once, on stderr."""
    from nexus_logger.cli import main

    folder = tmp_path / "pc-outbox"
    monkeypatch.setenv("NEXUS_LOGGER_OUTBOX_FOLDER", str(folder))
    common = ["--db", sqlite_db, "--instrument", TEM]
    with read_only(folder):
        assert main(["session", "start", *common, "--user", "alice"]) == 0
        said = capsys.readouterr()
        assert "Started session" in said.out
        assert said.err.count(f"This PC's outbox folder {folder} cannot be written") == 1
        assert main(["session", "end", *common, "--user", "alice"]) == 0
        said = capsys.readouterr()
        assert "Ended session" in said.out
        assert f"This PC's outbox folder {folder} cannot be written" in said.err  # another command


def test_checking_the_outbox_again_keeps_this_process_locks_on_it(tmp_path) -> None:
    """The window checks where its outbox is at every start and in the doctor, while it has
    the outbox open. Opening and closing the outbox's files for that dropped this process's
    SQLite locks (POSIX drops them at any close): another process then took the file as
    unused and deleted its WAL, with the window's kept ENDs in it."""
    import sqlite3

    from nexus_logger.core.offline.outbox_place import locate

    folder = tmp_path / "pc-outbox"
    place = locate(str(folder))
    assert place.shared
    holder = sqlite3.connect(place.path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE IF NOT EXISTS t (x)")
    holder.execute("BEGIN IMMEDIATE")  # this process writes the outbox now
    try:
        assert locate(str(folder)).shared  # the check again, in the same process
        other = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0, "
                "isolation_level=None); c.execute('BEGIN IMMEDIATE')",
                str(place.path),
            ],
            capture_output=True,
            text=True,
        )
        assert other.returncode != 0 and "database is locked" in other.stderr, other.stderr
    finally:
        holder.execute("ROLLBACK")
        holder.close()
