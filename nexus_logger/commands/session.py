"""``session start|end|status``: one instrument PC's session, from a terminal or a script.

Exit codes: 0 done; 2 an error (message on stderr); 3 the instrument's state refused the
action (``start`` while a session is open, ``end`` with none open), also with a message.
``--format json`` prints exactly one JSON object on stdout, in the refused case too.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from nexus_logger.commands._common import (
    add_format_option,
    engine_from_args,
    render_json,
    settings_from_args,
)
from nexus_logger.core.errors import InvalidInput, NotFound

#: Exit code when the instrument's state refuses the action (already open / nothing open).
EXIT_REFUSED = 3


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "session",
        help="start, end or show this PC's session",
        description="Start, end or show the session of this PC's instrument. The instrument "
        "is --instrument, else the config file, else this PC's entry in the station table "
        "('nexus-logger station set'), else the legacy computer_name column.",
    )
    actions = p.add_subparsers(dest="session_command", metavar="ACTION", required=True)

    start = actions.add_parser(
        "start",
        parents=[common],
        help="start a session (refused while one is open)",
        description="Write a START for this PC's instrument. If a session is already open "
        "there, nothing is written and the command exits with code 3, naming that session.",
    )
    _instrument_option(start)
    start.add_argument(
        "--user", metavar="NAME", help="who uses the instrument (default: your login)"
    )
    start.add_argument("--note", metavar="TEXT", help="what is done, which sample (optional)")
    start.add_argument(
        "--at",
        metavar="TIME",
        help="start time, ISO-8601 (default: now; no offset: instrument's zone)",
    )
    add_format_option(start, ("table", "json"))
    start.set_defaults(func=cmd_start)

    end = actions.add_parser(
        "end",
        parents=[common],
        help="end the open session",
        description="End the open session of this PC's instrument (or --session ID): the END "
        "and the status change to TO_BE_BUILT happen in one transaction. Exits with code 3 when "
        "no session is open.",
    )
    _instrument_option(end)
    end.add_argument("--session", metavar="ID", help="end this session instead of the open one")
    end.add_argument(
        "--at",
        metavar="TIME",
        help="end time, ISO-8601 (no offset: instrument's zone), or 'heartbeat' for the "
        "session's last heartbeat (default: now)",
    )
    add_format_option(end, ("table", "json"))
    end.set_defaults(func=cmd_end)

    status = actions.add_parser(
        "status",
        parents=[common],
        help="show the instrument's open session",
        description="Show which instrument this PC is and its open session, if any.",
    )
    _instrument_option(status)
    add_format_option(status, ("table", "json"))
    status.set_defaults(func=cmd_status)


def _instrument_option(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: without the option, a value given before the sub-command stays in effect.
    parser.add_argument(
        "--instrument", metavar="PID", default=argparse.SUPPRESS, help="instrument PID"
    )


def _resolve_instrument(args: argparse.Namespace, engine: Any) -> Any:
    from nexus_logger.core.lifecycle import identify_instrument
    from nexus_logger.core.validation import clean_instrument

    explicit = getattr(args, "instrument", None)
    if explicit is not None:
        clean_instrument(explicit)  # "--instrument ''" is refused, not ignored
    configured = settings_from_args(args).instrument or None
    return identify_instrument(instrument=configured, engine=engine, use_config=False)


def parse_time(text: str) -> datetime:
    """``--at`` text as a datetime; naive values are later read in the instrument's zone."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not an ISO-8601 time; use e.g. 2025-01-06T08:06:34 "
            "(the instrument's zone) or 2025-01-06T08:06:34-05:00."
        ) from None


def format_duration(seconds: float) -> str:
    """``1 h 05 min`` / ``12 min`` / ``40 s``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"


def _when(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds")


def _refused(args: argparse.Namespace, message: str, payload: dict[str, Any]) -> int:
    if args.format == "json":
        print(render_json({"ok": False, "error": message, **payload}))
    print(f"nexus-logger: {message}", file=sys.stderr)
    return EXIT_REFUSED


def cmd_start(args: argparse.Namespace) -> int:
    from nexus_logger.core.lifecycle import start_session

    engine = engine_from_args(args)
    inst = _resolve_instrument(args, engine)
    at = parse_time(args.at) if args.at else None
    result = start_session(
        instrument=inst.instrument_pid, user=args.user, note=args.note, at=at, engine=engine
    )
    s = result.session
    if not result.created:
        message = (
            f"A session is already open on {inst.instrument_pid}: {s.user or 'unknown user'} "
            f"since {_when(s.started)} (session {s.session_identifier}). "
            "End it first with 'nexus-logger session end'."
        )
        return _refused(args, message, {"created": False, "session": s.as_dict()})
    if args.format == "json":
        print(render_json({"ok": True, "created": True, "session": s.as_dict()}))
    else:
        print(
            f"Started session {s.session_identifier} on {inst.instrument_pid} "
            f"({inst.display_name}) for {s.user} at {_when(s.started)}."
        )
    return 0


def cmd_end(args: argparse.Namespace) -> int:
    from nexus_logger.core.lifecycle import (
        NoOpenSession,
        end_session,
        find_open_session,
        last_heartbeat,
    )

    engine = engine_from_args(args)
    inst = None
    ident = args.session
    if ident is None:
        inst = _resolve_instrument(args, engine)
    at: datetime | None = None
    if args.at and args.at.strip().lower() == "heartbeat":
        if ident is None:
            open_session = find_open_session(inst.instrument_pid, engine=engine)
            if open_session is None:
                return _no_open(args, inst.instrument_pid)
            ident = open_session.session_identifier
        at = last_heartbeat(ident, engine=engine)
        if at is None:
            raise NotFound(
                f"Session {ident} has no heartbeat recorded; give the end time with --at TIME."
            )
    elif args.at:
        at = parse_time(args.at)
    try:
        if ident is not None:
            ended = end_session(session_identifier=ident, at=at, engine=engine)
        else:
            ended = end_session(instrument=inst.instrument_pid, at=at, engine=engine)
    except NoOpenSession:
        return _no_open(args, inst.instrument_pid if inst else "")
    if args.format == "json":
        print(render_json({"ok": True, "ended": ended.as_dict()}))
    elif ended.already_ended:
        print(
            f"Session {ended.session_identifier} had already ended at {_when(ended.ended)}; "
            "nothing was changed."
        )
    else:
        print(
            f"Ended session {ended.session_identifier} on {ended.instrument.instrument_pid} "
            f"for {ended.user}: {_when(ended.started)} to {_when(ended.ended)} "
            f"({format_duration(ended.duration_seconds)}). NexusLIMS will build its record."
        )
    return 0


def _no_open(args: argparse.Namespace, pid: str) -> int:
    message = f"No session is open on {pid}; there is nothing to end."
    return _refused(args, message, {"ended": None, "instrument": pid})


def pending_events() -> int | None:
    """Events kept in this PC's local outbox, not yet in the database; None when unknown.

    Placeholder for the outbox (issue 4): it reports ``core.outbox.pending_events()`` once that
    module exists; ``session status`` prints the figure when it is not None.
    """
    try:
        from nexus_logger.core.outbox import pending_events as count  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        return int(count())
    except Exception:  # a broken outbox must not break 'status'; doctor reports it
        return None


def cmd_status(args: argparse.Namespace) -> int:
    from nexus_logger.core import timestamps
    from nexus_logger.core.lifecycle import find_open_session

    engine = engine_from_args(args)
    inst = _resolve_instrument(args, engine)
    session = find_open_session(inst.instrument_pid, engine=engine)
    pending = pending_events()
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
        }
        print(render_json(data))
        return 0
    print(f"Instrument: {inst.instrument_pid} ({inst.display_name}), zone {inst.timezone}")
    if session is None:
        print("No session is open.")
    else:
        now = timestamps.now_in(inst.timezone)
        running = format_duration((now - session.started).total_seconds())
        print(f"Open session: {session.session_identifier}")
        print(f"  user:           {session.user or '(none)'}")
        print(f"  since:          {_when(session.started)} ({running})")
        if session.last_heartbeat is not None:
            print(f"  last heartbeat: {_when(session.last_heartbeat)}")
        if session.note:
            print(f"  note:           {session.note}")
    if pending is not None:
        print(f"Events waiting on this PC to be sent: {pending}")
    return 0
