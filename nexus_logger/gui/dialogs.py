"""The two questions the window asks: what to do with an open session, and how to close.

Each dialog returns its answer from :meth:`choice` and is shown by one method of the main
window (``ask_resume_choice``, ``ask_close_choice``) that a test can replace; a test can also
build the dialog, click its buttons and read :meth:`choice` without ever calling ``exec()``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.gui import text, theme

if TYPE_CHECKING:
    from nexus_logger.core.sessions.lifecycle import OpenSession


class ResumeAction(enum.Enum):
    """What to do with a session that was still open at launch."""

    CONTINUE = "continue"
    NEW = "new"


@dataclass(frozen=True)
class ResumeChoice:
    """The answer of the resume dialog; ``end_at`` is the old session's end for ``NEW``."""

    action: ResumeAction
    end_at: datetime | None = None


class CloseChoice(enum.Enum):
    """The answer of the close dialog."""

    END = "end"
    KEEP_OPEN = "keep"
    CANCEL = "cancel"


class ResumeDialog(QDialog):
    """An open session was found: continue it, or end it and start a new one.

    There is no Cancel: Escape and the title bar's close button (which some window managers
    show anyway) choose *Continue this session*, the answer that ends nothing.
    """

    def __init__(
        self, session: OpenSession, parent: QWidget | None = None, now: datetime | None = None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self._choice: ResumeChoice | None = None
        self.setWindowTitle("An open session was found")
        self.setModal(True)
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        inst = session.instrument

        title = theme.label(self, "A session is still open", theme.STATE_PT - 4)
        title.setFont(theme.font(theme.STATE_PT - 4, bold=True))
        self.instrument_label = theme.label(self, f"{inst.display_name} ({inst.instrument_pid})")
        self.started_label = theme.label(self, "")
        self.heartbeat_label = theme.label(self, "")
        self._say_when(now or text.now_like(session.started))
        beat = session.last_heartbeat
        if now is None:
            # "(just now)" must not stay on the screen for an hour while nobody answers.
            self._clock = QTimer(self)
            self._clock.setInterval(15_000)
            self._clock.timeout.connect(lambda: self._say_when(text.now_like(session.started)))
            self._clock.start()

        self.continue_button = QPushButton("&Continue this session", self)
        self.new_button = QPushButton("&End it and start a new one", self)
        for button in (self.continue_button, self.new_button):
            theme.set_font(button, theme.DETAIL_PT, bold=True)
            button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
            button.setMinimumHeight(48)
            # Enter presses the focused button (Continue at first): with neither button
            # auto-default, the focused one was drawn as default and Enter did nothing. On an
            # end-time choice Enter does nothing (keyPressEvent): Qt's default there was the
            # last button focused, Continue, keeping the session the person meant to end.
            button.setAutoDefault(True)

        self._build_end_time(beat)
        self._lay_out(title)
        self.continue_button.clicked.connect(self._continue)
        self.new_button.clicked.connect(self._new)
        # Tab reaches when the old session would end before the button that ends it.
        QWidget.setTabOrder(self.continue_button, self.at_heartbeat)
        QWidget.setTabOrder(self.at_heartbeat, self.at_now)
        QWidget.setTabOrder(self.at_now, self.new_button)
        self.continue_button.setFocus()
        self.setMinimumWidth(640)
        self.adjustSize()

    def _say_when(self, now: datetime) -> None:
        """When the session started and was last alive, and how long ago from ``now``."""
        session = self.session
        who = session.user or "an unknown user"
        self.started_label.setText(
            f"Started by {who} at {text.when(session.started, now)} "
            f"({text.ago(session.started, now)})."
        )
        beat = session.last_heartbeat
        self.heartbeat_label.setText(
            f"Last heartbeat: {text.when(beat, now)} ({text.ago(beat, now)})."
            if beat is not None
            else "Last heartbeat: none recorded."
        )

    def _build_end_time(self, beat: datetime | None) -> None:
        """When the old session ends: at its last heartbeat (default) or now."""
        self.end_time_label = theme.label(self, "End the old session at:")
        # With the length it gives: a heartbeat at the start makes a session of no time.
        length = text.duration((beat - self.session.started).total_seconds()) if beat else ""
        self.at_heartbeat = QRadioButton(
            f"its last heartbeat ({beat.strftime('%H:%M')}; {length} long)"
            if beat
            else "its last heartbeat",
            self,
        )
        self.at_now = QRadioButton("now", self)
        for radio in (self.at_heartbeat, self.at_now):
            theme.set_font(radio, theme.DETAIL_PT)
        group = QButtonGroup(self)
        group.addButton(self.at_heartbeat)
        group.addButton(self.at_now)
        # The old session most likely stopped when it stopped sending heartbeats, unless it
        # sent none after its start (the program died in its first minute): ending there would
        # make a session of no time, and NexusLIMS a record of none of its files.
        self.at_heartbeat.setEnabled(beat is not None)
        started_only = beat is not None and (beat - self.session.started).total_seconds() < 60
        (self.at_heartbeat if beat is not None and not started_only else self.at_now).setChecked(
            True
        )

    def _lay_out(self, title: QLabel) -> None:
        """The session found, then Continue, then End with its time."""
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(title)
        layout.addWidget(self.instrument_label)
        layout.addWidget(self.started_label)
        layout.addWidget(self.heartbeat_label)
        layout.addSpacing(8)
        layout.addWidget(self.continue_button)
        layout.addSpacing(8)
        end_box = QVBoxLayout()
        end_box.addWidget(self.new_button)
        end_box.addWidget(self.end_time_label)
        end_box.addLayout(theme.row(self.at_heartbeat, 16, self.at_now, None, indent=24))
        layout.addLayout(end_box)

    def choice(self) -> ResumeChoice | None:
        """The choice made, or None while the dialog is still open."""
        return self._choice

    def end_time(self) -> datetime:
        """The end time selected for the old session."""
        if self.at_heartbeat.isChecked() and self.session.last_heartbeat is not None:
            return self.session.last_heartbeat
        return text.now_like(self.session.started)

    def _continue(self) -> None:
        self._choice = ResumeChoice(ResumeAction.CONTINUE)
        self.accept()

    def _new(self) -> None:
        self._choice = ResumeChoice(ResumeAction.NEW, self.end_time())
        self.accept()

    def reject(self) -> None:  # Escape, or the window's close button
        if self._choice is None:
            self._continue()  # ends nothing; the session can still be ended afterwards
        else:
            super().reject()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not isinstance(self.focusWidget(), QPushButton):
            event.accept()  # on an end-time choice: choose with the buttons, not Enter
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._choice is None:
            self._choice = ResumeChoice(ResumeAction.CONTINUE)
        super().closeEvent(event)


class CloseDialog(QDialog):
    """The window is closing while a session runs: end it, keep it open, or stay."""

    def __init__(
        self, instrument_name: str, parent: QWidget | None = None, *, owner: str | None = None
    ) -> None:
        """``owner``: the session is another login's, continued here under its name."""
        super().__init__(parent)
        self._choice = CloseChoice.CANCEL
        self.setWindowTitle("Close nexus-logger")
        self.setModal(True)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        whose = f"{owner}'s session" if owner else "Your session"
        question = theme.label(
            self, f"{whose} on {instrument_name} is still running.", theme.STATE_PT - 6
        )
        question.setFont(theme.font(theme.STATE_PT - 6, bold=True))
        explain = theme.label(
            self,
            "End it now, or keep it open and close the window (it continues when you open "
            "nexus-logger again).",
        )
        self.end_button = QPushButton("&End session", self)
        self.end_button.setStyleSheet(theme.END_BUTTON_STYLE.replace("14px 28px", "8px 18px"))
        self.keep_button = QPushButton("&Keep it open and close", self)
        self.keep_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.cancel_button = QPushButton("Cancel", self)
        for button in (self.end_button, self.keep_button, self.cancel_button):
            theme.fit_answer(button, bold=button is not self.cancel_button)
        self.end_button.setDefault(True)
        buttons = theme.row(self.end_button, self.keep_button, None, self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        layout.addWidget(question)
        layout.addWidget(explain)
        layout.addSpacing(8)
        layout.addLayout(buttons)
        self.end_button.clicked.connect(lambda: self._choose(CloseChoice.END))
        self.keep_button.clicked.connect(lambda: self._choose(CloseChoice.KEEP_OPEN))
        self.cancel_button.clicked.connect(lambda: self._choose(CloseChoice.CANCEL))
        self.setMinimumWidth(680)
        self.adjustSize()

    def choice(self) -> CloseChoice:
        """The choice made; Cancel when the dialog was dismissed (Escape, close button)."""
        return self._choice

    def _choose(self, value: CloseChoice) -> None:
        self._choice = value
        self.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape:
            self._choice = CloseChoice.CANCEL
        super().keyPressEvent(event)
