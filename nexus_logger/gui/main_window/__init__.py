"""The instrument-PC window: start a session at launch, show it while it runs, end it.

:class:`MainWindow` (``window.py``) is the composition root; each flow of a session's life
is a module of this package.
"""

from __future__ import annotations

from nexus_logger.gui.main_window.end_flow import END_CHECK_TIMEOUT_MS, ENDED_WITHOUT_FILES
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.window import DEMO_BANNER, SYNC_INTERVAL_MS, TITLE, MainWindow

__all__ = [
    "DEMO_BANNER",
    "END_CHECK_TIMEOUT_MS",
    "ENDED_WITHOUT_FILES",
    "SYNC_INTERVAL_MS",
    "TITLE",
    "MainWindow",
    "Phase",
]
