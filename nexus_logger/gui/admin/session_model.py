"""The Admin tab's sessions model: one row per session, loaded a page at a time.

It never touches the database: it asks for pages through :attr:`SessionTableModel.page_requested`
and the Sessions page answers from the database worker, so the view never waits on a query.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QAbstractTableModel, Qt, Signal
from PySide6.QtGui import QColor

from nexus_logger.core.staff.problems import Problem
from nexus_logger.core.staff.summaries import SessionQuery, SessionSummary
from nexus_logger.gui.admin.models import ROOT, Index, align_right, status_color
from nexus_logger.gui.admin.session_cells import cell_text, cell_tooltip


class SessionTableModel(QAbstractTableModel):
    """One row per session, loaded a page at a time as the view scrolls (``fetchMore``).

    The model never queries: it emits :attr:`page_requested` ``(query, offset, limit, token)``
    and the owner answers with :meth:`add_page` (or :meth:`page_failed`) carrying the same
    token. A new query or a refresh changes the token, so a late answer to an old request is
    dropped. Sorting (``sort``) becomes a new query, done by the database.
    """

    #: (column key, header) in display order; the keys are ``summaries.SORT_KEYS``. What staff
    #: look for first comes first: at the window's 760 px, instrument to end show whole and
    #: the rest is a scroll away.
    COLUMNS: tuple[tuple[str, str], ...] = (
        ("instrument", "Instrument"),
        ("status", "Status"),
        ("user", "User"),
        ("start", "Start"),
        ("end", "End"),
        ("duration", "Duration"),
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

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = ROOT) -> int:
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
            by_end = self._query is not None and self._query.sort == "end"
            return cell_text(s, key, self._problems, self.now, end_with_date=by_end)
        if role == Qt.ItemDataRole.ToolTipRole:
            return cell_tooltip(s, key, self._problems)
        if role == Qt.ItemDataRole.DecorationRole:
            if key == "status":
                return status_color(s.status)
            return None
        if role == Qt.ItemDataRole.TextAlignmentRole and key in (
            "duration",
            "record_generation_events",
        ):
            return align_right()
        if role == Qt.ItemDataRole.ForegroundRole and key == "instrument":
            if s.session_identifier in self._problems:
                return QColor("#b3261e")
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not (0 <= column < len(self.COLUMNS)) or self._query is None:
            return
        query = self._query.with_(
            sort=self.COLUMNS[column][0], descending=order == Qt.SortOrder.DescendingOrder
        )
        if query != self._query:
            self.set_query(query)

    def canFetchMore(self, parent: Index = ROOT) -> bool:
        if parent.isValid() or self._query is None:
            return False
        return not self._exhausted and self._pending is None

    def fetchMore(self, parent: Index = ROOT) -> None:
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
            self.beginInsertRows(ROOT, first, first + len(rows) - 1)
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
