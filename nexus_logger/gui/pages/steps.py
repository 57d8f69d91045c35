"""The start-up steps page: each step's state, and what went wrong with what to do."""

from __future__ import annotations

import enum

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.gui import text, theme
from nexus_logger.gui.screen_room import scrolling_content


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


class StepsPage(QWidget):
    """Start-up progress: one line per step, a progress bar, and the error with Retry."""

    retry_requested = Signal()
    log_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = theme.label(self, "Starting your session\u2026", theme.STATE_PT, bold=True)
        grid = self._build_steps()
        self.progress = QProgressBar(self)
        self.progress.setRange(0, len(Step))
        self.progress.setFormat("Step %v of %m")
        self.progress.setTextVisible(True)
        self.progress.setMinimumHeight(28)
        theme.set_font(self.progress, theme.BASE_PT)

        self._build_error_box()

        # The details (or a large font) may need more room than the window has.
        self.scroll, layout = scrolling_content(self, "stepsContent")
        layout.setSpacing(16)
        layout.addWidget(self.title)
        layout.addLayout(grid)
        layout.addWidget(self.progress)
        layout.addWidget(self.error_box)
        layout.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)
        self.reset()

    def _build_steps(self) -> QGridLayout:
        """A mark, a name and a detail line per step."""
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(10)
        self.marks: dict[Step, QLabel] = {}
        self.labels: dict[Step, QLabel] = {}
        self.details: dict[Step, QLabel] = {}
        for row, step in enumerate(Step):
            mark = theme.label(self, "", theme.DETAIL_PT + 2, bold=True)
            mark.setFixedWidth(mark.fontMetrics().horizontalAdvance("MM"))
            mark.setAlignment(Qt.AlignmentFlag.AlignCenter)
            name = theme.label(self, step.value, theme.DETAIL_PT + 2)
            detail = theme.label(self, "", theme.BASE_PT)
            theme.color_text(detail, theme.GREY)
            detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(mark, 2 * row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(name, 2 * row, 1)
            grid.addWidget(detail, 2 * row + 1, 1)
            self.marks[step], self.labels[step], self.details[step] = mark, name, detail
        grid.setColumnStretch(1, 1)
        return grid

    def _build_error_box(self) -> None:
        """The red box shown when a step fails: the sentence, whom to tell, the buttons."""
        self.error_box = QFrame(self)
        self.error_box.setObjectName("errorBox")
        self.error_box.setStyleSheet(
            f"#errorBox {{ border: 2px solid {theme.RED}; border-radius: 8px; background: #fdecea; }}"
        )
        # What the person at the instrument reads: one sentence, whom to tell. What staff
        # need (the full message, the pre-flight check and its fix) is behind "Details".
        self.error_label = theme.label(self.error_box, "", theme.DETAIL_PT)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        theme.color_text(self.error_label, theme.RED)
        self.contact_label = theme.label(self.error_box, "", theme.BASE_PT + 1)
        self.contact_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._build_details_box()
        self.retry_button = QPushButton("&Retry", self.error_box)
        self.retry_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.details_button = QPushButton("&Details", self.error_box)
        self.details_button.setCheckable(True)
        self.details_button.setToolTip("What went wrong in full, and how staff can fix it")
        self.log_button = QPushButton("Show &log", self.error_box)
        for button in (self.retry_button, self.details_button, self.log_button):
            theme.set_font(button, theme.DETAIL_PT, bold=button is self.retry_button)
            button.setMinimumHeight(44)
        theme.press_on_enter(self.retry_button, self.details_button, self.log_button)
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

    def _build_details_box(self) -> None:
        """What went wrong in full and the pre-flight check, behind "Details".

        At its full height: the page scrolls when it is long. A box of its own that scrolled
        inside the scrolling page showed seven lines, cut mid-line, and "What to do" only
        after scrolling it.
        """
        self.details_box = QWidget(self.error_box)
        self.detail_label = theme.label(self.details_box, "", theme.BASE_PT)
        self.detail_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.diagnosis_label = theme.label(self.details_box, "", theme.BASE_PT)
        self.diagnosis_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        inner_layout = QVBoxLayout(self.details_box)
        inner_layout.setContentsMargins(0, 0, 0, 0)
        inner_layout.addWidget(self.detail_label)
        inner_layout.addWidget(self.diagnosis_label)
        self.details_box.hide()

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
        if self.details_box.isVisible():  # opened before the check answered: bring it in view
            self._bring_details_into_view()

    def _bring_details_into_view(self) -> None:
        # Once the page is laid out with them (their height is known only then).
        QTimer.singleShot(0, lambda: self.scroll.ensureWidgetVisible(self.details_box, 0, 8))

    def show_details(self, shown: bool = True) -> None:
        """Show or hide the staff's detail (the full message and the pre-flight check)."""
        self.details_box.setVisible(shown)
        if shown:
            self._bring_details_into_view()
        if self.details_button.isChecked() != shown:
            self.details_button.setChecked(shown)
