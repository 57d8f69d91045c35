"""The page after End: what was logged, and the countdown to closing."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from nexus_logger.core import timestamps
from nexus_logger.gui import text, theme
from nexus_logger.gui.screen_room import scrolling_content


class EndedPage(QWidget):
    """The confirmation after End: duration, then a countdown to closing the window."""

    keep_open_requested = Signal()
    new_session_requested = Signal()
    close_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = theme.label(self, "Session ended", theme.STATE_PT, bold=True)
        theme.color_text(self.title, theme.BLUE)
        self.instrument_label = theme.label(self, "", theme.DETAIL_PT + 2, bold=True)
        self.duration_label = theme.label(self, "", theme.STATE_PT + 6, bold=True)
        self.times_label = theme.label(self, "", theme.DETAIL_PT)
        self.message_label = theme.label(self, "", theme.DETAIL_PT)
        self.countdown_label = theme.label(self, "", theme.DETAIL_PT + 2)
        self.keep_open_button = QPushButton("&Keep the window open", self)
        self.new_button = QPushButton("&Start a new session", self)
        self.new_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.close_button = QPushButton("&Close", self)
        for button in (self.keep_open_button, self.new_button, self.close_button):
            theme.set_font(button, theme.DETAIL_PT, bold=button is self.new_button)
            button.setMinimumHeight(48)
        theme.press_on_enter(self.keep_open_button, self.new_button, self.close_button)
        buttons = theme.row(self.keep_open_button, self.new_button, None, self.close_button)
        # The countdown and the buttons stay in sight; the rest scrolls in a small window.
        self.scroll, layout = scrolling_content(self, "endedContent")
        layout.setSpacing(12)
        layout.addWidget(self.title)
        layout.addWidget(self.instrument_label)
        layout.addWidget(self.duration_label)
        layout.addWidget(self.times_label)
        layout.addWidget(self.message_label)
        layout.addStretch(1)
        outer = QVBoxLayout(self)
        outer.setSpacing(12)
        outer.addWidget(self.scroll, 1)
        outer.addWidget(self.countdown_label)
        outer.addLayout(buttons)
        self.keep_open_button.clicked.connect(self.keep_open_requested)
        self.new_button.clicked.connect(self.new_session_requested)
        self.close_button.clicked.connect(self.close_requested)

    def show_ended(
        self,
        *,
        instrument: str,
        user: str | None,
        started: datetime | None,
        ended: datetime | None,
        message: str,
        queued: bool,
        now: datetime | None = None,
    ) -> None:
        """Fill the page for a session that ended (here or elsewhere; ``ended`` ``None``: its
        end time is not known)."""
        self.instrument_label.setText(f"{instrument}, user {user or 'unknown'}")
        self.set_times(started, ended, now)
        self.message_label.setText(message)
        theme.color_text(self.message_label, theme.AMBER if queued else theme.GREY)

    def set_times(
        self, started: datetime | None, ended: datetime | None, now: datetime | None = None
    ) -> None:
        """The duration and the times (``ended`` ``None``: not known here, so not shown)."""
        if ended is None:  # not known here: say nothing rather than a wrong time
            self.duration_label.setText("")
            self.times_label.setText("")
        elif started is not None:
            self.duration_label.setText(
                f"Duration: {text.duration(timestamps.seconds_between(started, ended))}"
            )
            self.times_label.setText(
                f"From {text.when(started, now)} to {text.when(ended.astimezone(started.tzinfo), now)}"
            )
        else:
            self.duration_label.setText("")
            self.times_label.setText(f"Ended {text.when(ended, now)}")
        self.set_countdown(None)

    def set_sent(self, message: str) -> None:
        """The END this page said was kept on this PC has reached the database."""
        self.say(message, queued=False)

    def say(self, message: str, *, queued: bool) -> None:
        """Replace the page's sentence (amber while the END is kept on this PC), nothing else:
        the times and the countdown stay as they are."""
        self.message_label.setText(message)
        theme.color_text(self.message_label, theme.AMBER if queued else theme.GREY)

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
            # Not "Start a new session": a second Enter must not start one. On the page that
            # says the session was ended elsewhere, the next Enter took the default of the
            # question about another login's open session: two Enters ended it (user trial).
            self.close_button.setFocus()
