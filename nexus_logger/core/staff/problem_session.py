"""One session's rows with what the problem checks derive from them, computed once on demand."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

from nexus_logger.core import timestamps
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.staff.problem_kinds import Problem, ProblemKind
from nexus_logger.core.staff.problem_scan import FUTURE_SLACK, Row

TO_BUILD = RecordStatus.TO_BE_BUILT.value
WAITING = RecordStatus.WAITING_FOR_END.value


def parses(text: str | None) -> bool:
    """Whether NexusLIMS can read ``text`` as a timestamp at all."""
    if text is None:
        return False
    try:
        timestamps.parse(text)
    except timestamps.TimestampError:
        return False
    return True


def parse_in(text: str, tz: str | None) -> datetime | None:
    """``text`` as an aware time (naive ones read in ``tz``), or None when unreadable."""
    try:
        return timestamps.parse(text, tz)
    except timestamps.TimestampError:
        return None


def hours_text(delta: timedelta) -> str:
    """A duration as the problem texts show it (hours, or days past two days)."""
    hours = delta.total_seconds() / 3600
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    return f"{hours:.1f} h"


@dataclass
class SessionRows:
    """One session's rows and the facts several checks share."""

    ident: str
    rows: list[Row]
    zones: dict[str, str]
    long_limit: timedelta
    now: datetime
    #: PostgreSQL: NexusLIMS builds from the bridge's copy in its own file, and the bridge
    #: leaves out a session NexusLIMS cannot pair or read, so no such session stops the run.
    bridged: bool = False

    def harm(self) -> str:
        """What a session NexusLIMS cannot pair or read does to the build, after "NexusLIMS
        ... fails on it" (the run stops, or, bridged, this session alone is left out)."""
        if self.bridged:
            return (
                "; the bridge leaves such a session out of NexusLIMS's file, so it is not "
                "built until this is fixed (the other sessions are)."
            )
        return " and stops the whole build run, so no session gets built."

    @cached_property
    def starts(self) -> list[Row]:
        return [r for r in self.rows if r.event_type == EventType.START.value]

    @cached_property
    def ends(self) -> list[Row]:
        return [r for r in self.rows if r.event_type == EventType.END.value]

    @property
    def start(self) -> Row:
        """The first START (only asked by checks that need one)."""
        return self.starts[0]

    @cached_property
    def instrument(self) -> str | None:
        if self.starts:
            return self.starts[0].instrument
        return self.rows[0].instrument if self.rows else None

    @cached_property
    def unreadable(self) -> list[Row]:
        return [r for r in self.rows if not parses(r.timestamp)]

    @cached_property
    def users_differ(self) -> list[Row]:
        return [r for r in self.ends if r.user != self.start.user]

    @cached_property
    def instruments_differ(self) -> list[Row]:
        return [r for r in self.ends if r.instrument != self.start.instrument]

    @cached_property
    def blocking(self) -> bool:
        """The pairing rule of ``get_sessions_to_build()``: a TO_BE_BUILT START, no matching END."""
        start = self.start
        matching = [
            r
            for r in self.ends
            if r.record_status == TO_BUILD
            and r.user == start.user
            and r.instrument == start.instrument
        ]
        return start.record_status == TO_BUILD and not matching

    @cached_property
    def began(self) -> datetime | None:
        return parse_in(self.start.timestamp, self.zones.get(self.start.instrument))

    def ended(self, end: Row) -> datetime | None:
        """When ``end`` happened, read in its instrument's zone (else the START's)."""
        tz = self.zones.get(self.start.instrument)
        return parse_in(end.timestamp, self.zones.get(end.instrument, tz))

    @cached_property
    def in_future(self) -> bool:
        """A START after now, unless an END before it already says what is wrong."""
        began = self.began
        if began is None or began <= self.now + FUTURE_SLACK:
            return False
        return not any((e := self.ended(end)) is not None and e < began for end in self.ends)

    @cached_property
    def mentions(self) -> tuple[str, ...]:
        return tuple(sorted({r.user for r in self.rows if r.user}))

    def problem(
        self, kind: ProblemKind, explanation: str, action: str, affected: Iterable[Row], **kw: Any
    ) -> Problem:
        """A problem of this session naming the ``affected`` rows."""
        if self.bridged:
            kw["blocks_build"] = False  # the bridge holds the session back (see ``harm``)
        return Problem(
            kind=kind,
            session_identifier=self.ident,
            instrument=self.instrument,
            explanation=explanation,
            action=action,
            row_ids=tuple(r.id for r in affected),
            mentions=self.mentions,
            **kw,
        )
