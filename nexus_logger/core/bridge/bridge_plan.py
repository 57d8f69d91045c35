"""Judging one bridged session: what a run does with it, from both sides and the ledger.

Pure functions (no database): :func:`decide` compares a session's rows in PostgreSQL and in
NexusLIMS's file with their last agreement point (see :mod:`nexus_logger.core.bridge.bridge`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from nexus_logger.core.bridge import bridge_tables as bt
from nexus_logger.core.enums import EventType, RecordStatus

_START, _END, _RG = EventType.START.value, EventType.END.value, EventType.RECORD_GENERATION.value
_TBB, _WAIT = RecordStatus.TO_BE_BUILT.value, RecordStatus.WAITING_FOR_END.value

Rows = list[dict[str, Any]]


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
    for row in (start, end):
        try:  # what NexusLIMS does to every TO_BE_BUILT row it loads
            datetime.fromisoformat(str(row["timestamp"]))
        except ValueError:
            return (
                f"its {row['event_type']} time {row['timestamp']!r} is not ISO-8601 "
                "(NexusLIMS could not read it)"
            )
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
