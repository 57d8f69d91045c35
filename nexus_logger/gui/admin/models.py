"""Table models of the Admin tab: thin adapters over the core's objects.

Each model only turns core objects (``SessionSummary``, ``SessionEvent``, ``Problem``,
``AuditEntry``) into cells. None of them touches the database: the sessions model asks for
pages through its :attr:`SessionTableModel.page_requested` signal and the tab answers from the
database worker, so the view never waits on a query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from nexus_logger.core import timestamps
from nexus_logger.core.admin_actions import AuditEntry
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.problems import Problem
from nexus_logger.core.summaries import SessionEvent, SessionQuery, SessionSummary

Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()

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
    local = value.astimezone(timestamps.zone(tz_name)) if tz_name else value
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    abbrev = local.tzname() or ""
    return f"{text} {abbrev}".strip()


def format_duration(seconds: float | None) -> str:
    """``45 min``, ``1 h 05 min``, ``3 d 4 h 10 min``: units named, never a bare ``0:01``."""
    if seconds is None:
        return ""
    sign = "-" if seconds < 0 else ""
    minutes = int(abs(seconds) // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{sign}{days} d {hours} h {minutes:02d} min"
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min"


def _align_right() -> int:
    return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


class ListModel(QAbstractTableModel):
    """A read-only table over a list of objects; subclasses say what each cell shows."""

    HEADERS: tuple[str, ...] = ()

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._items: list[Any] = []

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._items)

    def columnCount(self, parent: Index = _ROOT) -> int:
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
# Sessions: lazy, paged


class SessionTableModel(QAbstractTableModel):
    """One row per session, loaded a page at a time as the view scrolls (``fetchMore``).

    The model never queries: it emits :attr:`page_requested` ``(query, offset, limit, token)``
    and the owner answers with :meth:`add_page` (or :meth:`page_failed`) carrying the same
    token. A new query or a refresh changes the token, so a late answer to an old request is
    dropped. Sorting (``sort``) becomes a new query, done by the database.
    """

    #: (column key, header) in display order; the keys are ``summaries.SORT_KEYS``.
    COLUMNS: tuple[tuple[str, str], ...] = (
        ("instrument", "Instrument"),
        ("user", "User"),
        ("start", "Start"),
        ("end", "End"),
        ("duration", "Duration"),
        ("status", "Status"),
        ("record_generation_events", "Record generations"),
        ("note", "Note"),
        ("session_identifier", "Session"),
    )

    page_requested = Signal(object, int, int, int)
    #: Emitted after a refresh replaced the rows (the owner restores the selection).
    rows_replaced = Signal()
    loading_changed = Signal(bool)

    def __init__(self, parent: Any = None, *, page_size: int = 200) -> None:
        super().__init__(parent)
        self.page_size = page_size
        self._rows: list[SessionSummary] = []
        self._query: SessionQuery | None = None
        self._token = 0
        self._pending: tuple[int, str] | None = None  # (token, "page" | "refresh")
        self._exhausted = True
        self._problems: dict[str, list[Problem]] = {}
        self.now = lambda: datetime.now(UTC)

    # -- Qt model API ---------------------------------------------------------------------

    def rowCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation != Qt.Orientation.Horizontal or not (0 <= section < len(self.COLUMNS)):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section][1]
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not (0 <= index.row() < len(self._rows)):
            return None
        if not (0 <= index.column() < len(self.COLUMNS)):
            return None
        s = self._rows[index.row()]
        key = self.COLUMNS[index.column()][0]
        if role == Qt.ItemDataRole.UserRole:
            return s
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(s, key)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(s, key)
        if role == Qt.ItemDataRole.DecorationRole:
            if key == "status":
                return status_color(s.status)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and key in (
            "duration",
            "record_generation_events",
        ):
            return _align_right()
        if role == Qt.ItemDataRole.ForegroundRole and key == "instrument":
            if s.session_identifier in self._problems:
                return QColor("#b3261e")
        return None

    def _display(self, s: SessionSummary, key: str) -> str:
        if key == "instrument":
            mark = "\u26a0 " if s.session_identifier in self._problems else ""
            return mark + s.instrument
        if key == "user":
            if s.end_user is not None and s.end_user != s.user and s.end is not None:
                return f"{s.user} / END: {s.end_user}"
            return s.user or ""
        if key == "start":
            return format_time(s.start, s.timezone) or (s.start_text or "")
        if key == "end":
            if s.end_text is None:
                return "open"
            return format_time(s.end, s.timezone) or s.end_text
        if key == "duration":
            text = format_duration(s.duration_seconds(self.now()))
            return f"{text} (running)" if s.is_open and text else text
        if key == "status":
            return s.status
        if key == "record_generation_events":
            return str(s.record_generation_events)
        if key == "note":
            return (s.note or "").replace("\n", " ")
        if key == "session_identifier":
            return s.session_identifier
        return ""

    def _tooltip(self, s: SessionSummary, key: str) -> str | None:
        if key == "start":
            return f"Stored: {s.start_text}"
        if key == "end" and s.end_text:
            return f"Stored: {s.end_text}"
        if key == "note" and s.note:
            return s.note
        if key == "instrument" and s.session_identifier in self._problems:
            return "\n".join(p.title for p in self._problems[s.session_identifier])
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not (0 <= column < len(self.COLUMNS)) or self._query is None:
            return
        query = self._query.with_(
            sort=self.COLUMNS[column][0], descending=order == Qt.SortOrder.DescendingOrder
        )
        if query != self._query:
            self.set_query(query)

    def canFetchMore(self, parent: Index = _ROOT) -> bool:
        if parent.isValid() or self._query is None:
            return False
        return not self._exhausted and self._pending is None

    def fetchMore(self, parent: Index = _ROOT) -> None:
        if parent.isValid() or not self.canFetchMore(parent):
            return
        self._request(len(self._rows), self.page_size, "page")

    # -- loading --------------------------------------------------------------------------

    @property
    def query(self) -> SessionQuery | None:
        return self._query

    @property
    def loading(self) -> bool:
        """True while a page or a refresh is being fetched."""
        return self._pending is not None

    def column_of(self, key: str) -> int:
        """The column showing ``key``."""
        return [k for k, _ in self.COLUMNS].index(key)

    def set_query(self, query: SessionQuery) -> None:
        """Show the sessions of ``query``: clears the rows and asks for the first page."""
        self.beginResetModel()
        self._query = query
        self._rows = []
        self._exhausted = False
        self.endResetModel()
        self._request(0, self.page_size, "page")

    def refresh(self) -> bool:
        """Reload as many rows as are shown (at least a page); False when busy."""
        if self._query is None or self._pending is not None:
            return False
        self._request(0, max(self.page_size, len(self._rows)), "refresh")
        return True

    def _request(self, offset: int, limit: int, kind: str) -> None:
        self._token += 1
        self._pending = (self._token, kind)
        self.loading_changed.emit(True)
        self.page_requested.emit(self._query, offset, limit, self._token)

    def add_page(self, token: int, offset: int, limit: int, rows: list[SessionSummary]) -> None:
        """The answer to :attr:`page_requested`; ignored when it is not the latest request."""
        if self._pending is None or self._pending[0] != token:
            return
        kind = self._pending[1]
        self._pending = None
        self._exhausted = len(rows) < limit
        if kind == "refresh":
            self._replace(rows)
        elif rows:
            first = len(self._rows)
            self.beginInsertRows(_ROOT, first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.loading_changed.emit(False)

    def page_failed(self, token: int) -> None:
        """The request ``token`` failed: stop loading (a refresh or a new query retries)."""
        if self._pending is not None and self._pending[0] == token:
            self._pending = None
            self._exhausted = True
            self.loading_changed.emit(False)

    def _replace(self, rows: list[SessionSummary]) -> None:
        same_keys = [r.start_id for r in rows] == [r.start_id for r in self._rows]
        if same_keys and rows:
            self._rows = rows
            self.dataChanged.emit(
                self.index(0, 0), self.index(len(rows) - 1, len(self.COLUMNS) - 1)
            )
        elif not same_keys:
            self.beginResetModel()
            self._rows = rows
            self.endResetModel()
        self.rows_replaced.emit()

    # -- helpers for the tab --------------------------------------------------------------

    def summary(self, row: int) -> SessionSummary | None:
        """The session in ``row``."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def summaries(self) -> list[SessionSummary]:
        """Every session loaded so far, in display order."""
        return list(self._rows)

    def row_of(self, start_id: int | None) -> int:
        """The row of the session whose START row id is ``start_id`` (-1 when not loaded)."""
        for i, s in enumerate(self._rows):
            if s.start_id == start_id:
                return i
        return -1

    def set_problems(self, problems: dict[str, list[Problem]]) -> None:
        """Mark sessions that have problems (a warning sign before the instrument)."""
        self._problems = problems
        if self._rows:
            col = self.column_of("instrument")
            self.dataChanged.emit(self.index(0, col), self.index(len(self._rows) - 1, col))

    def tick(self) -> None:
        """Repaint the live duration of open sessions."""
        open_rows = [i for i, s in enumerate(self._rows) if s.is_open]
        if open_rows:
            col = self.column_of("duration")
            self.dataChanged.emit(
                self.index(open_rows[0], col),
                self.index(open_rows[-1], col),
                [Qt.ItemDataRole.DisplayRole],
            )


# --------------------------------------------------------------------------------------------
# Detail, problems, audit


class EventsTableModel(ListModel):
    """The rows of one session exactly as stored, with the time in the instrument's zone."""

    HEADERS = ("Row", "Event", "Time (instrument zone)", "Stored timestamp", "Status", "User")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.zones: dict[str, str] = {}

    def cell(self, e: SessionEvent, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return str(e.id_session_log)
            if column == 1:
                return e.event_type
            if column == 2:
                if e.timestamp is None:
                    return "unreadable"
                text = format_time(e.timestamp, self.zones.get(e.instrument), seconds=True)
                return text + (" (no zone stored)" if e.naive else "")
            if column == 3:
                return e.timestamp_text
            if column == 4:
                return e.record_status
            if column == 5:
                return e.user or ""
        if role == Qt.ItemDataRole.DecorationRole and column == 4:
            return status_color(e.record_status)
        if role == Qt.ItemDataRole.ToolTipRole and column == 2:
            return f"Instrument {e.instrument}, zone {self.zones.get(e.instrument, 'unknown')}"
        return None


class ProblemsTableModel(ListModel):
    """Problems, most harmful first."""

    HEADERS = ("Stops build", "Problem", "Session", "Instrument", "Rows")

    def cell(self, p: Problem, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return "YES" if p.blocks_build else ""
            if column == 1:
                return p.title
            if column == 2:
                return p.session_identifier
            if column == 3:
                return p.instrument or ""
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
                return a.at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
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
            before = "\n".join(_row_text(r) for r in a.before) or "(none)"
            after = "\n".join(_row_text(r) for r in a.after) or "(none)"
            return f"{a.summary}\n\nBefore:\n{before}\n\nAfter:\n{after}"
        return None


def _row_text(row: dict[str, Any]) -> str:
    return (
        f"row {row.get('id_session_log')} {row.get('event_type')} {row.get('timestamp')} "
        f"{row.get('record_status')} user={row.get('user')!r}"
    )
