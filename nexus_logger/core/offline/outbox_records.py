"""The records the outbox keeps: a START or END event, its state, and a conflict found while
sending it, each read back from one row of the outbox file."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from nexus_logger.core import timestamps


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


def utcnow_text() -> str:
    """Now, as the outbox stores times (UTC, to the second)."""
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


def event_from_row(row: tuple) -> OutboxEvent:
    """The event of one ``events`` row (columns as in the outbox's SELECT)."""
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


def conflict_from_row(row: tuple) -> ConflictRecord:
    """The conflict of one ``conflicts`` row."""
    return ConflictRecord(
        row[0], row[1], ConflictKind(row[2]), row[3], row[4], row[5], row[6], row[7], *row[8:]
    )
