"""The pieces of ``get_sessions_to_build``: the ``Session`` objects made from the paired rows,
and the STARTs NexusLIMS cannot build set apart, with NexusLIMS's own words for why."""

from __future__ import annotations

import logging
from datetime import tzinfo
from typing import Any

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.session_handler_values import isoformat_error
from nexus_logger.core.session_instrument import SessionInstrument
from nexus_logger.core.sessions import pairing
from nexus_logger.core.sessions.session_factory import SessionFactory

_logger = logging.getLogger(__name__)

__all__ = ["bad_session_message", "session_factory", "set_apart"]


def session_factory(
    session_cls: type, instruments: dict[str, Instrument], engine: EngineLike
) -> SessionFactory:
    """Makes a ``Session`` (``session_cls``) of a START and its END; one instrument object and
    one zone per PID, shared by its sessions."""
    adapted: dict[str, SessionInstrument] = {}
    zones: dict[str, tzinfo] = {}

    def instrument_of(pid: str) -> SessionInstrument:
        # One SessionInstrument per instrument, shared by its sessions (as in NexusLIMS).
        shared = adapted.get(pid)
        if shared is None:
            inst = instruments.get(pid)
            # NexusLIMS does not enforce the foreign key: an unknown PID gets the defaults
            # add_instrument would give it (its files under its PID, in UTC).
            shared = adapted[pid] = (
                SessionInstrument(pid, timezone="UTC")
                if inst is None
                else SessionInstrument.of(inst)
            )
        return shared

    def zone_of(pid: str) -> tzinfo:
        zone = zones.get(pid)
        if zone is None:
            inst = instruments.get(pid)
            zone = zones[pid] = timestamps.as_zone(inst.timezone if inst else "UTC")
        return zone

    return SessionFactory(session_cls, instrument_of, zone_of, engine)


def set_apart(
    order: list[Any], bad: dict[int, pairing.BadSession], log_cls: type, *, strict: bool
) -> tuple[list[Any], list[Any]]:
    """The good sessions and the START rows (as ``log_cls``, NexusLIMS's ``SessionLog``) of the
    bad ones (``bad``: by position in ``order``); with ``strict`` the first bad one raises
    ``ValueError``, as in NexusLIMS."""
    sessions, unpaired = [], []
    for i, session in enumerate(order):
        problem = bad.get(i)
        if problem is None:
            sessions.append(session)
            continue
        start = log_cls(
            problem.session_identifier,
            problem.instrument,
            problem.start_text,
            EventType.START,
            problem.user,
            RecordStatus.TO_BE_BUILT,
            problem.start_id,
        )
        message = bad_session_message(start, problem.bad_text)
        if strict:
            raise ValueError(message)
        _logger.warning(message)
        unpaired.append(start)
    return sessions, unpaired


def _unpaired_message(start: Any) -> str:
    """NexusLIMS's own ``ValueError`` text (code matches on it), then what it means."""
    return (
        "There was not exactly one 'END' log for this 'START' log; len(el_list) was 0; "
        f"sl was {start!r}. This START is TO_BE_BUILT but no TO_BE_BUILT END row has the same "
        "session identifier, instrument and user, so NexusLIMS builds no session until it "
        "is repaired."
    )


def bad_session_message(start: Any, bad_text: str | None) -> str:
    """Why NexusLIMS cannot build the session of ``start`` (a ``SessionLog``): no END, or
    ``bad_text``, a timestamp it cannot read."""
    if bad_text is None:
        return _unpaired_message(start)
    return (
        f"{isoformat_error(bad_text)}: session {start.session_identifier} on "
        f"{start.instrument} has a timestamp that is not ISO-8601, so NexusLIMS cannot read it."
    )
