"""What a start, an end or a run of sending the outbox did, in values and in one sentence for
the user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nexus_logger.core.errors import said_locked
from nexus_logger.core.offline.outbox import ConflictRecord
from nexus_logger.core.sessions.lifecycle import OpenSession

#: What the user reads after an END the database took (the window may say more about files).
ENDED_WILL_BUILD = "Session ended. NexusLIMS will build its record."


def queued(what: str, reason: str | None = None) -> str:
    """What the user reads when the session's ``what`` ("start", "end") is kept on this PC
    because the database did not answer: it names a lock when ``reason`` says the database
    stayed locked (IT then looks for the program holding it, not at the network)."""
    cause = (
        "The database is locked by another program right now"
        if said_locked(reason)
        else "The database cannot be reached right now"
    )
    return f"{cause}. The session {what} is saved on this PC and will be sent automatically."


QUEUED_START = queued("start")
QUEUED_END = queued("end")


def queued_end_refused(reason: str) -> str:
    """What the user reads when the database answers but refuses to be written to."""
    return (
        f"The database refuses changes right now. {reason} The session end is saved on this "
        "PC and will be sent automatically once the database accepts it."
    )


def queued_end_unusable(reason: str) -> str:
    """What the user reads when the database file is there but no usable NexusLIMS database
    right now (empty, replaced): its first sentence only, which says what is wrong; the rest
    is a command for IT, not for the person at the instrument."""
    first = reason.split(". ", 1)[0].rstrip(".")
    return (
        f"The database cannot be used right now: {first}. The session end is saved on this "
        "PC and will be sent automatically once it can be."
    )


@dataclass(frozen=True)
class StartOutcome:
    """What :meth:`DurableLogger.start` did."""

    session: OpenSession
    created: bool  # False when an open session already existed (shown in ``session``)
    queued: bool  # True when kept in the local outbox because the database was not reached
    message: str  # a plain sentence for the user
    event_id: int | None = None  # the outbox event of a kept START (see DurableLogger.confirm)
    #: The open session that refused this START was ended on this PC; its END waits here
    #: (the database refuses writes right now) and is sent once the database accepts it.
    end_waits_here: bool = False
    #: For "end it and start a new one": what ending the old session did (it may have been
    #: ended already, elsewhere, at another time).
    replaced: EndOutcome | None = None
    #: Kept on this PC because the database stayed locked by another program (not away).
    locked: bool = False


@dataclass(frozen=True)
class EndOutcome:
    """What :meth:`DurableLogger.end` did."""

    session_identifier: str
    started: datetime | None
    ended: datetime
    queued: bool  # kept on this PC: the database was not reached, or a conflict holds it
    message: str
    already_ended: bool = False  # the database had an END already (staff, another PC)


@dataclass(frozen=True)
class SyncReport:
    """The result of one run of sending the outbox."""

    sent: int = 0  # events written to the database (or found there already) in this run
    pending: int = 0  # events still waiting for this database afterwards (pending + held)
    conflicts: tuple[ConflictRecord, ...] = ()  # conflicts found in this run
    error: str | None = None  # why the run stopped early (database unreachable), if it did
    busy: bool = False  # another process was sending this outbox; nothing was done
    held: int = 0  # of ``pending``: events held because of a conflict (not sent by themselves)
    dropped: int = 0  # STARTs given up because their user was never told about them
    refused_writes: bool = False  # ``error`` is the database refusing writes, not unreachable
    unusable: bool = False  # of those: the file is no usable NexusLIMS database right now

    @property
    def complete(self) -> bool:
        """True when nothing is left waiting and nobody else is still sending."""
        return self.pending == 0 and not self.busy

    @property
    def message(self) -> str:
        """One or two sentences for a status line or the CLI."""
        if self.busy:
            return (
                "Another nexus-logger on this PC is sending saved events right now; "
                f"{self.pending} still waiting."
            )
        parts = []
        if self.sent:
            parts.append(f"Sent {self.sent} saved event{'s' if self.sent != 1 else ''}.")
        if self.dropped:
            parts.append(
                f"Gave up {self.dropped} session start{'s' if self.dropped != 1 else ''} that "
                "nobody was told about (the program ended first); see the log."
            )
        if self.conflicts:
            n = len(self.conflicts)
            parts.append(
                f"{n} conflict{'s' if n != 1 else ''} found; see 'nexus-logger sync --status'."
            )
        queued = self.pending - self.held
        if queued:
            waiting = f"{queued} event{'s' if queued != 1 else ''} still waiting"
            parts.append(f"{waiting}: {self.error}" if self.error else f"{waiting}.")
        if self.held:
            parts.append(
                f"{self.held} event{'s' if self.held != 1 else ''} held on this PC because of "
                "a conflict; see 'nexus-logger sync --status'."
            )
        if not parts:
            parts.append("Nothing waits to be sent to this database.")
        return " ".join(parts)
