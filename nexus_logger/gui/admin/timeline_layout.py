"""Where each part of the timeline goes, computed without painting: the calendar window,
lanes for sessions that overlap, the instruments' bands, the bars, the axis' ticks and the
legend's rows."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from PySide6.QtCore import QRectF
from PySide6.QtGui import QFontMetrics

from nexus_logger.core import timestamps
from nexus_logger.core.staff.summaries import SessionSummary
from nexus_logger.gui.admin.models import STATUS_COLORS

#: Sizes of the picture's parts, in pixels.
LABEL_WIDTH = 150
AXIS_HEIGHT = 34
LANE_HEIGHT = 18
BAND_PADDING = 6
LEGEND_HEIGHT = 24

#: A shown time span: (start, end), aware, end exclusive.
Window = tuple[datetime, datetime]


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


def band_names(instruments: list[str], sessions: list[SessionSummary]) -> list[str]:
    """One band per instrument: those named first, then any other a session is on."""
    names = list(instruments)
    for s in sessions:
        if s.instrument not in names:
            names.append(s.instrument)
    return names


def band_height(name: str, sessions: list[SessionSummary], lanes: dict[str, int]) -> int:
    """The height of an instrument's band: as many lanes as its sessions need."""
    used = [
        lanes.get(s.session_identifier, 0)
        for s in sessions
        if s.instrument == name and s.start is not None
    ]
    return (1 + max(used or [0])) * LANE_HEIGHT + 2 * BAND_PADDING


def bands_height(instruments: list[str], sessions: list[SessionSummary], now: datetime) -> int:
    """The axis and every band, stacked (the legend comes below)."""
    lanes, _ = assign_lanes(sessions, now)
    return AXIS_HEIGHT + sum(
        band_height(name, sessions, lanes) for name in band_names(instruments, sessions)
    )


def x_of(moment: datetime, window: Window, width: int) -> float:
    """The x of ``moment`` in a picture ``width`` wide (clamped to the window)."""
    start, end = window
    span = max(1.0, width - LABEL_WIDTH - 10)
    # Real seconds: the window's ends share one zone, and Python subtracts two such times by
    # their wall clocks (24 h for the 25-h day the clocks go back: bars an hour off).
    frac = timestamps.seconds_between(start, moment) / timestamps.seconds_between(start, end)
    return LABEL_WIDTH + max(0.0, min(1.0, frac)) * span


def lay_out(
    instruments: list[str],
    sessions: list[SessionSummary],
    window: Window,
    width: int,
    now: datetime,
) -> tuple[list[tuple[str, QRectF]], list[Bar]]:
    """Each band's name and rectangle, and a bar for each session inside the window."""
    lanes, overlapping = assign_lanes(sessions, now)
    start, end = window
    bands: list[tuple[str, QRectF]] = []
    bars: list[Bar] = []
    y = float(AXIS_HEIGHT)
    for name in band_names(instruments, sessions):
        height = band_height(name, sessions, lanes)
        bands.append((name, QRectF(0, y, width, height)))
        for s in sessions:
            if s.instrument != name or s.start is None:
                continue
            stop = s.end or now
            if stop < start or s.start > end:
                continue
            x0, x1 = x_of(s.start, window, width), x_of(stop, window, width)
            lane = lanes.get(s.session_identifier, 0)
            rect = QRectF(
                x0,
                y + BAND_PADDING + lane * LANE_HEIGHT + 2,
                max(2.0, x1 - x0),
                LANE_HEIGHT - 4,
            )
            bars.append(Bar(rect, s, s.session_identifier in overlapping))
        y += height
    return bands, bars


def ticks(zoom: Zoom, window: Window, zone: tzinfo) -> list[tuple[datetime, str]]:
    """The axis' marks and their labels: every 3 h of a day, each day of a week, each week
    of a month."""
    start, end = window
    out = []
    if zoom is Zoom.DAY:
        for hour in range(0, 24, 3):
            moment = start.replace(hour=hour)
            out.append((moment, moment.strftime("%H:%M")))
        return out
    day, step = start.date(), 1 if zoom is Zoom.WEEK else 7
    fmt = "%a %d" if zoom is Zoom.WEEK else "%d %b"
    while True:
        moment = datetime(day.year, day.month, day.day, tzinfo=zone)
        if moment >= end:
            return out
        out.append((moment, moment.strftime(fmt)))
        day += timedelta(days=step)


def legend_items(fm: QFontMetrics, width: int, top: int) -> list[tuple[tuple[int, int], str, str]]:
    """Where each status of the legend goes: rows of ``LEGEND_HEIGHT`` from ``top``, wrapped
    onto as many rows as ``width`` needs."""
    out, x, y = [], 6, top
    for status, hex_color in STATUS_COLORS.items():
        item_width = 14 + fm.horizontalAdvance(status) + 12
        if x > 6 and x + item_width > width:
            x, y = 6, y + LEGEND_HEIGHT - 4
        out.append(((x, y), status, hex_color))
        x += item_width
    return out


def legend_height(fm: QFontMetrics, width: int) -> int:
    """The height of the legend's rows at ``width``."""
    rows = {y for (_x, y), _s, _c in legend_items(fm, width, 0)}
    return len(rows) * (LEGEND_HEIGHT - 4) + 4
