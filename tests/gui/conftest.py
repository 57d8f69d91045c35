"""Fixtures for the window tests (Qt offscreen, pytest-qt), also used by the admin tests.

Every test under ``tests/gui`` fails on a Qt warning (qutebrowser style): the
``qt_log_level_fail("WARNING")`` marker is added to each of them here, so a layout, font or
signal problem that Qt only mentions on stderr shows up as a failing test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus_logger.gui.main_window import MainWindow
from nexus_logger.gui.worker import DbWorker
from tests.gui.helpers_gui import SqliteLock, gui_settings

HERE = Path(__file__).resolve().parent

#: Qt messages that are not about nexus-logger: what the offscreen platform cannot do
#: (raise a window, propagate size hints...).
QT_LOG_IGNORE = (r"^This plugin does not support \w+\(\)",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE not in Path(str(item.fspath)).resolve().parents:
            continue
        if item.get_closest_marker("qt_log_level_fail") is None:
            item.add_marker(pytest.mark.qt_log_level_fail("WARNING"))
        item.add_marker(pytest.mark.qt_log_ignore(*QT_LOG_IGNORE))


def _unexpected(name: str) -> Callable[..., Any]:
    def call(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError(f"the window asked {name}() although the test did not expect it")

    return call


@pytest.fixture
def db_worker(qtbot) -> Iterator[DbWorker]:
    """A database worker that is stopped (and checked to stop) after the test."""
    worker = DbWorker()
    yield worker
    assert worker.shutdown(15_000), "the database worker did not stop"


@pytest.fixture
def make_window(qtbot, db_worker: DbWorker) -> Iterator[Callable[..., MainWindow]]:
    """Factory: ``make_window(database, start=True, **settings)`` -> a shown MainWindow.

    Its dialogs are replaced by functions that fail the test: a test that expects a question
    replaces ``ask_resume_choice`` / ``ask_close_choice`` / ``ask_end_without_files`` itself, so no test waits on a modal
    ``exec()``.
    """
    windows: list[MainWindow] = []

    def make(database: str, *, start: bool = True, **overrides: Any) -> MainWindow:
        window = MainWindow(db_worker, lambda: gui_settings(database, **overrides))
        window.ask_resume_choice = _unexpected("ask_resume_choice")  # type: ignore[method-assign]
        window.ask_close_choice = _unexpected("ask_close_choice")  # type: ignore[method-assign]
        window.ask_end_without_files = _unexpected("ask_end_without_files")  # type: ignore[method-assign]
        # Not registered with qtbot.addWidget: pytest-qt would delete it before the background
        # jobs of the test have answered; the teardown below closes it once they have.
        window.show()
        qtbot.waitExposed(window)
        windows.append(window)
        if start:
            window.start()
        return window

    yield make
    # Let the background jobs of the test answer, then close without asking anything.
    qtbot.waitUntil(lambda: db_worker.pending == 0, timeout=15_000)
    for window in windows:
        window._closing = True
        window.close()
        window.deleteLater()


@pytest.fixture
def sqlite_lock() -> Iterator[Callable[[str], SqliteLock]]:
    """Factory of :class:`SqliteLock`; every lock is released at the end of the test."""
    locks: list[SqliteLock] = []

    def make(path: str) -> SqliteLock:
        lock = SqliteLock(path)
        locks.append(lock)
        return lock

    yield make
    for lock in locks:
        lock.close()


@pytest.fixture
def log_to_file() -> Iterator[Path]:
    """The app's log file handler, as ``nexus-logger`` sets it up (in the test's home)."""
    from nexus_logger.core.settings.logsetup import remove_logging, setup_logging

    path = setup_logging("DEBUG")
    assert path is not None
    yield path
    remove_logging()
