"""Pairing TO_BE_BUILT STARTs with their ENDs, for ``get_sessions_to_build`` at a million sessions.

NexusLIMS's rule (``nexusLIMS.db.session_handler.get_sessions_to_build``): every TO_BE_BUILT
START pairs with the newest (highest id) TO_BE_BUILT END whose ``session_identifier``,
``instrument`` and ``user`` are equal to its own (Python ``==``: two NULL users match, a NULL
never matches ``''``); sessions come out in START row order.

The way to the pairs depends on the backend, because NexusLIMS gives ``session_log`` one index
(on ``session_identifier``) and its identifiers are random ``uuid4`` values:

* **SQLite** runs in this process and has no hash join. A join finds each END through that
  index, which reads the table in random order: 9.5 s for 1,000,000 sessions on the benchmark
  machine, a third of it system time. So the rows are read in one scan in id order (2.6 s)
  and paired as they go by (``pairing_scan``). The usual session (one START, then its one
  END) is paired through a dictionary of the STARTs still waiting for their END, which stays
  small: a dictionary of every identifier cost 0.6 s more at a million sessions, in cache
  misses as it grew. Every identifier with anything else (an END first, two ENDs, two
  STARTs, another user) is read again, in the same read transaction, and paired by the full
  rule: a few through the index, many by a second scan (a handful in a real database; the
  second scan doubles the reading).
* **PostgreSQL** hash-joins STARTs and ENDs in one pass over the table (parallel workers where
  the server allows), and the result is streamed in chunks (:func:`pair_joined`), never held
  whole in the client's memory.

Either way each session costs one ``Session`` object, its identifier and two datetimes that
share one tzinfo per UTC offset (a ``datetime.fromisoformat`` result carries its own), made by
:class:`~nexus_logger.core.sessions.session_factory.SessionFactory`: about 370 MB (SQLite) and
375 MB (PostgreSQL) for a million sessions. Figures: docs/performance.md.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import compress
from operator import is_not
from typing import Any

from sqlalchemy import Connection, Select, and_, func, select

from nexus_logger.core.db.engine import describe
from nexus_logger.core.db.models import session_log
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import translate
from nexus_logger.core.sessions.session_factory import SessionFactory

__all__ = [
    "BadSession",
    "bad_sessions",
    "driver_rows",
    "pair_joined",
    "rows_in_id_order_statement",
    "sessions_to_build_statement",
    "small_page_cache",
]

_T = session_log
_START, _END = EventType.START.value, EventType.END.value
_CHUNK = 5000  # rows per chunk when streaming from PostgreSQL


@dataclass(frozen=True, slots=True)
class BadSession:
    """A TO_BE_BUILT START that gives no session: no matching END, or an unreadable time.

    ``bad_text`` is the timestamp text that is not ISO-8601 (``None``: the END is missing).
    """

    start_id: int
    session_identifier: str
    instrument: str
    user: str | None
    start_text: str
    bad_text: str | None


def sessions_to_build_statement() -> Select[Any]:
    """Every TO_BE_BUILT START joined with every matching TO_BE_BUILT END (PostgreSQL path).

    Columns: START id, identifier, instrument, user, START time, END id, END time (NULL when
    none matches). A START with several matching ENDs comes once per END; the newest is kept
    by :func:`pair_joined`. Only plain equalities join the two sides, so the server can
    hash-join them: the second user condition makes NULL match only NULL.
    """
    s, e = _T.alias("s"), _T.alias("e")
    return (
        select(
            s.c.id_session_log,
            s.c.session_identifier,
            s.c.instrument,
            s.c.user,
            s.c.timestamp,
            e.c.id_session_log,
            e.c.timestamp,
        )
        .select_from(s)
        .outerjoin(
            e,
            and_(
                e.c.session_identifier == s.c.session_identifier,
                e.c.instrument == s.c.instrument,
                func.coalesce(e.c.user, "") == func.coalesce(s.c.user, ""),
                e.c.user.is_(None) == s.c.user.is_(None),
                e.c.event_type == _END,
                e.c.record_status == RecordStatus.TO_BE_BUILT.value,
            ),
        )
        .where(s.c.event_type == _START, s.c.record_status == RecordStatus.TO_BE_BUILT.value)
    )


def rows_in_id_order_statement() -> Select[Any]:
    """Every TO_BE_BUILT START and END row in id order (SQLite path: one scan by rowid)."""
    return (
        select(
            _T.c.id_session_log,
            _T.c.event_type,
            _T.c.session_identifier,
            _T.c.instrument,
            _T.c.user,
            _T.c.timestamp,
        )
        .where(
            _T.c.record_status == RecordStatus.TO_BE_BUILT.value,
            _T.c.event_type.in_([_START, _END]),
        )
        .order_by(_T.c.id_session_log)
    )


def driver_rows(conn: Connection, stmt: Select[Any]) -> Iterable[tuple[Any, ...]]:
    """The rows of ``stmt`` as the driver's plain tuples, with bound parameters.

    PostgreSQL: streamed in chunks of :data:`_CHUNK` rows (psycopg's ``stream``), so neither
    the client library nor Python holds the whole result. SQLite: the cursor's own iteration.
    """
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    sql = str(compiled)
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        return _stream(raw, sql, compiled.params, describe(conn.engine))
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    return raw.execute(sql, params)


def _stream(raw: Any, sql: str, params: Any, where: str) -> Iterator[tuple[Any, ...]]:
    import psycopg

    cursor = raw.cursor()
    try:
        try:
            yield from cursor.stream(sql, params, size=_CHUNK)
        except psycopg.NotSupportedError:  # libpq before 17 has no chunked rows
            yield from cursor.stream(sql, params)
    except psycopg.Error as err:  # the driver's own error: SQLAlchemy is not in between
        raise translate(err, where) from err


def pair_joined(
    rows: Iterable[tuple[Any, ...]], factory: SessionFactory
) -> tuple[list[Any], array]:
    """Sessions from joined rows (:func:`sessions_to_build_statement`), in any order.

    Returns them in START order, one per START (the newest END where several matched), with
    their START ids.
    """
    sessions: list[Any] = []
    starts, ends = array("q"), array("q")
    parse, per_pid, make = factory.parse, factory.per_pid, factory.session
    for start_id, ident, pid, user, start_text, end_id, end_text in rows:
        instrument, zone = per_pid.get(pid) or factory.instrument_and_zone(pid)
        end = None if end_text is None else parse(end_text, zone)
        sessions.append(make(ident, instrument, user, parse(start_text, zone), end))
        starts.append(start_id)
        ends.append(-1 if end_id is None else end_id)
    if all(starts[i] < starts[i + 1] for i in range(len(starts) - 1)):
        return sessions, starts  # already in START order, one row per START
    placed = _placed_by_id(sessions, starts)  # out of order (parallel or batched hash join)
    if placed is not None:
        return placed
    # A START with several ENDs (or ids too sparse for a table). One int per row (START id,
    # then position) sorts without a key function's second list of objects.
    shift = max(1, len(starts)).bit_length()
    keys = sorted(start_id << shift | i for i, start_id in enumerate(starts))
    del starts
    order: list[Any] = []
    ids = array("q")
    newest = -2
    mask = (1 << shift) - 1
    for key in keys:
        i, start_id = key & mask, key >> shift
        if ids and ids[-1] == start_id:
            if ends[i] > newest:  # same START, newer END
                order[-1], newest = sessions[i], ends[i]
        else:
            order.append(sessions[i])
            ids.append(start_id)
            newest = ends[i]
    return order, ids


def _placed_by_id(sessions: list[Any], starts: array) -> tuple[list[Any], array] | None:
    """The sessions in START order through a list indexed by START id, without a sort.

    ``None`` when a START came twice (several ENDs: the caller keeps the newest) or the ids
    are too far apart. The list costs one pointer per id between the lowest and the highest
    START (18 MB for the 2.3 million ids of the bench's million sessions): 33-35 MB at the
    peak, against 40-57 MB for sorting a million keys, in about the same time
    (docs/performance.md).
    """
    low, high = min(starts), max(starts)
    if high - low >= 4 * len(starts) + 1024:
        return None
    slots: list[Any] = [None] * (high - low + 1)
    for session, start_id in zip(sessions, starts, strict=True):
        if slots[start_id - low] is not None:
            return None
        slots[start_id - low] = session
    # Exactly the filled slots (``is not None``, whatever the session class), in C loops.
    filled = partial(is_not, None)
    ids = array("q", compress(range(low, high + 1), map(filled, slots)))
    return list(filter(filled, slots)), ids


def bad_sessions(
    conn: Connection, order: list[Any], ids: array, factory: SessionFactory
) -> dict[int, BadSession]:
    """The sessions of ``order`` NexusLIMS cannot build, by position, with their START text.

    Unreadable times are looked for only when ``factory`` met one (30 ms at 100,000 sessions).
    """
    text = factory.unreadable > 0
    bad = {
        i: s
        for i, s in enumerate(order)
        if s.dt_to is None or (text and (isinstance(s.dt_from, str) or isinstance(s.dt_to, str)))
    }
    if not bad:
        return {}
    wanted = [ids[i] for i in bad]
    texts: dict[int, str] = {}
    for n in range(0, len(wanted), 500):
        chunk = wanted[n : n + 500]
        stmt = select(_T.c.id_session_log, _T.c.timestamp).where(_T.c.id_session_log.in_(chunk))
        texts.update((row_id, text) for row_id, text in conn.execute(stmt))
    out: dict[int, BadSession] = {}
    for i, s in bad.items():
        start_text = texts.get(ids[i], s.dt_from if isinstance(s.dt_from, str) else "")
        if s.dt_to is None:
            bad_text = None
        else:
            bad_text = s.dt_from if isinstance(s.dt_from, str) else s.dt_to
        out[i] = BadSession(
            ids[i],
            s.session_identifier,
            s.instrument.instrument_pid,
            s.user,
            start_text,
            bad_text,
        )
    return out


@contextmanager
def small_page_cache(conn: Connection) -> Iterator[None]:
    """SQLite: a small page cache while the table is read once from end to end.

    The engine gives its kept connection a large cache (64 MiB, for the lifecycle's repeated
    scans); a single pass gains nothing from it, and filling it added 64 MB to the peak memory
    of a million-session read. The size is put back afterwards.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    before = int(raw.execute("PRAGMA cache_size").fetchone()[0])
    raw.execute("PRAGMA cache_size = -2000")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {before}")
