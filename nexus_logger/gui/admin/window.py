"""``nexus-logger admin``: the Admin tab alone in a window, for a staff PC."""

from __future__ import annotations

import argparse
import sys

from PySide6.QtWidgets import QApplication, QMainWindow

from nexus_logger.commands._common import settings_from_args
from nexus_logger.gui.admin.tab import AdminTab
from nexus_logger.gui.worker import DbWorker


def run_admin_window(args: argparse.Namespace) -> int:
    """Open the Admin tab in its own window and run the event loop; returns the exit code."""
    settings = settings_from_args(args)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    worker = DbWorker()
    window = QMainWindow()
    window.setWindowTitle("nexus-logger - Admin")
    window.setCentralWidget(AdminTab(worker, settings.database_target, settings, window))
    window.resize(1200, 800)
    window.show()
    try:
        return int(app.exec())
    finally:
        worker.shutdown()
