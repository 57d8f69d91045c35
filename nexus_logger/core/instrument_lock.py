"""The per-instrument lock that every writer of an instrument's START and END rows takes.

On PostgreSQL it is a transaction-scoped advisory lock keyed on the instrument's PID (released
at commit or rollback). On SQLite the write transaction's ``BEGIN IMMEDIATE`` already holds the
database's write lock, and a read transaction sees the commits in the order their ids were
handed out, so nothing more is needed there.

Start, end, replace, notes, the outbox replay, the admin force-end and ``SessionLog.insert_log``
take it, so they never interleave on one instrument; the open-session check
(:mod:`~nexus_logger.core.open_sessions`) relies on it to remember what it read.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from nexus_logger.core.logger_tables import ADVISORY_NAMESPACE, advisory_key, advisory_lock

__all__ = ["holds_instrument_lock", "lock_instrument", "try_lock_instrument"]

_MARK = "nexus_instrument_locks"
_TRY = text("SELECT pg_try_advisory_xact_lock(:ns, :key)")


def _name(instrument_pid: str) -> str:
    return f"nexus_logger:instrument:{instrument_pid}"


def lock_instrument(conn: Connection, instrument_pid: str) -> None:
    """Serialise writers of one instrument's sessions inside the current transaction."""
    if holds_instrument_lock(conn, instrument_pid):
        return  # taken earlier in this transaction; asking again is a wasted round trip
    advisory_lock(conn, _name(instrument_pid))
    if conn.dialect.name == "postgresql":
        conn.info[_MARK] = (conn.get_transaction(), instrument_pid)


def try_lock_instrument(conn: Connection, instrument_pid: str) -> bool:
    """Take the instrument's lock if no other transaction holds it; never wait.

    For readers: with the lock they may remember what they read (see
    :mod:`~nexus_logger.core.open_sessions`); without it they read as before. True on SQLite,
    where a read transaction needs no lock for that.
    """
    if conn.dialect.name != "postgresql" or holds_instrument_lock(conn, instrument_pid):
        return True
    params = {"ns": ADVISORY_NAMESPACE, "key": advisory_key(_name(instrument_pid))}
    if not conn.execute(_TRY, params).scalar():
        return False
    conn.info[_MARK] = (conn.get_transaction(), instrument_pid)
    return True


def holds_instrument_lock(conn: Connection, instrument_pid: str) -> bool:
    """True when this transaction already took :func:`lock_instrument` for the instrument.

    Always False on SQLite, where the lock is the write transaction itself. (``Connection.info``
    outlives the transaction, so the mark names the transaction too.)
    """
    mark = conn.info.get(_MARK)
    return mark is not None and mark[0] is conn.get_transaction() and mark[1] == instrument_pid
