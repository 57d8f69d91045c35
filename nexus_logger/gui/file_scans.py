"""A thread for folder scans, beside the database worker and never in its queue.

Counting a session's files reads a folder that may sit on a slow share; the database worker
runs one job at a time, so a scan there would hold back a START or END behind it. Scans run
here instead, one at a time on their own thread (a :class:`QThreadPool` of one), and their
results come back to the GUI thread by signal, like the database worker's.
"""

from __future__ import annotations

import itertools
import logging
import threading
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot
from shiboken6 import isValid

_logger = logging.getLogger(__name__)

#: Every scanner alive, so that the app can stop them all at exit (:func:`shutdown_all`).
_scanners: weakref.WeakSet[FileScanner] = weakref.WeakSet()


class _Signals(QObject):
    """Lives in the GUI thread: an emit from the pool's thread arrives there queued."""

    done = Signal(int, object)


class _Job(QRunnable):
    def __init__(self, job_id: int, call: Callable[[], Any], signals: _Signals) -> None:
        super().__init__()
        self.job_id, self.call, self.signals = job_id, call, signals

    def run(self) -> None:
        try:
            result = self.call()
        except Exception as err:  # a scan must never take the window down
            _logger.exception("File scan %d failed", self.job_id)
            result = err
        try:
            self.signals.done.emit(self.job_id, result)
        except RuntimeError:  # the scanner was deleted while this job ran
            _logger.debug("File scan %d finished after its scanner was deleted", self.job_id)


class FileScanner(QObject):
    """Runs scans one at a time off the GUI thread; ``on_done`` gets the result (or the
    exception) on the GUI thread."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._callbacks: dict[int, Callable[[Any], None]] = {}
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _Signals(self)
        self._signals.done.connect(self._on_done)
        self._stopping = threading.Event()
        _scanners.add(self)

    @property
    def pending(self) -> int:
        """Scans submitted whose callbacks have not run yet."""
        return len(self._callbacks)

    def stopping(self) -> bool:
        """True once :meth:`shutdown` was called: a running scan should stop (its ``cancel``)."""
        return self._stopping.is_set()

    def submit(self, fn: Callable[..., Any], *args: Any, on_done: Callable[[Any], None]) -> int:
        """Queue ``fn(*args)``; returns the job id."""
        job_id = next(self._ids)
        self._callbacks[job_id] = on_done
        self._pool.start(_Job(job_id, lambda: fn(*args), self._signals))
        return job_id

    @Slot(int, object)
    def _on_done(self, job_id: int, result: Any) -> None:
        callback = self._callbacks.pop(job_id, None)
        if callback is not None and not self._stopping.is_set():
            callback(result)

    def shutdown(self, wait_ms: int = 5000) -> bool:
        """Drop queued scans and their callbacks, ask the running one to stop, wait for it;
        False if it did not stop in time. Scans may be submitted again afterwards."""
        self._stopping.set()
        self._pool.clear()
        stopped = self._pool.waitForDone(wait_ms)
        self._callbacks.clear()
        self._stopping.clear()  # a window shown again counts again
        if not stopped:
            _logger.warning("A file scan did not stop within %d ms", wait_ms)
        return stopped


def shutdown_all(wait_ms: int = 2000) -> bool:
    """Stop every scanner (the app is quitting); False if a scan is stuck, e.g. in a call to
    a share that went away, and the process must leave without waiting for it."""
    stopped = True
    for scanner in list(_scanners):
        if isValid(scanner):  # one whose Qt object is already deleted has no thread left
            stopped = scanner.shutdown(wait_ms) and stopped
    return stopped
