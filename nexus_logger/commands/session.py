"""``session start|end|status``: one instrument PC's session, from a terminal or a script.

Exit codes (the README's table): 0 done; 3 kept on this PC (the database is away); 4 the
instrument's state refused the action (``start`` while a session is open, ``end`` with none
open or another person's), with a message; others as for every command.
``--format json`` prints exactly one JSON object on stdout, in the refused case too.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from nexus_logger.commands import _session_words as words
from nexus_logger.commands._common import (
    add_action,
    add_format_option,
    durable_from_args,
    parse_time,
    render_json,
    settings_from_args,
)
from nexus_logger.core import errors

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import DurableLogger

#: Exit code when an event is kept on this PC (the database is away).
EXIT_HELD = errors.EXIT_HELD


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "session",
        help="start, end or show this PC's session",
        description="Start, end or show the session of this PC's instrument. The instrument "
        "is --instrument, else the config file, else this PC's entry in the station table "
        "('nexus-logger station set'), else the legacy computer_name column.",
    )
    actions = p.add_subparsers(dest="session_command", metavar="ACTION", required=True)
    for name, (func, help_text, description, add_options) in _ACTIONS.items():
        parser = add_action(
            actions, name, func, help_text=help_text, description=description, parents=[common]
        )
        # SUPPRESS: without the option, a value given before the sub-command stays in effect.
        parser.add_argument(
            "--instrument", metavar="PID", default=argparse.SUPPRESS, help="instrument PID"
        )
        add_options(parser)
        add_format_option(parser, ("table", "json"))


def _start_options(start: argparse.ArgumentParser) -> None:
    start.add_argument(
        "--user", metavar="NAME", help="who uses the instrument (default: your login)"
    )
    start.add_argument("--note", metavar="TEXT", help="what is done, which sample (optional)")
    start.add_argument(
        "--at",
        metavar="TIME",
        help="start time, ISO-8601 (default: now; no offset: instrument's zone)",
    )


def _end_options(end: argparse.ArgumentParser) -> None:
    end.add_argument(
        "--session",
        metavar="ID",
        help="end this session instead of the open one (needed for another user's session)",
    )
    end.add_argument(
        "--user",
        metavar="NAME",
        help="whose open session this is (default: your login); ignored with --session",
    )
    end.add_argument(
        "--at",
        metavar="TIME",
        help="end time, ISO-8601 (no offset: instrument's zone), or 'heartbeat' for the "
        "session's last heartbeat (default: now)",
    )


def _note_options(note: argparse.ArgumentParser) -> None:
    note.add_argument("text", metavar="TEXT", nargs="?", help="the new note")


def _no_options(_parser: argparse.ArgumentParser) -> None:
    """``status`` and ``heartbeat`` take only the options every action has."""


def _resolve_instrument(args: argparse.Namespace, durable: Any) -> Any:
    """This PC's instrument through the DurableLogger: while the database is away, the one
    identified last on this PC (so start/end still work offline)."""
    from nexus_logger.core.validation import clean_instrument

    explicit = getattr(args, "instrument", None)
    if explicit is not None:
        clean_instrument(explicit)  # "--instrument ''" is refused, not ignored
    configured = settings_from_args(args).instrument or None
    return durable.identify(instrument=configured, use_config=False)


def cmd_start(args: argparse.Namespace) -> int:
    from nexus_logger.core.sessions.lifecycle import default_user

    at = parse_time(args.at) if args.at is not None else None  # bad input is said first
    durable = durable_from_args(args)
    inst = _resolve_instrument(args, durable)
    user = args.user if args.user is not None else default_user()
    outcome = durable.start(
        instrument=inst, user=user, note=args.note, at=at, confirm=False, typed=at is not None
    )
    s = outcome.session
    if outcome.end_waits_here:
        return words.refused(
            args,
            outcome.message,
            {"created": False, "session": s.as_dict(), "end_waits_here": True},
        )
    if not outcome.created:
        from nexus_logger.core.settings.identity import same_user

        where = f" on PC {s.hostname}" if s.hostname else ""
        known = " (as this PC knows it; the database cannot be reached)" if outcome.queued else ""
        if same_user(s.user, user):
            what_to_do = (
                f"End it first with {words.suggest(args, 'session', 'end', pid=inst, user=True)}."
            )
        else:  # 'session end' alone refuses another person's session
            command = words.suggest(
                args, "session", "end", "--session", s.session_identifier, pid=inst
            )
            what_to_do = f"It is not yours: to end it anyway, name it: {command}."
        message = (
            f"A session is already open on {inst.instrument_pid}{known}: "
            f"{s.user or 'unknown user'} since {words.when(s.started)}{where} "
            f"(session {s.session_identifier}). {what_to_do}"
        )
        return words.refused(
            args, message, {"created": False, "session": s.as_dict()}, offline=outcome.queued
        )
    if args.format == "json":
        data = {"ok": True, "created": True, "queued": outcome.queued, "session": s.as_dict()}
        if outcome.queued:
            data["message"] = outcome.message
        print(render_json(data))
    else:
        if outcome.queued:
            print(outcome.message)
        print(
            f"Started session {s.session_identifier} on {inst.instrument_pid} "
            f"({inst.display_name}) for {s.user} at {words.when(s.started)}."
        )
    if not outcome.queued:
        print_notes(durable)
    sys.stdout.flush()
    durable.confirm(outcome)  # the user has been told: a START kept on this PC now counts
    if not outcome.queued:
        _report_this_pc(durable, inst.instrument_pid, s.session_identifier)
    return EXIT_HELD if outcome.queued else 0


def print_notes(durable: DurableLogger) -> None:
    """On stderr, what the user must know about this PC's outbox (its folder cannot be
    written, it was damaged): part of the core's message, which a success does not print."""
    for note in durable.keeper.notes_told:
        print(note, file=sys.stderr)


def _report_this_pc(durable: DurableLogger, pid: str, session_identifier: str | None) -> None:
    """The Fleet page's row of this PC, after the answer was printed (never fails the command)."""
    from nexus_logger.core.staff.fleet import report_this_pc

    report_this_pc(durable, pid, session_identifier)


def cmd_end(args: argparse.Namespace) -> int:
    """``session end``: in :mod:`._session_end`, loaded for it only."""
    from nexus_logger.commands._session_end import cmd_end as end

    return end(args)


def cmd_status(args: argparse.Namespace) -> int:
    """``session status``: in :mod:`._session_status`, loaded for it only."""
    from nexus_logger.commands._session_status import cmd_status as status

    return status(args)


def _open_or_refuse(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """The DurableLogger, this PC's instrument and its open session (None if none)."""

    durable = durable_from_args(args)
    inst = _resolve_instrument(args, durable)
    return durable, inst, durable.find_open(inst.instrument_pid)


def cmd_heartbeat(args: argparse.Namespace) -> int:
    from nexus_logger.core.errors import DatabaseUnavailable
    from nexus_logger.core.sessions.lifecycle import record_heartbeat, record_local_heartbeat

    durable, inst, session = _open_or_refuse(args)
    if session is None:
        message = f"No session is open on {inst.instrument_pid}; no heartbeat recorded."
        if durable.offline_reason:  # only what this PC knows: never a claim about the database
            message = (
                f"The database cannot be reached, and this PC knows no session open on "
                f"{inst.instrument_pid}; no heartbeat recorded."
            )
        return words.refused(
            args, message, {"session_identifier": None}, offline=bool(durable.offline_reason)
        )
    refusal = words.someone_elses(args, session, "no heartbeat was recorded")
    if refusal is not None:
        return refusal
    away: str | None = None
    try:
        engine = durable.engine()
        when = record_heartbeat(session.session_identifier, engine=engine, instrument=inst)
    except DatabaseUnavailable as err:  # this PC's local file keeps the time
        away = str(err)
        when = record_local_heartbeat(session.session_identifier, inst)
    else:
        _report_this_pc(durable, inst.instrument_pid, session.session_identifier)
    if args.format == "json":
        print(
            render_json(
                {
                    "ok": True,
                    "session_identifier": session.session_identifier,
                    "last_heartbeat": when.isoformat(),
                    "in_database": away is None,
                }
            )
        )
    elif away is None:
        print(f"Session {session.session_identifier} is alive at {words.when(when)}.")
    else:
        print(
            f"Session {session.session_identifier} is alive at {words.when(when)}; kept on "
            f"this PC only, as the database cannot take it now: {away}"
        )
    return 0


def cmd_note(args: argparse.Namespace) -> int:
    from nexus_logger.core.sessions.lifecycle import get_note, set_note

    durable, inst, session = _open_or_refuse(args)
    engine = durable.engine()
    if session is None:
        message = f"No session is open on {inst.instrument_pid}; there is no note to show or set."
        return words.refused(args, message, {"session_identifier": None, "note": None})
    ident = session.session_identifier
    if args.text is not None:
        refusal = words.someone_elses(args, session, "its note was not changed")
        if refusal is not None:
            return refusal
        set_note(ident, args.text, engine=engine)
    note = get_note(ident, engine=engine)
    if args.format == "json":
        print(render_json({"ok": True, "session_identifier": ident, "note": note}))
    elif args.text is not None:
        print(f"Note of session {ident} {'saved' if note else 'removed'}.")
    else:
        print(note if note else f"Session {ident} has no note.")
    return 0


#: The actions, in the order ``--help`` lists them: handler, help line, description and the
#: action's own options (besides the common ones, ``--instrument`` and ``--format``).
_ACTIONS: dict[str, tuple[Callable[[argparse.Namespace], int], str, str, Callable[..., None]]] = {
    "start": (
        cmd_start,
        "start a session (refused while one is open)",
        "Write a START for this PC's instrument. If a session is already open "
        "there, nothing is written and the command exits with code 4, naming that session.",
        _start_options,
    ),
    "end": (
        cmd_end,
        "end the open session",
        "End the open session of this PC's instrument (or --session ID): the END "
        "and the status change to TO_BE_BUILT happen in one transaction. Exits with code 4 when "
        "no session is open, or when the open session is another user's: ending someone "
        "else's session takes naming it with --session ID.",
        _end_options,
    ),
    "status": (
        cmd_status,
        "show the instrument's open session",
        "Show which instrument this PC is and its open session, if any.",
        _no_options,
    ),
    "heartbeat": (
        cmd_heartbeat,
        "record that the open session is still alive",
        "Record that the open session is alive now (the window does this every "
        "heartbeat_seconds; a scheduled task can do it on a PC without the window). Exits "
        "with code 4 when no session is open.",
        _no_options,
    ),
    "note": (
        cmd_note,
        "show or set the open session's note",
        "Show the note of the open session, or set it (editable until the session "
        "ends). An empty TEXT removes the note.",
        _note_options,
    ),
}
