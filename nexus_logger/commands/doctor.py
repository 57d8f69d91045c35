"""``doctor``: the pre-flight check of an instrument PC (exit code 1 when anything is wrong)."""

from __future__ import annotations

import argparse

from nexus_logger.commands._common import add_format_option, render_json, settings_from_args


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "doctor",
        parents=[common],
        help="check this PC's set-up: database, layout, instrument, clock, outbox, log",
        description="Check that this PC can log sessions: the database is reachable and "
        "writable, its layout is recognised, this PC is mapped to an instrument, the clock "
        "agrees with the database's, on PostgreSQL no finished session waited too long for the "
        "bridge to NexusLIMS, no event waits in the outbox, and the log folder can be written. Each check prints OK, or the problem and what to do. Exits with 1 if any "
        "check is not OK.",
    )
    p.add_argument(
        "--instrument",
        metavar="PID",
        default=argparse.SUPPRESS,
        help="check as if this PC were this instrument",
    )
    add_format_option(p, ("text", "json"))
    p.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    from nexus_logger.core.setup.doctor import format_checks, problems, run_checks

    settings = settings_from_args(args)
    checks = run_checks(settings)
    if args.format == "json":
        print(render_json({"ok": not problems(checks), "checks": [c.as_dict() for c in checks]}))
    else:
        print(format_checks(checks))
    return 1 if problems(checks) else 0
