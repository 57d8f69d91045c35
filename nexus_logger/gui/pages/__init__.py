"""The three faces of the Session tab: the start-up steps, the running session, the end, and
the status line under them.

These widgets only display what they are given (plain values and core dataclasses); the main
window decides what happens. That is also what lets ``docs/make_screenshots.py`` show every
state without a database.
"""

from __future__ import annotations

from nexus_logger.gui.pages.ended import EndedPage
from nexus_logger.gui.pages.session import SessionPage
from nexus_logger.gui.pages.steps import Step, StepsPage, StepState
from nexus_logger.gui.pages.sync_indicator import SyncIndicator

__all__ = ["EndedPage", "SessionPage", "Step", "StepState", "StepsPage", "SyncIndicator"]
