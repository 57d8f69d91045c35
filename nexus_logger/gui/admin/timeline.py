"""A picture of sessions per instrument on a time axis (custom-painted).

One band per instrument; each session is a bar from its start to its end (open sessions run
to "now" and end in a hatched tip), coloured by status. Sessions that overlap on the same
instrument are stacked in separate lanes and outlined in black, so gaps, overlaps and very long
sessions show at a glance. The window is a calendar day, a week (Monday to Sunday, the default)
or a calendar month, in one time zone named on the axis: the instruments' zone when they share
one, else this PC's.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from PySide6.QtCore import QPoint, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFontMetrics, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from nexus_logger.core.staff.summaries import SessionSummary
from nexus_logger.gui.admin.models import STATUS_COLORS, format_duration, format_time, status_color


class Zoom(enum.Enum):
    """The visible span: a calendar day, week (Monday to Sunday) or month."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def calendar_window(zoom: Zoom, day: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """Start (inclusive) and end (exclusive) of the day, week or month holding ``day``.

    Both are midnight in ``zone``, so a day with a daylight-saving change is 23 or 25 h long.
    """
    if zoom is Zoom.DAY:
        first, last = day, day + timedelta(days=1)
    elif zoom is Zoom.WEEK:
        first = day - timedelta(days=day.weekday())
        last = first + timedelta(days=7)
    else:
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1)
    return (
        datetime(first.year, first.month, first.day, tzinfo=zone),
        datetime(last.year, last.month, last.day, tzinfo=zone),
    )


def shift(zoom: Zoom, day: date, direction: int) -> date:
    """The same place one day, week or month earlier (-1) or later (+1)."""
    if zoom is Zoom.DAY:
        return day + timedelta(days=direction)
    if zoom is Zoom.WEEK:
        return day + timedelta(days=7 * direction)
    month = day.month - 1 + direction
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, 1)


def describe_window(zoom: Zoom, start: datetime) -> str:
    """``Tue 10 Mar 2026``, ``Mon 9 Mar - Sun 15 Mar 2026`` or ``March 2026``."""
    if zoom is Zoom.DAY:
        return f"{start:%a} {start.day} {start:%b %Y}"
    if zoom is Zoom.WEEK:
        last = start + timedelta(days=6)
        return f"{start:%a} {start.day} {start:%b} \u2013 {last:%a} {last.day} {last:%b %Y}"
    return f"{start:%B %Y}"


@dataclass(frozen=True)
class Bar:
    """One drawn session: where it is and what it is."""

    rect: QRectF
    summary: SessionSummary
    overlaps: bool


def assign_lanes(sessions: list[SessionSummary], now: datetime) -> tuple[dict[str, int], set[str]]:
    """Lane of each session in its instrument's band, and the sessions that overlap another.

    Greedy interval colouring by start time: a session goes into the first lane whose last
    session has ended, so non-overlapping sessions share lane 0.
    """
    lanes: dict[str, int] = {}
    overlapping: set[str] = set()
    by_inst: dict[str, list[SessionSummary]] = {}
    for s in sessions:
        if s.start is not None:
            by_inst.setdefault(s.instrument, []).append(s)
    for items in by_inst.values():
        items.sort(key=lambda s: (s.start, s.start_id or 0))
        lane_ends: list[tuple[datetime, str]] = []
        for s in items:
            end = s.end or now
            # Sorted by start, a lane's last session is the only one of that lane that can
            # still be running when ``s`` starts: every lane ending after s.start overlaps it.
            busy = [i for i, (lane_end, _) in enumerate(lane_ends) if lane_end > s.start]
            for i in busy:
                overlapping.add(lane_ends[i][1])
            if busy:
                overlapping.add(s.session_identifier)
            free = [i for i in range(len(lane_ends)) if i not in busy]
            lane = free[0] if free else len(lane_ends)
            if lane == len(lane_ends):
                lane_ends.append((end, s.session_identifier))
            else:
                lane_ends[lane] = (end, s.session_identifier)
            lanes[s.session_identifier] = lane
    return lanes, overlapping


class TimelineWidget(QWidget):
    """Bars per instrument over a time window; click a bar to select its session."""

    session_clicked = Signal(str)
    #: The window changed (start, end); the owner loads the sessions for it.
    window_changed = Signal(object, object)

    LABEL_WIDTH = 150
    AXIS_HEIGHT = 34
    LANE_HEIGHT = 18
    BAND_PADDING = 6
    LEGEND_HEIGHT = 24

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMouseTracking(True)
        self.setMinimumHeight(160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.zoom = Zoom.WEEK
        self.now = lambda: datetime.now(UTC)
        self.local_zone: tzinfo = datetime.now().astimezone().tzinfo or UTC
        self.zone_name = f"this PC's zone ({datetime.now().astimezone().tzname()})"
        self._day = self.now().astimezone(self.local_zone).date()
        self._sessions: list[SessionSummary] = []
        self._instruments: list[str] = []
        self._bars: list[Bar] = []

    # -- the window -----------------------------------------------------------------------

    @property
    def window(self) -> tuple[datetime, datetime]:
        """(start, end) of what is shown, as aware datetimes (end exclusive)."""
        return calendar_window(self.zoom, self._day, self.local_zone)

    def window_text(self) -> str:
        """The shown day, week or month in words, with the zone its times are in."""
        return f"{describe_window(self.zoom, self.window[0])}, times in {self.zone_name}"

    def set_zone(self, zone: tzinfo, name: str) -> None:
        """Draw in ``zone`` (``name`` is shown on the axis), keeping the shown day."""
        self.local_zone, self.zone_name = zone, name
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
        self._sessions = list(sessions)
        self._layout()
        self.updateGeometry()
        self.update()

    @property
    def bars(self) -> list[Bar]:
        """The bars as laid out for the current size (for tests and hit-testing)."""
        return list(self._bars)

    def _bands(self) -> list[str]:
        names = list(self._instruments)
        for s in self._sessions:
            if s.instrument not in names:
                names.append(s.instrument)
        return names

    def sizeHint(self) -> QSize:
        lanes, _ = assign_lanes(self._sessions, self.now())
        height = self.AXIS_HEIGHT + self._legend_height()
        for name in self._bands():
            n = 1 + max(
                [
                    lanes[s.session_identifier]
                    for s in self._sessions
                    if s.instrument == name and s.session_identifier in lanes
                ]
                or [0]
            )
            height += n * self.LANE_HEIGHT + 2 * self.BAND_PADDING
        return QSize(800, max(160, height))

    def _x(self, moment: datetime) -> float:
        start, end = self.window
        width = max(1.0, self.width() - self.LABEL_WIDTH - 10)
        frac = (moment - start) / (end - start)  # (timedelta / timedelta: a float)
        return self.LABEL_WIDTH + max(0.0, min(1.0, frac)) * width

    def _layout(self) -> None:
        now = self.now()
        lanes, overlapping = assign_lanes(self._sessions, now)
        start, end = self.window
        bars: list[Bar] = []
        y = float(self.AXIS_HEIGHT)
        self._band_rects: list[tuple[str, QRectF]] = []
        for name in self._bands():
            mine = [s for s in self._sessions if s.instrument == name and s.start is not None]
            n = 1 + max([lanes.get(s.session_identifier, 0) for s in mine] or [0])
            band_h = n * self.LANE_HEIGHT + 2 * self.BAND_PADDING
            self._band_rects.append((name, QRectF(0, y, self.width(), band_h)))
            for s in mine:
                stop = s.end or now
                if stop < start or s.start > end:
                    continue
                x0, x1 = self._x(s.start), self._x(stop)
                lane = lanes.get(s.session_identifier, 0)
                rect = QRectF(
                    x0,
                    y + self.BAND_PADDING + lane * self.LANE_HEIGHT + 2,
                    max(2.0, x1 - x0),
                    self.LANE_HEIGHT - 4,
                )
                bars.append(Bar(rect, s, s.session_identifier in overlapping))
            y += band_h
        self._bars = bars

    def resizeEvent(self, event: Any) -> None:
        self._layout()
        super().resizeEvent(event)

    # -- painting -------------------------------------------------------------------------

    def _ticks(self) -> list[tuple[datetime, str]]:
        start, end = self.window
        zone = self.local_zone
        out = []
        if self.zoom is Zoom.DAY:
            for hour in range(0, 24, 3):
                moment = start.replace(hour=hour)
                out.append((moment, moment.strftime("%H:%M")))
            return out
        day, step = start.date(), 1 if self.zoom is Zoom.WEEK else 7
        fmt = "%a %d" if self.zoom is Zoom.WEEK else "%d %b"
        while True:
            moment = datetime(day.year, day.month, day.day, tzinfo=zone)
            if moment >= end:
                return out
            out.append((moment, moment.strftime(fmt)))
            day += timedelta(days=step)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, p: QPainter) -> None:
        palette = self.palette()
        p.fillRect(self.rect(), palette.base())
        fm = QFontMetrics(self.font())
        text_pen = QPen(palette.text().color())
        grid_pen = QPen(QColor(0, 0, 0, 40))
        # bands
        for i, (name, rect) in enumerate(getattr(self, "_band_rects", [])):
            if i % 2:
                p.fillRect(rect, QColor(0, 0, 0, 12))
            p.setPen(text_pen)
            label = fm.elidedText(name, Qt.TextElideMode.ElideRight, self.LABEL_WIDTH - 12)
            p.drawText(
                QRectF(6, rect.top(), self.LABEL_WIDTH - 8, rect.height()),
                int(Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft),
                label,
            )
        # axis and grid; the zone of the axis' times is named where the band labels start
        p.setPen(text_pen)
        zone = fm.elidedText(self.zone_name, Qt.TextElideMode.ElideMiddle, self.LABEL_WIDTH - 12)
        p.drawText(6, self.AXIS_HEIGHT - 10, zone)
        bottom = self.height() - self._legend_height()
        for moment, label in self._ticks():
            x = self._x(moment)
            p.setPen(grid_pen)
            p.drawLine(int(x), self.AXIS_HEIGHT - 4, int(x), bottom)
            p.setPen(text_pen)
            p.drawText(int(x) + 3, self.AXIS_HEIGHT - 10, label)
        now_x = self._x(self.now())
        start, end = self.window
        if start <= self.now() <= end:
            p.setPen(QPen(QColor("#b3261e"), 1, Qt.PenStyle.DashLine))
            p.drawLine(int(now_x), self.AXIS_HEIGHT - 4, int(now_x), bottom)
        # bars
        for bar in self._bars:
            color = status_color(bar.summary.status)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QBrush(color))
            p.drawRect(bar.rect)
            if bar.summary.is_open:
                tip = QRectF(
                    bar.rect.right() - min(12.0, bar.rect.width()),
                    bar.rect.top(),
                    min(12.0, bar.rect.width()),
                    bar.rect.height(),
                )
                p.setBrush(QBrush(QColor("white"), Qt.BrushStyle.BDiagPattern))
                p.drawRect(tip)
            if bar.overlaps:
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.setPen(QPen(QColor("#1a1a1a"), 2))
                p.drawRect(bar.rect)
        # legend, wrapped onto as many rows as the width needs
        for (x, y), status, hex_color in self._legend_items(self.height() - self._legend_height()):
            p.fillRect(x, y + 6, 10, 10, QColor(hex_color))
            p.setPen(text_pen)
            p.drawText(x + 14, y + 16, status)

    def _legend_items(self, top: int) -> list[tuple[tuple[int, int], str, str]]:
        """Where each status of the legend goes: rows of ``LEGEND_HEIGHT`` from ``top``."""
        fm = QFontMetrics(self.font())
        out, x, y = [], 6, top
        for status, hex_color in STATUS_COLORS.items():
            width = 14 + fm.horizontalAdvance(status) + 12
            if x > 6 and x + width > self.width():
                x, y = 6, y + self.LEGEND_HEIGHT - 4
            out.append(((x, y), status, hex_color))
            x += width
        return out

    def _legend_height(self) -> int:
        rows = {y for (_x, y), _s, _c in self._legend_items(0)}
        return len(rows) * (self.LEGEND_HEIGHT - 4) + 4

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
        bar = self.bar_at(event.position().toPoint())
        if bar is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.describe(bar.summary), self)
        else:
            QToolTip.hideText()
        super().mouseMoveEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        bar = self.bar_at(event.position().toPoint())
        if bar is not None and event.button() == Qt.MouseButton.LeftButton:
            self.session_clicked.emit(bar.summary.session_identifier)
        super().mousePressEvent(event)
