"""Moving the events of a user's own outbox into this PC's outbox, exactly once.

Before the outbox was one per PC, each login kept its events in its own data folder, where only
that login's next launch sent them; a login that cannot write the PC's folder still does
(:mod:`~nexus_logger.core.offline.outbox_place`). Whenever a process uses the PC's outbox, the waiting
events of its login's own file are *adopted*: copied into the PC's outbox, then marked there
as moved (state ``skipped``, the PC's file named in ``last_error``; their open conflicts marked
handled). Nothing is deleted, so support can still read the old file.

Exactly once, whatever happens:

* every event keeps its idempotency ``key``, which is unique in the PC's outbox: a copy that is
  repeated (two processes at once, or a process killed between the copy and the mark) finds
  the key there and adds nothing; an event's conflicts are copied in the same transaction as
  the event, so they come along once too;
* the copy is one transaction in the PC's file, the mark one in the user's: a kill before the
  copy commits leaves both files as they were; a kill after it leaves the events in both, and
  the next run only marks them;
* the user's file's own sender lock is held meanwhile, so an older nexus-logger of the same
  login that is sending that file finishes first (and sending twice writes nothing twice).
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from nexus_logger.core import faults
from nexus_logger.core.offline.outbox import WAITING_STATES, Outbox, OutboxEvent

__all__ = ["LOCK_WAIT_SECONDS", "adopt"]

_logger = logging.getLogger(__name__)

#: How long to wait for another process that holds the user's file (it is sending it).
LOCK_WAIT_SECONDS = 5.0

_COPY_EVENT = (
    "INSERT INTO events (key, kind, database, session_identifier, instrument_pid, timezone, "
    "user, note, at_text, start_text, created, state, attempts, last_error, confirmed, "
    "ended_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COPY_CONFLICT = (
    "INSERT INTO conflicts (event_id, kind, database, session_identifier, instrument_pid, "
    "message, created) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSTRUMENT_COLUMNS = (
    "database, requested, instrument_pid, display_name, timezone, location, api_url, "
    "calendar_url, property_tag, filestore_path, harvester, saved"
)
_READ_INSTRUMENTS = f"SELECT {_INSTRUMENT_COLUMNS} FROM instruments"  # noqa: S608 - a literal
_COPY_INSTRUMENT = (
    f"INSERT OR IGNORE INTO instruments ({_INSTRUMENT_COLUMNS}) "  # noqa: S608 - a literal
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def adopt(old_path: Path, target: Outbox) -> list[OutboxEvent]:
    """Move the waiting events of the outbox file ``old_path`` into ``target``; returns those
    this call copied (empty when there were none, or another process had already copied them).

    :class:`~nexus_logger.core.offline.outbox.OutboxError` when either file cannot be used; the old
    file then keeps its events (nothing is lost, they are sent from there or adopted later).
    """
    if not old_path.is_file() or _same_file(old_path, target.path):
        return []
    lock = FileLock(str(old_path) + ".lock", thread_local=False, is_singleton=False)
    try:
        lock.acquire(timeout=LOCK_WAIT_SECONDS)
    except FileLockTimeout:
        _logger.info("Outbox %s is being sent by another process; adopted next time", old_path)
        return []
    old = Outbox(old_path)
    try:
        waiting = old.items(states=WAITING_STATES)
        if not waiting:
            return []
        copied = _copy(old, waiting, target)
        faults.point("adopt:copied")
        _mark_moved(old, waiting, target.path)
    finally:
        old.close()
        lock.release()
    _log(old_path, target.path, waiting, copied)
    return copied


def _copy(old: Outbox, waiting: list[OutboxEvent], target: Outbox) -> list[OutboxEvent]:
    """One transaction in ``target``: the events not there yet, their conflicts, the instruments."""
    ids = {e.id for e in waiting}
    conflicts = [c for c in old.conflicts() if c.event_id in ids]
    with old.transaction() as conn:
        instruments = conn.execute(_READ_INSTRUMENTS).fetchall()
    copied: list[OutboxEvent] = []
    with target.transaction() as conn:
        for event in waiting:
            if conn.execute("SELECT 1 FROM events WHERE key = ?", (event.key,)).fetchone():
                continue  # copied before (a run killed before the mark, or another process)
            new_id = conn.execute(_COPY_EVENT, _event_values(event)).lastrowid
            for c in (c for c in conflicts if c.event_id == event.id):
                conn.execute(
                    _COPY_CONFLICT,
                    (new_id, c.kind.value, c.database, c.session_identifier, c.instrument_pid,
                     c.message, c.created),
                )  # fmt: skip
            copied.append(event)
        conn.executemany(_COPY_INSTRUMENT, instruments)
        faults.point("adopt:copying")  # killed here: the transaction rolls back, nothing moved
    return copied


def _event_values(e: OutboxEvent) -> tuple[object, ...]:
    return (
        e.key, e.kind.value, e.database, e.session_identifier, e.instrument_pid, e.timezone,
        e.user, e.note, e.at_text, e.start_text, e.created, e.state.value, e.attempts,
        e.last_error, int(e.confirmed), e.ended_by,
    )  # fmt: skip


def _mark_moved(old: Outbox, waiting: list[OutboxEvent], where: Path) -> None:
    """In the user's file: the events are skipped (moved), their open conflicts handled."""
    now = datetime.now(UTC).isoformat(timespec="seconds")
    why = f"moved to this PC's outbox {where}"
    ids = [(e.id,) for e in waiting]
    with old.transaction() as conn:
        conn.executemany(
            "UPDATE events SET state = 'skipped', done_at = ?, last_error = ? "
            "WHERE id = ? AND state IN ('pending', 'held')",
            [(now, why, i) for (i,) in ids],
        )
        conn.executemany(
            "UPDATE conflicts SET handled_at = ?, handled_by = 'nexus-logger', "
            "handled_note = ? WHERE event_id = ? AND handled_at IS NULL",
            [(now, why, i) for (i,) in ids],
        )


def _log(
    old_path: Path, new_path: Path, waiting: list[OutboxEvent], copied: list[OutboxEvent]
) -> None:
    if not copied:
        _logger.info(
            "The %d waiting event(s) of %s were already in this PC's outbox %s (copied by an "
            "earlier run); marked moved",
            len(waiting),
            old_path,
            new_path,
        )
        return
    listed = "; ".join(
        f"{e.kind} {e.session_identifier} ({e.instrument_pid}, user {e.user}, {e.at_text}, "
        f"{e.state.value})"
        for e in copied
    )
    _logger.warning(
        "Adopted %d waiting event(s) from this login's own outbox %s into this PC's outbox %s, "
        "which every login sends: %s",
        len(copied),
        old_path,
        new_path,
        listed,
    )
