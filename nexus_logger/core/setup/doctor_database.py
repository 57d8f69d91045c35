"""Pre-flight checks of the database itself: it opens and can be written, its layout is one
nexus-logger understands, and this PC is mapped to one of its instruments."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.core.errors import (
    FOLDER_FIX,
    DatabaseReadOnly,
    DatabaseUnavailable,
    NexusLoggerError,
    NotFound,
    ReadOnlyFolder,
)
from nexus_logger.core.settings.config import Settings
from nexus_logger.core.setup.doctor_check import DOCTOR_TIMEOUT, Check, where_set

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from nexus_logger.core.db.engine import EngineLike


def _fix_for_database(err: NexusLoggerError, settings: Settings, *, postgres: bool = False) -> str:
    where = where_set(settings, "database")
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
    from nexus_logger.core.db.engine import create_db_engine, get_engine

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

    from nexus_logger.core.db.engine import is_sqlite, read_connection, write_transaction

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
    from nexus_logger.core.db.engine import engine_info, is_sqlite

    db_path = engine_info(engine).get("nexus_path") if is_sqlite(engine) else None
    if not db_path:
        return False
    path = Path(db_path).absolute()
    return os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK)


def check_database(settings: Settings, engine: EngineLike = None) -> tuple[Check, Engine | None]:
    """The database opens and can be written; returns the engine for the next checks."""
    from nexus_logger.core.db.engine import describe, is_sqlite, read_connection

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
    except NexusLoggerError as err:
        if isinstance(err, ReadOnlyFolder) or (
            isinstance(err, DatabaseReadOnly) and _only_folder_read_only(eng)
        ):
            return Check("database", False, ReadOnlyFolder.problem(where), FOLDER_FIX), eng
        message = str(err)
        if isinstance(err, DatabaseReadOnly) and "read-only" not in message:
            message = f"The database {where} is read-only for this account. {message}"
        fix = _fix_for_database(err, settings, postgres=not is_sqlite(eng))
        return Check("database", False, message, fix), eng
    return Check("database", True, f"{where} is reachable and writable{note}."), eng


def check_schema(engine: Engine) -> Check:
    """Which NexusLIMS layout the database has."""
    from nexus_logger.core.db.engine import describe
    from nexus_logger.core.db.models import ALEMBIC_HEAD
    from nexus_logger.core.db.schema import Layout, inspect_schema

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
    from nexus_logger.core.sessions.lifecycle import identify_instrument
    from nexus_logger.core.sessions.station import lookup_station, this_host

    host = hostname if hostname is not None else this_host()
    configured = settings.instrument or None
    try:
        inst = identify_instrument(
            instrument=configured, hostname=host, engine=engine, use_config=False
        )
    except NotFound as err:
        from nexus_logger.core.db.schema import load_instruments

        if not load_instruments(engine):  # nothing to map this PC to yet
            fix = (
                "Have NexusLIMS's staff add the instruments to its 'instruments' table first; "
                "then map this PC with 'nexus-logger station set PID'."
            )
        elif configured:
            fix = (
                f"Fix 'instrument' ({where_set(settings, 'instrument')}), or remove it and "
                "map this PC with 'nexus-logger station set PID'."
            )
        else:
            fix = (
                "Map this PC once with 'nexus-logger station set PID' (it is stored in the "
                "database for every user of this PC), or set 'instrument' in the config file."
            )
            from nexus_logger.core.staff.admin_actions import is_administrator

            if is_administrator(administrators=settings.administrators):
                # A staff PC logs no sessions: mapping it would make its window log them.
                return Check(
                    "station",
                    True,
                    f"{err} That is right for a staff PC (the Admin tab and the commands need "
                    "no instrument); an instrument PC must be mapped.",
                    f"On an instrument PC: {fix[0].lower()}{fix[1:]}",
                    warning=True,
                )
        return Check("station", False, str(err), fix)
    from nexus_logger.core.timestamps import is_valid_zone

    if not is_valid_zone(inst.timezone or ""):
        # Times would silently be UTC here, and NexusLIMS cannot read the zone at all.
        return Check(
            "station",
            False,
            f"This PC ({host}) is {inst.instrument_pid} ({inst.display_name}), but its time "
            f"zone in the instruments table, {inst.timezone!r}, is not a time zone name: "
            "nexus-logger writes its session times in UTC, and NexusLIMS cannot read that "
            "instrument.",
            "Have NexusLIMS's staff set the instrument's 'timezone' to its IANA name, for "
            "example America/New_York or Europe/Berlin.",
        )
    if configured:
        how = f"set by 'instrument' ({where_set(settings, 'instrument')})"
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
