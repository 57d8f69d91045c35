"""The staff's view of sessions: one row per session (START, END and RECORD_GENERATION folded).

:func:`list_sessions` (the files check of sessions waiting to be built) folds every row with
one GROUP BY; :func:`session_events` lists one session's rows. The Admin tab's list, timeline and
export live beside this module (``session_pages``, ``session_timeline``, ``session_csv``,
built from ``session_query``) and are importable from here too, where callers have always
found them.
"""

from __future__ import annotations

import logging

from sqlalchemy import case, func, select

from nexus_logger.core import timestamps
from nexus_logger.core.db.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.db.models import session_log
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.staff.session_csv import CSV_COLUMNS, csv_row, export_csv, write_csv
from nexus_logger.core.staff.session_pages import count_by_status, matching_count, query_sessions
from nexus_logger.core.staff.session_query import SORT_KEYS, SessionQuery
from nexus_logger.core.staff.session_summary import (
    SessionEvent,
    SessionSummary,
    instrument_zones,
    parse_stored,
)
from nexus_logger.core.staff.session_timeline import TIMELINE_LOOKBACK, timeline_sessions

__all__ = [
    "CSV_COLUMNS",
    "SORT_KEYS",
    "TIMELINE_LOOKBACK",
    "SessionEvent",
    "SessionQuery",
    "SessionSummary",
    "count_by_status",
    "csv_row",
    "export_csv",
    "list_sessions",
    "matching_count",
    "query_sessions",
    "session_events",
    "timeline_sessions",
    "write_csv",
]

_logger = logging.getLogger(__name__)

_T = session_log


def _summary_query():
    ev = _T.c.event_type
    start_only = ev == EventType.START.value
    end_only = ev == EventType.END.value
    return select(
        _T.c.session_identifier,
        func.coalesce(
            func.max(case((start_only, _T.c.instrument))), func.max(_T.c.instrument)
        ).label("instrument"),
        func.max(case((start_only, _T.c.user))).label("user"),
        func.max(case((end_only, _T.c.user))).label("end_user"),
        func.min(case((start_only, _T.c.timestamp))).label("start"),
        func.max(case((end_only, _T.c.timestamp))).label("end"),
        func.coalesce(
            func.max(case((start_only, _T.c.record_status))),
            func.max(_T.c.record_status),
        ).label("status"),
        func.sum(case((ev == EventType.RECORD_GENERATION.value, 1), else_=0)).label("gen"),
        func.min(_T.c.id_session_log).label("first_id"),
    ).group_by(_T.c.session_identifier)


def list_sessions(
    *,
    status: RecordStatus | str | None = None,
    instrument: str | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """All sessions, oldest first, optionally only those with ``status`` / on ``instrument``."""
    eng = get_engine(engine)
    require_usable(eng)
    zones = instrument_zones(eng)
    stmt = _summary_query()
    if status is not None:
        stmt = stmt.having(
            func.coalesce(
                func.max(case((_T.c.event_type == EventType.START.value, _T.c.record_status))),
                func.max(_T.c.record_status),
            )
            == RecordStatus.parse(status).value
        )
    if instrument:
        stmt = stmt.where(_T.c.instrument == instrument)
    stmt = stmt.order_by("first_id")
    out: list[SessionSummary] = []
    with read_connection(eng) as conn:
        for row in conn.execute(stmt).mappings():
            tz = zones.get(row["instrument"])
            out.append(
                SessionSummary(
                    session_identifier=row["session_identifier"],
                    instrument=row["instrument"],
                    user=row["user"],
                    start=parse_stored(row["start"], tz),
                    end=parse_stored(row["end"], tz),
                    status=row["status"],
                    record_generation_events=int(row["gen"] or 0),
                    start_text=row["start"],
                    end_text=row["end"],
                    end_user=row["end_user"],
                )
            )
    return out


def session_events(session_identifier: str, *, engine: EngineLike = None) -> list[SessionEvent]:
    """Every row of one session (START, END, RECORD_GENERATION...), in the order written."""
    eng = get_engine(engine)
    require_usable(eng)
    zones = instrument_zones(eng)
    stmt = (
        select(
            _T.c.id_session_log,
            _T.c.session_identifier,
            _T.c.instrument,
            _T.c.event_type,
            _T.c.record_status,
            _T.c.user,
            _T.c.timestamp,
        )
        .where(_T.c.session_identifier == session_identifier)
        .order_by(_T.c.id_session_log)
    )
    with read_connection(eng) as conn:
        rows = conn.execute(stmt).all()
    out = []
    for row_id, ident, pid, event, status, user, stamp in rows:
        text = "" if stamp is None else str(stamp)
        out.append(
            SessionEvent(
                id_session_log=row_id,
                session_identifier=ident,
                instrument=pid,
                event_type=event,
                record_status=status,
                user=user,
                timestamp_text=text,
                timestamp=parse_stored(text, zones.get(pid)),
                naive=timestamps.is_naive(text),
            )
        )
    return out
