"""Repairs facility staff make to ``session_log``, each previewed, confirmed and audited.

Three actions exist, each for a state the problems panel reports:

* **force-end** an open session at a chosen time (someone forgot to end it);
* **re-queue** a session (ERROR, NO_FILES_FOUND, ...) so the back-end builds it again;
* **fix a user mismatch** between START and END (NexusLIMS pairs them by user).

Every action is two steps. ``plan_*`` reads the session and returns an :class:`ActionPlan`
listing exactly which rows will change and how; nothing is written. The person confirms, then
:func:`apply` re-reads those rows under the write lock, refuses if anything changed since the
preview, makes the change and writes one row to the logger-owned audit table
``nexus_logger_audit`` (who, when, what, rows before, rows after) in the same transaction:
either both commit or neither does.

Who may: on PostgreSQL, the database account decides. Only the admin role may insert into the
audit table (``nexus-logger admin postgres-roles``), so an instrument PC's account gets
"permission denied" and the whole action rolls back, whatever the ``administrators`` setting
says; the server's triggers also refuse the changes themselves (docs/postgres-roles.md). On an
SQLite file nothing can be enforced: the ``administrators`` setting (checked against the
process's real OS account, :mod:`~nexus_logger.core.identity`) only keeps honest people from
mistakes. Every audit row records that OS account and, on PostgreSQL, the database account
(``session_user``), and is chained to the row before it by a hash (:mod:`audit_chain`).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    inspect,
    select,
    text,
    update,
)

from nexus_logger.core import audit_chain, open_rule, timestamps
from nexus_logger.core.engine import (
    EngineLike,
    describe,
    get_engine,
    read_connection,
    write_transaction,
)
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import (
    Conflict,
    InvalidInput,
    NexusLoggerError,
    NotFound,
    RefusedByDatabase,
)
from nexus_logger.core.identity import os_login
from nexus_logger.core.lifecycle import (
    CLOCK_SLACK,
    check_end_time,
    end_in_transaction,
    lock_instrument,
)
from nexus_logger.core.logger_tables import advisory_lock, ensure_tables, table_exists
from nexus_logger.core.logger_tables import metadata as lifecycle_metadata
from nexus_logger.core.models import SessionLogEntry
from nexus_logger.core.schema import LOGGER_TABLE_PREFIX, load_instruments, require_usable
from nexus_logger.core.validation import MAX_IDENTIFIER, clean_text, clean_user

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__
_START = EventType.START.value
_END = EventType.END.value
_TO_BE_BUILT = RecordStatus.TO_BE_BUILT.value
_WAITING = RecordStatus.WAITING_FOR_END.value
_ERROR = RecordStatus.ERROR.value

FORCE_END = "force_end"
REQUEUE = "requeue"
FIX_USER = "fix_user"
ACTIONS = (FORCE_END, REQUEUE, FIX_USER)

audit_metadata = MetaData()

#: One row per admin action: who ran it, when, on which session, and the rows before/after
#: (JSON lists of ``session_log`` rows). Only ever inserted into, never updated.
audit_table = Table(
    f"{LOGGER_TABLE_PREFIX}audit",
    audit_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String, nullable=False),  # aware ISO-8601, UTC
    Column("login", String(255), nullable=False),  # real OS account of the administrator
    Column("db_account", String(63)),  # PostgreSQL session_user (set by the server); NULL on SQLite
    Column("hostname", String(255)),
    Column("action", String(40), nullable=False),
    Column("session_identifier", String(36), nullable=False),
    Column("summary", Text, nullable=False),
    Column("before", Text, nullable=False),  # JSON list of rows as they were
    Column("after", Text, nullable=False),  # JSON list of rows as they are now
    Column("prev_hash", String(64)),  # row_hash of the row before (audit_chain)
    Column("row_hash", String(64)),  # SHA-256 over prev_hash and this row's content
)

#: Columns added after the first release; :func:`ensure_audit_table` adds them to old tables.
_LATER_COLUMNS = ("db_account", "prev_hash", "row_hash")


class NotAdministrator(RefusedByDatabase):
    """The person (or the database account) may not run admin actions."""


# --------------------------------------------------------------------------------------------
# Who is an administrator


def current_login() -> str:
    """The real OS account of this process ('' when the OS names none); never ``LOGNAME``."""
    return os_login()


def _login_forms(login: str) -> set[str]:
    """``DOMAIN\\alice`` and ``alice@domain`` also match ``alice``; case never matters."""
    name = login.strip().casefold()
    forms = {name}
    if "\\" in name:
        forms.add(name.rsplit("\\", 1)[1])
    if "@" in name:
        forms.add(name.split("@", 1)[0])
    return {f for f in forms if f}


def configured_administrators() -> list[str]:
    """The ``administrators`` setting (empty when the configuration cannot be read)."""
    from nexus_logger.core.config import load_settings

    try:
        return list(load_settings().administrators)
    except NexusLoggerError:
        return []


def is_administrator(login: str | None = None, administrators: Sequence[str] | None = None) -> bool:
    """True when ``login`` (default: this OS login) is listed in ``administrators``."""
    login = current_login() if login is None else login
    admins = configured_administrators() if administrators is None else administrators
    if not login:
        return False
    mine = _login_forms(login)
    return any(mine & _login_forms(a) for a in admins if a and a.strip())


def require_administrator(
    login: str | None = None, administrators: Sequence[str] | None = None
) -> str:
    """Return the login, or raise :class:`NotAdministrator` saying how to become one."""
    login = current_login() if login is None else login
    admins = configured_administrators() if administrators is None else administrators
    if not is_administrator(login, admins):
        who = repr(login) if login else "This account"
        raise NotAdministrator(
            f"{who} is not an administrator of nexus-logger, so admin actions are refused. "
            "Ask for the login to be added to 'administrators' in the config file."
        )
    return login


# --------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True)
class RowChange:
    """One ``session_log`` row an action changes: ``before`` is None for an inserted row."""

    before: dict[str, Any] | None
    after: dict[str, Any]

    @property
    def id_session_log(self) -> int | None:
        return self.before["id_session_log"] if self.before else None

    def describe(self) -> str:
        """One line a person can check, e.g. ``row 7 START: record_status ERROR -> TO_BE_BUILT``."""
        if self.before is None:
            a = self.after
            return (
                f"new {a['event_type']} row: {a['timestamp']}, user {a['user']!r}, "
                f"{a['record_status']}"
            )
        diffs = [
            f"{key} {self.before[key]!r} -> {self.after[key]!r}"
            for key in ("timestamp", "user", "record_status", "instrument")
            if self.before.get(key) != self.after.get(key)
        ]
        return f"row {self.before['id_session_log']} {self.before['event_type']}: " + "; ".join(
            diffs
        )


@dataclass(frozen=True)
class ActionPlan:
    """What an action will do, shown to the person before they confirm."""

    action: str
    session_identifier: str
    instrument: str
    summary: str
    changes: tuple[RowChange, ...]
    params: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """The summary followed by one line per changed row."""
        return [self.summary, *(f"  - {c.describe()}" for c in self.changes)]


@dataclass(frozen=True)
class AuditEntry:
    """One row of ``nexus_logger_audit``."""

    id: int
    at: datetime
    login: str
    hostname: str | None
    action: str
    session_identifier: str
    summary: str
    before: list[dict[str, Any]]
    after: list[dict[str, Any]]
    db_account: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "login": self.login,
            "db_account": self.db_account,
            "hostname": self.hostname,
            "action": self.action,
            "session_identifier": self.session_identifier,
            "summary": self.summary,
            "before": self.before,
            "after": self.after,
        }


def _rows(conn: Connection, ident: str) -> list[dict[str, Any]]:
    stmt = (
        select(*_T.columns)  # every column of session_log, in the model's order
        .where(_T.c.session_identifier == ident)
        .order_by(_T.c.id_session_log)
    )
    return [dict(row._mapping) for row in conn.execute(stmt)]


def _clean_identifier(value: object) -> str:
    return clean_text(value, "session identifier", MAX_IDENTIFIER)


def _session_rows(conn: Connection, ident: str) -> list[dict[str, Any]]:
    rows = _rows(conn, ident)
    if not rows:
        raise NotFound(f"There is no session {ident} in the database {describe(conn.engine)}.")
    return rows


def _split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        [r for r in rows if r["event_type"] == _START],
        [r for r in rows if r["event_type"] == _END],
    )


def _force_end_changes(
    ident: str, rows: list[dict[str, Any]], at: datetime, zones: dict[str, str]
) -> tuple[tuple[RowChange, ...], str, str]:
    starts, ends = _split(rows)
    if not starts:
        raise InvalidInput(f"Session {ident} has no START row; there is nothing to end.")
    if ends:
        raise Conflict(
            f"Session {ident} already has an END ({ends[-1]['timestamp']}); it is not open. "
            "Re-queue it instead if it needs building again."
        )
    start = starts[0]
    if start["record_status"] not in (_WAITING, _TO_BE_BUILT):
        raise Conflict(
            f"Session {ident} has no END but its START is {start['record_status']}; "
            "force-end only works on open sessions (START waiting for its END)."
        )
    pid = start["instrument"]
    if pid not in zones:
        raise InvalidInput(
            f"Session {ident} is on {pid!r}, which is not in the instruments table; add the "
            "instrument before ending the session."
        )
    tz = zones[pid]
    stamp = timestamps.to_db(at, tz)
    ended = timestamps.parse(stamp, tz)
    try:
        began = timestamps.parse(start["timestamp"], tz)
    except timestamps.TimestampError:
        raise InvalidInput(
            f"Session {ident}'s START time {start['timestamp']!r} cannot be read; correct it first."
        ) from None
    if began > datetime.now(UTC) + CLOCK_SLACK:
        return _close_future_start(ident, starts, start, stamp, ended, pid)
    check_end_time(ended, began, stamp=stamp, start_text=start["timestamp"])
    waiting_starts = [s for s in starts if s["record_status"] == _WAITING]
    changes = [RowChange(s, {**s, "record_status": _TO_BE_BUILT}) for s in waiting_starts]
    changes.append(_new_end(ident, pid, stamp, _TO_BE_BUILT, start["user"]))
    hours = (ended - began).total_seconds() / 3600
    summary = (
        f"Force-end session {ident} on {pid} (user {start['user']!r}) at {stamp}, "
        f"{hours:.1f} h after it started; it becomes TO_BE_BUILT."
    )
    return tuple(changes), summary, pid


def _new_end(ident: str, pid: str, stamp: str, status: str, user: str | None) -> RowChange:
    """The END row a force-end inserts."""
    return RowChange(
        None,
        {
            "id_session_log": None,
            "session_identifier": ident,
            "instrument": pid,
            "timestamp": stamp,
            "event_type": _END,
            "record_status": status,
            "user": user,
        },
    )


def _close_future_start(
    ident: str,
    starts: list[dict[str, Any]],
    start: dict[str, Any],
    stamp: str,
    ended: datetime,
    pid: str,
) -> tuple[tuple[RowChange, ...], str, str]:
    """A START in the future (an older logger, a hand edit) blocks the instrument for ever and
    cannot get an END after it; it is closed as ERROR, so NexusLIMS never builds it."""
    if ended > datetime.now(UTC) + CLOCK_SLACK:
        raise InvalidInput(f"The end time {stamp} is in the future. Give now at the latest.")
    changes = [RowChange(s, {**s, "record_status": _ERROR}) for s in starts]
    changes.append(_new_end(ident, pid, stamp, _ERROR, start["user"]))
    summary = (
        f"Close session {ident} on {pid} (user {start['user']!r}), whose START is in the future "
        f"({start['timestamp']}): an END at {stamp} is added and the session becomes ERROR, so "
        "the instrument is free and NexusLIMS never builds it. Correct the START by hand if the "
        "session really happened, then re-queue it."
    )
    return tuple(changes), summary, pid


def _requeue_changes(
    ident: str, rows: list[dict[str, Any]]
) -> tuple[tuple[RowChange, ...], str, str]:
    starts, ends = _split(rows)
    if not starts:
        raise InvalidInput(
            f"Session {ident} has no START row; NexusLIMS only builds sessions with a START."
        )
    if len(starts) > 1:
        raise Conflict(
            f"Session {ident} has {len(starts)} START rows; re-queuing it would build it more "
            "than once. Remove the extra START first."
        )
    start = starts[0]
    if not ends:
        raise Conflict(
            f"Session {ident} has no END yet; re-queuing it would stop the NexusLIMS build run. "
            "Force-end it instead."
        )
    bad = [e for e in ends if e["user"] != start["user"] or e["instrument"] != start["instrument"]]
    if bad:
        raise Conflict(
            f"Session {ident}'s END has user {bad[0]['user']!r} on {bad[0]['instrument']!r} but "
            f"its START {start['user']!r} on {start['instrument']!r}; NexusLIMS could not pair "
            "them. Fix the user mismatch first."
        )
    targets = [r for r in (start, *ends) if r["record_status"] != _TO_BE_BUILT]
    if not targets:
        raise Conflict(f"Session {ident} is already TO_BE_BUILT; there is nothing to re-queue.")
    changes = tuple(RowChange(r, {**r, "record_status": _TO_BE_BUILT}) for r in targets)
    summary = (
        f"Re-queue session {ident} on {start['instrument']} (user {start['user']!r}, now "
        f"{start['record_status']}): the back-end builds it on its next run. Its "
        "RECORD_GENERATION rows stay as they are."
    )
    return changes, summary, start["instrument"]


def _fix_user_changes(
    ident: str, rows: list[dict[str, Any]], user: str
) -> tuple[tuple[RowChange, ...], str, str]:
    starts, ends = _split(rows)
    if not starts or not ends:
        raise InvalidInput(
            f"Session {ident} needs both a START and an END for their users to be made equal."
        )
    targets = [r for r in (*starts, *ends) if r["user"] != user]
    if not targets:
        raise Conflict(
            f"START and END of session {ident} already have the user {user!r}; nothing to fix."
        )
    changes = tuple(RowChange(r, {**r, "user": user}) for r in targets)
    old = sorted({str(r["user"]) for r in targets})
    summary = (
        f"Set the user of session {ident} on {starts[0]['instrument']} to {user!r} on START "
        f"and END (was {', '.join(old)}); statuses stay as they are."
    )
    return changes, summary, starts[0]["instrument"]


def _zones(engine: Any) -> dict[str, str]:
    return {pid: inst.timezone for pid, inst in load_instruments(engine).items()}


def plan_force_end(
    session_identifier: str, at: datetime, *, engine: EngineLike = None
) -> ActionPlan:
    """Preview ending an open session at ``at`` (naive means the instrument's zone)."""
    eng = get_engine(engine)
    require_usable(eng)
    ident = _clean_identifier(session_identifier)
    zones = _zones(eng)
    with read_connection(eng) as conn:
        rows = _session_rows(conn, ident)
    changes, summary, pid = _force_end_changes(ident, rows, at, zones)
    stamp = changes[-1].after["timestamp"]
    return ActionPlan(FORCE_END, ident, pid, summary, changes, {"at": stamp})


def plan_requeue(session_identifier: str, *, engine: EngineLike = None) -> ActionPlan:
    """Preview setting a session's START and END back to TO_BE_BUILT."""
    eng = get_engine(engine)
    require_usable(eng)
    ident = _clean_identifier(session_identifier)
    with read_connection(eng) as conn:
        rows = _session_rows(conn, ident)
    changes, summary, pid = _requeue_changes(ident, rows)
    return ActionPlan(REQUEUE, ident, pid, summary, changes)


def plan_fix_user(session_identifier: str, user: str, *, engine: EngineLike = None) -> ActionPlan:
    """Preview giving START and END of a session the same ``user``."""
    eng = get_engine(engine)
    require_usable(eng)
    ident = _clean_identifier(session_identifier)
    name = clean_user(user)
    with read_connection(eng) as conn:
        rows = _session_rows(conn, ident)
    changes, summary, pid = _fix_user_changes(ident, rows, name)
    return ActionPlan(FIX_USER, ident, pid, summary, changes, {"user": name})


# --------------------------------------------------------------------------------------------
# Applying a plan


def _changed_since(plan: ActionPlan, rows: list[dict[str, Any]]) -> bool:
    current = {r["id_session_log"]: r for r in rows}
    for change in plan.changes:
        if change.before is None:
            continue
        if current.get(change.before["id_session_log"]) != change.before:
            return True
    return False


def _stale(plan: ActionPlan) -> Conflict:
    return Conflict(
        f"Session {plan.session_identifier} changed after the preview was made; nothing was "
        "changed. Look at the session again and repeat the action."
    )


def _check_result(plan: ActionPlan, rows: list[dict[str, Any]]) -> None:
    """The rows after the change must be exactly what the preview promised."""
    current = {r["id_session_log"]: r for r in rows}
    for change in plan.changes:
        if change.before is not None:
            if current.get(change.before["id_session_log"]) != change.after:
                raise _stale(plan)
    inserted = [c.after for c in plan.changes if c.before is None]
    known = {c.before["id_session_log"] for c in plan.changes if c.before is not None}
    for new in inserted:
        matches = [
            r
            for r in rows
            if r["id_session_log"] not in known
            and {k: v for k, v in r.items() if k != "id_session_log"}
            == {k: v for k, v in new.items() if k != "id_session_log"}
        ]
        if not matches:
            raise _stale(plan)


def _json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, sort_keys=True)


def ensure_audit_table(engine: EngineLike = None) -> None:
    """Create ``nexus_logger_audit`` if it does not exist yet, or add the columns it lacks.

    On PostgreSQL the application roles may not alter tables: an old table there is brought
    up to date by the owner with ``nexus-logger admin postgres-roles``.
    """
    eng = get_engine(engine)
    ensure_tables(eng, [audit_table], meta=audit_metadata)
    with read_connection(eng) as conn:
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
    missing = [c for c in _LATER_COLUMNS if c not in have]
    if not missing:
        return
    if eng.dialect.name == "postgresql":
        raise NexusLoggerError(
            f"The audit table of {describe(eng)} lacks the columns {', '.join(missing)}; "
            "nothing was changed. Run the script of 'nexus-logger admin postgres-roles' as the "
            "tables' owner to bring it up to date."
        )
    with write_transaction(eng) as conn:
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        for name in missing:
            if name not in have:
                column = audit_table.c[name]
                ddl = f"ALTER TABLE {audit_table.name} ADD COLUMN {name} VARCHAR({column.type.length})"
                conn.execute(text(ddl))


def create_logger_tables(engine: EngineLike = None) -> list[str]:
    """Create every logger-owned table now (station, heartbeat, note, audit); returns names.

    For a PostgreSQL setup where the instrument PCs' role may not create tables: the owner
    runs this once (``nexus-logger admin create-tables``) before granting rights on them.
    """
    eng = get_engine(engine)
    require_usable(eng)
    ensure_tables(eng, list(lifecycle_metadata.sorted_tables))
    ensure_audit_table(eng)
    return [t.name for t in (*lifecycle_metadata.sorted_tables, audit_table)]


def apply(
    plan: ActionPlan,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    hostname: str | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Carry out a previewed action in one transaction, with its audit row.

    On PostgreSQL the database account decides (the server refuses the instrument role); on
    SQLite :class:`NotAdministrator` unless ``login`` (default: the real OS account) is in
    ``administrators``. Refused (:class:`Conflict`) when a row the plan changes is no longer as
    previewed. The audit row always records the real OS account, whatever ``login`` says.
    """
    if plan.action not in ACTIONS:
        raise InvalidInput(f"{plan.action!r} is not an admin action; use one of {ACTIONS}.")
    host = hostname if hostname is not None else socket.gethostname()
    eng = get_engine(engine)
    require_usable(eng)
    if eng.dialect.name != "postgresql":
        require_administrator(login, administrators)
    who = current_login() or "unknown"
    try:
        ensure_audit_table(eng)
        with write_transaction(eng) as conn:
            lock_instrument(conn, plan.instrument)
            before_rows = _session_rows(conn, plan.session_identifier)
            if _changed_since(plan, before_rows):
                raise _stale(plan)
            _carry_out(conn, plan)
            after_rows = _rows(conn, plan.session_identifier)
            _check_result(plan, after_rows)
            changed_ids = {c.before["id_session_log"] for c in plan.changes if c.before}
            before = [r for r in before_rows if r["id_session_log"] in changed_ids]
            old_ids = {r["id_session_log"] for r in before_rows}
            after = [
                r
                for r in after_rows
                if r["id_session_log"] in changed_ids or r["id_session_log"] not in old_ids
            ]
            at = datetime.now(UTC)
            account = _db_account(conn)
            values: dict[str, Any] = {
                "at": at.isoformat(),
                "login": who,
                "db_account": account,
                "hostname": host,
                "action": plan.action,
                "session_identifier": plan.session_identifier,
                "summary": plan.summary,
                "before": _json(before),
                "after": _json(after),
            }
            audit_id = append_audit_row(conn, values)
    except NexusLoggerError as err:
        message = str(err).lower()
        if "permission denied" in message or "nexus-logger rule" in message:
            raise NotAdministrator(
                f"The database account used for {describe(eng)} may not run admin actions "
                "(the server refused it); nothing was changed. Connect with the database's "
                "admin role (see docs/postgres-roles.md)."
            ) from err
        raise
    _logger.info(
        "Admin %s by %s on %s: %s", plan.action, who, plan.session_identifier, plan.summary
    )
    _advance_anchor(eng)
    return AuditEntry(
        audit_id,
        at,
        who,
        host,
        plan.action,
        plan.session_identifier,
        plan.summary,
        before,
        after,
        account,
    )


def append_audit_row(conn: Connection, values: dict[str, Any]) -> int:
    """Insert one audit row chained to the one before it (:mod:`audit_chain`); its id.

    ``values`` holds every column but ``id``, ``prev_hash`` and ``row_hash``; the caller's
    transaction makes the row commit with the change it describes.
    """
    advisory_lock(conn, "nexus_logger:audit")  # one chain: its writers take turns
    last = conn.execute(
        select(audit_table.c.id, audit_table.c.row_hash).order_by(audit_table.c.id.desc()).limit(1)
    ).first()
    values["prev_hash"] = last.row_hash if last is not None else None
    values["row_hash"] = audit_chain.row_hash(values)
    result = conn.execute(insert(audit_table).values(**values))
    return int(result.inserted_primary_key[0])


def _db_account(conn: Connection) -> str | None:
    """The account the server knows this connection by (None on SQLite: a file knows none)."""
    if conn.dialect.name != "postgresql":
        return None
    return str(conn.execute(text("SELECT session_user")).scalar_one())


def _database_key(eng: Any) -> str:
    from nexus_logger.core.durable import database_key

    return database_key(eng)


def check_audit_chain(engine: EngineLike = None) -> audit_chain.ChainReport:
    """Check the audit trail's hash chain and this PC's anchor; an intact chain moves it on."""
    eng = get_engine(engine)
    with read_connection(eng) as conn:
        if not table_exists(conn, audit_table):
            return audit_chain.ChainReport(0, None, None)
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        if "row_hash" not in have:
            return audit_chain.ChainReport(0, None, None)
        rows = [
            dict(r) for r in conn.execute(select(audit_table).order_by(audit_table.c.id)).mappings()
        ]
    key = _database_key(eng)
    report = audit_chain.verify_rows(rows, audit_chain.load_anchor(key))
    audit_chain.save_anchor(key, report)
    if not report.ok:
        _logger.warning("Audit trail of %s: %s", describe(eng), " ".join(report.problems))
    return report


def _advance_anchor(eng: Any) -> None:
    try:
        check_audit_chain(eng)
    except NexusLoggerError as err:  # the action itself committed; say so in the log only
        _logger.warning("Could not check the audit trail after the action: %s", err)


def _carry_out(conn: Connection, plan: ActionPlan) -> None:
    if plan.action == FORCE_END and plan.changes[-1].after["record_status"] == _ERROR:
        _insert_and_update(conn, plan)
        open_rule.release(conn, plan.session_identifier)
        return
    if plan.action == FORCE_END:
        at = timestamps.parse(plan.params["at"])
        ended = end_in_transaction(conn, session_identifier=plan.session_identifier, at=at)
        if ended.already_ended:
            raise _stale(plan)
        return
    _insert_and_update(conn, plan)


def _insert_and_update(conn: Connection, plan: ActionPlan) -> None:
    """Write the plan's rows as previewed: new rows inserted, changed rows only if unchanged."""
    for change in plan.changes:
        if change.before is None:
            conn.execute(
                insert(_T).values({k: v for k, v in change.after.items() if k != "id_session_log"})
            )
            continue
        before, after = change.before, change.after
        result = conn.execute(
            update(_T)
            .where(
                _T.c.id_session_log == before["id_session_log"],
                _T.c.record_status == before["record_status"],
                _T.c.user.is_(None) if before["user"] is None else _T.c.user == before["user"],
            )
            .values(record_status=after["record_status"], user=after["user"])
        )
        if result.rowcount != 1:
            raise _stale(plan)


def force_end(
    session_identifier: str,
    at: datetime,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a force-end without a preview step (CLI ``--yes``, scripts)."""
    return apply(
        plan_force_end(session_identifier, at, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


def requeue(
    session_identifier: str,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a re-queue without a preview step."""
    return apply(
        plan_requeue(session_identifier, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


def fix_user(
    session_identifier: str,
    user: str,
    *,
    login: str | None = None,
    administrators: Sequence[str] | None = None,
    engine: EngineLike = None,
) -> AuditEntry:
    """Plan and apply a user fix without a preview step."""
    return apply(
        plan_fix_user(session_identifier, user, engine=engine),
        login=login,
        administrators=administrators,
        engine=engine,
    )


# --------------------------------------------------------------------------------------------
# Reading the audit trail


def list_audit(
    *,
    session_identifier: str | None = None,
    limit: int | None = 500,
    engine: EngineLike = None,
) -> list[AuditEntry]:
    """Audit rows, newest first (empty when no admin action was ever run: nothing is created)."""
    eng = get_engine(engine)
    with read_connection(eng) as conn:
        if not table_exists(conn, audit_table):
            return []
        have = {c["name"] for c in inspect(conn).get_columns(audit_table.name)}
        stmt = select(*(c for c in audit_table.columns if c.name in have))
        stmt = stmt.order_by(audit_table.c.id.desc())
        if session_identifier:
            stmt = stmt.where(audit_table.c.session_identifier == session_identifier)
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = conn.execute(stmt).mappings().all()
    out = []
    for row in rows:
        try:
            at = timestamps.parse(row["at"])
        except timestamps.TimestampError:
            at = datetime.fromtimestamp(0, UTC)
        out.append(
            AuditEntry(
                id=int(row["id"]),
                at=at,
                login=row["login"],
                db_account=row.get("db_account"),
                hostname=row["hostname"],
                action=row["action"],
                session_identifier=row["session_identifier"],
                summary=row["summary"],
                before=_loads(row["before"]),
                after=_loads(row["after"]),
            )
        )
    return out


def _loads(text: str | None) -> list[dict[str, Any]]:
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    return data if isinstance(data, list) else []


# --------------------------------------------------------------------------------------------
# PostgreSQL roles


def postgres_roles_sql(**names: Any) -> str:
    """The server-side rules script (see :mod:`nexus_logger.core.postgres_roles`)."""
    from nexus_logger.core.postgres_roles import postgres_roles_sql as build

    return build(**names)
