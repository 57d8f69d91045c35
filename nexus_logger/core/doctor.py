"""Pre-flight checks: is this PC ready to log sessions, and if not, what to do.

``nexus-logger doctor`` prints them; the window runs the same checks when starting a session
fails and shows the one that explains the failure (:func:`relevant_check`). Each check says
OK, or what is wrong and what to do, in words meant for the person at the PC or for IT:

* ``database``: the configured database opens and this account may write to it;
* ``schema``: its layout is NexusLIMS 2.x (2.8), the legacy 1.x layout, or unknown;
* ``station``: this PC is mapped to an instrument;
* ``clock``: the PC's clock is within :data:`CLOCK_TOLERANCE` of the database server's
  (PostgreSQL ``now()``) or of the file server's (SQLite: the time stamp of a small file
  written next to the database, which the share sets);
* ``bridge`` (PostgreSQL only): no finished session has waited longer than
  ``bridge_warn_hours`` for the bridge to copy it to NexusLIMS's file;
* ``outbox``: no START or END waits on this PC for the database;
* ``log``: the log folder can be written.

A check that makes no sense after an earlier failure (no schema without a database) is
*skipped*, which is not OK either. The checks never change anything in the database: the
write test runs in a transaction that is rolled back.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nexus_logger.core import paths
from nexus_logger.core.config import Settings
from nexus_logger.core.errors import (
    ConfigError,
    DatabaseReadOnly,
    DatabaseUnavailable,
    NexusLoggerError,
    NotFound,
    SchemaError,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from nexus_logger.core.engine import EngineLike

_logger = logging.getLogger(__name__)

#: The largest difference between this PC's clock and the database's that is still OK.
CLOCK_TOLERANCE = timedelta(minutes=2)
#: Doctor waits at most this long for a locked file or an unreachable server.
DOCTOR_TIMEOUT = 5.0

#: Check names, in the order they run, with the title shown to people.
TITLES = {
    "database": "Database reachable and writable",
    "schema": "Database layout",
    "station": "This PC's instrument",
    "account": "Database account and rights",
    "clock": "Clock",
    "bridge": "Bridge to NexusLIMS",
    "outbox": "Outbox",
    "log": "Log folder",
}

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``ok``, a ``message`` saying what was found, a ``fix``."""

    name: str
    ok: bool
    message: str
    fix: str = ""
    skipped: bool = False
    warning: bool = False  # ok, but worth a look (e.g. an account with more rights than needed)

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    @property
    def status(self) -> str:
        """``OK``, ``WARNING``, ``PROBLEM`` or ``SKIPPED``."""
        if self.ok:
            return "WARNING" if self.warning else "OK"
        return "SKIPPED" if self.skipped else "PROBLEM"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "title": self.title, "status": self.status}


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _skip(name: str, why: str) -> Check:
    return Check(name, False, f"Not checked: {why}.", "", skipped=True)


def _where_set(settings: Settings, key: str) -> str:
    source = settings.sources.get(key, "default")
    return "by default" if source == "default" else f"from the {source}"


def _fix_for_database(err: NexusLoggerError, settings: Settings, *, postgres: bool = False) -> str:
    where = _where_set(settings, "database")
    if not settings.set_up:
        return (
            "Set 'database' to the facility's NexusLIMS database once for this PC "
            "('nexus-logger config init --machine --db PATH_OR_URL'), or run 'nexus-logger "
            "demo' to try the demo database."
        )
    if isinstance(err, DatabaseReadOnly) and postgres:
        return (
            "Ask the database administrator to grant this login INSERT and UPDATE on "
            "session_log (docs/postgres-roles.md has the SQL for an instrument role), or use "
            "another login in the database URL."
        )
    if isinstance(err, DatabaseReadOnly):
        return (
            "Ask IT for write (Modify) permission on the database file and on its folder: "
            "SQLite writes a journal file next to it."
        )
    if isinstance(err, DatabaseUnavailable) and "locked" in str(err):
        return (
            "Another program holds the database for writing. Wait a minute and run "
            "'nexus-logger doctor' again; if it stays locked, find and close that program "
            "(often a database browser left open on the file)."
        )
    if isinstance(err, DatabaseUnavailable):
        return (
            "Check that the share or server is reachable from this PC (network, VPN, mapped "
            f"drive) and that the 'database' setting ({where}) is right; events made "
            "meanwhile are kept in the outbox."
        )
    return f"Check the 'database' setting ({where}); 'nexus-logger config show' prints it."


def _connect_engine(settings: Settings, engine: EngineLike) -> Engine:
    from nexus_logger.core.engine import create_db_engine, get_engine

    if engine is not None:
        return get_engine(engine)
    timeout = min(float(settings.db_timeout_seconds), DOCTOR_TIMEOUT)
    return create_db_engine(settings.database_target, timeout=timeout)


class _Rollback(Exception):
    """Raised inside the probe transaction so that it is rolled back."""


def _probe_write(engine: Engine) -> None:
    """Raise the translated error if this account cannot write to the database.

    SQLite: ``BEGIN IMMEDIATE`` and a CREATE TABLE that is rolled back: this takes the write
    lock and makes SQLite create its journal next to the file, which is exactly what a real
    write needs. PostgreSQL: the privileges a session needs, read from the catalog.
    """
    from sqlalchemy import text

    from nexus_logger.core.engine import is_sqlite, read_connection, write_transaction

    if is_sqlite(engine):
        try:
            with write_transaction(engine) as conn:
                conn.exec_driver_sql(f"CREATE TABLE nexus_logger_doctor_{uuid.uuid4().hex} (x)")
                raise _Rollback
        except _Rollback:
            return
    with read_connection(engine) as conn:
        read_only = conn.execute(text("SELECT current_setting('transaction_read_only')")).scalar()
        if read_only == "on":
            raise DatabaseReadOnly("The database server accepts only reads (a read replica?).")
        has_log = conn.execute(text("SELECT to_regclass('session_log') IS NOT NULL")).scalar()
        if has_log:
            ok = conn.execute(
                text("SELECT has_table_privilege('session_log', 'INSERT, UPDATE')")
            ).scalar()
            what = "INSERT and UPDATE on session_log"
        else:
            ok = conn.execute(
                text("SELECT has_schema_privilege(current_schema(), 'CREATE')")
            ).scalar()
            what = "CREATE in the schema"
        if not ok:
            user = conn.execute(text("SELECT current_user")).scalar()
            raise DatabaseReadOnly(f"The login {user} lacks {what}.")


def _only_folder_read_only(engine: Engine) -> bool:
    """SQLite: the file is writable but its folder is not (the journal cannot be created)."""
    from nexus_logger.core.engine import engine_info, is_sqlite

    db_path = engine_info(engine).get("nexus_path") if is_sqlite(engine) else None
    if not db_path:
        return False
    path = Path(db_path).absolute()
    return os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK)


def check_database(settings: Settings, engine: EngineLike = None) -> tuple[Check, Engine | None]:
    """The database opens and can be written; returns the engine for the next checks."""
    from nexus_logger.core.engine import describe, is_sqlite, read_connection

    demo_note = " (the local demo database: sessions are not sent to NexusLIMS)"
    try:
        eng = _connect_engine(settings, engine)
    except NexusLoggerError as err:
        return Check("database", False, str(err), _fix_for_database(err, settings)), None
    where = describe(eng)
    note = demo_note if engine is None and settings.uses_demo else ""
    try:
        with read_connection(eng) as conn:
            conn.exec_driver_sql("SELECT 1").scalar()
    except NexusLoggerError as err:
        return Check("database", False, str(err), _fix_for_database(err, settings)), None
    try:
        _probe_write(eng)
    except DatabaseUnavailable as err:
        if "locked" in str(err):
            return Check("database", False, str(err), _fix_for_database(err, settings)), eng
        message = (
            f"The database {where} can be read but not written: the folder does not let this "
            "account create SQLite's journal file next to it."
        )
        fix = "Ask IT for write (Modify) permission on the folder of the database file."
        return Check("database", False, message, fix), eng
    except NexusLoggerError as err:
        if isinstance(err, DatabaseReadOnly) and _only_folder_read_only(eng):
            message = (
                f"The database {where} can be read but not written: the file may be written, "
                "but its folder does not let this account create SQLite's journal file."
            )
            fix = "Ask IT for write (Modify) permission on the folder of the database file."
            return Check("database", False, message, fix), eng
        message = str(err)
        if isinstance(err, DatabaseReadOnly) and "read-only" not in message:
            message = f"The database {where} is read-only for this account. {message}"
        fix = _fix_for_database(err, settings, postgres=not is_sqlite(eng))
        return Check("database", False, message, fix), eng
    return Check("database", True, f"{where} is reachable and writable{note}."), eng


def check_schema(engine: Engine) -> Check:
    """Which NexusLIMS layout the database has."""
    from nexus_logger.core.engine import describe
    from nexus_logger.core.models import ALEMBIC_HEAD
    from nexus_logger.core.schema import Layout, inspect_schema

    info = inspect_schema(engine, refresh=True)
    where = describe(engine)
    if info.layout is Layout.NEXUSLIMS_2:
        if info.alembic_version == ALEMBIC_HEAD:
            text = f"NexusLIMS 2.8 layout (Alembic revision {ALEMBIC_HEAD})"
        else:
            text = (
                f"NexusLIMS 2.x layout (Alembic revision {info.alembic_version or 'not recorded'}"
                f"; nexus-logger is tested with {ALEMBIC_HEAD})"
            )
        return Check("schema", True, f"{text}.")
    if info.layout is Layout.LEGACY_1:
        return Check(
            "schema",
            True,
            "Legacy NexusLIMS 1.x layout (instruments.computer_name): supported; sessions are "
            "written with time zones as NexusLIMS 2.x expects.",
        )
    if info.layout is Layout.EMPTY:
        return Check(
            "schema",
            False,
            f"Unknown layout: {where} has no NexusLIMS tables.",
            "Point 'database' at the NexusLIMS database, or create a new one with "
            "'nexus-logger init-db DB'.",
        )
    return Check(
        "schema",
        False,
        f"Unknown layout: {where} is not a NexusLIMS database nexus-logger understands "
        f"({'; '.join(info.problems) or 'unexpected tables'}).",
        "Check that 'database' names the NexusLIMS database (nexus-logger config show).",
    )


def check_station(settings: Settings, engine: Engine, hostname: str | None = None) -> Check:
    """This PC is mapped to an instrument (or one is configured) and it exists."""
    from nexus_logger.core.lifecycle import identify_instrument
    from nexus_logger.core.station import lookup_station, this_host

    host = hostname if hostname is not None else this_host()
    configured = settings.instrument or None
    try:
        inst = identify_instrument(
            instrument=configured, hostname=host, engine=engine, use_config=False
        )
    except NotFound as err:
        if configured:
            fix = (
                f"Fix 'instrument' ({_where_set(settings, 'instrument')}), or remove it and "
                "map this PC with 'nexus-logger station set PID'."
            )
        else:
            fix = (
                "Map this PC once with 'nexus-logger station set PID' (it is stored in the "
                "database for every user of this PC), or set 'instrument' in the config file."
            )
        return Check("station", False, str(err), fix)
    if configured:
        how = f"set by 'instrument' ({_where_set(settings, 'instrument')})"
    elif lookup_station(host, engine=engine) is not None:
        how = "mapped in the station table"
    else:
        how = "found in the legacy instruments.computer_name column"
    return Check(
        "station",
        True,
        f"This PC ({host}) is {inst.instrument_pid} ({inst.display_name}, time zone "
        f"{inst.timezone}), {how}.",
    )


_ROLES_DOC = "docs/postgres-roles.md"


def check_account(settings: Settings, engine: Engine, hostname: str | None = None) -> Check:
    """Which database account this PC uses, and whether its rights are the expected ones.

    On PostgreSQL the server knows the account (``session_user``); with the rules of
    ``nexus-logger admin postgres-roles`` in place it also says what kind of account it is and
    which instruments it may log. More rights than the kind needs is a warning.
    """
    if engine.dialect.name != "postgresql":
        return Check(
            "account",
            True,
            "A database file has no accounts: anyone who can write it can change any row, "
            f"and nexus-logger's rules hold only for nexus-logger ({_ROLES_DOC}).",
        )
    from sqlalchemy import text

    from nexus_logger.core.postgres_roles import MAP_TABLE

    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT session_user, r.rolsuper, r.rolcreaterole, "
                "has_table_privilege('session_log', 'DELETE'), "
                "has_schema_privilege(current_schema(), 'CREATE'), "
                "coalesce((SELECT tableowner = session_user FROM pg_tables "
                "          WHERE tablename = 'session_log' LIMIT 1), false), "
                "to_regproc('nexus_logger_account_kind') IS NOT NULL, "
                "to_regclass('nexus_logger_audit') IS NOT NULL "
                "AND has_table_privilege('nexus_logger_audit', 'INSERT') "
                "FROM pg_roles r WHERE r.rolname = session_user"
            )
        ).one()
        account, superuser, createrole, can_delete, can_create, owner, guarded, can_audit = row
        kind = "unknown"
        mapped: list[str] = []
        if guarded:
            kind = conn.execute(text("SELECT nexus_logger_account_kind()")).scalar_one()
            if kind == "instrument":
                mapped = list(
                    conn.execute(
                        text(
                            f"SELECT instrument_pid FROM {MAP_TABLE} "  # noqa: S608 - constant
                            "WHERE role_name = session_user ORDER BY 1"
                        )
                    ).scalars()
                )
    too_many = [
        what
        for what, has in (
            ("superuser", superuser),
            ("may create roles", createrole),
            ("owns session_log", owner),
            ("may delete session_log rows", can_delete),
            ("may create tables", can_create),
        )
        if has
    ]
    if kind == "instrument" and can_audit:
        too_many.append("may write audit rows")
    if not guarded:
        return Check(
            "account",
            True,
            f"This PC uses the database account {account!r}; the server enforces no "
            "nexus-logger rules (the roles script was not run), so any account that can write "
            "may change any row.",
            f"Have the database owner run the script of 'nexus-logger admin postgres-roles' "
            f"({_ROLES_DOC}).",
            warning=True,
        )
    what = {
        "instrument": "an instrument PC account",
        "bridge": "the NexusLIMS/bridge account",
        "owner": "a superuser",
    }.get(kind, "an administrator account" if can_audit else "an account with no admin rights")
    message = f"This PC uses the database account {account!r}, {what}"
    if kind == "instrument":
        message += f", mapped to {', '.join(mapped)}" if mapped else ", mapped to no instrument yet"
        wanted = _wanted_instrument(settings, engine, hostname)
        if wanted and wanted not in mapped:
            return Check(
                "account",
                False,
                message + f"; the server will refuse sessions on {wanted}.",
                f"Ask an administrator to map {account!r} to {wanted} in {MAP_TABLE} "
                f"({_ROLES_DOC}).",
            )
    if too_many:
        return Check(
            "account",
            True,
            message + f"; it has more rights than it needs ({', '.join(too_many)}).",
            "Use an account made by 'nexus-logger admin postgres-roles' for this PC "
            f"({_ROLES_DOC}).",
            warning=True,
        )
    return Check("account", True, message + "; its rights are the expected ones.")


def _wanted_instrument(settings: Settings, engine: Engine, hostname: str | None) -> str | None:
    from nexus_logger.core.station import lookup_station

    if settings.instrument:
        return str(settings.instrument)
    try:
        return lookup_station(hostname, engine=engine)
    except NexusLoggerError:
        return None


def _skew_text(skew: timedelta) -> str:
    seconds = abs(skew.total_seconds())
    if seconds < 1:
        amount = f"{seconds:.1f} s"
    elif seconds < 120:
        amount = f"{seconds:.0f} s"
    else:
        minutes, secs = divmod(int(round(seconds)), 60)
        hours, minutes = divmod(minutes, 60)
        amount = (f"{hours} h " if hours else "") + f"{minutes} min {secs} s"
    return f"{amount} {'ahead of' if skew.total_seconds() > 0 else 'behind'}"


def _reference_time(engine: Engine, clock: Clock) -> tuple[datetime, datetime, str]:
    """(local time at the reading, the reference time, what the reference is)."""
    from nexus_logger.core.engine import engine_info, is_sqlite, read_connection

    if not is_sqlite(engine):
        from sqlalchemy import text

        with read_connection(engine) as conn:
            before = clock()
            server = conn.execute(text("SELECT clock_timestamp()")).scalar()
            after = clock()
        return before + (after - before) / 2, server, "the database server"
    db_path = engine_info(engine).get("nexus_path")
    if not db_path:
        raise FileNotFoundError("the database has no file")
    folder = Path(db_path).absolute().parent
    probe = folder / f".nexus-logger-clock-{uuid.uuid4().hex}.tmp"
    before = clock()
    try:
        with probe.open("wb") as fh:
            fh.write(b"nexus-logger doctor: clock probe, safe to delete\n")
            fh.flush()
            os.fsync(fh.fileno())
        after = clock()
        mtime = probe.stat().st_mtime
    finally:
        try:
            probe.unlink()
        except OSError:
            _logger.warning("Could not remove the clock probe %s", probe)
    return before + (after - before) / 2, datetime.fromtimestamp(mtime, UTC), "the file server"


def check_clock(engine: Engine, clock: Clock = _utcnow) -> Check:
    """The PC's clock agrees with the database server's (or the share's) within 2 minutes."""
    try:
        local, reference, what = _reference_time(engine, clock)
    except (OSError, FileNotFoundError) as err:
        return _skip("clock", f"no file could be written next to the database ({err})")
    skew = local - reference
    if abs(skew) <= CLOCK_TOLERANCE:
        return Check(
            "clock",
            True,
            f"This PC's clock agrees with {what}'s ({_skew_text(skew)} it; up to "
            f"{CLOCK_TOLERANCE.total_seconds() / 60:.0f} minutes is fine).",
        )
    return Check(
        "clock",
        False,
        f"This PC's clock is {_skew_text(skew)} {what}'s (more than "
        f"{CLOCK_TOLERANCE.total_seconds() / 60:.0f} minutes). Session times come from this "
        "PC's clock, so NexusLIMS would look for the wrong files.",
        "Synchronise the clock: Windows Settings > Time & language > Date & time > Sync now "
        "(or 'w32tm /resync'); ask IT to enable time synchronisation if it drifts again.",
    )


def check_bridge(engine: Engine, hours: float) -> Check:
    """PostgreSQL: finished sessions reach NexusLIMS's file (NexusLIMS reads only SQLite)."""
    from nexus_logger.core.bridge_status import overdue, read_status

    status = read_status(engine)
    if status is None:
        return Check("bridge", True, "Not needed: NexusLIMS reads this SQLite file itself.")
    late = overdue(status, hours)
    if not late:
        waiting = (
            f"{status.waiting_in} finished session(s) wait, none"
            if status.waiting_in
            else "No finished session waits"
        )
        return Check(
            "bridge", True, f"{waiting} for longer than {hours:g} h to be copied to NexusLIMS."
        )
    ran = (
        "no bridge has ever run for this database"
        if not status.ever_ran
        else f"the last successful bridge run was {status.last_success_at or 'never'}"
    )
    error = f" Its last error: {status.last_error}" if status.error_is_current() else ""
    return Check(
        "bridge",
        False,
        f"{late} finished session(s) have waited longer than {hours:g} h to be copied to "
        f"NexusLIMS's file; {ran}. NexusLIMS does not build them until then.{error}",
        "Ask the NexusLIMS administrator to check the bridge next to NexusLIMS ('nexus-logger "
        "bridge --status'; docs/deployment.md, section The bridge).",
    )


def check_outbox(outbox_path: Path | None = None, configured: str = "") -> Check:
    """This PC's outbox can be written by this login, and no START or END waits in it.

    ``configured`` is the ``outbox_folder`` setting; ``outbox_path`` (tests) names a file.
    """
    from nexus_logger.core.outbox import pending_events
    from nexus_logger.core.outbox_place import locate

    place = None if outbox_path is not None else locate(configured)
    path = outbox_path if place is None else place.path
    try:
        waiting = pending_events(path)
    except NexusLoggerError as err:
        return Check(
            "outbox",
            False,
            f"The outbox cannot be read: {err}",
            f"Check the folder {path.parent}.",
        )
    events = "event waits" if waiting == 1 else "events wait"
    if place is not None and not place.shared:
        held = f" {waiting} session {events} there." if waiting else ""
        return Check(
            "outbox",
            False,
            f"{place.problem}{held}",
            f"Let every login change {place.machine.parent} (Windows: icacls, see "
            "docs/deployment.md), or name another folder in 'outbox_folder'.",
        )
    if waiting == 0:
        return Check("outbox", True, f"No session events wait in this PC's outbox {path}.")
    return Check(
        "outbox",
        False,
        f"{waiting} session {events} in this PC's outbox {path} for the database (saved while "
        "it was unreachable).",
        "They are sent automatically once the database is reachable; 'nexus-logger sync' "
        "sends them now and 'nexus-logger sync --status' lists them.",
    )


def check_log() -> Check:
    """The log folder exists (or can be made) and a file can be written in it."""
    from nexus_logger.core.logsetup import log_file

    folder = paths.log_dir()
    probe = folder / f".nexus-logger-probe-{uuid.uuid4().hex}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        with log_file().open("a", encoding="utf-8"):
            pass
    except OSError as err:
        return Check(
            "log",
            False,
            f"The log folder {folder} cannot be written ({err.strerror or err}).",
            f"Fix the folder's permissions, or set {paths.HOME_ENV} to a folder this account "
            "may write. nexus-logger still works, without a log.",
        )
    return Check("log", True, f"Logging to {log_file()}.")


def _guarded(name: str, run: Callable[[], Check]) -> Check:
    """Run one check; an error it did not expect becomes that check's problem."""
    try:
        return run()
    except NexusLoggerError as err:
        return Check(name, False, str(err), "")
    except Exception as err:  # a check must never crash the whole report
        _logger.exception("Check %s failed unexpectedly", name)
        return Check(name, False, f"The check failed unexpectedly: {err}.", "See the log file.")


def run_checks(
    settings: Settings,
    *,
    engine: EngineLike = None,
    hostname: str | None = None,
    clock: Clock = _utcnow,
    outbox_path: Path | None = None,
) -> list[Check]:
    """Run every check, in order, and return them all (see the module docstring).

    ``engine`` overrides the database of ``settings``; ``hostname``, ``clock`` and
    ``outbox_path`` exist for tests (another PC's name, a skewed clock, another outbox).
    """
    checks: list[Check] = []
    database, eng = check_database(settings, engine)
    checks.append(database)
    try:
        if eng is None:
            checks.append(_skip("schema", "the database cannot be opened"))
            checks.append(_skip("station", "the database cannot be opened"))
            checks.append(_skip("account", "the database cannot be opened"))
            checks.append(_skip("clock", "the database cannot be opened"))
            checks.append(_skip("bridge", "the database cannot be opened"))
        else:
            schema = _guarded("schema", lambda: check_schema(eng))
            checks.append(schema)
            if schema.ok:
                checks.append(_guarded("station", lambda: check_station(settings, eng, hostname)))
            else:
                checks.append(_skip("station", "the database layout is not usable"))
            checks.append(_guarded("account", lambda: check_account(settings, eng, hostname)))
            checks.append(_guarded("clock", lambda: check_clock(eng, clock)))
            if schema.ok:
                hours = float(getattr(settings, "bridge_warn_hours", 24.0))
                checks.append(_guarded("bridge", lambda: check_bridge(eng, hours)))
            else:
                checks.append(_skip("bridge", "the database layout is not usable"))
    finally:
        if eng is not None and engine is None:
            eng.dispose()
    folder = str(getattr(settings, "outbox_folder", "") or "")
    checks.append(_guarded("outbox", lambda: check_outbox(outbox_path, folder)))
    checks.append(_guarded("log", check_log))
    for check in checks:
        if not check.ok:
            _logger.info("doctor: %s %s: %s", check.status, check.name, check.message)
    return checks


def problems(checks: Sequence[Check]) -> list[Check]:
    """The checks that are not OK (problems and skipped ones)."""
    return [c for c in checks if not c.ok]


#: For an error of this type, the checks that explain it, most likely first.
_EXPLAINS: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = (
    (DatabaseReadOnly, ("database",)),
    (DatabaseUnavailable, ("database", "clock")),
    (SchemaError, ("schema", "database")),
    (NotFound, ("station", "schema")),
    (ConfigError, ("database",)),
)


def relevant_check(checks: Sequence[Check], error: BaseException | None = None) -> Check | None:
    """The failed check that best explains ``error`` (e.g. a start that failed), or None.

    The window calls this after a failed start to show the one check that matters; without
    an error, or when no check of the expected kind failed, the first real problem is used.
    """
    failed = [c for c in checks if not c.ok and not c.skipped]
    if not failed:
        return None
    if error is not None:
        for kind, names in _EXPLAINS:
            if isinstance(error, kind):
                for name in names:
                    for check in failed:
                        if check.name == name:
                            return check
                break
    return failed[0]


def format_checks(checks: Sequence[Check]) -> str:
    """Plain text, one block per check: ``OK``/``PROBLEM``/``SKIPPED``, then what to do."""
    width = max(len(c.status) for c in checks)
    title_width = max(len(c.title) for c in checks)
    lines = []
    for check in checks:
        lines.append(f"{check.status:<{width}}  {check.title:<{title_width}}  {check.message}")
        if check.fix and (not check.ok or check.warning):
            lines.append(f"{'':<{width}}  {'':<{title_width}}  What to do: {check.fix}")
    bad = problems(checks)
    lines.append("")
    if bad:
        real = [c for c in bad if not c.skipped]
        lines.append(
            f"{len(real)} problem{'s' if len(real) != 1 else ''} found"
            + (f", {len(bad) - len(real)} check(s) skipped." if len(bad) > len(real) else ".")
        )
    else:
        lines.append("All checks passed: this PC is ready to log sessions.")
    return "\n".join(lines)
