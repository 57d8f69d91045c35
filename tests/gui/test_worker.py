"""The database worker runs jobs off the GUI thread, in order, and reports errors as text."""

from __future__ import annotations

import threading
import time

import pytest

from nexus_logger.core.errors import DatabaseUnavailable
from nexus_logger.gui.worker import DbWorker, JobError


@pytest.fixture
def worker(qtbot):
    w = DbWorker()
    yield w
    assert w.shutdown()


def test_jobs_run_on_worker_thread_in_order(qtbot, worker: DbWorker) -> None:
    gui_thread = threading.get_ident()
    seen: list[tuple[int, int]] = []
    for i in range(5):
        worker.submit(lambda i=i: (i, threading.get_ident()), on_done=seen.append)
    qtbot.waitUntil(lambda: len(seen) == 5)
    assert [i for i, _ in seen] == list(range(5))
    assert all(tid != gui_thread for _, tid in seen)
    assert len({tid for _, tid in seen}) == 1


def test_errors_come_back_as_messages(qtbot, worker: DbWorker) -> None:
    errors: list[JobError] = []

    def fail() -> None:
        raise DatabaseUnavailable("The database x cannot be reached.")

    def crash() -> None:
        raise ZeroDivisionError("boom")

    worker.submit(fail, on_error=errors.append)
    worker.submit(crash, on_error=errors.append)
    qtbot.waitUntil(lambda: len(errors) == 2)
    assert errors[0].message == "The database x cannot be reached."
    assert isinstance(errors[0].exception, DatabaseUnavailable)
    assert errors[1].message.startswith("Unexpected error: boom")


def test_event_loop_keeps_running_during_slow_job(qtbot, worker: DbWorker) -> None:
    release = threading.Event()
    done: list[str] = []
    ticks: list[float] = []
    busy: list[bool] = []
    worker.busy_changed.connect(busy.append)
    worker.submit(lambda: release.wait(10) and "finished", on_done=done.append)
    from PySide6.QtCore import QTimer

    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5)  # the GUI thread is free while the job blocks
    assert worker.pending == 1 and not done
    release.set()
    qtbot.waitUntil(lambda: done == ["finished"])
    timer.stop()
    assert busy == [True, False]
