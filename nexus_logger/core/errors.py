"""Errors with a message a person can act on.

Every error the user may see is a :class:`NexusLoggerError` whose ``str()`` is one or two plain
sentences: what is wrong and what to do. Interfaces print that message and never a traceback;
the traceback goes to the log file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType

#: Exit codes of the ``nexus-logger`` command (the README's "Exit codes" table). Each error
#: class below carries its code as ``exit_code``; ``cli.main`` returns it.
EXIT_OK = 0
#: ``check`` or ``doctor`` found problems (or an admin action was declined at its question).
EXIT_PROBLEMS = 1
#: Usage or bad input: a wrong option (argparse), an invalid time, user name or value.
EXIT_USAGE = 2
#: Events are held on this PC and not sent yet (the database is away; they go out later).
EXIT_HELD = 3
#: The database refused: a session is already open, none is open, the state conflicts.
EXIT_REFUSED = 4
#: The database cannot be reached now and nothing was kept on this PC.
EXIT_UNREACHABLE = 5
#: Bad configuration or database set-up: config file, missing or foreign database, wrong
#: schema, read-only file, login refused, unknown instrument.
EXIT_SETUP = 6


class NexusLoggerError(Exception):
    """Base class: ``str(err)`` is a complete, user-facing sentence.

    An error not more specific than this is a problem of this PC's or the database's set-up,
    and so are the subclasses that keep this ``exit_code`` (configuration, a missing or foreign
    database, a refused login, a read-only file).
    """

    exit_code = EXIT_SETUP


class InvalidInput(NexusLoggerError):
    """Input refused before anything was written (bad user name, unknown status, ...)."""

    exit_code = EXIT_USAGE


class ConfigError(NexusLoggerError):
    """The configuration file or an option is wrong."""


class DatabaseUnavailable(NexusLoggerError):
    """The database cannot be reached now or stayed locked past the timeout.

    This is the only error after which an event may be kept in the local outbox: the same
    write is expected to succeed later.
    """

    exit_code = EXIT_UNREACHABLE


class DatabaseMissing(NexusLoggerError):
    """The configured database file does not exist (and is never created by accident)."""


class AccessDenied(NexusLoggerError):
    """The database answered and refused this account: wrong password, unknown role, no right.

    Not :class:`DatabaseUnavailable`: waiting does not help, so nothing is kept on this PC; the
    exit code says it is a set-up problem, not the network.
    """


#: The name the CLI's exit-code table uses for a refused login.
LoginRefused = AccessDenied


class DatabaseReadOnly(NexusLoggerError):
    """The database can be read but not written."""


#: What to do about a folder that refuses new files (the CLI, the window and the doctor).
FOLDER_FIX = "Ask IT for write (Modify) permission on the folder of the database file."


class ReadOnlyFolder(DatabaseReadOnly):
    """An SQLite file that can be read, in a folder that refuses new files: a write cannot
    create SQLite's journal next to it."""

    @staticmethod
    def problem(where: str) -> str:
        """The sentence that says what is wrong (the doctor adds :data:`FOLDER_FIX` apart)."""
        return (
            f"The database {where} can be read but not written: its folder does not let this "
            "account create SQLite's journal file next to it."
        )

    @classmethod
    def of(cls, where: str) -> ReadOnlyFolder:
        return cls(f"{cls.problem(where)} {FOLDER_FIX}")


class SchemaError(NexusLoggerError):
    """The file or server is reachable but does not hold NexusLIMS tables we understand."""


class NotFound(NexusLoggerError):
    """A named session, conflict, event or station link was not found (a typo, most often)."""

    exit_code = EXIT_USAGE


class UnknownInstrument(NotFound):
    """The instrument this PC or the command names is not in the database: a set-up problem."""

    exit_code = EXIT_SETUP

    @classmethod
    def named(cls, pid: str, where: str, known: Iterable[str]) -> UnknownInstrument:
        """``pid`` is not among the ``known`` PIDs of the database ``where``."""
        return cls(f"The instrument {pid!r} is not in the database {where}. {known_pids(known)}")


def known_pids(known: Iterable[str]) -> str:
    """The sentence that follows an unknown or missing instrument: the PIDs to choose from, or
    where instruments come from when the database has none."""
    names = ", ".join(known)
    if names:
        return f"Known instruments: {names}."
    return (
        "The database has no instruments yet: NexusLIMS's staff add them to its "
        "'instruments' table (nexus-logger does not)."
    )


class RefusedByDatabase(NexusLoggerError):
    """The database, or its current state, does not allow the change."""

    exit_code = EXIT_REFUSED


class Conflict(RefusedByDatabase):
    """The action conflicts with the current state (e.g. a session is already open)."""


class ServerRule(RefusedByDatabase):
    """A PostgreSQL server's nexus-logger rules (docs/postgres-roles.md) refused this account
    the change: an account's rights, so waiting does not help and nothing is kept."""


class SessionEnded(Conflict):
    """The session has an END already, written elsewhere; ``ended_at`` is the END's time as
    stored (``None`` when it cannot be read), so that a window can say when it really ended."""

    def __init__(self, message: str, ended_at: datetime | None = None) -> None:
        super().__init__(message)
        self.ended_at = ended_at


class NoteChanged(Conflict):
    """The session's note was changed elsewhere (another window, the command line) since the
    caller last read it; ``current`` is the note now stored (``None``: no note), so that the
    caller can show it instead of overwriting it unseen."""

    def __init__(self, message: str, current: str | None) -> None:
        super().__init__(message)
        self.current = current


#: SQLITE_READONLY_DBMOVED: "attempt to write a readonly database" because the file was moved.
_READONLY_DBMOVED = 1032


def _root_message(err: BaseException) -> str:
    orig = getattr(err, "orig", None)
    return str(orig if orig is not None else err).strip()


@dataclass(frozen=True)
class _Seen:
    """A driver error as the rules read it: its root message and the error that raised it."""

    err: BaseException
    root: BaseException  # the DBAPI error SQLAlchemy wraps, or ``err`` itself
    text: str
    sa_exc: ModuleType  # sqlalchemy.exc, imported on first use

    def says(self, *words: str) -> bool:
        """True when the message contains any of ``words`` (lower case)."""
        low = self.text.lower()
        return any(w in low for w in words)

    def fields(self, where: str) -> dict[str, str]:
        first = self.text.splitlines()[0] if self.text else ""
        return {
            "where": where,
            "text": self.text,
            "first_line": first,
            "reason": first or "no reason given",
        }


@dataclass(frozen=True)
class _Rule:
    """One failure nexus-logger recognises: how to tell, what it becomes, what to say.

    ``message`` is a ``str.format`` template: ``{where}`` (the database), ``{text}`` (the
    driver's message), ``{first_line}`` (its first line), ``{reason}`` (the same, or "no
    reason given").
    """

    matches: Callable[[_Seen], bool]
    error: type[NexusLoggerError]
    message: str


def _unreachable(s: _Seen) -> bool:
    return isinstance(s.err, s.sa_exc.OperationalError | s.sa_exc.InterfaceError)


#: A database file or server with no NexusLIMS tables (``{where}``: which). Not only "create
#: one": a file that held them until now was emptied or replaced, and a new empty database
#: in its place would take the sessions kept on PCs and lose the real ones.
NO_TABLES = (
    "The database {where} has no NexusLIMS tables. If it held them until now, it was emptied "
    "or replaced: put the file back (from a backup). For a new facility, point nexus-logger "
    "at the NexusLIMS database or create one with 'nexus-logger init-db'."
)

#: How a database that stayed locked past the timeout is said (one place: the message is made
#: here, and :func:`said_locked` recognises it where only the text travels on).
STAYED_LOCKED = "stayed locked by another program past the timeout"


def said_locked(message: str | None) -> bool:
    """True when ``message`` says the database stayed locked (not unreachable): what the person
    is told then names the lock, so that IT looks for the program holding it, not the network."""
    return bool(message) and STAYED_LOCKED in message


#: The rules :func:`translate` tries, in order; the first that matches decides. The message's
#: words come first, then the error's class.
_RULES: tuple[_Rule, ...] = (
    _Rule(
        # (SQLite's busy file; PostgreSQL's lock_timeout, e.g. another PC's START holding the
        # instrument's lock)
        lambda s: s.says("database is locked", "database table is locked", "busy", "lock timeout"),
        DatabaseUnavailable,
        "The database {where} " + STAYED_LOCKED + ". "
        "Try again in a minute; if it persists, close the program holding it.",
    ),
    # SQLite refuses to write to a file renamed or replaced since it was opened: the share
    # dropped or the file is being moved. That passes, unlike a real lack of permission.
    _Rule(
        lambda s: getattr(s.root, "sqlite_errorcode", None) == _READONLY_DBMOVED,
        DatabaseUnavailable,
        "The database file {where} was moved or replaced while in use (a share that "
        "dropped?). Try again in a moment; check the share if it persists.",
    ),
    _Rule(
        lambda s: s.says("readonly database", "read-only", "read only"),
        DatabaseReadOnly,
        "The database {where} is read-only for this account. "
        "Ask IT for write permission on the file and its folder.",
    ),
    _Rule(
        lambda s: s.says("file is not a database", "file is encrypted"),
        SchemaError,
        "{where} is not an SQLite database. Check the database path.",
    ),
    # (PostgreSQL's "no such file" is a missing server socket: it cannot be reached.)
    _Rule(
        lambda s: (
            isinstance(s.root, sqlite3.Error)
            and s.says("unable to open database", "disk i/o error", "no such file")
        ),
        DatabaseUnavailable,
        "The database {where} cannot be opened (missing file, unreachable share or "
        "no permission). Check that the share is connected and the path is right.",
    ),
    _Rule(
        lambda s: s.says("no such table") or (s.says("relation") and s.says("does not exist")),
        SchemaError,
        NO_TABLES,
    ),
    _Rule(
        lambda s: s.says("nexus-logger rule:"),
        ServerRule,
        "The database {where} refused this change by its rules ({first_line}). Ask facility "
        "staff to make it with the admin role's login (docs/postgres-roles.md).",
    ),
    _Rule(
        lambda s: s.says("check constraint"),
        RefusedByDatabase,
        "The database {where} refused the value (a CHECK constraint failed: {text}). "
        "An older NexusLIMS database may not allow this status.",
    ),
    _Rule(
        lambda s: _login_refused(s.text.lower()),
        AccessDenied,
        "The database server {where} refused the login. "
        "Check the user name and password in the database URL.",
    ),
    _Rule(
        lambda s: s.says("permission denied", "must be owner"),
        AccessDenied,
        "The database {where} refused this account the right to do that "
        "({first_line}). Ask the database administrator for the rights in "
        "docs/postgres-roles.md.",
    ),
    _Rule(
        lambda s: s.says("database") and s.says("does not exist"),
        SchemaError,
        "The database server answered, but the database named in {where} does not exist. "
        "Check the database name in the URL.",
    ),
    _Rule(
        lambda s: _unreachable(s) or isinstance(s.err, sqlite3.OperationalError),
        DatabaseUnavailable,
        "The database {where} cannot be reached ({reason}). "
        "Check the network connection and the database setting.",
    ),
    _Rule(
        lambda s: (
            isinstance(s.err, s.sa_exc.IntegrityError) and s.says("nexus_logger_open_session")
        ),
        Conflict,
        "Another session was started on this instrument in the database {where} at the "
        "same moment, so this one was not written. Look at the instrument's state and try "
        "again.",
    ),
    _Rule(
        lambda s: isinstance(s.err, s.sa_exc.IntegrityError),
        RefusedByDatabase,
        "The database {where} refused the change: {reason}.",
    ),
    _Rule(
        lambda s: isinstance(s.err, s.sa_exc.SQLAlchemyError | sqlite3.Error),
        NexusLoggerError,
        "The database {where} reported an error: {reason}.",
    ),
)


def translate(err: BaseException, where: str) -> NexusLoggerError:
    """Turn a driver or SQLAlchemy error into a :class:`NexusLoggerError` for ``where``.

    ``where`` names the database (a path or a URL without password) so that the message says
    which one is at fault. The first rule of :data:`_RULES` that matches decides.
    """
    if isinstance(err, NexusLoggerError):
        return err
    # Imported here, not at module level: the window imports this module before it is shown,
    # and SQLAlchemy alone takes longer to import than the whole start-up budget (0.5 s).
    from sqlalchemy import exc as sa_exc

    orig = getattr(err, "orig", None)
    seen = _Seen(err, orig if orig is not None else err, _root_message(err), sa_exc)
    for rule in _RULES:
        if rule.matches(seen):
            return rule.error(rule.message.format(**seen.fields(where)))
    return NexusLoggerError(f"Unexpected error with the database {where}: {seen.text}.")


def _login_refused(low: str) -> bool:
    """True for the server's answers that mean "this login is not accepted"."""
    return (
        "password authentication failed" in low
        or "no password supplied" in low
        or "no pg_hba.conf entry" in low
        or ("role" in low and "does not exist" in low)
        or "authentication failed" in low
        # A group role (the roles script's, NOLOGIN): the server answered, and waiting does
        # not help. Taken for "unreachable", its sessions were kept on the PC for good.
        or "is not permitted to log in" in low
    )
