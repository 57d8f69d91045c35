"""Engines for the shared database: an SQLite file (the default) or a PostgreSQL server.

SQLite rules, because the file often lives on a network share that several PCs write to:

* rollback journal, never WAL (WAL needs shared memory that network file systems do not give);
* a busy timeout (30 s by default) so a briefly locked file is waited for, not failed;
* a real ``BEGIN IMMEDIATE`` for every read-then-write transaction (:func:`write_transaction`),
  so that the check and the write happen under one write lock;
* a file that does not exist is never created by accident (``mode=rw``); only ``init-db`` and
  the demo create files;
* one kept connection per busy thread, never a stale one: before each transaction the file is
  checked to be the one the connection opened (same device and inode; a file replaced,
  moved away or on a share that went away gets a new connection, or the real error), an I/O
  error throws the connection away, and a connection unused for :data:`SQLITE_IDLE_SECONDS`
  is closed, so a PC does not hold the file open while it has nothing to do (on Windows an
  open file cannot be replaced). SQLite itself drops its page cache when another PC changed
  the file, so a kept connection reads what is there now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import select
import sqlite3
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, SQLAlchemyError
from sqlalchemy.pool import QueuePool

from nexus_logger.core.errors import (
    ConfigError,
    DatabaseMissing,
    DatabaseUnavailable,
    NexusLoggerError,
    translate,
)

_logger = logging.getLogger(__name__)

#: What every public function accepts as its database: an Engine, a path, a URL, or ``None``
#: for the configured database.
EngineLike: TypeAlias = Engine | str | os.PathLike[str] | None

DEFAULT_TIMEOUT = 30.0
#: A pooled PostgreSQL connection unused this long is pinged before use (seconds).
PING_AFTER_IDLE_SECONDS = 30.0
#: SQLite page cache of a connection (KiB; pages are taken only as the file needs them).
SQLITE_CACHE_KIB = 65536
#: An SQLite connection unused this long is closed (seconds).
SQLITE_IDLE_SECONDS = 5.0
#: SQLite result codes (low byte) after which a connection is not used again: I/O error,
#: corrupt, cannot open, not a database, read-only (a share remounted, a file moved away).
_STALE_CODES = frozenset({8, 10, 11, 14, 26})

_engines: dict[tuple[str, bool, float], Engine] = {}
_engine_info: weakref.WeakKeyDictionary[Engine, dict[str, Any]] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()
_default_target: str | None = None


def engine_info(engine: Engine) -> dict[str, Any]:
    """A per-engine dictionary for facts worth caching (file path, reflected schema)."""
    return _engine_info.setdefault(engine, {})


def set_default_database(target: str | os.PathLike[str] | None) -> None:
    """Make ``target`` the database used when a function is given no engine (CLI ``--db``)."""
    global _default_target
    _default_target = os.fspath(target) if target is not None else None


def default_database() -> str:
    """The database used when none is given: :func:`set_default_database`, else the config."""
    if _default_target:
        return _default_target
    from nexus_logger.core.settings.config import load_settings

    return load_settings().database_target


def is_url(target: str) -> bool:
    """True for ``scheme://...`` text; a Windows path such as ``C:\\x`` is not a URL."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", target))


def sqlite_uri(path: Path, mode: str) -> str:
    """An SQLite ``file:`` URI for ``path`` that also works for Windows drive and UNC paths."""
    posix = path.as_posix()
    quoted = urllib.parse.quote(posix, safe="/:")
    if posix.startswith("//"):  # \\server\share\... on Windows
        base = "file:" + "//" + quoted
    elif re.match(r"^[A-Za-z]:", posix):
        base = "file:///" + quoted
    else:
        base = "file:" + quoted
    return f"{base}?mode={mode}"


def describe(target: EngineLike) -> str:
    """A printable name for a database, never showing a password."""
    if isinstance(target, Engine):
        url = target.url
        if url.get_backend_name() == "sqlite":
            return str(engine_info(target).get("nexus_path") or url.database or "in-memory SQLite")
        return url.render_as_string(hide_password=True)
    if target is None:
        target = default_database()
    text = os.fspath(target)
    if is_url(text):
        try:
            return parse_url(text).render_as_string(hide_password=True)
        except ConfigError:
            return _masked(text)
    return text


def parse_url(text: str) -> URL:
    """The SQLAlchemy URL in ``text``, or :class:`ConfigError` saying what is wrong with it.

    (SQLAlchemy raises ``ValueError``, not its own error, for a port that is not a number.)
    """
    netloc = re.split(r"[/?#]", text.split("://", 1)[-1], maxsplit=1)[0]
    if netloc.count("@") > 1:
        # SQLAlchemy would end the password at the first "@" and take the rest for the host.
        raise ConfigError(
            f"'{_masked(text)}' is not a valid database URL: it has more than one '@' before "
            "the host. Write an '@' in the user name or password as %40."
        )
    try:
        return make_url(text)
    except (ArgumentError, ValueError) as err:
        if isinstance(err, ValueError):  # "invalid literal for int() with base 10: 'x'"
            port = str(err).rpartition(": ")[2]
            detail = f"the port {port} is not a number"
        else:
            detail = "unreadable"
        raise ConfigError(
            f"'{_masked(text)}' is not a valid database URL ({detail}). Use a file path or "
            "postgresql+psycopg://user:password@host[:port]/dbname."
        ) from None


def _masked(text: str) -> str:
    """``text`` with the password of a URL hidden (up to the last "@": it may contain "@")."""
    return re.sub(r"://([^:/@]*):.*@", r"://\1:***@", text)


def _sqlite_engine(path: Path, create: bool, timeout: float) -> Engine:
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
    engine_info(engine)["nexus_path"] = str(path)
    _keep_fresh(engine, path)

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


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _keep_fresh(engine: Engine, path: Path) -> None:
    """Never hand out an SQLite connection to a file that is no longer the one it opened, or
    one that failed with an I/O error, or one that sat unused too long (see the module doc)."""
    closer = _IdleCloser(engine)

    @event.listens_for(engine, "connect")
    def _opened(dbapi: Any, record: Any) -> None:
        record.info["identity"] = _file_identity(path)

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, proxy: Any) -> None:
        used = record.info.get("used")
        if used is not None and time.monotonic() - used > SQLITE_IDLE_SECONDS:
            raise DisconnectionError("idle too long")  # the pool opens a new one
        if _file_identity(path) != record.info.get("identity"):
            raise DisconnectionError(f"{path} is not the file this connection opened")

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


def _postgres_engine(url: URL, timeout: float) -> Engine:
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise ConfigError(
            f"The database URL uses the driver '{url.drivername}'; nexus-logger supports "
            "'postgresql+psycopg://'. Change the URL's scheme."
        )
    ms = int(timeout * 1000)
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=4,
        connect_args={
            "connect_timeout": max(1, int(min(timeout, 10))),
            "options": f"-c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms * 4}",
            "application_name": "nexus-logger",
        },
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Hand out a pooled PostgreSQL connection without a ping round trip when it is known to
    be alive, so that the transactions of one click pay none (issue 19: at most 4 round trips).

    A server that shut down (restart, failover) tells each of its connections so before
    closing them: the idle socket then has something to read, which a zero-timeout
    ``select()`` sees at no cost, and the pool makes a new connection instead of failing the
    user's START as "unreachable". A connection idle for :data:`PING_AFTER_IDLE_SECONDS` is
    pinged as well (a network cut sends nothing).
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, proxy: Any) -> None:
        sock = getattr(getattr(dbapi, "pgconn", None), "socket", None)
        try:
            if sock is not None and select.select([sock], [], [], 0)[0]:
                raise DisconnectionError("the server closed this connection")
            used = record.info.get("used")
            if used is not None and time.monotonic() - used >= PING_AFTER_IDLE_SECONDS:
                engine.dialect.do_ping(dbapi)
        except DisconnectionError:
            raise
        except Exception as err:  # any failure: let the pool open a new connection
            raise DisconnectionError(f"pooled connection is gone: {err}") from err

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi: Any, record: Any) -> None:
        record.info["used"] = time.monotonic()


def create_db_engine(
    target: str | os.PathLike[str], *, create: bool = False, timeout: float = DEFAULT_TIMEOUT
) -> Engine:
    """Create an engine for a path or URL. ``create`` allows a new SQLite file to be made."""
    return _build_engine(target, create=create, timeout=timeout)


def _build_engine(target: str | os.PathLike[str], *, create: bool, timeout: float) -> Engine:
    text = os.fspath(target).strip()
    if not text:
        raise ConfigError("No database was given. Pass --db PATH_OR_URL or set 'database'.")
    if is_url(text):
        url = parse_url(text)
        backend = url.get_backend_name()
        if backend == "sqlite":
            if not url.database:
                raise ConfigError("An in-memory SQLite database cannot be shared; give a file.")
            return _sqlite_engine(Path(url.database), create, timeout)
        if backend == "postgresql":
            return _postgres_engine(url, timeout)
        raise ConfigError(
            f"The database '{describe(text)}' is neither an SQLite file nor PostgreSQL; "
            "nexus-logger supports only those two."
        )
    path = Path(text).expanduser()
    try:
        is_dir, exists = path.is_dir(), path.exists()
    except OSError as err:
        raise DatabaseUnavailable(
            f"The database file {path} cannot be reached ({err.strerror}). Check that the "
            "share is connected and that this account may open the folder."
        ) from None
    if is_dir:
        raise ConfigError(f"{path} is a folder, not a database file. Give the file's path.")
    if not create and not exists:
        raise DatabaseMissing(
            f"The database file {path} does not exist. Check the path (is the share "
            "connected?), or create a new database with 'nexus-logger init-db'."
        )
    return _sqlite_engine(path, create, timeout)


def get_engine(
    target: EngineLike = None, *, create: bool = False, timeout: float | None = None
) -> Engine:
    """Return an engine for ``target``, reusing one per database; ``None`` is the default DB."""
    if isinstance(target, Engine):
        return target
    text = os.fspath(target) if target is not None else default_database()
    if timeout is None:
        timeout = _configured_timeout()
    key = (text, create, timeout)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = create_db_engine(text, create=create, timeout=timeout)
            _engines[key] = engine
        return engine


def _configured_timeout() -> float:
    try:
        from nexus_logger.core.settings.config import load_settings

        return float(load_settings().db_timeout_seconds)
    except NexusLoggerError:
        return DEFAULT_TIMEOUT


def dispose_engines() -> None:
    """Close every cached engine (tests, and before the app exits)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def is_sqlite(engine: Engine) -> bool:
    """True for an SQLite engine."""
    return engine.url.get_backend_name() == "sqlite"


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction: ``BEGIN IMMEDIATE`` on SQLite, ``BEGIN`` on PostgreSQL.

    Commits when the block ends normally and rolls back on any exception. Database errors come
    out as :class:`~nexus_logger.core.errors.NexusLoggerError` with a readable message.
    """
    try:
        with engine.connect().execution_options(nexus_write=True) as conn:
            with conn.begin():
                yield conn
    except SQLAlchemyError as err:
        raise translate(err, describe(engine)) from err
    except sqlite3.Error as err:
        raise translate(err, describe(engine)) from err


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (deferred on SQLite, so it never blocks writers for long)."""
    try:
        with engine.connect() as conn:
            with conn.begin():
                yield conn
    except SQLAlchemyError as err:
        raise translate(err, describe(engine)) from err
    except sqlite3.Error as err:
        raise translate(err, describe(engine)) from err
