"""Table models of the Admin tab: thin adapters over the core's objects, and the colours and
formats every page shares.

Each model only turns core objects (``SessionEvent``, ``Problem``, ``AuditEntry``) into cells
and none touches the database; the sessions list has a paged model of its own
(``session_model.py``).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from nexus_logger.core import timestamps
from nexus_logger.core.durations import duration_parts
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff.admin_actions import AuditEntry
from nexus_logger.core.staff.problems import Problem
from nexus_logger.core.staff.summaries import SessionEvent

Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()

#: One colour per status, used by the list, the detail and the timeline (always with the word).
STATUS_COLORS: dict[str, str] = {
    RecordStatus.WAITING_FOR_END.value: "#1d5a8c",  # running: blue
    RecordStatus.TO_BE_BUILT.value: "#d08a00",  # pending: amber
    RecordStatus.COMPLETED.value: "#1e7b3c",  # done: green
    RecordStatus.BUILT_NOT_EXPORTED.value: "#4f9d8f",  # teal
    RecordStatus.ERROR.value: "#b3261e",  # red
    RecordStatus.NO_FILES_FOUND.value: "#8a4b2a",  # brown
    RecordStatus.NO_CONSENT.value: "#7d7d7d",  # grey
    RecordStatus.NO_RESERVATION.value: "#7b4fa0",  # purple
}
UNKNOWN_STATUS_COLOR = "#444444"


def status_color(status: str) -> QColor:
    """The colour of a status (dark grey for text outside the eight)."""
    return QColor(STATUS_COLORS.get(status, UNKNOWN_STATUS_COLOR))


def format_time(value: datetime | None, tz_name: str | None, *, seconds: bool = False) -> str:
    """A time in the instrument's zone with the zone's abbreviation: ``2025-01-06 08:05 EST``."""
    if value is None:
        return ""
    local = _as_shown(value, tz_name)
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    abbrev = local.tzname() or ""
    return f"{text} {abbrev}".strip()


def format_end(
    start: datetime | None, end: datetime | None, tz_name: str | None, *, with_date: bool = False
) -> str:
    """The end as :func:`format_time` gives it, without the date when it is the start's day
    as the two are shown (``12:58 EDT``): most sessions end the day they start, and the
    column is narrower. ``with_date``: always with it (a list sorted by its end)."""
    if end is None or start is None or with_date:
        return format_time(end, tz_name)
    shown = _as_shown(end, tz_name)
    if _as_shown(start, tz_name).date() != shown.date():
        return format_time(end, tz_name)
    return f"{shown:%H:%M} {shown.tzname() or ''}".strip()


def _as_shown(value: datetime, tz_name: str | None) -> datetime:
    """``value`` in the instrument's zone; without a zone, in the offset it was stored with."""
    return value.astimezone(timestamps.zone(tz_name)) if tz_name else value


def format_duration(seconds: float | None) -> str:
    """``45 min``, ``1 h 05 min``, ``3 d 4 h 10 min``: units named, never a bare ``0:01``.

    To the nearest minute, as the window's ended page and the CLI round (1 min 59.7 s is
    ``2 min`` there and here, not ``1 min``).
    """
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    days, hours, minutes, _secs = duration_parts(round(abs(seconds) / 60) * 60)
    if days:
        return f"{sign}{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min"


def align_right() -> int:
    """How numbers, times and durations sit in a cell."""
    return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class ListModel(QAbstractTableModel):
    """A read-only table over a list of objects; subclasses say what each cell shows."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation == Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.HEADERS)
        ):
            return self.HEADERS[section]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def item(self, row: int) -> Any:
        """The core object shown in ``row`` (None outside the table)."""
        return self._items[row] if 0 <= row < len(self._items) else None

    def items(self) -> list[Any]:
        """A copy of every object shown."""
        return list(self._items)

    def set_items(self, items: Sequence[Any]) -> None:
        """Show ``items`` instead of the current ones."""
        self.beginResetModel()
        self._items = list(items)
        self.endResetModel()

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._items)):
            return None
        if not (0 <= index.column() < len(self.HEADERS)):
            return None
        obj = self._items[index.row()]
        if role == Qt.ItemDataRole.UserRole:
            return obj
        return self.cell(obj, index.column(), role)

    def cell(self, obj: Any, column: int, role: int) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------------------------
# Detail, problems, audit


class EventsTableModel(ListModel):
    """The rows of one session exactly as stored, with the time in the instrument's zone.

    The user comes third: it is what staff compare between START and END before fixing a
    mismatch, and the stored timestamp (the widest column) last, so that in the 760 px
    window it is the one behind the horizontal scroll bar.
    """

    ROW, EVENT, USER, TIME, STATUS, STORED = range(6)
    HEADERS = ("Row", "Event", "User", "Time (instrument zone)", "Status", "Stored timestamp")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.zones: dict[str, str] = {}

    def cell(self, e: SessionEvent, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.ROW:
                return str(e.id_session_log)
            if column == self.EVENT:
                return e.event_type
            if column == self.USER:
                return e.user or ""
            if column == self.TIME:
                if e.timestamp is None:
                    return "unreadable"
                text = format_time(e.timestamp, self.zones.get(e.instrument), seconds=True)
                return text + (" (no zone stored)" if e.naive else "")
            if column == self.STATUS:
                return e.record_status
            if column == self.STORED:
                return e.timestamp_text
        if role == Qt.ItemDataRole.DecorationRole and column == self.STATUS:
            return status_color(e.record_status)
        if role == Qt.ItemDataRole.ToolTipRole and column == self.TIME:
            return f"Instrument {e.instrument}, zone {self.zones.get(e.instrument, 'unknown')}"
        return None


class ProblemsTableModel(ListModel):
    """Problems, most harmful first. The instrument comes before the session's identifier:
    in a narrow window it is the identifier that needs the horizontal scroll bar."""

    HEADERS = ("Stops build", "Problem", "Instrument", "Session", "Rows")

    def cell(self, p: Problem, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return "YES" if p.blocks_build else ""
            if column == 1:
                return p.title
            if column == 2:
                return p.instrument or ""
            if column == 3:
                return p.session_identifier
            if column == 4:
                return ", ".join(map(str, p.row_ids))
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{p.explanation}\n\nWhat to do: {p.action}"
        if role == Qt.ItemDataRole.ForegroundRole and column == 0 and p.blocks_build:
            return QColor("#b3261e")
        return None


class AuditTableModel(ListModel):
    """What administrators did, newest first."""

    HEADERS = ("When", "Who (OS login)", "Database account", "PC", "Action", "Session", "What")

    def cell(self, a: AuditEntry, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                # On this PC's clock, which says which (the other times here are on the
                # instruments' clocks and say theirs).
                return timestamps.on_this_pc(a.at) if a.at else "(unreadable)"
            if column == 1:
                return a.login
            if column == 2:
                return a.db_account or "(none: file)"
            if column == 3:
                return a.hostname or ""
            if column == 4:
                return a.action
            if column == 5:
                return a.session_identifier
            if column == 6:
                return a.summary
        if role == Qt.ItemDataRole.ToolTipRole and column == 6:
            # Rich text, so that Qt wraps it to the screen (plain text made one line as wide
            # as the longest summary).
            return "<qt>" + html.escape(audit_details(a)).replace("\n", "<br>") + "</qt>"
        return None


def audit_details(a: AuditEntry) -> str:
    """What an admin action changed, in plain text: its summary, then the rows before and
    after (the Audit page's tooltip, and the field under the list for the keyboard)."""
    before = "\n".join(_row_text(r) for r in a.before) or "(none)"
    after = "\n".join(_row_text(r) for r in a.after) or "(none)"
    return f"{a.summary}\n\nBefore:\n{before}\n\nAfter:\n{after}"


def _row_text(row: dict[str, Any]) -> str:
    return (
        f"row {row.get('id_session_log')} {row.get('event_type')} {row.get('timestamp')} "
        f"{row.get('record_status')} user={row.get('user')!r}"
    )
