"""The smoke test's window steps: the real main window shown offscreen, a session started
by it and ended with its *End session* button, then NexusLIMS's pairing checked through the
window's database worker. Each step fails with a :class:`~nexus_logger.gui.smoke.SmokeFailure`
naming it."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEventLoop, QLibraryInfo, QTimer, qVersion
from PySide6.QtGui import QImageReader
from PySide6.QtWidgets import QApplication

from nexus_logger.gui.smoke import (
    SMOKE_INSTRUMENT,
    SmokeFailure,
    SmokeReport,
    say,
    verify_session,
)

if TYPE_CHECKING:
    from nexus_logger.gui.main_window import MainWindow
    from nexus_logger.gui.worker import DbWorker


def _wait(predicate: Callable[[], bool], step: str, what: str, timeout: float) -> None:
    """Run the Qt event loop until ``predicate()`` holds, or fail ``step`` after ``timeout``."""
    if predicate():
        return
    loop = QEventLoop()
    check = QTimer()
    check.setInterval(5)
    check.timeout.connect(lambda: predicate() and loop.quit())
    watchdog = QTimer()
    watchdog.setSingleShot(True)
    watchdog.timeout.connect(loop.quit)
    check.start()
    watchdog.start(int(timeout * 1000))
    loop.exec()
    check.stop()
    watchdog.stop()
    if not predicate():
        raise SmokeFailure(step, f"{what} did not happen within {timeout:.0f} s")


def run_window(target: str, report: SmokeReport, began: float, timeout: float) -> None:
    """Show the real main window and let it start and end a session on ``target``."""
    from nexus_logger.core.settings.config import load_settings
    from nexus_logger.gui.dialogs import CloseChoice
    from nexus_logger.gui.main_window import MainWindow
    from nexus_logger.gui.worker import DbWorker

    app = _application()
    overrides = {
        "database": target,
        "instrument": SMOKE_INSTRUMENT[0],
        "auto_close_seconds": 0,  # the window closes itself after End, as users see it
    }
    worker = DbWorker()
    window = MainWindow(worker, lambda: load_settings(None, overrides))
    # The window's two questions are replaceable methods (as in the GUI tests): the smoke test
    # must never wait on a modal dialog. A new database has no open session to resume; if a
    # step fails, closing keeps the (temporary) session instead of asking.
    window.ask_resume_choice = lambda _session: None
    window.ask_close_choice = lambda: CloseChoice.KEEP_OPEN
    try:
        _show(window, report, began, timeout)
        _start(window, report, timeout)
        _end(window, timeout)
        _verify(worker, target, report, timeout)
    finally:
        window.close()
        worker.shutdown()
        window.deleteLater()
        app.processEvents()


def _application() -> QApplication:
    """The QApplication, once Qt has shown it can read the image formats and the icon."""
    from nexus_logger.gui.icons import app_icon, find_resource

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "nexus-logger"])
    formats = {bytes(f).decode() for f in QImageReader.supportedImageFormats()}
    missing = {"png", "svg", "ico"} - formats
    if missing:
        raise SmokeFailure("window", f"Qt cannot read {', '.join(sorted(missing))} images")
    icon = app_icon()
    if icon.isNull() or find_resource("nexus-logger.png") is None:
        raise SmokeFailure("window", "the application icon (resources/) is missing")
    app.setWindowIcon(icon)
    say(f"qt: {_qt_paths()}")
    return app  # type: ignore[return-value]


def _qt_paths() -> str:
    """Qt's version and where it takes its files from: inside the app when it is built.

    The built app relies on the ``qt.conf`` PySide6 registers when Qt is imported
    (``packaging/rth_qt_paths.py``); without it Qt would look where the wheel was built.
    """
    prefix = QLibraryInfo.path(QLibraryInfo.LibraryPath.PrefixPath)
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        inside = Path(bundle).resolve()
        if not all(Path(p).resolve().is_relative_to(inside) for p in (prefix, plugins)):
            raise SmokeFailure(
                "window", f"Qt looks for its files outside the app ({prefix}, {plugins})"
            )
    return f"Qt {qVersion()}, prefix {prefix}, plug-ins {plugins}"


def _show(window: MainWindow, report: SmokeReport, began: float, timeout: float) -> None:
    """Step *window*: shown and exposed; when, is reported."""
    window.show()
    _wait(
        lambda: window.windowHandle() is not None and window.windowHandle().isExposed(),
        "window",
        "showing the window",
        timeout,
    )
    report.window_shown_at = time.time()
    report.window_seconds = time.perf_counter() - began
    say(
        f"window shown at unix time {report.window_shown_at:.6f} "
        f"({report.window_seconds:.3f} s into the smoke test)"
    )


def _start(window: MainWindow, report: SmokeReport, timeout: float) -> None:
    """Step *start*: the window starts a session in the database (not kept on the PC)."""
    from nexus_logger.gui.main_window import Phase

    window.start()
    _wait(
        lambda: window.phase in (Phase.RUNNING, Phase.FAILED),
        "start",
        "starting the session",
        timeout,
    )
    if window.phase is Phase.FAILED:
        raise SmokeFailure("start", window.steps_page.error_label.text() or "see the log")
    session = window.session
    assert session is not None
    if window.session_queued:
        raise SmokeFailure("start", "the START was queued: the database did not answer")
    report.session_identifier = session.session_identifier
    report.user = session.user or ""
    say(
        f"session started by the window: {session.session_identifier} "
        f"(user {session.user}, instrument {session.instrument.instrument_pid})"
    )


def _end(window: MainWindow, timeout: float) -> None:
    """Step *end*: the *End session* button ends the session in the database."""
    from nexus_logger.gui.main_window import Phase

    button = window.session_page.end_button
    if not (button.isVisible() and button.isEnabled()):
        raise SmokeFailure("end", "the End session button is not available")
    button.click()
    if window.phase is not Phase.ENDING:
        raise SmokeFailure("end", "clicking End session did not start ending the session")
    _wait(lambda: window.phase is not Phase.ENDING, "end", "ending the session", timeout)
    if window.phase is not Phase.ENDED:
        message = window.session_page.message_label.text() or "see the log"
        raise SmokeFailure("end", message)
    outcome = window.end_outcome
    if outcome is None or outcome.queued:
        raise SmokeFailure("end", "the END was not written to the database")
    say(f"session ended with the End session button: {outcome.message}")


def _verify(worker: DbWorker, target: str, report: SmokeReport, timeout: float) -> None:
    """Step *verify*: on the window's database worker, NexusLIMS would build this session."""
    result: dict[str, Any] = {}
    worker.submit(
        verify_session,
        target,
        report.session_identifier,
        report.user,
        on_done=lambda _none: result.setdefault("ok", True),
        on_error=lambda error: result.setdefault("error", error.exception),
    )
    _wait(lambda: bool(result), "verify", "checking the session log", timeout)
    if "error" in result:
        error = result["error"]
        if isinstance(error, SmokeFailure):
            raise error
        raise SmokeFailure("verify", str(error))
    say("NexusLIMS pairing rule holds: START and END are TO_BE_BUILT with the same user")
