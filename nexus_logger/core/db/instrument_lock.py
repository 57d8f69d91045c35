"""The per-instrument lock that every writer of an instrument's START and END rows takes.

On PostgreSQL it is a transaction-scoped advisory lock keyed on the instrument's PID (released
at commit or rollback). On SQLite the write transaction's ``BEGIN IMMEDIATE`` already holds the
database's write lock, so nothing more is needed there.

Start, end, replace, notes, the outbox replay, the admin force-end and ``SessionLog.insert_log``
take it, so they never interleave on one instrument (see :mod:`~nexus_logger.core.sessions.open_rule`).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, text

from nexus_logger.core.db.logger_tables import ADVISORY_NAMESPACE, advisory_key, advisory_lock
from nexus_logger.core.db.pipeline import Sent, Statement, send_together

__all__ = ["holds_instrument_lock", "lock_and_read", "lock_instrument"]

_MARK = "nexus_instrument_locks"
# The lock, and no parallel workers for the rest of the transaction, in one round trip: the
# writers' reads are small results of one plain scan, where starting workers costs more than
# it saves (43 against 64 ms at 300,000 rows on two cores). set_config(..., true) = SET LOCAL.
_LOCK_SERIAL = text(
    "SELECT pg_advisory_xact_lock(:ns, :key), "
    "set_config('max_parallel_workers_per_gather', '0', true)"
)


def _name(instrument_pid: str) -> str:
    return f"nexus_logger:instrument:{instrument_pid}"


def lock_instrument(conn: Connection, instrument_pid: str) -> None:
    """Serialise writers of one instrument's sessions inside the current transaction."""
    if holds_instrument_lock(conn, instrument_pid):
        return  # taken earlier in this transaction; asking again is a wasted round trip
    if conn.dialect.name != "postgresql":
        advisory_lock(conn, _name(instrument_pid))  # (a no-op: BEGIN IMMEDIATE holds the lock)
        return
    conn.execute(
        _LOCK_SERIAL, {"ns": ADVISORY_NAMESPACE, "key": advisory_key(_name(instrument_pid))}
    )
    conn.info[_MARK] = (conn.get_transaction(), instrument_pid)


def lock_and_read(conn: Connection, instrument_pid: str, reads: Sequence[Statement]) -> list[Sent]:
    """:func:`lock_instrument`, then ``reads`` under the lock; what each read gave.

    On PostgreSQL the lock and the reads (and the transaction's BEGIN) go to the server in one
    round trip (:mod:`~nexus_logger.core.db.pipeline`): each read starts after the lock is
    granted, so it sees every commit of the writer that held it before.
    """
    if conn.dialect.name != "postgresql" or holds_instrument_lock(conn, instrument_pid):
        lock_instrument(conn, instrument_pid)
        return send_together(conn, reads)
    lock = (_LOCK_SERIAL, {"ns": ADVISORY_NAMESPACE, "key": advisory_key(_name(instrument_pid))})
    results = send_together(conn, [lock, *reads])
    conn.info[_MARK] = (conn.get_transaction(), instrument_pid)
    return results[1:]


def holds_instrument_lock(conn: Connection, instrument_pid: str) -> bool:
    """True when this transaction already took :func:`lock_instrument` for the instrument.

    Always False on SQLite, where the lock is the write transaction itself. (``Connection.info``
    outlives the transaction, so the mark names the transaction too.)
    """
    mark = conn.info.get(_MARK)
    return mark is not None and mark[0] is conn.get_transaction() and mark[1] == instrument_pid
