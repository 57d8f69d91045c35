"""The problem rules for one session's rows: each rule is a small named check in :data:`CHECKS`.

Adding a rule is one function taking a :class:`SessionRows` and returning its problems, and
one line in the table (a new :class:`~nexus_logger.core.staff.problem_kinds.ProblemKind` too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nexus_logger.core import timestamps
from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff.problem_kinds import Problem, ProblemKind, fmt_user
from nexus_logger.core.staff.problem_scan import NOT_BUILT, STUCK_STATUSES
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
            "TO_BE_BUILT row with datetime.fromisoformat and "
            + (
                "stops the whole build run on this one."
                if blocking
                else "would stop the build run if this session were re-queued."
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


def unknown_instrument(s: SessionRows) -> list[Problem]:
    """Instruments NexusLIMS does not know (it does not enforce the foreign key)."""
    unknown = [r for r in s.rows if r.instrument not in s.zones]
    if not unknown:
        return []
    # NexusLIMS 2.8 still lists such a session to build (its instrument is None); building
    # it then fails on that session alone, which its build run marks ERROR and goes on.
    to_build = any(r.record_status == TO_BUILD for r in unknown)
    names = sorted({r.instrument for r in unknown})
    return [
        s.problem(
            ProblemKind.UNKNOWN_INSTRUMENT,
            f"Session {s.ident} names the instrument(s) {', '.join(map(repr, names))}, which "
            "are not in the instruments table. NexusLIMS cannot find the files or the time "
            "zone of an unknown instrument"
            + (
                ": its next build run marks this session ERROR (the other sessions are built)."
                if to_build
                else "."
            ),
            "Add the instrument to NexusLIMS, or correct the instrument_pid of these rows"
            + (", before the next build run." if to_build else "."),
            unknown,
        )
    ]


def end_without_start(s: SessionRows) -> list[Problem]:
    """ENDs of a session that has no START: NexusLIMS never looks at them."""
    if s.starts or not s.ends:
        return []
    tbb = any(r.record_status == TO_BUILD for r in s.ends)
    return [
        s.problem(
            ProblemKind.END_WITHOUT_START,
            f"Session {s.ident} has {len(s.ends)} END row(s) but no START. NexusLIMS only "
            "looks at STARTs, so this session is never built"
            + (" although it is marked TO_BE_BUILT." if tbb else "."),
            "Find the session's START (it may have been written with another identifier) "
            "or ignore these rows if the session was never real.",
            s.ends,
        )
    ]


def duplicate_start(s: SessionRows) -> list[Problem]:
    """Several STARTs: NexusLIMS builds one record per START."""
    if len(s.starts) <= 1:
        return []
    return [
        s.problem(
            ProblemKind.DUPLICATE_START,
            f"Session {s.ident} has {len(s.starts)} START rows. NexusLIMS builds one record per "
            "START, so the same session may be built several times.",
            "Keep one START: ask the NexusLIMS administrators to remove the extra row(s).",
            s.starts,
            blocks_build=False,
        )
    ]


def duplicate_end(s: SessionRows) -> list[Problem]:
    """Several ENDs: NexusLIMS uses the newest matching one."""
    if len(s.ends) <= 1:
        return []
    return [
        s.problem(
            ProblemKind.DUPLICATE_END,
            f"Session {s.ident} has {len(s.ends)} END rows. NexusLIMS uses the newest matching "
            "END and ignores the others, so the session's end time may be wrong.",
            "Check which END is right; ask the NexusLIMS administrators to remove the others.",
            s.ends,
        )
    ]


def user_mismatch(s: SessionRows) -> list[Problem]:
    """START and END (or two STARTs) written for different users."""
    start, differ = s.start, s.users_differ
    other_starts = [r for r in s.starts[1:] if r.user != start.user]
    if not differ and not other_starts:
        return []
    users = tuple(dict.fromkeys([start.user, *(r.user for r in differ + other_starts)]))
    return [
        s.problem(
            ProblemKind.USER_MISMATCH,
            f"Session {s.ident}: START was written for {fmt_user(start.user)} but END for "
            f"{', '.join(fmt_user(r.user) for r in differ) or fmt_user(start.user)}. "
            + (
                "NexusLIMS pairs START and END by user, finds no END, and stops the whole "
                "build run."
                if s.blocking
                else "NexusLIMS pairs START and END by user; it will fail on this session "
                "when it is to be built."
            ),
            "Fix the user mismatch (admin action): choose the right user for both rows.",
            [start, *differ, *other_starts],
            blocks_build=s.blocking,
            fix="fix_user",
            users=users,
        )
    ]


def instrument_mismatch(s: SessionRows) -> list[Problem]:
    """START and END written for different instruments."""
    differ = s.instruments_differ
    if not differ:
        return []
    return [
        s.problem(
            ProblemKind.INSTRUMENT_MISMATCH,
            f"Session {s.ident}: START is on {s.start.instrument!r} but END on "
            f"{', '.join(sorted({repr(r.instrument) for r in differ}))}. NexusLIMS pairs "
            "START and END by instrument"
            + (
                ", finds no END, and stops the whole build run."
                if s.blocking
                else " and will fail on this session when it is to be built."
            ),
            "Correct the instrument of the wrong row with a database tool.",
            [s.start, *differ],
            blocks_build=s.blocking,
        )
    ]


def start_without_end(s: SessionRows) -> list[Problem]:
    """A TO_BE_BUILT START with no TO_BE_BUILT END: NexusLIMS raises and builds nothing."""
    if not s.blocking or s.users_differ or s.instruments_differ:
        return []
    start, ends = s.start, s.ends
    if ends:
        statuses = ", ".join(sorted({r.record_status for r in ends}))
        why = f"its END row is {statuses}, not TO_BE_BUILT"
        todo = "Re-queue the session (admin action) so that START and END are both TO_BE_BUILT."
        fix = "requeue"
    else:
        why = "it has no END row"
        todo = "Force-end the session at the time it really ended (admin action)."
        fix = "force_end"
    return [
        s.problem(
            ProblemKind.START_WITHOUT_END,
            f"Session {s.ident} on {start.instrument} ({fmt_user(start.user)}) is TO_BE_BUILT "
            f"but {why}. NexusLIMS raises an error on such a START and stops the whole build "
            "run, so no session gets built.",
            todo,
            [start, *ends],
            blocks_build=True,
            fix=fix,
        )
    ]


def status_mismatch(s: SessionRows) -> list[Problem]:
    """START and END with different statuses (when that does not already block the build)."""
    if s.blocking or not s.ends:
        return []
    start = s.start
    odd = [r for r in [start, *s.ends] if r.record_status != start.record_status]
    if not odd:
        return []
    skipped = start.record_status == WAITING and any(r.record_status == TO_BUILD for r in s.ends)
    return [
        s.problem(
            ProblemKind.STATUS_MISMATCH,
            f"Session {s.ident}: START is {start.record_status} but END is "
            f"{', '.join(sorted({r.record_status for r in odd}))}. "
            + (
                "NexusLIMS only builds sessions whose START is TO_BE_BUILT, so this "
                "ended session is skipped and never built."
                if skipped
                else "START and END should always share one status; NexusLIMS may skip "
                "or misreport this session."
            ),
            "Re-queue the session (admin action) so that START and END are both "
            "TO_BE_BUILT, or set both to the right status.",
            [start, *odd],
            fix="requeue",
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


def stuck_status(s: SessionRows) -> list[Problem]:
    """A session whose build failed or found no files: it stays so until re-queued."""
    start = s.start
    stuck = [r for r in s.rows if r.record_status in STUCK_STATUSES]
    if not stuck or start.record_status not in STUCK_STATUSES:
        return []
    return [
        s.problem(
            ProblemKind.STUCK_STATUS,
            f"Session {s.ident} on {start.instrument} is {start.record_status}: the back-end "
            + (
                "found no files for it."
                if start.record_status == RecordStatus.NO_FILES_FOUND.value
                else "failed while building its record."
            )
            + " It stays so until someone re-queues it.",
            "Check the back-end's log (and the instrument's file share), fix the cause, then "
            "re-queue the session (admin action).",
            stuck,
            fix="requeue",
        )
    ]


@dataclass(frozen=True)
class Check:
    """One problem rule: the kind it reports and the function that finds it."""

    kind: ProblemKind
    find: Callable[[SessionRows], list[Problem]]
    #: False for rules that also apply to a session without any START row.
    needs_start: bool = True


#: Every rule for one session, in the order its problems are listed.
CHECKS: tuple[Check, ...] = (
    Check(ProblemKind.BAD_TIMESTAMP, bad_timestamp, needs_start=False),
    Check(ProblemKind.NAIVE_TIMESTAMP, naive_timestamp, needs_start=False),
    Check(ProblemKind.UNKNOWN_INSTRUMENT, unknown_instrument, needs_start=False),
    Check(ProblemKind.END_WITHOUT_START, end_without_start, needs_start=False),
    Check(ProblemKind.DUPLICATE_START, duplicate_start),
    Check(ProblemKind.DUPLICATE_END, duplicate_end),
    Check(ProblemKind.USER_MISMATCH, user_mismatch),
    Check(ProblemKind.INSTRUMENT_MISMATCH, instrument_mismatch),
    Check(ProblemKind.START_WITHOUT_END, start_without_end),
    Check(ProblemKind.STATUS_MISMATCH, status_mismatch),
    Check(ProblemKind.END_BEFORE_START, end_before_start),
    Check(ProblemKind.FUTURE_START, future_start),
    Check(ProblemKind.LONG_OPEN_SESSION, long_open_session),
    Check(ProblemKind.LONG_SESSION, long_session),
    Check(ProblemKind.STUCK_STATUS, stuck_status),
)


def examine(session: SessionRows) -> list[Problem]:
    """The problems of one session: every check of :data:`CHECKS` that applies, in order."""
    has_start = bool(session.starts)
    out: list[Problem] = []
    for check in CHECKS:
        if has_start or not check.needs_start:
            out.extend(check.find(session))
    return out
