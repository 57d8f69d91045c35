"""The SQLite engine of a database file, set up for a file on a network share that several PCs
write to: rollback journal (never WAL), a busy timeout, a real ``BEGIN IMMEDIATE`` for every
write transaction (polled fairly among waiters), and a file never created by accident."""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from nexus_logger.core.db.database_url import sqlite_uri
from nexus_logger.core.db.sqlite_kept_connection import keep_fresh

_logger = logging.getLogger(__name__)

__all__ = ["SQLITE_CACHE_KIB", "sqlite_engine"]

#: SQLite page cache of a connection (KiB; pages are taken only as the file needs them).
SQLITE_CACHE_KIB = 65536


def sqlite_engine(path: Path, create: bool, timeout: float) -> Engine:
    """The engine of the file at ``path`` (``create``: it may be made), waiting ``timeout``
    seconds for a lock."""
    uri = sqlite_uri(path.absolute(), "rwc" if create else "rw")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(
            uri, uri=True, timeout=timeout, check_same_thread=False, isolation_level=None
        )
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        # The open-session check reads the whole session_log (NexusLIMS gives it no index on
        # instrument): with SQLite's default 8 MB cache a kept connection rereads most of a
        # 100,000-session file from the OS each time (28 ms a scan here; 17 ms with this).
        conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        if str(mode).lower() == "wal":
            # Someone switched the file to WAL; that breaks on network shares. Switching back
            # needs the file to ourselves, so a failure here is only logged.
            try:
                conn.execute("PRAGMA journal_mode = DELETE")
                _logger.warning("%s was in WAL mode; switched it back to DELETE", path)
            except sqlite3.Error as err:
                _logger.warning("%s is in WAL mode and could not be switched back: %s", path, err)
        return conn

    engine = create_engine(
        "sqlite://", creator=connect, poolclass=QueuePool, pool_size=1, max_overflow=16
    )
    keep_fresh(engine, path)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # pysqlite's own transaction handling is off (isolation_level=None); emit BEGIN here so
        # that write transactions can take the write lock up front.
        if conn.get_execution_options().get("nexus_write"):
            dbapi = conn.connection.dbapi_connection
            dbapi.execute("PRAGMA busy_timeout = 0")
            try:
                if not _poll_begin_immediate(dbapi, timeout):
                    # Last try through SQLAlchemy, so a failure is the same wrapped error
                    # ("database is locked", ...) that callers have always seen.
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
            finally:
                # In force again for the rest of the transaction (COMMIT may wait for readers).
                dbapi.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


def _poll_begin_immediate(dbapi: Any, timeout: float) -> bool:
    """Try ``BEGIN IMMEDIATE`` until ``timeout`` with even-handed polls; True once it is held.

    SQLite's own busy handler sleeps longer the longer it has waited (up to 100 ms a try), so
    with many writers the one that just committed, or a newcomer, keeps winning the lock and an
    early waiter can starve past the timeout (seen with 20 writers on one file: 24-30 s waits).
    Polling every 5-20 ms at random, however long one has waited, gives every waiter the same
    chance (longest wait about 7 s in the same run), at a modest cost in lock attempts.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            dbapi.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as err:
            low = str(err).lower()
            if ("locked" not in low and "busy" not in low) or time.monotonic() >= deadline:
                return False
        time.sleep(random.uniform(0.005, 0.020))
