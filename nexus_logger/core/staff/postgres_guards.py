"""The PL/pgSQL functions of the server-enforced rules: who is asking, the guards, the trail.

Templates (``str.format`` fields) that :mod:`~nexus_logger.core.staff.postgres_roles` fills in
with the checked role and schema names; each holds one concern, in the order the script runs
them. Why each rule exists: docs/postgres-roles.md.
"""

from __future__ import annotations

__all__ = ["functions_sql"]

#: A row trigger's ending: the old row for a DELETE, the new one otherwise.
RETURN_ROW = """\
  IF TG_OP = 'DELETE' THEN
    RETURN OLD;
  END IF;
  RETURN NEW;
END $f$;"""

#: Which kind of account is asking, which instruments it may log, and the one way to refuse.
ACCOUNT_FUNCTIONS = """\
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
  SELECT EXISTS (SELECT 1 FROM {map_table} WHERE role_name = session_user AND instrument_pid = pid)
$f$;

CREATE OR REPLACE FUNCTION nexus_logger_session_instrument(ident text) RETURNS text
LANGUAGE sql STABLE {fn} AS $f$
  SELECT instrument FROM session_log
  WHERE session_identifier = ident AND event_type = 'START'
  ORDER BY id_session_log LIMIT 1
$f$;

-- A time as nexus-logger writes it (and NexusLIMS 2.x reads it): ISO-8601 with its UTC offset;
-- NULL for anything else, so that a row NexusLIMS cannot read is never written.
CREATE OR REPLACE FUNCTION nexus_logger_written_time(t text) RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $f$
BEGIN
  IF t !~ '^\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d{{1,6}})?[+-]\\d\\d:\\d\\d$' THEN
    RETURN NULL;
  END IF;
  RETURN t::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $f$;

-- A NexusLIMS 1.x wall-clock time (no UTC offset, as ``2020-02-05T10:30:00.000``); NULL for
-- anything else. Only the END of a session whose START is such a time is written that way.
CREATE OR REPLACE FUNCTION nexus_logger_wall_time(t text) RETURNS timestamp
LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  IF t !~ '^\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d{{1,6}})?$' THEN
    RETURN NULL;
  END IF;
  RETURN t::timestamp;
EXCEPTION WHEN others THEN
  RETURN NULL;
END $f$;

CREATE OR REPLACE FUNCTION nexus_logger_refuse(message text) RETURNS void
LANGUAGE plpgsql AS $f$
BEGIN
  RAISE EXCEPTION 'nexus-logger rule: %', message USING ERRCODE = 'insufficient_privilege';
END $f$;
"""

#: session_log's guard: instrument PCs write what the lifecycle writes, the bridge what NexusLIMS does.
GUARD_SESSION_LOG = """\
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
      IF nexus_logger_written_time(NEW."timestamp") IS NULL
         AND (NEW.event_type <> 'END' OR nexus_logger_wall_time(NEW."timestamp") IS NULL) THEN
        PERFORM nexus_logger_refuse(format('%s is not an ISO-8601 time with its UTC offset',
                                           quote_literal(NEW."timestamp")));
      END IF;
      -- (the program refuses a time minutes ahead of the PC's clock; this is the backstop
      -- for a hand-made row or a PC whose clock is days off)
      IF nexus_logger_written_time(NEW."timestamp") > clock_timestamp() + interval '1 day' THEN
        PERFORM nexus_logger_refuse(format('%s is more than a day ahead of the server''s clock',
                                           quote_literal(NEW."timestamp")));
      END IF;
      IF NEW.event_type = 'START' THEN
        IF EXISTS (SELECT 1 FROM session_log WHERE session_identifier = NEW.session_identifier) THEN
          PERFORM nexus_logger_refuse(format('session %s exists already', NEW.session_identifier));
        END IF;
        -- (one open session per instrument: checked at commit, nexus_logger_check_open)
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
        IF nexus_logger_written_time(NEW."timestamp") IS NULL THEN
          -- The END of a 1.x START is written without an offset too: NexusLIMS 2.8 subtracts
          -- the two, and a naive START with an aware END stops its build run.
          IF nexus_logger_wall_time(s."timestamp") IS NULL THEN
            PERFORM nexus_logger_refuse('an END without a UTC offset is written only for a START without one');
          END IF;
          IF nexus_logger_wall_time(NEW."timestamp") < nexus_logger_wall_time(s."timestamp") THEN
            PERFORM nexus_logger_refuse('an END may not be earlier than its START');
          END IF;
        ELSIF nexus_logger_written_time(NEW."timestamp")
           < coalesce(nexus_logger_written_time(s."timestamp"), '-infinity') THEN
          PERFORM nexus_logger_refuse('an END may not be earlier than its START');
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
       OR NEW.record_status NOT IN ({final_statuses})
       OR (NEW.id_session_log, NEW.session_identifier, NEW.instrument, NEW."timestamp",
           NEW.event_type, NEW."user")
          IS DISTINCT FROM (OLD.id_session_log, OLD.session_identifier, OLD.instrument,
                            OLD."timestamp", OLD.event_type, OLD."user") THEN
      PERFORM nexus_logger_refuse('the bridge only sets final statuses of sessions');
    END IF;
  END IF;
{return_row}
"""

#: Checked at commit: a session an instrument PC marks to be built has its START and its END.
CHECK_PAIR = """\
-- At commit: an instrument PC's START marked TO_BE_BUILT has its END, marked so too (the
-- lifecycle changes both in one transaction; a START alone stops NexusLIMS's build run).
CREATE OR REPLACE FUNCTION nexus_logger_check_pair() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  IF nexus_logger_account_kind() = 'instrument' AND NEW.event_type = 'START'
     AND NEW.record_status = 'TO_BE_BUILT'
     AND NOT EXISTS (SELECT 1 FROM session_log e
                     WHERE e.session_identifier = NEW.session_identifier
                       AND e.event_type = 'END' AND e.record_status = 'TO_BE_BUILT'
                       AND e.instrument = NEW.instrument
                       AND e."user" IS NOT DISTINCT FROM NEW."user") THEN
    PERFORM nexus_logger_refuse(format('session %s: a START is marked TO_BE_BUILT only with its END',
                                       NEW.session_identifier));
  END IF;
  RETURN NULL;
END $f$;
"""

#: Checked at commit: an instrument PC's new START that is still open is the only open one.
CHECK_OPEN = """\
-- At commit: a START an instrument PC wrote that is still open (no END) is its instrument's
-- only open session. At commit, so that a whole past session kept offline (START and END in
-- one transaction) is written while someone else's session is open now.
CREATE OR REPLACE FUNCTION nexus_logger_check_open() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  IF nexus_logger_account_kind() = 'instrument' AND NEW.event_type = 'START'
     AND NOT EXISTS (SELECT 1 FROM session_log e
                     WHERE e.session_identifier = NEW.session_identifier AND e.event_type = 'END')
     AND EXISTS (SELECT 1 FROM session_log st
                 WHERE st.instrument = NEW.instrument AND st.event_type = 'START'
                   AND st.id_session_log <> NEW.id_session_log
                   AND st.record_status IN ('WAITING_FOR_END', 'TO_BE_BUILT')
                   AND NOT EXISTS (SELECT 1 FROM session_log e
                                   WHERE e.session_identifier = st.session_identifier
                                     AND e.event_type = 'END')) THEN
    PERFORM nexus_logger_refuse(format('instrument %s has an open session', NEW.instrument));
  END IF;
  RETURN NULL;
END $f$;
"""

#: The logger tables' guard: an instrument PC touches only rows of its own instruments.
GUARD_LOGGER_ROW = """\
-- Logger tables: an instrument PC only touches rows of its own instruments' sessions.
CREATE OR REPLACE FUNCTION nexus_logger_guard_logger_row() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
DECLARE
  r jsonb;
  rows jsonb[] := ARRAY[]::jsonb[];
  pid text;
BEGIN
  IF nexus_logger_account_kind() = 'instrument' THEN
    IF TG_TABLE_NAME = '{prefix}open_session' AND TG_OP = 'UPDATE' THEN
      IF to_jsonb(NEW)->>'instrument' IS DISTINCT FROM to_jsonb(OLD)->>'instrument' THEN
        PERFORM nexus_logger_refuse('an instrument''s open-session row stays that instrument''s');
      END IF;
    END IF;
    IF TG_OP <> 'INSERT' THEN rows := rows || to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN rows := rows || to_jsonb(NEW); END IF;
    FOREACH r IN ARRAY rows LOOP
      IF TG_TABLE_NAME = '{prefix}station' THEN
        pid := r->>'instrument_pid';
      ELSIF TG_TABLE_NAME = '{prefix}note' THEN
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
{return_row}
"""

#: The audit stamp (the server's account name) and the append-only change trail.
AUDIT_AND_TRAIL_FUNCTIONS = """\
-- Audit rows name the database account the server knows, whatever the client sends.
CREATE OR REPLACE FUNCTION nexus_logger_stamp_audit() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  NEW.db_account := session_user;
  RETURN NEW;
END $f$;

-- A PC's fleet report names the account and the time the server knows: a PC could write
-- any account or date into its own row (it says what it likes about the rest).
CREATE OR REPLACE FUNCTION nexus_logger_stamp_pc_report() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  NEW.db_account := session_user;
  NEW.reported := to_char(clock_timestamp() AT TIME ZONE 'UTC',
                          'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"');
  RETURN NEW;
END $f$;

-- The trail: one row per change, whoever makes it.
CREATE OR REPLACE FUNCTION nexus_logger_record_change() RETURNS trigger
LANGUAGE plpgsql {fn} AS $f$
BEGIN
  INSERT INTO {trail_table} (table_name, operation, old_row, new_row)
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
"""


def functions_sql(names: dict[str, str]) -> str:
    """Every function of the rules, for ``names`` (the placeholders' checked values)."""
    fields = {**names, "return_row": RETURN_ROW.rstrip("\n")}
    return "\n\n".join(
        part.rstrip("\n").format(**fields)
        for part in (
            ACCOUNT_FUNCTIONS,
            GUARD_SESSION_LOG,
            CHECK_PAIR,
            CHECK_OPEN,
            GUARD_LOGGER_ROW,
            AUDIT_AND_TRAIL_FUNCTIONS,
        )
    )
