"""The debug-log window: the app's own log file, to copy into an e-mail or save.

When something goes wrong at an instrument PC, the person there can open this window, press
*Copy to clipboard* and paste the log into a message to facility staff. It shows the end of
the current log file (the file rotates at 2 MB) and follows it while open.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QFontDatabase, QGuiApplication, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core.settings.logsetup import log_file, tail
from nexus_logger.gui import theme
from nexus_logger.gui.screen_room import fitted_size

_logger = logging.getLogger(__name__)

#: At most this many lines of the end of the log file are shown (the whole file is saved).
TAIL_LINES = 5000
REFRESH_MS = 2000


class LogWindow(QDialog):
    """Shows the log file with *Refresh*, *Copy to clipboard* and *Save as...*."""

    def __init__(self, parent: QWidget | None = None, path: Path | None = None) -> None:
        super().__init__(parent)
        self.path = path or log_file()
        self._stamp: tuple[float, int] | None = None
        self.setWindowTitle("nexus-logger - debug log")
        self.setModal(False)
        self.resize(*fitted_size(self, 900, 560))
        self.path_label = QLabel(f"Log file: {self.path}", self)
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(self.path_label.textInteractionFlags())
        self.view = QPlainTextEdit(self)
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(mono.pointSizeF(), theme.BASE_PT - 2))
        self.view.setFont(mono)
        self.status = QLabel("", self)
        self.refresh_button = QPushButton("&Refresh", self)
        self.copy_button = QPushButton("&Copy to clipboard", self)
        self.save_button = QPushButton("&Save as...", self)
        self.close_button = QPushButton("Close", self)
        self.refresh_button.setShortcut(QKeySequence.StandardKey.Refresh)
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.copy_button, self.save_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.path_label)
        layout.addWidget(self.view, 1)
        layout.addLayout(buttons)
        self.refresh_button.clicked.connect(lambda: self.refresh(force=True))
        self.copy_button.clicked.connect(self.copy_to_clipboard)
        self.save_button.clicked.connect(self.save_as)
        self.close_button.clicked.connect(self.close)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self.refresh)
        self.refresh(force=True)

    def showEvent(self, event) -> None:
        self.refresh()
        self._timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:
        self._timer.stop()
        super().hideEvent(event)

    def text(self) -> str:
        """The log text shown."""
        return self.view.toPlainText()

    def refresh(self, force: bool = False) -> None:
        """Reload the end of the log file if it changed (or always with ``force``)."""
        try:
            st = self.path.stat()
        except OSError:
            self._stamp = None
            self.view.setPlainText(f"The log file {self.path} does not exist yet.")
            return
        stamp = (st.st_mtime, st.st_size)
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        lines = tail(TAIL_LINES, self.path)
        at_end = self.view.verticalScrollBar().value() >= self.view.verticalScrollBar().maximum()
        self.view.setPlainText("\n".join(lines))
        if at_end or force:  # show the newest lines, from their start
            self.view.moveCursor(QTextCursor.MoveOperation.End)
            self.view.moveCursor(QTextCursor.MoveOperation.StartOfLine)

    def copy_to_clipboard(self) -> None:
        """Put the whole text shown on the clipboard."""
        QGuiApplication.clipboard().setText(self.text())
        self.status.setText("Copied to the clipboard.")

    def ask_save_path(self) -> Path | None:
        """Ask where to save the log (tests replace this); None when cancelled."""
        name, _ = QFileDialog.getSaveFileName(
            self,
            "Save the log as",
            str(Path.home() / "nexus-logger.log"),
            "Log files (*.log *.txt)",
        )
        return Path(name) if name else None

    def save_as(self) -> None:
        """Save a copy of the whole log file where the user says."""
        target = self.ask_save_path()
        if target is None:
            return
        try:
            if self.path.exists():
                target.write_bytes(self.path.read_bytes())
            else:
                target.write_text(self.text(), encoding="utf-8")
        except OSError as err:
            self.status.setText(f"Not saved: {err.strerror} ({target}).")
            _logger.warning("Could not save the log to %s: %s", target, err)
            return
        self.status.setText(f"Saved to {target}.")
        _logger.info("Log saved to %s", target)
