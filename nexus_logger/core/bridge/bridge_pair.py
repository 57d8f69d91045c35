"""The two databases of a bridge, opened and checked, their lock, and reading both sides.

See :mod:`nexus_logger.core.bridge.bridge` for why the lock is a PostgreSQL advisory lock *and* a
file lock, and why the file carries an identity.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Connection, Engine, Result, Select, insert, inspect, select, text, union

from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.bridge.bridge_plan import Rows, Snapshot
from nexus_logger.core.db.engine import (
    describe,
    get_engine,
    is_sqlite,
    read_connection,
    write_transaction,
)
from nexus_logger.core.db.logger_tables import ADVISORY_NAMESPACE, advisory_key, ensure_tables
from nexus_logger.core.db.models import instruments, session_log
from nexus_logger.core.db.schema import Layout, init_db, inspect_schema
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.errors import (
    EXIT_HELD,
    ConfigError,
    Conflict,
    DatabaseMissing,
    NexusLoggerError,
    SchemaError,
    translate,
)

_logger = logging.getLogger(__name__)

_T = session_log
_I = instruments
_TBB = RecordStatus.TO_BE_BUILT.value
LOCK_NAME = "nexus_logger:bridge"


class BridgeBusy(NexusLoggerError):
    """Another bridge holds the pair: nothing was copied by this one (try later)."""

    exit_code = EXIT_HELD


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------------------------
# Reading


_COLS = (
    _T.c.id_session_log,
    _T.c.session_identifier,
    _T.c.instrument,
    _T.c.timestamp,
    _T.c.event_type,
    _T.c.record_status,
    _T.c.user,
)


def _group(result: Result[Any], into: dict[str, Rows] | None = None) -> dict[str, Rows]:
    """The rows of ``result`` as dictionaries, by session identifier: fetched at once as
    tuples (a mapping per row, one at a time, was most of a run with nothing to do)."""
    out: dict[str, Rows] = {} if into is None else into
    keys = tuple(result.keys())
    sid = keys.index("session_identifier")
    for row in result.all():
        out.setdefault(row[sid], []).append(dict(zip(keys, row, strict=True)))
    return out


def _rows_for(
    conn: Connection, sids: Iterable[str], *, for_update: bool = False
) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for chunk in _chunks(sorted(set(sids)), 900):
        stmt = select(*_COLS).where(_T.c.session_identifier.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        _group(conn.execute(stmt.order_by(_T.c.id_session_log)), out)
    return out


def pg_candidates_query() -> Select[Any]:
    """Every row of the PostgreSQL sessions that are TO_BE_BUILT or in the (levelled) ledger.

    A join with the union of the two identifier lists: written as ``IN (...) OR IN (...)``
    the planner re-ran a subquery for each row once a list outgrew ``work_mem`` (about
    70,000 sessions waiting or 150,000 in the ledger at the default 4 MB), and every run of
    the bridge then took hours.
    """
    ids = union(
        select(_T.c.session_identifier).where(_T.c.record_status == _TBB),
        select(bt.ledger.c.session_identifier),
    ).subquery("candidate")
    return (
        select(*_COLS)
        .join_from(_T, ids, _T.c.session_identifier == ids.c.session_identifier)
        .order_by(_T.c.id_session_log)
    )


def _pg_candidates(conn: Connection) -> dict[str, Rows]:
    """Rows of every PostgreSQL session that is TO_BE_BUILT or in the (levelled) ledger."""
    return _group(conn.execute(pg_candidates_query()))


# --------------------------------------------------------------------------------------------
# The pair and its lock


def _lock_path(sqlite_path: Path) -> Path:
    return sqlite_path.with_name(sqlite_path.name + ".nexus-logger-bridge.lock")


@dataclass
class Pair:
    """A PostgreSQL database and NexusLIMS's file, opened and checked for bridging."""

    pg: Engine
    sq: Engine
    path: Path
    file_id: str
    #: ``--new-file``: this file replaces the one PostgreSQL was bridged to.
    new_file: bool = False
    _file_lock: FileLock | None = None
    _pg_lock: Connection | None = None

    @property
    def where(self) -> str:
        return f"{describe(self.pg)} -> {self.path}"

    # -- lock --------------------------------------------------------------------------
    def lock(self) -> None:
        """Take the file lock and the PostgreSQL advisory lock, or raise :class:`BridgeBusy`."""
        lock = FileLock(str(_lock_path(self.path)), timeout=0)
        try:
            lock.acquire()
        except FileLockTimeout:
            raise BridgeBusy(
                f"Another bridge is already writing NexusLIMS's file {self.path} (its lock "
                f"{_lock_path(self.path)} is held). Only one bridge may run per file: stop "
                "the other one first (systemd service or scheduled task)."
            ) from None
        except OSError as err:
            raise NexusLoggerError(
                f"The bridge cannot create its lock file {_lock_path(self.path)} "
                f"({err.strerror or err}). Give this account write access to that folder."
            ) from None
        self._file_lock = lock
        try:
            conn = self.pg.connect()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :key)"),
                {"ns": ADVISORY_NAMESPACE, "key": advisory_key(LOCK_NAME)},
            ).scalar()
            conn.commit()
        except Exception as err:
            self.unlock()
            # A server that is down or restarting is a database error like any other: a
            # --watch bridge says so and tries again at its next pass instead of dying.
            raise translate(err, describe(self.pg)) from err
        if not got:
            conn.close()
            holder = self._holder()
            self.unlock()
            raise BridgeBusy(
                f"Another bridge is already running for {describe(self.pg)}{holder}. Only "
                "one bridge may serve a database: stop the other one first (systemd service "
                "or scheduled task), or wait for its run to end."
            )
        self._pg_lock = conn
        try:
            with write_transaction(self.pg) as wconn:
                # Bound to this file only now: a bridge refused above changed nothing.
                self.check_file(wconn)
                _save_state(
                    wconn,
                    {
                        "host": socket.gethostname(),
                        "pid": os.getpid(),
                        "file_id": self.file_id,
                        "file_path": str(self.path),
                    },
                )
        except Exception:
            self.unlock()
            raise

    def _check_same_file(self, conn: Connection) -> None:
        """Raise :class:`ConfigError` when NexusLIMS's file is no longer the one this pair
        opened (re-created or restored while a --watch bridge ran): its bridge tables are
        gone or name another file, and copying on would send every session again."""
        found = None
        if inspect(conn).has_table(bt.meta.name):  # asked afresh: the answer may have changed
            found = conn.execute(select(bt.meta.c.value).where(bt.meta.c.key == "file_id")).scalar()
        if found != self.file_id:
            raise ConfigError(
                f"NexusLIMS's file {self.path} was replaced while the bridge ran: it is not "
                "the file the bridge started with. Stop the bridge and start it again; if "
                "this file really replaces the old one, it asks you to confirm with --new-file."
            )

    def check_file(self, conn: Connection) -> None:
        """Raise :class:`Conflict` when PostgreSQL is bridged to another file (unless
        ``new_file``): bridging two files would copy sessions twice."""
        row = conn.execute(select(bt.state).where(bt.state.c.name == bt.STATE_KEY)).first()
        if row is not None and row.file_id and row.file_id != self.file_id and not self.new_file:
            if row.file_path == str(self.path):
                raise Conflict(
                    f"NexusLIMS's file {self.path} is not the file {describe(self.pg)} was "
                    "bridged to: it was re-created or restored from a copy since. Add "
                    "--new-file if it really replaces the old one (the sessions still waiting "
                    "are then copied into it)."
                )
            raise Conflict(
                f"{describe(self.pg)} is bridged to another NexusLIMS file (last seen as "
                f"{row.file_path}); bridging it to {self.path} as well would copy sessions "
                "twice. Give that file, or add --new-file if this file really replaces it."
            )

    def _holder(self) -> str:
        try:
            with read_connection(self.pg) as conn:
                row = conn.execute(select(bt.state).where(bt.state.c.name == bt.STATE_KEY)).first()
        except NexusLoggerError:
            return ""
        if row is None or not row.host:
            return ""
        return f" (on {row.host}, process {row.pid}, last run {row.last_run_at or 'never'})"

    def lock_alive(self) -> bool:
        """True while the advisory lock's connection still works (a server restart drops it)."""
        if self._pg_lock is None:
            return False
        try:
            self._pg_lock.execute(text("SELECT 1"))
            self._pg_lock.commit()
            return True
        except Exception:
            return False

    def relock(self) -> None:
        """Take the PostgreSQL lock again after its connection was lost."""
        if self._pg_lock is not None:
            try:
                self._pg_lock.invalidate()
                self._pg_lock.close()
            except Exception:
                pass
            self._pg_lock = None
        file_lock, self._file_lock = self._file_lock, None
        if file_lock is not None:
            file_lock.release()
        self.lock()

    def unlock(self) -> None:
        if self._pg_lock is not None:
            try:
                self._pg_lock.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": ADVISORY_NAMESPACE, "key": advisory_key(LOCK_NAME)},
                )
                self._pg_lock.commit()
                self._pg_lock.close()
            except Exception:
                _logger.debug("Could not release the advisory lock cleanly", exc_info=True)
            self._pg_lock = None
        if self._file_lock is not None:
            self._file_lock.release()
            self._file_lock = None

    def __enter__(self) -> Pair:
        self.lock()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unlock()

    # -- reading -----------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """Both ledgers (brought level first), the candidate sessions of both sides."""
        with read_connection(self.sq) as conn:
            self._check_same_file(conn)
            sq_ledger = bt.read_ledger(conn)
        with read_connection(self.pg) as conn:
            pg_ledger = bt.read_ledger(conn)
        to_pg = [e for s, e in sq_ledger.items() if s not in pg_ledger or pg_ledger[s].gen < e.gen]
        to_sq = [e for s, e in pg_ledger.items() if s not in sq_ledger or sq_ledger[s].gen < e.gen]
        if to_pg:
            with write_transaction(self.pg) as conn:
                bt.upsert_ledger(conn, to_pg)
        if to_sq:
            with write_transaction(self.sq) as conn:
                bt.upsert_ledger(conn, to_sq)
        base = {**pg_ledger, **{e.session_identifier: e for e in to_pg}}
        with read_connection(self.pg) as conn:
            pg_rows = _pg_candidates(conn)
            pg_instruments = {
                r["instrument_pid"]: dict(r) for r in conn.execute(select(_I)).mappings()
            }
        with read_connection(self.sq) as conn:
            sq_rows = _rows_for(conn, set(pg_rows) | set(base))
            sq_instruments = {
                r.instrument_pid: r.api_url
                for r in conn.execute(select(_I.c.instrument_pid, _I.c.api_url))
            }
        return Snapshot(pg_rows, sq_rows, base, pg_instruments, sq_instruments)


def _check_layout(engine: Engine, what: str) -> None:
    info = inspect_schema(engine, refresh=True)
    if info.layout is not Layout.NEXUSLIMS_2:
        hint = "create it with 'nexus-logger init-db'" if info.layout is Layout.EMPTY else ""
        raise SchemaError(
            f"{what} {describe(engine)} is not a NexusLIMS 2.x database ({info.layout}); "
            f"the bridge needs one on both sides{': ' + hint if hint else ''}."
        )


def open_pair(
    source: str,
    target: str | os.PathLike[str],
    *,
    create: bool = False,
    new_file: bool = False,
    timeout: float | None = None,
) -> Pair:
    """Open and check the PostgreSQL ``source`` and NexusLIMS's file ``target``.

    ``create`` makes the file (NexusLIMS 2.8 schema) when it does not exist; ``new_file``
    accepts a file other than the one PostgreSQL was bridged to before.
    """
    pg = get_engine(source, timeout=timeout)
    if is_sqlite(pg):
        raise ConfigError(
            f"--from must be the PostgreSQL database, not a file ({describe(pg)}). "
            "Give its postgresql+psycopg:// URL."
        )
    path = Path(os.fspath(target)).expanduser().absolute()
    if not path.exists():
        if not create:
            raise DatabaseMissing(
                f"NexusLIMS's file {path} does not exist. Check the path (NX_DB_PATH), or let "
                "the bridge create it with --create (or 'nexus-logger init-db FILE')."
            )
        init_db(str(path))
    sq = get_engine(str(path), timeout=timeout)
    if not is_sqlite(sq):
        raise ConfigError("--to must be NexusLIMS's SQLite file, not a URL.")
    _check_layout(pg, "The PostgreSQL database")
    _check_layout(sq, "NexusLIMS's file")
    ensure_tables(pg, bt.PG_TABLES, meta=bt.bridge_metadata)
    ensure_tables(sq, bt.SQLITE_TABLES, meta=bt.bridge_metadata)
    pair = Pair(pg, sq, path, _file_identity(sq), new_file)
    with read_connection(pg) as conn:
        pair.check_file(conn)
    return pair


def _file_identity(sq: Engine) -> str:
    with write_transaction(sq) as conn:
        value = conn.execute(select(bt.meta.c.value).where(bt.meta.c.key == "file_id")).scalar()
        if value is None:
            value = str(uuid.uuid4())
            conn.execute(insert(bt.meta).values(key="file_id", value=value))
    return str(value)


def _save_state(conn: Connection, values: dict[str, Any]) -> None:
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    stmt = pg_insert(bt.state).values(name=bt.STATE_KEY, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[bt.state.c.name], set_=values))
