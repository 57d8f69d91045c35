"""The problem rules about a session's times: unreadable or without a zone, an END before its
START, a START in the future, a session open or lasting too long. The table of every rule is
:data:`~nexus_logger.core.staff.problem_checks.CHECKS`.
"""

from __future__ import annotations

from nexus_logger.core import timestamps
from nexus_logger.core.staff.problem_kinds import Problem, ProblemKind, fmt_user
from nexus_logger.core.staff.problem_scan import NOT_BUILT
from nexus_logger.core.staff.problem_session import (
    TO_BUILD,
    WAITING,
    SessionRows,
    hours_text,
    parse_in,
)


def bad_timestamp(s: SessionRows) -> list[Problem]:
    """Timestamps NexusLIMS cannot read at all."""
    bad = s.unreadable
    if not bad:
        return []
    blocking = any(r.record_status == TO_BUILD for r in bad)
    return [
        s.problem(
            ProblemKind.BAD_TIMESTAMP,
            f"{len(bad)} row(s) of session {s.ident} hold a timestamp that is not an ISO-8601 "
            f"time ({', '.join(repr(r.timestamp) for r in bad[:3])}). NexusLIMS parses every "
            "TO_BE_BUILT row with datetime.fromisoformat, "
            + (
                "fails on this one" + s.harm()
                if blocking
                else "and would fail on this one if the session were re-queued."
            ),
            "Correct the timestamp in the database (for example to 2025-01-06T08:06:34-05:00) "
            "with a database tool, then re-check.",
            bad,
            blocks_build=blocking,
        )
    ]


def naive_timestamp(s: SessionRows) -> list[Problem]:
    """Timestamps NexusLIMS reads without a zone."""
    naive = [r for r in s.rows if r not in s.unreadable and timestamps.is_naive(r.timestamp)]
    if not naive:
        return []
    return [
        s.problem(
            ProblemKind.NAIVE_TIMESTAMP,
            f"{len(naive)} row(s) of session {s.ident} have a timestamp without UTC offset "
            f"(e.g. {naive[0].timestamp!r}), as NexusLIMS 1.x wrote them. NexusLIMS 2.8 reads "
            "them as naive datetimes, which compare wrongly with the zone-aware times it uses "
            "to find the session's files.",
            "Nothing to do for sessions already built. For a session still to build, add to "
            "each timestamp the UTC offset its instrument's time zone "
            f"({s.zones.get(s.instrument or '', 'unknown')}) had at that moment (such as "
            "-05:00) before the back-end runs.",
            naive,
        )
    ]


def end_before_start(s: SessionRows) -> list[Problem]:
    """Each END earlier than the START: NexusLIMS would search an empty time range."""
    out = []
    for end in s.ends:
        ended = s.ended(end)
        if s.began is not None and ended is not None and ended < s.began:
            out.append(
                s.problem(
                    ProblemKind.END_BEFORE_START,
                    f"Session {s.ident} ends ({end.timestamp}) before it starts "
                    f"({s.start.timestamp}). NexusLIMS would look for files in an empty time "
                    "range and find none.",
                    "Correct the END's timestamp with a database tool (or the START's)"
                    + (
                        " before the next build run."
                        if s.start.record_status == TO_BUILD
                        else ", then re-queue the session so that NexusLIMS builds it again."
                    ),
                    [s.start, end],
                )
            )
    return out


def future_start(s: SessionRows) -> list[Problem]:
    """A START in the future: it blocks the instrument and cannot be ended normally."""
    if not s.in_future:
        return []
    start = s.start
    return [
        s.problem(
            ProblemKind.FUTURE_START,
            f"Session {s.ident} on {start.instrument} ({fmt_user(start.user)}) starts in the "
            f"future ({start.timestamp}). While it is open nobody can start a session on the "
            "instrument, and it cannot be ended normally (an END before its START).",
            "Force-end the session (admin action): it is then marked ERROR, so NexusLIMS never "
            "builds it; correct the START by hand if the session really happened.",
            [start],
            fix="force_end" if not s.ends else None,
        )
    ]


def long_open_session(s: SessionRows) -> list[Problem]:
    """A session still open after the long-session limit: probably forgotten."""
    start, began = s.start, s.began
    if s.in_future or s.ends or start.record_status != WAITING:
        return []
    if began is None or s.now - began <= s.long_limit:
        return []
    return [
        s.problem(
            ProblemKind.LONG_OPEN_SESSION,
            f"Session {s.ident} on {start.instrument} ({fmt_user(start.user)}) has been "
            f"open for {hours_text(s.now - began)}, since {start.timestamp}, longer than the "
            f"{s.long_limit.total_seconds() / 3600:g} h limit. Someone probably forgot to "
            "end it, and it will not be built until it ends.",
            "Ask the user when they stopped, then force-end the session at that time "
            "(admin action).",
            [start],
            fix="force_end",
        )
    ]


def long_session(s: SessionRows) -> list[Problem]:
    """An ended session not yet built that lasted longer than the limit."""
    start, began = s.start, s.began
    tz = s.zones.get(start.instrument)
    last_end = max(
        (e for r in s.ends if (e := parse_in(r.timestamp, tz)) is not None), default=None
    )
    if began is None or last_end is None or start.record_status not in NOT_BUILT:
        return []
    if last_end - began <= s.long_limit:
        return []
    return [
        s.problem(
            ProblemKind.LONG_SESSION,
            f"Session {s.ident} on {start.instrument} ({fmt_user(start.user)}) lasted "
            f"{hours_text(last_end - began)}, from {start.timestamp} to {s.ends[-1].timestamp}, "
            f"longer than the {s.long_limit.total_seconds() / 3600:g} h limit. It was probably "
            "left open and ended later (perhaps by the next user); NexusLIMS will build one "
            "record over all that time.",
            "Ask the user when they really stopped; if earlier, correct the END's time with a "
            "database tool before NexusLIMS builds the session.",
            [start, *s.ends],
        )
    ]
