"""What would make NexusLIMS's ``get_sessions_to_build()`` fail or skip a session.

NexusLIMS 2.8 reads every TO_BE_BUILT row, parses every timestamp with ``fromisoformat``, and
for each START looks for an END with the same ``session_identifier``, ``instrument`` and
``user``; one START without such an END raises ``ValueError`` and stops the whole build run.
:func:`find_problems` lists every such state with a plain-words explanation, what to do, and
the ids of the rows involved: the database scan is in :mod:`~nexus_logger.core.staff.problem_scan`,
the rules in :mod:`~nexus_logger.core.staff.problem_checks`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from nexus_logger.core.db.engine import EngineLike, get_engine, is_sqlite, read_connection
from nexus_logger.core.db.schema import load_instruments, require_usable
from nexus_logger.core.staff.overlaps import Overlap, find_overlaps
from nexus_logger.core.staff.problem_checks import SessionRows, examine
from nexus_logger.core.staff.problem_kinds import KIND_ORDER, Problem, ProblemKind, fmt_user
from nexus_logger.core.staff.problem_scan import STUCK_STATUSES, rows_of, suspicious_sessions

__all__ = [
    "DEFAULT_LONG_SESSION_HOURS",
    "STUCK_STATUSES",
    "Problem",
    "ProblemKind",
    "audit_trail_problems",
    "find_problems",
    "instrument_problems",
    "problems_by_session",
]

_logger = logging.getLogger(__name__)

#: Default for "open longer than" (the ``long_session_hours`` setting overrides it).
DEFAULT_LONG_SESSION_HOURS = 12.0


def find_problems(
    *,
    long_session_hours: float | None = None,
    now: datetime | None = None,
    engine: EngineLike = None,
) -> list[Problem]:
    """Every problem in the database, most harmful first.

    ``long_session_hours`` is the limit after which an open session is reported (default:
    the ``long_session_hours`` setting, 12 h). ``now`` is for tests.
    """
    eng = get_engine(engine)
    require_usable(eng)
    if long_session_hours is None:
        long_session_hours = _configured_long_hours()
    now = now or datetime.now(UTC)
    limit = timedelta(hours=long_session_hours)
    instruments = load_instruments(eng)
    with read_connection(eng) as conn:
        suspicious = suspicious_sessions(conn, now, limit)
        rows = rows_of(conn, suspicious)
        overlapping = find_overlaps(conn, now.timestamp())
    zones = {pid: inst.timezone for pid, inst in instruments.items()}
    bridged = not is_sqlite(eng)  # NexusLIMS 2.x reads only its SQLite file: the bridge's copy
    problems: list[Problem] = []
    for ident in suspicious:
        found = SessionRows(ident, rows.get(ident, []), zones, limit, now, bridged=bridged)
        problems.extend(examine(found))
    problems.extend(_overlap_problem(o) for o in overlapping)
    problems.sort(key=lambda p: (not p.blocks_build, KIND_ORDER[p.kind], p.row_ids[:1] or (0,)))
    _logger.info("Found %d problem(s) in %d suspicious session(s)", len(problems), len(suspicious))
    return problems


def _configured_long_hours() -> float:
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.settings.config import load_settings

    try:
        return float(load_settings().long_session_hours)
    except NexusLoggerError:
        return DEFAULT_LONG_SESSION_HOURS


def _overlap_problem(pair: Overlap) -> Problem:
    """One problem for the later session of an overlapping pair, naming the earlier one."""
    a, b = pair.earlier, pair.later
    return Problem(
        kind=ProblemKind.OVERLAP,
        session_identifier=b.session_identifier,
        instrument=b.instrument,
        explanation=(
            f"Session {b.session_identifier} ({fmt_user(b.user)}, from {b.start_text} to "
            f"{b.end_text or 'still open'}) overlaps session {a.session_identifier} "
            f"({fmt_user(a.user)}, {a.start_text} to {a.end_text or 'still open'}) on "
            f"{b.instrument}. NexusLIMS would build two records from the same files."
        ),
        action=(
            "Ask both users which session is right; correct the other's times with a database "
            "tool or force-end it at the right time, then re-check."
        ),
        row_ids=(a.start_id, b.start_id),
        users=(a.user, b.user),
        mentions=tuple(u for u in (a.user, b.user) if u),
    )


def problems_by_session(problems: Iterable[Problem]) -> dict[str, list[Problem]]:
    """Problems grouped by session identifier (for marking rows in the sessions list)."""
    out: dict[str, list[Problem]] = {}
    for problem in problems:
        out.setdefault(problem.session_identifier, []).append(problem)
    return out


def audit_trail_problems(*, engine: EngineLike = None) -> list[str]:
    """Sentences about a broken or shortened audit trail (empty when its hash chain holds).

    Not session problems, so not part of :func:`find_problems`; ``check`` and the Admin tab
    report both. See :mod:`~nexus_logger.core.staff.audit_chain` for what the chain can promise.
    """
    from nexus_logger.core.staff.admin_actions import check_audit_chain

    return list(check_audit_chain(engine).problems)


def instrument_problems(*, engine: EngineLike = None) -> list[str]:
    """Sentences about instruments whose time zone no program can read (empty when all can).

    nexus-logger writes such an instrument's times in UTC, and NexusLIMS's ``pytz.timezone``
    refuses the name (its preflight says "Unknown timezone"). Not a session problem, so not
    part of :func:`find_problems`; ``check`` reports it beside them, as ``doctor`` does for
    the PC's own instrument.
    """
    from nexus_logger.core.timestamps import is_valid_zone

    return [
        f"Instrument {pid} ({inst.display_name}) has the time zone {inst.timezone!r}, which "
        "is not a time zone name: nexus-logger writes its session times in UTC, and NexusLIMS "
        "cannot read it. What to do: have NexusLIMS's staff set its 'timezone' in the "
        "instruments table to an IANA name, for example America/New_York."
        for pid, inst in load_instruments(engine).items()
        if not is_valid_zone(inst.timezone or "")
    ]
