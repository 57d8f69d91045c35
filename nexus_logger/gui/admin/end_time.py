"""The force-end question: when did the session really end, on the instrument's clock?

A plain text field, not a ``QDateTimeEdit``: typed digits go where they are typed (a date-time
edit moves between its sections on its own, so "2026-12-01 12:00" became 2026-12-12 01:12),
and the field shows exactly what will be written: minutes, seconds zero (the start's own
minute means the start itself, :func:`in_start_minute`). The instrument's
zone is named, and a future time, one before the start, or a minute the instrument's clock
skipped or showed twice (daylight saving time; an offset such as ``+01:00`` then says which)
is refused under the field, with OK disabled, before anything is asked of the database.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core import timestamps
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.sessions.inputs import ends_before_start
from nexus_logger.core.sessions.time_rules import localize
from nexus_logger.gui import theme

#: How the end time is typed and shown (what is written: these minutes, 0 seconds).
FORMAT = "%Y-%m-%d %H:%M"
PLACEHOLDER = "YYYY-MM-DD HH:MM"
NBSP = "\u00a0"


def zone_text(zone_name: str | None, at: datetime) -> str:
    """``America/New_York (EST, UTC-05:00)``: the zone by name, abbreviation and offset."""
    local = at.astimezone(timestamps.zone(zone_name))
    offset = local.strftime("%z")
    offset = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = zone_name or "this PC's time zone"
    abbreviation = local.tzname() or ""
    inner = f"{abbreviation}, {offset}" if abbreviation and abbreviation[0].isalpha() else offset
    return f"{name} ({inner})"


def parse_end(text: str, zone: tzinfo) -> datetime:
    """``2026-12-01 12:00`` (or with a ``T``) on the clock of ``zone``, or with an offset
    (``2026-11-01 01:30-04:00``) for a minute that clock showed twice.

    Raises :class:`InvalidInput` (one sentence) when it is not such a time, or when the clock
    skipped that minute or showed it twice (the sentence names both readings).
    """
    cleaned = " ".join(text.strip().replace("T", " ").split())
    try:
        naive = datetime.strptime(cleaned, FORMAT)
    except ValueError:
        try:
            given = datetime.fromisoformat(re.sub(r" (?=[+-]\d)", "", cleaned))
        except ValueError:
            given = None
        if given is None or given.tzinfo is None or given.second or given.microsecond:
            raise InvalidInput(
                # No-break spaces: a wrapped line split "2026-03-10" from "17:30."
                f"Type the date and time as {PLACEHOLDER.replace(' ', NBSP)}, for example "
                f"2026-03-10{NBSP}17:30."
            ) from None
        return given.astimezone(zone)
    return localize(naive, timestamps.zone_name(zone) or str(zone), "end time")


def in_start_minute(ended: datetime, started: datetime | None) -> datetime:
    """``ended``, or ``started`` when ``ended`` falls in the start's own minute: minutes are
    typed, so that minute (what the field offers for a session started just now) means "at
    the start", not "before it"."""
    if started is not None and 0 < timestamps.seconds_between(ended, started) < 60:
        return started
    return ended


def end_problem(
    ended: datetime, started: datetime | None, now: datetime, start_text: str | None = None
) -> str | None:
    """Why ``ended`` cannot be the end time (one sentence), or None when it can.

    ``start_text`` is the START as stored: the core's rule (``ends_before_start``) compares a
    1.x START without an offset by wall clock, as NexusLIMS does, and so does this.
    """
    if timestamps.seconds_between(now, ended) > 0:
        return "That time is in the future. Give the time the session really ended."
    if started is None:
        return None
    if ends_before_start(ended, started, start_text or started.isoformat()):
        shown = started.astimezone(ended.tzinfo).strftime("%Y-%m-%d %H:%M:%S %Z")
        return f"That is before the session started ({shown}). Give a later time."
    if abs(timestamps.seconds_between(started, ended)) < 1e-3:
        # (as the action itself refuses it; OK let it through, then "Nothing was changed")
        return (
            "That is the minute the session started: NexusLIMS would build a record of no "
            "time at all. Give the time it really ended."
        )
    return None


class EndTimeDialog(QDialog):
    """Ask for the end time of a session, in its instrument's zone."""

    def __init__(
        self,
        started: datetime | None,
        zone_name: str | None,
        parent: QWidget | None = None,
        *,
        now: datetime | None = None,
        start_text: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Force end")
        self.zone = timestamps.zone(zone_name)
        self.zone_name = zone_name
        self.started = started
        self.start_text = start_text
        self._now = now
        current = self.now().astimezone(self.zone)

        intro = QLabel("When did the session really end? Type it on the instrument's clock.", self)
        intro.setWordWrap(True)
        self.zone_label = QLabel(f"Time zone: {zone_text(zone_name, current)}", self)
        self.zone_label.setWordWrap(True)
        self.start_label = QLabel(self)
        self.start_label.setWordWrap(True)
        if started is not None:
            # With its abbreviation: on the day clocks go back, 01:30 EDT and 01:30 EST are an
            # hour apart, and the zone line above names the zone of today, not of this time.
            local = started.astimezone(self.zone)
            self.start_label.setText(
                f"Started: {local.strftime('%Y-%m-%d %H:%M:%S')} {local.tzname() or ''}".rstrip()
            )
        self.start_label.setVisible(started is not None)
        self.edit = QLineEdit(current.strftime(FORMAT), self)
        self.edit.setPlaceholderText(PLACEHOLDER)
        self.edit.setAccessibleName("End time")
        width = self.edit.fontMetrics().horizontalAdvance("0000-00-00 00:00") + 24
        self.edit.setMinimumWidth(width)
        self.problem_label = QLabel(self)
        self.problem_label.setWordWrap(True)
        theme.color_text(self.problem_label, theme.RED)
        # Room for the message from the start: the dialog does not jump when one appears.
        self.problem_label.setMinimumHeight(self.problem_label.fontMetrics().lineSpacing() * 2)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.accepted.connect(self._accept_if_valid)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.zone_label)
        layout.addWidget(self.start_label)
        layout.addWidget(self.edit)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.buttons)
        self.edit.textChanged.connect(lambda _t: self.validate())
        self.validate()
        self.setMinimumWidth(460)
        self.edit.setFocus(Qt.FocusReason.OtherFocusReason)
        self.edit.selectAll()

    def now(self) -> datetime:
        """The current time (fixed in tests and screenshots)."""
        return self._now or datetime.now(UTC)

    def _read(self) -> tuple[datetime | None, str | None]:
        """The typed end time, or why it cannot be used."""
        try:
            ended = in_start_minute(parse_end(self.edit.text(), self.zone), self.started)
        except InvalidInput as err:
            return None, str(err)
        return ended, end_problem(ended, self.started, self.now(), self.start_text)

    def value(self) -> datetime | None:
        """The typed end time, aware in the instrument's zone, or None if it is not valid."""
        ended, problem = self._read()
        return None if problem else ended

    def validate(self) -> bool:
        """Show under the field why the time cannot be used, and allow OK only when it can;
        the zone line gives the offset of the day typed (it moves with daylight saving)."""
        ended, problem = self._read()
        self.problem_label.setText(problem or "")
        if ended is not None:
            self.zone_label.setText(f"Time zone: {zone_text(self.zone_name, ended)}")
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(problem is None)
        return problem is None

    def _accept_if_valid(self) -> None:
        if self.validate():
            self.accept()
