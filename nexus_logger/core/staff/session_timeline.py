"""The sessions the Admin tab's timeline draws: those overlapping a window of time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select

from nexus_logger.core.db.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import InvalidInput
from nexus_logger.core.staff.session_query import QueryParts, start_columns, summary_from_row
from nexus_logger.core.staff.session_summary import SessionSummary, instrument_zones

__all__ = ["TIMELINE_LOOKBACK", "timeline_sessions"]

#: Sessions that started this long before a timeline window are not looked for (unless open).
TIMELINE_LOOKBACK = timedelta(days=40)


def timeline_sessions(
    start: datetime,
    end: datetime,
    *,
    instrument: str | None = None,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """Sessions that overlap ``[start, end)`` (aware datetimes), for the timeline picture.

    Open sessions count as running until ``now``. To stay fast without an index on
    timestamps, only STARTs written up to :data:`TIMELINE_LOOKBACK` before the window (and
    every START still waiting for its END) are considered.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("The timeline window needs time-zone-aware start and end times.")
    now = now or datetime.now(UTC)
    eng = get_engine(engine)
    require_usable(eng)
    zones = instrument_zones(eng)
    lo = (start - TIMELINE_LOOKBACK - timedelta(days=1)).date().isoformat()
    hi = (end + timedelta(days=1)).date().isoformat()
    with read_connection(eng) as conn:
        p = QueryParts(conn, now=now)
        rows = conn.execute(_candidates(p, lo, hi, instrument)).all()
    out = []
    for row in rows:
        summary = summary_from_row(row, zones)
        began, ended = summary.start, summary.end
        if began is None or began >= end or (ended or now) < start:
            continue
        out.append(summary)
    return out


def _candidates(p: QueryParts, lo: str, hi: str, instrument: str | None) -> Any:
    """STARTs written between the days ``lo`` and ``hi``, or still open, with their END."""
    s, e = p.s, p.e
    day = func.substr(s.c.timestamp, 1, 10)
    cond = [
        s.c.event_type == EventType.START.value,
        or_(and_(day >= lo, day <= hi), s.c.record_status == RecordStatus.WAITING_FOR_END),
    ]
    if instrument:
        cond.append(s.c.instrument == instrument)
    return (
        select(*start_columns(p), e.c.timestamp, e.c.user, p.gen)
        .select_from(p.from_(with_note=False))
        .where(*cond)
        .order_by(s.c.id_session_log)
    )
