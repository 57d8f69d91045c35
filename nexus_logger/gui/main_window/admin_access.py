"""The Admin tab in the window: shown only to whom it may concern (it lists everyone's
sessions), and built the first time it is opened (a session starts without it)."""

from __future__ import annotations

import logging

from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.gui.main_window.state import WindowState

_logger = logging.getLogger(__name__)


class AdminTabAccess(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: its Admin tab."""

    def _on_tab_changed(self, index: int) -> None:
        if index != 0 and self._countdown.isActive():
            # Turned to the Admin tab after End: the window stays open for that work (it
            # closed under the person a few seconds later).
            self._stop_countdown()
        if self.tabs.widget(index) is self._admin_placeholder and self._admin_tab is None:
            self._create_admin_tab()

    def _show_admin_tab_only_to_whom_it_may_concern(self) -> None:
        """The Admin tab lists everyone's sessions: hidden unless the settings allow it (or the
        database is the demo's)."""
        from nexus_logger.core.staff.admin_actions import may_see_admin_view

        assert self.settings is not None
        index = self.tabs.indexOf(self._admin_placeholder)
        wanted = self.settings.set_up and may_see_admin_view(self.settings)
        if index >= 0:
            self.tabs.setTabVisible(index, wanted)

    def _create_admin_tab(self) -> None:
        """The Admin tab is built on first use: it is not needed to start a session."""
        try:
            from nexus_logger.gui.admin import AdminTab

            settings = self.settings or self._settings_loader()
            tab = AdminTab(self.worker, settings.database_target, settings, self)
        except (ImportError, NexusLoggerError) as err:
            _logger.warning("The Admin tab is not available: %s", err)
            self._admin_placeholder.setText(f"The admin view is not available: {err}")
            return
        self._admin_tab = tab
        # Force-ended here, this window's own session is seen ended at once, not at its next
        # heartbeat (the heartbeat is what notices an END written elsewhere).
        tab.session_changed.connect(self._admin_changed_a_session)
        index = self.tabs.indexOf(self._admin_placeholder)
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, tab, "Admin")
        self.tabs.setCurrentIndex(index)
        self.tabs.blockSignals(False)
        self._admin_placeholder.deleteLater()

    def _admin_changed_a_session(self, session_identifier: str) -> None:
        if self.session is not None and self.session.session_identifier == session_identifier:
            self.send_heartbeat()
