"""The three faces of the Session tab: the start-up steps, the running session, the end.

These widgets only display what they are given (plain values and core dataclasses); the main
window decides what happens. That is also what lets ``docs/make_screenshots.py`` show every
state without a database.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.gui import text, theme

if TYPE_CHECKING:
    from nexus_logger.core.lifecycle import OpenSession


class Step(enum.Enum):
    """The start-up steps, in order, with the words shown for each."""

    CONNECT = "Connecting to the database"
    IDENTIFY = "Identifying the instrument"
    CHECK = "Checking for an open session"
    START = "Starting the session"


class StepState(enum.Enum):
    """How far a step got; the mark shown next to it."""

    PENDING = ("\u2022", theme.GREY)  # bullet
    ACTIVE = ("\u25b6", theme.BLUE)  # play triangle
    DONE = ("\u2714", theme.GREEN)  # heavy check mark
    WARNING = ("!", theme.AMBER)
    FAILED = ("\u2716", theme.RED)  # heavy multiplication x


def _label(
    parent: QWidget, content: str = "", point_size: float = theme.DETAIL_PT, *, bold: bool = False
) -> QLabel:
    label = QLabel(content, parent)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    theme.set_font(label, point_size, bold=bold)
    return label


class StepsPage(QWidget):
    """Start-up progress: one line per step, a progress bar, and the error with Retry."""

    retry_requested = Signal()
    log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = _label(self, "Starting your session\u2026", theme.STATE_PT, bold=True)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(10)
        self.marks: dict[Step, QLabel] = {}
        self.labels: dict[Step, QLabel] = {}
        self.details: dict[Step, QLabel] = {}
        for row, step in enumerate(Step):
            mark = _label(self, "", theme.DETAIL_PT + 2, bold=True)
            mark.setFixedWidth(mark.fontMetrics().horizontalAdvance("MM"))
            mark.setAlignment(Qt.AlignmentFlag.AlignCenter)
            name = _label(self, step.value, theme.DETAIL_PT + 2)
            detail = _label(self, "", theme.BASE_PT)
            theme.color_text(detail, theme.GREY)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(mark, 2 * row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(name, 2 * row, 1)
            grid.addWidget(detail, 2 * row + 1, 1)
            self.marks[step], self.labels[step], self.details[step] = mark, name, detail
        grid.setColumnStretch(1, 1)
        self.progress = QProgressBar(self)
        self.progress.setRange(0, len(Step))
        self.progress.setFormat("Step %v of %m")
        self.progress.setTextVisible(True)
        self.progress.setMinimumHeight(28)
        theme.set_font(self.progress, theme.BASE_PT)

        self.error_box = QFrame(self)
        self.error_box.setObjectName("errorBox")
        self.error_box.setStyleSheet(
            f"#errorBox {{ border: 2px solid {theme.RED}; border-radius: 8px; background: #fdecea; }}"
        )
        # What the person at the instrument reads: one sentence, whom to tell. What staff
        # need (the full message, the pre-flight check and its fix) is behind "Details".
        self.error_label = _label(self.error_box, "", theme.DETAIL_PT)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme.color_text(self.error_label, theme.RED)
        self.contact_label = _label(self.error_box, "", theme.BASE_PT + 1)
        self.contact_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_box = QScrollArea(self.error_box)
        self.details_box.setWidgetResizable(True)
        self.details_box.setFrameShape(QFrame.Shape.NoFrame)
        self.details_box.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details_box.setMinimumHeight(60)
        self.details_box.setMaximumHeight(160)
        inner = QWidget()
        inner.setObjectName("detailsInner")
        inner.setStyleSheet("#detailsInner { background: transparent; }")
        self.details_box.viewport().setAutoFillBackground(False)
        self.detail_label = _label(inner, "", theme.BASE_PT)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diagnosis_label = _label(inner, "", theme.BASE_PT)
        self.diagnosis_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner_layout = QVBoxLayout(inner)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addWidget(self.detail_label)
        inner_layout.addWidget(self.diagnosis_label)
        inner_layout.addStretch(1)
        self.details_box.setWidget(inner)
        self.details_box.hide()
        self.retry_button = QPushButton("&Retry", self.error_box)
        self.retry_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.details_button = QPushButton("&Details", self.error_box)
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("What went wrong in full, and how staff can fix it")
        self.log_button = QPushButton("Show &log", self.error_box)
        for button in (self.retry_button, self.details_button, self.log_button):
            theme.set_font(button, theme.DETAIL_PT, bold=button is self.retry_button)
            button.setMinimumHeight(44)
        error_buttons = QHBoxLayout()
        error_buttons.addWidget(self.retry_button)
        error_buttons.addWidget(self.details_button)
        error_buttons.addWidget(self.log_button)
        error_buttons.addStretch(1)
        box = QVBoxLayout(self.error_box)
        box.setContentsMargins(16, 12, 16, 12)
        box.addWidget(self.error_label)
        box.addWidget(self.contact_label)
        box.addLayout(error_buttons)
        box.addWidget(self.details_box)  # under the buttons: opening it moves none of them
        self.retry_button.clicked.connect(self.retry_requested)
        self.log_button.clicked.connect(self.log_requested)
        self.details_button.toggled.connect(self.show_details)

        # The page scrolls rather than squeezing its text when the details (or a large font)
        # need more room than the window has; at the default size it fits without.
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("stepsContent")
        content.setStyleSheet("#stepsContent { background: transparent; }")
        self.scroll.viewport().setAutoFillBackground(False)
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(16)
        layout.addWidget(self.title)
        layout.addLayout(grid)
        layout.addWidget(self.progress)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        self.scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.reset()

    def reset(self) -> None:
        """Every step pending, no error."""
        for step in Step:
            self.set_step(step, StepState.PENDING)
        self.title.setText("Starting your session\u2026")
        theme.color_text(self.title, "")
        self.progress.setValue(0)
        self.progress.show()
        self.error_box.hide()
        self.details_button.setChecked(False)

    def state(self, step: Step) -> StepState:
        """The state shown for ``step``."""
        return self.marks[step].property("stepState")

    def set_step(self, step: Step, state: StepState, detail: str = "") -> None:
        """Show ``step`` as ``state`` with an optional detail line."""
        glyph, color = state.value
        mark = self.marks[step]
        mark.setText(glyph)
        mark.setProperty("stepState", state)
        theme.color_text(mark, color)
        font = self.labels[step].font()
        font.setBold(state is StepState.ACTIVE)
        self.labels[step].setFont(font)
        self.labels[step].setText(step.value + ("\u2026" if state is StepState.ACTIVE else ""))
        self.details[step].setText(detail)
        self.details[step].setVisible(bool(detail))
        done = sum(
            1
            for s in Step
            if self.marks[s].property("stepState") in (StepState.DONE, StepState.WARNING)
        )
        self.progress.setValue(done)

    def show_error(self, message: str, contact: str = "") -> None:
        """Show a failed step: its first sentence, whom to tell, Retry, Details and Show log.

        ``contact`` is the facility contact setting (a name, phone or e-mail address).
        """
        self.title.setText("The session could not be started")
        theme.color_text(self.title, theme.RED)
        sentence, rest = text.for_user(message)
        self.error_label.setText(sentence)
        who = contact.strip() or "the facility staff"
        self.contact_label.setText(
            f"If Retry does not help, please tell {who}; Details has what they need."
        )
        self.detail_label.setText(message)
        self.details_button.setVisible(True)
        self.diagnosis_label.clear()
        self.diagnosis_label.hide()
        self.progress.hide()  # the marks above already say which step failed
        self.error_box.show()
        self.retry_button.setFocus()

    def show_diagnosis(self, text: str) -> None:
        """Add the pre-flight check that explains the failure (what is wrong, what to do)."""
        self.diagnosis_label.setText(text)
        self.diagnosis_label.show()

    def show_details(self, shown: bool = True) -> None:
        """Show or hide the staff's detail (the full message and the pre-flight check)."""
        self.details_box.setVisible(shown)
        if shown:
            self.scroll.ensureWidgetVisible(self.details_box)
        if self.details_button.isChecked() != shown:
            self.details_button.setChecked(shown)


class SyncIndicator(QLabel):
    """ "Online" or "N events waiting on this PC", with a coloured dot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(True)
        theme.set_font(self, theme.BASE_PT + 1)
        # Two lines' room from the start: a longer status never moves the End button.
        self.setMinimumHeight(self.fontMetrics().lineSpacing() * 2 + 8)
        self.online: bool | None = None
        self.pending = 0
        self.conflicts = 0
        #: "demo database" while the demo is in use, so "saved in the database" is not read
        #: as NexusLIMS's database; None when there is no database at all (not set up).
        self.database_words: str | None = "database"
        self.set_state(None, 0)

    def set_state(self, online: bool | None, pending: int, conflicts: int = 0) -> None:
        """Show the database's reachability, the events kept on this PC and open conflicts."""
        self.online, self.pending, self.conflicts = online, pending, conflicts
        if self.database_words is None:
            color, words = theme.RED, "Not set up: nothing is logged on this PC"
        elif pending:
            color = theme.AMBER
            words = f"{text.plural(pending, 'event')} waiting on this PC, sent automatically"
            if online is False:
                words = "Offline: " + words
        elif online is None:
            color, words = theme.GREY, "Checking the database\u2026"
        elif online:
            color = theme.GREEN
            words = f"Online: everything is saved in the {self.database_words}"
        else:
            color, words = theme.AMBER, "Database not reachable right now"
        if conflicts:
            color = theme.AMBER
            words += (
                f". Staff attention needed: {text.plural(conflicts, 'conflict')} "
                "(details in the debug log)"
            )
        self.setText(f'<span style="color:{color}; font-size:large">\u25cf</span> {words}')
        self.setToolTip(words)

    def plain_text(self) -> str:
        """The words shown, without markup (for tests and logs)."""
        return self.toolTip()


class SessionPage(QWidget):
    """The running session: instrument, user, start, elapsed time, note, End button."""

    end_requested = Signal()
    note_edited = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state_label = _label(self, "Session running", theme.STATE_PT, bold=True)
        self.instrument_label = _label(self, "", theme.DETAIL_PT + 4, bold=True)
        self.instrument_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.user_label = _label(self, "", theme.DETAIL_PT)
        self.started_label = _label(self, "", theme.DETAIL_PT)
        self.elapsed_caption = _label(self, "Elapsed", theme.BASE_PT)
        theme.color_text(self.elapsed_caption, theme.GREY)
        self.elapsed_label = QLabel("0:00:00", self)
        self.elapsed_label.setFont(theme.font(theme.ELAPSED_PT, bold=True))
        self.elapsed_label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.elapsed_label.setAccessibleName("Elapsed time")

        self.note_edit = QLineEdit(self)
        self.note_edit.setPlaceholderText("Optional: what are you doing? (press Enter to save)")
        self.note_edit.setClearButtonEnabled(True)
        theme.set_font(self.note_edit, theme.DETAIL_PT)
        self.note_edit.setMinimumHeight(38)
        self.note_caption = _label(self, "Note:", theme.DETAIL_PT)
        self.note_caption.setBuddy(self.note_edit)
        self.note_caption.setText("&Note:")
        self.note_caption.setTextFormat(Qt.TextFormat.AutoText)
        self.note_status = _label(self, "", theme.BASE_PT)
        theme.color_text(self.note_status, theme.GREY)

        self.message_label = _label(self, "", theme.BASE_PT + 1)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.hide()
        # The files NexusLIMS would take so far (gui/session_files.py fills it).
        self.files_label = _label(self, "", theme.BASE_PT)
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files_label.hide()

        self.end_button = QPushButton("&End session", self)
        self.end_button.setFont(theme.font(theme.BUTTON_PT, bold=True))
        self.end_button.setStyleSheet(theme.END_BUTTON_STYLE)
        self.end_button.setMinimumHeight(72)
        self.end_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.end_button.setToolTip("End the session now (Ctrl+E)")

        details = QGridLayout()
        details.setHorizontalSpacing(24)
        details.addWidget(self.user_label, 0, 0)
        details.addWidget(self.started_label, 0, 1)
        details.setColumnStretch(1, 1)
        note_row = QHBoxLayout()
        note_row.addWidget(self.note_caption)
        note_row.addWidget(self.note_edit, 1)

        layout = QVBoxLayout(self)
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
        layout.addWidget(self.end_button)
        self.end_button.clicked.connect(self.end_requested)
        self.note_edit.editingFinished.connect(lambda: self.note_edited.emit(self.note_edit.text()))
        # "Note saved." is about the text that was saved, not about what is typed since.
        self.note_edit.textEdited.connect(lambda _t: self.note_status.clear())

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
        self.set_elapsed(
            ((now or text.now_like(session.started)) - session.started).total_seconds()
        )

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
        self.files_label.setText(line)
        theme.color_text(self.files_label, theme.AMBER if empty else theme.GREY)
        self.files_label.setVisible(bool(line))

    def set_elapsed(self, seconds: float) -> None:
        """Show the time since the session started."""
        self.elapsed_label.setText(text.clock(seconds))

    def set_message(self, message: str, *, error: bool = False) -> None:
        """A sentence under the note (an outcome, or why the last action failed)."""
        self.message_label.setText(message)
        theme.color_text(self.message_label, theme.RED if error else theme.GREY)
        self.message_label.setVisible(bool(message))


class EndedPage(QWidget):
    """The confirmation after End: duration, then a countdown to closing the window."""

    keep_open_requested = Signal()
    new_session_requested = Signal()
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = _label(self, "Session ended", theme.STATE_PT, bold=True)
        theme.color_text(self.title, theme.BLUE)
        self.instrument_label = _label(self, "", theme.DETAIL_PT + 2, bold=True)
        self.duration_label = _label(self, "", theme.STATE_PT + 6, bold=True)
        self.times_label = _label(self, "", theme.DETAIL_PT)
        self.message_label = _label(self, "", theme.DETAIL_PT)
        self.countdown_label = _label(self, "", theme.DETAIL_PT + 2)
        self.keep_open_button = QPushButton("&Keep the window open", self)
        self.new_button = QPushButton("&Start a new session", self)
        self.new_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.close_button = QPushButton("&Close", self)
        for button in (self.keep_open_button, self.new_button, self.close_button):
            theme.set_font(button, theme.DETAIL_PT, bold=button is self.new_button)
            button.setMinimumHeight(48)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_open_button)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(self.title)
        layout.addWidget(self.instrument_label)
        layout.addWidget(self.duration_label)
        layout.addWidget(self.times_label)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        layout.addWidget(self.countdown_label)
        layout.addLayout(buttons)
        self.keep_open_button.clicked.connect(self.keep_open_requested)
        self.new_button.clicked.connect(self.new_session_requested)
        self.close_button.clicked.connect(self.close_requested)

    def show_ended(
        self,
        *,
        instrument: str,
        user: str | None,
        started: datetime | None,
        ended: datetime,
        message: str,
        queued: bool,
        now: datetime | None = None,
    ) -> None:
        """Fill the page for a session that ended (here or elsewhere)."""
        self.instrument_label.setText(f"{instrument}, user {user or 'unknown'}")
        if started is not None:
            self.duration_label.setText(
                f"Duration: {text.duration((ended - started).total_seconds())}"
            )
            self.times_label.setText(
                f"From {text.when(started, now)} to {text.when(ended.astimezone(started.tzinfo), now)}"
            )
        else:
            self.duration_label.setText("")
            self.times_label.setText(f"Ended {text.when(ended, now)}")
        self.message_label.setText(message)
        theme.color_text(self.message_label, theme.AMBER if queued else theme.GREY)
        self.set_countdown(None)

    def set_countdown(self, seconds: int | None) -> None:
        """``seconds`` until the window closes, or None when it stays open."""
        counting = seconds is not None
        self.keep_open_button.setVisible(counting)
        self.new_button.setVisible(not counting)
        self.close_button.setVisible(not counting)
        if counting:
            self.countdown_label.setText(f"This window closes in {seconds} s.")
            self.keep_open_button.setFocus()
        else:
            self.countdown_label.setText("")
