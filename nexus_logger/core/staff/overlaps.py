"""Sessions on one instrument whose times overlap, whoever wrote them.

NexusLIMS builds one record per session from the files written between its START and END, so
two sessions over the same time on one instrument give two records of the same files. The
lifecycle never writes such a pair (:mod:`~nexus_logger.core.sessions.open_rule`, ``sender``), but other
writers, hand edits and older loggers can. :func:`find_overlaps` reads every session's START and
END instants in one query (``instant()`` converts the stored text on the server) and sweeps each
instrument in start order; a pair is reported when at least one of the two is still open or
waiting to be built, because only then can anything be done before NexusLIMS builds it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, select

from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.staff.sql_instant import instant

__all__ = ["Overlap", "SessionSpan", "find_overlaps"]

_T = session_log
_S = _T.alias("s")
_E = _T.alias("e")
_ACTIONABLE = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

_SPANS = (
    select(
        _S.c.id_session_log,
        _S.c.session_identifier,
        _S.c.instrument,
        _S.c.user,
        _S.c.timestamp,
        _S.c.record_status,
        instant(_S.c.timestamp).label("began"),
        _E.c.timestamp.label("end_text"),
        instant(_E.c.timestamp).label("ended"),
    )
    .select_from(
        _S.outerjoin(
            _E,
            and_(
                _E.c.session_identifier == _S.c.session_identifier,
                _E.c.event_type == EventType.END.value,
            ),
        )
    )
    .where(_S.c.event_type == EventType.START.value)
    .order_by(_S.c.instrument, _S.c.id_session_log)
)


@dataclass(frozen=True)
class SessionSpan:
    """One session's START row and the instants it covers (``ended`` None: still open)."""

    start_id: int
    session_identifier: str
    instrument: str
    user: str | None
    start_text: str
    status: str
    began: float
    end_text: str | None
    ended: float | None

    def until(self, now: float) -> float:
        return self.ended if self.ended is not None else now


@dataclass(frozen=True)
class Overlap:
    """``later`` starts before ``earlier`` has ended, on the same instrument."""

    earlier: SessionSpan
    later: SessionSpan


def find_overlaps(conn: Connection, now: float) -> list[Overlap]:
    """Every overlapping pair on an instrument where one session is open or to be built.

    ``now`` (seconds since the epoch) is where an open session ends for the comparison.
    Sessions whose START or END cannot be read are left to the unreadable-timestamp problem.
    """
    spans: dict[str, list[SessionSpan]] = {}
    seen: set[str] = set()
    for row in conn.execute(_SPANS):
        if row.session_identifier in seen or row.began is None:
            continue
        if row.end_text is not None and row.ended is None:
            continue
        seen.add(row.session_identifier)
        spans.setdefault(row.instrument, []).append(SessionSpan(*row))
    found: list[Overlap] = []
    for sessions in spans.values():
        sessions.sort(key=lambda s: s.began)
        reach: SessionSpan | None = None  # the session reaching furthest so far
        for span in sessions:
            if reach is not None and span.began < reach.until(now):
                if span.status in _ACTIONABLE or reach.status in _ACTIONABLE:
                    found.append(Overlap(reach, span))
            if reach is None or span.until(now) > reach.until(now):
                reach = span
    return found
