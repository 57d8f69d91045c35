"""The Admin tab's message lines: read-only note, build-stopping problems, a tampered audit
trail, the last error and the bridge to NexusLIMS's file (PostgreSQL only)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from nexus_logger.core.staff import problems
from nexus_logger.gui import text
from nexus_logger.gui.admin.context import TabJobs
from nexus_logger.gui.worker import JobError

RED = "color: #b3261e;"


def _label(parent: QWidget, style: str = "", *, selectable: bool = False) -> QLabel:
    label = QLabel(parent)
    label.setWordWrap(True)
    if style:
        label.setStyleSheet(style)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setVisible(False)
    return label


class MessageLines:
    """The labels around the pages and what they say; never a modal box."""

    def __init__(self, parent: QWidget, *, is_admin: bool, login: str | None) -> None:
        self.blocking_label = _label(parent, RED + " font-weight: bold;")
        self.error_label = _label(parent, RED, selectable=True)
        self.readonly_label = _label(parent)
        if not is_admin:
            who = login or "This account"
            self.readonly_label.setText(
                f"Read-only: {who} is not in the 'administrators' setting, so the admin actions "
                "are not available."
            )
        self.readonly_label.setVisible(not is_admin)
        self.bridge_label = _label(parent, selectable=True)
        self.trail_label = _label(parent, RED + " font-weight: bold;")

    def below_pages(self) -> tuple[QLabel, ...]:
        """The lines shown under the pages, in order (one appearing never moves the pages)."""
        return (self.blocking_label, self.trail_label, self.error_label, self.bridge_label)

    def show_error(self, error: JobError | str) -> None:
        """Show a problem in the red line (never a modal box)."""
        words = error if isinstance(error, str) else error.message
        self.error_label.setText(words)
        self.error_label.setVisible(bool(words))

    def clear_error(self) -> None:
        """Hide the red line."""
        self.error_label.clear()
        self.error_label.setVisible(False)

    def show_blocking(self, found: list[problems.Problem]) -> None:
        """Say how many problems stop the NexusLIMS build run (hidden when none)."""
        blocking = [p for p in found if p.blocks_build]
        if blocking:
            self.blocking_label.setText(
                f"{text.plural(len(blocking), 'problem')} "
                f"{'stops' if len(blocking) == 1 else 'stop'} the NexusLIMS build run: no "
                f"session gets built until {'it is' if len(blocking) == 1 else 'they are'} "
                "fixed. See the Problems page."
            )
        self.blocking_label.setVisible(bool(blocking))

    def show_trail(self, found: list[str]) -> None:
        """Say plainly when the audit trail was edited, cut back or added to by hand."""
        self.trail_label.setText(
            "The audit trail was tampered with: " + " ".join(found) if found else ""
        )
        self.trail_label.setVisible(bool(found))

    def load_bridge(self, jobs: TabJobs, database: str) -> None:
        """Load and show the bridge's status; nothing on SQLite (NexusLIMS reads it directly)."""
        if not database.lower().startswith(("postgresql", "postgres:")):
            return
        from nexus_logger.core.bridge.bridge_status import read_status

        jobs.submit(
            read_status,
            database,
            on_done=self.show_bridge,
            on_error=lambda error: self.show_bridge(None, error.message),
        )

    def show_bridge(self, status: Any, error: str | None = None) -> None:
        """The bridge's last run, what waits each way and its last error."""
        if error is not None:
            words, bad = f"Bridge to NexusLIMS: its status cannot be read ({error})", True
        elif status is None:
            self.bridge_label.setVisible(False)
            return
        else:
            words = "Bridge to NexusLIMS: " + "\n".join(status.lines())
            bad = status.error_is_current() or bool(status.open_conflicts) or not status.ever_ran
        self.bridge_label.setText(words)
        self.bridge_label.setStyleSheet(RED if bad else "")
        self.bridge_label.setVisible(True)
