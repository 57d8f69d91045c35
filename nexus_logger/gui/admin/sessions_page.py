"""The Admin tab's Sessions page: one row per session, loaded a page at a time for the
filter bar's query, with a status line and the selected session's detail panel under it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QLabel, QSplitter, QVBoxLayout, QWidget

from nexus_logger.core import timestamps
from nexus_logger.core.staff import summaries
from nexus_logger.core.staff.problems import Problem
from nexus_logger.gui import text
from nexus_logger.gui.admin.context import TabContext
from nexus_logger.gui.admin.detail_panel import DetailPanel
from nexus_logger.gui.admin.filter_bar import FilterBar
from nexus_logger.gui.admin.messages import MessageLines
from nexus_logger.gui.admin.session_model import SessionTableModel
from nexus_logger.gui.admin.table_view import fit_columns, make_table_view
from nexus_logger.gui.worker import JobError

#: The widest the list's user column is made to fit its names (a person may drag it wider; a
#: longer name ends in "..." there, whole in its tooltip and in the rows under the list): with
#: it, instrument, status, user, start and end show whole in the 760 px window.
USER_WIDEST = 150


class SessionsPage(QWidget):
    """The sessions list and its detail; keeps the selection across reloads."""

    def __init__(
        self,
        parent: QWidget,
        context: TabContext,
        filter_bar: FilterBar,
        messages: MessageLines,
    ) -> None:
        super().__init__(parent)
        self._jobs = context.jobs
        self._database = context.database
        self._filter_bar = filter_bar
        self._messages = messages
        self.last_refresh: datetime | None = None
        self._selected_key: int | None = None  # START row id of the selected session
        #: The session to select once the list shows it (after "Show the session").
        self.select_after_load: str | None = None
        self._counts_wanted = [0]  # generation of the counts the filter bar wants
        self._page_wanted = [0]  # token of the page the list wants (read on the worker thread)
        split = QSplitter(Qt.Orientation.Vertical, self)
        self.model = SessionTableModel(self)
        self.sessions_view = make_table_view(self.model, split)
        header = self.sessions_view.horizontalHeader()
        header.setSortIndicator(self.model.column_of("start"), Qt.SortOrder.DescendingOrder)
        self.sessions_view.setSortingEnabled(True)
        # Sized again with the sort arrows' room: sized before, "Start" was drawn under its
        # arrow until rows came (and with no database, for good).
        self._fit_columns()
        split.addWidget(self.sessions_view)
        self.detail = DetailPanel(split, context)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.status_label = QLabel(self)
        lay.addWidget(self.status_label)
        self.model.page_requested.connect(self._load_page)
        self.model.rows_replaced.connect(self._restore_selection)
        self.model.rowsInserted.connect(lambda *_: self._after_rows_loaded())
        self.model.loading_changed.connect(lambda _b: self.update_status())
        self.sessions_view.selectionModel().selectionChanged.connect(self._session_selected)

    # -- the list -------------------------------------------------------------------------

    def list(self, query: summaries.SessionQuery) -> None:
        """List what ``query`` selects and count it per status."""
        if self.select_after_load is None:
            self.clear_detail()  # the session shown may not be in the new list
        self.model.set_query(query)
        self.load_counts(query)

    def _fit_columns(self) -> None:
        # The user column at most USER_WIDEST: one long name (or a START/END mismatch, "a /
        # END: b") pushed the end of every session behind the scroll bar.
        fit_columns(self.sessions_view, {self.model.column_of("user"): USER_WIDEST})

    def mark_problems(self, by_session: dict[str, list[Problem]]) -> None:
        """Mark the sessions that have problems; the marks widen the instrument column."""
        self.model.set_problems(by_session)
        self._fit_columns()

    def _load_page(
        self, query: summaries.SessionQuery, offset: int, limit: int, token: int
    ) -> None:
        def failed(error: JobError) -> None:
            self.model.page_failed(token)
            self._messages.show_error(error)

        def done(rows: list[summaries.SessionSummary] | None) -> None:
            if rows is None:
                return  # skipped: the filters changed before the query ran
            self._messages.clear_error()
            self.model.add_page(token, offset, limit, rows)
            if rows and offset == 0:  # the first rows of a new list
                self._fit_columns()

        wanted = self._page_wanted
        wanted[0] = token
        database = self._database

        def run() -> list[summaries.SessionSummary] | None:
            if wanted[0] != token:
                return None  # a newer request is queued; do not spend a query on this one
            return summaries.query_sessions(query, offset=offset, limit=limit, engine=database)

        self._jobs.submit(run, on_done=done, on_error=failed)

    def load_counts(self, query: summaries.SessionQuery) -> None:
        """Counts per status under the other filters."""
        wanted = self._counts_wanted
        wanted[0] += 1
        generation = wanted[0]
        database = self._database

        def run() -> dict[str, int] | None:
            if wanted[0] != generation:
                return None  # newer filters are queued
            return summaries.count_by_status(query, engine=database)

        self._jobs.submit(run, on_done=self._counts_loaded)

    def _counts_loaded(self, counts: dict[str, int] | None) -> None:
        if counts is None:
            return
        self._filter_bar.show_counts(counts)
        self.update_status()

    @property
    def matching(self) -> int | None:
        """How many sessions the current filters select (None until counted)."""
        if not self._filter_bar.counts:
            return None
        query = self.model.query
        return summaries.matching_count(self._filter_bar.counts, query.statuses if query else None)

    def update_status(self) -> None:
        """Say how many sessions are shown, of how many, and when they were loaded."""
        shown = self.model.rowCount()
        matching = self.matching
        words = f"Showing {text.plural(shown, 'session')}"
        if matching is not None:
            words += f" of {matching} matching"
        if self.model.loading:
            words += " \u2013 loading\u2026"
        elif self.model.canFetchMore():
            words += " \u2013 scroll down for more"
        if self.last_refresh is not None:
            # With this PC's zone: the times in the list are in each instrument's.
            clock = timestamps.on_this_pc(self.last_refresh).split(" ", 1)[1]
            words += f". Updated {clock}."
        self.status_label.setText(words)

    # -- selection ------------------------------------------------------------------------

    def selected_summary(self) -> summaries.SessionSummary | None:
        """The session selected in the list."""
        rows = self.sessions_view.selectionModel().selectedRows()
        return self.model.summary(rows[0].row()) if rows else None

    def _session_selected(self, *_args: Any) -> None:
        summary = self.selected_summary()
        if summary is None:
            return
        self._selected_key = summary.start_id
        if summary.session_identifier != self.detail.session_identifier:
            self.detail.load(summary.session_identifier)
        self.detail.show_note(summary.note)

    def select_row(self, row: int) -> None:
        """Select ``row`` of the list (and show its detail)."""
        index = self.model.index(row, 0)
        self.sessions_view.selectionModel().select(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        self.sessions_view.scrollTo(index)

    def _restore_selection(self) -> None:
        if self.select_after_load:
            self._after_rows_loaded()
            return
        if self._selected_key is None:
            return
        row = self.model.row_of(self._selected_key)
        if row >= 0 and not self.sessions_view.selectionModel().isRowSelected(row):
            self.select_row(row)

    def _after_rows_loaded(self) -> None:
        self.update_status()
        target = self.select_after_load
        if not target:
            return
        for row, summary in enumerate(self.model.summaries()):
            if summary.session_identifier == target:
                self.select_after_load = None
                self.select_row(row)
                return

    def show_detail_of(self, session_identifier: str) -> None:
        """Show a session's detail at once and select it when the list shows it."""
        self.select_after_load = session_identifier
        self.detail.load(session_identifier)

    def clear_detail(self) -> None:
        """Select nothing and show no detail."""
        self._selected_key = None
        self.detail.clear()
