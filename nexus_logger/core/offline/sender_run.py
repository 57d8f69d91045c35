"""What one sending run of the outbox did, and how it keeps an event back with a conflict.

Shared by the START and END paths of :mod:`~nexus_logger.core.offline.sender`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nexus_logger.core.offline.outbox import (
    ConflictKind,
    ConflictRecord,
    EventState,
    Outbox,
    OutboxEvent,
)
from nexus_logger.core.sessions.lifecycle import EndedSession

__all__ = ["Run", "hold", "reject"]


@dataclass
class Run:
    """What one sending run did."""

    attempted: bool = False  # the database was contacted
    sent: int = 0
    dropped: int = 0  # unconfirmed STARTs given up
    conflicts: list[ConflictRecord] = field(default_factory=list)
    error: str | None = None  # why the run stopped early (database unreachable or read-only)
    #: The run stopped because the database refused writes (read-only): it answers, and the
    #: events wait to be sent once it takes them (not a conflict: nothing to decide).
    refused_writes: bool = False
    #: Of those: the file is not a usable NexusLIMS database right now (empty, replaced, no
    #: tables). For a path the sessions were logged in, that passes (a copy half-done, a
    #: restore), so its events wait in order too: held for staff, the instrument stayed
    #: blocked for everyone until `sync --retry`.
    unusable: bool = False
    #: The result of each END written in this run, by event id (for the live END's outcome).
    ended: dict[int, EndedSession] = field(default_factory=dict)
    #: The END the user just clicked: the user is told its outcome, so it makes no conflict.
    live_id: int | None = None


def hold(
    outbox: Outbox,
    event: OutboxEvent,
    run: Run,
    kind: ConflictKind,
    message: str,
    *,
    error: str | None = None,
) -> None:
    """Keep ``event`` on this PC, unsent, with a conflict that says why and what to do."""
    outbox.set_state(event.id, EventState.HELD, error=kind.value if error is None else error)
    run.conflicts.append(outbox.add_conflict(event, kind, message))


def reject(outbox: Outbox, event: OutboxEvent, err: BaseException, run: Run) -> None:
    """Keep an event the database refused (or that met a bug), so later events still go."""
    hold(
        outbox,
        event,
        run,
        ConflictKind.REJECTED,
        f"The database refused the saved {event.kind} of session "
        f"{event.session_identifier} on {event.instrument_pid} ({event.at_text}): {err} "
        "Outcome: the event is kept on this PC; fix the cause and run "
        f"'nexus-logger sync --retry {event.id}', or mark the conflict handled to give it up.",
        error=str(err),
    )
