"""The bridge: PostgreSQL's finished sessions into NexusLIMS's SQLite file, results back.

NexusLIMS 2.8 reads only its SQLite file. The bridge copies every session that is TO_BE_BUILT
in PostgreSQL (one START and one END, same instrument and user) into that file, with the
instruments it names, and copies back what NexusLIMS did: its RECORD_GENERATION rows and the
final status it set on every row of the session. Open or half sessions are never copied.

**Exactly once.** Each direction writes into one database in one transaction, and that
transaction also writes the bridge's ledger row for the session *in that same database*:
copying in is one SQLite transaction (rows + ``nexus_logger_bridge_ledger`` in the file);
copying back is one PostgreSQL transaction (rows + ledger + the map of RECORD_GENERATION
rows, ``nexus_logger_bridge_rg``). A run killed before a commit leaves nothing of that
batch; killed after, the ledger in the same database says the session is done. A ledger row
is an *agreement point*: "PostgreSQL's rows had fingerprint ``pg_fp`` and the file's
``sq_fp``", numbered by ``gen``. After each commit the row is also copied to the other
database's ledger (so PostgreSQL alone can tell the Admin tab what waits), but that copy is
only a convenience: a run takes, per session, the row with the higher ``gen`` from either
ledger, so a kill between the two writes loses nothing. Every write transaction re-reads the
session's rows under the write lock (``BEGIN IMMEDIATE`` / ``SELECT ... FOR UPDATE``) and
skips a session whose rows changed since they were planned; the next run sees the change.

**What a run does per session**, comparing both sides with the newest agreement point:
same content on both sides: nothing (or record the agreement); only PostgreSQL changed and
it is a complete TO_BE_BUILT session: copy in (a new session, or a re-queue); only the file
changed and NexusLIMS has settled it (START and END carry the same final status, no
RECORD_GENERATION is pending): copy back; the file changed but NexusLIMS is still building:
wait; **both changed: a conflict**, recorded in ``nexus_logger_bridge_conflict`` and
reported, and the session is left alone on both sides until someone settles it with
``bridge --resolve SESSION --keep postgres|nexuslims`` (which only moves the agreement point
so that the next run copies the kept side over).

**Living with NexusLIMS.** The file is opened as everywhere in nexus-logger (rollback
journal, never WAL, busy timeout, ``BEGIN IMMEDIATE``); writes go in batches of
:data:`BATCH` sessions so that the write lock is held for milliseconds, far below the 5 s
NexusLIMS waits for a locked file. Reads of the file are one short read transaction.

**One bridge per pair**: a PostgreSQL advisory lock (session-level, held for the whole run or
``--watch``) and a file lock beside the SQLite file; both vanish with the process, so a
killed bridge never leaves a stale lock. The file carries an identity
(``nexus_logger_bridge_meta``) that PostgreSQL remembers, so one PostgreSQL database is not
bridged to two files by mistake.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from sqlalchemy import Connection, Engine, insert, select, text, update

from nexus_logger.core import bridge_tables as bt
from nexus_logger.core.engine import (
    describe,
    get_engine,
    is_sqlite,
    read_connection,
    write_transaction,
)
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.errors import ConfigError, Conflict, NexusLoggerError, NotFound, SchemaError
from nexus_logger.core.logger_tables import ADVISORY_NAMESPACE, advisory_key, ensure_tables
from nexus_logger.core.models import Instrument, SessionLogEntry
from nexus_logger.core.schema import Layout, init_db, inspect_schema

_logger = logging.getLogger(__name__)

_T = SessionLogEntry.__table__
_I = Instrument.__table__
_START, _END, _RG = EventType.START.value, EventType.END.value, EventType.RECORD_GENERATION.value
_TBB, _WAIT = RecordStatus.TO_BE_BUILT.value, RecordStatus.WAITING_FOR_END.value

#: Sessions per write transaction: small enough that the file's write lock is held briefly
#: (about 30 ms for 500 sessions). ``NEXUS_LOGGER_BRIDGE_BATCH`` overrides it (tests).
BATCH = 500
#: Names of the steps where :data:`FAULT_ENV` can kill the process (tests only).
FAULT_ENV = "NEXUS_LOGGER_BRIDGE_FAULT"
LOCK_NAME = "nexus_logger:bridge"
DEFAULT_INTERVAL = 60.0

Rows = list[dict[str, Any]]


class BridgeBusy(NexusLoggerError):
    """Another bridge holds the pair."""

    exit_code = 5


class Action(StrEnum):
    """What a run does (or would do) with one session."""

    COPY_IN = "copy_in"
    COPY_OUT = "copy_out"
    ADOPT = "adopt"
    CONFLICT = "conflict"
    BUILDING = "building"
    NOT_READY = "not_ready"
    MISSING = "missing"
    NONE = "none"


@dataclass(frozen=True)
class Decision:
    session_identifier: str
    action: Action
    reason: str = ""


def _fault(step: str) -> None:
    """Kill this process at ``step`` when the fault-injection variable names it (tests)."""
    if os.environ.get(FAULT_ENV) == step:
        _logger.warning("Fault injection: killing the bridge at %s", step)
        if hasattr(signal, "SIGKILL"):
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)


def _batch() -> int:
    try:
        return max(1, int(os.environ.get("NEXUS_LOGGER_BRIDGE_BATCH", BATCH)))
    except ValueError:
        return BATCH


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# --------------------------------------------------------------------------------------------
# Judging one session


def _split(rows: Rows) -> tuple[Rows, Rows, Rows]:
    return (
        [r for r in rows if r["event_type"] == _START],
        [r for r in rows if r["event_type"] == _END],
        [r for r in rows if r["event_type"] == _RG],
    )


def pg_problem(rows: Rows) -> str | None:
    """Why a PostgreSQL session may not go to NexusLIMS yet, or ``None`` when it may.

    NexusLIMS pairs a TO_BE_BUILT START with an END of the same session, instrument and user,
    and stops its whole build run when one is missing: only complete pairs are copied.
    """
    starts, ends, _ = _split(rows)
    if len(starts) != 1 or len(ends) != 1:
        return f"it has {len(starts)} START and {len(ends)} END rows (NexusLIMS needs one each)"
    start, end = starts[0], ends[0]
    if start["record_status"] != _TBB or end["record_status"] != _TBB:
        return f"its START is {start['record_status']} and its END {end['record_status']}"
    if start["user"] != end["user"] or start["instrument"] != end["instrument"]:
        return "its START and END name different users or instruments"
    return None


def settled(rows: Rows) -> bool:
    """True when NexusLIMS has finished with a session in its file (a final status set)."""
    starts, ends, rgs = _split(rows)
    if len(starts) != 1 or len(ends) != 1:
        return False
    status = starts[0]["record_status"]
    if ends[0]["record_status"] != status or status in (_TBB, _WAIT):
        return False
    return not any(r["record_status"] == _WAIT for r in rgs)


def describe_rows(rows: Rows) -> str:
    """``START/END COMPLETED, 1 RECORD_GENERATION`` (for messages)."""
    if not rows:
        return "absent"
    starts, ends, rgs = _split(rows)
    statuses = sorted({r["record_status"] for r in starts + ends})
    text_ = f"START/END {'/'.join(statuses) or 'missing'}"
    return text_ + (f", {len(rgs)} RECORD_GENERATION" if rgs else "")


def decide(pg_rows: Rows, sq_rows: Rows, base: bt.LedgerEntry | None) -> Decision:
    """What to do with one session, from its rows on both sides and the last agreement."""
    sid = (pg_rows or sq_rows or [{"session_identifier": base.session_identifier if base else ""}])[
        0
    ]["session_identifier"]
    pg_fp, sq_fp = bt.fingerprint(pg_rows), bt.fingerprint(sq_rows)
    if pg_fp and pg_fp == sq_fp:
        if base is not None and base.pg_fp == pg_fp and base.sq_fp == sq_fp:
            return Decision(sid, Action.NONE)
        return Decision(sid, Action.ADOPT, "the same on both sides")
    problem = pg_problem(pg_rows)
    has_tbb = any(r["record_status"] == _TBB for r in pg_rows)
    if base is None:
        if not sq_rows:
            if problem is None:
                return Decision(sid, Action.COPY_IN, "new")
            return Decision(sid, Action.NOT_READY if has_tbb else Action.NONE, problem)
        return Decision(
            sid,
            Action.CONFLICT,
            f"it is already in NexusLIMS's file ({describe_rows(sq_rows)}), with other content "
            f"than in PostgreSQL ({describe_rows(pg_rows)}), and no bridge copied it there",
        )
    pg_changed, sq_changed = pg_fp != base.pg_fp, sq_fp != base.sq_fp
    if not sq_rows and (sq_changed or pg_changed):
        if problem is None:
            return Decision(sid, Action.COPY_IN, "missing from NexusLIMS's file: copied again")
        return Decision(sid, Action.MISSING, "bridged before but missing from NexusLIMS's file")
    if pg_changed and sq_changed:
        return Decision(
            sid,
            Action.CONFLICT,
            f"it changed on both sides since the last run: PostgreSQL now "
            f"{describe_rows(pg_rows)}, NexusLIMS's file now {describe_rows(sq_rows)}",
        )
    if pg_changed:
        if problem is None:
            return Decision(sid, Action.COPY_IN, "queued again in PostgreSQL")
        return Decision(sid, Action.NOT_READY if has_tbb else Action.NONE, problem)
    if sq_changed:
        if settled(sq_rows):
            return Decision(sid, Action.COPY_OUT, describe_rows(sq_rows))
        return Decision(sid, Action.BUILDING, "NexusLIMS is building it")
    return Decision(sid, Action.NONE)


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


def _group(result: Iterable[Any], into: dict[str, Rows] | None = None) -> dict[str, Rows]:
    out: dict[str, Rows] = {} if into is None else into
    for row in result:
        out.setdefault(row["session_identifier"], []).append(dict(row))
    return out


def _rows_for(
    conn: Connection, sids: Iterable[str], *, for_update: bool = False
) -> dict[str, Rows]:
    out: dict[str, Rows] = {}
    for chunk in _chunks(sorted(set(sids)), 900):
        stmt = select(*_COLS).where(_T.c.session_identifier.in_(chunk))
        if for_update:
            stmt = stmt.with_for_update()
        _group(conn.execute(stmt.order_by(_T.c.id_session_log)).mappings(), out)
    return out


def _pg_candidates(conn: Connection) -> dict[str, Rows]:
    """Rows of every PostgreSQL session that is TO_BE_BUILT or in the (levelled) ledger."""
    queued = select(_T.c.session_identifier).where(_T.c.record_status == _TBB)
    stmt = select(*_COLS).where(
        _T.c.session_identifier.in_(queued)
        | _T.c.session_identifier.in_(select(bt.ledger.c.session_identifier))
    )
    return _group(conn.execute(stmt.order_by(_T.c.id_session_log)).mappings())


@dataclass
class Snapshot:
    """Both sides of every session a run looks at, and the agreement points."""

    pg_rows: dict[str, Rows]
    sq_rows: dict[str, Rows]
    base: dict[str, bt.LedgerEntry]
    pg_instruments: dict[str, dict[str, Any]]
    sq_instruments: dict[str, str]  # pid -> api_url

    def sids(self) -> list[str]:
        return sorted(set(self.pg_rows) | set(self.base))

    def pg(self, sid: str) -> Rows:
        return self.pg_rows.get(sid, [])

    def sq(self, sid: str) -> Rows:
        return self.sq_rows.get(sid, [])


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
        except Exception:
            self.unlock()
            raise
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
        with write_transaction(self.pg) as wconn:
            _save_state(wconn, {"host": socket.gethostname(), "pid": os.getpid()})

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
            raise NotFound(
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
    file_id = _file_identity(sq)
    with write_transaction(pg) as conn:
        row = conn.execute(
            select(bt.state).where(bt.state.c.name == bt.STATE_KEY).with_for_update()
        ).first()
        if row is not None and row.file_id and row.file_id != file_id and not new_file:
            raise Conflict(
                f"{describe(pg)} is bridged to another NexusLIMS file (last seen as "
                f"{row.file_path}); bridging it to {path} as well would copy sessions twice. "
                "Give that file, or add --new-file if this file really replaces it."
            )
        _save_state(conn, {"file_id": file_id, "file_path": str(path)})
    return Pair(pg, sq, path, file_id)


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


# --------------------------------------------------------------------------------------------
# Writing


@dataclass
class RunReport:
    """What one run did (or, dry, would do)."""

    decisions: list[Decision] = field(default_factory=list)
    copied_in: int = 0
    copied_out: int = 0
    adopted: int = 0
    skipped: int = 0  # changed between planning and writing: looked at again next run
    new_conflicts: int = 0
    dry_run: bool = False

    def of(self, action: Action) -> list[Decision]:
        return [d for d in self.decisions if d.action is action]

    @property
    def conflicts(self) -> list[Decision]:
        return self.of(Action.CONFLICT)

    def counts(self) -> dict[str, int]:
        return {a.value: len(self.of(a)) for a in Action if a is not Action.NONE}

    def as_dict(self) -> dict[str, Any]:
        return {
            "copied_in": self.copied_in,
            "copied_out": self.copied_out,
            "adopted": self.adopted,
            "skipped": self.skipped,
            "planned": self.counts(),
            "conflicts": [
                {"session_identifier": d.session_identifier, "reason": d.reason}
                for d in self.conflicts
            ],
            "not_ready": [
                {"session_identifier": d.session_identifier, "reason": d.reason}
                for d in self.of(Action.NOT_READY)
            ],
            "dry_run": self.dry_run,
        }

    def message(self) -> str:
        if self.dry_run:
            n = self.counts()
            return (
                f"{n['copy_in']} session(s) wait to be copied to NexusLIMS, {n['copy_out']} "
                f"result(s) to be copied back; {n['building']} being built; "
                f"{n['conflict']} conflict(s)."
            )
        parts = [
            f"Copied {self.copied_in} session(s) to NexusLIMS and {self.copied_out} result(s) "
            "back to PostgreSQL."
        ]
        if self.conflicts:
            parts.append(f"{len(self.conflicts)} conflict(s) left alone (see --status).")
        if self.of(Action.BUILDING):
            parts.append(f"{len(self.of(Action.BUILDING))} being built by NexusLIMS.")
        if self.of(Action.NOT_READY):
            parts.append(
                f"{len(self.of(Action.NOT_READY))} TO_BE_BUILT session(s) not copied "
                "(incomplete: see --status)."
            )
        return " ".join(parts)


def _next_gen(snap: Snapshot, sid: str) -> int:
    base = snap.base.get(sid)
    return (base.gen if base else 0) + 1


def _copy_in(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    for batch in _chunks(list(sids), _batch()):
        entries: list[bt.LedgerEntry] = []
        with write_transaction(pair.sq) as conn:
            _fault("copy_in_begin")
            current = _rows_for(conn, batch)
            have = set(conn.execute(select(_I.c.instrument_pid)).scalars())
            inserts: Rows = []
            done: list[str] = []
            for sid in batch:
                rows = current.get(sid, [])
                if bt.fingerprint(rows) != bt.fingerprint(snap.sq(sid)):
                    report.skipped += 1
                    continue
                pg_rows = [r for r in snap.pg(sid) if r["event_type"] in (_START, _END)]
                if rows:
                    starts, ends, _ = _split(rows)
                    if len(starts) != 1 or len(ends) != 1:
                        report.skipped += 1
                        continue
                    for old, new in (
                        (starts[0], _split(pg_rows)[0][0]),
                        (ends[0], _split(pg_rows)[1][0]),
                    ):
                        conn.execute(
                            update(_T)
                            .where(_T.c.id_session_log == old["id_session_log"])
                            .values(**_row_values(new))
                        )
                else:
                    inserts.extend(_row_values(r) for r in pg_rows)
                done.append(sid)
            for pid in sorted({r["instrument"] for r in inserts} - have):
                conn.execute(insert(_I).values(**snap.pg_instruments[pid]))
                _logger.info("Bridge: added instrument %s to %s", pid, pair.path)
            if inserts:
                conn.execute(insert(_T), inserts)
            after = _rows_for(conn, done)
            at = _now()
            entries = [
                bt.LedgerEntry(
                    sid,
                    _next_gen(snap, sid),
                    bt.fingerprint(snap.pg(sid)),
                    bt.fingerprint(after.get(sid, [])),
                    at,
                    "copied_in",
                )
                for sid in done
            ]
            bt.upsert_ledger(conn, entries)
            _fault("copy_in_commit")
        _fault("copy_in_committed")
        report.copied_in += len(entries)
        with write_transaction(pair.pg) as conn:
            bt.upsert_ledger(conn, entries)


def _row_values(row: dict[str, Any]) -> dict[str, Any]:
    return {
        k: row[k]
        for k in (
            "session_identifier",
            "instrument",
            "timestamp",
            "event_type",
            "record_status",
            "user",
        )
    }


def _copy_out(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    for batch in _chunks(list(sids), _batch()):
        entries: list[bt.LedgerEntry] = []
        with write_transaction(pair.pg) as conn:
            _fault("copy_out_begin")
            current = _rows_for(conn, batch, for_update=True)
            sq_ids = [r["id_session_log"] for s in batch for r in _split(snap.sq(s))[2]]
            mapped: set[int] = set()
            for chunk in _chunks(sq_ids, 900):
                mapped.update(
                    conn.execute(
                        select(bt.rg_map.c.sqlite_id).where(
                            bt.rg_map.c.file_id == pair.file_id, bt.rg_map.c.sqlite_id.in_(chunk)
                        )
                    ).scalars()
                )
            new_rg: Rows = []
            statuses: list[dict[str, Any]] = []
            done: list[str] = []
            for sid in batch:
                if bt.fingerprint(current.get(sid, [])) != bt.fingerprint(snap.pg(sid)):
                    report.skipped += 1
                    continue
                sq_rows = snap.sq(sid)
                new_rg.extend(r for r in _split(sq_rows)[2] if r["id_session_log"] not in mapped)
                statuses.append({"sid": sid, "st": _split(sq_rows)[0][0]["record_status"]})
                done.append(sid)
            if new_rg:
                ids = (
                    conn.execute(
                        insert(_T).returning(_T.c.id_session_log, sort_by_parameter_order=True),
                        [_row_values(r) for r in new_rg],
                    )
                    .scalars()
                    .all()
                )
                conn.execute(
                    insert(bt.rg_map),
                    [
                        {
                            "file_id": pair.file_id,
                            "sqlite_id": r["id_session_log"],
                            "session_identifier": r["session_identifier"],
                            "pg_id": pg_id,
                        }
                        for r, pg_id in zip(new_rg, ids, strict=True)
                    ],
                )
            if statuses:
                from sqlalchemy import bindparam

                conn.execute(
                    update(_T)
                    .where(_T.c.session_identifier == bindparam("sid"))
                    .values(record_status=bindparam("st")),
                    statuses,
                )
            after = _rows_for(conn, done)
            at = _now()
            entries = [
                bt.LedgerEntry(
                    sid,
                    _next_gen(snap, sid),
                    bt.fingerprint(after.get(sid, [])),
                    bt.fingerprint(snap.sq(sid)),
                    at,
                    "copied_out",
                )
                for sid in done
            ]
            bt.upsert_ledger(conn, entries)
            _fault("copy_out_commit")
        _fault("copy_out_committed")
        report.copied_out += len(entries)
        with write_transaction(pair.sq) as conn:
            bt.upsert_ledger(conn, entries)


def _adopt(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    """Record that both sides agree (copied by hand, or a crash after both writes)."""
    at = _now()
    entries = [
        bt.LedgerEntry(
            s,
            _next_gen(snap, s),
            bt.fingerprint(snap.pg(s)),
            bt.fingerprint(snap.sq(s)),
            at,
            "adopted",
        )
        for s in sids
    ]
    for batch in _chunks(entries, _batch()):
        with write_transaction(pair.sq) as conn:
            bt.upsert_ledger(conn, batch)
        with write_transaction(pair.pg) as conn:
            bt.upsert_ledger(conn, batch)
    report.adopted += len(entries)


def _record_conflicts(
    pair: Pair, snap: Snapshot, found: Sequence[Decision], report: RunReport
) -> None:
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    at = _now()
    current = {d.session_identifier for d in found}
    with write_transaction(pair.pg) as conn:
        for d in found:
            sid = d.session_identifier
            result = conn.execute(
                pg_insert(bt.conflict)
                .values(
                    session_identifier=sid,
                    found_at=at,
                    pg_fp=bt.fingerprint(snap.pg(sid)),
                    sq_fp=bt.fingerprint(snap.sq(sid)),
                    message=d.reason,
                )
                .on_conflict_do_nothing()
            )
            if result.rowcount:
                report.new_conflicts += 1
                _logger.warning(
                    "Bridge conflict on session %s: %s; left alone on both sides.", sid, d.reason
                )
        open_ids = conn.execute(
            select(bt.conflict.c.id, bt.conflict.c.session_identifier).where(
                bt.conflict.c.resolved_at.is_(None)
            )
        ).all()
        gone = [i for i, sid in open_ids if sid not in current]
        if gone:
            conn.execute(
                update(bt.conflict)
                .where(bt.conflict.c.id.in_(gone))
                .values(resolved_at=at, resolved_by="bridge: no longer in conflict")
            )


def plan(snap: Snapshot) -> list[Decision]:
    """A decision for every session of the snapshot (instruments checked too)."""
    out = []
    for sid in snap.sids():
        d = decide(snap.pg(sid), snap.sq(sid), snap.base.get(sid))
        if d.action is Action.COPY_IN:
            pid = snap.pg(sid)[0]["instrument"]
            if pid not in snap.sq_instruments:
                api = (snap.pg_instruments.get(pid) or {}).get("api_url")
                clash = [p for p, a in snap.sq_instruments.items() if a == api]
                if pid not in snap.pg_instruments or clash:
                    d = Decision(
                        sid,
                        Action.NOT_READY,
                        f"its instrument {pid} cannot be added to NexusLIMS's file "
                        f"(its api_url is already used by {', '.join(clash) or '?'})",
                    )
        out.append(d)
    return out


def run_once(pair: Pair, *, dry_run: bool = False) -> RunReport:
    """One pass in both directions (the caller holds the pair's lock)."""
    snap = pair.snapshot()
    report = RunReport(plan(snap), dry_run=dry_run)
    if dry_run:
        return report
    # In PostgreSQL's order, so that the file's row ids follow the sessions' order.
    copy_in = sorted(
        (d.session_identifier for d in report.of(Action.COPY_IN)),
        key=lambda s: min(r["id_session_log"] for r in snap.pg(s)),
    )
    _copy_in(pair, snap, copy_in, report)
    _copy_out(pair, snap, [d.session_identifier for d in report.of(Action.COPY_OUT)], report)
    _adopt(pair, snap, [d.session_identifier for d in report.of(Action.ADOPT)], report)
    _record_conflicts(pair, snap, report.conflicts, report)
    n = report.counts()
    with write_transaction(pair.pg) as conn:
        _save_state(
            conn,
            {
                "last_run_at": _now(),
                "last_success_at": _now(),
                "last_error": None,
                "waiting_in": n["copy_in"] - report.copied_in,
                "waiting_out": n["copy_out"] - report.copied_out,
                "in_progress": n["building"],
                "summary": report.message(),
            },
        )
    _logger.info("Bridge %s: %s", pair.where, report.message())
    return report


def record_error(pair_or_source: Pair | str, error: BaseException) -> None:
    """Remember the last error in PostgreSQL for ``--status`` and the Admin tab (best effort)."""
    try:
        pg = pair_or_source.pg if isinstance(pair_or_source, Pair) else get_engine(pair_or_source)
        ensure_tables(pg, bt.PG_TABLES, meta=bt.bridge_metadata)
        with write_transaction(pg) as conn:
            _save_state(
                conn, {"last_run_at": _now(), "last_error": str(error), "last_error_at": _now()}
            )
    except Exception:
        _logger.debug("Could not record the bridge error in PostgreSQL", exc_info=True)


def resolve(pair: Pair, session_identifier: str, keep: str, *, by: str) -> str:
    """Settle a conflict: move the agreement point so that the next run copies ``keep``'s side.

    ``keep="postgres"``: the file counts as unchanged and PostgreSQL as changed (so a
    TO_BE_BUILT session is copied in again); ``keep="nexuslims"``: the reverse (NexusLIMS's
    result is copied back).
    """
    if keep not in ("postgres", "nexuslims"):
        raise ConfigError("--keep must be 'postgres' or 'nexuslims'.")
    snap = pair.snapshot()
    sid = session_identifier.strip()
    if not snap.pg(sid) and not snap.sq(sid):
        raise NotFound(f"The session {sid} is not among the sessions the bridge looks at.")
    pg_fp, sq_fp = bt.fingerprint(snap.pg(sid)), bt.fingerprint(snap.sq(sid))
    entry = bt.LedgerEntry(
        sid,
        _next_gen(snap, sid),
        "-" if keep == "postgres" else pg_fp,
        sq_fp if keep == "postgres" else "-",
        _now(),
        f"resolved:{keep}",
    )
    with write_transaction(pair.pg) as conn:
        bt.upsert_ledger(conn, [entry])
        conn.execute(
            update(bt.conflict)
            .where(bt.conflict.c.session_identifier == sid, bt.conflict.c.resolved_at.is_(None))
            .values(resolved_at=_now(), resolved_by=by, kept=keep)
        )
    with write_transaction(pair.sq) as conn:
        bt.upsert_ledger(conn, [entry])
    side = "PostgreSQL's" if keep == "postgres" else "NexusLIMS's"
    return f"Session {sid}: {side} version is kept; the next run copies it over."


def watch(
    pair: Pair,
    interval: float,
    stop: threading.Event,
    on_report: Callable[[RunReport | None, BaseException | None], None] | None = None,
) -> None:
    """Run every ``interval`` seconds until ``stop`` is set (the caller holds the lock)."""
    while not stop.is_set():
        try:
            if not pair.lock_alive():
                _logger.warning("Bridge: the PostgreSQL lock connection was lost; taking it again")
                pair.relock()
            report = run_once(pair)
            if on_report:
                on_report(report, None)
        except BridgeBusy:
            raise
        except NexusLoggerError as err:
            _logger.error("Bridge run failed: %s", err)
            record_error(pair, err)
            if on_report:
                on_report(None, err)
        stop.wait(interval)
