"""Errors with a message a person can act on.

Every error the user may see is a :class:`NexusLoggerError` whose ``str()`` is one or two plain
sentences: what is wrong and what to do. Interfaces print that message and never a traceback;
the traceback goes to the log file.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
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


class SchemaError(NexusLoggerError):
    """The file or server is reachable but does not hold NexusLIMS tables we understand."""


class NotFound(NexusLoggerError):
    """A named session, conflict, event or station link was not found (a typo, most often)."""

    exit_code = EXIT_USAGE


class UnknownInstrument(NotFound):
    """The instrument this PC or the command names is not in the database: a set-up problem."""

    exit_code = EXIT_SETUP


class RefusedByDatabase(NexusLoggerError):
    """The database, or its current state, does not allow the change."""

    exit_code = EXIT_REFUSED


class Conflict(RefusedByDatabase):
    """The action conflicts with the current state (e.g. a session is already open)."""


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
    low: str
    where: str
    sa_exc: ModuleType  # sqlalchemy.exc, imported on first use

    @property
    def first_line(self) -> str:
        return self.text.splitlines()[0]


def translate(err: BaseException, where: str) -> NexusLoggerError:
    """Turn a driver or SQLAlchemy error into a :class:`NexusLoggerError` for ``where``.

    ``where`` names the database (a path or a URL without password) so that the message says
    which one is at fault. The first rule of :data:`_RULES` that recognises the error decides.
    """
    if isinstance(err, NexusLoggerError):
        return err
    # Imported here, not at module level: the window imports this module before it is shown,
    # and SQLAlchemy alone takes longer to import than the whole start-up budget (0.5 s).
    from sqlalchemy import exc as sa_exc

    text = _root_message(err)
    orig = getattr(err, "orig", None)
    root = orig if orig is not None else err
    seen = _Seen(err, root, text, text.lower(), where, sa_exc)
    for rule in _RULES:
        found = rule(seen)
        if found is not None:
            return found
    return NexusLoggerError(f"Unexpected error with the database {where}: {text}.")


def _locked(s: _Seen) -> NexusLoggerError | None:
    if "database is locked" in s.low or "database table is locked" in s.low or "busy" in s.low:
        return DatabaseUnavailable(
            f"The database {s.where} stayed locked by another program past the timeout. "
            "Try again in a minute; if it persists, close the program holding it."
        )
    return None


def _file_moved(s: _Seen) -> NexusLoggerError | None:
    # SQLite refuses to write to a file renamed or replaced since it was opened: the share
    # dropped or the file is being moved. That passes, unlike a real lack of permission.
    if getattr(s.root, "sqlite_errorcode", None) == _READONLY_DBMOVED:
        return DatabaseUnavailable(
            f"The database file {s.where} was moved or replaced while in use (a share that "
            "dropped?). Try again in a moment; check the share if it persists."
        )
    return None


def _read_only(s: _Seen) -> NexusLoggerError | None:
    if "readonly database" in s.low or "read-only" in s.low or "read only" in s.low:
        return DatabaseReadOnly(
            f"The database {s.where} is read-only for this account. "
            "Ask IT for write permission on the file (and its folder) or use another database."
        )
    return None


def _not_sqlite(s: _Seen) -> NexusLoggerError | None:
    if "file is not a database" in s.low or "file is encrypted" in s.low:
        return SchemaError(
            f"{s.where} is not an SQLite database. Check the database path in the configuration."
        )
    return None


def _cannot_open(s: _Seen) -> NexusLoggerError | None:
    # (PostgreSQL's "no such file" is a missing server socket: it cannot be reached.)
    if isinstance(s.root, sqlite3.Error) and (
        "unable to open database" in s.low or "disk i/o error" in s.low or "no such file" in s.low
    ):
        return DatabaseUnavailable(
            f"The database {s.where} cannot be opened (missing file, unreachable share or "
            "no permission). Check that the share is connected and the path is right."
        )
    return None


def _no_tables(s: _Seen) -> NexusLoggerError | None:
    if "no such table" in s.low or ("relation" in s.low and "does not exist" in s.low):
        return SchemaError(
            f"The database {s.where} has no NexusLIMS tables. "
            "Point nexus-logger at the NexusLIMS database, or create one with "
            "'nexus-logger init-db'."
        )
    return None


def _check_failed(s: _Seen) -> NexusLoggerError | None:
    if "check constraint" in s.low:
        return RefusedByDatabase(
            f"The database {s.where} refused the value (a CHECK constraint failed: {s.text}). "
            "An older NexusLIMS database may not allow this status."
        )
    return None


def _login(s: _Seen) -> NexusLoggerError | None:
    if _login_refused(s.low):
        return AccessDenied(
            f"The database server {s.where} refused the login. "
            "Check the user name and password in the database URL."
        )
    return None


def _no_right(s: _Seen) -> NexusLoggerError | None:
    if "permission denied" in s.low or "must be owner" in s.low:
        return AccessDenied(
            f"The database {s.where} refused this account the right to do that "
            f"({s.first_line}). Ask the database administrator for the rights in "
            "docs/postgres-roles.md."
        )
    return None


def _no_database(s: _Seen) -> NexusLoggerError | None:
    if "database" in s.low and "does not exist" in s.low:
        return SchemaError(
            f"The database server answered, but the database named in {s.where} does not "
            "exist. Check the database name in the URL."
        )
    return None


def _unreachable(s: _Seen) -> NexusLoggerError | None:
    kinds = (s.sa_exc.OperationalError, s.sa_exc.InterfaceError, sqlite3.OperationalError)
    if isinstance(s.err, kinds):
        return DatabaseUnavailable(
            f"The database {s.where} cannot be reached "
            f"({s.first_line if s.text else 'no reason given'}). "
            "Check the network connection and the database setting."
        )
    return None


def _refused_change(s: _Seen) -> NexusLoggerError | None:
    if not isinstance(s.err, s.sa_exc.IntegrityError):
        return None
    if "nexus_logger_open_session" in s.low:
        return Conflict(
            f"Another session was started on this instrument in the database {s.where} at the "
            "same moment, so this one was not written. Look at the instrument's state and try "
            "again."
        )
    return RefusedByDatabase(f"The database {s.where} refused the change: {s.first_line}.")


def _other_database_error(s: _Seen) -> NexusLoggerError | None:
    if isinstance(s.err, s.sa_exc.SQLAlchemyError | sqlite3.Error):
        return NexusLoggerError(f"The database {s.where} reported an error: {s.first_line}.")
    return None


#: The rules :func:`translate` tries, in order (the first that recognises the error decides):
#: the message's words first, then the error's class.
_RULES: tuple[Callable[[_Seen], NexusLoggerError | None], ...] = (
    _locked,
    _file_moved,
    _read_only,
    _not_sqlite,
    _cannot_open,
    _no_tables,
    _check_failed,
    _login,
    _no_right,
    _no_database,
    _unreachable,
    _refused_change,
    _other_database_error,
)


def _login_refused(low: str) -> bool:
    """True for the server's answers that mean "this login is not accepted"."""
    return (
        "password authentication failed" in low
        or "no password supplied" in low
        or "no pg_hba.conf entry" in low
        or ("role" in low and "does not exist" in low)
        or "authentication failed" in low
    )
