"""The Admin tab's filter bar: status, instrument, days, search, and the counts per status
(clicking one filters on it). It says what to list; the Sessions page lists it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QDate, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff import summaries
from nexus_logger.gui import theme
from nexus_logger.gui.flow import flow_container

DEFAULT_STATUS = RecordStatus.TO_BE_BUILT.value
SEARCH_DELAY_MS = 300


class FilterBar(QWidget):
    """Two rows of filters and a wrapping row of counts; ``changed`` when a filter changes."""

    changed = Signal()

    def __init__(self, parent: QWidget, *, hide_people: bool) -> None:
        super().__init__(parent)
        self.hide_people = hide_people
        self.counts: dict[str, int] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self._build_filters(outer)
        self._build_counts(outer)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(SEARCH_DELAY_MS)
        self.search_timer.timeout.connect(self.changed)
        self._connect()

    def _build_filters(self, outer: QVBoxLayout) -> None:
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
        self._build_search()
        self.refresh_button = QPushButton("Refresh", self)
        self.export_button = QPushButton("Export CSV\u2026", self)
        self.export_button.setToolTip("Save the sessions of the current list (all pages) as CSV")
        theme.press_on_enter(self.refresh_button, self.export_button)
        # Two rows, so that the 760-pixel window of an instrument PC shows every filter whole.
        bar = QHBoxLayout()
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

    def _build_search(self) -> None:
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

    def _build_counts(self, outer: QVBoxLayout) -> None:
        # Counts per status (clicking one filters on it); they wrap in a narrow window.
        counts_box, counts = flow_container(self)
        self.count_buttons: dict[str | None, QToolButton] = {}
        for status in [None, *[s.value for s in RecordStatus]]:
            button = QToolButton(self)
            button.setCheckable(True)
            button.setAutoRaise(True)
            button.setProperty("status", status)
            button.clicked.connect(lambda _checked=False, s=status: self.set_status(s))
            self.count_buttons[status] = button
            counts.addWidget(button)
        self.busy_label = QLabel("Loading\u2026", self)
        self.busy_label.setVisible(False)
        counts.addWidget(self.busy_label)
        outer.addWidget(counts_box)
        self.update_count_buttons()

    def _connect(self) -> None:
        self.status_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.instrument_combo.currentIndexChanged.connect(lambda _i: self.changed.emit())
        self.dates_check.toggled.connect(self._dates_toggled)
        self.date_from.dateChanged.connect(lambda _d: self._keep_range(moved=self.date_from))
        self.date_to.dateChanged.connect(lambda _d: self._keep_range(moved=self.date_to))
        self.search_edit.textChanged.connect(lambda _t: self.search_timer.start())
        self.search_edit.returnPressed.connect(self.changed)

    def set_applies(self, applies: bool) -> None:
        """Enable the filters (and the export of what they list) only where they choose what
        is shown: the Sessions page. The other pages show everything, so filters that do
        nothing there are greyed out rather than seeming to narrow them. Refresh stays."""
        widgets: list[QWidget] = [
            self.status_combo,
            self.instrument_combo,
            self.dates_check,
            self.search_edit,
            self.export_button,
            *self.count_buttons.values(),
        ]
        for widget in widgets:
            widget.setEnabled(applies)
        for edit in (self.date_from, self.date_to):
            edit.setEnabled(applies and self.dates_check.isChecked())

    def _keep_range(self, *, moved: QDateEdit) -> None:
        """A first day after the last one moves the other day with it, on screen, so the
        two days shown are always the range listed (never a range swapped out of sight)."""
        first, last = self.date_from.date(), self.date_to.date()
        if first > last:
            other = self.date_to if moved is self.date_from else self.date_from
            other.blockSignals(True)
            other.setDate(moved.date())
            other.blockSignals(False)
        self.changed.emit()

    def _dates_toggled(self, on: bool) -> None:
        self.date_from.setEnabled(on)
        self.date_to.setEnabled(on)
        self.changed.emit()

    def query(self, old: summaries.SessionQuery | None, *, people: bool) -> summaries.SessionQuery:
        """The query the filters describe, in ``old``'s sort order (newest first if none)."""
        status = self.status_combo.currentData()
        date_from = date_to = None
        if self.dates_check.isChecked():
            date_from = self.date_from.date().toPython()
            date_to = self.date_to.date().toPython()
        return summaries.SessionQuery(
            statuses=frozenset({status}) if status else None,
            instrument=self.instrument_combo.currentData(),
            date_from=date_from,
            date_to=date_to,
            text=self.search_edit.text().strip() or None,
            sort=old.sort if old else "start",
            descending=old.descending if old else True,
            people=people,
        )

    def set_status(self, status: str | None) -> None:
        """Show one status (None: all), as clicking its count does."""
        self.status_combo.setCurrentIndex(max(0, self.status_combo.findData(status)))
        self.update_count_buttons()

    def show_counts(self, counts: dict[str, int]) -> None:
        """Keep and show the counts per status under the other filters."""
        self.counts = counts
        self.update_count_buttons()

    def update_count_buttons(self) -> None:
        """Label each count button and check the one of the status filtered on."""
        current = self.status_combo.currentData()
        total = sum(self.counts.values()) if self.counts else None
        for status, button in self.count_buttons.items():
            n = total if status is None else self.counts.get(status) if self.counts else None
            label = "All" if status is None else status
            button.setText(f"{label}: {n}" if n is not None else label)
            button.setChecked(status == current)

    def set_instruments(self, instruments: dict[str, Any]) -> None:
        """Offer each instrument, keeping the one chosen (no reload)."""
        current = self.instrument_combo.currentData()
        self.instrument_combo.blockSignals(True)
        self.instrument_combo.clear()
        self.instrument_combo.addItem("All instruments", None)
        for pid, inst in instruments.items():
            self.instrument_combo.addItem(f"{pid} ({inst.display_name})", pid)
        index = self.instrument_combo.findData(current)
        self.instrument_combo.setCurrentIndex(max(0, index))
        self.instrument_combo.blockSignals(False)

    def only(self, session_identifier: str) -> None:
        """Every filter off and the search set to one session (no reload: the caller does)."""
        widgets = (self.status_combo, self.instrument_combo, self.search_edit, self.dates_check)
        for w in widgets:
            w.blockSignals(True)
        self.status_combo.setCurrentIndex(0)
        self.instrument_combo.setCurrentIndex(0)
        self.dates_check.setChecked(False)
        self.date_from.setEnabled(False)
        self.date_to.setEnabled(False)
        self.search_edit.setText(session_identifier)
        for w in widgets:
            w.blockSignals(False)
