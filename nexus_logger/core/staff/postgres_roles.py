"""The SQL script that makes a PostgreSQL server enforce nexus-logger's rules (opt-in).

``nexus-logger admin postgres-roles`` prints it; the tables' owner reviews it and runs it.
With ``init-db`` on PostgreSQL, it is the only place where anything is attached to
NexusLIMS's ``session_log``: two triggers and the open-session check's partial index
(:mod:`~nexus_logger.core.db.open_start_index`, for a server set up before ``init-db`` made
it), never a column, and only on PostgreSQL, which NexusLIMS never opens (``init-db`` on SQLite
creates exactly the NexusLIMS schema). What it sets up, and why (docs/postgres-roles.md):

* three roles: instrument PCs, administrators, and NexusLIMS/the bridge;
* the logger-owned tables (so it works on a fresh database) and
  ``nexus_logger_role_instrument``, which maps each instrument PC's database account to the
  instruments it may log (maintained by the admin role);
* a guard trigger on ``session_log`` and on the logger tables that, for members of the
  instrument role, allows exactly what the lifecycle writes for a mapped instrument: a START
  (WAITING_FOR_END) on a free instrument, the END of its open session with the START's user,
  the END's WAITING_FOR_END -> TO_BE_BUILT change, and the heartbeat, note, claim and station
  rows of its own instruments. The bridge role may add RECORD_GENERATION rows and set final
  statuses, nothing else. The client's SQL stays as it is: the server checks each row;
* ``nexus_logger_trail``: every INSERT, UPDATE, DELETE and TRUNCATE on those tables, written
  by a trigger (``session_user``, time, old and new row as JSON), readable by the admin role
  and refused to every change, even the owner's, while the trigger is in place.

The script is idempotent: run it again after an upgrade or to add mappings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import MetaData
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from nexus_logger.core.db import open_start_index
from nexus_logger.core.db.schema import LOGGER_TABLE_PREFIX
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.staff.postgres_guards import functions_sql

__all__ = [
    "GUARDED_LOGGER_TABLES",
    "MAP_TABLE",
    "TRAIL_TABLE",
    "postgres_roles_sql",
]

MAP_TABLE = f"{LOGGER_TABLE_PREFIX}role_instrument"
TRAIL_TABLE = f"{LOGGER_TABLE_PREFIX}trail"
#: Logger tables an instrument PC writes, each row tied to an instrument the guard checks.
GUARDED_LOGGER_TABLES = (
    f"{LOGGER_TABLE_PREFIX}station",
    f"{LOGGER_TABLE_PREFIX}heartbeat",
    f"{LOGGER_TABLE_PREFIX}note",
    f"{LOGGER_TABLE_PREFIX}open_session",
    f"{LOGGER_TABLE_PREFIX}pc",
)
#: Statuses NexusLIMS sets when it has built (or given up on) a session.
FINAL_STATUSES = tuple(
    s.value
    for s in RecordStatus
    if s not in (RecordStatus.WAITING_FOR_END, RecordStatus.TO_BE_BUILT)
)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_PID = re.compile(r"^[^'\\\x00-\x1f]{1,100}$")


def _name(value: str, what: str) -> str:
    if not _IDENT.match(value or ""):
        raise InvalidInput(
            f"{value!r} is not a usable {what} name; use letters, digits and underscores."
        )
    return value


def _create_tables(schema: str) -> str:
    from nexus_logger.core.db.logger_tables import metadata
    from nexus_logger.core.staff.admin_actions import audit_table

    target = MetaData()
    tables = [t.to_metadata(target, schema=schema) for t in (*metadata.sorted_tables, audit_table)]
    dialect = postgresql.dialect()
    return "\n".join(
        str(CreateTable(t, if_not_exists=True).compile(dialect=dialect)).strip() + ";"
        for t in tables
    )


def _sql_list(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


#: Refuse a database without session_log; create the three roles once.
_PREAMBLE = """\
-- nexus-logger: server-enforced rules for {db} (run as the owner of session_log).
-- Safe to run again. The three roles are groups that cannot log in: give each instrument PC,
-- each member of staff and the bridge a login of its own IN ROLE one of them (with a password
-- or another login method), and map each PC's login to its instruments.
SET client_min_messages = warning;
DO $$
BEGIN
  IF to_regclass('"{sch}".session_log') IS NULL THEN
    RAISE EXCEPTION 'There is no session_log table in schema {sch} of this database. Run '
      '"nexus-logger init-db URL" first (or let NexusLIMS create its tables), then this script.';
  END IF;
  -- Said before anything is made: without it every GRANT below fails on a missing role.
  IF EXISTS (SELECT FROM unnest(ARRAY['{inst}', '{adm}', '{bridge}']) AS wanted(name)
             WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = wanted.name))
     AND NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION 'This script creates the roles {inst}, {adm} and {bridge}, and % may not '
      'create roles. Run it as the owner of session_log with CREATEROLE (ALTER ROLE ... '
      'CREATEROLE, as a superuser), or have a superuser create those roles first.',
      current_user;
  END IF;
END $$;

DO $$
BEGIN
{roles}
END $$;
"""

#: The logger-owned tables, the role-to-instrument map and the trail.
_TABLES = """\
-- The logger-owned tables, so that no application role ever needs to create one.
{create_tables}
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS db_account VARCHAR(63);
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS prev_hash VARCHAR(64);
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS row_hash VARCHAR(64);
CREATE TABLE IF NOT EXISTS "{sch}".{map_table} (
  role_name VARCHAR(63) NOT NULL,
  instrument_pid VARCHAR(100) NOT NULL,
  PRIMARY KEY (role_name, instrument_pid)
);
-- The open-session check's index: only the STARTs that may still be open (open or not built yet).
{open_start_index};
CREATE TABLE IF NOT EXISTS "{sch}".{trail_table} (
  id BIGSERIAL PRIMARY KEY,
  at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  db_account TEXT NOT NULL DEFAULT session_user,
  client_addr INET DEFAULT inet_client_addr(),
  txid BIGINT NOT NULL DEFAULT txid_current(),
  table_name TEXT NOT NULL,
  operation TEXT NOT NULL,
  old_row JSONB,
  new_row JSONB
);
"""

#: Which tables each role may touch (the guards decide which rows).
_GRANTS = """\
-- Rights: the grants say which tables, the guard triggers below say which rows.
GRANT CONNECT ON DATABASE "{db}" TO "{inst}", "{adm}", "{bridge}";
GRANT USAGE ON SCHEMA "{sch}" TO "{inst}", "{adm}", "{bridge}";
REVOKE CREATE ON SCHEMA "{sch}" FROM PUBLIC;
REVOKE TEMPORARY ON DATABASE "{db}" FROM PUBLIC;
GRANT SELECT ON "{sch}".instruments, "{sch}".alembic_version TO "{inst}", "{adm}", "{bridge}";
GRANT SELECT, INSERT, UPDATE ON "{sch}".session_log TO "{inst}", "{adm}", "{bridge}";
REVOKE DELETE, TRUNCATE ON "{sch}".session_log FROM "{inst}", "{adm}", "{bridge}";
GRANT USAGE, SELECT ON SEQUENCE "{sch}".session_log_id_session_log_seq TO "{inst}", "{adm}", "{bridge}";
GRANT SELECT, INSERT, UPDATE, DELETE ON {logger_tables} TO "{inst}", "{adm}";
REVOKE TRUNCATE ON {logger_tables} FROM "{inst}", "{adm}";
GRANT SELECT ON {logger_tables} TO "{bridge}";
GRANT SELECT ON "{sch}".{map_table} TO "{inst}", "{bridge}";
GRANT SELECT, INSERT, UPDATE, DELETE ON "{sch}".{map_table} TO "{adm}";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "{sch}".{map_table} FROM "{inst}", "{bridge}";
GRANT SELECT ON "{sch}".{audit} TO "{inst}", "{adm}";
GRANT INSERT ON "{sch}".{audit} TO "{adm}";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "{sch}".{audit} FROM "{inst}", "{bridge}";
REVOKE UPDATE, DELETE, TRUNCATE ON "{sch}".{audit} FROM "{adm}";
GRANT USAGE, SELECT ON SEQUENCE "{sch}".{audit}_id_seq TO "{adm}";
REVOKE ALL ON "{sch}".{trail_table} FROM PUBLIC, "{inst}", "{adm}", "{bridge}";
GRANT SELECT ON "{sch}".{trail_table} TO "{adm}";
"""

#: The triggers that attach the guards, the audit stamp and the trail.
_TRIGGERS = """\
DROP TRIGGER IF EXISTS nexus_logger_guard ON "{sch}".session_log;
CREATE TRIGGER nexus_logger_guard BEFORE INSERT OR UPDATE OR DELETE ON "{sch}".session_log
  FOR EACH ROW EXECUTE FUNCTION nexus_logger_guard_session_log();
DROP TRIGGER IF EXISTS nexus_logger_open ON "{sch}".session_log;
CREATE CONSTRAINT TRIGGER nexus_logger_open AFTER INSERT ON "{sch}".session_log
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION nexus_logger_check_open();
DROP TRIGGER IF EXISTS nexus_logger_pair ON "{sch}".session_log;
CREATE CONSTRAINT TRIGGER nexus_logger_pair AFTER UPDATE ON "{sch}".session_log
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION nexus_logger_check_pair();
{guard_triggers}
DROP TRIGGER IF EXISTS nexus_logger_stamp ON "{sch}".{audit};
CREATE TRIGGER nexus_logger_stamp BEFORE INSERT ON "{sch}".{audit}
  FOR EACH ROW EXECUTE FUNCTION nexus_logger_stamp_audit();
DROP TRIGGER IF EXISTS nexus_logger_stamp ON "{sch}".{prefix}pc;
CREATE TRIGGER nexus_logger_stamp BEFORE INSERT OR UPDATE ON "{sch}".{prefix}pc
  FOR EACH ROW EXECUTE FUNCTION nexus_logger_stamp_pc_report();
{trail_triggers}
DROP TRIGGER IF EXISTS nexus_logger_append_only ON "{sch}".{trail_table};
CREATE TRIGGER nexus_logger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
  ON "{sch}".{trail_table} FOR EACH STATEMENT EXECUTE FUNCTION nexus_logger_trail_is_append_only();
"""


def _checked_names(
    database: str, instrument_role: str, admin_role: str, bridge_role: str, schema: str
) -> dict[str, str]:
    """The templates' fields: the given names, checked, and the tables' names."""
    return {
        "db": _name(database, "database"),
        "inst": _name(instrument_role, "role"),
        "adm": _name(admin_role, "role"),
        "bridge": _name(bridge_role, "role"),
        "sch": (sch := _name(schema, "schema")),
        "fn": f'SECURITY DEFINER SET search_path = "{sch}", pg_temp',
        "audit": f"{LOGGER_TABLE_PREFIX}audit",
        "map_table": MAP_TABLE,
        "trail_table": TRAIL_TABLE,
        "prefix": LOGGER_TABLE_PREFIX,
        "final_statuses": _sql_list(FINAL_STATUSES),
    }


def _roles(names: dict[str, str]) -> str:
    """Create each group role that is missing, unable to log in: a login of its own per PC
    (or person) is a member, so the server's ``session_user`` says which one wrote a row.
    An existing group that can log in (made by a script before 2026-12-08) is left as it is,
    with a warning: turning its login off here could lock out PCs that use it. (The names are
    checked by ``_name``: letters, digits and underscores only.)"""
    return "\n".join(
        f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN\n"  # noqa: S608
        f'    CREATE ROLE "{r}" NOLOGIN;\n'
        f"  ELSIF (SELECT rolcanlogin FROM pg_roles WHERE rolname = '{r}') THEN\n"
        f"    RAISE WARNING 'The role {r} can log in itself, but it is a group: give each PC or "
        f'person a login of its own IN ROLE {r}, then run ALTER ROLE "{r}" NOLOGIN.\';\n'
        "  END IF;"
        for r in (names["inst"], names["adm"], names["bridge"])
    )


def _guard_triggers(sch: str) -> str:
    return "\n".join(
        f'DROP TRIGGER IF EXISTS nexus_logger_guard ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_guard BEFORE INSERT OR UPDATE OR DELETE ON "{sch}".{t}\n'
        "  FOR EACH ROW EXECUTE FUNCTION nexus_logger_guard_logger_row();"
        for t in GUARDED_LOGGER_TABLES
    )


def _trail_triggers(sch: str, audit: str) -> str:
    return "\n".join(
        f'DROP TRIGGER IF EXISTS nexus_logger_trail ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_trail AFTER INSERT OR UPDATE OR DELETE ON "{sch}".{t}\n'
        "  FOR EACH ROW EXECUTE FUNCTION nexus_logger_record_change();\n"
        f'DROP TRIGGER IF EXISTS nexus_logger_trail_truncate ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_trail_truncate AFTER TRUNCATE ON "{sch}".{t}\n'
        "  FOR EACH STATEMENT EXECUTE FUNCTION nexus_logger_record_change();"
        for t in ("session_log", *GUARDED_LOGGER_TABLES, audit, MAP_TABLE)
    )


def _mapping(names: dict[str, str], instrument_map: Sequence[tuple[str, str]]) -> str:
    """INSERTs for the given (role, instrument) pairs, or a comment showing how."""
    maps = []
    for role, pid in instrument_map:
        _name(role, "role")
        if not _PID.match(pid or ""):
            raise InvalidInput(f"{pid!r} is not a usable instrument PID.")
        maps.append(f"('{role}', '{pid}')")
    sch = names["sch"]
    if maps:
        insert_rows = f'INSERT INTO "{sch}".{MAP_TABLE} (role_name, instrument_pid) VALUES'
        return insert_rows + "\n  " + ",\n  ".join(maps) + "\nON CONFLICT DO NOTHING;\n"
    example = (
        f"INSERT INTO \"{sch}\".{MAP_TABLE} VALUES ('{names['inst']}', 'FEI-Titan-TEM-635816');"  # noqa: S608
    )
    return (
        "-- Map each instrument PC's account to its instruments (as the admin role), e.g.\n"
        f"-- {example}\n"
    )


def postgres_roles_sql(
    *,
    database: str = "nexuslims",
    instrument_role: str = "nexus_instrument",
    admin_role: str = "nexus_admin",
    bridge_role: str = "nexus_bridge",
    schema: str = "public",
    instrument_map: Sequence[tuple[str, str]] = (),
) -> str:
    """The whole script for the given names; ``instrument_map`` adds (role, instrument) rows."""
    names = _checked_names(database, instrument_role, admin_role, bridge_role, schema)
    mapping = _mapping(names, instrument_map)
    fields = {
        **names,
        "roles": _roles(names),
        "create_tables": _create_tables(names["sch"]),
        "open_start_index": open_start_index.create_sql(names["sch"]),
        "guard_triggers": _guard_triggers(names["sch"]),
        "trail_triggers": _trail_triggers(names["sch"], names["audit"]),
        "logger_tables": ", ".join(f'"{names["sch"]}".{t}' for t in GUARDED_LOGGER_TABLES),
    }
    filled = [t.format(**fields).rstrip("\n") for t in (_PREAMBLE, _TABLES, _GRANTS)]
    filled += [functions_sql(names), _TRIGGERS.format(**fields).rstrip("\n"), mapping]
    return "\n\n".join(filled)
