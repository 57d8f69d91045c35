"""SIGTERM and Ctrl+C stop the window cleanly (issue 14, req 5), as real processes.

The window runs as ``nexus-logger`` does (offscreen), on a real SQLite file; the test sends
the signal and reads the database and the log file afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.settings import paths
from tests.gui.helpers_gui import PID, rows_of

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

LAUNCH = [sys.executable, "-m", "nexus_logger"]


def _window(database: str, **env_extra: str) -> subprocess.Popen[str]:
    """The window as ``nexus-logger`` runs it, offscreen."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", **env_extra}
    return subprocess.Popen(
        [*LAUNCH, "--db", database, "--instrument", PID],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _launch(database: str, **env_extra: str) -> tuple[subprocess.Popen[str], str]:
    """The window, once it has started its session."""
    proc = _window(database, **env_extra)
    deadline = time.monotonic() + 30
    while (found := lifecycle.find_open_session(PID, engine=database)) is None:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the window did not start a session"
        time.sleep(0.1)
    return proc, found.session_identifier


def _signal_at_once(proc: subprocess.Popen[str], sig: int) -> None:
    """Send ``sig`` right after the START: the window may still be on its steps page."""
    proc.send_signal(sig)


def _log_lines() -> list[str]:
    log = paths.log_dir() / "nexus-logger.log"
    return log.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(
    ("sig", "words"),
    [(signal.SIGTERM, "Stopped by SIGTERM"), (signal.SIGINT, "Stopped by Ctrl+C (SIGINT)")],
    ids=["SIGTERM", "SIGINT"],
)
def test_a_stop_signal_ends_the_session_like_the_close_dialogs_end(sqlite_db, sig, words):
    proc, ident = _launch(sqlite_db)
    _signal_at_once(proc, sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
    lines = _log_lines()
    stopped = [line for line in lines if words in line]
    assert len(stopped) == 1 and " INFO " in stopped[0], stopped
    assert not [line for line in lines if "CRITICAL" in line or "Unexpected" in line]


def test_on_quit_keep_leaves_the_session_open_with_a_last_heartbeat(sqlite_db):
    proc, ident = _launch(sqlite_db, NEXUS_LOGGER_ON_QUIT="keep")
    before = time.time()
    _signal_at_once(proc, signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, (out, err)
    assert [(r["event_type"], r["record_status"]) for r in rows_of(sqlite_db, ident)] == [
        ("START", "WAITING_FOR_END")
    ]
    found = lifecycle.find_open_session(PID, engine=sqlite_db)
    assert found is not None and found.last_heartbeat is not None
    assert found.last_heartbeat.timestamp() >= before - 1
    assert any("the session stays open (on_quit = keep)" in line for line in _log_lines())


def test_a_stop_signal_while_asking_about_another_users_session_quits_at_once(sqlite_db):
    """Nothing is on its way while the other-user question waits: SIGTERM closes it and quits
    (it waited for the start-up steps up to db_timeout_seconds + 5 s), changing nothing."""
    theirs = lifecycle.start_session(instrument=PID, user="someone-else", engine=sqlite_db)
    proc = _window(sqlite_db)
    deadline = time.monotonic() + 30
    log = paths.log_dir() / "nexus-logger.log"
    while not (log.exists() and "what to do with the open session" in log.read_text("utf-8")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the window did not ask about the open session"
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=15)  # db_timeout_seconds is 30: it did not wait
    assert proc.returncode == 0, (out, err)
    assert any("while asking about a session found open" in line for line in _log_lines())
    found = lifecycle.find_open_session(PID, engine=sqlite_db)
    assert found is not None and found.session_identifier == theirs.session.session_identifier
    assert len(rows_of(sqlite_db, found.session_identifier)) == 1
