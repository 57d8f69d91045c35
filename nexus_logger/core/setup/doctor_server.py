"""Pre-flight checks that ask the database server: the account this PC uses and its rights,
the clock compared with the server's (or the file share's), and the bridge to NexusLIMS."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.settings.config import Settings
from nexus_logger.core.setup.doctor_check import CLOCK_TOLERANCE, Check, Clock, skip, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine

_logger = logging.getLogger(__name__)

_ROLES_DOC = "docs/postgres-roles.md"


class _Account(NamedTuple):
    """What the server says about the account this connection uses."""

    name: str
    superuser: bool
    createrole: bool
    can_delete: bool
    can_create: bool
    owner: bool
    guarded: bool
    can_audit: bool
    indexed: bool
    kind: str
    mapped: list[str]

    def too_many_rights(self) -> list[str]:
        """The rights this account has beyond what its kind needs."""
        too_many = [
            what
            for what, has in (
                ("superuser", self.superuser),
                ("may create roles", self.createrole),
                ("owns session_log", self.owner),
                ("may delete session_log rows", self.can_delete),
                ("may create tables", self.can_create),
            )
            if has
        ]
        if self.kind == "instrument" and self.can_audit:
            too_many.append("may write audit rows")
        return too_many


def _read_account(engine: Engine) -> _Account:
    from sqlalchemy import text

    from nexus_logger.core.db import open_start_index
    from nexus_logger.core.staff.postgres_roles import MAP_TABLE

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
                "AND has_table_privilege('nexus_logger_audit', 'INSERT'), "
                "to_regclass(:index) IS NOT NULL "
                "FROM pg_roles r WHERE r.rolname = session_user"
            ),
            {"index": open_start_index.NAME},
        ).one()
        guarded = row[6]
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
    return _Account(*row, kind, mapped)


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
    from nexus_logger.core.db.open_start_index import NAME as index_name
    from nexus_logger.core.staff.postgres_roles import MAP_TABLE

    acc = _read_account(engine)
    account, kind, mapped = acc.name, acc.kind, acc.mapped
    too_many = acc.too_many_rights()
    # Said with whatever else this check finds (the roles script and init-db both make it).
    no_index = (
        ""
        if acc.indexed
        else " Every start also reads the whole session_log: the open-session check's index "
        f"{index_name} is missing."
    )
    if not acc.guarded:
        return Check(
            "account",
            True,
            f"This PC uses the database account {account!r}; the server enforces no "
            "nexus-logger rules (the roles script was not run), so any account that can write "
            "may change any row." + no_index,
            f"Have the database owner run the script of 'nexus-logger admin postgres-roles' "
            f"({_ROLES_DOC}).",
            warning=True,
        )
    what = {
        "instrument": "an instrument PC account",
        "bridge": "the NexusLIMS/bridge account",
        "owner": "a superuser",
    }.get(kind, "an administrator account" if acc.can_audit else "an account with no admin rights")
    message = f"This PC uses the database account {account!r}, {what}"
    if kind == "instrument":
        message += f", mapped to {', '.join(mapped)}" if mapped else ", mapped to no instrument yet"
        wanted = _wanted_instrument(settings, engine, hostname)
        if wanted and wanted not in mapped:
            return Check(
                "account",
                False,
                message + f"; the server will refuse sessions on {wanted}." + no_index,
                f"Ask an administrator to map {account!r} to {wanted} in {MAP_TABLE} "
                f"({_ROLES_DOC}).",
            )
    if too_many:
        return Check(
            "account",
            True,
            message + f"; it has more rights than it needs ({', '.join(too_many)})." + no_index,
            "Use an account made by 'nexus-logger admin postgres-roles' for this PC "
            f"({_ROLES_DOC})." + (" Its script also makes the missing index." if no_index else ""),
            warning=True,
        )
    if no_index:  # rules from a script older than the index
        return Check(
            "account",
            True,
            message + "; its rights are the expected ones." + no_index,
            "Have the database owner run the script of 'nexus-logger admin postgres-roles' "
            f"again ({_ROLES_DOC}).",
            warning=True,
        )
    return Check("account", True, message + "; its rights are the expected ones.")


def _wanted_instrument(settings: Settings, engine: Engine, hostname: str | None) -> str | None:
    from nexus_logger.core.sessions.station import lookup_station

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
    from nexus_logger.core.db.engine import engine_info, is_sqlite, read_connection

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


def check_clock(engine: Engine, clock: Clock = utcnow) -> Check:
    """The PC's clock agrees with the database server's (or the share's) within 2 minutes."""
    try:
        local, reference, what = _reference_time(engine, clock)
    except (OSError, FileNotFoundError) as err:
        return skip("clock", f"no file could be written next to the database ({err})")
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
    from nexus_logger.core.bridge.bridge_status import overdue, read_status

    status = read_status(engine)
    if status is None:
        return Check("bridge", True, "Not needed: NexusLIMS reads this SQLite file itself.")
    late = overdue(status, hours)
    conflicts = len(status.open_conflicts)
    if not late and not conflicts:
        waiting = (
            f"{status.waiting_in} finished session(s) wait, none"
            if status.waiting_in
            else "No finished session waits"
        )
        never = "" if status.ever_ran else " No bridge has run for this database yet."
        return Check(
            "bridge",
            True,
            f"{waiting} for longer than {hours:g} h to be copied to NexusLIMS.{never}",
        )
    found, fixes = [], []
    if conflicts:
        found.append(
            f"{conflicts} session(s) changed both here and in NexusLIMS's file since the "
            "bridge last copied them: the bridge copies neither side until someone decides."
        )
        fixes.append(
            "settle each conflict ('nexus-logger bridge --status' lists them, 'nexus-logger "
            "bridge --resolve SESSION --keep postgres|nexuslims' settles one)"
        )
    if late:
        ran = (
            "no bridge has ever run for this database"
            if not status.ever_ran
            else f"the last successful bridge run was {status.last_success_at or 'never'}"
        )
        error = f" Its last error: {status.last_error}" if status.error_is_current() else ""
        found.append(
            f"{late} finished session(s) have waited longer than {hours:g} h to be copied to "
            f"NexusLIMS's file; {ran}. NexusLIMS does not build them until then.{error}"
        )
        fixes.append("check the bridge next to NexusLIMS ('nexus-logger bridge --status')")
    return Check(
        "bridge",
        False,
        " ".join(found),
        f"Ask the NexusLIMS administrator to {' and to '.join(fixes)}; docs/deployment.md, "
        "section The bridge.",
    )
