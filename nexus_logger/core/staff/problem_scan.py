"""The database side of the problem search: one grouped scan picks suspicious sessions, then
only their rows are loaded for the checks in :mod:`~nexus_logger.core.staff.problem_checks`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select

from nexus_logger.core.db.models import instruments, session_log
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.staff.sql_instant import instant

_T = session_log
_I = instruments

#: Statuses a session can get stuck in after a failed build; re-queue it once the cause is fixed.
STUCK_STATUSES = (RecordStatus.ERROR.value, RecordStatus.NO_FILES_FOUND.value)

#: Statuses of a session NexusLIMS has not built yet: a long one can still be corrected.
NOT_BUILT = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

#: A START this far after now is in the future (the clocks of two PCs never agree exactly).
FUTURE_SLACK = timedelta(minutes=5)

#: How many session identifiers go into one ``IN (...)`` when loading suspicious rows.
_BATCH = 500


@dataclass(frozen=True)
class Row:
    """One ``session_log`` row, in the table's column order."""

    id: int
    session_identifier: str
    instrument: str
    timestamp: str
    event_type: str
    record_status: str
    user: str | None


def _naive_sql(column: Any) -> Any:
    """True for stored text without a UTC offset (or ``Z``); garbage counts too, checked later."""
    return ~or_(column.like("%+__:__"), column.like("%-__:__"), column.like("%Z"))


def _count(cond: Any) -> Any:
    return func.sum(case((cond, 1), else_=0))


def _suspicion(now: datetime, long_limit: timedelta) -> Any:
    """The HAVING condition: true for a session whose aggregates look anything but healthy."""
    ev = _T.c.event_type
    is_start = ev == EventType.START.value
    is_end = ev == EventType.END.value

    def of(cond: Any, value: Any) -> Any:
        return case((cond, value))

    start_user = func.max(of(is_start, _T.c.user))
    end_user_max = func.max(of(is_end, _T.c.user))
    start_inst = func.max(of(is_start, _T.c.instrument))
    end_inst_max = func.max(of(is_end, _T.c.instrument))
    start_status = func.max(of(is_start, _T.c.record_status))
    end_status_max = func.max(of(is_end, _T.c.record_status))
    n_end_tbb = _count(and_(is_end, _T.c.record_status == RecordStatus.TO_BE_BUILT.value))
    start_at = func.min(of(is_start, instant(_T.c.timestamp)))
    end_at = func.max(of(is_end, instant(_T.c.timestamp)))
    return or_(
        _count(is_start) != 1,
        _count(is_end) != 1,
        func.min(of(is_start, _T.c.user)) != start_user,
        func.min(of(is_end, _T.c.user)) != end_user_max,
        start_user != end_user_max,
        _count(and_(is_start, _T.c.user.is_(None))) != _count(and_(is_end, _T.c.user.is_(None))),
        start_inst != end_inst_max,
        func.min(of(is_end, _T.c.instrument)) != end_inst_max,
        and_(start_status == RecordStatus.TO_BE_BUILT.value, n_end_tbb == 0),
        start_status != end_status_max,
        func.min(of(is_end, _T.c.record_status)) != end_status_max,
        _count(_T.c.record_status.in_(STUCK_STATUSES)) > 0,
        end_at < start_at,
        _count(_naive_sql(_T.c.timestamp)) > 0,
        _count(instant(_T.c.timestamp).is_(None)) > 0,
        _count(_I.c.instrument_pid.is_(None)) > 0,
        start_at > (now + FUTURE_SLACK).timestamp(),
        and_(start_status.in_(NOT_BUILT), end_at - start_at > long_limit.total_seconds()),
    )


def suspicious_sessions(conn: Any, now: datetime, long_limit: timedelta) -> list[str]:
    """Identifiers of sessions that might have a problem (one grouped scan of session_log)."""
    stmt = (
        select(_T.c.session_identifier)
        .select_from(_T.outerjoin(_I, _I.c.instrument_pid == _T.c.instrument))
        .group_by(_T.c.session_identifier)
        .having(_suspicion(now, long_limit))
    )
    return [row[0] for row in conn.execute(stmt)]


def rows_of(conn: Any, identifiers: Sequence[str]) -> dict[str, list[Row]]:
    """The rows of the given sessions, by identifier, in id order."""
    out: dict[str, list[Row]] = {}
    for i in range(0, len(identifiers), _BATCH):
        chunk = list(identifiers[i : i + _BATCH])
        stmt = (
            select(*_T.c)  # the columns of Row, in the table's order
            .where(_T.c.session_identifier.in_(chunk))
            .order_by(_T.c.id_session_log)
        )
        for row in conn.execute(stmt):
            item = Row(*row)
            out.setdefault(item.session_identifier, []).append(item)
    return out
