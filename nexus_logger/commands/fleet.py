"""``fleet``: every instrument PC that ever logged, and which need a look (exit 1 if any)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from nexus_logger.commands._common import (
    add_format_option,
    engine_from_args,
    render_json,
    render_table,
    settings_from_args,
)
from nexus_logger.core.errors import EXIT_PROBLEMS

COLUMNS = (
    "hostname",
    "instrument",
    "version",
    "last_seen",
    "session",
    "waiting",
    "clock_offset",
    "db_account",
)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "fleet",
        parents=[common],
        help="list every instrument PC and what needs a look (exit 1 when any does)",
        description="List every instrument PC that ever logged to this database: its "
        "instrument, nexus-logger version, when it was last heard from, the session running "
        "there, events waiting on it, its clock's offset from the database server and the "
        "database account it uses. PCs silent for longer than the fleet_silent_hours setting, "
        "running an older version than the newest in the fleet, with events waiting, or with "
        "a clock off by more than clock_skew_minutes are flagged. Exits 0 when none is, 1 "
        "otherwise.",
    )
    add_format_option(p, ("table", "json"))
    p.set_defaults(func=cmd_fleet)


def cmd_fleet(args: argparse.Namespace) -> int:
    from nexus_logger.core.db.engine import describe
    from nexus_logger.core.staff.fleet import headline, list_fleet

    settings = settings_from_args(args)
    engine = engine_from_args(args)
    pcs = list_fleet(
        silent_hours=float(settings.fleet_silent_hours),
        clock_limit_seconds=float(settings.clock_skew_minutes) * 60,
        engine=engine,
    )
    flagged = [pc for pc in pcs if pc.flags]
    if args.format == "json":
        print(
            render_json(
                {
                    "database": describe(engine),
                    "pc_count": len(pcs),
                    "flagged_count": len(flagged),
                    "pcs": [pc.as_dict() for pc in pcs],
                }
            )
        )
        return EXIT_PROBLEMS if flagged else 0
    if not pcs:
        print(f"No instrument PC has logged to {describe(engine)} yet.")
        return 0
    now = datetime.now(UTC)
    rows = [
        {
            "hostname": pc.hostname,
            "instrument": pc.instrument,
            "version": pc.version or "(no report)",
            "last_seen": _ago(pc.last_seen, now),
            "session": pc.session_identifier or "",
            "waiting": "" if pc.waiting_events is None else pc.waiting_events,
            "clock_offset": ""
            if pc.clock_offset_seconds is None
            else f"{pc.clock_offset_seconds:+.1f} s",
            "db_account": pc.db_account or "",
        }
        for pc in pcs
    ]
    print(render_table(rows, COLUMNS))
    print()
    print(headline(pcs))
    for pc in flagged:
        print(f"  {pc.hostname}: {'; '.join(pc.flags)}")
    return EXIT_PROBLEMS if flagged else 0


def _ago(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} days ago"
