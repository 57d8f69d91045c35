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
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import select, update

from nexus_logger.core import cycle_collector, faults
from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.bridge.bridge_copy import BATCH, adopt, copy_in, copy_out, next_gen
from nexus_logger.core.bridge.bridge_pair import (
    LOCK_NAME,
    BridgeBusy,
    Pair,
    _now,
    _save_state,
    open_pair,
)
from nexus_logger.core.bridge.bridge_plan import (
    Action,
    Decision,
    RunReport,
    Snapshot,
    decide,
    pg_problem,
    plan,
    settled,
)
from nexus_logger.core.db.engine import get_engine, read_connection, write_transaction
from nexus_logger.core.db.logger_tables import ADVISORY_NAMESPACE, advisory_key, ensure_tables
from nexus_logger.core.errors import ConfigError, Conflict, NexusLoggerError, NotFound

# The bridge's public names, wherever they are defined.
__all__ = [
    "ADVISORY_NAMESPACE",
    "BATCH",
    "DEFAULT_INTERVAL",
    "FAULT_ENV",
    "LOCK_NAME",
    "Action",
    "BridgeBusy",
    "Decision",
    "Pair",
    "RunReport",
    "Snapshot",
    "advisory_key",
    "decide",
    "open_pair",
    "plan",
    "record_error",
    "resolve",
    "run_once",
    "settled",
    "watch",
]

_logger = logging.getLogger(__name__)

#: The variable that names a step where the process kills itself (tests only; core/faults.py).
FAULT_ENV = faults.ENV
DEFAULT_INTERVAL = 60.0


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


def run_once(pair: Pair, *, dry_run: bool = False) -> RunReport:
    """One pass in both directions (the caller holds the pair's lock)."""
    snap = pair.snapshot()
    report = RunReport(plan(snap), dry_run=dry_run)
    if dry_run:
        return report
    # In PostgreSQL's order, so that the file's row ids follow the sessions' order.
    copy_in_order = sorted(
        (d.session_identifier for d in report.of(Action.COPY_IN)),
        key=lambda s: min(r["id_session_log"] for r in snap.pg(s)),
    )
    copy_in(pair, snap, copy_in_order, report)
    copy_out(pair, snap, [d.session_identifier for d in report.of(Action.COPY_OUT)], report)
    adopt(pair, snap, [d.session_identifier for d in report.of(Action.ADOPT)], report)
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
    with read_connection(pair.pg) as conn:
        waiting = conn.execute(
            select(bt.conflict.c.session_identifier).where(
                bt.conflict.c.session_identifier == sid, bt.conflict.c.resolved_at.is_(None)
            )
        ).first()
    if waiting is None:
        # Settling a session in agreement would copy PostgreSQL's TO_BE_BUILT over a record
        # NexusLIMS built, and NexusLIMS would build it a second time.
        raise Conflict(
            f"No conflict waits for session {sid}: there is nothing to settle, and nothing "
            "was changed. 'nexus-logger bridge --status' lists the conflicts that wait."
        )
    pg_fp, sq_fp = bt.fingerprint(snap.pg(sid)), bt.fingerprint(snap.sq(sid))
    # PostgreSQL's version not being a session to build, there is nothing to send: accept both.
    keep_as_is = keep == "postgres" and pg_problem(snap.pg(sid)) is not None
    entry = bt.LedgerEntry(
        sid,
        next_gen(snap, sid),
        "-" if keep == "postgres" and not keep_as_is else pg_fp,
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
    if keep_as_is:
        return (
            f"Session {sid}: PostgreSQL's version is kept; it is not a session to build, so "
            "nothing is sent to NexusLIMS and NexusLIMS's file keeps what it has."
        )
    side = "PostgreSQL's" if keep == "postgres" else "NexusLIMS's"
    return f"Session {sid}: {side} version is kept; the next run copies it over."


def watch(
    pair: Pair,
    interval: float,
    stop: threading.Event,
    on_report: Callable[[RunReport | None, BaseException | None], None] | None = None,
) -> None:
    """Run every ``interval`` seconds until ``stop`` is set (the caller holds the lock)."""
    cycle_collector.resume()  # a service that runs for days: past its start (cli.run paused it)
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
