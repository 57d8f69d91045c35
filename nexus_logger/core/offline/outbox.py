"""The local outbox: the file that keeps START and END events on this PC until the shared
database has them, with the instrument identified last so that a session can start while the
database is away.

This is only the store (file handling in :mod:`~nexus_logger.core.offline.outbox_file`, conflicts in
:mod:`~nexus_logger.core.offline.outbox_conflicts`); what to send, when, and what a conflict means is
:mod:`~nexus_logger.core.offline.sender`'s job.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.core.errors import Conflict, NotFound
from nexus_logger.core.offline.outbox_conflicts import ConflictStore
from nexus_logger.core.offline.outbox_file import (
    OUTBOX_FILE,
    OutboxError,
    damaged_copies,
    damaged_notice,
    default_path,
)
from nexus_logger.core.offline.outbox_records import (
    WAITING_STATES,
    ConflictKind,
    ConflictRecord,
    EventKind,
    EventState,
    OutboxEvent,
    event_from_row,
    utcnow_text,
)

if TYPE_CHECKING:  # SQLAlchemy is imported only when needed: the window starts without it
    from nexus_logger.core.db.models import Instrument

__all__ = [
    "KEEP_DONE_DAYS",
    "OUTBOX_FILE",
    "WAITING_STATES",
    "ConflictKind",
    "ConflictRecord",
    "EventKind",
    "EventState",
    "Outbox",
    "OutboxError",
    "OutboxEvent",
    "damaged_copies",
    "damaged_notice",
    "default_path",
    "pending_events",
]

_logger = logging.getLogger(__name__)

#: Sent and skipped events are kept this long (for ``sync --status --all`` and support).
KEEP_DONE_DAYS = 30

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


class Outbox(ConflictStore):
    """The outbox: its events and the instruments it remembers, over :class:`OutboxFile`.

    Cheap to create; any thread may use it (calls are serialised), and several processes may
    share the file (each write is one ``BEGIN IMMEDIATE`` transaction).
    """

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
                return event_from_row(row)
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
                    utcnow_text(),
                    EventState.PENDING.value,
                    int(confirmed),
                    ended_by,
                ),
            )
            row = conn.execute(_EVENT_BY_ID, (cur.lastrowid,)).fetchone()
        event = event_from_row(row)
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
        return event_from_row(row)

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
        return [event_from_row(r) for r in rows]

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
        done = utcnow_text() if state in (EventState.SENT, EventState.SKIPPED) else None
        with self._write() as conn:
            conn.execute(
                "UPDATE events SET state = ?, done_at = ?, "
                "last_error = COALESCE(?, last_error) WHERE id = ?",
                (EventState(state).value, done, error, event_id),
            )
            row = conn.execute(_EVENT_BY_ID, (event_id,)).fetchone()
        if row is None:
            raise NotFound(f"There is no event {event_id} in the outbox.")
        return event_from_row(row)

    def note_attempt(self, event_id: int, error: str | None) -> None:
        """Count one delivery attempt and remember why it failed (``None``: it did not)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE events SET attempts = attempts + 1, last_attempt = ?, last_error = ? "
                "WHERE id = ?",
                (utcnow_text(), error, event_id),
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
                    (database, req, *values, utcnow_text()),
                )

    def cached_instrument(self, database: str, requested: str) -> Instrument | None:
        """The instrument kept for ``requested``, as an :class:`Instrument`."""
        with self._read() as conn:
            row = conn.execute(
                _LOAD_INSTRUMENT,
                (database, requested),
            ).fetchone()
        if row is None:
            return None
        from nexus_logger.core.db.models import Instrument

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
