"""``config show``, ``config path`` and ``config init``: what the configuration is and where.

``show`` answers the question support asks first ("which database is this PC using, and
why?"): each key, its effective value and the place it came from, with passwords masked.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from nexus_logger.commands._common import (
    add_action,
    add_format_option,
    render_json,
    render_table,
    settings_from_args,
)
from nexus_logger.core.errors import ConfigError
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import (
    config_file_path,
    mask_secret,
    parse_flag,
    read_config_file,
    render_template,
)
from nexus_logger.core.settings.logsetup import log_file


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser(
        "config",
        help="show the configuration and where it comes from",
        description="Inspect or create the configuration. Precedence: command-line flag > "
        "environment variable > the user's config file > the machine-wide config file "
        "(every login of this PC) > default.",
    )
    actions = config.add_subparsers(dest="config_command", metavar="ACTION")
    config.set_defaults(func=cmd_show, format="table", all=False)

    p = add_action(
        actions,
        "show",
        cmd_show,
        parents=[common],
        help_text="each key, its effective value and its source (passwords masked)",
        description="Print every configuration key with its effective value and where it came "
        "from (flag, environment variable, config file or default); passwords in database "
        "URLs are masked.",
    )
    p.add_argument(
        "--instrument",
        metavar="PID",
        default=argparse.SUPPRESS,
        help="as if given on the command line",
    )
    add_format_option(p, ("table", "json"))

    p = add_action(
        actions,
        "path",
        cmd_path,
        parents=[common],
        help_text="print the config file's location",
        description="Print where the config file is read from (whether or not it exists).",
    )
    p.add_argument(
        "--all",
        action="store_true",
        help="also print the data folder, the log file and the demo database",
    )

    p = add_action(
        actions,
        "init",
        cmd_init,
        parents=[common],
        help_text="write a commented config file (with --db/--instrument filled in)",
        description="Write a config file listing every key with its meaning. Values given "
        "with --db and --instrument are written active; the others stay commented out.",
    )
    p.add_argument(
        "--instrument", metavar="PID", default=argparse.SUPPRESS, help="instrument of this PC"
    )
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.add_argument(
        "--machine",
        action="store_true",
        help="write the machine-wide file every login of this PC reads (run once per PC, "
        f"as an administrator): {paths.machine_config_file()}",
    )


def cmd_show(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    rows = settings.rows()
    if args.format == "json":
        print(
            render_json(
                {
                    "config_file": str(settings.config_file),
                    "config_file_exists": settings.config_file_exists,
                    "machine_config_file": str(settings.machine_config_file),
                    "machine_config_file_exists": settings.machine_config_exists,
                    "settings": [
                        {"key": r["key"], "value": r["value"], "source": r["source"]} for r in rows
                    ],
                    "warnings": settings.warnings,
                }
            )
        )
        return 0
    state = "" if settings.config_file_exists else " (not found)"
    print(f"Config file: {settings.config_file}{state}")
    machine = settings.machine_config_file
    state = "" if settings.machine_config_exists else " (not found)"
    print(f"Machine-wide config file (every login): {machine}{state}")
    print()
    print(
        render_table(
            [{"key": r["key"], "value": r["display"], "source": r["source"]} for r in rows],
            ("key", "value", "source"),
        )
    )
    for warning in settings.warnings:
        print(f"\nWarning: {warning}")
    return 0


def _outbox_of(args: argparse.Namespace) -> str:
    """This PC's outbox file, or this login's own with the reason (see outbox_place)."""
    from nexus_logger.core.offline.outbox_place import locate
    from nexus_logger.core.settings.config import settings_from_args

    try:
        folder = settings_from_args(args).outbox_folder
    except ConfigError:
        folder = ""
    place = locate(folder)
    return str(place.path) if place.shared else f"{place.path} ({place.problem})"


def cmd_path(args: argparse.Namespace) -> int:
    path, _explicit = config_file_path(getattr(args, "config", None))
    if not args.all:
        print(path)
        return 0
    print(f"config file:   {path}{'' if path.is_file() else ' (does not exist)'}")
    machine = paths.machine_config_file()
    print(f"machine-wide:  {machine}{'' if machine.is_file() else ' (does not exist)'}")
    print(f"data folder:   {paths.data_dir()}")
    print(f"outbox:        {_outbox_of(args)}")
    print(f"demo database: {paths.demo_database()}")
    print(f"log file:      {log_file()}")
    return 0


def _absolute(database: str) -> str:
    """A database file named relative to the folder the command ran in, as an absolute
    path: written as given, every login whose working folder differs (the window's, a
    scheduled task's) was told the file does not exist. URLs, absolute and UNC paths stay."""
    from nexus_logger.core.db.database_url import is_url

    text = database.strip()
    if not text or is_url(text):
        return database
    if PurePosixPath(text).is_absolute() or PureWindowsPath(text).is_absolute():
        return database
    return str(Path(text).expanduser().resolve())


def cmd_init(args: argparse.Namespace) -> int:
    if args.machine:
        if getattr(args, "config", None):
            raise ConfigError(
                "Give either --machine or --config, not both: --machine writes "
                f"{paths.machine_config_file()}."
            )
        path = paths.machine_config_file()
    else:
        path, _explicit = config_file_path(getattr(args, "config", None))
    if path.exists() and not args.force:
        again = "--machine --force" if args.machine else "--force"
        raise ConfigError(
            f"The config file {path} already exists; nothing was changed. Edit it, or run "
            f"'nexus-logger config init {again}' to replace it."
        )
    values = {}
    database = getattr(args, "db", None)
    for key, raw in (
        ("database", database and _absolute(database)),
        ("instrument", args.instrument),
    ):
        if raw is not None:
            values[key] = parse_flag(key, raw)
    text = render_template(values)
    secret = any(mask_secret(str(v)) != str(v) for v in values.values())
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()
        if secret and not args.machine:
            # A password in one login's file: readable by that login only (POSIX modes; on
            # Windows the per-user folder is private already).
            tmp.chmod(0o600)
        tmp.write_text(text, encoding="utf-8")
        read_config_file(tmp)  # what we write must load: prove it before it replaces anything
        tmp.replace(path)
    except (NotADirectoryError, FileExistsError):
        # Permission would not help: something that is not a folder is in the way.
        raise ConfigError(
            f"The config file {path} cannot be written: a file stands where one of the "
            f"folders of that path should be. Move that file away, or choose another "
            "location with --config."
        ) from None
    except OSError as err:
        if args.machine:
            raise ConfigError(
                f"The machine-wide config file {path} cannot be written ({err.strerror}). "
                "Run the command as an administrator (Windows) or with sudo (Linux)."
            ) from None
        raise ConfigError(
            f"The config file {path} cannot be written ({err.strerror}). Choose another "
            "location with --config, or ask IT for write permission on the folder."
        ) from None
    finally:
        # (quietly: with a file where the folder should be, this fails too, and its error
        # hid the sentence above behind 'unexpected error: Not a directory')
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    shown = ", ".join(f"{k} = {mask_secret(str(v))}" for k, v in values.items())
    print(f"Wrote {path}" + (f" ({shown})." if shown else "."))
    if args.machine:
        print("Every login of this PC reads it; a user's own config file overrides it.")
        if secret:
            print(
                "It holds the database password, which every login of this PC can read: use "
                "this PC's own instrument account there (docs/postgres-roles.md), whose server "
                "rules allow only this PC's sessions, never an administrator's or the owner's."
            )
    return 0
