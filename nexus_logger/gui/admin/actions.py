"""What the Admin tab asks the person and what follows: the changes to the selected session
(force end, re-queue, fix user: ask, preview, confirm, apply with an audit entry) and the CSV
export of the list.

A mixin of :class:`~nexus_logger.gui.admin.tab.AdminTab`: every question is one method of
the tab (``ask_end_time``, ``ask_user_name``, ``confirm_plan``, ``ask_csv_path``), so tests
replace it and never wait on a dialog.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QWidget,
)

from nexus_logger.core.enums import EventType
from nexus_logger.core.settings.config import Settings
from nexus_logger.core.staff import admin_actions, privacy, summaries
from nexus_logger.gui import text
from nexus_logger.gui.admin.context import TabJobs
from nexus_logger.gui.admin.end_time import EndTimeDialog
from nexus_logger.gui.admin.messages import MessageLines
from nexus_logger.gui.admin.sessions_page import SessionsPage
from nexus_logger.gui.worker import JobError


def export_folder() -> Path:
    """Where the CSV export is offered: Documents, or the home folder where there is none
    (Qt names a Documents folder that may not exist; the dialog then opened in the program's
    working folder)."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if documents and Path(documents).is_dir():
        return Path(documents)
    return Path.home()


class TabActions(QWidget):
    """The admin actions and the export, run on the session the detail panel shows."""

    #: An admin action changed a session (the window then asks at once whether its own
    #: running session is among them, instead of at its next heartbeat).
    session_changed = Signal(str)

    # What the tab provides (AdminTab sets or defines each).
    database: str
    settings: Settings
    login: str | None
    is_admin: bool
    hide_people: bool
    zones: dict[str, str]
    jobs: TabJobs
    messages: MessageLines
    sessions_page: SessionsPage
    refresh: Callable[[], None]
    load_audit: Callable[[], None]
    current_query: Callable[[], summaries.SessionQuery]

    # -- questions ------------------------------------------------------------------------

    def ask_end_time(self, events: list[summaries.SessionEvent]) -> datetime | None:
        """Ask when the session really ended (in the instrument's zone); None to cancel."""
        start = next((e for e in events if e.event_type == EventType.START.value), None)
        tz_name = self.zones.get(start.instrument) if start else None
        dialog = EndTimeDialog(
            start.timestamp if start else None,
            tz_name,
            self,
            start_text=start.timestamp_text if start else None,
        )
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

    def ask_csv_path(self) -> str | None:
        """Ask where to save the CSV file; None to cancel."""
        default = str(export_folder() / f"sessions-{date.today().isoformat()}.csv")
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export sessions as CSV", default, "CSV files (*.csv)"
        )
        return path or None

    # -- admin actions: ask, preview, confirm, apply --------------------------------------

    def force_end_selected(self) -> None:
        """Force-end the session shown in the detail panel."""
        detail = self.sessions_page.detail
        ident = detail.session_identifier
        if not ident or not self._admin_ok():
            return
        at = self.ask_end_time(detail.events)
        if at is None:
            return
        self._plan(admin_actions.plan_force_end, ident, at)

    def requeue_selected(self) -> None:
        """Re-queue the session shown in the detail panel."""
        ident = self.sessions_page.detail.session_identifier
        if ident and self._admin_ok():
            self._plan(admin_actions.plan_requeue, ident)

    def fix_user_selected(self) -> None:
        """Give START and END of the session shown the same user."""
        detail = self.sessions_page.detail
        if not detail.session_identifier or not self._admin_ok():
            return
        users = []
        for e in detail.events:
            if e.event_type in (EventType.START.value, EventType.END.value) and e.user:
                if e.user not in users:
                    users.append(e.user)
        name = self.ask_user_name(users)
        if name:
            self._plan(admin_actions.plan_fix_user, detail.session_identifier, name)

    def _admin_ok(self) -> bool:
        if not self.is_admin:
            self.messages.show_error(
                f"{self.login or 'This account'} is not an administrator; the tab is read-only."
            )
            return False
        return True

    def _say(self, words: str) -> None:
        """Said where the person is looking: next to the buttons they just pressed."""
        self.sessions_page.detail.action_label.setText(words)

    def _plan(self, planner: Callable[..., admin_actions.ActionPlan], *args: Any) -> None:
        self._say("Preparing\u2026")
        self.jobs.submit(
            planner,
            *args,
            engine=self.database,
            on_done=self._confirm_and_apply,
            on_error=self._action_failed,
        )

    def _confirm_and_apply(self, plan: admin_actions.ActionPlan) -> None:
        self.messages.clear_error()
        if not self.confirm_plan(plan):
            self._say("Nothing was changed.")
            return
        self._say("Applying\u2026")
        self.jobs.submit(
            admin_actions.apply,
            plan,
            login=self.login,
            administrators=list(self.settings.administrators),
            engine=self.database,
            on_done=self._action_done,
            on_error=self._apply_failed,
        )

    def _apply_failed(self, error: JobError) -> None:
        if isinstance(error.exception, admin_actions.StalePreview):
            # Someone changed the session meanwhile: show it as it is now, not as previewed.
            self._say(f"{error.message} It is shown as it is now.")
            self.refresh()
            return
        self._action_failed(error)

    def _action_done(self, entry: admin_actions.AuditEntry) -> None:
        self._say(f"Done (audit entry {entry.id}): {entry.summary}")
        focus = QApplication.focusWidget()
        if focus is not None and self.isAncestorOf(focus):
            # The button pressed is about to be disabled (the session changed), and Qt then
            # gave the focus to the window's tab bar: back to the list instead, where a
            # keyboard user goes on.
            self.sessions_page.sessions_view.setFocus()
        self.refresh()
        self.load_audit()
        self.session_changed.emit(entry.session_identifier)

    def _action_failed(self, error: JobError) -> None:
        # Most refusals say so themselves ("...; nothing was changed."): not twice.
        said = error.message
        self._say(said if "nothing was changed" in said.lower() else f"Nothing was changed: {said}")

    # -- export ---------------------------------------------------------------------------

    def export_csv(self) -> None:
        """Save every session of the current list (all pages, same order) to a CSV file."""
        path = self.ask_csv_path()
        if not path:
            return
        query = self.sessions_page.model.query or self.current_query()
        self.jobs.submit(
            summaries.export_csv,
            query,
            path,
            each=privacy.hide_one if self.hide_people else None,
            engine=self.database,
            on_done=lambda n, p=path: self._say(f"Exported {text.plural(n, 'session')} to {p}."),
            on_error=lambda error: self._say(f"Nothing was exported: {error.message}"),
        )
