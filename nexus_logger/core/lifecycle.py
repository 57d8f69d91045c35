"""The session lifecycle of one instrument PC: identify, start, end, resume.

CONTRACT STUB — the public names and signatures below are the agreed interface used by the
outbox (``core/outbox.py``), the CLI and the GUI. Bodies are being implemented (issue 3).

Every state change is one transaction (``write_transaction``: ``BEGIN IMMEDIATE`` on SQLite,
an advisory lock on PostgreSQL), so the states the original logger could leave behind (an END
without the status change, two open sessions on one instrument) cannot happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from nexus_logger.core.engine import EngineLike
from nexus_logger.core.models import Instrument


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


@dataclass(frozen=True)
class StartResult:
    """What :func:`start_session` did: ``created`` is False when a session was already open."""

    session: OpenSession
    created: bool


@dataclass(frozen=True)
class EndedSession:
    """A session that :func:`end_session` closed (both rows now TO_BE_BUILT)."""

    session_identifier: str
    instrument: Instrument
    user: str | None
    started: datetime
    ended: datetime

    @property
    def duration_seconds(self) -> float:
        return (self.ended - self.started).total_seconds()


def identify_instrument(
    *, instrument: str | None = None, hostname: str | None = None, engine: EngineLike = None
) -> Instrument:
    """This PC's instrument: explicit PID, else the station table, else legacy computer_name."""
    raise NotImplementedError


def find_open_session(instrument_pid: str, *, engine: EngineLike = None) -> OpenSession | None:
    """The open session of an instrument (latest START without END), or None."""
    raise NotImplementedError


def start_session(
    *,
    instrument: str,
    user: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    session_identifier: str | None = None,
    engine: EngineLike = None,
) -> StartResult:
    """Write a START (WAITING_FOR_END) unless a session is already open on the instrument.

    ``session_identifier`` and ``at`` let the outbox replay a START made offline with its
    original identifier and time; a START with that identifier already present is a no-op
    that returns ``created=False``.
    """
    raise NotImplementedError


def end_session(
    *,
    instrument: str | None = None,
    session_identifier: str | None = None,
    at: datetime | None = None,
    engine: EngineLike = None,
) -> EndedSession:
    """Insert END with the START's user and set START and END to TO_BE_BUILT in one transaction."""
    raise NotImplementedError
