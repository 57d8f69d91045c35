"""``session end``: which session to end, when, and what to say (split from
:mod:`nexus_logger.commands.session`, which registers it).

"Now" is the moment the command was given; the session is the one open on this PC's
instrument (this login's, or one a conflict holds here), or the one named with ``--session``
(another login's too: then audited as ended by this login).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nexus_logger.commands import _session_words as words
from nexus_logger.commands._common import (
    durable_from_args,
    parse_time,
    render_json,
    settings_from_args,
)
from nexus_logger.commands.session import (
    EXIT_HELD,
    _report_this_pc,
    _resolve_instrument,
    print_notes,
)
from nexus_logger.core import timestamps
from nexus_logger.core.durations import in_words
from nexus_logger.core.errors import Conflict, NotFound
from nexus_logger.core.sessions.inputs import ends_before_start

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import DurableLogger


def cmd_end(args: argparse.Namespace) -> int:
    """End the session (see the module); the exit code (0, 3 kept on this PC, 4 refused)."""
    # "Now" is when the command was given, not after the lookups below have waited out an
    # unreachable database.
    invoked = datetime.now(UTC)
    if args.at is not None and args.at.strip().lower() != "heartbeat":
        parse_time(args.at)  # bad input is said first, whatever the database holds
    durable = durable_from_args(args)
    target = _session_to_end(args, durable)
    if isinstance(target, int):
        return target  # refused: nothing open, or not this user's
    ident, session = target
    at, typed = _end_time(args, ident, durable, invoked)
    if (
        session is not None
        and not typed
        and ends_before_start(at, session.started, session.start_text)
    ):
        if args.at is not None:  # --at heartbeat: the last heartbeat, not the command's time
            raise Conflict(
                f"The last heartbeat of session {ident} ({words.when(at)}) is earlier than its "
                f"start ({words.when(session.started)}); nothing was ended. Give the end time "
                "with --at TIME."
            )
        raise end_before_its_start(session, at, named=args.session is not None)
    acting = words.acting_as(args)
    if session is None:
        result, queued, message = _end_in_database(ident, at, typed, durable, acting)
    else:
        result, queued, message = _end_kept(session, at, typed, durable, acting)
    _print_ended(args, ident, result, queued, message)
    if not queued:
        print_notes(durable)
    if session is not None and not queued:  # this PC's own session: its row says it ended
        sys.stdout.flush()
        _report_this_pc(durable, session.instrument.instrument_pid, None)
    return EXIT_HELD if queued else 0


def _session_to_end(args: argparse.Namespace, durable: DurableLogger) -> tuple[str, Any] | int:
    """The identifier to end and this PC's open session when it is that one (else None), or
    the exit code of a refusal (already printed)."""
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.settings.identity import same_user

    if args.session is None:
        inst = _resolve_instrument(args, durable)
        session = durable.find_open(inst.instrument_pid)
        if session is None:  # a START of this PC a conflict holds is still its user's to end
            session = durable.held_session(inst.instrument_pid)
        if session is None:
            return words.no_open(args, inst.instrument_pid, offline=bool(durable.offline_reason))
        # A PC is shared: nobody ends another person's session without naming it. The same
        # rule as the window's (case and a domain prefix ignored).
        if not same_user(session.user, words.acting_as(args)):
            return words.not_yours(args, session, offline=bool(durable.offline_reason))
        return session.session_identifier, session
    # The session this PC has open can be ended offline too; any other goes straight to the
    # database.
    try:
        inst = _resolve_instrument(args, durable)
        mine = durable.find_open(inst.instrument_pid)
    except NexusLoggerError:
        mine = None
    if mine is not None and mine.session_identifier == args.session:
        return args.session, mine
    held = durable.held_session(session_identifier=args.session)
    return args.session, held


def end_before_its_start(session: Any, invoked: datetime, *, named: bool) -> Conflict:
    """Why "end it now" cannot end ``session``, which starts after ``invoked`` (the moment the
    command was given): it was started while the command waited on the database (then it is
    not the one meant), or its start is ahead of this PC's clock."""

    zone = session.started.tzinfo
    given = invoked.astimezone(zone)
    pid = session.instrument.instrument_pid
    if not named and session.started <= datetime.now(UTC):
        return Conflict(
            f"No session was open on {pid} when this command was given ({given:%H:%M:%S}); "
            f"the session open now was started after it ({session.started:%H:%M:%S}, user "
            f"{session.user or 'none'}), so it was not ended. Run the command again to end "
            "that one."
        )
    return Conflict(
        f"Session {session.session_identifier} on {pid} starts at "
        f"{session.started:%H:%M:%S}, later than this PC's clock when this command was given "
        f"({given:%H:%M:%S}): one of the clocks is off. Give the end time with --at, or check "
        "this PC's clock."
    )


def _end_time(
    args: argparse.Namespace, ident: str, durable: DurableLogger, invoked: datetime
) -> tuple[datetime, bool]:
    """The END's time and whether the user typed it (then the back-fill limit applies)."""
    from nexus_logger.core.errors import DatabaseUnavailable
    from nexus_logger.core.sessions.lifecycle import last_heartbeat

    if args.at and args.at.strip().lower() == "heartbeat":
        try:
            at = last_heartbeat(ident, engine=durable.engine())
        except DatabaseUnavailable as err:
            raise DatabaseUnavailable(
                f"{err} The last heartbeat cannot be read now; give the end time with --at TIME."
            ) from err
        if at is None:
            raise NotFound(
                f"Session {ident} has no heartbeat recorded; give the end time with --at TIME."
            )
        return at, False
    if args.at is not None:  # an empty --at is a mistake, not "now"
        return parse_time(args.at), True
    return invoked, False


def _end_in_database(
    ident: str, at: datetime, typed: bool, durable: DurableLogger, acting: str
) -> tuple[dict[str, Any], bool, str]:
    """End a session this PC does not have open, in the database: (result, queued, message).

    Named with ``--session``, it may be another login's: then the END is marked in the log and
    the audit trail with who ended it, as the window's "End X's session" does."""
    from nexus_logger.core.offline.other_login import end_now
    from nexus_logger.core.settings.identity import recorded_login

    ended = end_now(
        durable.engine(),
        session_identifier=ident,
        at=at,
        by=acting,  # whether it is someone else's session: by the name it acts as
        login=recorded_login(),  # who the audit row names: the real account
        rules=durable.rules,
        typed=typed,
    )
    return ended.as_dict(), False, ""


def _end_kept(
    session: Any, at: datetime, typed: bool, durable: DurableLogger, acting: str
) -> tuple[dict[str, Any], bool, str]:
    """End this PC's open session through the outbox: (result, queued, message); when it is
    another login's (named with ``--session``), its END says who ended it (audited)."""
    from nexus_logger.core.settings.identity import ending_login

    by = ending_login(session.user, acting)
    try:
        outcome = durable.end(session, at=at, typed=typed, ended_by=by)
    except KeyboardInterrupt:
        return _interrupted(session, durable)
    started = outcome.started or session.started
    result = _result(session, started, outcome.ended, already_ended=outcome.already_ended)
    return result, outcome.queued, outcome.message


def _result(
    session: Any, started: datetime, ended: datetime, *, already_ended: bool
) -> dict[str, Any]:
    return {
        "session_identifier": session.session_identifier,
        "instrument": session.instrument.instrument_pid,
        "instrument_name": session.instrument.display_name,
        "user": session.user,
        "started": started.isoformat(),
        "ended": ended.isoformat(),
        "duration_seconds": round(timestamps.seconds_between(started, ended), 3),
        "already_ended": already_ended,
    }


def _interrupted(session: Any, durable: DurableLogger) -> tuple[dict[str, Any], bool, str]:
    """Ctrl-C while the END was being sent (a locked file, a slow server): the END is kept
    on this PC already and the next command sends it, so the session ends at that moment. It
    was left unsaid (exit 130, nothing printed). Said now as for any END kept here; without a
    kept END the interrupt goes on."""
    from nexus_logger.core.offline.outbox import EventKind

    ident = session.session_identifier
    kept = [
        e
        for e in durable.pending_events()
        if e.kind is EventKind.END and e.session_identifier == ident
    ]
    if not kept:
        raise KeyboardInterrupt
    ended = timestamps.parse(kept[0].at_text)
    result = _result(session, session.started, ended, already_ended=False)
    message = (
        "Interrupted before the database answered: the session end is saved on this PC and "
        "is sent by the next nexus-logger command here (or 'nexus-logger sync')."
    )
    return result, True, message


def _print_ended(
    args: argparse.Namespace, ident: str, result: dict[str, Any], queued: bool, message: str
) -> None:
    started_at = datetime.fromisoformat(result["started"])
    ended_at = datetime.fromisoformat(result["ended"])
    if args.format == "json":
        data: dict[str, Any] = {"ok": True, "queued": queued, "ended": result}
        if queued:
            data["message"] = message
        print(render_json(data))
    elif result["already_ended"]:
        print(f"Session {ident} had already ended at {words.when(ended_at)}; nothing was changed.")
    elif queued:  # not ended in the database yet: say what is kept, not "Ended"
        print(message)
        print(
            f"Session {ident} on {result['instrument']} for {result['user']}: its END at "
            f"{words.when(ended_at)} ({in_words(result['duration_seconds'])} after its start "
            f"at {words.when(started_at)}) is kept on this PC."
        )
    else:
        # The demo database is never read by NexusLIMS: no record is promised there.
        demo = settings_from_args(args).uses_demo
        print(
            f"Ended session {ident} on {result['instrument']} for {result['user']}: "
            f"{words.when(started_at)} to {words.when(ended_at)} "
            f"({in_words(result['duration_seconds'])}). "
            + (
                "It is in the demo database, which NexusLIMS never reads."
                if demo
                else "NexusLIMS will build its record."
            )
        )
