"""Statements sent together: one round trip to a PostgreSQL server for several statements.

A START or an END is a handful of small statements, and on a facility's network each round
trip to the server costs more than the server's work for it. psycopg's pipeline mode sends
statements without waiting for each answer; the server still runs them one after the other,
in the same transaction, each with its own snapshot (READ COMMITTED, the server's default and
nexus-logger's), so a read sent after the instrument's lock sees everything committed before
the lock was granted. (At REPEATABLE READ or above every read would see the transaction's
first snapshot, pipeline or not.)

Two things SQLAlchemy and psycopg do not do for us, hence this module:

* SQLAlchemy cannot read results in pipeline mode, so :func:`send_together` compiles its
  statements with the connection's dialect and hands them to the driver itself. Driver errors
  come out as SQLAlchemy's (a broken connection is invalidated, as SQLAlchemy does), so
  callers and :func:`~nexus_logger.core.errors.translate` see the same errors either way.
* psycopg sends the transaction's implicit ``BEGIN`` and waits for its answer before the
  first statement, even in a pipeline. In a write transaction (:func:`~nexus_logger.core.db.
  engine.write_transaction`, which calls :func:`finish` at its end) the first batch therefore
  carries the ``BEGIN`` psycopg would send (with the connection's isolation level, read-only
  and deferrable settings), with the driver's autocommit switched on for that
  transaction only (psycopg then sends no ``BEGIN`` of its own, and its ``commit()`` and
  ``rollback()`` still end the transaction the server has open); :func:`finish` switches it
  off again once the transaction is over, before the connection is used for anything else.

SQLite runs in this process, where a statement costs no round trip: there the statements
simply run in turn. Only plain bound parameters (no ``IN`` lists that SQLAlchemy expands at
execution).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

_logger = logging.getLogger(__name__)

__all__ = ["FINISHED_OPTION", "Sent", "Statement", "finish", "send_together"]

#: A statement and its parameters.
Statement = tuple[Executable, Mapping[str, Any]]

#: ``Connection.info`` key: this connection's driver autocommit was switched on for a BEGIN.
_OWN_BEGIN = "nexus_pipeline_begin"
#: ``Connection`` execution option of ``write_transaction``, which calls :func:`finish`: only
#: there may a batch switch the driver's autocommit on.
FINISHED_OPTION = "nexus_pipeline_finish"


class Sent(NamedTuple):
    """What one statement of a batch gave: its rows (attribute access) and its row count."""

    rows: list[Any]
    rowcount: int


def send_together(conn: Connection, statements: Sequence[Statement]) -> list[Sent]:
    """Run ``statements`` in order in ``conn``'s transaction; what each gave.

    PostgreSQL (libpq 14 or later): one round trip for all of them, the transaction's BEGIN
    included in a write transaction. Elsewhere, or with an older libpq: one ``execute`` each.
    """
    if conn.dialect.name != "postgresql" or not _pipeline_supported():
        return [_sent(conn.execute(stmt, dict(params))) for stmt, params in statements]
    from psycopg.pq import TransactionStatus
    from psycopg.rows import namedtuple_row

    raw = conn.connection.driver_connection
    batch = list(statements)
    own_begin = (
        conn.get_execution_options().get(FINISHED_OPTION, False)
        and raw.pgconn.transaction_status == TransactionStatus.IDLE
        and not raw.autocommit
    )
    if own_begin:
        begin = _begin_statement(raw)  # read before autocommit changes anything
        raw.autocommit = True  # allowed while idle; back off in finish()
        conn.info[_OWN_BEGIN] = True
        batch.insert(0, (begin, {}))
    sent_sql: list[str] = []
    cursors = []
    try:
        with raw.pipeline():
            for stmt, params in batch:
                sent_sql.append(_sql(stmt, conn.dialect, tuple(params)))
                cursor = raw.cursor(row_factory=namedtuple_row)
                cursor.execute(sent_sql[-1], _arguments(stmt, conn.dialect, params))
                cursors.append(cursor)
        sent = [
            Sent(cursor.fetchall() if cursor.description else [], cursor.rowcount)
            for cursor in cursors
        ]
    except conn.dialect.loaded_dbapi.Error as err:
        # (Which statement failed is the driver's message; the log gets all that were sent.)
        raise _as_sqlalchemy_error(conn, err, ";\n".join(sent_sql)) from err
    finally:
        for cursor in cursors:
            cursor.close()
    return sent[1:] if own_begin else sent


def finish(conn: Connection) -> None:
    """After a write transaction ended: the driver's autocommit off again if it was switched on.

    Called by ``write_transaction`` whether the transaction committed or rolled back. An
    invalidated or closed connection is left alone: it is never used again, and asking it for
    anything (even ``info``) would make SQLAlchemy open a new one, on a dead network or share.
    """
    if conn.closed or conn.invalidated or not conn.info.pop(_OWN_BEGIN, False):
        return
    raw = conn.connection.driver_connection
    if not raw.closed:
        raw.autocommit = False


def _begin_statement(raw: Any) -> Any:
    """The BEGIN psycopg itself would send: with the connection's isolation level, read-only
    and deferrable settings when set (SQLAlchemy sets the level back after a connection was
    used with another one)."""
    from psycopg import IsolationLevel

    parts = ["BEGIN"]
    if raw.isolation_level is not None:
        level = IsolationLevel(raw.isolation_level).name.replace("_", " ")
        parts.append(f"ISOLATION LEVEL {level}")
    if raw.read_only is not None:
        parts.append("READ ONLY" if raw.read_only else "READ WRITE")
    if raw.deferrable is not None:
        parts.append("DEFERRABLE" if raw.deferrable else "NOT DEFERRABLE")
    return _text_statement(" ".join(parts))


@functools.cache
def _text_statement(sql: str) -> Any:
    """One statement object per text (a handful of BEGIN forms), so it compiles once."""
    return text(sql)


def _sent(result: Any) -> Sent:
    return Sent(result.all() if result.returns_rows else [], result.rowcount)


@functools.cache
def _pipeline_supported() -> bool:
    import psycopg

    supported = bool(psycopg.Pipeline.is_supported())
    if not supported:
        _logger.info(
            "libpq %s has no pipeline mode: one round trip per statement", psycopg.pq.version()
        )
    return supported


@functools.lru_cache(maxsize=64)
def _compiled(stmt: Executable, dialect: Dialect, keys: tuple[str, ...]) -> Any:
    """The statement compiled once per dialect and set of parameter names."""
    return stmt.compile(dialect=dialect, column_keys=list(keys))  # type: ignore[attr-defined]


def _sql(stmt: Executable, dialect: Dialect, keys: tuple[str, ...]) -> str:
    return str(_compiled(stmt, dialect, keys))


def _arguments(stmt: Executable, dialect: Dialect, params: Mapping[str, Any]) -> dict[str, Any]:
    return _compiled(stmt, dialect, tuple(params)).construct_params(dict(params))


def _as_sqlalchemy_error(conn: Connection, err: Exception, sql: str) -> DBAPIError:
    """``err`` as SQLAlchemy raises it, after invalidating a connection it has broken.

    (SQLAlchemy's own path also marks the pool's other connections for a check; here the
    pool's checkout hook, ``postgres_engine._ping_after_idle``, sees a closed server.)
    """
    raw = conn.connection.driver_connection
    lost = conn.dialect.is_disconnect(err, raw, None)
    if lost:
        conn.invalidate(err)
    return DBAPIError.instance(
        sql,
        None,
        err,
        conn.dialect.loaded_dbapi.Error,
        connection_invalidated=lost,
        dialect=conn.dialect,
    )
