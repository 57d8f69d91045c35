"""The running session's page: who, since when, the note, the files so far, and End."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core import timestamps
from nexus_logger.core.sessions.inputs import MAX_NOTE
from nexus_logger.gui import text, theme
from nexus_logger.gui.screen_room import scrolling_content

if TYPE_CHECKING:
    from nexus_logger.core.sessions.lifecycle import OpenSession


class SessionPage(QWidget):
    """The running session: instrument, user, start, elapsed time, note, End button."""

    end_requested = Signal()
    note_edited = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = theme.label(self, "Session running", theme.STATE_PT, bold=True)
        self.instrument_label = theme.label(self, "", theme.DETAIL_PT + 4, bold=True)
        self.instrument_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.user_label = theme.label(self, "", theme.DETAIL_PT)
        self.started_label = theme.label(self, "", theme.DETAIL_PT)
        self.elapsed_caption = theme.label(self, "Elapsed", theme.BASE_PT)
        theme.color_text(self.elapsed_caption, theme.GREY)
        self.elapsed_label = QLabel("0:00:00", self)
        self.elapsed_label.setFont(theme.font(theme.ELAPSED_PT, bold=True))
        self.elapsed_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.elapsed_label.setAccessibleName("Elapsed time")

        self._build_note()

        self.message_label = theme.label(self, "", theme.BASE_PT + 1)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        # The files NexusLIMS would take so far (gui/session_files.py fills it).
        self.files_label = theme.label(self, "", theme.BASE_PT)
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files_label.hide()

        self.end_button = QPushButton("&End session", self)
        self.end_button.setFont(theme.font(theme.BUTTON_PT, bold=True))
        self.end_button.setStyleSheet(theme.END_BUTTON_STYLE)
        self.end_button.setMinimumHeight(72)
        self.end_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.end_button.setToolTip("End the session now (Ctrl+E)")
        theme.press_on_enter(self.end_button)

        self._lay_out()
        self.end_button.clicked.connect(self.end_requested)
        self.note_edit.editingFinished.connect(lambda: self.note_edited.emit(self.note_edit.text()))
        # "Note saved." is about the text that was saved, not about what is typed since.
        self.note_edit.textEdited.connect(lambda _t: self.note_status.clear())

    def _build_note(self) -> None:
        """The note field, its caption and its saved/kept line."""
        self.note_edit = QLineEdit(self)
        self.note_edit.setPlaceholderText("Optional: what are you doing? (Enter saves)")
        self.note_edit.setClearButtonEnabled(True)
        # Qt counts UTF-16 units, two for an emoji: a limit of MAX_NOTE cut a stored note of
        # MAX_NOTE characters when it was shown, and the END then wrote it cut. The field
        # takes any note the database keeps; clean_note's exact limit says by how much a
        # longer one is over when it is saved.
        self.note_edit.setMaxLength(2 * MAX_NOTE)
        theme.set_font(self.note_edit, theme.DETAIL_PT)
        self.note_edit.setMinimumHeight(38)
        self.note_caption = theme.label(self, "Note:", theme.DETAIL_PT)
        self.note_caption.setBuddy(self.note_edit)
        self.note_caption.setText("&Note:")
        self.note_caption.setTextFormat(Qt.TextFormat.AutoText)
        self.note_status = theme.label(self, "", theme.BASE_PT)
        theme.color_text(self.note_status, theme.GREY)

    def _lay_out(self) -> None:
        """Who and since when on top, the elapsed time, the note, the End button at the bottom."""
        details = QGridLayout()
        details.setHorizontalSpacing(24)
        details.addWidget(self.user_label, 0, 0)
        details.addWidget(self.started_label, 0, 1)
        details.setColumnStretch(1, 1)
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_caption)
        note_row.addWidget(self.note_edit, 1)

        # The End button stays in sight; the rest scrolls when the window is smaller than it
        # (a small or scaled screen, a long instrument name).
        self.scroll, layout = scrolling_content(self, "sessionContent")
        layout.setSpacing(10)
        layout.addWidget(self.state_label)
        layout.addWidget(self.instrument_label)
        layout.addLayout(details)
        layout.addSpacing(6)
        layout.addWidget(self.elapsed_caption)
        layout.addWidget(self.elapsed_label)
        layout.addSpacing(6)
        layout.addLayout(note_row)
        layout.addWidget(self.note_status)
        layout.addWidget(self.files_label)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setSpacing(10)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.end_button)

    def show_session(
        self, session: OpenSession, *, queued: bool, now: datetime | None = None
    ) -> None:
        """Fill the page from ``session``; ``queued`` when its START waits on this PC."""
        inst = session.instrument
        self.set_running(queued=queued)
        self.instrument_label.setText(f"{inst.display_name} ({inst.instrument_pid})")
        self.user_label.setText(f"User: {session.user or 'unknown'}")
        self.started_label.setText(f"Started: {text.when(session.started, now)}")
        self.note_edit.setText(session.note or "")
        self.note_status.setText("")
        self.set_elapsed(timestamps.seconds_between(session.started, now or datetime.now(UTC)))

    def set_running(self, *, queued: bool) -> None:
        """The headline: running, and whether the database has it yet."""
        if queued:
            self.state_label.setText("Session running (kept on this PC)")
            theme.color_text(self.state_label, theme.AMBER)
        else:
            self.state_label.setText("Session running")
            theme.color_text(self.state_label, theme.GREEN)
        self.end_button.setText("&End session")
        self.end_button.setEnabled(True)

    def set_ending(self) -> None:
        """The END is on its way: the button cannot be pressed twice."""
        self.state_label.setText("Ending the session\u2026")
        theme.color_text(self.state_label, theme.BLUE)
        self.end_button.setText("Ending the session\u2026")
        self.end_button.setEnabled(False)

    def set_checking_files(self) -> None:
        """End was clicked: the session's files are counted before it ends."""
        self.end_button.setText("Checking the session's files\u2026")
        self.end_button.setEnabled(False)

    def set_files(self, line: str, *, empty: bool = False) -> None:
        """The files line: grey, amber when NexusLIMS would take no file so far."""
        changed = line != self.files_label.text()
        self.files_label.setText(line)
        theme.color_text(self.files_label, theme.AMBER if empty else theme.GREY)
        self.files_label.setVisible(bool(line))
        if empty and changed:  # a warning: in sight (not each time the same line is counted)
            self.scroll.bring_into_sight(self.files_label)

    def set_elapsed(self, seconds: float) -> None:
        """Show the time since the session started."""
        self.elapsed_label.setText(text.clock(seconds))

    def set_message(self, message: str, *, error: bool = False) -> None:
        """A sentence under the note (an outcome, or why the last action failed)."""
        changed = message != self.message_label.text()
        self.message_label.setText(message)
        theme.color_text(self.message_label, theme.RED if error else theme.GREY)
        self.message_label.setVisible(bool(message))
        if message and changed:
            self.scroll.bring_into_sight(self.message_label)
