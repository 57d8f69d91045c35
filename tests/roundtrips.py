"""Counting the round trips to a PostgreSQL server from the wire, not from SQLAlchemy's events.

libpq's protocol trace lists every message the client sends (``F``) and receives (``B``). The
client waits for the server exactly once per ``ReadyForQuery`` it receives: one answers each
``Sync`` (a statement, or a whole pipeline) and each simple ``Query`` (such as ``COMMIT``). So
the round trips of an operation are the ``ReadyForQuery`` messages in its trace, whatever
sends the statements (SQLAlchemy, or the driver in pipeline mode). Used by
``tests/test_round_trips.py`` and ``bench/bench_lifecycle.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine, event


@dataclass
class Trips:
    """The messages of one traced operation, as ``(direction, message)`` pairs."""

    messages: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(1 for d, m in self.messages if d == "B" and m.startswith("ReadyForQuery"))

    def statements(self) -> list[str]:
        """What the client sent, shortened: each statement's text (or the name of a statement
        psycopg prepared earlier), Sync and Query lines."""
        sent = []
        for direction, message in self.messages:
            if direction != "F":
                continue
            kind, _, rest = message.partition("\t")
            if kind == "Parse":
                sent.append("Parse: " + " ".join(rest.split())[:90])
            elif kind == "Bind" and not rest.split()[1:2] == ['""']:  # a prepared statement
                sent.append(f"Bind: prepared statement {rest.split()[1]}")
            elif kind == "Query":
                sent.append("Query: " + " ".join(rest.split())[:90] + " (then wait)")
            elif kind == "Sync":
                sent.append("Sync (then wait)")
        return sent


@contextmanager
def traced(engine: Engine) -> Iterator[Trips]:
    """Trace every connection ``engine`` hands out inside the block; yields the messages."""
    from psycopg.pq import Trace

    fd, path = tempfile.mkstemp(prefix="nexus-logger-trace-")
    pgconns = []

    def on_checkout(dbapi_conn, record, proxy) -> None:
        pgconn = dbapi_conn.pgconn
        pgconn.trace(fd)
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS | Trace.REGRESS_MODE)
        pgconns.append(pgconn)

    trips = Trips()
    event.listen(engine, "checkout", on_checkout)
    try:
        yield trips
    finally:
        event.remove(engine, "checkout", on_checkout)
        for pgconn in pgconns:
            pgconn.untrace()
        os.close(fd)
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.rstrip("\n").split("\t", 2)
                if len(parts) == 3 and parts[0] in ("F", "B"):
                    trips.messages.append((parts[0], parts[2]))
        os.unlink(path)
