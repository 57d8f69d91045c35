"""The Admin tab: what NexusLIMS will build next, what it built, and what is stuck.

Four pages share one filter bar and one detail panel:

* **Sessions**: one row per session (default: TO_BE_BUILT), filters, counts per status,
  sortable columns, loaded a page at a time; selecting a session shows all its rows, the
  admin actions and, for a pending one, the files NexusLIMS would find (``files_panel.py``);
* **Problems**: everything ``nexus-logger check`` reports, with the affected rows;
* **Timeline**: bars per instrument over a day, a week or a month;
* **Audit**: what administrators changed.

Every query runs on the shared :class:`~nexus_logger.gui.worker.DbWorker`; the GUI thread only
formats results. An auto-refresh (``admin_refresh_seconds``) reloads what is shown and keeps
the selection. Everything that asks the person something is one method
(``ask_csv_path``, ``ask_end_time``, ``ask_user_name``, ``confirm_plan``) so tests replace it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QItemSelectionModel, QStandardPaths, Qt, QTimer
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from shiboken6 import isValid

from nexus_logger.core import admin_actions, fleet, privacy, problems, summaries, timestamps
from nexus_logger.core.config import Settings
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.schema import load_instruments
from nexus_logger.gui import text
from nexus_logger.gui.admin.end_time import EndTimeDialog
from nexus_logger.gui.admin.files_panel import FilesPanel
from nexus_logger.gui.admin.fleet import FleetPage
from nexus_logger.gui.admin.models import (
    AuditTableModel,
    EventsTableModel,
    ProblemsTableModel,
    SessionTableModel,
)
from nexus_logger.gui.admin.table_view import make_table_view
from nexus_logger.gui.admin.timeline import TimelineWidget, Zoom
from nexus_logger.gui.flow import flow_container
from nexus_logger.gui.worker import DbWorker, JobError

_logger = logging.getLogger(__name__)

DEFAULT_STATUS = RecordStatus.TO_BE_BUILT.value
_SEARCH_DELAY_MS = 300


def _without_people(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn`` on the worker and hide every name and note in what it returns."""
    return privacy.hide_people(fn(*args, **kwargs))


class AdminTab(QWidget):
    """Sessions pending build, their record-generation events, problems and admin actions."""

    def __init__(
        self, worker: DbWorker, database: str, settings: Settings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self.database = database
        self.settings = settings
        self.login = admin_actions.current_login()
        self.is_admin = admin_actions.is_administrator(self.login, settings.administrators)
        #: True when this viewer may not see who used an instrument: every result the tab
        #: loads then passes through core/privacy.py (``admin_tab_shows_people``).
        self.hide_people = not self.is_admin and not bool(
            getattr(settings, "admin_tab_shows_people", False)
        )
        self.zones: dict[str, str] = {}
        self._jobs = 0
        self._started = False
        self._refreshing = False
        self._selected_key: int | None = None  # START row id of the selected session
        self._select_after_load: str | None = None
        self._detail_sid: str | None = None
        self._detail_events: list[summaries.SessionEvent] = []
        self._counts: dict[str, int] = {}
        self._counts_wanted = [0]  # generation of the counts the filter bar wants
        self._page_wanted = [0]  # token of the page the list wants (read on the worker thread)
        self._when_idle: list[Callable[[], None]] = []
        self._columns_sized = False
        self._problem_columns_sized = False
        self.last_refresh: datetime | None = None
        self._build()
        self._connect()
        self._refresh_timer = QTimer(self)
        self._refresh_timer.timeout.connect(self.refresh)
        seconds = int(getattr(settings, "admin_refresh_seconds", 30) or 0)
        self._refresh_timer.setInterval(max(1, seconds) * 1000)
        self._auto_refresh = seconds > 0
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(1000)
        self._tick_timer.timeout.connect(self.model.tick)
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(_SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_filters)

    # ----------------------------------------------------------------------------------------
    # Building the widgets

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)

        # Filter bar
        bar = QHBoxLayout()
        self.status_combo = QComboBox(self)
        self.status_combo.addItem("All statuses", None)
        for status in RecordStatus:
            self.status_combo.addItem(status.value, status.value)
        self.status_combo.setCurrentIndex(self.status_combo.findData(DEFAULT_STATUS))
        self.instrument_combo = QComboBox(self)
        self.instrument_combo.addItem("All instruments", None)
        for combo in (self.status_combo, self.instrument_combo):
            # As wide as the longest entry: a cut "TO_BE_B" is no filter anyone can read.
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.dates_check = QCheckBox("Started between", self)
        self.dates_check.setToolTip(
            "Days as each instrument's own clock shows them (its time zone), both included"
        )
        today = QDate.currentDate()
        self.date_from = QDateEdit(today.addDays(-7), self)
        self.date_to = QDateEdit(today, self)
        for edit in (self.date_from, self.date_to):
            edit.setCalendarPopup(True)
            edit.setDisplayFormat("yyyy-MM-dd")
            edit.setEnabled(False)
        self.search_edit = QLineEdit(self)
        if self.hide_people:
            self.search_edit.setPlaceholderText("Search session, instrument\u2026")
            self.search_edit.setToolTip(
                "Find sessions whose identifier or instrument contains this"
            )
        else:
            self.search_edit.setPlaceholderText("Search user, session, note\u2026")
            self.search_edit.setToolTip(
                "Find sessions whose identifier, instrument, START or END user or note contains "
                "this"
            )
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumWidth(
            self.search_edit.fontMetrics().horizontalAdvance(self.search_edit.placeholderText())
            + 40
        )
        self.refresh_button = QPushButton("Refresh", self)
        self.export_button = QPushButton("Export CSV\u2026", self)
        self.export_button.setToolTip("Save the sessions of the current list (all pages) as CSV")
        # Two rows, so that the 760-pixel window of an instrument PC shows every filter whole.
        for w in (
            QLabel("Status:", self),
            self.status_combo,
            QLabel("Instrument:", self),
            self.instrument_combo,
        ):
            bar.addWidget(w)
        bar.addStretch(1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.export_button)
        outer.addLayout(bar)
        second = QHBoxLayout()
        for w in (self.dates_check, self.date_from, QLabel("and", self), self.date_to):
            second.addWidget(w)
        second.addWidget(self.search_edit, 1)
        outer.addLayout(second)

        # Counts per status (clicking one filters on it); they wrap in a narrow window.
        counts_box, counts = flow_container(self)
        self.count_buttons: dict[str | None, QToolButton] = {}
        for status in [None, *[s.value for s in RecordStatus]]:
            button = QToolButton(self)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setProperty("status", status)
            button.clicked.connect(lambda _checked=False, s=status: self.set_status_filter(s))
            self.count_buttons[status] = button
            counts.addWidget(button)
        self.busy_label = QLabel("Loading\u2026", self)
        self.busy_label.setVisible(False)
        counts.addWidget(self.busy_label)
        outer.addWidget(counts_box)
        self._update_count_buttons()

        # Messages
        self.blocking_label = QLabel(self)
        self.blocking_label.setWordWrap(True)
        self.blocking_label.setStyleSheet("color: #b3261e; font-weight: bold;")
        self.blocking_label.setVisible(False)
        self.error_label = QLabel(self)
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        self.error_label.setVisible(False)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readonly_label = QLabel(self)
        self.readonly_label.setWordWrap(True)
        if not self.is_admin:
            who = self.login or "This account"
            self.readonly_label.setText(
                f"Read-only: {who} is not listed in 'administrators' in the config file, so the "
                "admin actions are not available."
            )
        self.readonly_label.setVisible(not self.is_admin)
        # The bridge to NexusLIMS's file (PostgreSQL only: NexusLIMS reads only SQLite)
        self.bridge_label = QLabel(self)
        self.bridge_label.setWordWrap(True)
        self.bridge_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.bridge_label.setVisible(False)
        self.trail_label = QLabel(self)
        self.trail_label.setWordWrap(True)
        self.trail_label.setStyleSheet("color: #b3261e; font-weight: bold;")
        self.trail_label.setVisible(False)

        # Pages
        self.pages = QTabWidget(self)
        outer.addWidget(self.pages, 1)
        # Messages come under the pages: one appearing never moves the page tabs or the list
        # under the mouse (the read-only note is there from the start, so it stays on top).
        outer.insertWidget(outer.indexOf(self.pages), self.readonly_label)
        for label in (self.blocking_label, self.trail_label, self.error_label, self.bridge_label):
            outer.addWidget(label)

        sessions_page = QWidget(self)
        split = QSplitter(Qt.Orientation.Vertical, sessions_page)
        self.model = SessionTableModel(self)
        self.sessions_view = make_table_view(self.model, split)
        header = self.sessions_view.horizontalHeader()
        header.setSortIndicator(self.model.column_of("start"), Qt.SortOrder.DescendingOrder)
        self.sessions_view.setSortingEnabled(True)
        split.addWidget(self.sessions_view)
        split.addWidget(self._build_detail(split))
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(sessions_page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split)
        self.status_label = QLabel(sessions_page)
        lay.addWidget(self.status_label)
        self.pages.addTab(sessions_page, "Sessions")

        self.pages.addTab(self._build_problems(), "Problems")
        self.pages.addTab(self._build_timeline(), "Timeline")
        self.pages.addTab(self._build_audit(), "Audit")
        self.fleet_page = FleetPage(self)
        self.pages.addTab(self.fleet_page, "Fleet")

    def _build_detail(self, parent: QWidget) -> QWidget:
        box = QWidget(parent)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 4, 0, 0)
        self.detail_title = QLabel("Select a session to see all its rows.", box)
        self.detail_title.setWordWrap(True)
        self.detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.detail_title)
        self.files_panel = FilesPanel(self.settings, box, hide_names=self.hide_people)
        lay.addWidget(self.files_panel)
        self.events_model = EventsTableModel(self)
        self.events_view = make_table_view(self.events_model, box)
        lay.addWidget(self.events_view, 1)
        buttons = QHBoxLayout()
        self.force_end_button = QPushButton("Force end\u2026", box)
        self.requeue_button = QPushButton("Re-queue\u2026", box)
        self.fix_user_button = QPushButton("Fix user mismatch\u2026", box)
        for button in (self.force_end_button, self.requeue_button, self.fix_user_button):
            button.setEnabled(False)
            if not self.is_admin:
                button.setToolTip("Only administrators (listed in the config file) can do this.")
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.action_label = QLabel(box)
        self.action_label.setWordWrap(True)
        buttons.addWidget(self.action_label, 2)
        lay.addLayout(buttons)
        return box

    def _build_problems(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        self.problems_model = ProblemsTableModel(self)
        self.problems_view = make_table_view(self.problems_model, page)
        lay.addWidget(self.problems_view, 3)
        self.problem_text = QLabel("Looking for problems\u2026", page)
        self.problem_text.setWordWrap(True)
        self.problem_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.problem_text, 1)
        row = QHBoxLayout()
        self.show_problem_button = QPushButton("Show the session", page)
        self.show_problem_button.setEnabled(False)
        row.addWidget(self.show_problem_button)
        row.addStretch(1)
        lay.addLayout(row)
        return page

    def _build_timeline(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        row = QHBoxLayout()
        self.zoom_group = QButtonGroup(page)
        self.zoom_buttons: dict[Zoom, QToolButton] = {}
        for zoom, name in ((Zoom.DAY, "Day"), (Zoom.WEEK, "Week"), (Zoom.MONTH, "Month")):
            button = QToolButton(page)
            button.setText(name)
            button.setCheckable(True)
            self.zoom_group.addButton(button)
            self.zoom_buttons[zoom] = button
            row.addWidget(button)
        self.zoom_buttons[Zoom.WEEK].setChecked(True)
        self.earlier_button = QToolButton(page)
        self.earlier_button.setText("\u25c0 Previous")
        self.now_button = QToolButton(page)
        self.now_button.setText("Today")
        self.later_button = QToolButton(page)
        self.later_button.setText("Next \u25b6")
        for b in (self.earlier_button, self.now_button, self.later_button):
            row.addWidget(b)
        row.addStretch(1)
        lay.addLayout(row)
        self.window_label = QLabel(page)
        self.window_label.setWordWrap(True)
        lay.addWidget(self.window_label)
        self.timeline = TimelineWidget(page)
        scroll = QScrollArea(page)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.timeline)
        lay.addWidget(scroll, 1)
        self._update_window_label()
        return page

    def _build_audit(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        self.audit_model = AuditTableModel(self)
        self.audit_view = make_table_view(self.audit_model, page)
        lay.addWidget(self.audit_view)
        self.audit_note = QLabel("Loading\u2026", page)
        self.audit_note.setWordWrap(True)
        lay.addWidget(self.audit_note)
        self.audit_model.modelReset.connect(self._audit_loaded)
        return page

    def _audit_loaded(self) -> None:
        count = self.audit_model.rowCount()
        self.audit_note.setText(
            f"The newest {text.plural(count, 'admin action')}, newest first; hover over a row "
            "for the rows as they were before and after."
            if count
            else "No admin action has been recorded in this database yet: force-end, re-queue "
            "and fix-user each add a line here."
        )

    def _connect(self) -> None:
        self.status_combo.currentIndexChanged.connect(self.apply_filters)
        self.instrument_combo.currentIndexChanged.connect(self.apply_filters)
        self.dates_check.toggled.connect(self._dates_toggled)
        self.date_from.dateChanged.connect(self.apply_filters)
        self.date_to.dateChanged.connect(self.apply_filters)
        self.search_edit.textChanged.connect(lambda _t: self._search_timer.start())
        self.search_edit.returnPressed.connect(self.apply_filters)
        self.refresh_button.clicked.connect(self.refresh)
        self.export_button.clicked.connect(self.export_csv)
        self.model.page_requested.connect(self._load_page)
        self.model.rows_replaced.connect(self._restore_selection)
        self.model.rowsInserted.connect(lambda *_: self._after_rows_loaded())
        self.model.loading_changed.connect(lambda _b: self._update_status())
        self.sessions_view.selectionModel().selectionChanged.connect(self._session_selected)
        self.force_end_button.clicked.connect(self.force_end_selected)
        self.requeue_button.clicked.connect(self.requeue_selected)
        self.fix_user_button.clicked.connect(self.fix_user_selected)
        self.problems_view.selectionModel().selectionChanged.connect(self._problem_selected)
        self.show_problem_button.clicked.connect(self._show_problem_session)
        self.problems_view.doubleClicked.connect(lambda _i: self._show_problem_session())
        for zoom, button in self.zoom_buttons.items():
            button.clicked.connect(lambda _c=False, z=zoom: self.timeline.set_zoom(z))
        self.earlier_button.clicked.connect(lambda: self.timeline.step(-1))
        self.later_button.clicked.connect(lambda: self.timeline.step(1))
        self.now_button.clicked.connect(self.timeline.go_now)
        self.timeline.window_changed.connect(self._timeline_window_changed)
        self.timeline.session_clicked.connect(self.show_session)
        self.pages.currentChanged.connect(self._page_changed)

    # ----------------------------------------------------------------------------------------
    # Start, refresh, timers

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self.start()
        if self._auto_refresh:
            self._refresh_timer.start()
        self._tick_timer.start()

    def hideEvent(self, event: Any) -> None:
        self._refresh_timer.stop()
        self._tick_timer.stop()
        super().hideEvent(event)

    def start(self) -> None:
        """First load: instruments, the default list, counts, problems."""
        if self._started:
            return
        self._started = True
        self._submit(load_instruments, self.database, on_done=self._instruments_loaded)
        self.apply_filters()
        self.load_bridge_status()
        self._after_idle(self.load_problems)

    def refresh(self) -> None:
        """Reload what is shown, keeping the selection (also run by the auto-refresh timer)."""
        if not self._started:
            self.start()
            return
        if self._refreshing:
            return  # the previous refresh is still running; do not pile them up
        self._refreshing = True
        if not self.model.refresh():
            if self.model.query is None:
                self.apply_filters()
        self.load_counts()
        self.load_bridge_status()
        self.files_panel.recount()
        self._reload_detail()
        page = self.pages.currentIndex()
        if page == 2:
            self.load_timeline()
        elif page == 3:
            self.load_audit()
        elif page == self.pages.indexOf(self.fleet_page):
            self.load_fleet()

        def then_problems() -> None:
            self.load_problems()
            self._after_idle(self._refresh_done)

        self._after_idle(then_problems)

    def _refresh_done(self) -> None:
        self._refreshing = False
        self.last_refresh = datetime.now(UTC)
        self._update_status()

    @property
    def busy(self) -> bool:
        """True while any query of this tab is running or queued."""
        return self._jobs > 0

    def _submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        on_error: Callable[[JobError], None] | None = None,
        **kwargs: Any,
    ) -> None:
        self._jobs += 1
        self.busy_label.setVisible(True)

        def finish() -> bool:
            if not isValid(self):
                return False  # the tab was closed while the job ran
            self._jobs -= 1
            self.busy_label.setVisible(self._jobs > 0)
            return True

        def done(result: Any) -> None:
            if finish():
                on_done(result)
                self._run_when_idle()

        def failed(error: JobError) -> None:
            if finish():
                (on_error or self.show_error)(error)
                self._run_when_idle()

        if self.hide_people:
            self.worker.submit(_without_people, fn, *args, on_done=done, on_error=failed, **kwargs)
        else:
            self.worker.submit(fn, *args, on_done=done, on_error=failed, **kwargs)

    def _after_idle(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` once every query of this tab has answered (at once if none is queued).

        The slow whole-table scans (problems) wait here, so that the list and its counts,
        which the person is looking at, are never queued behind them.
        """
        if self._jobs == 0:
            fn()
        else:
            self._when_idle.append(fn)

    def _run_when_idle(self) -> None:
        while self._jobs == 0 and self._when_idle:
            self._when_idle.pop(0)()

    def show_error(self, error: JobError | str) -> None:
        """Show a problem in the red line at the top (never a modal box)."""
        text = error if isinstance(error, str) else error.message
        self.error_label.setText(text)
        self.error_label.setVisible(bool(text))

    def _clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.setVisible(False)

    @property
    def on_postgres(self) -> bool:
        """True when the tab shows a PostgreSQL database (which needs the bridge)."""
        return self.database.lower().startswith(("postgresql", "postgres:"))

    def load_bridge_status(self) -> None:
        """The bridge's last run, what waits each way and its last error (PostgreSQL only)."""
        if not self.on_postgres:
            return
        from nexus_logger.core.bridge_status import read_status

        self._submit(
            read_status,
            self.database,
            on_done=self._bridge_loaded,
            on_error=lambda error: self._bridge_loaded(None, error.message),
        )

    def _bridge_loaded(self, status: Any, error: str | None = None) -> None:
        if error is not None:
            text, bad = f"Bridge to NexusLIMS: its status cannot be read ({error})", True
        elif status is None:
            self.bridge_label.setVisible(False)
            return
        else:
            text = "Bridge to NexusLIMS: " + "\n".join(status.lines())
            bad = status.error_is_current() or bool(status.open_conflicts) or not status.ever_ran
        self.bridge_label.setText(text)
        self.bridge_label.setStyleSheet("color: #b3261e;" if bad else "")
        self.bridge_label.setVisible(True)

    def _instruments_loaded(self, instruments: dict[str, Any]) -> None:
        self.zones = {pid: inst.timezone for pid, inst in instruments.items()}
        self.events_model.zones = self.zones
        self.files_panel.instruments = instruments
        current = self.instrument_combo.currentData()
        self.instrument_combo.blockSignals(True)
        self.instrument_combo.clear()
        self.instrument_combo.addItem("All instruments", None)
        for pid, inst in instruments.items():
            self.instrument_combo.addItem(f"{pid} ({inst.display_name})", pid)
        index = self.instrument_combo.findData(current)
        self.instrument_combo.setCurrentIndex(max(0, index))
        self.instrument_combo.blockSignals(False)
        self.timeline.set_instruments(list(instruments))
        # One clock for every band: the instruments' own when they share a zone.
        zones = {inst.timezone for inst in instruments.values() if inst.timezone}
        if len(zones) == 1:
            (name,) = zones
            self.timeline.set_zone(timestamps.zone(name), name)

    # ----------------------------------------------------------------------------------------
    # Filters and the sessions list

    def current_query(self) -> summaries.SessionQuery:
        """The query the filter bar and the sort order describe."""
        status = self.status_combo.currentData()
        date_from = date_to = None
        if self.dates_check.isChecked():
            date_from = self.date_from.date().toPython()
            date_to = self.date_to.date().toPython()
            if date_from > date_to:
                date_from, date_to = date_to, date_from
        old = self.model.query
        return summaries.SessionQuery(
            statuses=frozenset({status}) if status else None,
            instrument=self.instrument_combo.currentData(),
            date_from=date_from,
            date_to=date_to,
            text=self.search_edit.text().strip() or None,
            sort=old.sort if old else "start",
            descending=old.descending if old else True,
            people=not self.hide_people,
        )

    def _dates_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self.apply_filters()

    def set_status_filter(self, status: str | None) -> None:
        """Show one status (None: all), as clicking its count does."""
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(status)))
        self._update_count_buttons()

    def apply_filters(self) -> None:
        """Reload the list and the counts for the filter bar's current values."""
        self._search_timer.stop()
        if self._select_after_load is None:
            self._clear_detail()  # the session shown may not be in the new list
        self.model.set_query(self.current_query())
        self.load_counts()
        self._update_count_buttons()

    def _load_page(
        self, query: summaries.SessionQuery, offset: int, limit: int, token: int
    ) -> None:
        def failed(error: JobError) -> None:
            self.model.page_failed(token)
            self.show_error(error)

        def done(rows: list[summaries.SessionSummary] | None) -> None:
            if rows is None:
                return  # skipped: the filters changed before the query ran
            self._clear_error()
            self.model.add_page(token, offset, limit, rows)
            if rows and not self._columns_sized:
                self._columns_sized = True
                self.sessions_view.resizeColumnsToContents()

        wanted = self._page_wanted
        wanted[0] = token
        database = self.database

        def run() -> list[summaries.SessionSummary] | None:
            if wanted[0] != token:
                return None  # a newer request is queued; do not spend a query on this one
            return summaries.query_sessions(query, offset=offset, limit=limit, engine=database)

        self._submit(run, on_done=done, on_error=failed)

    def load_counts(self) -> None:
        """Counts per status under the other filters."""
        query = self.current_query()
        wanted = self._counts_wanted
        wanted[0] += 1
        generation = wanted[0]
        database = self.database

        def run() -> dict[str, int] | None:
            if wanted[0] != generation:
                return None  # newer filters are queued
            return summaries.count_by_status(query, engine=database)

        self._submit(run, on_done=self._counts_loaded)

    def _counts_loaded(self, counts: dict[str, int] | None) -> None:
        if counts is None:
            return
        self._counts = counts
        self._update_count_buttons()
        self._update_status()

    def _update_count_buttons(self) -> None:
        current = self.status_combo.currentData()
        total = sum(self._counts.values()) if self._counts else None
        for status, button in self.count_buttons.items():
            n = total if status is None else self._counts.get(status) if self._counts else None
            label = "All" if status is None else status
            button.setText(f"{label}: {n}" if n is not None else label)
            button.setChecked(status == current)

    @property
    def matching(self) -> int | None:
        """How many sessions the current filters select (None until counted)."""
        if not self._counts:
            return None
        query = self.model.query
        return summaries.matching_count(self._counts, query.statuses if query else None)

    def _update_status(self) -> None:
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
            words += f". Updated {self.last_refresh.astimezone().strftime('%H:%M:%S')}."
        self.status_label.setText(words)

    # ----------------------------------------------------------------------------------------
    # Selection and detail

    def selected_summary(self) -> summaries.SessionSummary | None:
        """The session selected in the list."""
        rows = self.sessions_view.selectionModel().selectedRows()
        return self.model.summary(rows[0].row()) if rows else None

    def _session_selected(self, *_args: Any) -> None:
        summary = self.selected_summary()
        if summary is None:
            return
        self._selected_key = summary.start_id
        if summary.session_identifier != self._detail_sid:
            self.action_label.clear()  # "Done ..." was about the session shown before
            self.load_detail(summary.session_identifier)

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
        if self._select_after_load:
            self._after_rows_loaded()
            return
        if self._selected_key is None:
            return
        row = self.model.row_of(self._selected_key)
        if row >= 0 and not self.sessions_view.selectionModel().isRowSelected(row):
            self.select_row(row)

    def _after_rows_loaded(self) -> None:
        self._update_status()
        target = self._select_after_load
        if not target:
            return
        for row, summary in enumerate(self.model.summaries()):
            if summary.session_identifier == target:
                self._select_after_load = None
                self.select_row(row)
                return

    def show_session(self, session_identifier: str) -> None:
        """Show one session: its detail at once, and the list filtered down to it."""
        self.pages.setCurrentIndex(0)
        self._select_after_load = session_identifier
        self.load_detail(session_identifier)
        for w in (self.status_combo, self.instrument_combo, self.search_edit, self.dates_check):
            w.blockSignals(True)
        self.status_combo.setCurrentIndex(0)
        self.instrument_combo.setCurrentIndex(0)
        self.dates_check.setChecked(False)
        self.date_from.setEnabled(False)
        self.date_to.setEnabled(False)
        self.search_edit.setText(session_identifier)
        for w in (self.status_combo, self.instrument_combo, self.search_edit, self.dates_check):
            w.blockSignals(False)
        self.apply_filters()

    def _clear_detail(self) -> None:
        self._selected_key = None
        self._detail_sid = None
        self._detail_events = []
        self.events_model.set_items([])
        self.detail_title.setText("Select a session to see all its rows.")
        self.files_panel.clear()
        self.action_label.clear()
        self._update_action_buttons()

    def load_detail(self, session_identifier: str) -> None:
        """Load every row of a session into the detail table."""
        self._detail_sid = session_identifier
        self._submit(
            summaries.session_events,
            session_identifier,
            engine=self.database,
            on_done=lambda events, s=session_identifier: self._detail_loaded(s, events),
        )

    def _reload_detail(self) -> None:
        if self._detail_sid:
            self.load_detail(self._detail_sid)

    def _detail_loaded(self, ident: str, events: list[summaries.SessionEvent]) -> None:
        if ident != self._detail_sid:
            return  # another session was selected meanwhile
        self._detail_events = events
        self.events_model.set_items(events)
        self.files_panel.show_session(events)
        self.events_view.resizeColumnsToContents()
        if not events:
            self.detail_title.setText(f"Session {ident} has no rows (any more).")
        else:
            first = events[0]
            starts = [e for e in events if e.event_type == EventType.START.value]
            user = starts[0].user if starts else first.user
            gens = sum(e.event_type == EventType.RECORD_GENERATION.value for e in events)
            self.detail_title.setText(
                f"Session {ident} on {first.instrument} ({user or 'no user'}): "
                f"{text.plural(len(events), 'row')}, "
                f"{text.plural(gens, 'RECORD_GENERATION event')}."
            )
        self._update_action_buttons()

    def _update_action_buttons(self) -> None:
        events = self._detail_events
        starts = [e for e in events if e.event_type == EventType.START.value]
        ends = [e for e in events if e.event_type == EventType.END.value]
        waiting = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)
        can_end = bool(starts) and not ends and starts[0].record_status in waiting
        can_requeue = (
            len(starts) == 1
            and bool(ends)
            and any(e.record_status != RecordStatus.TO_BE_BUILT.value for e in (*starts, *ends))
        )
        can_fix = bool(starts) and bool(ends) and len({e.user for e in (*starts, *ends)}) > 1
        self.force_end_button.setEnabled(self.is_admin and can_end)
        self.requeue_button.setEnabled(self.is_admin and can_requeue)
        self.fix_user_button.setEnabled(self.is_admin and can_fix)

    # ----------------------------------------------------------------------------------------
    # Admin actions: ask, preview, confirm, apply

    def ask_end_time(self, events: list[summaries.SessionEvent]) -> datetime | None:
        """Ask when the session really ended (in the instrument's zone); None to cancel."""
        start = next((e for e in events if e.event_type == EventType.START.value), None)
        tz_name = self.zones.get(start.instrument) if start else None
        dialog = EndTimeDialog(start.timestamp if start else None, tz_name, self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return None
        return dialog.value()

    def ask_user_name(self, users: list[str]) -> str | None:
        """Ask which user START and END should both have; None to cancel."""
        name, ok = QInputDialog.getItem(
            self,
            "Fix user mismatch",
            "NexusLIMS pairs START and END by user. Which user is right for both rows?",
            users,
            0,
            True,
        )
        return name.strip() if ok and name.strip() else None

    def confirm_plan(self, plan: admin_actions.ActionPlan) -> bool:
        """Show exactly which rows will change and ask; True to go ahead."""
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Confirm admin action")
        box.setText(plan.summary)
        box.setInformativeText(
            "These rows of session_log will change:\n"
            + "\n".join(c.describe() for c in plan.changes)
            + "\n\nThe change and an audit entry are written together."
        )
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        return box.exec() == QMessageBox.StandardButton.Yes

    def force_end_selected(self) -> None:
        """Force-end the session shown in the detail panel."""
        ident = self._detail_sid
        if not ident or not self._admin_ok():
            return
        at = self.ask_end_time(self._detail_events)
        if at is None:
            return
        self._plan(admin_actions.plan_force_end, ident, at)

    def requeue_selected(self) -> None:
        """Re-queue the session shown in the detail panel."""
        if self._detail_sid and self._admin_ok():
            self._plan(admin_actions.plan_requeue, self._detail_sid)

    def fix_user_selected(self) -> None:
        """Give START and END of the session shown the same user."""
        if not self._detail_sid or not self._admin_ok():
            return
        users = []
        for e in self._detail_events:
            if e.event_type in (EventType.START.value, EventType.END.value) and e.user:
                if e.user not in users:
                    users.append(e.user)
        name = self.ask_user_name(users)
        if name:
            self._plan(admin_actions.plan_fix_user, self._detail_sid, name)

    def _admin_ok(self) -> bool:
        if not self.is_admin:
            self.show_error(
                f"{self.login or 'This account'} is not an administrator; the tab is read-only."
            )
            return False
        return True

    def _plan(self, planner: Callable[..., admin_actions.ActionPlan], *args: Any) -> None:
        self.action_label.setText("Preparing\u2026")
        self._submit(
            planner,
            *args,
            engine=self.database,
            on_done=self._confirm_and_apply,
            on_error=self._action_failed,
        )

    def _confirm_and_apply(self, plan: admin_actions.ActionPlan) -> None:
        self._clear_error()
        if not self.confirm_plan(plan):
            self.action_label.setText("Nothing was changed.")
            return
        self.action_label.setText("Applying\u2026")
        self._submit(
            admin_actions.apply,
            plan,
            login=self.login,
            administrators=list(self.settings.administrators),
            engine=self.database,
            on_done=self._action_done,
            on_error=self._action_failed,
        )

    def _action_done(self, entry: admin_actions.AuditEntry) -> None:
        self.action_label.setText(f"Done (audit entry {entry.id}): {entry.summary}")
        self.refresh()
        self.load_audit()

    def _action_failed(self, error: JobError) -> None:
        # Said where the person is looking (next to the buttons they just pressed).
        self.action_label.setText(f"Nothing was changed: {error.message}")

    # ----------------------------------------------------------------------------------------
    # Problems, timeline, audit, export

    def load_problems(self) -> None:
        """Run the same checks as ``nexus-logger check``."""
        self._submit(
            problems.find_problems,
            long_session_hours=float(self.settings.long_session_hours),
            engine=self.database,
            on_done=self._problems_loaded,
        )

    def _problems_loaded(self, found: list[problems.Problem]) -> None:
        selected = self._selected_problem()
        self.problems_model.set_items(found)
        if found and not self._problem_columns_sized:
            self._problem_columns_sized = True
            self.problems_view.resizeColumnsToContents()
        self.pages.setTabText(1, f"Problems ({len(found)})" if found else "Problems")
        if not found:
            self.problem_text.setText(
                "No problems found: nothing here stops NexusLIMS from building the sessions."
            )
        elif selected is None:
            self.problem_text.setText("Select a problem to see what it means and what to do.")
        self.model.set_problems(problems.problems_by_session(found))
        blocking = [p for p in found if p.blocks_build]
        if blocking:
            self.blocking_label.setText(
                f"{text.plural(len(blocking), 'problem')} "
                f"{'stops' if len(blocking) == 1 else 'stop'} the NexusLIMS build run: no "
                f"session gets built until {'it is' if len(blocking) == 1 else 'they are'} "
                "fixed. See the Problems page."
            )
        self.blocking_label.setVisible(bool(blocking))
        if selected is not None:
            for row, p in enumerate(found):
                if (p.kind, p.session_identifier) == (selected.kind, selected.session_identifier):
                    self.problems_view.selectRow(row)
                    break

    def _selected_problem(self) -> problems.Problem | None:
        rows = self.problems_view.selectionModel().selectedRows()
        return self.problems_model.item(rows[0].row()) if rows else None

    def _problem_selected(self, *_args: Any) -> None:
        p = self._selected_problem()
        self.show_problem_button.setEnabled(p is not None)
        if p is None:
            return
        self.problem_text.setText(
            f"{p.title}{' - stops the build run' if p.blocks_build else ''}\n\n"
            f"{p.explanation}\n\nWhat to do: {p.action}\n\nRows: " + ", ".join(map(str, p.row_ids))
        )

    def _show_problem_session(self) -> None:
        p = self._selected_problem()
        if p is not None:
            self.show_session(p.session_identifier)

    def _page_changed(self, index: int) -> None:
        if not self._started:
            return
        if index == 2:
            self.load_timeline()
        elif index == 3:
            self.load_audit()
        elif index == self.pages.indexOf(self.fleet_page):
            self.load_fleet()

    def _update_window_label(self) -> None:
        self.window_label.setText(self.timeline.window_text())

    def _timeline_window_changed(self, *_args: Any) -> None:
        self._update_window_label()
        if self.pages.currentIndex() == 2:
            self.load_timeline()

    def load_timeline(self) -> None:
        """Load the sessions of the timeline's window."""
        self._update_window_label()
        start, end = self.timeline.window
        self._submit(
            summaries.timeline_sessions,
            start,
            end,
            engine=self.database,
            on_done=lambda rows, w=(start, end): self._timeline_loaded(w, rows),
        )

    def _timeline_loaded(self, window: tuple[datetime, datetime], rows: list[Any]) -> None:
        if window == self.timeline.window:
            self.timeline.set_sessions(rows)

    def load_audit(self) -> None:
        """Load the newest audit entries."""
        self._submit(
            admin_actions.list_audit, engine=self.database, on_done=self.audit_model.set_items
        )
        self._submit(
            problems.audit_trail_problems, engine=self.database, on_done=self._trail_checked
        )

    def load_fleet(self) -> None:
        """Load every instrument PC that ever logged, and what needs a look (core/fleet.py)."""
        self._submit(
            fleet.list_fleet,
            silent_hours=float(getattr(self.settings, "fleet_silent_hours", 24.0)),
            clock_limit_seconds=float(getattr(self.settings, "clock_skew_minutes", 5.0)) * 60,
            engine=self.database,
            on_done=self._fleet_loaded,
        )

    def _fleet_loaded(self, pcs: list[fleet.PcStatus]) -> None:
        self.fleet_page.set_pcs(pcs)
        flagged = sum(bool(pc.flags) for pc in pcs)
        index = self.pages.indexOf(self.fleet_page)
        self.pages.setTabText(index, f"Fleet ({flagged})" if flagged else "Fleet")

    def _trail_checked(self, found: list[str]) -> None:
        """Say plainly when the audit trail was edited, cut back or added to by hand."""
        self.trail_label.setText(
            "The audit trail was tampered with: " + " ".join(found) if found else ""
        )
        self.trail_label.setVisible(bool(found))

    def ask_csv_path(self) -> str | None:
        """Ask where to save the CSV file; None to cancel."""
        folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        default = str(Path(folder or Path.home()) / f"sessions-{date.today().isoformat()}.csv")
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export sessions as CSV", default, "CSV files (*.csv)"
        )
        return path or None

    def export_csv(self) -> None:
        """Save every session of the current list (all pages, same order) to a CSV file."""
        path = self.ask_csv_path()
        if not path:
            return
        query = self.model.query or self.current_query()
        self._submit(
            summaries.export_csv,
            query,
            path,
            each=privacy.hide_one if self.hide_people else None,
            engine=self.database,
            on_done=lambda n, p=path: self.action_label.setText(
                f"Exported {text.plural(n, 'session')} to {p}."
            ),
            on_error=lambda error: self.action_label.setText(
                f"Nothing was exported: {error.message}"
            ),
        )
