"""``nexus-logger`` as a process: start-up order, second launch, what is imported before show."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from nexus_logger.core.sessions import lifecycle
from tests.gui.helpers_gui import PID, session_rows

LAUNCH = [sys.executable, "-m", "nexus_logger"]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.update(extra)
    return env


def _launch_in_python(
    db: str, probe: str, before: str, after: str, **env: str
) -> subprocess.CompletedProcess:
    """Launch the window in a fresh interpreter (``probe``: NEXUS_LOGGER_STARTUP_PROBE), with
    ``before`` run ahead of it and ``after`` (which prints what it found) once it has quit."""
    code = (
        f"import sys\n{before}"
        "from nexus_logger.cli import main\n"
        f"rc = main(['--db', {db!r}, '--instrument', {PID!r}])\n"
        f"{after}sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=_env(NEXUS_LOGGER_STARTUP_PROBE=probe, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_window_is_shown_before_any_database_work(sqlite_db):
    # The probe quits as soon as the window is up: no session may have been started by then,
    # and SQLAlchemy (0.3-0.6 s to import) must not have been loaded.
    out = _launch_in_python(
        sqlite_db, "1", "", "print('sqlalchemy loaded:', 'sqlalchemy' in sys.modules)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["window shown", "sqlalchemy loaded: False"]
    assert session_rows(sqlite_db) == []


def test_the_database_stack_is_imported_on_the_worker_never_on_the_gui_thread(sqlite_db):
    # Importing SQLAlchemy takes 0.3-0.6 s: on the GUI thread it would freeze the window that
    # was just shown (the Admin tab's "who may see it" once did that, before the first job).
    first_import = (
        "import threading\n"
        "class FirstImport:\n"
        "    thread = None\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'sqlalchemy' and FirstImport.thread is None:\n"
        "            FirstImport.thread = threading.current_thread() is threading.main_thread()\n"
        "        return None\n"
        "sys.meta_path.insert(0, FirstImport())\n"
    )
    out = _launch_in_python(
        sqlite_db, "start", first_import, "print('on the GUI thread:', FirstImport.thread)\n"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "window shown",
        "START committed",
        "on the GUI thread: False",
    ]
    assert "START" in {row["event_type"] for row in session_rows(sqlite_db)}  # really written


def test_the_window_collects_cycles_again_once_its_start_is_answered(sqlite_db):
    # The process entry pauses Python's cycle collector for the launch (core/cycle_collector.py);
    # the window runs all day, so it must not stay paused past the START.
    before = "from nexus_logger.core import cycle_collector\ncycle_collector.pause()\n"
    after = "import gc\nprint('collecting:', gc.isenabled())\n"
    out = _launch_in_python(sqlite_db, "start", before, after)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["window shown", "START committed", "collecting: True"]


def test_the_window_collects_cycles_again_when_no_start_is_answered(
    qtbot, make_window, sqlite_db, monkeypatch
):
    """A launch that waits on a question (or fails) gets the collector back some seconds on."""
    import gc

    from nexus_logger.core import cycle_collector
    from nexus_logger.gui import app

    monkeypatch.setattr(app, "COLLECTOR_PAUSED_AT_MOST_MS", 50)
    window = make_window(sqlite_db, start=False)
    cycle_collector.pause()
    try:
        app.collect_again_after_start(window)
        assert not gc.isenabled()
        qtbot.waitUntil(gc.isenabled)
    finally:
        cycle_collector.resume()
        gc.unfreeze()


def test_qt_speaking_while_the_process_shuts_down_does_not_crash_it(sqlite_db):
    # Qt unloads its plug-ins as the interpreter finalises and, with QT_DEBUG_PLUGINS, says so;
    # routed into Python's logging at that point it crashed the process (exit code 139).
    out = _launch_in_python(sqlite_db, "start", "", "", QT_DEBUG_PLUGINS="1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["window shown", "START committed"]
    assert "unloaded library" in out.stderr  # Qt really spoke after the handler was given back


@pytest.mark.parametrize("leave", ["return", "raise"])
def test_any_way_out_after_installing_the_qt_handler_exits_cleanly(leave):
    # The second launch, the admin window and an exception leave without the window's own
    # uninstall(); the handler installed by qtlog must still be gone before Qt is torn down.
    code = (
        "from PySide6.QtWidgets import QApplication\n"
        "from nexus_logger.gui import qtlog\n"
        "qtlog.install()\n"
        "app = QApplication([])\n" + ("raise SystemExit(3)\n" if leave == "raise" else "")
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=_env(QT_DEBUG_PLUGINS="1"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == (3 if leave == "raise" else 0), out.stderr[-2000:]
    assert "unloaded library" in out.stderr


def test_second_launch_raises_the_first_window_and_exits(sqlite_db, isolated_home):
    args = [*LAUNCH, "--db", sqlite_db, "--instrument", PID]
    first = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while lifecycle.find_open_session(PID, engine=sqlite_db) is None:
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first window did not start a session"
            time.sleep(0.1)
        second = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert first.poll() is None  # the first window is still there
        log = (isolated_home / "logs" / "nexus-logger.log").read_text(encoding="utf-8")
        assert "Another launch asked for this window; raising it" in log
        assert "already runs for this user" in log
        assert [r["event_type"] for r in session_rows(sqlite_db)] == ["START"]
    finally:
        first.terminate()
        first.communicate(timeout=30)


@pytest.mark.parametrize(
    "argv",
    [[], ["--db", "x.sqlite"], ["--db=x", "--instrument", "P", "--config", "c.toml"]],
)
def test_plain_launch_takes_the_quick_parser(argv):
    from nexus_logger.cli import _open_window, _window_launch_args

    args = _window_launch_args(argv)
    assert args is not None and args.func is _open_window and args.command is None


@pytest.mark.parametrize("argv", [["sessions"], ["--help"], ["--version"], ["--smoke"], ["--db"]])
def test_anything_else_takes_the_full_parser(argv):
    from nexus_logger.cli import _window_launch_args

    assert _window_launch_args(argv) is None


QUIT_WHILE_RUNNING = """
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from nexus_logger.gui import main_window

DB, PID, AWAY = sys.argv[1], sys.argv[2], sys.argv[3] == "away"
show_running = main_window.MainWindow._show_running

def log_off(window):
    if AWAY:
        os.rename(DB, DB + ".away")  # the share drops just before the logoff
    # What Qt does when the OS session ends: commitDataRequest (connected by run_app to
    # end_for_shutdown; a QSessionManager cannot be made from Python), then quit, which
    # closes the windows: no question may be asked any more.
    window.end_for_shutdown()
    QApplication.quit()

def logoff_soon(self, *args, **kwargs):
    show_running(self, *args, **kwargs)
    QTimer.singleShot(200, lambda: log_off(self))

main_window.MainWindow._show_running = logoff_soon
from nexus_logger.cli import main
sys.exit(main(["--db", DB, "--instrument", PID]))
"""


@pytest.mark.parametrize("database", ["reachable", "away"])
def test_os_session_end_while_running_ends_the_session(sqlite_db, database):
    out = subprocess.run(
        [sys.executable, "-c", QUIT_WHILE_RUNNING, sqlite_db, PID, database],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    if database == "away":
        from nexus_logger.core.offline.durable import DurableLogger
        from nexus_logger.core.offline.outbox import pending_events

        os.rename(sqlite_db + ".away", sqlite_db)
        assert pending_events() == 1  # the END waited on this PC...
        assert DurableLogger(sqlite_db).sync().sent == 1  # ...and is sent at the next launch
    rows = session_rows(sqlite_db)
    assert [(r["event_type"], r["record_status"]) for r in rows] == [
        ("START", "TO_BE_BUILT"),
        ("END", "TO_BE_BUILT"),
    ]
