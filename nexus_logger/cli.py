"""The ``nexus-logger`` command.

Without a sub-command it opens the window and starts a session for this PC's instrument. The
sub-commands are headless: they never import Qt, so they run on a server or over SSH. Errors
are printed as one readable sentence with a non-zero exit code; tracebacks go to the log file.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from typing import NoReturn

from nexus_logger import __version__
from nexus_logger.core.errors import NexusLoggerError

_logger = logging.getLogger(__name__)

#: Every sub-command: the module under ``nexus_logger.commands`` whose ``register()`` adds it,
#: and its line in ``nexus-logger --help``. Listed here so that a command imports only its own
#: module (``--help`` imports none); tests/test_cli_imports.py checks this table against what
#: the modules register.
COMMANDS: dict[str, tuple[str, str]] = {
    "init-db": ("database", "create a new database with the NexusLIMS 2.8 schema"),
    "sessions": ("database", "list sessions (one row per session)"),
    "session": ("session", "start, end or show this PC's session"),
    "station": ("station", "link PCs to instruments"),
    "sync": ("sync", "send events saved on this PC while the database was away"),
    "config": ("config", "show the configuration and where it comes from"),
    "doctor": (
        "doctor",
        "check this PC's set-up: database, layout, instrument, clock, outbox, log",
    ),
    "demo": ("demo", "open the window on a local demo database (never the configured one)"),
    "admin": ("admin", "open the Admin tab alone, or run an admin action"),
    "check": (
        "check",
        "list sessions NexusLIMS would fail on or skip (exit 1 when there are any)",
    ),
    "fleet": (
        "fleet",
        "list every instrument PC and what needs a look (exit 1 when any does)",
    ),
    "bridge": (
        "bridge",
        "copy finished PostgreSQL sessions to NexusLIMS's SQLite file, and results back",
    ),
}
#: Modules under ``nexus_logger.commands`` whose ``register()`` adds sub-commands.
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _help in COMMANDS.values()))
#: Top-level options that take a value (so the value is not taken for the command's name).
_VALUE_OPTIONS = ("--db", "--config", "--instrument")


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command ``argv`` names, or None (no command, or a word that is not one)."""
    tokens = iter(argv)
    for token in tokens:
        if token in _VALUE_OPTIONS:
            next(tokens, None)
        elif not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


class _Parser(argparse.ArgumentParser):
    """The parser of every command: it remembers its last error (argparse prints it and
    exits 2), so a script that asked for JSON gets it as JSON too."""

    last_error: str | None = None

    def error(self, message: str) -> NoReturn:
        _Parser.last_error = message
        super().error(message)


def _wants_json(argv: Sequence[str]) -> bool:
    tokens = list(argv)
    return "--format=json" in tokens or any(
        a == "--format" and b == "json" for a, b in zip(tokens, tokens[1:], strict=False)
    )


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser: with ``argv``, only the module of the command it names is
    imported (the others are listed by name and help line); without, every command module
    (for tests and documentation)."""
    from nexus_logger.commands._common import common_options

    common = common_options()
    parser = _Parser(
        prog="nexus-logger",
        description="Session logger for NexusLIMS instruments. Without a command, opens the "
        "window and starts a session for this PC's instrument.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"nexus-logger {__version__}")
    parser.add_argument("--instrument", metavar="PID", help="instrument of this PC")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="self-test: log a session in a temporary database with the window shown "
        "offscreen; exit 0 if everything works (with --db: a new, empty database instead)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if argv is None:
        wanted = set(COMMAND_MODULES)
    else:
        command = _command_in(argv)
        wanted = {COMMANDS[command][0]} if command else set()
    for name, (module_name, help_line) in COMMANDS.items():
        if module_name in wanted:
            wanted.discard(module_name)
            module = importlib.import_module(f"nexus_logger.commands.{module_name}")
            module.register(sub, common)
        elif name not in sub.choices:
            sub.add_parser(name, help=help_line, description=help_line)
    parser.set_defaults(func=_open_window)
    return parser


def _open_window(args: argparse.Namespace) -> int:
    if getattr(args, "smoke", False):
        from nexus_logger.gui.smoke import run_smoke

        return run_smoke(database=getattr(args, "db", None))
    from nexus_logger.gui.app import run_app  # Qt is imported only here

    return run_app(args)


def _window_launch_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The options of a launch without sub-command, or ``None`` for anything else.

    Building the full parser imports every command module, and SQLAlchemy with them, which
    alone takes longer than the window's 0.5 s start-up budget. A plain ``nexus-logger`` (with
    at most ``--db``, ``--config`` and ``--instrument``) needs none of that; any other token,
    including ``--help`` and options added later to :func:`build_parser`, takes the full parser.
    """
    quick = argparse.ArgumentParser(add_help=False, allow_abbrev=False, exit_on_error=False)
    for option in ("--db", "--config", "--instrument"):
        quick.add_argument(option)
    try:
        args, rest = quick.parse_known_args(list(argv))
    except argparse.ArgumentError:
        return None
    if rest:
        return None
    args.command = None
    args.func = _open_window
    return args


#: Commands that send this PC's waiting events themselves (the window does too, every 30 s).
_SEND_THEMSELVES = frozenset({None, "sync", "session", "demo", "config"})


def _send_what_waits(args: argparse.Namespace) -> None:
    """After any other command: send what waits in this PC's outbox (one log line, no output).

    ``config`` is left out: it is how a PC that is not set up yet gets set up.
    """
    if getattr(args, "command", None) in _SEND_THEMSELVES:
        return
    from nexus_logger.core.offline.outbox_place import send_if_waiting
    from nexus_logger.core.settings.config import settings_from_args

    try:
        send_if_waiting(settings_from_args(args))
    except Exception as err:  # the command itself is done; its answer stands
        _logger.warning("Could not send the events waiting on this PC: %s", err)


@contextlib.contextmanager
def _config_for_the_whole_command(config: str | None) -> Iterator[None]:
    """``--config FILE`` for everything the command does, as ``NEXUS_LOGGER_CONFIG`` would:
    the parts that read the settings themselves (where this PC keeps the record of its running
    sessions, beside the outbox of ``outbox_folder``) must not read another file than the
    command's. Restored afterwards (``main`` also runs inside tests)."""
    if not config:
        yield
        return
    from nexus_logger.core.settings.config_fields import CONFIG_ENV

    before = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = config
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = before


def run() -> int:
    """The process entry (the console script, ``python -m nexus_logger``, the packaged app):
    :func:`main` with Python's cycle collector paused while the process starts
    (``core/cycle_collector.py``). Tests call :func:`main`, which leaves the collector alone.
    """
    from nexus_logger.core import cycle_collector

    cycle_collector.pause()
    _writable_streams()
    try:
        return main()
    finally:
        # Closed here, not left to the collector, which is frozen next (the module is not
        # imported for --help). The outbox's connections close at exit by themselves.
        if "nexus_logger.core.db.engine" in sys.modules:
            from nexus_logger.core.db.engine import dispose_engines

            dispose_engines()
        cycle_collector.freeze_for_exit()


def _writable_streams() -> None:
    """Streams that ``print`` can always write to, so that an answer never fails a command
    after its work was done (a START committed, then exit 1 and the START left unconfirmed).

    The windowed Windows build has no console: its ``sys.stdout`` and ``sys.stderr`` are None
    (the exit code and the log file tell the result there). And Windows gives output sent
    to a file or a pipe its ANSI code page, which cannot write 'Ł' or '→'; a script reading
    the output gets UTF-8, as JSON is meant to be.
    """
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
        elif (stream.encoding or "").lower().replace("-", "") != "utf8" and not stream.isatty():
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """The command line's work; returns the process exit code."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        # Ctrl-C while the parser imports the command's modules (the first half second):
        # it printed Python's traceback. Nothing has been done yet.
        return 130


def _main(argv: list[str]) -> int:
    args = _window_launch_args(argv)
    if args is None:
        try:
            args = build_parser(argv).parse_args(argv)
        except SystemExit as stop:
            if stop.code == 2 and _Parser.last_error and _wants_json(argv):
                # As for every other failure: one JSON object on stdout (the usage went to
                # stderr).
                print(json.dumps({"ok": False, "error": _Parser.last_error, "exit_code": 2}))
            raise
    from nexus_logger.core.settings.logsetup import configured_level, setup_logging

    log_path = setup_logging(configured_level(getattr(args, "config", None)))
    try:
        with _config_for_the_whole_command(getattr(args, "config", None)):
            code = int(args.func(args) or 0)
            _send_what_waits(args)
        return code
    except NexusLoggerError as err:
        _logger.error("%s", err, exc_info=_logger.isEnabledFor(logging.DEBUG))
        print(f"nexus-logger: {err}", file=sys.stderr)
        if getattr(args, "format", None) == "json":
            # A script asked for JSON: it gets one object on stdout, failures included.
            print(json.dumps({"ok": False, "error": str(err), "exit_code": err.exit_code}))
        return err.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``nexus-logger sessions | head``): not an error of ours.
        # Point stdout at devnull so the interpreter's final flush does not complain.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as err:  # the last line of defence: never a traceback on screen
        _logger.exception("Unexpected error")
        where = f" Details are in {log_path}." if log_path else ""
        print(f"nexus-logger: unexpected error: {err}.{where}", file=sys.stderr)
        if getattr(args, "format", None) == "json":  # one object on stdout, as for the rest
            print(json.dumps({"ok": False, "error": f"unexpected error: {err}", "exit_code": 1}))
        return 1


if __name__ == "__main__":
    sys.exit(run())
