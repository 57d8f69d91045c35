"""What the session commands say: times as they print them, and
a refusal with the command it suggests (one the reader can copy and run as it is)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from nexus_logger.commands._common import render_json
from nexus_logger.core import errors

#: Exit code when the instrument's state refuses the action (already open / nothing open).
EXIT_REFUSED = errors.EXIT_REFUSED


def when(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds")


def refused(
    args: argparse.Namespace,
    message: str,
    payload: dict[str, Any],
    *,
    offline: bool = False,
) -> int:
    """Print a refusal; exit 4 (the database refused), or 5 when ``offline``: what this PC
    knows refused it, the database was not reached and nothing was kept (README, exit codes).
    """
    code = errors.EXIT_UNREACHABLE if offline else EXIT_REFUSED
    if args.format == "json":
        print(render_json({"ok": False, "error": message, "exit_code": code, **payload}))
    print(f"nexus-logger: {message}", file=sys.stderr)
    return code


def not_yours(args: argparse.Namespace, session: Any, *, offline: bool = False) -> int:
    """Refuse to end another person's session unnamed; ``offline``: as this PC knows it."""
    known = " (as this PC knows it; the database cannot be reached)" if offline else ""
    message = (
        f"The open session on {session.instrument.instrument_pid}{known} is not yours: "
        f"{session.user or 'an unknown user'} started it at {when(session.started)}. "
        "To end it anyway, name it: "
        + suggest(
            args, "session", "end", "--session", session.session_identifier, pid=session.instrument
        )
        + "."
    )
    return refused(args, message, {"ended": None, "session": session.as_dict()}, offline=offline)


def acting_as(args: argparse.Namespace) -> str:
    """The name a session command acts as: ``--user`` (where the command has it; ignored with
    ``--session``), else the login. Whether a session is the caller's own, and whether ending
    it is audited as another login's, are both decided with this name."""
    from nexus_logger.core.sessions.lifecycle import default_user

    user = getattr(args, "user", None)
    if user is not None and getattr(args, "session", None) is None:
        return str(user)
    return default_user()


def someone_elses(args: argparse.Namespace, session: Any, what: str) -> int | None:
    """Refuse ``what`` (a heartbeat, a new note) on another person's open session, or None
    when it is the caller's (:func:`acting_as`). A PC is shared: another login's heartbeat
    made an abandoned session look in use, and its note replaced the owner's."""
    from nexus_logger.core.settings.identity import same_user

    if same_user(session.user, acting_as(args)):
        return None
    message = (
        f"The open session on {session.instrument.instrument_pid} is not yours: "
        f"{session.user or 'an unknown user'} started it at {when(session.started)}; "
        f"{what}. Only its user can do this."
    )
    return refused(args, message, {"session": session.as_dict()})


def no_open(args: argparse.Namespace, pid: str, *, offline: bool = False) -> int:
    if offline:  # only what this PC knows: never a claim about the database
        message = (
            f"The database cannot be reached, and this PC knows no session open on {pid}; "
            "nothing was ended. Run the command again once the database answers."
        )
    else:
        message = f"No session is open on {pid}; there is nothing to end."
    return refused(args, message, {"ended": None, "instrument": pid}, offline=offline)


def suggest(args: argparse.Namespace, *words: str, pid: Any = None, user: bool = False) -> str:
    """A command to run next, quoted, with this command's --config and database, ``pid``'s
    instrument when --instrument was given (without it, a session kept on this PC while the
    database is away cannot be found) and, with ``user``, the --user given: so that it can be
    copied as it is."""
    from nexus_logger.core.db.database_url import is_url

    parts = ["nexus-logger", *words]
    if pid is not None and getattr(args, "instrument", None):
        parts += ["--instrument", pid.instrument_pid]
    if user and getattr(args, "user", None) is not None:
        parts += ["--user", shell_word(args.user)]
    if getattr(args, "config", None):
        parts += ["--config", shell_word(str(args.config))]
    db = getattr(args, "db", None)
    if db and is_url(db):  # never repeat a password on screen or in the log
        return f"'{' '.join(parts)}' (with the same --db)"
    if db:
        parts += ["--db", shell_word(db)]
    return f"'{' '.join(parts)}'"


def shell_word(value: str) -> str:
    """``value`` as one word for a shell: in double quotes (which both Windows' shells and
    POSIX shells read) unless it is plain."""
    plain = value and all(ch.isalnum() or ch in "_-.,/:\\@+=" for ch in value)
    return value if plain else '"' + value.replace('"', '\\"') + '"'
