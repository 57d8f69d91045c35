"""Carrying out a previewed admin action: in one transaction, refused when the rows changed
since the preview, with its audit row committed together with the change."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, update

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import describe, write_transaction
from nexus_logger.core.db.models import session_log
from nexus_logger.core.errors import Conflict, NexusLoggerError, RefusedByDatabase, ServerRule
from nexus_logger.core.sessions import open_rule
from nexus_logger.core.sessions.lifecycle import end_in_transaction, lock_instrument
from nexus_logger.core.staff.admin_audit import (
    AuditEntry,
    append_audit_row,
    check_audit_chain,
    db_account,
    ensure_audit_table,
    rows_json,
)
from nexus_logger.core.staff.admin_plans import (
    ERROR,
    FORCE_END,
    ActionPlan,
    existing_rows,
    session_rows,
)

_logger = logging.getLogger(__name__)

_T = session_log


class NotAdministrator(RefusedByDatabase):
    """The person (or the database account) may not run admin actions."""


def perform(plan: ActionPlan, *, who: str, host: str, eng: Any) -> AuditEntry:
    """Make the change of ``plan`` and write its audit row (recording ``who`` and ``host``).

    The caller has checked who may; here a refusal by the database server (its rules for the
    instrument role) becomes :class:`NotAdministrator`, and rows changed since the preview a
    :class:`Conflict`.
    """
    try:
        ensure_audit_table(eng)
        with write_transaction(eng) as conn:
            entry = _change_and_audit(conn, plan, who, host)
    except NexusLoggerError as err:
        if isinstance(err, ServerRule) or "permission denied" in str(err).lower():
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
    return entry


def _change_and_audit(conn: Connection, plan: ActionPlan, who: str, host: str) -> AuditEntry:
    lock_instrument(conn, plan.instrument)
    before_rows = existing_rows(conn, plan.session_identifier)
    if _changed_since(plan, before_rows):
        raise _stale(plan)
    _carry_out(conn, plan)
    after_rows = session_rows(conn, plan.session_identifier)
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
    account = db_account(conn)
    values: dict[str, Any] = {
        "at": at.isoformat(),
        "login": who,
        "db_account": account,
        "hostname": host,
        "action": plan.action,
        "session_identifier": plan.session_identifier,
        "summary": plan.summary,
        "before": rows_json(before),
        "after": rows_json(after),
    }
    audit_id = append_audit_row(conn, values)
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


def _advance_anchor(eng: Any) -> None:
    try:
        check_audit_chain(eng)
    except NexusLoggerError as err:  # the action itself committed; say so in the log only
        _logger.warning("Could not check the audit trail after the action: %s", err)


def _changed_since(plan: ActionPlan, rows: list[dict[str, Any]]) -> bool:
    current = {r["id_session_log"]: r for r in rows}
    for change in plan.changes:
        if change.before is None:
            continue
        if current.get(change.before["id_session_log"]) != change.before:
            return True
    return False


class StalePreview(Conflict):
    """The session's rows changed between the preview and the apply: nothing was written."""


def _stale(plan: ActionPlan) -> StalePreview:
    return StalePreview(
        f"Nothing was changed: session {plan.session_identifier} changed after the preview "
        "was made. Look at the session again and repeat the action if it is still needed."
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


def _carry_out(conn: Connection, plan: ActionPlan) -> None:
    if plan.action == FORCE_END and plan.changes[-1].after["record_status"] == ERROR:
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
