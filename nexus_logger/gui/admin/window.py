"""``nexus-logger admin``: the Admin tab alone in a window, for a staff PC that logs no sessions."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget

from nexus_logger.core import cycle_collector
from nexus_logger.core.settings.config import Settings, settings_from_args
from nexus_logger.core.staff.admin_actions import require_admin_view
from nexus_logger.gui.admin.tab import AdminTab
from nexus_logger.gui.screen_room import fitted_size
from nexus_logger.gui.worker import DbWorker


class AdminWindow(QMainWindow):
    """A main window holding only the Admin tab; stops the database worker when closed."""

    def __init__(self, worker: DbWorker, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.setWindowTitle(f"nexus-logger admin \u2013 {_short(settings.database_target)}")
        self.tab = AdminTab(worker, settings.database_target, settings, self)
        self.setCentralWidget(self.tab)
        self.resize(*fitted_size(self, 1280, 820))  # less on a small screen


def _short(target: str) -> str:
    from nexus_logger.core.db.engine import describe

    return describe(target)


def run_admin_window(args: argparse.Namespace) -> int:
    """Open the Admin tab in its own window and run the event loop; returns the exit code."""
    from nexus_logger.gui import file_scans, qtlog
    from nexus_logger.gui.icons import app_icon

    settings = settings_from_args(args)
    if settings.set_up:  # the same rule as the window's Admin tab
        require_admin_view(settings, "open the admin view", "it lists everyone's sessions")
    qtlog.install()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("nexus-logger")
    app.setWindowIcon(app_icon())
    worker = DbWorker()
    window = AdminWindow(worker, settings)
    window.show()
    # Staff leave this window open for days: Python collects cycles again once it is shown
    # (cli.run paused the collector for the start; core/cycle_collector.py), on the event
    # loop's first turn, so that its first collection (25-40 ms) does not delay the paint.
    QTimer.singleShot(0, window, cycle_collector.resume)
    code = 1
    try:
        code = int(app.exec())
    finally:
        worker.shutdown()
        scans_stopped = file_scans.shutdown_all(2000)
    if not scans_stopped:  # a scan stuck on a share that went away: leave without it
        logging.getLogger(__name__).error("A folder scan was still running at exit")
        logging.shutdown()
        os._exit(code)
    return code
