"""``bridge``: copy PostgreSQL's finished sessions into NexusLIMS's file and the results back."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from nexus_logger.commands._common import (
    add_format_option,
    positive_number,
    render_json,
    settings_from_args,
)

#: The longest pause between two ``--watch`` passes (longer ones are a scheduler's job).
WATCH_MOST_SECONDS = 86_400.0

_EPILOG = """\
Run it next to NexusLIMS, with NexusLIMS's own file (its NX_DB_PATH) as --to. Without
--watch it makes one pass and exits: 0 when everything went through, 1 when conflicts wait
for a decision (see --status), 3 when another bridge already runs (nothing was copied);
errors have the codes of the README's exit-code table.

Conflicts (a session changed on both sides since the last run) are left alone on both sides
until settled with --resolve SESSION --keep postgres|nexuslims. See docs/deployment.md.
"""


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "bridge",
        parents=[common],
        help="copy finished PostgreSQL sessions to NexusLIMS's SQLite file, and results back",
        description="Copy every TO_BE_BUILT session of a PostgreSQL database into NexusLIMS's "
        "SQLite file, and NexusLIMS's RECORD_GENERATION rows and statuses back, exactly once.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--from",
        dest="source",
        metavar="URL",
        help="the PostgreSQL database (default: the configured database)",
    )
    p.add_argument("--to", dest="target", metavar="FILE", help="NexusLIMS's SQLite file")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--watch", action="store_true", help="keep running, one pass per interval")
    mode.add_argument(
        "--status",
        action="store_true",
        help="show the last run, what waits each way and the last error (copies nothing)",
    )
    mode.add_argument("--resolve", metavar="SESSION", help="settle a conflict (with --keep)")
    p.add_argument(
        "--keep", choices=["postgres", "nexuslims"], help="with --resolve: the side that wins"
    )
    p.add_argument(
        "--interval",
        type=positive_number(WATCH_MOST_SECONDS),
        default=60.0,
        metavar="SECONDS",
        help="with --watch: seconds between passes (default 60)",
    )
    p.add_argument("--create", action="store_true", help="create the file if it does not exist")
    p.add_argument(
        "--new-file",
        action="store_true",
        help="accept a file other than the one this database was bridged to before",
    )
    add_format_option(p, ("text", "json"))
    p.set_defaults(func=cmd_bridge)


def _source(args: argparse.Namespace) -> str:
    if args.source:
        return str(args.source)
    return settings_from_args(args).database_target


def cmd_bridge(args: argparse.Namespace) -> int:
    from nexus_logger.core.bridge import bridge
    from nexus_logger.core.errors import ConfigError, NexusLoggerError

    settings = settings_from_args(args)
    source = _source(args)
    timeout = settings.db_timeout_seconds
    if args.status:
        return _status(args, source)
    if not args.target:
        raise ConfigError("Give NexusLIMS's SQLite file with --to FILE (its NX_DB_PATH).")
    if args.resolve and not args.keep:
        raise ConfigError("--resolve needs --keep postgres or --keep nexuslims.")
    try:
        pair = bridge.open_pair(
            source, args.target, create=args.create, new_file=args.new_file, timeout=timeout
        )
    except NexusLoggerError as err:
        bridge.record_error(source, err)
        raise
    try:
        pair.lock()
    except bridge.BridgeBusy:
        raise  # another bridge runs: not an error of the bridge that serves this database
    except NexusLoggerError as err:  # a lock file it cannot create, a server going away
        bridge.record_error(pair, err)
        raise
    try:
        if args.resolve:
            from nexus_logger.core.staff.admin_actions import current_login

            message = bridge.resolve(pair, args.resolve, args.keep, by=current_login())
            _print(args, {"ok": True, "message": message}, message)
            return 0
        if args.watch:
            return _watch(args, pair)
        try:
            report = bridge.run_once(pair)
        except NexusLoggerError as err:
            bridge.record_error(pair, err)
            raise
    finally:
        pair.unlock()
    _print(args, {"ok": True, **report.as_dict(), "message": report.message()}, _text(report))
    return 1 if report.conflicts else 0


def _text(report: Any) -> str:
    lines = [report.message()]
    for d in report.conflicts:
        lines.append(f"  conflict {d.session_identifier}: {d.reason}")
    from nexus_logger.core.bridge.bridge import Action

    for d in report.of(Action.NOT_READY):
        lines.append(f"  not copied {d.session_identifier}: {d.reason}")
    return "\n".join(lines)


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(render_json(data) if args.format == "json" else text, flush=True)


def _watch(args: argparse.Namespace, pair: Any) -> int:
    from nexus_logger.core.bridge import bridge

    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stop.set()

    for name in ("SIGTERM", "SIGINT", "SIGBREAK"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _stop)

    def on_report(report: Any, error: BaseException | None) -> None:
        if error is not None:
            print(f"nexus-logger: bridge run failed: {error}", file=sys.stderr, flush=True)
        elif report.copied_in or report.copied_out or report.new_conflicts:
            _print(args, {"ok": True, **report.as_dict()}, _text(report))

    print(
        f"Bridging {pair.where} every {args.interval:g} s; stop with Ctrl+C or SIGTERM.",
        flush=True,
    )
    bridge.watch(pair, args.interval, stop, on_report)
    print("Bridge stopped.", flush=True)
    return 0


def _status(args: argparse.Namespace, source: str) -> int:
    from nexus_logger.core.bridge import bridge
    from nexus_logger.core.bridge.bridge_status import read_status
    from nexus_logger.core.errors import ConfigError

    status = read_status(source)
    if status is None:
        raise ConfigError(
            "The bridge's status lives in the PostgreSQL database: give it with --from URL."
        )
    data = status.as_dict()
    lines = status.lines()
    if args.target:
        # With the file too, count what waits each way now, without copying anything.
        pair = bridge.open_pair(source, args.target)
        report = bridge.run_once(pair, dry_run=True)
        counts = report.counts()
        data["now"] = report.as_dict()
        lines.append(
            f"Now: {counts['copy_in']} to copy to NexusLIMS, {counts['copy_out']} to copy "
            f"back, {counts['building']} being built, {counts['not_ready']} incomplete."
        )
        for d in report.of(bridge.Action.NOT_READY):
            lines.append(f"  not copied {d.session_identifier}: {d.reason}")
    _print(args, {"ok": True, **data}, "\n".join(lines))
    return 0
