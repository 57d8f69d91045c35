"""Engines for the shared database, an SQLite file (the default) or a PostgreSQL server: one per
database, reused; the database used when none is given; and the transactions everything runs
in, their errors said in one readable sentence.

How each kind is set up: :mod:`~nexus_logger.core.db.sqlite_engine` (a file on a network share
that several PCs write to), :mod:`~nexus_logger.core.db.sqlite_kept_connection` (its kept
connection, never a stale one), :mod:`~nexus_logger.core.db.postgres_engine`; a database given
as text: :mod:`~nexus_logger.core.db.database_url`.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from nexus_logger.core.db import pipeline
from nexus_logger.core.db.database_url import is_url, masked, parse_url, sqlite_uri
from nexus_logger.core.db.postgres_engine import postgres_engine
from nexus_logger.core.db.sqlite_engine import sqlite_engine
from nexus_logger.core.errors import (
    FOLDER_FIX,
    ConfigError,
    DatabaseMissing,
    DatabaseReadOnly,
    DatabaseUnavailable,
    NexusLoggerError,
    ReadOnlyFolder,
    translate,
)

_logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT",
    "EngineLike",
    "create_db_engine",
    "default_database",
    "describe",
    "dispose_engines",
    "engine_info",
    "get_engine",
    "is_sqlite",
    "is_url",
    "parse_url",
    "read_connection",
    "set_default_database",
    "sqlite_uri",
    "write_transaction",
]

#: What every public function accepts as its database: an Engine, a path, a URL, or ``None``
#: for the configured database.
EngineLike: TypeAlias = Engine | str | os.PathLike[str] | None

DEFAULT_TIMEOUT = 30.0

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
            return masked(text)
    return text


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
            return _sqlite(Path(url.database), create, timeout)
        if backend == "postgresql":
            return postgres_engine(url, timeout)
        if backend == "postgres":  # Heroku's and libpq's spelling; SQLAlchemy wants the full one
            raise ConfigError(
                f"The database URL '{describe(text)}' starts with postgres://; write it "
                "postgresql+psycopg:// (the same URL otherwise)."
            )
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
            f"The database file {path} does not exist. Check the path and that the share is "
            "connected. (Only for a facility that has no database yet: 'nexus-logger init-db' "
            "creates one; a second file would split the sessions.)"
        )
    if not exists and _missing_folder(path.absolute().parent):
        raise DatabaseMissing(
            f"The folder {path.absolute().parent} does not exist, so the database file "
            f"{path.name} cannot be created in it. Create the folder first, or check the path "
            "(is the share connected?)."
        )
    return _sqlite(path, create, timeout)


def _missing_folder(path: Path) -> bool:
    """True only when ``path`` is known not to exist (an unreadable one is left to SQLite)."""
    try:
        return not path.exists()
    except OSError:
        return False


def _sqlite(path: Path, create: bool, timeout: float) -> Engine:
    engine = sqlite_engine(path, create, timeout)
    engine_info(engine)["nexus_path"] = str(path)  # what describe() names it by
    engine_info(engine)["nexus_may_create"] = create
    return engine


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
def _errors_said(engine: Engine) -> Iterator[None]:
    """Database errors raised inside come out as a readable
    :class:`~nexus_logger.core.errors.NexusLoggerError` naming ``engine``'s database."""
    try:
        yield
    except (SQLAlchemyError, sqlite3.Error) as err:
        said = translate(err, describe(engine))
        if isinstance(said, DatabaseUnavailable):
            said = _folder_refusal(engine, err) or said
        raise said from err


def _folder_refusal(engine: Engine, err: BaseException) -> DatabaseReadOnly | None:
    """SQLite: the error to raise instead of "unavailable" when the folder refuses new files.

    SQLite says "unable to open database file" both for a share that went away and for a
    folder that refuses the journal of a write (or the file a new database would be). After
    that error only: the file must still open for reading (else it is the share or a login,
    which waiting or logging in again may fix, so "unavailable" stays), then a file is created
    in the folder and removed at once; only that creation being refused counts.
    """
    if not is_sqlite(engine) or "unable to open database" not in str(err).lower():
        return None
    path = engine_info(engine).get("nexus_path")
    if not path:
        return None
    path = Path(path).absolute()
    try:
        exists = path.exists()
        if exists:
            with path.open("rb") as file:
                file.read(100)
        elif not engine_info(engine).get("nexus_may_create") or not path.parent.is_dir():
            return None  # gone (a share that dropped, a file moved), not to be made here
    except OSError:
        return None
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            return None
    except PermissionError:
        pass
    except OSError as refused:
        if refused.errno != errno.EROFS:
            return None
        # Mounted read-only: no right on the folder would help (FOLDER_FIX asks for one).
        return DatabaseReadOnly(
            f"The database {describe(engine)} is on a share or disk mounted read-only: it can "
            "be read, but nothing can be written there. Ask IT to mount it for writing."
        )
    if exists:
        return ReadOnlyFolder.of(describe(engine))
    return DatabaseReadOnly(
        f"The folder {path.parent} does not let this account create files, so the database "
        f"{path.name} cannot be created there. {FOLDER_FIX}"
    )


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-then-write transaction: ``BEGIN IMMEDIATE`` on SQLite, ``BEGIN`` on PostgreSQL.

    Commits when the block ends normally and rolls back on any exception. Database errors come
    out as :class:`~nexus_logger.core.errors.NexusLoggerError` with a readable message.
    """
    options = {"nexus_write": True, pipeline.FINISHED_OPTION: True}
    with _errors_said(engine), engine.connect().execution_options(**options) as conn:
        try:
            with conn.begin():
                yield conn
        finally:
            pipeline.finish(conn)  # the driver as it was, if a batch sent its own BEGIN


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (deferred on SQLite, so it never blocks writers for long)."""
    with _errors_said(engine), engine.connect() as conn:
        with conn.begin():
            yield conn
