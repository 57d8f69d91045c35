"""Errors with a message a person can act on.

Every error the user may see is a :class:`NexusLoggerError` whose ``str()`` is one or two plain
sentences: what is wrong and what to do. Interfaces print that message and never a traceback;
the traceback goes to the log file.
"""

from __future__ import annotations

import sqlite3

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

    An error not more specific than this is a problem of this PC's or the database's set-up.
    """

    exit_code = EXIT_SETUP


class InvalidInput(NexusLoggerError):
    """Input refused before anything was written (bad user name, unknown status, ...)."""

    exit_code = EXIT_USAGE


class ConfigError(NexusLoggerError):
    """The configuration file or an option is wrong."""

    exit_code = EXIT_SETUP


class DatabaseUnavailable(NexusLoggerError):
    """The database cannot be reached now or stayed locked past the timeout.

    This is the only error after which an event may be kept in the local outbox: the same
    write is expected to succeed later.
    """

    exit_code = EXIT_UNREACHABLE


class DatabaseMissing(NexusLoggerError):
    """The configured database file does not exist (and is never created by accident)."""

    exit_code = EXIT_SETUP


class AccessDenied(NexusLoggerError):
    """The database answered and refused this account: wrong password, unknown role, no right.

    Not :class:`DatabaseUnavailable`: waiting does not help, so nothing is kept on this PC; the
    exit code says it is a set-up problem, not the network.
    """

    exit_code = EXIT_SETUP


#: The name the CLI's exit-code table uses for a refused login.
LoginRefused = AccessDenied


class DatabaseReadOnly(NexusLoggerError):
    """The database can be read but not written."""

    exit_code = EXIT_SETUP


class SchemaError(NexusLoggerError):
    """The file or server is reachable but does not hold NexusLIMS tables we understand."""

    exit_code = EXIT_SETUP


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


def translate(err: BaseException, where: str) -> NexusLoggerError:
    """Turn a driver or SQLAlchemy error into a :class:`NexusLoggerError` for ``where``.

    ``where`` names the database (a path or a URL without password) so that the message says
    which one is at fault.
    """
    if isinstance(err, NexusLoggerError):
        return err
    # Imported here, not at module level: the window imports this module before it is shown,
    # and SQLAlchemy alone takes longer to import than the whole start-up budget (0.5 s).
    from sqlalchemy import exc as sa_exc

    text = _root_message(err)
    low = text.lower()
    if "database is locked" in low or "database table is locked" in low or "busy" in low:
        return DatabaseUnavailable(
            f"The database {where} stayed locked by another program past the timeout. "
            "Try again in a minute; if it persists, close the program holding it."
        )
    orig = getattr(err, "orig", None)
    if getattr(orig if orig is not None else err, "sqlite_errorcode", None) == _READONLY_DBMOVED:
        # SQLite refuses to write to a file renamed or replaced since it was opened: the share
        # dropped or the file is being moved. That passes, unlike a real lack of permission.
        return DatabaseUnavailable(
            f"The database file {where} was moved or replaced while in use (a share that "
            "dropped?). Try again in a moment; check the share if it persists."
        )
    if "readonly database" in low or "read-only" in low or "read only" in low:
        return DatabaseReadOnly(
            f"The database {where} is read-only for this account. "
            "Ask IT for write permission on the file (and its folder) or use another database."
        )
    if "file is not a database" in low or "file is encrypted" in low:
        return SchemaError(
            f"{where} is not an SQLite database. Check the database path in the configuration."
        )
    from_sqlite = isinstance(orig if orig is not None else err, sqlite3.Error)
    if from_sqlite and (
        "unable to open database" in low or "disk i/o error" in low or "no such file" in low
    ):
        # (PostgreSQL's "no such file" is a missing server socket: it cannot be reached.)
        return DatabaseUnavailable(
            f"The database {where} cannot be opened (missing file, unreachable share or "
            "no permission). Check that the share is connected and the path is right."
        )
    if "no such table" in low or ("relation" in low and "does not exist" in low):
        return SchemaError(
            f"The database {where} has no NexusLIMS tables. "
            "Point nexus-logger at the NexusLIMS database, or create one with "
            "'nexus-logger init-db'."
        )
    if "check constraint" in low:
        return RefusedByDatabase(
            f"The database {where} refused the value (a CHECK constraint failed: {text}). "
            "An older NexusLIMS database may not allow this status."
        )
    if _login_refused(low):
        return AccessDenied(
            f"The database server {where} refused the login. "
            "Check the user name and password in the database URL."
        )
    if "permission denied" in low or "must be owner" in low:
        return AccessDenied(
            f"The database {where} refused this account the right to do that "
            f"({text.splitlines()[0]}). Ask the database administrator for the rights in "
            "docs/postgres-roles.md."
        )
    if "database" in low and "does not exist" in low:
        return SchemaError(
            f"The database server answered, but the database named in {where} does not exist. "
            "Check the database name in the URL."
        )
    if isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError | sqlite3.OperationalError):
        return DatabaseUnavailable(
            f"The database {where} cannot be reached ({text.splitlines()[0] if text else 'no reason given'}). "
            "Check the network connection and the database setting."
        )
    if isinstance(err, sa_exc.IntegrityError) and "nexus_logger_open_session" in low:
        return Conflict(
            f"Another session was started on this instrument in the database {where} at the "
            "same moment, so this one was not written. Look at the instrument's state and try "
            "again."
        )
    if isinstance(err, sa_exc.IntegrityError):
        return RefusedByDatabase(
            f"The database {where} refused the change: {text.splitlines()[0]}."
        )
    if isinstance(err, sa_exc.SQLAlchemyError | sqlite3.Error):
        return NexusLoggerError(f"The database {where} reported an error: {text.splitlines()[0]}.")
    return NexusLoggerError(f"Unexpected error with the database {where}: {text}.")


def _login_refused(low: str) -> bool:
    """True for the server's answers that mean "this login is not accepted"."""
    return (
        "password authentication failed" in low
        or "no password supplied" in low
        or "no pg_hba.conf entry" in low
        or ("role" in low and "does not exist" in low)
        or "authentication failed" in low
    )
