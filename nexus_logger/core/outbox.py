"""The local outbox: the file that keeps START and END events on this PC.

Instrument PCs reach the shared database over a share or a network that does go down. An event
that cannot be written there is kept here, in a small SQLite file in the data folder
(``paths.data_dir() / "outbox.sqlite"``), and sent later in the order it happened. The file is
local, so unlike the shared database it may use WAL, and every commit is fsynced
(``synchronous=FULL``): once :meth:`Outbox.add` returns, a power cut does not lose the event.

What the file holds:

* ``events``: one row per START or END, with an idempotency ``key``, the session identifier and
  the time of the click, the database it is meant for, its state (:class:`EventState`) and
  whether the user was told about it (``confirmed``);
* ``conflicts``: what sending could not apply as it was, with the outcome chosen
  (``docs/outbox.md``); a conflict stays listed until someone marks it handled;
* ``instruments``: the instrument identified last, so that a session can be started while the
  database is away.

This module is only the store. What to send, when, and what a conflict means is
:mod:`nexus_logger.core.sender`'s job. A damaged file is moved aside (kept, never deleted) and
a new one started; a full disk or a folder that cannot be written is one clear error.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.core import paths, timestamps
from nexus_logger.core.errors import Conflict, NexusLoggerError, NotFound

if TYPE_CHECKING:  # SQLAlchemy is imported only when needed: the window starts without it
    from nexus_logger.core.models import Instrument

_logger = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"
#: 2: ``events.confirmed`` (a START the user was told about); no more ``open_sessions`` use.
#: 3: ``events.ended_by`` (the login that ended another login's session).
_SCHEMA_VERSION = 3
#: How long a local write waits for another nexus-logger process holding the outbox.
_LOCAL_TIMEOUT = 15.0
#: Sent and skipped events are kept this long (for ``sync --status --all`` and support).
KEEP_DONE_DAYS = 30


class EventKind(StrEnum):
    """The two events a PC writes to ``session_log``."""

    START = "START"
    END = "END"


class EventState(StrEnum):
    """Where an event is.

    ``pending``: waiting to be sent (the next sync tries it). ``held``: kept on this PC and
    not sent automatically, because of a conflict (see ``docs/outbox.md``); it still counts as
    pending. ``sent``: in the database (or found there already). ``skipped``: deliberately not
    written; the reason is in its conflict or its ``last_error``.
    """

    PENDING = "pending"
    HELD = "held"
    SENT = "sent"
    SKIPPED = "skipped"


#: States that still count as "not yet in the database".
WAITING_STATES = (EventState.PENDING, EventState.HELD)


class ConflictKind(StrEnum):
    """The situations a replay cannot apply as they were recorded (``docs/outbox.md``)."""

    START_WHILE_OPEN = "start_while_open"
    OVERLAP = "overlap"
    END_WITHOUT_START = "end_without_start"
    END_ALREADY_RECORDED = "end_already_recorded"
    REJECTED = "rejected"


def default_path() -> Path:
    """This PC's outbox file (without the ``outbox_folder`` setting or the fallback that
    :mod:`~nexus_logger.core.outbox_place` applies)."""
    return paths.machine_outbox_dir() / OUTBOX_FILE


def _utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class OutboxEvent:
    """One START or END kept in the outbox."""

    id: int
    key: str
    kind: EventKind
    database: str
    session_identifier: str
    instrument_pid: str
    timezone: str
    user: str | None
    note: str | None
    at_text: str
    start_text: str | None
    created: str
    state: EventState
    attempts: int
    last_error: str | None
    done_at: str | None
    confirmed: bool = True
    #: For an END: the login that ended another login's session (audited when it is written).
    ended_by: str | None = None

    @property
    def at(self) -> datetime:
        """The event's time (aware, in the instrument's zone)."""
        return timestamps.parse(self.at_text, self.timezone).astimezone(
            timestamps.zone(self.timezone)
        )

    @property
    def started(self) -> datetime | None:
        """For an END: the START time this PC knew, used if the START has to be re-created."""
        if not self.start_text:
            return None
        return timestamps.parse(self.start_text, self.timezone).astimezone(
            timestamps.zone(self.timezone)
        )

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON output."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "session_identifier": self.session_identifier,
            "instrument": self.instrument_pid,
            "user": self.user,
            "time": self.at_text,
            "queued": self.created,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "database": self.database,
            "key": self.key,
        }


@dataclass(frozen=True)
class ConflictRecord:
    """A conflict found while replaying, with the outcome applied; open until handled."""

    id: int
    event_id: int
    kind: ConflictKind
    database: str
    session_identifier: str
    instrument_pid: str
    message: str
    created: str
    handled_at: str | None = None
    handled_by: str | None = None
    handled_note: str | None = None

    @property
    def handled(self) -> bool:
        """True once someone marked it handled."""
        return self.handled_at is not None

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON output."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "kind": self.kind.value,
            "session_identifier": self.session_identifier,
            "instrument": self.instrument_pid,
            "message": self.message,
            "found": self.created,
            "handled_at": self.handled_at,
            "handled_by": self.handled_by,
            "handled_note": self.handled_note,
            "database": self.database,
        }


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

# Every statement is a complete literal with bound parameters (no SQL is built from text).
_SELECT_EVENTS = (
    "SELECT id, key, kind, database, session_identifier, instrument_pid, timezone, user, note, "
    "at_text, start_text, created, state, attempts, last_error, done_at, confirmed, ended_by "
    "FROM events"
)
_EVENT_BY_KEY = _SELECT_EVENTS + " WHERE key = ?"
_EVENT_BY_ID = _SELECT_EVENTS + " WHERE id = ?"
# ``states`` is a comma-framed list such as ",pending,held,"; NULL filters match everything.
_EVENTS_FILTERED = (
    _SELECT_EVENTS + " WHERE instr(?, ',' || state || ',') > 0"
    " AND (? IS NULL OR database = ?) AND (? IS NULL OR session_identifier = ?) ORDER BY id"
)
_SELECT_CONFLICTS = (
    "SELECT id, event_id, kind, database, session_identifier, instrument_pid, message, created, "
    "handled_at, handled_by, handled_note FROM conflicts"
)
_CONFLICT_BY_ID = _SELECT_CONFLICTS + " WHERE id = ?"
_CONFLICTS_FILTERED = (
    _SELECT_CONFLICTS + " WHERE (? OR handled_at IS NULL) AND (? IS NULL OR database = ?)"
    " ORDER BY id"
)
_CONFLICT_OPEN_FOR_EVENT = (
    _SELECT_CONFLICTS + " WHERE event_id = ? AND kind = ? AND handled_at IS NULL ORDER BY id DESC"
)
_SAVE_INSTRUMENT = (
    "INSERT OR REPLACE INTO instruments (database, requested, instrument_pid, display_name, "
    "timezone, location, api_url, calendar_url, property_tag, filestore_path, harvester, saved) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LOAD_INSTRUMENT = (
    "SELECT instrument_pid, display_name, timezone, location, api_url, calendar_url, "
    "property_tag, filestore_path, harvester FROM instruments WHERE database = ? AND requested = ?"
)
_INSTRUMENT_FIELDS = (
    "instrument_pid",
    "display_name",
    "timezone",
    "location",
    "api_url",
    "calendar_url",
    "property_tag",
    "filestore_path",
    "harvester",
)


def _event(row: tuple) -> OutboxEvent:
    (eid, key, kind, db, sid, pid, tz, user, note, at, start, created, state, tries, err, done) = (
        row[:16]
    )
    return OutboxEvent(
        eid,
        key,
        EventKind(kind),
        db,
        sid,
        pid,
        tz,
        user,
        note,
        at,
        start,
        created,
        EventState(state),
        tries,
        err,
        done,
        bool(row[16]),
        row[17],
    )


def _conflict(row: tuple) -> ConflictRecord:
    return ConflictRecord(
        row[0], row[1], ConflictKind(row[2]), row[3], row[4], row[5], row[6], row[7], *row[8:]
    )


class OutboxError(NexusLoggerError):
    """The local outbox file cannot be used (disk full, no permission, damaged file)."""


#: SQLite's words for a file that is not (or no longer) a database it can read.
_DAMAGED = ("file is not a database", "malformed", "file is encrypted", "not a database")


def _problem(path: Path, err: BaseException) -> str:
    """What is wrong with the outbox file, in one sentence, from an OS or SQLite error."""
    low = str(err).lower()
    if "disk is full" in low or "no space" in low or getattr(err, "errno", None) == 28:
        return (
            f"The disk holding the local outbox {path} is full. Free some space; nothing "
            "else needs doing."
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


class Outbox:
    """The outbox file. Cheap to create; any thread may use it (calls are serialised).

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

    # -- plumbing -----------------------------------------------------------------------

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
        return self._conn

    def _drop(self) -> None:
        """Forget the connection after an error, so the next call opens the file afresh."""
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
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

    # -- events -------------------------------------------------------------------------

    def add(
        self,
        kind: EventKind,
        *,
        database: str,
        session_identifier: str,
        instrument_pid: str,
        timezone: str,
        at_text: str,
        user: str | None = None,
        note: str | None = None,
        start_text: str | None = None,
        key: str | None = None,
        confirmed: bool = True,
        ended_by: str | None = None,
    ) -> OutboxEvent:
        """Keep one event (durably: committed and fsynced) and return it.

        ``key`` is the idempotency key; adding a key that is already there returns the
        existing event unchanged, so a caller that retries cannot queue an event twice.
        ``confirmed=False`` marks a START the user has not been told about yet (see
        :meth:`confirm`).
        """
        key = key or str(uuid.uuid4())
        with self._write() as conn:
            row = conn.execute(_EVENT_BY_KEY, (key,)).fetchone()
            if row is not None:
                return _event(row)
            cur = conn.execute(
                "INSERT INTO events (key, kind, database, session_identifier, instrument_pid, "
                "timezone, user, note, at_text, start_text, created, state, confirmed, ended_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    EventKind(kind).value,
                    database,
                    session_identifier,
                    instrument_pid,
                    timezone,
                    user,
                    note,
                    at_text,
                    start_text,
                    _utcnow(),
                    EventState.PENDING.value,
                    int(confirmed),
                    ended_by,
                ),
            )
            row = conn.execute(_EVENT_BY_ID, (cur.lastrowid,)).fetchone()
        event = _event(row)
        _logger.debug("Outbox: kept %s %s (%s)", event.kind, event.session_identifier, key)
        return event

    def confirm(self, event_id: int) -> None:
        """Record that the user was told about the event (a START kept on this PC)."""
        with self._write() as conn:
            conn.execute("UPDATE events SET confirmed = 1 WHERE id = ?", (event_id,))

    def get(self, event_id: int) -> OutboxEvent:
        """One event by id, or :class:`NotFound`."""
        with self._read() as conn:
            row = conn.execute(_EVENT_BY_ID, (event_id,)).fetchone()
        if row is None:
            raise NotFound(
                f"There is no event {event_id} in the outbox; 'nexus-logger sync --status' lists them."
            )
        return _event(row)

    def items(
        self,
        *,
        database: str | None = None,
        states: tuple[EventState, ...] = WAITING_STATES,
        session_identifier: str | None = None,
    ) -> list[OutboxEvent]:
        """Events in the order they happened (default: those not yet in the database)."""
        framed = "," + ",".join(EventState(st).value for st in states) + ","
        params = (framed, database, database, session_identifier, session_identifier)
        with self._read() as conn:
            rows = conn.execute(_EVENTS_FILTERED, params).fetchall()
        return [_event(r) for r in rows]

    def pending_count(self, database: str | None = None) -> int:
        """Events not yet in the database (pending or held), for ``database`` or all."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM events WHERE state IN ('pending', 'held') "
                "AND (? IS NULL OR database = ?)",
                (database, database),
            ).fetchone()
        return int(row[0])

    def set_state(
        self, event_id: int, state: EventState, *, error: str | None = None
    ) -> OutboxEvent:
        """Move an event to ``state`` (recording ``error`` if given) and return it."""
        done = _utcnow() if state in (EventState.SENT, EventState.SKIPPED) else None
        with self._write() as conn:
            conn.execute(
                "UPDATE events SET state = ?, done_at = ?, "
                "last_error = COALESCE(?, last_error) WHERE id = ?",
                (EventState(state).value, done, error, event_id),
            )
            row = conn.execute(_EVENT_BY_ID, (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"There is no event {event_id} in the outbox.")
        return _event(row)

    def note_attempt(self, event_id: int, error: str | None) -> None:
        """Count one delivery attempt and remember why it failed (``None``: it did not)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE events SET attempts = attempts + 1, last_attempt = ?, last_error = ? "
                "WHERE id = ?",
                (_utcnow(), error, event_id),
            )

    def retry(self, event_id: int) -> OutboxEvent:
        """Put a held event back in line, so that the next sync tries it again."""
        event = self.get(event_id)
        if event.state is not EventState.HELD:
            raise Conflict(
                f"Event {event_id} is {event.state.value}, not held; only held events can be retried."
            )
        _logger.info("Outbox: event %d put back in line by request", event_id)
        return self.set_state(event_id, EventState.PENDING)

    def prune(self, older_than_days: int = KEEP_DONE_DAYS) -> int:
        """Forget sent and skipped events older than the limit (those with open conflicts stay)."""
        cutoff = (datetime.now(UTC) - timedelta(days=older_than_days)).isoformat(timespec="seconds")
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM events WHERE state IN ('sent', 'skipped') AND done_at < ? "
                "AND id NOT IN (SELECT event_id FROM conflicts)",
                (cutoff,),
            )
            return cur.rowcount

    # -- conflicts ----------------------------------------------------------------------

    def add_conflict(self, event: OutboxEvent, kind: ConflictKind, message: str) -> ConflictRecord:
        """Record a conflict for ``event`` (it stays listed until :meth:`resolve`)."""
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO conflicts (event_id, kind, database, session_identifier, "
                "instrument_pid, message, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    event.id,
                    ConflictKind(kind).value,
                    event.database,
                    event.session_identifier,
                    event.instrument_pid,
                    message,
                    _utcnow(),
                ),
            )
            row = conn.execute(_CONFLICT_BY_ID, (cur.lastrowid,)).fetchone()
        record = _conflict(row)
        _logger.warning("Outbox conflict %d (%s): %s", record.id, record.kind, message)
        return record

    def conflicts(
        self, *, include_handled: bool = False, database: str | None = None
    ) -> list[ConflictRecord]:
        """Conflicts, oldest first; by default only those not yet handled."""
        params = (int(include_handled), database, database)
        with self._read() as conn:
            rows = conn.execute(_CONFLICTS_FILTERED, params).fetchall()
        return [_conflict(r) for r in rows]

    def open_conflict_for(self, event_id: int, kind: ConflictKind) -> ConflictRecord | None:
        """The unhandled conflict of this kind recorded for an event, if any."""
        with self._read() as conn:
            row = conn.execute(
                _CONFLICT_OPEN_FOR_EVENT,
                (event_id, ConflictKind(kind).value),
            ).fetchone()
        return _conflict(row) if row else None

    def append_to_conflict(self, conflict_id: int, text: str) -> None:
        """Add a sentence to a conflict's message (what happened to it later)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE conflicts SET message = message || ' ' || ? WHERE id = ?",
                (text, conflict_id),
            )

    def resolve(self, conflict_id: int, *, by: str, note: str | None = None) -> ConflictRecord:
        """Mark a conflict handled. A START or END still held for it is then given up.

        Giving up a held START loses nothing: if its END comes later, the END re-creates the
        START from what this PC kept (outcome ``end_without_start`` in ``docs/outbox.md``).
        """
        with self._write() as conn:
            row = conn.execute(_CONFLICT_BY_ID, (conflict_id,)).fetchone()
            if row is None:
                raise NotFound(
                    f"There is no conflict {conflict_id}; 'nexus-logger sync --status' lists them."
                )
            record = _conflict(row)
            if record.handled:
                return record
            conn.execute(
                "UPDATE conflicts SET handled_at = ?, handled_by = ?, handled_note = ? "
                "WHERE id = ?",
                (_utcnow(), by, note, conflict_id),
            )
            cur = conn.execute(
                "UPDATE events SET state = 'skipped', done_at = ?, "
                "last_error = 'given up when conflict ' || ? || ' was marked handled' "
                "WHERE id = ? AND state = 'held'",
                (_utcnow(), conflict_id, record.event_id),
            )
            row = conn.execute(_CONFLICT_BY_ID, (conflict_id,)).fetchone()
        _logger.info(
            "Outbox conflict %d marked handled by %s%s",
            conflict_id,
            by,
            "; its held event was given up" if cur.rowcount else "",
        )
        return _conflict(row)

    # -- what this PC knows while the database is away ------------------------------------

    def remember_instrument(self, database: str, requested: str, instrument: Instrument) -> None:
        """Keep the instrument identified for ``requested`` (``pid:X`` or ``host:NAME``)."""
        values = [getattr(instrument, f) or "" for f in _INSTRUMENT_FIELDS]
        keys = {requested, f"pid:{instrument.instrument_pid}"}
        with self._read() as conn:
            same = all(
                list(conn.execute(_LOAD_INSTRUMENT, (database, req)).fetchone() or ()) == values
                for req in keys
            )
        if same:  # the usual case: skip the fsync
            return
        with self._write() as conn:
            for req in keys:
                conn.execute(
                    _SAVE_INSTRUMENT,
                    (database, req, *values, _utcnow()),
                )

    def cached_instrument(self, database: str, requested: str) -> Instrument | None:
        """The instrument kept for ``requested``, as a detached :class:`Instrument`."""
        with self._read() as conn:
            row = conn.execute(
                _LOAD_INSTRUMENT,
                (database, requested),
            ).fetchone()
        if row is None:
            return None
        from nexus_logger.core.models import Instrument

        return Instrument(**dict(zip(_INSTRUMENT_FIELDS, row, strict=True)))


def pending_events(path: Path | None = None) -> int:
    """How many events wait in the outbox (all databases); 0 when there is no outbox yet.

    Cheap enough for ``doctor`` and a status line: one COUNT on a small local file, and the
    file is not created when it does not exist.
    """
    target = Path(path) if path is not None else default_path()
    if not target.exists():
        return 0
    box = Outbox(target)
    try:
        return box.pending_count()
    finally:
        box.close()
