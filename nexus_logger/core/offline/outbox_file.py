"""The outbox file itself: a local SQLite file opened once per :class:`OutboxFile`, created
and upgraded in place, moved aside when damaged, with every write one fsynced transaction."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.settings import paths

_logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"
#: 2: ``events.confirmed`` (a START the user was told about); no more ``open_sessions`` use.
#: 3: ``events.ended_by`` (the login that ended another login's session).
_SCHEMA_VERSION = 3
#: How long a local write waits for another nexus-logger process holding the outbox.
_LOCAL_TIMEOUT = 15.0


def default_path() -> Path:
    """This PC's outbox file (without the ``outbox_folder`` setting or the fallback that
    :mod:`~nexus_logger.core.offline.outbox_place` applies)."""
    return paths.machine_outbox_dir() / OUTBOX_FILE


_DDL = (
    """
    CREATE TABLE IF NOT EXISTS events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('START', 'END')),
        database TEXT NOT NULL,
        session_identifier TEXT NOT NULL,
        instrument_pid TEXT NOT NULL,
        timezone TEXT NOT NULL,
        user TEXT,
        note TEXT,
        at_text TEXT NOT NULL,
        start_text TEXT,
        created TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'held', 'sent', 'skipped')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_attempt TEXT,
        done_at TEXT,
        confirmed INTEGER NOT NULL DEFAULT 1,
        ended_by TEXT
    )
    """,
    "CREATE INDEX IF NOT EXISTS events_by_state ON events (state, database, id)",
    "CREATE INDEX IF NOT EXISTS events_by_session ON events (session_identifier)",
    """
    CREATE TABLE IF NOT EXISTS conflicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL REFERENCES events (id),
        kind TEXT NOT NULL,
        database TEXT NOT NULL,
        session_identifier TEXT NOT NULL,
        instrument_pid TEXT NOT NULL,
        message TEXT NOT NULL,
        created TEXT NOT NULL,
        handled_at TEXT,
        handled_by TEXT,
        handled_note TEXT
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS instruments (
        database TEXT NOT NULL,
        requested TEXT NOT NULL,
        instrument_pid TEXT NOT NULL,
        display_name TEXT NOT NULL,
        timezone TEXT NOT NULL,
        location TEXT NOT NULL DEFAULT '',
        api_url TEXT NOT NULL DEFAULT '',
        calendar_url TEXT NOT NULL DEFAULT '',
        property_tag TEXT NOT NULL DEFAULT '',
        filestore_path TEXT NOT NULL DEFAULT '',
        harvester TEXT NOT NULL DEFAULT '',
        saved TEXT NOT NULL,
        PRIMARY KEY (database, requested)
    )
    """,
)
#: The columns added since version 1, by the version that added them.
_UPGRADES = {
    2: "ALTER TABLE events ADD COLUMN confirmed INTEGER NOT NULL DEFAULT 1",
    3: "ALTER TABLE events ADD COLUMN ended_by TEXT",
}


def damaged_copies(path: Path) -> list[Path]:
    """The damaged outbox files kept beside ``path`` (oldest first): until someone looks at
    them and removes them, they may hold events that were never sent."""
    return sorted(path.parent.glob(f"{path.name}.damaged-*[0-9TZ]"))


def damaged_notice(copy: Path) -> str:
    """One sentence about a damaged outbox file kept aside (status, doctor)."""
    return (
        f"This PC's outbox was damaged and is kept as {copy}: any START or END that waited in "
        "it was not sent. Tell facility staff; they check the session times in the Admin tab "
        "and remove the file."
    )


class OutboxError(NexusLoggerError):
    """The local outbox file cannot be used (disk full, no permission, damaged file)."""


#: SQLite's words for a file that is not (or no longer) a database it can read.
_DAMAGED = ("file is not a database", "malformed", "file is encrypted", "not a database")


def _problem(path: Path, err: BaseException) -> str:
    """What is wrong with the outbox file, in one sentence, from an OS or SQLite error."""
    low = str(err).lower()
    if _nearly_full(path.parent):
        # However SQLite words it: "disk I/O error" while writing its WAL, "cannot rollback -
        # no transaction is active" when the new file's first transaction could not begin.
        low = "disk is full"
    if "disk is full" in low or "no space" in low or getattr(err, "errno", None) == 28:
        return (
            f"The disk holding the local outbox {path} is full. Free some space: the outbox "
            "then works again by itself."
        )
    if "readonly" in low or "read-only" in low or isinstance(err, PermissionError):
        return (
            f"The local outbox {path} cannot be written by this account (read-only folder or "
            "file). Ask IT to let every login write to that folder."
        )
    return (
        f"The local outbox {path} cannot be used ({err}). Check that its folder exists and "
        "can be written."
    )


def _nearly_full(folder: Path) -> bool:
    """True when the disk holding ``folder`` has less room than one outbox write needs."""
    try:
        return shutil.disk_usage(folder).free < 64 * 1024
    except OSError:
        return False


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()


class OutboxFile:
    """The outbox file; what its tables hold is :class:`~nexus_logger.core.offline.outbox.Outbox`'s.

    Cheap to create; any thread may use it (calls are serialised).

    Several processes (the window and ``nexus-logger sync``) may use the same file: writes are
    ``BEGIN IMMEDIATE`` transactions, so each one is atomic against the others. A connection
    that failed is dropped, so the next call opens the file again (after space was freed, say).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_path()
        # One connection per Outbox, kept open: opening and closing a WAL file for every call
        # costs a checkpoint and several fsyncs each time. The lock lets threads share it.
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        #: Where a damaged file was moved, once this object did it (for the user's warning).
        self.moved_aside: Path | None = None
        self._closer: weakref.finalize | None = None

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=_LOCAL_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as err:
            raise OutboxError(_problem(self.path, err)) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(_LOCAL_TIMEOUT * 1000)}")
            # WAL is safe here: the file is on a local disk, never on a share. FULL: every
            # commit is fsynced, so a kept event survives a power cut.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            # Damage past the first page only shows when a query reaches it: then every start
            # and end failed until someone deleted the file. The file is small; check it whole.
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"database disk image is malformed ({verdict})")
            self._upgrade(conn)
        except sqlite3.DatabaseError as err:
            conn.close()
            if any(word in str(err).lower() for word in _DAMAGED):
                return self._replace_damaged(err)
            raise OutboxError(_problem(self.path, err)) from None
        return conn

    @staticmethod
    def _upgrade(conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version >= _SCHEMA_VERSION:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # under the lock
            for added in range(version + 1, _SCHEMA_VERSION + 1) if version else ():
                conn.execute(_UPGRADES[added])
            for ddl in _DDL:
                conn.execute(ddl)
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _replace_damaged(self, err: BaseException) -> sqlite3.Connection:
        """Move a damaged file (and its WAL) aside, keeping it for support, and start anew."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(str(self.path) + suffix)
                if part.exists():
                    part.replace(Path(str(target) + suffix))
        except OSError as move_err:
            raise OutboxError(
                f"The local outbox {self.path} is damaged ({err}) and could not be moved aside "
                f"({move_err}). Move it away by hand; nexus-logger then starts a new one."
            ) from None
        self.moved_aside = target
        _logger.error(
            "The local outbox %s was damaged (%s); it was moved to %s and a new one started. "
            "Events that waited in it were not sent: look at that file with support.",
            self.path,
            err,
            target,
        )
        return self._open()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
            # Closed when this object goes, or at the latest at the interpreter's exit: an
            # sqlite3 connection sits in a reference cycle with its statement cache, so only
            # the cycle collector would close it, and a command's process exits without
            # collecting (core/cycle_collector.py). Left open, the WAL file kept its -wal and
            # -shm beside it, and a copy of outbox.sqlite alone missed the events in them.
            self._closer = weakref.finalize(self, _close_quietly, self._conn)
        return self._conn

    def _drop(self) -> None:
        """Forget the connection after an error, so the next call opens the file afresh."""
        if self._closer is not None:
            self._closer()  # closes it (once)
            self._closer = None
        self._conn = None

    def close(self) -> None:
        """Close the file (it is opened again on the next call)."""
        with self._lock:
            self._drop()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                yield conn
            except sqlite3.Error as err:
                self._drop()
                raise OutboxError(_problem(self.path, err)) from None

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction, for moving rows in bulk (:mod:`outbox_adopt`)."""
        return self._write()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as err:
                self._drop()
                raise OutboxError(_problem(self.path, err)) from None
