"""The SQLite path of ``get_sessions_to_build``: the TO_BE_BUILT START and END rows read in one
scan in id order, paired as they go by (why this way, and the figures: :mod:`pairing` and
docs/performance.md).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from operator import attrgetter
from typing import Any

from sqlalchemy import Connection

from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType
from nexus_logger.core.sessions.pairing import driver_rows, rows_in_id_order_statement
from nexus_logger.core.sessions.session_factory import SessionFactory

__all__ = ["pair_every_case", "pair_in_id_order"]

_T = session_log
_START = EventType.START.value


def pair_in_id_order(conn: Connection, factory: SessionFactory) -> tuple[list[Any], array]:
    """The SQLite path: every TO_BE_BUILT session in START order, and the START ids.

    One scan in id order pairs each START with the END that follows it under the same key
    while no other row of its identifier comes between. The identifiers where that is not the
    whole story (``_pair_usual`` says which, and two STARTs of one identifier are looked for
    afterwards) are paired again from all their rows by :func:`pair_every_case`. ``conn``'s
    transaction keeps both reads on the same state of the table.
    """
    rows = driver_rows(conn, rows_in_id_order_statement())
    order, ids, unusual = _pair_usual(rows, factory)
    if len(set(map(_identifier, order))) != len(order):  # one pass in C over cached hashes
        seen: set[str] = set()
        unusual.update(i for i in map(_identifier, order) if i in seen or seen.add(i))
    if unusual:
        _pair_again(conn, order, ids, unusual, factory)
    return order, ids


_identifier = attrgetter("session_identifier")


def _pair_usual(
    rows: Iterable[tuple[Any, ...]], factory: SessionFactory
) -> tuple[list[Any], array, set[str]]:
    """Sessions of a START followed by its END, and the identifiers that need the full rule.

    An END takes the waiting START of its identifier if the key matches; any END that finds
    none (written first, a second END, another user or instrument) and any START whose
    identifier is already waiting marks its identifier as unusual.
    """
    waiting: dict[str, Any] = {}  # identifier -> START without an END yet: a few entries
    unusual: set[str] = set()
    order: list[Any] = []
    ids = array("q")
    put_first, take = waiting.setdefault, waiting.pop
    parse, per_pid, make = factory.parse, factory.per_pid, factory.session
    for row_id, event, ident, pid, user, text in rows:
        instrument, zone = per_pid.get(pid) or factory.instrument_and_zone(pid)
        value = parse(text, zone)
        if event == _START:
            session = make(ident, instrument, user, value, None)
            if put_first(ident, session) is not session:
                unusual.add(ident)
            order.append(session)
            ids.append(row_id)
            continue
        session = take(ident, None)
        if session is not None and session.user == user and session.instrument is instrument:
            session.dt_to = value
        else:
            unusual.add(ident)
    return order, ids, unusual


def _pair_again(
    conn: Connection, order: list[Any], ids: array, unusual: set[str], factory: SessionFactory
) -> None:
    """Replace the sessions of ``unusual`` identifiers by the full rule over all their rows.

    A few identifiers are read through the index in one query. Many are read by a second
    scan in id order, filtered here: batches of index reads cost more than that scan, and on
    NexusLIMS 1.x's table, which has no index, each batch was a scan of its own (46 s at
    200,000 sessions all unusual; docs/performance.md).
    """
    if len(unusual) <= _READ_AGAIN_THROUGH_INDEX:
        stmt = rows_in_id_order_statement().where(_T.c.session_identifier.in_(list(unusual)))
        rows: Iterable[tuple[Any, ...]] = driver_rows(conn, stmt)
    else:
        rows = (r for r in driver_rows(conn, rows_in_id_order_statement()) if r[2] in unusual)
    again, again_ids = pair_every_case(rows, factory)
    by_start = dict(zip(again_ids, again, strict=True))
    for i, session in enumerate(order):
        if session.session_identifier in unusual:
            order[i] = by_start[ids[i]]


#: At most this many unusual identifiers are read again in one query through the index.
_READ_AGAIN_THROUGH_INDEX = 500


def pair_every_case(
    rows: Iterable[tuple[Any, ...]], factory: SessionFactory
) -> tuple[list[Any], array]:
    """Pair rows given as (id, event, identifier, instrument, user, time), in id order.

    A START becomes a session at once; an END sets the end of every earlier START it matches
    (a later END is newer, so it wins). An END that no earlier START matches is kept aside for
    a later START (rare: an END row written before its START). A later START with the key of
    an earlier one takes that one's newest END so far. Returns the sessions in START order
    (``dt_to`` ``None`` when no END matched) and their START ids.
    """
    by_ident: dict[str, Any] = {}  # identifier -> session, or list of sessions
    early: dict[str, list[tuple[str, Any, Any]]] = {}
    order: list[Any] = []
    ids = array("q")
    # Each row's instrument and time are looked up and parsed once, before the START/END
    # branch (an END's time was parsed again for each session it matched).
    get, put_first = by_ident.get, by_ident.setdefault
    parse, per_pid, make = factory.parse, factory.per_pid, factory.session
    for row_id, event, ident, pid, user, text in rows:
        instrument, zone = per_pid.get(pid) or factory.instrument_and_zone(pid)
        value = parse(text, zone)
        if event != _START:
            found = get(ident)
            if found is not None and found.__class__ is not list:  # the usual case
                if found.user == user and found.instrument is instrument:
                    found.dt_to = value
                    continue
            if not _end_of_group(found, pid, user, value):
                early.setdefault(ident, []).append((pid, user, value))
            continue
        session = make(ident, instrument, user, value, None)
        found = put_first(ident, session)
        if found is not session:  # an earlier START with this identifier
            group = found if found.__class__ is list else [found]
            for other in group:
                if _same_key(other, pid, user):
                    session.dt_to = other.dt_to
                    break
            group.append(session)
            by_ident[ident] = group
        if session.dt_to is None and ident in early:
            for e_pid, e_user, e_value in reversed(early[ident]):
                if e_pid == pid and e_user == user:
                    session.dt_to = e_value
                    break
        order.append(session)
        ids.append(row_id)
    return order, ids


def _end_of_group(found: Any, pid: str, user: Any, end: Any) -> bool:
    """Give ``end`` to every session of ``found`` (one or a list) with its key; True if any."""
    matched = False
    if found is not None:
        for session in found if isinstance(found, list) else (found,):
            if _same_key(session, pid, user):
                session.dt_to = end
                matched = True
    return matched


def _same_key(session: Any, pid: str, user: Any) -> bool:
    return session.user == user and session.instrument.instrument_pid == pid
