"""What every command shares: the common options, settings and engine from arguments."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from nexus_logger.core.settings.config import settings_from_args

if TYPE_CHECKING:  # the database stack is imported by the commands that use it, not --help
    from sqlalchemy import Engine

    from nexus_logger.core.offline.durable import DurableLogger


def common_options() -> argparse.ArgumentParser:
    """A parent parser with ``--db`` and ``--config`` for every sub-command.

    The options default to ``SUPPRESS`` so that a sub-command that is not given them keeps the
    value given before the sub-command (``nexus-logger --db X sessions``); the top-level
    parser sets the real defaults.
    """
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        default=argparse.SUPPRESS,
        help="database file or SQLAlchemy URL (overrides NX_DB_PATH and the config file)",
    )
    add_config_option(parent, "config file (default: the platform's config folder)")
    return parent


def add_config_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--config FILE``, set only when given (a value before the sub-command stays)."""
    parser.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help=help_text)


def add_action(
    actions: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    help_text: str,
    description: str,
    parents: Sequence[argparse.ArgumentParser] = (),
) -> argparse.ArgumentParser:
    """A sub-command (or a command's action) run by ``func``: its parser, for its options."""
    parser = actions.add_parser(
        name, parents=list(parents), help=help_text, description=description
    )
    parser.set_defaults(func=func)
    return parser


def engine_from_args(args: argparse.Namespace, *, create: bool = False) -> Engine:
    """The engine for the effective database, also made the default for core calls."""
    from nexus_logger.core.db import engine as engines

    settings = settings_from_args(args)
    target = settings.database_target
    engines.set_default_database(target)
    return engines.get_engine(target, create=create, timeout=settings.db_timeout_seconds)


def durable_from_args(args: argparse.Namespace) -> DurableLogger:
    """The DurableLogger for the effective database (also made the default for core calls).

    Used by ``sync`` and by ``session start|end|status``, so that they keep events on this PC
    when the database is away.
    """
    from nexus_logger.core.db import engine as engines
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions.time_rules import TimeRules

    settings = settings_from_args(args)
    target = settings.database_target
    engines.set_default_database(target)

    return DurableLogger(
        target,
        timeout=settings.db_timeout_seconds,
        rules=TimeRules.from_settings(settings),
        outbox_folder=settings.outbox_folder,
    )


#: What each ``--format`` choice means, for the option's help text.
_FORMAT_HELP = {
    "table": "aligned columns to read",
    "text": "plain sentences to read",
    "json": "JSON for scripts (also on failure: one object with ok, error, exit_code)",
    "csv": "CSV with a header row",
}


def add_format_option(parser: argparse.ArgumentParser, choices: Sequence[str]) -> None:
    """``--format`` with the given choices, the first one being the default."""
    parser.add_argument(
        "--format",
        choices=list(choices),
        default=choices[0],
        help="output: "
        + "; ".join(f"{c}: {_FORMAT_HELP.get(c, c)}" for c in choices)
        + f" (default {choices[0]})",
    )


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A plain text table with a header line; empty cells for ``None``."""
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def render_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV text with a header row."""
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue().rstrip("\n")


def render_json(data: Any) -> str:
    """Indented JSON, non-ASCII kept readable."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


#: The largest ``--limit``: far above any history, far below what SQL's integers hold (a
#: larger number ended in "unexpected error: Python int too large to convert").
MAX_COUNT = 1_000_000_000


def parse_time(text: str) -> datetime:
    """``--at`` text as a datetime; naive values are later read in the instrument's zone.

    A date alone is refused: Python would read it as midnight, and a session moved to
    midnight by a forgotten time of day is worse than one more question.
    """
    from nexus_logger.core.errors import InvalidInput

    value = text.strip()
    example = "2025-01-06T08:06:34 (the instrument's zone) or 2025-01-06T08:06:34-05:00"
    if not value:
        raise InvalidInput(f"--at was given no time; give one like {example}.")
    try:
        date.fromisoformat(value)
    except ValueError:
        pass
    else:
        raise InvalidInput(f"{text!r} is a date without a time of day; give one like {example}.")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{text!r} is not an ISO-8601 time; use e.g. {example}.") from None


def positive_int(text: str) -> int:
    """An argument such as ``--limit``: a whole number from 1 to :data:`MAX_COUNT`."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 0 < value <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to {MAX_COUNT:,}")
    return value


def positive_number(most: float) -> Callable[[str], float]:
    """The type of an argument such as ``--interval``: a number above zero and at most
    ``most`` (``nan`` and ``inf`` are numbers to Python, and ``nan`` passed every check: a
    ``--watch`` with ``--interval nan`` never waited)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and 0 < value <= most):
            raise argparse.ArgumentTypeError(f"{text!r} is not a number above 0 and up to {most:g}")
        return value

    return parse
