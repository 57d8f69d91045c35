"""Reading and writing test databases straight through the driver (``sqlite3`` / ``psycopg``).

Tests use these to build odd states (rows the application would never write) and to check
what is really stored, independently of the code under test.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy.engine import make_url

from nexus_logger.core.db.engine import is_url

Row = tuple[Any, ...]


def pg_dsn(url: str) -> str:
    """A libpq connection string for a ``postgresql+psycopg://`` URL of the test cluster."""
    u = make_url(url)
    return f"host={u.host} port={u.port} user={u.username} dbname={u.database}"


def raw_query(target: str, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
    """Rows of ``sql`` (``?`` placeholders) read straight from the file or server."""
    if is_url(target):
        import psycopg

        with psycopg.connect(pg_dsn(target)) as conn:
            return [tuple(r) for r in conn.execute(sql.replace("?", "%s"), params).fetchall()]
    conn = sqlite3.connect(target)
    try:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def raw_execute(target: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    """Run one statement straight through the driver and commit."""
    if is_url(target):
        import psycopg

        with psycopg.connect(pg_dsn(target)) as conn:
            conn.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(target)
    try:
        conn.execute(sql, params)
        conn.commit()
    finally:
        conn.close()


def dump_session_log(target: str) -> list[Row]:
    """Every ``session_log`` row, every column, in id order."""
    return raw_query(
        target,
        "SELECT id_session_log, session_identifier, instrument, timestamp, event_type, "
        'record_status, "user" FROM session_log ORDER BY id_session_log',
    )
