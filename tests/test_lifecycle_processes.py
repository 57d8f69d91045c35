"""Real processes: racing starts on one PC and on many, and kill -9 at every step.

Each process is ``python -m nexus_logger`` with its own environment: a shared folder (its
``NEXUS_LOGGER_HOME`` and, inside it, its ``NEXUS_LOGGER_MACHINE_DIR``) is one PC with one
outbox, separate ones are separate PCs. A crash is the real thing:
``NEXUS_LOGGER_FAULT`` names a point in the code where the process kills itself with SIGKILL
(nexus_logger/core/faults.py). After each crash the next command on the PC must leave the
database with at most one open session per instrument, no row twice, no clicked END lost,
and nothing the user was never told about written over another session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_logger.core import timestamps
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventState
from nexus_logger.core.sessions.lifecycle import find_open_session
from tests.helpers_outbox import TEM, assert_pairing_holds, moved_away
from tests.rawdb import dump_session_log

ROOT = Path(__file__).resolve().parents[1]
KILLED = -9 if os.name != "nt" else 137


def _pc(home: Path) -> dict[str, str]:
    """The environment of one PC: a login's folder and the machine-wide folder (the outbox)."""
    return {"NEXUS_LOGGER_HOME": str(home), "NEXUS_LOGGER_MACHINE_DIR": str(home / "machine")}


def outbox_of(home: Path) -> Path:
    """The outbox of the PC ``home`` stands for."""
    return home / "machine" / "data" / "outbox.sqlite"


def run(
    home: Path, *args: str, fault: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_LOGGER_")}
    env.update(_pc(home), NEXUS_LOGGER_DB_TIMEOUT_SECONDS="2")
    if fault:
        env["NEXUS_LOGGER_FAULT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "nexus_logger", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_LOGGER_")}
    env.update(_pc(home), NEXUS_LOGGER_DB_TIMEOUT_SECONDS="20")
    return subprocess.Popen(
        [sys.executable, "-m", "nexus_logger", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def open_starts(target: str) -> list[str]:
    """Identifiers of STARTs without END (the open sessions, read with the plain driver)."""
    rows = dump_session_log(target)
    ended = {r[1] for r in rows if r[4] == "END"}
    return [r[1] for r in rows if r[4] == "START" and r[1] not in ended and r[5] != "ERROR"]


def no_duplicates(target: str) -> None:
    rows = dump_session_log(target)
    keys = [(r[1], r[4]) for r in rows if r[4] in ("START", "END")]
    assert len(keys) == len(set(keys)), keys


@pytest.mark.slow
@pytest.mark.parametrize("pcs", ["one PC", "eight PCs"])
def test_eight_racing_starts_give_one_session_and_seven_true_refusals(
    db: str, tmp_path: Path, pcs: str
) -> None:
    homes = [tmp_path / ("pc" if pcs == "one PC" else f"pc{i}") for i in range(8)]
    procs = [spawn(h, "session", "start", "--db", db, "--instrument", TEM) for h in homes]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _out, _err in results)
    assert codes == [0] + [4] * 7, results
    for _code, out, err in results:
        assert "saved on this PC" not in out + err  # the database answered every one of them
        assert "Traceback" not in err
    refusals = [err for code, _out, err in results if code == 4]
    assert all("already open" in err for err in refusals)
    assert len(open_starts(db)) == 1
    for home in set(homes):
        assert DurableLogger(db, outbox_path=outbox_of(home)).pending_count() == 0


# --- kill -9 at every step of start and end ---------------------------------------------------


@pytest.mark.parametrize("fault", ["start:before-db", "start:committed"])
def test_start_killed_online_leaves_the_database_truth(
    sqlite_db: str, tmp_path: Path, fault: str
) -> None:
    pc = tmp_path / "pc"
    crashed = run(pc, "session", "start", "--db", sqlite_db, "--instrument", TEM, fault=fault)
    assert crashed.returncode == KILLED
    written = fault == "start:committed"
    assert len(open_starts(sqlite_db)) == (1 if written else 0)
    # Nothing waits on the PC; the next start answers from the database.
    again = run(pc, "session", "start", "--db", sqlite_db, "--instrument", TEM)
    assert again.returncode == (4 if written else 0), again.stderr
    assert len(open_starts(sqlite_db)) == 1
    assert run(pc, "sync", "--db", sqlite_db).returncode == 0
    no_duplicates(sqlite_db)


def test_offline_start_killed_before_the_user_was_told_is_no_phantom(
    sqlite_db: str, tmp_path: Path
) -> None:
    """The issue's case: killed after the START was kept, while another PC holds the instrument."""
    pc_a, pc_b = tmp_path / "a", tmp_path / "b"
    assert run(pc_a, "session", "start", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    assert run(pc_a, "session", "end", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    with moved_away(sqlite_db):
        crashed = run(
            pc_a, "session", "start", "--db", sqlite_db, "--instrument", TEM, fault="start:kept"
        )
        assert crashed.returncode == KILLED
        status = run(pc_a, "session", "status", "--db", sqlite_db, "--instrument", TEM)
        assert "No session is known to this PC" in status.stdout  # never shown: not a session
    other = run(pc_b, "session", "start", "--db", sqlite_db, "--instrument", TEM, "--user", "bob")
    assert other.returncode == 0
    bob = find_open_session(TEM, engine=sqlite_db).session_identifier

    synced = run(pc_a, "sync", "--db", sqlite_db)
    assert synced.returncode == 0, synced.stdout  # dropped, with a log line: nothing waits
    assert "nobody was told about" in synced.stdout
    assert open_starts(sqlite_db) == [bob]
    status = run(pc_a, "session", "status", "--db", sqlite_db, "--instrument", TEM)
    assert "bob" in status.stdout and "waiting on this PC since" not in status.stdout
    log = (pc_a / "logs").glob("*.log")
    assert any("Dropped the START" in p.read_text() for p in log)
    box = DurableLogger(sqlite_db, outbox_path=outbox_of(pc_a))
    assert box.conflicts() == [] and box.pending_count() == 0


def test_offline_start_killed_before_told_is_written_when_free_and_recent(
    sqlite_db: str, tmp_path: Path
) -> None:
    pc = tmp_path / "pc"
    assert run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    with moved_away(sqlite_db):
        crashed = run(
            pc, "session", "start", "--db", sqlite_db, "--instrument", TEM, fault="start:kept"
        )
        assert crashed.returncode == KILLED
    assert run(pc, "sync", "--db", sqlite_db).returncode == 0
    assert len(open_starts(sqlite_db)) == 1
    logs = "".join(p.read_text() for p in (pc / "logs").glob("*.log"))
    assert "was written although its user was never told" in logs


def test_offline_start_confirmed_then_killed_is_sent(sqlite_db: str, tmp_path: Path) -> None:
    pc = tmp_path / "pc"
    assert run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    with moved_away(sqlite_db):
        crashed = run(
            pc,
            "session",
            "start",
            "--db",
            sqlite_db,
            "--instrument",
            TEM,
            fault="start:confirmed",
        )
        assert crashed.returncode == KILLED
        assert "saved on this PC" in crashed.stdout  # the user was told before the crash
        status = run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM)
        assert "waiting on this PC since" in status.stdout
    assert run(pc, "sync", "--db", sqlite_db).returncode == 0
    assert len(open_starts(sqlite_db)) == 1


@pytest.mark.parametrize(
    "fault", ["end:kept", "send:end-before-commit", "send:end-committed", "end:sent"]
)
def test_end_killed_at_any_step_is_never_lost(db: str, tmp_path: Path, fault: str) -> None:
    pc = tmp_path / "pc"
    assert run(pc, "session", "start", "--db", db, "--instrument", TEM).returncode == 0
    ident = find_open_session(TEM, engine=db).session_identifier
    crashed = run(pc, "session", "end", "--db", db, "--instrument", TEM, fault=fault)
    assert crashed.returncode == KILLED
    # Whatever the step, the next command on the PC finishes the END exactly once.
    assert run(pc, "sync", "--db", db).returncode == 0
    assert assert_pairing_holds(db) == [(ident, TEM, _login())]
    no_duplicates(db)
    assert open_starts(db) == []
    box = DurableLogger(db, outbox_path=outbox_of(pc))
    assert box.conflicts() == []
    assert [e.state for e in box.outbox.items(states=tuple(EventState))] == [EventState.SENT]


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_while_the_end_waits_for_a_locked_file_says_it_is_kept(
    sqlite_db: str, tmp_path: Path
) -> None:
    """The END is in the outbox before it is sent; a Ctrl-C while the send waits on a file
    another program holds left exit 130 and nothing printed, yet the next command sent that
    END. Now it says so (exit 3, as for any END kept on this PC), and the END is sent."""
    import signal
    import sqlite3
    import time

    pc = tmp_path / "pc"
    assert run(pc, "session", "start", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    ident = find_open_session(TEM, engine=sqlite_db).session_identifier
    holder = sqlite3.connect(sqlite_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another program writing: the END must wait
    try:
        child = spawn(pc, "session", "end", "--db", sqlite_db, "--instrument", TEM)
        box = DurableLogger(sqlite_db, outbox_path=outbox_of(pc))
        deadline = time.monotonic() + 30
        while not box.pending_events() and time.monotonic() < deadline:
            time.sleep(0.05)  # (another process: no event loop to wait on)
        assert box.pending_events(), "the END never reached the outbox"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert child.returncode == 3, err
    assert "Interrupted before the database answered" in out
    assert f"Session {ident} on {TEM}" in out and "is kept on this PC" in out
    assert "Traceback" not in err
    assert run(pc, "sync", "--db", sqlite_db).returncode == 0
    assert assert_pairing_holds(sqlite_db) == [(ident, TEM, _login())]


def _login() -> str:
    import getpass

    return getpass.getuser()


def test_status_labels_a_session_only_on_this_pc(sqlite_db: str, tmp_path: Path) -> None:
    pc = tmp_path / "pc"
    assert run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    with moved_away(sqlite_db):
        started = run(pc, "session", "start", "--db", sqlite_db, "--instrument", TEM)
        assert started.returncode == 3 and "saved on this PC" in started.stdout
        status = run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM)
    assert "waiting on this PC since" in status.stdout
    assert "database unreachable" in status.stdout
    now = timestamps.now_in("UTC")
    assert str(now.year) in status.stdout


def test_sync_killed_after_a_kept_start_reached_the_database(
    sqlite_db: str, tmp_path: Path
) -> None:
    pc = tmp_path / "pc"
    assert run(pc, "session", "status", "--db", sqlite_db, "--instrument", TEM).returncode == 0
    with moved_away(sqlite_db):
        kept = run(pc, "session", "start", "--db", sqlite_db, "--instrument", TEM)
        assert kept.returncode == 3 and "saved on this PC" in kept.stdout
    crashed = run(pc, "sync", "--db", sqlite_db, fault="send:start-committed")
    assert crashed.returncode == KILLED
    assert len(open_starts(sqlite_db)) == 1  # committed before the kill
    assert run(pc, "sync", "--db", sqlite_db).returncode == 0  # found there: nothing twice
    no_duplicates(sqlite_db)
    box = DurableLogger(sqlite_db, outbox_path=outbox_of(pc))
    assert box.pending_count() == 0 and box.conflicts() == []
