"""The Admin tab: sessions pending build, their events, problems and admin actions.

Public entry points (agreed interface):

* :class:`AdminTab` ``(worker, database, settings, parent=None)`` - the tab the main window embeds;
* :func:`run_admin_window` ``(args) -> int`` - ``nexus-logger admin`` opens the tab alone.
"""

from __future__ import annotations

from nexus_logger.gui.admin.tab import AdminTab
from nexus_logger.gui.admin.window import run_admin_window

__all__ = ["AdminTab", "run_admin_window"]
