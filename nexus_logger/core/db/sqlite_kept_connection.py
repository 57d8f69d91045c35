"""An SQLite engine's one kept connection, never a stale one: before each transaction the file
is checked to be the one the connection opened (same device and inode), a connection opened
while the file could not be written is reopened once it can, a connection that failed with an
I/O error is thrown away, and one unused for :data:`SQLITE_IDLE_SECONDS` is
closed, so a PC does not hold the file open while it has nothing to do (on Windows an open
file cannot be replaced). SQLite itself drops its page cache when another PC changed the
file, so a kept connection reads what is there now."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

__all__ = ["SQLITE_IDLE_SECONDS", "keep_fresh"]

#: An SQLite connection unused this long is closed (seconds).
SQLITE_IDLE_SECONDS = 5.0
#: SQLite result codes (low byte) after which a connection is not used again: I/O error,
#: corrupt, cannot open, not a database, read-only (a share remounted, a file moved away).
_STALE_CODES = frozenset({8, 10, 11, 14, 26})


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def keep_fresh(engine: Engine, path: Path) -> None:
    """Never hand out an SQLite connection to a file that is no longer the one it opened, or
    one that failed with an I/O error, or one that sat unused too long."""
    closer = _IdleCloser(engine)

    @event.listens_for(engine, "connect")
    def _opened(dbapi: Any, record: Any) -> None:
        record.info["identity"] = _file_identity(path)
        # SQLite opens a file it may not write read-only, and the connection stays so.
        record.info["writable"] = os.access(path, os.W_OK)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, proxy: Any) -> None:
        used = record.info.get("used")
        if used is not None and time.monotonic() - used > SQLITE_IDLE_SECONDS:
            raise DisconnectionError("idle too long")  # the pool opens a new one
        if _file_identity(path) != record.info.get("identity"):
            raise DisconnectionError(f"{path} is not the file this connection opened")
        if not record.info.get("writable", True) and os.access(path, os.W_OK):
            raise DisconnectionError(f"{path} can be written again; reopen it for writing")

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi: Any, record: Any) -> None:
        record.info["used"] = time.monotonic()
        closer.touch()

    @event.listens_for(engine, "handle_error")
    def _stale(context: Any) -> None:
        err = context.original_exception
        code = getattr(err, "sqlite_errorcode", None)
        if isinstance(err, sqlite3.Error) and code is not None and code & 0xFF in _STALE_CODES:
            # Roll back first: a thrown-away connection is only closed, and SQLite keeps a
            # connection with an unfinished statement (still referenced by the traceback)
            # open, with its write lock, until that statement is gone.
            with contextlib.suppress(Exception):
                context.connection.connection.dbapi_connection.rollback()
            context.is_disconnect = True  # the pool throws this connection away


class _IdleCloser:
    """Closes an SQLite engine's idle connections after :data:`SQLITE_IDLE_SECONDS` (one daemon
    thread per engine, started on first use, gone when the engine is)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)
        self._last = time.monotonic()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def touch(self) -> None:
        self._last = time.monotonic()
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-idle-closer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(SQLITE_IDLE_SECONDS / 2)
            engine = self._engine()
            if engine is None:
                return
            pool = engine.pool
            if time.monotonic() - self._last > SQLITE_IDLE_SECONDS and pool.checkedout() == 0:
                pool.dispose()  # closes the connections kept in the pool, not those in use
                with self._lock:
                    if time.monotonic() - self._last > SQLITE_IDLE_SECONDS:
                        self._thread = None
                        return
                # used again while closing: keep watching
            del engine, pool
