"""The Admin tab's Problems page: everything ``nexus-logger check`` reports, what each means
and what to do, with a way to the affected session."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from nexus_logger.core.staff import problems
from nexus_logger.gui import theme
from nexus_logger.gui.admin.context import TabContext
from nexus_logger.gui.admin.models import ProblemsTableModel
from nexus_logger.gui.admin.table_view import fit_columns, make_table_view


class ProblemsPage(QWidget):
    """The problems found; ``loaded`` with every check's result, ``session_requested`` with
    the session of the problem to show."""

    loaded = Signal(object)
    session_requested = Signal(str)

    def __init__(self, parent: QWidget, context: TabContext) -> None:
        super().__init__(parent)
        self._jobs = context.jobs
        self._database = context.database
        self._settings = context.settings
        lay = QVBoxLayout(self)
        self.problems_model = ProblemsTableModel(self)
        self.problems_view = make_table_view(self.problems_model, self)
        lay.addWidget(self.problems_view, 3)
        self.problem_text = QLabel("Looking for problems\u2026", self)
        self.problem_text.setWordWrap(True)
        self.problem_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.problem_text, 1)
        row = QHBoxLayout()
        self.show_problem_button = QPushButton("Show the session", self)
        self.show_problem_button.setEnabled(False)
        theme.press_on_enter(self.show_problem_button)
        row.addWidget(self.show_problem_button)
        row.addStretch(1)
        lay.addLayout(row)
        self.problems_view.selectionModel().selectionChanged.connect(self._problem_selected)
        self.show_problem_button.clicked.connect(self._show_problem_session)
        # Enter on a problem opens its session, as a double-click does (Qt's "activated").
        self.problems_view.activated.connect(lambda _i: self._show_problem_session())

    def load(self) -> None:
        """Run the same checks as ``nexus-logger check``."""
        self._jobs.submit(
            problems.find_problems,
            long_session_hours=float(self._settings.long_session_hours),
            engine=self._database,
            on_done=self._loaded,
        )

    def _loaded(self, found: list[problems.Problem]) -> None:
        selected = self._selected_problem()
        self.problems_model.set_items(found)
        if found:
            fit_columns(self.problems_view)
        # The one selected before, if it is still there (a fixed problem is gone: its text and
        # its button must go too; the model's reset says nothing about the selection).
        same = [
            row
            for row, p in enumerate(found)
            if selected is not None
            and (p.kind, p.session_identifier) == (selected.kind, selected.session_identifier)
        ]
        if not same:
            self.show_problem_button.setEnabled(False)
            self.problem_text.setText(
                "Select a problem to see what it means and what to do."
                if found
                else "No problems found: nothing here stops NexusLIMS from building the sessions."
            )
        self.loaded.emit(found)
        if same:
            self.problems_view.selectRow(same[0])

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
            self.session_requested.emit(p.session_identifier)
