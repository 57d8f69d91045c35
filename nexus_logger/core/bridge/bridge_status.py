"""What staff see of the bridge, read from PostgreSQL alone (Admin tab, ``doctor``, --status).

The bridge writes its last run, last error and what was left waiting into
``nexus_logger_bridge_state``, and a copy of every agreement point into PostgreSQL's ledger.
From those, PostgreSQL alone can say how many finished sessions still wait to be copied to
NexusLIMS (counted live, here) and how many results waited to be copied back at the last run
(only the bridge, which reads NexusLIMS's file, can count those).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from nexus_logger.core import timestamps
from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.db.engine import EngineLike, get_engine, is_sqlite, read_connection
from nexus_logger.core.db.logger_tables import table_exists
from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType, RecordStatus

_logger = logging.getLogger(__name__)

_T = session_log


@dataclass
class BridgeStatus:
    """The bridge as PostgreSQL sees it."""

    ever_ran: bool
    waiting_in: int  # complete TO_BE_BUILT sessions not yet copied to NexusLIMS (now)
    oldest_waiting_end: datetime | None = None
    waiting_out: int | None = None  # results waiting to be copied back (at the last run)
    in_progress: int | None = None
    last_run_at: str | None = None
    last_success_at: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    file_path: str | None = None
    host: str | None = None
    summary: str | None = None
    open_conflicts: list[dict[str, Any]] = field(default_factory=list)
    waiting_ends: list[datetime] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("waiting_ends")
        data["oldest_waiting_end"] = (
            self.oldest_waiting_end.isoformat() if self.oldest_waiting_end else None
        )
        return data

    def error_is_current(self) -> bool:
        """True when the last run failed (the error is newer than the last success)."""
        if not self.last_error:
            return False
        return not self.last_success_at or (self.last_error_at or "") > self.last_success_at

    def lines(self) -> list[str]:
        """Plain sentences for the terminal and the Admin tab."""
        if not self.ever_ran:
            first = "No bridge has run for this database yet."
        else:
            first = f"Last successful bridge run: {_short(self.last_success_at) or 'never'}"
            if self.host:
                first += f" (on {self.host})"
            first += "."
        out = [first, f"Waiting to be copied to NexusLIMS: {self.waiting_in} session(s)."]
        if self.waiting_out is not None:
            out.append(
                f"Waiting to be copied back at the last run: {self.waiting_out} result(s)"
                + (f", {self.in_progress} being built" if self.in_progress else "")
                + "."
            )
        if self.last_error:
            state = "Last error" if self.error_is_current() else "Earlier error"
            out.append(f"{state} ({_short(self.last_error_at)}): {self.last_error}")
        if self.open_conflicts:
            out.append(f"{len(self.open_conflicts)} conflict(s) wait for a decision:")
            for c in self.open_conflicts:
                out.append(f"  {c['session_identifier']}: {c['message']}")
        return out


def _short(value: str | None) -> str:
    if not value:
        return ""
    try:
        return timestamps.on_this_pc(datetime.fromisoformat(value))
    except ValueError:
        return value


def read_status(target: EngineLike = None) -> BridgeStatus | None:
    """The bridge's status in a PostgreSQL database; ``None`` for an SQLite database."""
    engine: Engine = get_engine(target)
    if is_sqlite(engine):
        return None
    with read_connection(engine) as conn:
        has_ledger = table_exists(conn, bt.ledger)
        base = bt.read_ledger(conn) if has_ledger else {}
        rows = _queued_rows(conn)
        state = None
        conflicts: list[dict[str, Any]] = []
        if table_exists(conn, bt.state):
            state = conn.execute(select(bt.state).where(bt.state.c.name == bt.STATE_KEY)).first()
            conflicts = [
                dict(c)
                for c in conn.execute(
                    select(bt.conflict)
                    .where(bt.conflict.c.resolved_at.is_(None))
                    .order_by(bt.conflict.c.id)
                ).mappings()
            ]
    # A session in conflict is not waiting to be copied: it waits for a decision.
    ends = _waiting_ends(rows, base, {c["session_identifier"] for c in conflicts})
    status = BridgeStatus(
        ever_ran=bool(state is not None and state.last_run_at),
        waiting_in=len(ends),
        oldest_waiting_end=min((at for at in ends if at is not None), default=None),
        open_conflicts=conflicts,
        waiting_ends=[at for at in ends if at is not None],
    )
    if state is not None:
        for name in _FROM_STATE:
            setattr(status, name, getattr(state, name))
    return status


#: What the status takes from the bridge's last run, as the bridge wrote it.
_FROM_STATE = (
    "waiting_out",
    "in_progress",
    "last_run_at",
    "last_success_at",
    "last_error",
    "last_error_at",
    "file_path",
    "host",
    "summary",
)


def _queued_rows(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every row of each session with a TO_BE_BUILT row, by session, in the order written."""
    queued = select(_T.c.session_identifier).where(
        _T.c.record_status == RecordStatus.TO_BE_BUILT.value
    )
    rows: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(
        select(_T).where(_T.c.session_identifier.in_(queued)).order_by(_T.c.id_session_log)
    ).mappings():
        rows.setdefault(r["session_identifier"], []).append(dict(r))
    return rows


def _waiting_ends(
    rows: dict[str, list[dict[str, Any]]],
    base: dict[str, bt.LedgerEntry],
    in_conflict: set[str],
) -> list[datetime | None]:
    """The END time of each complete session not yet copied as it is and in no conflict
    (None: unreadable)."""
    from nexus_logger.core.bridge.bridge_plan import pg_problem

    ends: list[datetime | None] = []
    for sid, srows in rows.items():
        if sid in in_conflict or pg_problem(srows) is not None:
            continue
        entry = base.get(sid)
        if entry is not None and entry.pg_fp == bt.fingerprint(srows):
            continue
        end = next(r for r in srows if r["event_type"] == EventType.END.value)
        try:
            ends.append(timestamps.parse(end["timestamp"]))
        except (ValueError, TypeError, timestamps.TimestampError):
            ends.append(None)
    return ends


def overdue(status: BridgeStatus, hours: float, now: datetime | None = None) -> int:
    """How many finished sessions have waited longer than ``hours`` for the bridge."""
    limit = (now or datetime.now(UTC)) - timedelta(hours=hours)
    return sum(1 for end in status.waiting_ends if end < limit)
