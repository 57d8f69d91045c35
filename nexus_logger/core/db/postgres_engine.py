"""The PostgreSQL engine: psycopg, a small pool, server-side lock and idle timeouts, and pooled
connections handed out without a ping round trip while they are known to be alive."""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL
from sqlalchemy.exc import DisconnectionError

from nexus_logger.core.errors import ConfigError

__all__ = ["PING_AFTER_IDLE_SECONDS", "postgres_engine"]

#: A pooled PostgreSQL connection unused this long is pinged before use (seconds).
PING_AFTER_IDLE_SECONDS = 30.0


def postgres_engine(url: URL, timeout: float) -> Engine:
    """The engine of the server at ``url`` (``postgresql+psycopg``), waiting ``timeout`` seconds
    for a lock or a connection (at most 10 s for the connection)."""
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise ConfigError(
            f"The database URL uses the driver '{url.drivername}'; nexus-logger supports "
            "'postgresql+psycopg://'. Change the URL's scheme."
        )
    ms = int(timeout * 1000)
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=4,
        connect_args={
            "connect_timeout": max(1, int(min(timeout, 10))),
            "options": f"-c lock_timeout={ms} -c idle_in_transaction_session_timeout={ms * 4}",
            "application_name": "nexus-logger",
            # A cut network sends nothing: without these a query on a pooled connection waited
            # for the operating system's own limit (minutes to hours). Data not acknowledged
            # within the timeout (Linux), or an idle peer that stops answering probes, fails the
            # query as unreachable. (A server that is paused but whose machine still answers
            # is not noticed; the window keeps a clicked END on the PC first for that.)
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": max(ms, 10_000),
        },
    )
    _ping_after_idle(engine)
    return engine


def _ping_after_idle(engine: Engine) -> None:
    """Hand out a pooled PostgreSQL connection without a ping round trip when it is known to
    be alive, so that the transactions of one click pay none (issue 19: at most 4 round trips).

    A server that shut down (restart, failover) tells each of its connections so before
    closing them: the idle socket then has something to read, which a zero-timeout
    ``select()`` sees at no cost, and the pool makes a new connection instead of failing the
    user's START as "unreachable". A connection idle for :data:`PING_AFTER_IDLE_SECONDS` is
    pinged as well (a network cut sends nothing).
    """

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi: Any, record: Any, proxy: Any) -> None:
        sock = getattr(getattr(dbapi, "pgconn", None), "socket", None)
        try:
            if sock is not None and select.select([sock], [], [], 0)[0]:
                raise DisconnectionError("the server closed this connection")
            used = record.info.get("used")
            if used is not None and time.monotonic() - used >= PING_AFTER_IDLE_SECONDS:
                engine.dialect.do_ping(dbapi)
        except DisconnectionError:
            raise
        except Exception as err:  # any failure: let the pool open a new connection
            raise DisconnectionError(f"pooled connection is gone: {err}") from err

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi: Any, record: Any) -> None:
        record.info["used"] = time.monotonic()
