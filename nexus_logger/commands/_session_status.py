"""``session status``: this PC's instrument, its open session (or what this PC knows of one
while the database is away), and what waits here (split from
:mod:`nexus_logger.commands.session`, which registers it)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from nexus_logger.commands import _session_words as words
from nexus_logger.commands._common import durable_from_args, render_json
from nexus_logger.commands.session import _resolve_instrument
from nexus_logger.core.durations import in_words

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import DurableLogger


def pending_events(durable: DurableLogger) -> int | None:
    """Events kept in this PC's outbox (every database), not yet sent; None if unknown."""
    try:
        return int(durable.outbox.pending_count())
    except Exception:  # a broken outbox must not break 'status'; doctor reports it
        return None


def _ends_waiting(durable: DurableLogger, pid: str) -> list[Any]:
    """The ENDs of ``pid`` kept in this PC's outbox, not yet sent ([] if it cannot be read)."""
    from nexus_logger.core.offline.outbox import EventKind

    try:
        events = durable.pending_events()
    except Exception:  # as for the count: a broken outbox must not break 'status'
        return []
    return [e for e in events if e.kind is EventKind.END and e.instrument_pid == pid]


def _held_here(durable: DurableLogger, pid: str) -> Any:
    """This PC's session on ``pid`` whose START a conflict holds (None if none, or if the
    outbox cannot be read: 'status' must still show)."""
    try:
        return durable.held_session(pid)
    except Exception:
        return None


def cmd_status(args: argparse.Namespace) -> int:
    from nexus_logger.core import timestamps
    from nexus_logger.core.offline.outbox_file import damaged_copies, damaged_notice

    durable = durable_from_args(args)
    inst = _resolve_instrument(args, durable)
    session = durable.find_open(inst.instrument_pid)
    offline = durable.offline_reason
    pending = pending_events(durable)
    try:
        conflicts = len(durable.conflicts())
    except Exception:  # as above: the status must still show
        conflicts = None
    damaged = damaged_copies(durable.outbox.path)
    held = _held_here(durable, inst.instrument_pid) if session is None else None
    if args.format == "json":
        data = {
            "instrument": {
                "instrument_pid": inst.instrument_pid,
                "display_name": inst.display_name,
                "timezone": inst.timezone,
            },
            "open": session is not None,
            "session": session.as_dict() if session else None,
            "pending_events": pending,
            "open_conflicts": conflicts,
            "damaged_outboxes": [str(copy) for copy in damaged],
            "held_session": held.as_dict() if held else None,
            "database_reachable": offline is None,
        }
        print(render_json(data))
        return 0
    if offline is not None:
        print(f"{offline} Showing what this PC knows.")
    zone = inst.timezone
    if not timestamps.is_valid_zone(zone or ""):
        zone = f"{zone!r}, not a time zone name: times in UTC (see 'nexus-logger check')"
    print(f"Instrument: {inst.instrument_pid} ({inst.display_name}), zone {zone}")
    if session is None:
        print("No session is open." if offline is None else "No session is known to this PC.")
        if held is not None:
            # 'session end' finds it (its user must be able to end it): status must show it.
            print(
                f"Session {held.session_identifier} ({held.user or 'no user'}), started on this "
                f"PC at {words.when(held.started)}, is held here by a conflict and was never "
                "written to the database; its user ends it with 'nexus-logger session end' "
                "(staff: 'nexus-logger sync --status')."
            )
        for end in _ends_waiting(durable, inst.instrument_pid):
            print(
                f"Session {end.session_identifier} ({end.user or 'no user'}) was ended on this "
                f"PC at {words.when(end.at)}; its END waits here to be sent."
            )
    else:
        now = timestamps.now_in(inst.timezone)
        running = in_words(timestamps.seconds_between(session.started, now))
        print(f"Open session: {session.session_identifier}")
        print(f"  user:           {session.user or '(none)'}")
        print(f"  since:          {words.when(session.started)} ({running})")
        if session.kept_since is not None:
            print(
                f"  waiting on this PC since {words.when(session.kept_since)}, database "
                "unreachable: the database does not have this session yet"
            )
        elif session.hostname:
            print(f"  started on PC:  {session.hostname}")
        if session.last_heartbeat is not None:
            print(f"  last heartbeat: {words.when(session.last_heartbeat)}")
        if session.note:
            print(f"  note:           {session.note}")
    if pending is not None:
        print(f"Events waiting on this PC to be sent: {pending}")
    if conflicts:
        print(f"Conflicts to look at: {conflicts} (see 'nexus-logger sync --status').")
    for copy in damaged:
        print(f"Warning: {damaged_notice(copy)}")
    return 0
