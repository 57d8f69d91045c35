"""The Admin tab widget (first minimal version; filled in by issue 6)."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from nexus_logger.core.config import Settings
from nexus_logger.gui.worker import DbWorker


class AdminTab(QWidget):
    """Sessions, problems and admin actions for facility staff."""

    def __init__(
        self, worker: DbWorker, database: str, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.database = database
        self.settings = settings
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(f"Admin view of {database}", self))
