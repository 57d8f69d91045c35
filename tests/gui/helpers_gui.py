"""Helpers of the window tests: settings, waiting for a phase, a held SQLite lock, SQL checks."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from nexus_logger.core.settings.config import Settings, load_settings
from nexus_logger.gui.main_window import MainWindow, Phase

#: Instrument the window tests run as (from ``TEST_INSTRUMENTS`` in tests/conftest.py).
PID = "TEST-TEM-001"


def gui_settings(database: str, **overrides: Any) -> Settings:
    """Settings for a window on ``database`` as instrument :data:`PID`."""
    values = {"database": database, "instrument": PID, "auto_close_seconds": 3}
    values.update(overrides)
    return load_settings(None, values)


def wait_phase(qtbot, window: MainWindow, phase: Phase, timeout: int = 15_000) -> None:
    """Wait until the window reaches ``phase``; on failure say where it is."""

    def reached() -> None:
        assert window.phase is phase, (
            f"window is {window.phase.value}; error shown: {window.steps_page.error_label.text()!r}"
        )

    qtbot.waitUntil(reached, timeout=timeout)


class SqliteLock:
    """Another program holding the SQLite database file's exclusive lock.

    A second connection (as a different program would have) with ``BEGIN EXCLUSIVE``:
    readers and writers of the app wait on it up to their busy timeout.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.held = False

    def acquire(self) -> SqliteLock:
        self.conn.execute("BEGIN EXCLUSIVE")
        self.held = True
        return self

    def release(self) -> None:
        if self.held:
            self.conn.execute("ROLLBACK")
            self.held = False

    def close(self) -> None:
        self.release()
        self.conn.close()


class Ticker:
    """Counts timer ticks on the GUI thread: proof that the event loop keeps running."""

    def __init__(self, interval_ms: int = 20) -> None:
        from PySide6.QtCore import QTimer

        self.ticks: list[float] = []
        self.timer = QTimer()
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(lambda: self.ticks.append(time.monotonic()))
        self.timer.start()

    def count_since(self, start: float) -> int:
        return sum(1 for t in self.ticks if t >= start)

    def max_gap(self, start: float) -> float:
        stamps = [t for t in self.ticks if t >= start]
        return max((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=0.0)

    def stop(self) -> None:
        self.timer.stop()


def session_rows(path: str, conn: sqlite3.Connection | None = None) -> list[dict[str, Any]]:
    """Every START and END row, oldest first (through ``conn`` if given, e.g. a lock holder's)."""
    own = conn is None
    db = sqlite3.connect(path) if conn is None else conn
    try:
        cursor = db.execute(
            "SELECT session_identifier, instrument, event_type, record_status, user, timestamp "
            "FROM session_log WHERE event_type IN ('START', 'END') ORDER BY id_session_log"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        if own:
            db.close()


def rows_of(
    path: str, session_identifier: str, conn: sqlite3.Connection | None = None
) -> list[dict[str, Any]]:
    """The rows of one session."""
    return [r for r in session_rows(path, conn) if r["session_identifier"] == session_identifier]
