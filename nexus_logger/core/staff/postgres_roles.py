"""The SQL script that makes a PostgreSQL server enforce nexus-logger's rules (opt-in).

``nexus-logger admin postgres-roles`` prints it; the tables' owner reviews it and runs it.
It is the only place where anything is attached to NexusLIMS's ``session_log``: two triggers,
never a column or an index, and only on PostgreSQL (``init-db`` on SQLite creates exactly the
NexusLIMS schema). What it sets up, and why (docs/postgres-roles.md):

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

from nexus_logger.core.db.schema import LOGGER_TABLE_PREFIX
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.errors import InvalidInput

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
    db = _name(database, "database")
    inst = _name(instrument_role, "role")
    adm = _name(admin_role, "role")
    bridge = _name(bridge_role, "role")
    sch = _name(schema, "schema")
    maps = []
    for role, pid in instrument_map:
        _name(role, "role")
        if not _PID.match(pid or ""):
            raise InvalidInput(f"{pid!r} is not a usable instrument PID.")
        maps.append(f"('{role}', '{pid}')")
    audit = f"{LOGGER_TABLE_PREFIX}audit"
    fn = f'SECURITY DEFINER SET search_path = "{sch}", pg_temp'
    roles = "\n".join(
        f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{r}') THEN\n"
        f'    CREATE ROLE "{r}" LOGIN;\n'
        "  END IF;"
        for r in (inst, adm, bridge)
    )
    logger_tables = ", ".join(f'"{sch}".{t}' for t in GUARDED_LOGGER_TABLES)
    example = f"INSERT INTO \"{sch}\".{MAP_TABLE} VALUES ('{inst}', 'FEI-Titan-TEM-635816');"  # noqa: S608
    insert_rows = f'INSERT INTO "{sch}".{MAP_TABLE} (role_name, instrument_pid) VALUES'
    if maps:
        mapping = insert_rows + "\n  " + ",\n  ".join(maps) + "\nON CONFLICT DO NOTHING;\n"
    else:
        mapping = (
            "-- Map each instrument PC's account to its instruments (as the admin role), e.g.\n"
            f"-- {example}\n"
        )
    trail_targets = ["session_log", *GUARDED_LOGGER_TABLES, audit, MAP_TABLE]
    trail_triggers = "\n".join(
        f'DROP TRIGGER IF EXISTS nexus_logger_trail ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_trail AFTER INSERT OR UPDATE OR DELETE ON "{sch}".{t}\n'
        "  FOR EACH ROW EXECUTE FUNCTION nexus_logger_record_change();\n"
        f'DROP TRIGGER IF EXISTS nexus_logger_trail_truncate ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_trail_truncate AFTER TRUNCATE ON "{sch}".{t}\n'
        "  FOR EACH STATEMENT EXECUTE FUNCTION nexus_logger_record_change();"
        for t in trail_targets
    )
    guard_triggers = "\n".join(
        f'DROP TRIGGER IF EXISTS nexus_logger_guard ON "{sch}".{t};\n'
        f'CREATE TRIGGER nexus_logger_guard BEFORE INSERT OR UPDATE OR DELETE ON "{sch}".{t}\n'
        "  FOR EACH ROW EXECUTE FUNCTION nexus_logger_guard_logger_row();"
        for t in GUARDED_LOGGER_TABLES
    )
    return f"""-- nexus-logger: server-enforced rules for {db} (run as the owner of session_log).
-- Safe to run again. Afterwards give each role a password or another login method.
SET client_min_messages = warning;
DO $$
BEGIN
  IF to_regclass('"{sch}".session_log') IS NULL THEN
    RAISE EXCEPTION 'There is no session_log table in schema {sch} of this database. Run '
      '"nexus-logger init-db URL" first (or let NexusLIMS create its tables), then this script.';
  END IF;
END $$;

DO $$
BEGIN
{roles}
END $$;

-- The logger-owned tables, so that no application role ever needs to create one.
{_create_tables(sch)}
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS db_account VARCHAR(63);
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS prev_hash VARCHAR(64);
ALTER TABLE "{sch}".{audit} ADD COLUMN IF NOT EXISTS row_hash VARCHAR(64);
CREATE TABLE IF NOT EXISTS "{sch}".{MAP_TABLE} (
  role_name VARCHAR(63) NOT NULL,
  instrument_pid VARCHAR(100) NOT NULL,
  PRIMARY KEY (role_name, instrument_pid)
);
CREATE TABLE IF NOT EXISTS "{sch}".{TRAIL_TABLE} (
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

-- Rights: the grants say which tables, the guard triggers below say which rows.
GRANT CONNECT ON DATABASE "{db}" TO "{inst}", "{adm}", "{bridge}";
GRANT USAGE ON SCHEMA "{sch}" TO "{inst}", "{adm}", "{bridge}";
REVOKE CREATE ON SCHEMA "{sch}" FROM PUBLIC;
GRANT SELECT ON "{sch}".instruments, "{sch}".alembic_version TO "{inst}", "{adm}", "{bridge}";
GRANT SELECT, INSERT, UPDATE ON "{sch}".session_log TO "{inst}", "{adm}", "{bridge}";
REVOKE DELETE, TRUNCATE ON "{sch}".session_log FROM "{inst}", "{adm}", "{bridge}";
GRANT USAGE, SELECT ON SEQUENCE "{sch}".session_log_id_session_log_seq TO "{inst}", "{adm}", "{bridge}";
GRANT SELECT, INSERT, UPDATE, DELETE ON {logger_tables} TO "{inst}", "{adm}";
REVOKE TRUNCATE ON {logger_tables} FROM "{inst}", "{adm}";
GRANT SELECT ON {logger_tables} TO "{bridge}";
GRANT SELECT ON "{sch}".{MAP_TABLE} TO "{inst}", "{bridge}";
GRANT SELECT, INSERT, UPDATE, DELETE ON "{sch}".{MAP_TABLE} TO "{adm}";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "{sch}".{MAP_TABLE} FROM "{inst}", "{bridge}";
GRANT SELECT ON "{sch}".{audit} TO "{inst}", "{adm}";
GRANT INSERT ON "{sch}".{audit} TO "{adm}";
REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON "{sch}".{audit} FROM "{inst}", "{bridge}";
REVOKE UPDATE, DELETE, TRUNCATE ON "{sch}".{audit} FROM "{adm}";
GRANT USAGE, SELECT ON SEQUENCE "{sch}".{audit}_id_seq TO "{adm}";
REVOKE ALL ON "{sch}".{TRAIL_TABLE} FROM PUBLIC, "{inst}", "{adm}", "{bridge}";
GRANT SELECT ON "{sch}".{TRAIL_TABLE} TO "{adm}";

-- Which kind of account runs the statement: the server's own session_user, not a claim.
CREATE OR REPLACE FUNCTION nexus_logger_account_kind() RETURNS text
LANGUAGE sql STABLE {fn} AS $f$
  SELECT CASE
    WHEN (SELECT rolsuper FROM pg_roles WHERE rolname = session_user) THEN 'owner'
    WHEN pg_has_role(session_user, '{inst}', 'MEMBER') THEN 'instrument'
    WHEN pg_has_role(session_user, '{bridge}', 'MEMBER') THEN 'bridge'
    ELSE 'other'
  END
$f$;

CREATE OR REPLACE FUNCTION nexus_logger_mapped(pid text) RETURNS boolean
LANGUAGE sql STABLE {fn} AS $f$
  SELECT EXISTS (SELECT 1 FROM {MAP_TABLE} WHERE role_name = session_user AND instrument_pid = pid)
$f$;

CREATE OR REPLACE FUNCTION nexus_logger_session_instrument(ident text) RETURNS text
LANGUAGE sql STABLE {fn} AS $f$
  SELECT instrument FROM session_log
  WHERE session_identifier = ident AND event_type = 'START'
  ORDER BY id_session_log LIMIT 1
$f$;

CREATE OR REPLACE FUNCTION nexus_logger_refuse(message text) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'nexus-logger rule: %', message USING ERRCODE = 'insufficient_privilege';
END $f$;

-- session_log: instrument PCs do what the lifecycle does; the bridge what NexusLIMS does.
CREATE OR REPLACE FUNCTION nexus_logger_guard_session_log() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
DECLARE
  kind text := nexus_logger_account_kind();
  s record;
BEGIN
  IF kind = 'instrument' THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM nexus_logger_refuse('instrument PCs never delete session_log rows');
    END IF;
    IF NOT nexus_logger_mapped(NEW.instrument) THEN
      PERFORM nexus_logger_refuse(format('account %s is not mapped to instrument %s',
                                         session_user, NEW.instrument));
    END IF;
    IF TG_OP = 'INSERT' THEN
      IF NEW.event_type NOT IN ('START', 'END') OR NEW.record_status <> 'WAITING_FOR_END' THEN
        PERFORM nexus_logger_refuse('instrument PCs insert only START and END rows that wait for their END');
      END IF;
      IF NEW.event_type = 'START' THEN
        IF EXISTS (SELECT 1 FROM session_log WHERE session_identifier = NEW.session_identifier) THEN
          PERFORM nexus_logger_refuse(format('session %s exists already', NEW.session_identifier));
        END IF;
        IF EXISTS (SELECT 1 FROM session_log st
                   WHERE st.instrument = NEW.instrument AND st.event_type = 'START'
                     AND st.record_status IN ('WAITING_FOR_END', 'TO_BE_BUILT')
                     AND NOT EXISTS (SELECT 1 FROM session_log e
                                     WHERE e.session_identifier = st.session_identifier
                                       AND e.event_type = 'END')) THEN
          PERFORM nexus_logger_refuse(format('instrument %s has an open session', NEW.instrument));
        END IF;
      ELSE
        SELECT * INTO s FROM session_log
          WHERE session_identifier = NEW.session_identifier AND event_type = 'START'
          ORDER BY id_session_log LIMIT 1;
        IF NOT FOUND OR s.instrument <> NEW.instrument OR s."user" IS DISTINCT FROM NEW."user"
           OR s.record_status NOT IN ('WAITING_FOR_END', 'TO_BE_BUILT')
           OR EXISTS (SELECT 1 FROM session_log WHERE session_identifier = NEW.session_identifier
                        AND event_type = 'END') THEN
          PERFORM nexus_logger_refuse('an END needs the open START of the same session, instrument and user');
        END IF;
      END IF;
      RETURN NEW;
    END IF;
    IF OLD.event_type NOT IN ('START', 'END') OR OLD.record_status <> 'WAITING_FOR_END'
       OR NEW.record_status <> 'TO_BE_BUILT'
       OR (NEW.id_session_log, NEW.session_identifier, NEW.instrument, NEW."timestamp",
           NEW.event_type, NEW."user")
          IS DISTINCT FROM (OLD.id_session_log, OLD.session_identifier, OLD.instrument,
                            OLD."timestamp", OLD.event_type, OLD."user")
       OR NOT nexus_logger_mapped(OLD.instrument)
       OR NOT EXISTS (SELECT 1 FROM session_log WHERE session_identifier = OLD.session_identifier
                        AND event_type = 'END') THEN
      PERFORM nexus_logger_refuse('instrument PCs only change WAITING_FOR_END to TO_BE_BUILT '
                                  'when their own session ends');
    END IF;
    RETURN NEW;
  ELSIF kind = 'bridge' THEN
    IF TG_OP = 'DELETE' THEN
      PERFORM nexus_logger_refuse('the bridge never deletes session_log rows');
    ELSIF TG_OP = 'INSERT' THEN
      IF NEW.event_type <> 'RECORD_GENERATION' THEN
        PERFORM nexus_logger_refuse('the bridge inserts only RECORD_GENERATION rows');
      END IF;
    ELSIF OLD.record_status = 'WAITING_FOR_END'
       OR NEW.record_status NOT IN ({_sql_list(FINAL_STATUSES)})
       OR (NEW.id_session_log, NEW.session_identifier, NEW.instrument, NEW."timestamp",
           NEW.event_type, NEW."user")
          IS DISTINCT FROM (OLD.id_session_log, OLD.session_identifier, OLD.instrument,
                            OLD."timestamp", OLD.event_type, OLD."user") THEN
      PERFORM nexus_logger_refuse('the bridge only sets final statuses of sessions');
    END IF;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $f$;

-- Logger tables: an instrument PC only touches rows of its own instruments' sessions.
CREATE OR REPLACE FUNCTION nexus_logger_guard_logger_row() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
DECLARE
  r jsonb;
  rows jsonb[] := ARRAY[]::jsonb[];
  pid text;
BEGIN
  IF nexus_logger_account_kind() = 'instrument' THEN
    IF TG_TABLE_NAME = '{LOGGER_TABLE_PREFIX}open_session' AND TG_OP = 'UPDATE' THEN
      IF to_jsonb(NEW)->>'instrument' IS DISTINCT FROM to_jsonb(OLD)->>'instrument' THEN
        PERFORM nexus_logger_refuse('an instrument''s open-session row stays that instrument''s');
      END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN rows := rows || to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN rows := rows || to_jsonb(NEW); END IF;
    FOREACH r IN ARRAY rows LOOP
      IF TG_TABLE_NAME = '{LOGGER_TABLE_PREFIX}station' THEN
        pid := r->>'instrument_pid';
      ELSIF TG_TABLE_NAME = '{LOGGER_TABLE_PREFIX}note' THEN
        pid := nexus_logger_session_instrument(r->>'session_identifier');
      ELSE
        pid := r->>'instrument';
        -- (a free open-session row names no session)
        IF r->>'session_identifier' IS NOT NULL
           AND nexus_logger_session_instrument(r->>'session_identifier') IS DISTINCT FROM pid THEN
          PERFORM nexus_logger_refuse(format('session %s is not on instrument %s',
                                             r->>'session_identifier', pid));
        END IF;
      END IF;
      IF pid IS NULL OR NOT nexus_logger_mapped(pid) THEN
        PERFORM nexus_logger_refuse(format('account %s may not change %s rows of instrument %s',
                                           session_user, TG_TABLE_NAME, coalesce(pid, '(none)')));
      END IF;
    END LOOP;
  END IF;
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $f$;

-- Audit rows name the database account the server knows, whatever the client sends.
CREATE OR REPLACE FUNCTION nexus_logger_stamp_audit() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  NEW.db_account := session_user;
  RETURN NEW;
END $f$;

-- The trail: one row per change, whoever makes it.
CREATE OR REPLACE FUNCTION nexus_logger_record_change() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  INSERT INTO {TRAIL_TABLE} (table_name, operation, old_row, new_row)
  VALUES (TG_TABLE_NAME, TG_OP,
          CASE WHEN TG_OP IN ('UPDATE', 'DELETE') THEN to_jsonb(OLD) END,
          CASE WHEN TG_OP IN ('INSERT', 'UPDATE') THEN to_jsonb(NEW) END);
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION nexus_logger_trail_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $f$
BEGIN
  PERFORM nexus_logger_refuse('the change trail is append-only');
  RETURN NULL;
END $f$;

DROP TRIGGER IF EXISTS nexus_logger_guard ON "{sch}".session_log;
CREATE TRIGGER nexus_logger_guard BEFORE INSERT OR UPDATE OR DELETE ON "{sch}".session_log
  FOR EACH ROW EXECUTE FUNCTION nexus_logger_guard_session_log();
{guard_triggers}
DROP TRIGGER IF EXISTS nexus_logger_stamp ON "{sch}".{audit};
CREATE TRIGGER nexus_logger_stamp BEFORE INSERT ON "{sch}".{audit}
  FOR EACH ROW EXECUTE FUNCTION nexus_logger_stamp_audit();
{trail_triggers}
DROP TRIGGER IF EXISTS nexus_logger_append_only ON "{sch}".{TRAIL_TABLE};
CREATE TRIGGER nexus_logger_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
  ON "{sch}".{TRAIL_TABLE} FOR EACH STATEMENT EXECUTE FUNCTION nexus_logger_trail_is_append_only();

{mapping}"""  # noqa: S608 - every name is checked above; this is a script for a person
