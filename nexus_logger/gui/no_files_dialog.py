"""The question before an empty record: End anyway, or keep the session running.

Shown by :meth:`MainWindow.ask_end_without_files` (tests replace that method) when End is
clicked and NexusLIMS would find no file of the session. *Keep the session running* is the
default and what Escape chooses: it loses nothing.
"""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QPushButton, QVBoxLayout, QWidget

from nexus_logger.core.files.filestore import NO_FILES_SENTENCE, FileReport, moment_text
from nexus_logger.gui import theme


class EndChoice(enum.Enum):
    """The answer of :class:`NoFilesDialog`."""

    END_ANYWAY = "end anyway"
    KEEP_RUNNING = "keep the session running"


class NoFilesDialog(QDialog):
    """NexusLIMS will find no files for this session: end it anyway, or keep it running."""

    def __init__(self, report: FileReport, zone: str | None, parent: QWidget | None = None):
        super().__init__(parent)
        self._choice = EndChoice.KEEP_RUNNING
        self.setWindowTitle("No files for this session")
        self.setModal(True)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        self.title_label = theme.label(self, NO_FILES_SENTENCE + ".", theme.STATE_PT - 6)
        self.title_label.setFont(theme.font(theme.STATE_PT - 6, bold=True))
        self.explain_label = theme.label(
            self,
            f"No data file in {report.folder} was saved after the session started "
            f"({moment_text(report.start, zone)}). If your data is still being saved or "
            "copied there, keep the session running and end it afterwards.",
            theme.DETAIL_PT,
        )
        self.end_button = QPushButton("&End anyway", self)
        self.end_button.setStyleSheet(theme.END_BUTTON_STYLE.replace("14px 28px", "8px 18px"))
        self.keep_button = QPushButton("&Keep the session running", self)
        self.keep_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        for button in (self.end_button, self.keep_button):
            theme.fit_answer(button, bold=True)
        self.keep_button.setDefault(True)
        buttons = theme.row(self.keep_button, None, self.end_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self.title_label)
        layout.addWidget(self.explain_label)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        self.end_button.clicked.connect(lambda: self._choose(EndChoice.END_ANYWAY))
        self.keep_button.clicked.connect(lambda: self._choose(EndChoice.KEEP_RUNNING))
        self.keep_button.setFocus()
        self.setMinimumWidth(640)
        self.adjustSize()

    def choice(self) -> EndChoice:
        """The choice made; *Keep the session running* when dismissed (Escape, close button)."""
        return self._choice

    def _choose(self, value: EndChoice) -> None:
        self._choice = value
        self.accept()

    def reject(self) -> None:  # Escape, or the window's close button
        self._choice = EndChoice.KEEP_RUNNING
        super().reject()
