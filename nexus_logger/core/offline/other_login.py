"""A session ended by another login: its END and its audit row in one transaction.

When one login's launch finds another login's session open and the user chooses to end it and
start their own (the window's owner dialog, :meth:`DurableLogger.replace`), or a login names
another's session to ``nexus-logger session end --session``, the session keeps
its real user (an END always carries its START's user) and is marked twice: a WARNING line in
the log of the PC, and a row in the audit table ``nexus_logger_audit`` (action
:data:`ACTION`, chained like every audit row, :mod:`audit_chain`), written in the END's own
transaction by whichever process sends that END: at once, or later from the outbox.

It lives with the offline keeping because only the END's senders call it
(:mod:`.session_ender`, :mod:`.sender_end`). The audit row is written by the audit trail's own
writer (``staff/admin_audit.py``), imported where the row is made, so that a START or END of
one's own session (every command, every launch) does not load the staff tools.

On PostgreSQL with the roles of docs/postgres-roles.md an instrument PC's account may not insert
audit rows (that right is what reserves admin actions to the admin role). There the server's
append-only change trail records the END with the database account, the log line names both
logins, and the audit row is left out (said in the log).
"""

from __future__ import annotations

import logging
import socket
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from nexus_logger.core.db.engine import write_transaction
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.sessions import lifecycle
from nexus_logger.core.sessions.lifecycle import EndedSession
from nexus_logger.core.sessions.time_rules import DEFAULT_RULES, TimeRules
from nexus_logger.core.settings.identity import same_user

__all__ = ["ACTION", "can_audit", "end_and_audit", "end_now"]

_logger = logging.getLogger(__name__)

#: The audit row's ``action``.
ACTION = "end_other_login"


def can_audit(eng: Engine) -> bool:
    """Whether this connection may write the audit row (made ready here, before the END's
    transaction: the table is created on SQLite, the right checked on PostgreSQL)."""
    from nexus_logger.core.staff.admin_audit import audit_table, ensure_audit_table

    try:
        ensure_audit_table(eng)  # nothing to do where it exists, as the roles script makes it
        if eng.dialect.name != "postgresql":
            return True
        with eng.connect() as conn:
            allowed = conn.execute(
                text("SELECT has_table_privilege(:t, 'INSERT')"), {"t": audit_table.name}
            ).scalar()
    except Exception as err:  # the END matters more than its audit row
        _logger.warning("The audit table cannot be written (%s); the log line marks the END", err)
        return False
    if not allowed:
        _logger.info(
            "This database account may not write audit rows: the server's change trail "
            "records the END of another login's session"
        )
    return bool(allowed)


def end_and_audit(
    conn: Connection,
    *,
    session_identifier: str,
    at: datetime,
    by: str,
    audit: bool,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
    login: str | None = None,
) -> EndedSession:
    """End the session (:func:`lifecycle.end_in_transaction`) and, when ``audit``, write the
    audit row saying that login ``by`` ended it; both commit with the caller's transaction.
    ``login`` (default ``by``) is the account the row names, when ``by`` is only the name the
    environment gives (:func:`~nexus_logger.core.settings.identity.ending_login`).

    Nothing is marked when the session turns out to be ``by``'s own (the same person under
    another spelling of the login): ending one's own session is no event for the trail."""
    from nexus_logger.core.staff.admin_audit import append_audit_row, db_account, rows_json
    from nexus_logger.core.staff.admin_plans import session_rows

    before = session_rows(conn, session_identifier)
    ended = lifecycle.end_in_transaction(
        conn, session_identifier=session_identifier, at=at, rules=rules, typed=typed
    )
    if ended.already_ended:
        return ended  # staff or another PC ended it first: nothing of ours to mark
    if same_user(ended.user, by):  # the user's own session: no event for the trail
        _logger.info(
            "Ended session %s on %s (%s)",
            session_identifier,
            ended.instrument.instrument_pid,
            ended.user,
        )
        return ended
    owner = ended.user or "an unknown user"
    who = login or by
    named = who if same_user(who, by) else f"{by} (OS account {who})"
    summary = (
        f"Session of {owner} on {ended.instrument.instrument_pid} (started "
        f"{ended.started.isoformat()}) ended at {ended.ended.isoformat()} by {named}, another "
        f"login; it keeps its user {owner}."
    )
    _logger.warning("%s", summary)
    if audit:
        changed = {r["id_session_log"] for r in before}
        after = session_rows(conn, session_identifier)
        values: dict[str, Any] = {
            "at": datetime.now(UTC).isoformat(),
            # The login that ended it, not whichever login's process sends the END later.
            "login": who,
            "db_account": db_account(conn),
            "hostname": socket.gethostname(),
            "action": ACTION,
            "session_identifier": session_identifier,
            "summary": summary,
            "before": rows_json(before),
            "after": rows_json(
                [r for r in after if r["id_session_log"] in changed or r["event_type"] == "END"]
            ),
        }
        append_audit_row(conn, values)
    return ended


def end_now(
    eng: Engine,
    *,
    session_identifier: str,
    at: datetime,
    by: str,
    rules: TimeRules = DEFAULT_RULES,
    typed: bool = False,
    login: str | None = None,
) -> EndedSession:
    """:func:`end_and_audit` in a transaction of its own (when no outbox keeps the END)."""
    require_usable(eng)
    audit = can_audit(eng)
    with write_transaction(eng) as conn:
        ended = end_and_audit(
            conn,
            session_identifier=session_identifier,
            at=at,
            by=by,
            audit=audit,
            rules=rules,
            typed=typed,
            login=login,
        )
    lifecycle.forget_open_here(session_identifier)  # this PC no longer counts it as open
    return ended
