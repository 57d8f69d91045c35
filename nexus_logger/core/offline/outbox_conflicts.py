"""The conflicts table of the outbox: what sending could not apply as it was, listed until
someone marks it handled (``docs/outbox.md``)."""

from __future__ import annotations

import logging

from nexus_logger.core.errors import NotFound
from nexus_logger.core.offline.outbox_file import OutboxFile
from nexus_logger.core.offline.outbox_records import (
    ConflictKind,
    ConflictRecord,
    OutboxEvent,
    conflict_from_row,
    utcnow_text,
)

_logger = logging.getLogger(__name__)

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


class ConflictStore(OutboxFile):
    """The outbox file's conflict records (its events are in the subclass ``Outbox``)."""

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
                    utcnow_text(),
                ),
            )
            row = conn.execute(_CONFLICT_BY_ID, (cur.lastrowid,)).fetchone()
        record = conflict_from_row(row)
        _logger.warning("Outbox conflict %d (%s): %s", record.id, record.kind, message)
        return record

    def conflicts(
        self, *, include_handled: bool = False, database: str | None = None
    ) -> list[ConflictRecord]:
        """Conflicts, oldest first; by default only those not yet handled."""
        params = (int(include_handled), database, database)
        with self._read() as conn:
            rows = conn.execute(_CONFLICTS_FILTERED, params).fetchall()
        return [conflict_from_row(r) for r in rows]

    def open_conflict_for(self, event_id: int, kind: ConflictKind) -> ConflictRecord | None:
        """The unhandled conflict of this kind recorded for an event, if any."""
        with self._read() as conn:
            row = conn.execute(
                _CONFLICT_OPEN_FOR_EVENT,
                (event_id, ConflictKind(kind).value),
            ).fetchone()
        return conflict_from_row(row) if row else None

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
            record = conflict_from_row(row)
            if record.handled:
                return record
            conn.execute(
                "UPDATE conflicts SET handled_at = ?, handled_by = ?, handled_note = ? "
                "WHERE id = ?",
                (utcnow_text(), by, note, conflict_id),
            )
            cur = conn.execute(
                "UPDATE events SET state = 'skipped', done_at = ?, "
                "last_error = 'given up when conflict ' || ? || ' was marked handled' "
                "WHERE id = ? AND state = 'held'",
                (utcnow_text(), conflict_id, record.event_id),
            )
            row = conn.execute(_CONFLICT_BY_ID, (conflict_id,)).fetchone()
        _logger.info(
            "Outbox conflict %d marked handled by %s%s",
            conflict_id,
            by,
            "; its held event was given up" if cur.rowcount else "",
        )
        return conflict_from_row(row)
