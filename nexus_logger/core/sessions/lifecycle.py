"""The session lifecycle of one instrument PC, in one place to import from: identify, start,
end, resume, heartbeat, note (used by the CLI, the GUI's database worker and the outbox).

Every state change is one transaction under the instrument's lock
(:func:`~nexus_logger.core.db.engine.write_transaction`; the one-open-session rule is
:mod:`~nexus_logger.core.sessions.open_rule`), and every time passes
:mod:`~nexus_logger.core.sessions.time_rules` first. Where each part lives: :mod:`.inputs`
(user, note, identifier, stored times), :mod:`.outcomes` (results and refusals),
:mod:`.instrument_lookup` (which instrument), :mod:`.session_rows` (reading a session),
:mod:`.starting`, :mod:`.ending`, :mod:`.local_heartbeat` (this PC's file) and
:mod:`.heartbeat_and_note` (the database's).
"""

from __future__ import annotations

from nexus_logger.core.db.instrument_lock import lock_instrument
from nexus_logger.core.sessions.ending import (
    check_end_time,
    end_in_transaction,
    end_session,
    replace_session,
)
from nexus_logger.core.sessions.heartbeat_and_note import (
    get_note,
    last_heartbeat,
    record_heartbeat,
    set_note,
    stored_end,
    write_note_in_transaction,
)
from nexus_logger.core.sessions.inputs import CLOCK_SLACK, MAX_NOTE, clean_note, default_user
from nexus_logger.core.sessions.instrument_lookup import identify_instrument
from nexus_logger.core.sessions.local_heartbeat import (
    forget_open_here,
    heartbeat_file,
    local_heartbeat,
    open_here,
    record_local_heartbeat,
    remember_open_here,
)
from nexus_logger.core.sessions.outcomes import (
    EndedSession,
    NoOpenSession,
    OpenSession,
    SessionAlreadyOpen,
    SessionsOverlap,
    StartResult,
    describe_sessions,
)
from nexus_logger.core.sessions.session_rows import find_open_session
from nexus_logger.core.sessions.starting import start_session

__all__ = [
    "CLOCK_SLACK",
    "MAX_NOTE",
    "EndedSession",
    "NoOpenSession",
    "OpenSession",
    "SessionAlreadyOpen",
    "SessionsOverlap",
    "StartResult",
    "check_end_time",
    "clean_note",
    "default_user",
    "describe_sessions",
    "end_in_transaction",
    "end_session",
    "find_open_session",
    "forget_open_here",
    "get_note",
    "heartbeat_file",
    "identify_instrument",
    "last_heartbeat",
    "local_heartbeat",
    "lock_instrument",
    "open_here",
    "record_heartbeat",
    "record_local_heartbeat",
    "remember_open_here",
    "replace_session",
    "set_note",
    "start_session",
    "stored_end",
    "write_note_in_transaction",
]
