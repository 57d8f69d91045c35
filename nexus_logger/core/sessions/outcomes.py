"""What the lifecycle's calls answer: the open, started or ended session, and the refusals
(no open session, one already open, an overlap with sessions logged meanwhile)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nexus_logger.core import timestamps
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import EXIT_REFUSED, Conflict, NotFound
from nexus_logger.core.sessions.open_rule import LoggedSession


class NoOpenSession(NotFound):
    """There is no open session to end on the instrument."""

    exit_code = EXIT_REFUSED


class SessionAlreadyOpen(Conflict):
    """A session is already open on the instrument (raised by callers that refuse to resume)."""

    exit_code = EXIT_REFUSED


class SessionsOverlap(Conflict):
    """A START with a given time, or a whole session, would overlap sessions logged meanwhile."""

    def __init__(self, message: str, sessions: list[LoggedSession]) -> None:
        super().__init__(message)
        self.sessions = sessions


def describe_sessions(sessions: list[LoggedSession]) -> str:
    """ "session X (user u, A to B)" for each, for messages."""
    return "; ".join(
        f"session {o.session_identifier} (user {o.user}, {o.start_text} to {o.end_text or 'open'})"
        for o in sessions
    )


def _shown_first(
    session_identifier: str, instrument: Instrument, user: str | None, started: datetime
) -> dict[str, Any]:
    """The keys an open and an ended session both show first in JSON output."""
    return {
        "session_identifier": session_identifier,
        "instrument": instrument.instrument_pid,
        "instrument_name": instrument.display_name,
        "user": user,
        "started": started.isoformat(),
    }


@dataclass(frozen=True)
class OpenSession:
    """A session with a START and no END yet (RECORD_GENERATION rows ignored)."""

    session_identifier: str
    instrument: Instrument
    user: str | None
    started: datetime  # aware, in the instrument's zone
    start_text: str  # as stored
    last_heartbeat: datetime | None = None
    note: str | None = None
    hostname: str | None = None  # the PC that started it, when nexus-logger did
    #: When its START waits on this PC because the database could not be reached (the session
    #: is then known only here); None for a session in the database.
    kept_since: datetime | None = None

    @property
    def kept_on_pc(self) -> bool:
        """True when the session exists only on this PC so far (database not reached)."""
        return self.kept_since is not None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            **_shown_first(self.session_identifier, self.instrument, self.user, self.started),
            "last_heartbeat": self.last_heartbeat.isoformat() if self.last_heartbeat else None,
            "note": self.note,
            "hostname": self.hostname,
            "kept_on_pc_since": self.kept_since.isoformat() if self.kept_since else None,
        }


@dataclass(frozen=True)
class StartResult:
    """What :func:`~nexus_logger.core.sessions.starting.start_session` did: ``created`` is
    False when a session was already open."""

    session: OpenSession
    created: bool


@dataclass(frozen=True)
class EndedSession:
    """A session that :func:`~nexus_logger.core.sessions.ending.end_session` closed (both rows
    now TO_BE_BUILT).

    ``already_ended`` is True when the session had an END before the call: nothing new was
    written (apart from finishing a half-done END left by the original logger), which makes a
    repeated END (an outbox replay after a crash) harmless.
    """

    session_identifier: str
    instrument: Instrument
    user: str | None
    started: datetime
    ended: datetime
    already_ended: bool = False

    @property
    def duration_seconds(self) -> float:
        return timestamps.seconds_between(self.started, self.ended)

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            **_shown_first(self.session_identifier, self.instrument, self.user, self.started),
            "ended": self.ended.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "already_ended": self.already_ended,
        }
