"""Which START rows of an instrument are open, without reading the whole history every time.

"Open" is the lifecycle's definition: a START of the instrument whose status still allows an
END (WAITING_FOR_END or TO_BE_BUILT) and whose ``session_identifier`` has no END row. NexusLIMS's
``session_log`` has no index on ``instrument`` or ``record_status``, and nexus-logger may not add
one, so proving that *no* session is open means reading every row: about 5 ms at 10,000 past
sessions and 30 ms at 100,000 on either backend (docs/performance.md), on every start and end.

So each process remembers, per engine and instrument, what its last full look found: every row
with ``id_session_log <= upto`` was read, and ``open_ids`` were the open STARTs among them. Until
that memo is :data:`MEMO_SECONDS` old, the check reads only rows newer than ``upto``, or newer
than the oldest remembered open START (which may have been ended since): a range of the primary
key. That is exact for everything nexus-logger and NexusLIMS write:

* every new row gets a larger id than any row already read. On PostgreSQL the id comes from
  a sequence, and every nexus-logger writer of an instrument's START or END holds the
  instrument's lock (:mod:`~nexus_logger.core.instrument_lock`), so none commits a smaller id
  after a check made under that lock. Only such checks are remembered there (a reader takes
  the lock if it is free, and never waits for it), and only when the sequence has no cache:
  with one, each connection takes ids from a block of its own. On SQLite NexusLIMS's 2.x
  table is a plain ``INTEGER PRIMARY KEY``, whose next id is the largest plus one: an id is
  used again only after the newest row went away (a rolled-back insert, a deleted row). A
  PostgreSQL sequence hands an id out again only when someone sets it back (a database
  restored from a backup). The memo therefore keeps the identifier of the row at ``upto``, on
  both backends, and takes a full look again when that row is no longer the same;
* an old session only becomes less open: NexusLIMS moves statuses forward, and nexus-logger's
  admin actions never take an END away. The NexusLIMS API in this package can set a status
  back (``Session.update_session_status``, any write through ``db_query``): it calls
  :func:`forget`, which drops what every engine of the process remembers;
* a check made after its own transaction wrote something is not remembered: a rollback would
  take back the END it saw. Only engines made by :func:`~nexus_logger.core.engine.get_engine`
  say whether they wrote; with an engine built elsewhere nothing is remembered.

What the memo cannot see is a change made by another program that does not take
nexus-logger's lock: a hand edit that re-opens an old session (deleting its END row, or
setting a final status back to WAITING_FOR_END), or a START of the same instrument that
commits after a newer row was read (possible on PostgreSQL only). This process then finds it
at its next full look, at most :data:`MEMO_SECONDS` later (longer if the PC slept in between:
the clock used may stop then). A START written meanwhile leaves two open sessions on the
instrument, and the admin tab lists the re-opened one as open for a long time (once it is
older than ``long_session_hours``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, exists, select, text
from sqlalchemy.exc import SQLAlchemyError

from nexus_logger.core.engine import engine_info, marks_writes, wrote_in_transaction
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.instrument_lock import holds_instrument_lock
from nexus_logger.core.models import SessionLogEntry

__all__ = ["ENDABLE", "MEMO_SECONDS", "forget", "open_start_rows"]

#: How long a full look at ``session_log`` is trusted (see the module docstring).
MEMO_SECONDS = 60.0
#: More open STARTs than this on one instrument is a broken history (the admin tab lists
#: them); it is then read in full every time rather than remembered.
_MAX_REMEMBERED = 50
_KEY = "nexus_open_start_memo"
_IN_ORDER_KEY = "nexus_session_log_ids_in_order"
#: How long the answer of :func:`_ids_in_order` is kept (a sequence's cache rarely changes).
_IN_ORDER_SECONDS = 600.0
_generation = [0]
_generation_lock = threading.Lock()
_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__
_E = _T.alias("e")
#: START statuses after which an END may still be written: the normal WAITING_FOR_END, and
#: TO_BE_BUILT without END (a broken state that stops NexusLIMS's build run; ending repairs it).
ENDABLE = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)

# Built once: building a SQLAlchemy expression costs more client CPU than the query's round
# trip, and these run on every start and end.
_COLUMNS = (
    _T.c.id_session_log,
    _T.c.session_identifier,
    _T.c.user,
    _T.c.timestamp,
    _T.c.record_status,
)
_OPEN = (
    _T.c.instrument == bindparam("pid"),
    _T.c.event_type == EventType.START.value,
    # Only statuses an END can still follow; this also keeps the NOT EXISTS probe (by the
    # indexed session_identifier) to a handful of rows, as a full history is mostly COMPLETED.
    _T.c.record_status.in_(ENDABLE),
    ~exists().where(
        _E.c.session_identifier == _T.c.session_identifier,
        _E.c.event_type == EventType.END.value,
    ),
)
_NEWEST_FIRST = _T.c.id_session_log.desc()
_ALL = select(*_COLUMNS).where(*_OPEN).order_by(_NEWEST_FIRST)
_TOP = select(_T.c.id_session_log, _T.c.session_identifier).order_by(_NEWEST_FIRST).limit(1)
_AT = select(_T.c.session_identifier).where(_T.c.id_session_log == bindparam("upto"))
_SEQUENCE_CACHE = text(
    "SELECT seqcache FROM pg_catalog.pg_sequence "
    "WHERE seqrelid = pg_get_serial_sequence('session_log', 'id_session_log')::regclass"
)
#: Rows after ``after``: a range of the primary key, the one plan every engine runs well.
_SINCE = (
    select(*_COLUMNS)
    .where(_T.c.id_session_log > bindparam("after"), *_OPEN)
    .order_by(_NEWEST_FIRST)
)


@dataclass(frozen=True)
class _Memo:
    upto: int
    top_identifier: str | None  # session_identifier of the row at ``upto``
    open_ids: tuple[int, ...]  # open STARTs at or below ``upto`` (newer ones are in the range)
    taken: float  # time.monotonic() of the full look
    generation: int  # :func:`forget` calls before it


def _memos(engine: Engine) -> dict[str, _Memo]:
    return engine_info(engine).setdefault(_KEY, {})


def open_start_rows(conn: Connection, instrument_pid: str) -> list[Any]:
    """The instrument's open START rows, newest first (normally none or one).

    Each row has ``id_session_log``, ``session_identifier``, ``user``, ``timestamp`` and
    ``record_status``. Start, end and ``find_open_session`` call it under the instrument's lock
    (:func:`~nexus_logger.core.instrument_lock.lock_instrument`), so that the answer cannot change
    before the caller writes, and so that it may be remembered.
    """
    memos = _memos(conn.engine)
    memo = memos.get(instrument_pid)
    now = time.monotonic()
    generation = _generation[0]
    if memo is not None and (
        memo.generation != generation
        or now - memo.taken >= MEMO_SECONDS
        or not _same_top(conn, memo)
    ):
        memo = None
    if memo is not None:
        # From the oldest START that was open at the full look (normally none), so that it is
        # checked again: it may have been ended since.
        after = min((memo.upto, *(i - 1 for i in memo.open_ids)))
        rows = conn.execute(_SINCE, {"pid": instrument_pid, "after": after}).all()
        upto, top_identifier, taken = memo.upto, memo.top_identifier, memo.taken
    else:
        # The newest row first: on PostgreSQL each statement has its own snapshot, and a row
        # that commits between the two is then read by the scan or, being newer than
        # ``upto``, by the next check.
        top = conn.execute(_TOP).first()
        upto, top_identifier = (top[0], top[1]) if top is not None else (0, None)
        rows = conn.execute(_ALL, {"pid": instrument_pid}).all()
        taken = now
    if len(rows) > _MAX_REMEMBERED:
        memos.pop(instrument_pid, None)
    elif _may_remember(conn, instrument_pid):
        ids = tuple(r.id_session_log for r in rows if r.id_session_log <= upto)
        memos[instrument_pid] = _Memo(upto, top_identifier, ids, taken, generation)
    return rows


def _may_remember(conn: Connection, instrument_pid: str) -> bool:
    if not marks_writes(conn.engine) or wrote_in_transaction(conn):
        # What this transaction wrote before the check (an END, in "end it and start a new
        # one") is in the answer, and is gone again if the transaction rolls back. An engine
        # built elsewhere does not say whether it wrote.
        return False
    if conn.dialect.name == "sqlite":
        return True
    # Without the lock, a writer of this instrument may be between its insert and its commit,
    # with an id below rows already committed; a sequence with a cache hands out ids out of
    # order across connections even with it.
    return holds_instrument_lock(conn, instrument_pid) and _ids_in_order(conn)


def _ids_in_order(conn: Connection) -> bool:
    """True when ``session_log``'s ids come from a PostgreSQL sequence without a cache.

    Asked on the caller's own connection, inside a savepoint so that an error cannot abort its
    transaction (a second connection from the pool, taken while holding the instrument lock,
    could wait for connections that wait for that lock). The answer is kept for
    :data:`_IN_ORDER_SECONDS`; an error is not kept, and counts as no.
    """
    info = engine_info(conn.engine)
    known = info.get(_IN_ORDER_KEY)
    now = time.monotonic()
    if known is not None and now - known[1] < _IN_ORDER_SECONDS:
        return bool(known[0])
    try:
        with conn.begin_nested():
            cache = conn.execute(_SEQUENCE_CACHE).scalar()
    except SQLAlchemyError as err:
        _logger.info("Cannot read the id sequence of session_log (%s); not remembering", err)
        return False
    answer = cache == 1
    if not answer:
        _logger.info(
            "session_log's ids are not handed out in order (sequence cache %s): the "
            "open-session check reads the whole table every time",
            cache,
        )
    info[_IN_ORDER_KEY] = (answer, now)
    return answer


def _same_top(conn: Connection, memo: _Memo) -> bool:
    """False when the row at ``upto`` changed: ids the memo covers may then be handed out."""
    if memo.upto == 0:
        return True  # the table was empty: every row is newer than ``upto``
    return conn.execute(_AT, {"upto": memo.upto}).scalar() == memo.top_identifier


def forget() -> None:
    """Drop everything this process remembers of open sessions, on every engine.

    For a write that may re-open a session (a status set back by the NexusLIMS API). Every
    engine, because one database can have several in a process (a path here, the configured
    default there).
    """
    with _generation_lock:
        _generation[0] += 1
