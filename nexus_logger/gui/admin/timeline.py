"""A picture of sessions per instrument on a time axis (custom-painted).

One band per instrument; each session is a bar from its start to its end (open sessions run
to "now" and end in a hatched tip), coloured by status. Sessions that overlap on the same
instrument are stacked in separate lanes and outlined in black, so gaps, overlaps and very long
sessions show at a glance. The window is a calendar day, a week (Monday to Sunday, the default)
or a calendar month, in one time zone named on the axis: the instruments' zone when they share
one, else this PC's. This widget holds what is shown and answers the mouse and the keyboard
(arrows from bar to bar, Enter to show its session);
``timeline_layout`` says where things go and ``timeline_paint`` draws them.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, QTimeZone, Signal
from PySide6.QtGui import QFontMetrics, QKeyEvent, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from nexus_logger.core import timestamps
from nexus_logger.core.staff.summaries import SessionSummary
from nexus_logger.gui.admin.models import format_duration, format_time
from nexus_logger.gui.admin.timeline_layout import (
    LABEL_WIDTH,
    Bar,
    Zoom,
    bands_height,
    calendar_window,
    describe_window,
    lay_out,
    legend_height,
    shift,
)
from nexus_logger.gui.admin.timeline_paint import paint_timeline


def pc_zone() -> tuple[tzinfo, str]:
    """This PC's time zone with its rules, and its name (IANA, else its abbreviation).

    Qt knows the zone's IANA name on every system (Windows' own names too). The offset of
    the moment of launch, used before, drew a July session an hour off on a PC started in
    December.
    """
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", "replace")
    if timestamps.is_valid_zone(name):
        return timestamps.zone(name), name
    now = datetime.now().astimezone()
    return now.tzinfo or UTC, now.tzname() or "UTC"


class TimelineWidget(QWidget):
    """Bars per instrument over a time window; click a bar (or Enter on the one the arrow
    keys chose) to select its session."""

    session_clicked = Signal(str)
    #: The window changed (start, end); the owner loads the sessions for it.
    window_changed = Signal(object, object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.zoom = Zoom.WEEK
        self.now = lambda: datetime.now(UTC)
        self.local_zone, self.zone_short = pc_zone()
        #: The zone in the sentence above the timeline; ``zone_short`` in its narrow corner.
        self.zone_name = f"this PC's zone ({self.zone_short})"
        self._day = self.now().astimezone(self.local_zone).date()
        self._sessions: list[SessionSummary] = []
        self._instruments: list[str] = []
        self._bars: list[Bar] = []
        self._band_rects: list[tuple[str, QRectF]] = []
        #: The bar the keyboard is on (an index into ``bars`` in time order), if any.
        self.current: int | None = None
        # Tab reaches the picture; arrows go from bar to bar, Enter shows the session (it
        # answered only the mouse).
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    # -- the window -----------------------------------------------------------------------

    @property
    def window(self) -> tuple[datetime, datetime]:
        """(start, end) of what is shown, as aware datetimes (end exclusive)."""
        return calendar_window(self.zoom, self._day, self.local_zone)

    def window_text(self) -> str:
        """The shown day, week or month in words, with the zone its times are in."""
        return f"{describe_window(self.zoom, self.window[0])}, times in {self.zone_name}"

    def set_zone(self, zone: tzinfo, name: str) -> None:
        """Draw in ``zone`` (``name`` is shown on the axis), keeping the shown day; "today"
        stays today, in the new zone (the PC's date was shown for instruments a day behind)."""
        showed_today = self._day == self.now().astimezone(self.local_zone).date()
        self.local_zone, self.zone_name, self.zone_short = zone, name, name
        if showed_today:
            self._day = self.now().astimezone(zone).date()
        self._window_changed()

    def set_zoom(self, zoom: Zoom) -> None:
        """Show the day, week or month holding the day shown now."""
        if zoom is not self.zoom:
            self.zoom = zoom
            self._window_changed()

    def step(self, direction: int) -> None:
        """Show the previous (-1) or next (+1) day, week or month."""
        self._day = shift(self.zoom, self._day, direction)
        self._window_changed()

    def go_now(self) -> None:
        """Show the day, week or month holding today."""
        self._day = self.now().astimezone(self.local_zone).date()
        self._window_changed()

    def _window_changed(self) -> None:
        start, end = self.window
        self._layout()
        self.update()
        self.window_changed.emit(start, end)

    # -- data -----------------------------------------------------------------------------

    def set_instruments(self, instruments: list[str]) -> None:
        """Instruments that get a band even without sessions in the window."""
        self._instruments = list(instruments)
        self._layout()
        self.updateGeometry()
        self.update()

    def set_sessions(self, sessions: list[SessionSummary]) -> None:
        """The sessions to draw (those overlapping the window)."""
        chosen = self.current_bar()
        self._sessions = list(sessions)
        self.current = None
        self._layout()
        if chosen is not None:  # the same session stays chosen after a reload
            ident = chosen.summary.session_identifier
            same = [i for i, b in enumerate(self._bars) if b.summary.session_identifier == ident]
            self.current = same[0] if same else None
        self.updateGeometry()
        self.update()

    @property
    def bars(self) -> list[Bar]:
        """The bars as laid out for the current size (for tests and hit-testing)."""
        return list(self._bars)

    @property
    def band_rects(self) -> list[tuple[str, QRectF]]:
        """Each instrument's band as laid out for the current size."""
        return list(self._band_rects)

    def sizeHint(self) -> QSize:
        height = bands_height(self._instruments, self._sessions, self.now())
        height += legend_height(QFontMetrics(self.font()), self.width())
        return QSize(800, max(160, height))

    def minimumSizeHint(self) -> QSize:
        """As tall as its bands and legend: the page scrolls instead (squeezed, the legend,
        drawn at the bottom, covered the last instrument's band)."""
        return QSize(200, self.sizeHint().height())

    def _layout(self) -> None:
        self._band_rects, bars = lay_out(
            self._instruments, self._sessions, self.window, self.width(), self.now()
        )
        # In time order (then top to bottom): the order the arrow keys follow.
        self._bars = sorted(bars, key=lambda b: (b.rect.left(), b.rect.top()))

    def resizeEvent(self, event: Any) -> None:
        self._layout()
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            paint_timeline(painter, self)
        finally:
            painter.end()

    # -- interaction ----------------------------------------------------------------------

    def bar_at(self, point: QPoint) -> Bar | None:
        """The bar under ``point`` (the topmost if several)."""
        for bar in reversed(self._bars):
            if bar.rect.adjusted(-1, -1, 1, 1).contains(point.toPointF()):
                return bar
        return None

    def describe(self, s: SessionSummary) -> str:
        """The tooltip of a bar."""
        lines = [
            f"{s.instrument} - {s.user or 'no user'}",
            f"{format_time(s.start, s.timezone)} to "
            + (format_time(s.end, s.timezone) if s.end else "now (open)"),
            f"Duration {format_duration(s.duration_seconds(self.now()))}, {s.status}",
            s.session_identifier,
        ]
        return "\n".join(lines)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        bar = self.bar_at(point)
        tip = self.describe(bar.summary) if bar is not None else self.band_name_at(point)
        if tip:
            QToolTip.showText(event.globalPosition().toPoint(), tip, self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def band_name_at(self, point: QPoint) -> str | None:
        """The whole instrument name of the band label under ``point`` (the label may be cut
        with an ellipsis in its narrow column)."""
        if point.x() >= LABEL_WIDTH:
            return None
        return next((name for name, rect in self._band_rects if rect.contains(point)), None)

    def current_bar(self) -> Bar | None:
        """The bar the keyboard is on (outlined when the picture has the focus)."""
        if self.current is None or self.current >= len(self._bars):
            return None
        return self._bars[self.current]

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        moves = {Qt.Key.Key_Right: 1, Qt.Key.Key_Down: 1, Qt.Key.Key_Left: -1, Qt.Key.Key_Up: -1}
        if key in moves and self._bars:
            if self.current_bar() is None:
                self.current = 0 if moves[key] > 0 else len(self._bars) - 1
            else:
                self.current = max(0, min(len(self._bars) - 1, self.current + moves[key]))
            bar = self._bars[self.current]
            # What a mouse user reads on hovering, said where the bar is.
            where = self.mapToGlobal(bar.rect.center().toPoint())
            QToolTip.showText(where, self.describe(bar.summary), self)
            self.update()
            return
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            bar = self.current_bar()
            if bar is not None:
                self.session_clicked.emit(bar.summary.session_identifier)
                return
        super().keyPressEvent(event)

    def focusInEvent(self, event: Any) -> None:
        self.update()  # the current bar's outline
        super().focusInEvent(event)

    def focusOutEvent(self, event: Any) -> None:
        self.update()
        super().focusOutEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        bar = self.bar_at(event.position().toPoint())
        if bar is not None and event.button() == Qt.MouseButton.LeftButton:
            self.session_clicked.emit(bar.summary.session_identifier)
        super().mousePressEvent(event)
