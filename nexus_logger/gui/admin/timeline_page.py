"""The Admin tab's Timeline page: the zoom and step buttons over the timeline of sessions
(``timeline.py`` draws it), and the loading of the sessions of the window it shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core import timestamps
from nexus_logger.core.staff import summaries
from nexus_logger.gui.admin.context import TabContext
from nexus_logger.gui.admin.timeline import TimelineWidget
from nexus_logger.gui.admin.timeline_layout import Zoom


class TimelinePage(QWidget):
    """Day, week or month of sessions per instrument, stepped back and forth."""

    def __init__(self, parent: QWidget, context: TabContext) -> None:
        super().__init__(parent)
        self._jobs = context.jobs
        self._database = context.database
        lay = QVBoxLayout(self)
        lay.addLayout(self._build_buttons())
        self.window_label = QLabel(self)
        self.window_label.setWordWrap(True)
        lay.addWidget(self.window_label)
        self.timeline = TimelineWidget(self)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.timeline)
        lay.addWidget(scroll, 1)
        self.update_window_label()
        for zoom, button in self.zoom_buttons.items():
            button.clicked.connect(lambda _c=False, z=zoom: self.timeline.set_zoom(z))
        self.earlier_button.clicked.connect(lambda: self.timeline.step(-1))
        self.later_button.clicked.connect(lambda: self.timeline.step(1))
        self.now_button.clicked.connect(self.timeline.go_now)

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.zoom_group = QButtonGroup(self)
        self.zoom_buttons: dict[Zoom, QToolButton] = {}
        for zoom, name in ((Zoom.DAY, "Day"), (Zoom.WEEK, "Week"), (Zoom.MONTH, "Month")):
            button = QToolButton(self)
            button.setText(name)
            button.setCheckable(True)
            self.zoom_group.addButton(button)
            self.zoom_buttons[zoom] = button
            row.addWidget(button)
        self.zoom_buttons[Zoom.WEEK].setChecked(True)
        self.earlier_button = QToolButton(self)
        self.earlier_button.setText("\u25c0 Previous")
        self.now_button = QToolButton(self)
        self.now_button.setText("Today")
        self.later_button = QToolButton(self)
        self.later_button.setText("Next \u25b6")
        for b in (self.earlier_button, self.now_button, self.later_button):
            row.addWidget(b)
        row.addStretch(1)
        return row

    def set_instruments(self, instruments: dict[str, Any]) -> None:
        """One band per instrument; one clock for every band when they share a zone."""
        self.timeline.set_instruments(list(instruments))
        zones = {inst.timezone for inst in instruments.values() if inst.timezone}
        if len(zones) == 1:
            (name,) = zones
            self.timeline.set_zone(timestamps.zone(name), name)

    def update_window_label(self, *_args: Any) -> None:
        """Name the days the timeline shows."""
        self.window_label.setText(self.timeline.window_text())

    def load(self) -> None:
        """Load the sessions of the timeline's window."""
        self.update_window_label()
        start, end = self.timeline.window
        self._jobs.submit(
            summaries.timeline_sessions,
            start,
            end,
            engine=self._database,
            on_done=lambda rows, w=(start, end): self._loaded(w, rows),
        )

    def _loaded(self, window: tuple[datetime, datetime], rows: list[Any]) -> None:
        if window == self.timeline.window:
            self.timeline.set_sessions(rows)
