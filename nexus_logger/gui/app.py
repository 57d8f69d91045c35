"""The composition root of the window: ``nexus-logger`` without a sub-command.

Order matters for start-up speed (the window must be on screen within 0.5 s): only Qt and
the light parts of the core are imported here; the window is shown first, and the database
work (which imports SQLAlchemy) is queued on the database worker afterwards.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Qt and the window are imported when run_app runs, not with this module
    from PySide6.QtWidgets import QApplication

    from nexus_logger.gui.main_window import MainWindow
    from nexus_logger.gui.single_instance import SingleInstance
    from nexus_logger.gui.worker import DbWorker

_logger = logging.getLogger(__name__)

#: The longest the launch keeps Python's cycle collector paused when no START is answered.
COLLECTOR_PAUSED_AT_MOST_MS = 10_000

#: Set to 1 to print "window shown" on stdout and quit at once (``bench/bench_startup.py``).
STARTUP_PROBE_ENV = "NEXUS_LOGGER_STARTUP_PROBE"


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    """An exception escaped a Qt slot: log it instead of printing to a console nobody sees."""
    _logger.critical("Unexpected error in the window", exc_info=(kind, value, tb))


def run_app(args: argparse.Namespace) -> int:
    """Open the window, start the session, run the event loop; returns the exit code."""
    started = time.perf_counter()
    from PySide6.QtCore import QTimer

    from nexus_logger.gui import qtlog
    from nexus_logger.gui.signals import StopSignals
    from nexus_logger.gui.single_instance import SingleInstance, server_name
    from nexus_logger.gui.worker import DbWorker

    qtlog.install()
    app = _application()
    previous_hook = sys.excepthook
    sys.excepthook = _log_uncaught
    demo = _is_demo(args)
    instance = SingleInstance(server_name(demo=demo))
    if not instance.acquire():
        _say_already_open(demo)
        return 0
    worker = DbWorker()
    window = _main_window(args, app, worker, instance)
    # SIGTERM, Ctrl+C, a closed console: the same as a logoff, as the on_quit setting says.
    stop_signals = StopSignals(window.quit_for_signal, app)
    stop_signals.install()
    window.show()
    QTimer.singleShot(0, lambda: _after_show(app, window, started))
    collect_again_after_start(window)
    code = 1
    try:
        code = int(app.exec())
    finally:
        # Free the single-instance name first: a new launch must not be handed this closed
        # window while a database job finishes below.
        instance.close()
        stop_signals.uninstall()
        all_stopped = _stop_threads(window, worker)
        sys.excepthook = previous_hook
        qtlog.uninstall()
    if not all_stopped:
        # A job is stuck in a driver or file-system call past every timeout. Destroying its
        # running thread would abort the process with a crash report; leave without it instead.
        _logger.error("A database job or folder scan was still running at exit; leaving without it")
        logging.shutdown()
        os._exit(code)
    return code


def collect_again_after_start(window: MainWindow) -> None:
    """Past its START (or, should that wait on a question, some seconds later), the window
    is a long-running process: Python collects cycles again (``core/cycle_collector.py``)."""
    from PySide6.QtCore import QTimer

    from nexus_logger.core import cycle_collector

    # After this event: the first collection (of all the start made) then comes once the
    # page says the session runs, not before.
    window.session_started.connect(
        lambda _queued: QTimer.singleShot(0, window, cycle_collector.resume)
    )
    QTimer.singleShot(COLLECTOR_PAUSED_AT_MOST_MS, window, cycle_collector.resume)


def _application() -> QApplication:
    """The QApplication with the app's names and icon (pixel-exact scaling on every screen)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtWidgets import QApplication

    from nexus_logger.gui.icons import app_icon

    if QApplication.instance() is None:
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
        )
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nexus-logger")
    app.setApplicationDisplayName("NexusLIMS session logger")
    app.setDesktopFileName("nexus-logger")
    app.setWindowIcon(app_icon())
    return app


def _is_demo(args: argparse.Namespace) -> bool:
    """True when this window is the demo's (its sessions go to the local demo file only)."""
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.settings.config import settings_from_args

    try:
        return settings_from_args(args).uses_demo
    except NexusLoggerError:  # a bad config file: the window's first step says so
        return False


def _say_already_open(demo: bool) -> None:
    """Another nexus-logger of this login has the window: it was raised, nothing else."""
    _logger.info("nexus-logger already runs for this user; its window was raised")
    if sys.stderr is not None:  # (pythonw.exe on Windows has no console to tell)
        print(
            f"nexus-logger{' (demo)' if demo else ''} is already open for this user: its "
            "window was brought to the front (no second session was started).",
            file=sys.stderr,
        )


def _main_window(
    args: argparse.Namespace, app: QApplication, worker: DbWorker, instance: SingleInstance
) -> MainWindow:
    """The main window, raised by a second launch and ending its session at logoff."""
    from nexus_logger.core.settings.config import settings_from_args
    from nexus_logger.gui.main_window import MainWindow

    def load():
        settings = settings_from_args(args)
        for warning in settings.warnings:
            _logger.warning(warning)
        return settings

    window = MainWindow(worker, load)
    instance.raise_requested.connect(window.bring_to_front)
    # Logoff or shutdown: end the session (or keep its END in the outbox) before Qt exits.
    # Qt asks for the session's data first (commitDataRequest), then closes the windows and
    # quits; aboutToQuit is the safety net for a quit that skipped the first step.
    app.commitDataRequest.connect(lambda _manager: window.end_for_shutdown())
    app.aboutToQuit.connect(window.end_for_shutdown)
    return window


def _after_show(app: QApplication, window: MainWindow, started: float) -> None:
    """Once the window is on screen: start the session (the start-up bench's probe: "1" quits
    here; "start" quits once the START is in the database; bench/bench_startup.py times
    both)."""
    _logger.info("Window shown %.0f ms after run_app", (time.perf_counter() - started) * 1000)
    probe = os.environ.get(STARTUP_PROBE_ENV, "")
    if probe:
        print("window shown", flush=True)
    if probe == "1":
        app.quit()
        return
    if probe == "start":

        def started_probe(queued: bool) -> None:
            print("START kept on this PC" if queued else "START committed", flush=True)
            app.exit(0)  # not quit(): that asks the window to close, which asks the user

        window.session_started.connect(started_probe)
    window.start()


def _stop_threads(window: MainWindow, worker: DbWorker) -> bool:
    """Stop the database worker and the folder scans (and, when the worker stopped, close the
    database connections); False when one is still running past its time."""
    from nexus_logger.gui import file_scans

    limit = float(window.settings.db_timeout_seconds) if window.settings else 30.0
    stopped = worker.shutdown(int((limit + 10) * 1000))
    # A folder scan stuck on a share that went away would hold the exit for ever.
    scans_stopped = file_scans.shutdown_all(2000)
    engines = sys.modules.get("nexus_logger.core.db.engine")  # not imported if no DB work ran
    if engines is not None and stopped:
        engines.dispose_engines()
    return stopped and scans_stopped
