"""The one database worker: every database call of the GUI runs here, one at a time.

Like Anki's collection thread, a single worker thread owns all database work, so the window
never waits on a locked file or a slow server, and calls never overlap each other. Callers
``submit`` a plain function (from :mod:`nexus_logger.core`) and get its result back on the GUI
thread through a callback; errors come back as the readable message of a
:class:`~nexus_logger.core.errors.NexusLoggerError`, never as a traceback.

One exception, :func:`run_aside`: keeping a clicked END in this PC's outbox (local work, no
database) does not queue behind a database job that may hang.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from nexus_logger.core.errors import NexusLoggerError

_logger = logging.getLogger(__name__)


@dataclass
class JobError:
    """A failed job: the message to show, and the exception for code that needs its type."""

    message: str
    exception: BaseException


class _Runner(QObject):
    """Lives in the worker thread and runs jobs in the order they arrive."""

    done = Signal(int, object)
    failed = Signal(int, object)

    #: (job id, time.monotonic() it started) of the job running now, or None.
    running: tuple[int, float] | None = None

    @Slot(int, object)
    def run(self, job_id: int, call: Callable[[], Any]) -> None:
        self.running = (job_id, time.monotonic())
        try:
            result = call()
        except NexusLoggerError as err:
            _logger.warning("Database job %d failed: %s", job_id, err)
            self.failed.emit(job_id, JobError(str(err), err))
        except Exception as err:  # shown as a sentence; the traceback goes to the log
            _logger.exception("Database job %d failed unexpectedly", job_id)
            self.failed.emit(
                job_id, JobError(f"Unexpected error: {err}. Details are in the log.", err)
            )
        else:
            self.done.emit(job_id, result)
        finally:
            self.running = None


class DbWorker(QObject):
    """Runs submitted callables on one background thread; results return to the GUI thread."""

    _dispatch = Signal(int, object)
    #: True while at least one job is queued or running.
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._callbacks: dict[
            int, tuple[Callable[[Any], None] | None, Callable[[JobError], None] | None]
        ] = {}
        self._thread = QThread()
        self._thread.setObjectName("nexus-logger-db")
        self._runner = _Runner()
        self._runner.moveToThread(self._thread)
        self._dispatch.connect(self._runner.run)
        self._runner.done.connect(self._on_done)
        self._runner.failed.connect(self._on_failed)
        self._thread.start()

    def running(self) -> tuple[int, float] | None:
        """(id, seconds so far) of the job running now, or None (read from the GUI thread: one
        attribute, replaced whole by the worker)."""
        now = self._runner.running
        return None if now is None else (now[0], time.monotonic() - now[1])

    @property
    def pending(self) -> int:
        """Jobs submitted whose callbacks have not run yet."""
        return len(self._callbacks)

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
        **kwargs: Any,
    ) -> int:
        """Queue ``fn(*args, **kwargs)`` on the worker thread; returns the job id."""
        job_id = next(self._ids)
        was_idle = not self._callbacks
        self._callbacks[job_id] = (on_done, on_error)
        self._dispatch.emit(job_id, lambda: fn(*args, **kwargs))
        if was_idle:
            self.busy_changed.emit(True)
        return job_id

    def _finish(
        self, job_id: int
    ) -> tuple[Callable[[Any], None] | None, Callable[[JobError], None] | None]:
        callbacks = self._callbacks.pop(job_id, (None, None))
        if not self._callbacks:
            self.busy_changed.emit(False)
        return callbacks

    @Slot(int, object)
    def _on_done(self, job_id: int, result: Any) -> None:
        on_done, _ = self._finish(job_id)
        if on_done is not None:
            on_done(result)

    @Slot(int, object)
    def _on_failed(self, job_id: int, error: JobError) -> None:
        _, on_error = self._finish(job_id)
        if on_error is not None:
            on_error(error)

    def shutdown(self, wait_ms: int = 5000) -> bool:
        """Stop the thread after the running job; returns False if it did not stop in time."""
        self._thread.quit()
        stopped = self._thread.wait(wait_ms)
        if not stopped:
            _logger.warning("The database worker did not stop within %d ms", wait_ms)
        return stopped


class _AsideRelay(QObject):
    """Brings the result of one :func:`run_aside` job back to the GUI thread (its slot runs
    there: the relay lives in the GUI thread, the signal comes from the job's thread)."""

    finished = Signal(object, object)

    def __init__(
        self,
        on_done: Callable[[Any], None] | None,
        on_error: Callable[[JobError], None] | None,
    ) -> None:
        super().__init__()
        self._on_done, self._on_error = on_done, on_error
        self.finished.connect(self._deliver)

    @Slot(object, object)
    def _deliver(self, result: Any, error: JobError | None) -> None:
        _relays.discard(self)
        if error is not None:
            if self._on_error is not None:
                self._on_error(error)
        elif self._on_done is not None:
            self._on_done(result)


#: Relays whose job has not answered yet (kept alive until then).
_relays: set[_AsideRelay] = set()


def run_aside(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[JobError], None] | None = None,
    **kwargs: Any,
) -> None:
    """Run ``fn`` at once on a short-lived thread of its own, not in the worker's queue.

    Only for work on this PC that must not wait behind a database job: keeping the END in the
    outbox at the End click, while a heartbeat may hang on a server that stopped answering
    (the END then never reached the outbox, and was lost at logoff). A daemon thread: a
    process that exits does not wait for it. Results and errors come back on the GUI thread,
    as the worker's do.
    """
    relay = _AsideRelay(on_done, on_error)
    _relays.add(relay)

    def body() -> None:
        try:
            result = fn(*args, **kwargs)
        except NexusLoggerError as err:
            relay.finished.emit(None, JobError(str(err), err))
        except Exception as err:  # shown as a sentence; the traceback goes to the log
            _logger.exception("Job beside the database worker failed unexpectedly")
            relay.finished.emit(None, JobError(f"Unexpected error: {err}.", err))
        else:
            relay.finished.emit(result, None)

    threading.Thread(target=body, name="nexus-logger-aside", daemon=True).start()
