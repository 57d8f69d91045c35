"""The bridge's writes: sessions copied into NexusLIMS's file, results copied back, agreements.

Each batch is one transaction in the database written to, together with that database's
ledger rows, then the ledger rows are copied to the other side (bridge.py says why that makes
every copy happen exactly once). A session whose rows changed since the run planned is
skipped; the next run sees the change.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from nexus_logger.core import faults
from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.bridge.bridge_pair import Pair, _chunks, _now, _rows_for
from nexus_logger.core.bridge.bridge_plan import _END, _START, Rows, RunReport, Snapshot, _split
from nexus_logger.core.db.engine import write_transaction
from nexus_logger.core.db.models import instruments, session_log

__all__ = ["BATCH", "adopt", "copy_in", "copy_out"]

_logger = logging.getLogger(__name__)

_T = session_log
_I = instruments
#: The columns a copy carries (every one but the row id, which each database gives).
_COPIED = tuple(c.name for c in _T.columns if not c.primary_key)

#: Sessions per write transaction: small enough that the file's write lock is held briefly
#: (about 30 ms for 500 sessions). ``NEXUS_LOGGER_BRIDGE_BATCH`` overrides it (tests).
BATCH = 500


def _fault(step: str) -> None:
    """Kill this process at ``step`` when the fault-injection variable names it (tests)."""
    faults.point(f"bridge:{step}")


#: Pause between two batches written to NexusLIMS's file. A NexusLIMS process waiting for the
#: file's write lock looks again at most every 100 ms (SQLite's busy handler); without a pause
#: the next batch took the lock first, again and again: a NexusLIMS-like writer waited 3.2 s
#: during a first copy of 100,000 sessions (NexusLIMS gives up after 5 s).
YIELD_SECONDS = 0.12


def _yield_file() -> None:
    """NexusLIMS's turn at its file between two batches (each batch writes the file: the
    sessions copied in, or the ledger rows of what was copied back or adopted)."""
    time.sleep(YIELD_SECONDS)


def _batch() -> int:
    try:
        return max(1, int(os.environ.get("NEXUS_LOGGER_BRIDGE_BATCH", BATCH)))
    except ValueError:
        return BATCH


def next_gen(snap: Snapshot, sid: str) -> int:
    """The number of the session's next agreement point."""
    base = snap.base.get(sid)
    return (base.gen if base else 0) + 1


def _row_values(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _COPIED}


def _entry(snap: Snapshot, sid: str, pg: Rows, sq: Rows, at: str, how: str) -> bt.LedgerEntry:
    """The session's next agreement point: both sides' rows fingerprinted."""
    return bt.LedgerEntry(sid, next_gen(snap, sid), bt.fingerprint(pg), bt.fingerprint(sq), at, how)


def _ledger_entries(
    snap: Snapshot, sids: Sequence[str], written: dict[str, list[dict[str, Any]]], how: str
) -> list[bt.LedgerEntry]:
    """One ledger entry per copied session: the source side as read, the side just written
    (``written``: the copy's rows read back), fingerprinted."""
    at = _now()
    entries = []
    for sid in sids:
        copy = written.get(sid, [])
        pg, sq = (snap.pg(sid), copy) if how == "copied_in" else (copy, snap.sq(sid))
        entries.append(_entry(snap, sid, pg, sq, at, how))
    return entries


def _in_batches(
    sids: Sequence[str],
    step: str,
    target: Engine,
    other: Engine,
    write: Callable[[Connection, list[str]], list[bt.LedgerEntry]],
    counted: Callable[[int], None],
) -> None:
    """Each batch of ``sids``: ``write`` and its ledger rows in one ``target`` transaction,
    then the ledger rows copied to ``other``."""
    for number, batch in enumerate(_chunks(list(sids), _batch())):
        if number:
            _yield_file()
        with write_transaction(target) as conn:
            _fault(f"{step}_begin")
            entries = write(conn, batch)
            bt.upsert_ledger(conn, entries)
            _fault(f"{step}_commit")
        _fault(f"{step}_committed")
        counted(len(entries))
        with write_transaction(other) as conn:
            bt.upsert_ledger(conn, entries)


def copy_in(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    """Copy TO_BE_BUILT sessions into the file (new ones inserted, re-queued ones updated)."""

    def write(conn: Connection, batch: list[str]) -> list[bt.LedgerEntry]:
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
                if not _requeue(conn, rows, pg_rows):
                    report.skipped += 1
                    continue
            else:
                inserts.extend(_row_values(r) for r in pg_rows)
            done.append(sid)
        for pid in sorted({r["instrument"] for r in inserts} - have):
            conn.execute(insert(_I).values(**snap.pg_instruments[pid]))
            _logger.info("Bridge: added instrument %s to %s", pid, pair.path)
        if inserts:
            conn.execute(insert(_T), inserts)
        return _ledger_entries(snap, done, _rows_for(conn, done), "copied_in")

    def counted(n: int) -> None:
        report.copied_in += n

    _in_batches(sids, "copy_in", pair.sq, pair.pg, write, counted)


def _requeue(conn: Connection, rows: Rows, pg_rows: Rows) -> bool:
    """Overwrite the file's START and END with PostgreSQL's; False when it has not one each."""
    starts, ends, _ = _split(rows)
    if len(starts) != 1 or len(ends) != 1:
        return False
    for old, new in (
        (starts[0], _split(pg_rows)[0][0]),
        (ends[0], _split(pg_rows)[1][0]),
    ):
        conn.execute(
            update(_T)
            .where(_T.c.id_session_log == old["id_session_log"])
            .values(**_row_values(new))
        )
    return True


def copy_out(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    """Copy NexusLIMS's results back: its RECORD_GENERATION rows and the final statuses."""

    def write(conn: Connection, batch: list[str]) -> list[bt.LedgerEntry]:
        current = _rows_for(conn, batch, for_update=True)
        mapped = _mapped_rg(conn, pair, snap, batch)
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
            _insert_rg(conn, pair, new_rg)
        _set_statuses(conn, statuses)
        return _ledger_entries(snap, done, _rows_for(conn, done), "copied_out")

    def counted(n: int) -> None:
        report.copied_out += n

    _in_batches(sids, "copy_out", pair.pg, pair.sq, write, counted)


def _mapped_rg(conn: Connection, pair: Pair, snap: Snapshot, batch: Sequence[str]) -> set[int]:
    """The file's RECORD_GENERATION row ids of ``batch`` already copied back earlier."""
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
    return mapped


def _insert_rg(conn: Connection, pair: Pair, new_rg: Rows) -> None:
    """Insert the new RECORD_GENERATION rows and map each to the file's row it copies."""
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


def _set_statuses(conn: Connection, statuses: list[dict[str, Any]]) -> None:
    """One UPDATE per final status (there are few), not one per session."""
    by_status: dict[str, list[str]] = {}
    for item in statuses:
        by_status.setdefault(item["st"], []).append(item["sid"])
    for status, status_sids in by_status.items():
        for chunk in _chunks(status_sids, 900):
            conn.execute(
                update(_T).where(_T.c.session_identifier.in_(chunk)).values(record_status=status)
            )


def adopt(pair: Pair, snap: Snapshot, sids: Sequence[str], report: RunReport) -> None:
    """Record that both sides agree (copied by hand, or a crash after both writes)."""
    at = _now()
    entries = [_entry(snap, s, snap.pg(s), snap.sq(s), at, "adopted") for s in sids]
    for number, batch in enumerate(_chunks(entries, _batch())):
        if number:
            _yield_file()
        with write_transaction(pair.sq) as conn:
            bt.upsert_ledger(conn, batch)
        with write_transaction(pair.pg) as conn:
            bt.upsert_ledger(conn, batch)
    report.adopted += len(entries)
