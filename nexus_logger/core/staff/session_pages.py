"""The admin tab's list: one page of sessions in the query's order, and the counts per status.

Both anchor a session on its START row (:mod:`~nexus_logger.core.staff.session_query`), so
the first page of a large database comes at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Subquery, func, select

from nexus_logger.core.db.engine import EngineLike, get_engine, read_connection
from nexus_logger.core.db.schema import require_usable
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff.session_query import (
    QueryParts,
    SessionQuery,
    needs_joins,
    start_columns,
    summary_from_row,
)
from nexus_logger.core.staff.session_summary import SessionSummary, instrument_zones

__all__ = ["count_by_status", "matching_count", "query_sessions"]


def query_sessions(
    query: SessionQuery | None = None,
    *,
    offset: int = 0,
    limit: int | None = 200,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[SessionSummary]:
    """One page of sessions matching ``query``, in its order (ties broken by START row id).

    Cheap for the first pages of a large database: only the rows returned are joined with
    their END row, RECORD_GENERATION count and note. ``now`` fixes the end used to sort open
    sessions by end or duration (they are still running).
    """
    query = query or SessionQuery()
    eng = get_engine(engine)
    require_usable(eng)
    zones = instrument_zones(eng)
    with read_connection(eng) as conn:
        # The page is chosen first, joining only what the order and filters need (sorting
        # 100,000 STARTs by their own columns is cheap; looking up every END first is not);
        # then only the rows of the page get their END, RECORD_GENERATION count and note.
        page = _page(conn, query, offset=offset, limit=limit, now=now, zones=zones)
        rows = conn.execute(_page_rows(conn, query, page, now=now)).all()
    return [summary_from_row(row, zones, note=row[9]) for row in rows]


def _page(
    conn: Connection,
    query: SessionQuery,
    *,
    offset: int,
    limit: int | None,
    now: datetime | None,
    zones: dict[str, str],
) -> Subquery:
    """The START ids of the page and their sort keys, joined only with what the order needs."""
    needs_end = query.sort in ("end", "duration") or needs_joins(query)
    needs_note = query.sort == "note" or needs_joins(query)
    pi = QueryParts(conn, now=now, prefix="p")
    key = pi.sort_exprs[query.sort].label("sort_key")
    inner = (
        select(pi.s.c.id_session_log.label("sid"), key)
        .select_from(pi.from_(with_end=needs_end, with_note=needs_note))
        .where(*pi.where(query, zones=zones))
    )
    if query.descending:
        inner = inner.order_by(key.desc().nulls_last(), pi.s.c.id_session_log.desc())
    else:
        inner = inner.order_by(key.asc().nulls_last(), pi.s.c.id_session_log.asc())
    inner = inner.offset(max(0, int(offset)))
    if limit is not None:
        inner = inner.limit(max(0, int(limit)))
    return inner.subquery("page")


def _page_rows(
    conn: Connection, query: SessionQuery, page: Subquery, *, now: datetime | None
) -> Any:
    """The page's sessions with their END, RECORD_GENERATION count and note, in order."""
    p = QueryParts(conn, now=now)
    s, e = p.s, p.e
    if query.descending:
        order = [page.c.sort_key.desc().nulls_last(), page.c.sid.desc()]
    else:
        order = [page.c.sort_key.asc().nulls_last(), page.c.sid.asc()]
    stmt = (
        select(
            *start_columns(p),
            e.c.timestamp.label("end_ts"),
            e.c.user.label("end_user"),
            p.gen.label("gen"),
            p.note.label("note"),
        )
        .select_from(page.join(s, s.c.id_session_log == page.c.sid))
        .outerjoin(e, p.end_on)
        .order_by(*order)
    )
    if p.n is not None:
        stmt = stmt.outerjoin(p.n, p.n.c.session_identifier == s.c.session_identifier)
    return stmt


def count_by_status(
    query: SessionQuery | None = None, *, engine: EngineLike = None
) -> dict[str, int]:
    """Sessions per status under ``query``'s other filters (its statuses are ignored).

    Every one of the eight statuses is present (0 when none); a status outside the eight
    (a hand-edited row) is counted under its own text.
    """
    query = query or SessionQuery()
    eng = get_engine(engine)
    require_usable(eng)
    with read_connection(eng) as conn:
        p = QueryParts(conn, now=None)
        joins = needs_joins(query)
        stmt = (
            select(p.s.c.record_status, func.count())
            .select_from(p.from_(with_end=joins, with_note=joins))
            .where(*p.where(query, statuses=False))
            .group_by(p.s.c.record_status)
        )
        rows = conn.execute(stmt).all()
    counts = {status.value: 0 for status in RecordStatus}
    for status, n in rows:
        counts[str(status)] = counts.get(str(status), 0) + int(n)
    return counts


def matching_count(counts: dict[str, int], statuses: frozenset[str] | None) -> int:
    """How many sessions a query selects, from :func:`count_by_status` output."""
    if statuses is None:
        return sum(counts.values())
    return sum(n for status, n in counts.items() if status in statuses)
