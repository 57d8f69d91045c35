"""The Admin tab's Audit page: what administrators changed, newest first, and the check
that nobody edited that trail by hand."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from nexus_logger.core.staff import admin_actions, problems
from nexus_logger.gui import text
from nexus_logger.gui.admin.context import TabContext
from nexus_logger.gui.admin.models import AuditTableModel, audit_details
from nexus_logger.gui.admin.table_view import fit_columns, make_table_view


class AuditPage(QWidget):
    """The newest audit entries; ``trail_checked`` with what was found wrong with the trail."""

    trail_checked = Signal(object)

    def __init__(self, parent: QWidget, context: TabContext) -> None:
        super().__init__(parent)
        self._jobs = context.jobs
        self._database = context.database
        lay = QVBoxLayout(self)
        self.audit_model = AuditTableModel(self)
        self.audit_view = make_table_view(self.audit_model, self)
        lay.addWidget(self.audit_view, 3)
        self.audit_note = QLabel("Loading\u2026", self)
        self.audit_note.setWordWrap(True)
        lay.addWidget(self.audit_note)
        # The selected action's rows before and after, readable (and scrollable) by keyboard:
        # they were only in a tooltip, which needs a mouse.
        self.audit_detail = QPlainTextEdit(self)
        self.audit_detail.setReadOnly(True)
        self.audit_detail.setTabChangesFocus(True)
        self.audit_detail.setPlaceholderText(
            "Select an action to see the rows as they were before and after."
        )
        lay.addWidget(self.audit_detail, 2)
        self.audit_model.modelReset.connect(self._audit_loaded)
        self.audit_view.selectionModel().selectionChanged.connect(self._show_selected)

    def _show_selected(self, *_args: object) -> None:
        rows = self.audit_view.selectionModel().selectedRows()
        entry = self.audit_model.item(rows[0].row()) if rows else None
        self.audit_detail.setPlainText(audit_details(entry) if entry is not None else "")

    def load(self) -> None:
        """Load the newest audit entries and check the trail."""
        self._jobs.submit(
            admin_actions.list_audit, engine=self._database, on_done=self.audit_model.set_items
        )
        self.check_trail()

    def check_trail(self) -> None:
        """Check the trail's chain (the tab's red line says what was edited by hand); also
        at the tab's first load and each refresh: seen only on this page, it waited for
        someone to open it."""
        self._jobs.submit(
            problems.audit_trail_problems,
            engine=self._database,
            on_done=self.trail_checked.emit,
        )

    def _audit_loaded(self) -> None:
        self.audit_detail.clear()  # (a reset selects nothing)
        count = self.audit_model.rowCount()
        if count:
            fit_columns(self.audit_view)  # "202..." and "forc..." were no help
        self.audit_note.setText(
            f"The newest {text.plural(count, 'admin action')}, newest first; select one for "
            "the rows as they were before and after."
            if count
            else "No admin action has been recorded in this database yet: force-end, re-queue "
            "and fix-user each add a line here."
        )
