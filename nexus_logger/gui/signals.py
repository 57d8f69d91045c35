"""Stop signals for the window: SIGTERM, Ctrl+C (SIGINT), a closed console (SIGHUP/SIGBREAK).

Python runs a signal handler only between bytecodes, and Qt's event loop runs in C++: a
handler alone would wait for the next mouse move. So the handler only records the signal and
a short timer lets the interpreter run; the timer's slot then asks the window to quit the way
the ``on_quit`` setting says (end the session like the close dialog's *End*, or keep it open
with a last heartbeat). One INFO line says which signal came; nothing is "unexpected" about
a Ctrl+C.

Windows logoff and shutdown reach the window through ``QGuiApplication.commitDataRequest``
(see :mod:`nexus_logger.gui.app`), not through here.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from types import FrameType

from PySide6.QtCore import QObject, QTimer

_logger = logging.getLogger(__name__)

#: How often the interpreter gets a chance to run a pending signal handler (ms).
POLL_MS = 200

_NAMES = {
    "SIGINT": "Ctrl+C (SIGINT)",
    "SIGTERM": "SIGTERM",
    "SIGHUP": "its console or terminal was closed (SIGHUP)",
    "SIGBREAK": "its console was closed or Ctrl+Break (SIGBREAK)",
}


class StopSignals(QObject):
    """Install handlers for the stop signals; call ``on_stop(description)`` once per signal.

    ``uninstall`` puts the previous handlers back (the window is gone, Python's own Ctrl+C
    behaviour applies again).
    """

    def __init__(self, on_stop: Callable[[str], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_stop = on_stop
        self._pending: list[str] = []
        self._previous: dict[int, object] = {}
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._deliver)

    def install(self) -> None:
        """Take over the stop signals this platform has (main thread only)."""
        for name in _NAMES:
            number = getattr(signal, name, None)
            if number is None:
                continue
            try:
                self._previous[number] = signal.signal(number, self._record)
            except (OSError, ValueError) as err:  # not the main thread, or not allowed here
                _logger.debug("Cannot handle %s: %s", name, err)
        self._timer.start()

    def uninstall(self) -> None:
        """Give the signals back to their previous handlers."""
        self._timer.stop()
        for number, handler in self._previous.items():
            try:
                signal.signal(number, handler)  # type: ignore[arg-type]
            except (OSError, ValueError, TypeError):
                pass
        self._previous.clear()

    def _record(self, number: int, _frame: FrameType | None) -> None:
        # Inside a signal handler: no logging, no Qt; only remember it.
        self._pending.append(signal.Signals(number).name)

    def _deliver(self) -> None:
        while self._pending:
            name = self._pending.pop(0)
            self._on_stop(_NAMES.get(name, name))
