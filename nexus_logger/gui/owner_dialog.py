"""The question asked when the open session found at launch belongs to someone else.

On a shared instrument PC the session left open is most often the previous user's, who forgot
to end it. Continuing it would log the new user's work under the old user's name, so this
dialog, unlike :class:`~nexus_logger.gui.dialogs.ResumeDialog`:

* says first whose session it is ("This session was started by root at 08:36, 46 h ago");
* has *End it and start mine* as its default button (Enter);
* offers as the old session's end its last heartbeat, or a time the user types between its
  start and now (without a heartbeat the field starts empty: never "now" by default, as a
  session left open for days would become days long);
* lets the session go on only through a button that names its owner, and neither Escape nor
  the title bar's close button chooses that.

The answer is a :class:`~nexus_logger.gui.dialogs.ResumeChoice`, as from the resume dialog.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core import timestamps
from nexus_logger.core.settings.identity import same_user
from nexus_logger.gui import text, theme
from nexus_logger.gui.dialogs import ResumeAction, ResumeChoice
from nexus_logger.gui.screen_room import fitted_size, scrolling_content

if TYPE_CHECKING:
    from nexus_logger.core.sessions.lifecycle import OpenSession

__all__ = ["OtherUserDialog", "same_user"]


#: A session whose last heartbeat is this recent is taken to be in use: "now" is the default.
ALIVE_SECONDS = 180


#: The two answers, with the owner's name (shortened in them when the screen is small).
END_THEIRS = "&End {}'s session and start mine"
CONTINUE_THEIRS = "Continue it, &under {}'s name"


class OtherUserDialog(QDialog):
    """Another login's session is open: end it (default) and start mine, or go on with it."""

    def __init__(
        self,
        session: OpenSession,
        current_user: str,
        parent: QWidget | None = None,
        now: datetime | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.current_user = current_user
        self._choice: ResumeChoice | None = None
        self._now = now
        owner = session.user or "an unknown user"
        self.owner = owner
        self.setWindowTitle(f"A session of {owner} is still open")
        self.setModal(True)
        self.setWindowFlag(Qt.WindowType.WindowCloseButtonHint, False)
        self.setWindowFlag(Qt.WindowType.WindowContextHelpButtonHint, False)
        now = self.now()
        self._build_texts(now)
        self._style()
        beat = session.last_heartbeat
        group = QButtonGroup(self)
        group.addButton(self.at_now)
        group.addButton(self.at_heartbeat)
        group.addButton(self.at_typed)
        self.at_heartbeat.setEnabled(beat is not None)
        # A session alive moments ago is in use now: "now" ends it without cutting its last
        # minutes (its last heartbeat may be its start: a session of no time).
        if self.alive:
            self.at_now.setChecked(True)
        else:
            (self.at_heartbeat if beat is not None else self.at_typed).setChecked(True)
        self._lay_out()
        self._connect()
        self.new_button.setFocus()
        self._size_to_text()

    def _build_texts(self, now: datetime) -> None:
        """Whose session, who you are, the two answers and the place for a refusal."""
        owner, session = self.owner, self.session
        self.owner_label = theme.label(
            self,
            f"This session was started by {owner} at {text.when(session.started, now)}, "
            f"{text.ago(session.started, now)}.",
            theme.STATE_PT - 4,
        )
        self.owner_label.setFont(theme.font(theme.STATE_PT - 4, bold=True))
        self.you_label = theme.label(
            self,
            f"You are logged in as {self.current_user}: your work should not go into {owner}'s "
            f"session on {session.instrument.display_name}.",
        )
        beat = session.last_heartbeat
        # A session started moments ago has no heartbeat yet (the command line writes none):
        # its start says it is in use as well as a heartbeat would.
        fresh = beat is None or timestamps.seconds_between(beat, session.started) > 0
        seen = session.started if fresh else beat
        assert seen is not None
        self.alive = timestamps.seconds_between(seen, now) <= ALIVE_SECONDS
        used = "started" if fresh else "in use"
        self.alive_label = theme.label(
            self,
            f"It was {used} {text.ago(seen, now)}: {owner} may still be working"
            + (f" (on {session.hostname})." if session.hostname else ".")
            if self.alive
            else "",
        )
        theme.color_text(self.alive_label, theme.AMBER)
        self.alive_label.setVisible(self.alive)
        self.new_button = QPushButton(END_THEIRS.format(owner), self)
        self._build_end_time(session.last_heartbeat, now)
        self.problem_label = theme.label(self, "")
        theme.color_text(self.problem_label, theme.RED)
        # Room for a refusal kept from the start, so the dialog never has to grow.
        self.problem_label.setMinimumHeight(self.problem_label.fontMetrics().lineSpacing() * 2)
        self.continue_button = QPushButton(CONTINUE_THEIRS.format(owner), self)

    def _style(self) -> None:
        """Fonts: the default answer bold and tall, the rest at detail size."""
        for radio in (self.at_now, self.at_heartbeat, self.at_typed):
            theme.set_font(radio, theme.DETAIL_PT)
        theme.set_font(self.time_edit, theme.DETAIL_PT)
        theme.set_font(self.new_button, theme.DETAIL_PT, bold=True)
        self.new_button.setStyleSheet(theme.PRIMARY_BUTTON_STYLE)
        self.new_button.setMinimumHeight(48)
        theme.set_font(self.continue_button, theme.DETAIL_PT)

    def _connect(self) -> None:
        """Enter ends the other session; typing a time chooses it and clears a refusal."""
        self.new_button.setDefault(True)
        self.new_button.setAutoDefault(True)
        self.continue_button.setAutoDefault(False)
        self.new_button.clicked.connect(self._new)
        self.continue_button.clicked.connect(self._continue)
        self.time_edit.textEdited.connect(lambda _text: self.at_typed.setChecked(True))
        self.time_edit.textChanged.connect(lambda _text: self.problem_label.clear())
        self.time_edit.textChanged.connect(self._zone_of_typed)

    def _build_end_time(self, beat: datetime | None, now: datetime) -> None:
        """When the other session ends: at its last heartbeat, or at a time typed."""
        # Imported here: the admin package loads SQLAlchemy, which the window must not import
        # before it is shown (this dialog only appears after the database answered).
        from nexus_logger.gui.admin.end_time import FORMAT, PLACEHOLDER

        owner = self.owner
        self.end_time_label = theme.label(self, f"End {owner}'s session at:")
        self.at_now = QRadioButton("now", self)
        self.at_heartbeat = QRadioButton(
            f"its last heartbeat, {text.when(beat, now)} ({text.ago(beat, now)})"
            if beat is not None
            else "its last heartbeat (none recorded)",
            self,
        )
        self.at_typed = QRadioButton("this time:", self)
        self.time_edit = QLineEdit(self)
        self.time_edit.setPlaceholderText(PLACEHOLDER)
        # No heartbeat: when the session really ended is unknown, so nothing is offered; a
        # pre-filled "now" taken with Enter made a session left open for days days long.
        self.time_edit.setText(beat.strftime(FORMAT) if beat is not None else "")
        self.time_edit.setMinimumWidth(220)
        # A time typed here is on the instrument's clock, which may not be this PC's.
        self.zone_label = theme.label(self, "")
        theme.set_font(self.zone_label, theme.DETAIL_PT - 1)
        self._show_zone(beat or now)

    def _size_to_text(self) -> None:
        """At least 720 px wide, wider when a long name makes a button wider, and as tall as
        the wrapped lines need at that width, but never larger than the screen: there the
        questions scroll (a fixed 720 px hid the buttons' own width, the height came from a
        guessed width, and at 150 % on a 1024 x 768 screen the dialog was wider than it)."""
        margins = self.layout().contentsMargins()
        frame_w = margins.left() + margins.right() + 2
        frame_h = margins.top() + margins.bottom() + 2
        room_w, room_h = fitted_size(self, 10**5, 10**5)
        bar = self.scroll.verticalScrollBar().sizeHint().width()
        room = room_w - frame_w - bar
        for button, template in (
            (self.new_button, END_THEIRS),
            (self.continue_button, CONTINUE_THEIRS),
        ):
            over = button.sizeHint().width() - room
            if over > 0:  # a long name on a small screen: shortened here, whole above
                metrics = button.fontMetrics()
                width = max(metrics.horizontalAdvance(self.owner) - over, 80)
                short = metrics.elidedText(self.owner, Qt.TextElideMode.ElideMiddle, width)
                button.setText(template.format(short))
        inner = max(720 - frame_w, self.content_layout.totalMinimumSize().width())
        width = inner + frame_w
        height = self.content_layout.totalHeightForWidth(inner) + frame_h
        if height > room_h:  # the lines scroll: their scroll bar takes room beside them
            width += bar
        size = (min(width, room_w), min(height, room_h))
        self.setMinimumSize(*size)
        self.resize(*size)

    def _lay_out(self) -> None:
        """Whose session and who you are, then the default (end it), then continue it."""
        self.scroll, layout = scrolling_content(self, "ownerContent")
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll)
        #: The questions, in order (inside the scroll area).
        self.content_layout = layout
        layout.setSpacing(8)
        layout.addWidget(self.owner_label)
        layout.addWidget(self.you_label)
        layout.addWidget(self.alive_label)
        layout.addSpacing(8)
        layout.addWidget(self.new_button)
        layout.addWidget(self.end_time_label)
        # One choice a row: side by side they made the dialog wider than a small screen.
        layout.addLayout(theme.row(self.at_now, None, indent=24))
        layout.addLayout(theme.row(self.at_heartbeat, None, indent=24))
        layout.addLayout(theme.row(self.at_typed, self.time_edit, None, indent=24))
        layout.addLayout(theme.row(self.zone_label, indent=48))
        layout.addWidget(self.problem_label)
        layout.addWidget(self.continue_button)

    def _show_zone(self, at: datetime) -> None:
        from nexus_logger.gui.admin.end_time import zone_text

        zone = zone_text(self.session.instrument.timezone, at)
        self.zone_label.setText(f"Times are on the instrument's clock: {zone}")

    def _zone_of_typed(self, typed: str) -> None:
        """The zone's abbreviation and offset at the day typed (they change with DST)."""
        from nexus_logger.core.errors import InvalidInput
        from nexus_logger.gui.admin.end_time import parse_end

        zone = self.session.started.tzinfo
        assert zone is not None
        try:
            self._show_zone(parse_end(typed, zone))
        except InvalidInput:
            self._show_zone(self.now())

    def now(self) -> datetime:
        """The current time on the instrument's clock (fixed in tests)."""
        return self._now or text.now_like(self.session.started)

    def choice(self) -> ResumeChoice | None:
        """The choice made, or None while the dialog is still open."""
        return self._choice

    def end_time(self) -> datetime | None:
        """The chosen end of the old session, or None when the typed time is not usable."""
        from nexus_logger.core.errors import InvalidInput
        from nexus_logger.gui.admin.end_time import end_problem, in_start_minute, parse_end

        beat = self.session.last_heartbeat
        if self.at_heartbeat.isChecked() and beat is not None:
            return beat
        zone = self.session.started.tzinfo
        assert zone is not None
        if self.at_now.isChecked():  # checked too: a start ahead of this PC's clock
            ended = self.now()
        else:
            try:
                ended = parse_end(self.time_edit.text(), zone)
            except InvalidInput as err:
                self.problem_label.setText(str(err))
                return None
        ended = in_start_minute(ended, self.session.started)
        problem = end_problem(ended, self.session.started, self.now(), self.session.start_text)
        if problem is not None:
            self.problem_label.setText(problem)
            return None
        return ended

    def _new(self) -> None:
        end_at = self.end_time()
        if end_at is None:
            self.time_edit.setFocus()
            return
        self._choice = ResumeChoice(ResumeAction.NEW, end_at)
        self.accept()

    def _continue(self) -> None:
        self._choice = ResumeChoice(ResumeAction.CONTINUE)
        self.accept()

    def reject(self) -> None:  # Escape: choosing nothing is not a choice to go on as someone else
        if self._choice is not None:
            super().reject()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._choice is None:
            event.ignore()
            return
        super().closeEvent(event)
