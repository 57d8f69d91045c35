"""``check``: what would make NexusLIMS's build run fail or skip sessions (exit 1 if anything)."""

from __future__ import annotations

import argparse

from nexus_logger.commands._common import (
    add_format_option,
    engine_from_args,
    positive_number,
    render_json,
    render_table,
    settings_from_args,
)
from nexus_logger.core.errors import EXIT_PROBLEMS

#: The largest --long-hours (a thousand years: every session is shorter).
LONG_HOURS_MOST = 10_000_000.0


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "check",
        parents=[common],
        help="list sessions NexusLIMS would fail on or skip (exit 1 when there are any)",
        description="Look for everything that would make NexusLIMS's get_sessions_to_build() "
        "fail or skip a session: TO_BE_BUILT STARTs without END, START/END user or instrument "
        "mismatches, duplicate ENDs, ENDs without START, END before START, timestamps without "
        "time zone, unknown instruments, sessions open too long, sessions stuck in ERROR or "
        "NO_FILES_FOUND; instruments whose time zone is not a zone name; and an audit trail "
        "whose hash chain is broken or shorter than this PC last saw. With a data root set "
        "(data_root, NX_INSTRUMENT_DATA_PATH), also the "
        "TO_BE_BUILT sessions NexusLIMS will find no files for (NO_FILES_FOUND). Exits 0 when "
        "there is none, 1 when there are problems.",
    )
    add_format_option(p, ("table", "json"))
    p.add_argument(
        "--long-hours",
        type=positive_number(LONG_HOURS_MOST),
        metavar="HOURS",
        help="report open sessions older than this (default: the long_session_hours setting)",
    )
    p.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    from nexus_logger.core.db.engine import describe
    from nexus_logger.core.errors import InvalidInput
    from nexus_logger.core.files.filestore_pending import files_section
    from nexus_logger.core.files.filestore_rules import FileRules
    from nexus_logger.core.staff.problems import (
        audit_trail_problems,
        find_problems,
        instrument_problems,
    )

    settings = settings_from_args(args)
    hours = args.long_hours if args.long_hours is not None else settings.long_session_hours
    if hours <= 0:
        raise InvalidInput("--long-hours must be greater than zero.")
    engine = engine_from_args(args)
    problems = find_problems(long_session_hours=hours, engine=engine)
    trail = audit_trail_problems(engine=engine)
    zones = instrument_problems(engine=engine)
    files = files_section(settings.data_root, FileRules.from_settings(settings), engine=engine)
    empty = files["no_files_found_count"]
    if args.format == "json":
        print(
            render_json(
                {
                    "database": describe(engine),
                    "problem_count": len(problems),
                    "blocking_count": sum(p.blocks_build for p in problems),
                    "problems": [p.as_dict() for p in problems],
                    "audit_trail_problems": trail,
                    "instrument_problems": zones,
                    "files": files,
                }
            )
        )
        return EXIT_PROBLEMS if problems or trail or zones or empty else 0
    for sentence in trail:
        print(f"Audit trail: {sentence}")
    for sentence in zones:
        print(sentence)
    for line in render_files(files):
        print(line)
    if not problems:
        if trail or zones or empty:
            return EXIT_PROBLEMS
        print(f"No problems found in {describe(engine)}.")
        return 0
    print(render_problems(problems))
    return EXIT_PROBLEMS


def render_files(files: dict) -> list[str]:
    """The files part of ``check``: nothing without a data root, one line when it cannot be
    reached, else each pending session NexusLIMS will find no files for."""
    if not files["data_root"]:
        return []
    if not files["checked"]:
        return [files["problem"]]
    uncounted = [s for s in files["sessions"] if s["files"] is None]
    checked = len(files["sessions"]) - len(uncounted)
    empty = [s for s in files["sessions"] if s["predicted"] == "NO_FILES_FOUND"]
    lines = [
        f"Files under {files['data_root']}: {checked} TO_BE_BUILT session"
        f"{'' if checked == 1 else 's'} checked, {len(empty)} without files."
    ]
    if uncounted:
        why = uncounted[0]["problem"].removeprefix("Not counted: ")
        lines.append(f"  {len(uncounted)} more not counted: {why}")
    for s in empty:
        lines.append(
            f"  {s['session_identifier']} on {s['instrument']} ({s['user'] or 'no user'}), "
            f"{s['start']} to {s['end']}: {s['prediction']}"
        )
    return lines


def render_problems(problems: list) -> str:
    """A summary table, then each problem in full: explanation, what to do, rows."""
    blocking = sum(p.blocks_build for p in problems)
    head = f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"
    if blocking:
        head += f"; {blocking} {'stops' if blocking == 1 else 'stop'} the NexusLIMS build run"
    rows = [
        {
            "no": i,
            "problem": p.title,
            "session": p.session_identifier,
            "instrument": p.instrument,
            "rows": ",".join(map(str, p.row_ids)),
            "blocks_build": "YES" if p.blocks_build else "",
        }
        for i, p in enumerate(problems, 1)
    ]
    lines = [head + ".", "", render_table(rows, list(rows[0])), ""]
    for i, p in enumerate(problems, 1):
        lines.append(f"{i}. {p.explanation}")
        lines.append(f"   What to do: {p.action}")
    return "\n".join(lines)
