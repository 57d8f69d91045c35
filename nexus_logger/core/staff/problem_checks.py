"""The problem rules for one session's rows: each rule is a small named check in :data:`CHECKS`.

Adding a rule is one function taking a :class:`SessionRows` and returning its problems, and
one line in the table (a new :class:`~nexus_logger.core.staff.problem_kinds.ProblemKind` too).
Here: the rules about which rows a session has and whose they are; the rules about its times
are in :mod:`~nexus_logger.core.staff.problem_time_checks`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from nexus_logger.core.enums import RecordStatus
from nexus_logger.core.staff.problem_kinds import Problem, ProblemKind, fmt_user
from nexus_logger.core.staff.problem_scan import STUCK_STATUSES
from nexus_logger.core.staff.problem_session import (
    TO_BUILD,
    WAITING,
    SessionRows,
)
from nexus_logger.core.staff.problem_time_checks import (
    bad_timestamp,
    end_before_start,
    future_start,
    long_open_session,
    long_session,
    naive_timestamp,
)


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
                "NexusLIMS pairs START and END by user, finds no END," + s.harm()
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
                ", finds no END," + s.harm()
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
            f"but {why}. NexusLIMS raises an error on such a START" + s.harm(),
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
