"""Configuration: one typed definition per key, loaded with a documented precedence.

Precedence, highest first: command-line flag > environment variable > the user's config file >
the machine-wide config file (:func:`~nexus_logger.core.paths.machine_config_file`, written
once per PC by IT with ``config init --machine``, read by every login) > default.
Every value remembers where it came from so that ``nexus-logger config show`` can say so.
The README's configuration reference is generated from :data:`FIELDS` by
:func:`render_reference` (``python -m nexus_logger.core.config --write-readme``), and a test
fails when the README differs, so the documentation cannot drift from the code.

The file is TOML. It is usually edited by hand on Windows, so the loader is forgiving where
that costs nothing (a UTF-8 byte-order mark from Notepad) and precise where a mistake would
otherwise go unnoticed (``"C:\\new\\x.sqlite"`` silently turns ``\\n`` into a line break): every
problem is one :class:`~nexus_logger.core.errors.ConfigError` naming the file or variable, the
key and the fix.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_logger.core import paths
from nexus_logger.core.errors import ConfigError
from nexus_logger.core.validation import has_control_chars

_logger = logging.getLogger(__name__)

CONFIG_ENV = "NEXUS_LOGGER_CONFIG"

#: Source label of a value that came from no file, variable or flag.
DEFAULT_SOURCE = "default"


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, where else it can be set, and its limits.

    ``flag`` is the command-line option that overrides it (if any); ``env`` the environment
    variables, first match wins; ``secret`` marks values that may hold a password and are
    masked wherever they are shown.
    """

    name: str
    type: type
    default: Any
    help: str
    env: tuple[str, ...] = ()
    secret: bool = False
    check: Callable[[Any], str | None] | None = None
    flag: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] = ()

    def limits_text(self) -> str:
        """The allowed values in words, for messages and the reference table."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        parts = []
        if self.minimum is not None:
            parts.append(f"{'>' if self.exclusive_minimum else '≥'} {_num(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {_num(self.maximum)}")
        return ", ".join(parts)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: Log levels accepted by ``log_level`` (case-insensitive).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

FIELDS: tuple[Field, ...] = (
    Field(
        "database",
        str,
        "",
        "Database: a path to the NexusLIMS SQLite file (a network share is fine), or a "
        "SQLAlchemy URL such as postgresql+psycopg://user:password@host/nexuslims. "
        "Empty: this PC is not set up (nothing is logged), unless 'demo' is true.",
        env=("NEXUS_LOGGER_DB", "NX_DB_PATH"),
        secret=True,
        flag="--db",
    ),
    Field(
        "demo",
        bool,
        False,
        "true: with no 'database' set, use the local demo database, whose sessions never "
        "reach NexusLIMS (for trying the program; 'nexus-logger demo' does the same once).",
        env=("NEXUS_LOGGER_DEMO",),
    ),
    Field(
        "instrument",
        str,
        "",
        "instrument_pid of the instrument this PC controls. Empty: look the PC up by host name "
        "(the station mapping).",
        env=("NEXUS_LOGGER_INSTRUMENT",),
        flag="--instrument",
    ),
    Field(
        "administrators",
        list,
        [],
        "OS logins that see the admin actions (force-end, re-queue, fix user). A convenience, "
        "not security: on PostgreSQL the database account decides, on a file nothing can. In "
        "the environment: names separated by commas.",
        env=("NEXUS_LOGGER_ADMINISTRATORS",),
    ),
    Field(
        "facility_contact",
        str,
        "",
        "Whom a microscope user should call or write when the window cannot log the session: "
        "a name with a phone number or e-mail address, shown on the window's failure page. "
        "Empty: the page says to ask the facility staff.",
        env=("NEXUS_LOGGER_FACILITY_CONTACT",),
    ),
    Field(
        "auto_close_seconds",
        int,
        3,
        "Seconds the window waits after End session before it closes (0: close at once).",
        env=("NEXUS_LOGGER_AUTO_CLOSE_SECONDS",),
        minimum=0,
        maximum=3600,
    ),
    Field(
        "heartbeat_seconds",
        int,
        60,
        "How often an open session records that it is still alive.",
        env=("NEXUS_LOGGER_HEARTBEAT_SECONDS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=86400,
    ),
    Field(
        "long_session_hours",
        float,
        12.0,
        "Open sessions older than this are reported as problems in the admin tab and 'check'.",
        env=("NEXUS_LOGGER_LONG_SESSION_HOURS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=8760,
    ),
    Field(
        "fleet_silent_hours",
        float,
        24.0,
        "The Fleet page and 'fleet' flag an instrument PC not heard from for this long.",
        env=("NEXUS_LOGGER_FLEET_SILENT_HOURS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=8760,
    ),
    Field(
        "admin_refresh_seconds",
        int,
        30,
        "Auto-refresh interval of the admin tab (0: no auto-refresh).",
        env=("NEXUS_LOGGER_ADMIN_REFRESH_SECONDS",),
        minimum=0,
        maximum=86400,
    ),
    Field(
        "bridge_warn_hours",
        float,
        24.0,
        "On PostgreSQL, 'doctor' warns when a finished session has waited longer than this "
        "for the bridge to copy it to NexusLIMS's file.",
        env=("NEXUS_LOGGER_BRIDGE_WARN_HOURS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=8760,
    ),
    Field(
        "admin_tab_for_everyone",
        bool,
        False,
        "Show the read-only Admin tab to people who are not in 'administrators' (it lists "
        "sessions of every instrument). Off by default: who used which instrument when is "
        "personal data.",
        env=("NEXUS_LOGGER_ADMIN_TAB_FOR_EVERYONE",),
    ),
    Field(
        "admin_tab_shows_people",
        bool,
        False,
        "When the Admin tab is shown to someone not in 'administrators': also show other "
        "users' names and session notes (off: they are hidden).",
        env=("NEXUS_LOGGER_ADMIN_TAB_SHOWS_PEOPLE",),
    ),
    Field(
        "db_timeout_seconds",
        float,
        30.0,
        "How long to wait for a locked SQLite database or a slow server before giving up "
        "(and keeping the event in the local outbox).",
        env=("NEXUS_LOGGER_DB_TIMEOUT_SECONDS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=3600,
    ),
    Field(
        "clock_skew_minutes",
        float,
        5.0,
        "How far ahead of this PC's clock a start or end time may be (the clocks of two PCs "
        "never agree exactly); later times are refused.",
        env=("NEXUS_LOGGER_CLOCK_SKEW_MINUTES",),
        minimum=0,
        maximum=1440,
    ),
    Field(
        "backfill_days",
        float,
        30.0,
        "How far back a start or end time typed by a person may reach (catches a wrong year or "
        "month); events kept on this PC while the database was away are always sent.",
        env=("NEXUS_LOGGER_BACKFILL_DAYS",),
        minimum=0,
        exclusive_minimum=True,
        maximum=36500,
    ),
    Field(
        "outbox_folder",
        str,
        "",
        "Folder of this PC's one outbox (events waiting for the database), which every login "
        "must be able to write. Empty: the machine-wide data folder (Windows "
        "%ProgramData%\\nexus-logger, Linux the first folder of XDG_DATA_DIRS). Set it in the "
        "machine-wide config file.",
        env=("NEXUS_LOGGER_OUTBOX_FOLDER",),
    ),
    Field(
        "on_quit",
        str,
        "end",
        "What a running session does when the window is stopped without the close dialog: "
        "SIGTERM, Ctrl+C (SIGINT), closing the console, Windows logoff or shutdown. 'end': end "
        "it, as the close dialog's End does; 'keep': keep it open (a last heartbeat is "
        "written), as 'Keep it open and close' does.",
        env=("NEXUS_LOGGER_ON_QUIT",),
        choices=("end", "keep"),
    ),
    Field(
        "data_root",
        str,
        "",
        "The folder NexusLIMS's NX_INSTRUMENT_DATA_PATH points at, as this PC sees it (a "
        "mapped drive or UNC path): the window counts the running session's files there and "
        "warns before an empty record; the Admin tab, 'sessions --files' and 'check' predict "
        "NO_FILES_FOUND. Empty: files are not counted.",
        env=("NEXUS_LOGGER_DATA_ROOT", "NX_INSTRUMENT_DATA_PATH"),
    ),
    Field(
        "file_strategy",
        str,
        "exclusive",
        "NexusLIMS's NX_FILE_STRATEGY, mirrored when counting files: 'exclusive' counts only "
        "files NexusLIMS has an extractor for (.dm3, .dm4, .h5, .msa, .ser, .spc, .tif, "
        ".tiff), 'inclusive' every file.",
        env=("NEXUS_LOGGER_FILE_STRATEGY", "NX_FILE_STRATEGY"),
        choices=("exclusive", "inclusive"),
    ),
    Field(
        "ignore_patterns",
        list,
        ["*.mib", "*.db", "*.emi", "*.hdr"],
        "NexusLIMS's NX_IGNORE_PATTERNS, mirrored when counting files: file-name globs that "
        "are never counted (case-insensitive). In the environment: a JSON array, as NexusLIMS "
        "writes it, or globs separated by commas.",
        env=("NEXUS_LOGGER_IGNORE_PATTERNS", "NX_IGNORE_PATTERNS"),
    ),
    Field(
        "file_delay_days",
        float,
        2.0,
        "NexusLIMS's NX_FILE_DELAY_DAYS: how long after its end NexusLIMS keeps looking for "
        "the files of a session without any before it marks it NO_FILES_FOUND.",
        env=("NEXUS_LOGGER_FILE_DELAY_DAYS", "NX_FILE_DELAY_DAYS"),
        minimum=0,
        exclusive_minimum=True,
        maximum=3650,
    ),
    Field(
        "log_level",
        str,
        "INFO",
        "Level of the log file: DEBUG, INFO, WARNING, ERROR or CRITICAL.",
        env=("NEXUS_LOGGER_LOG_LEVEL",),
        choices=LOG_LEVELS,
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}

#: What an unconfigured PC says, in the window and on the command line.
NOT_SET_UP = (
    "This PC is not set up: sessions are not sent to NexusLIMS. Ask the facility staff or IT "
    "to set the database once for this PC ('nexus-logger config init --machine --db "
    "PATH_OR_URL'), or run 'nexus-logger demo' to try the program on a demo database."
)


class NotSetUp(ConfigError):
    """No database is configured on this PC and the demo was not asked for."""


def is_demo_database(target: str) -> bool:
    """True when ``target`` names this user's local demo database file."""
    if "://" in target:
        return False

    def norm(path: str | Path) -> str:
        return os.path.normcase(os.path.abspath(os.path.expanduser(path)))

    return norm(target) == norm(paths.demo_database())


_KIND = {
    list: "a list of strings",
    int: "a whole number",
    float: "a number",
    str: "a string",
    bool: "true or false",
}


@dataclass(frozen=True)
class _Origin:
    """Where a raw value came from: used to name it in messages and to say how to fix it."""

    label: str  # "config file /x/config.toml", "environment variable NX_DB_PATH", ...
    fix: str  # "Fix the value in the file or remove the line."
    text: bool  # True when the value is text to convert (environment, command line)

    @staticmethod
    def file(path: Path) -> _Origin:
        return _Origin(f"{path}", "Fix the value in the file or remove the line.", False)

    @staticmethod
    def env(var: str) -> _Origin:
        return _Origin(
            f"The environment variable {var}", f"Fix the value of {var} or unset it.", True
        )

    @staticmethod
    def flag(fld: Field) -> _Origin:
        option = fld.flag or fld.name
        return _Origin(f"The option {option}", f"Fix the value given to {option}.", True)


@dataclass
class Settings:
    """Effective configuration: ``values[key]`` and where it came from in ``sources[key]``."""

    values: dict[str, Any]
    sources: dict[str, str]
    config_file: Path
    config_file_exists: bool = False
    warnings: list[str] = field(default_factory=list)
    #: The machine-wide file every login of this PC reads (below ``config_file``).
    machine_config_file: Path | None = None
    machine_config_exists: bool = False

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        # Settings end up in log lines and tracebacks: never with a password in them.
        shown = {key: self.display_value(key) for key in self.values}
        return f"Settings({shown!r}, config_file={str(self.config_file)!r})"

    @property
    def database_target(self) -> str:
        """The database to use: the configured one, or the demo database if asked for.

        :class:`NotSetUp` when neither: an unconfigured PC must never log quietly to a
        private demo database that NexusLIMS never reads.
        """
        if self.values["database"]:
            return self.values["database"]
        if self.values["demo"]:
            return str(paths.demo_database())
        raise NotSetUp(NOT_SET_UP)

    @property
    def using_default_database(self) -> bool:
        """True when no database was configured anywhere (demo or not set up)."""
        return not self.values["database"]

    @property
    def set_up(self) -> bool:
        """True when a database is configured, or the demo database was asked for."""
        return bool(self.values["database"]) or bool(self.values["demo"])

    @property
    def uses_demo(self) -> bool:
        """True when the sessions go to the local demo database (never to NexusLIMS)."""
        if not self.values["database"]:
            return bool(self.values["demo"])
        return is_demo_database(self.values["database"])

    def display_value(self, key: str) -> str:
        """``values[key]`` as text for people: passwords masked, empty values explained."""
        value = self.values[key]
        fld = FIELDS_BY_NAME.get(key)
        if key == "database":
            if not value and self.values.get("demo"):
                return f"(not set: the demo database {paths.demo_database()})"
            if not value:
                return "(not set: this PC is not set up, nothing is logged)"
            return mask_secret(value)
        if fld is not None and fld.secret:
            return mask_secret(str(value))
        if isinstance(value, list):
            return ", ".join(value) if value else "(none)"
        if value == "":
            return "(not set)"
        return str(value)

    def rows(self) -> list[dict[str, Any]]:
        """One row per key (key, value, source) for ``config show``; secrets masked."""
        rows = []
        for fld in FIELDS:
            value = self.values[fld.name]
            shown: Any = mask_secret(value) if fld.secret and isinstance(value, str) else value
            rows.append(
                {
                    "key": fld.name,
                    "value": shown,
                    "display": self.display_value(fld.name),
                    "source": self.sources[fld.name],
                }
            )
        return rows


# Greedy up to the last "@" of the URL: a password with an unencoded "@" must not leak its tail.
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)\S*(?P<at>@)")
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s;&]+)", re.I)


def mask_secret(text: str) -> str:
    """Hide the password of a database URL (``scheme://user:***@host``) or DSN keyword text.

    Works on text that is not a valid URL too, because a half-typed URL in a config file is
    exactly what ends up in an error message.
    """
    if not text:
        return text
    text = _URL_PASSWORD.sub(r"\g<head>***\g<at>", text)
    return _KEYWORD_PASSWORD.sub(r"\g<head>***", text)


def config_file_path(
    explicit: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Path, bool]:
    """The config file to read and whether it was named explicitly (flag or environment)."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = (os.environ if environ is None else environ).get(CONFIG_ENV, "").strip()
    if env:
        return Path(env).expanduser(), True
    return paths.default_config_file(), False


def _fail(fld: Field, origin: _Origin, problem: str) -> ConfigError:
    return ConfigError(f"{origin.label}: '{fld.name}' {problem}. {origin.fix}")


def _shown(fld: Field, value: Any) -> str:
    """The offending value for a message; never the value of a secret key."""
    if fld.secret:
        return f"a {type(value).__name__}" if not isinstance(value, str) else "that value"
    return repr(value)


def _coerce(fld: Field, value: Any, origin: _Origin) -> Any:
    """Convert ``value`` to the field's type, check its limits, or raise :class:`ConfigError`.

    TOML values must already have the right type (``heartbeat_seconds = "60"`` is a mistake
    worth pointing out); text from the environment or the command line is converted.
    """
    kind = _KIND[fld.type]
    try:
        if fld.type is list:
            if isinstance(value, str) and origin.text:
                # A JSON array too: NexusLIMS writes NX_IGNORE_PATTERNS that way.
                value = json.loads(value) if value.strip().startswith("[") else value
                value = re.split(r"[,;]", value) if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError
            value = [v.strip() for v in value if v.strip()]
            value = list(dict.fromkeys(value))  # drop repeats, keep order
        elif fld.type is bool:
            if isinstance(value, str) and origin.text:
                low = value.strip().lower()
                if low not in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
                    raise ValueError
                value = low in {"1", "true", "yes", "on"}
            elif not isinstance(value, bool):
                raise TypeError
        elif fld.type is int:
            if isinstance(value, str) and origin.text:
                value = int(value.strip())
            elif isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif fld.type is float:
            if isinstance(value, str) and origin.text:
                value = float(value.strip())
            elif isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError
            value = float(value)
            if not math.isfinite(value):
                raise ValueError
        elif fld.type is str:
            if not isinstance(value, str):
                raise TypeError
            value = value.strip()
    except (TypeError, ValueError):
        raise _fail(fld, origin, f"must be {kind}, not {_shown(fld, value)}") from None
    if fld.type is str and has_control_chars(value):
        hint = (
            " (in a double-quoted TOML string a backslash starts an escape such as \\n; "
            "write Windows paths in single quotes: 'C:\\data\\x.sqlite')"
            if not origin.text
            else ""
        )
        raise _fail(fld, origin, f"contains a control character{hint}")
    if fld.choices:
        # Case-insensitive; the value becomes the choice as spelt in FIELDS.
        spelt = {choice.casefold(): choice for choice in fld.choices}
        if value.strip().casefold() not in spelt:
            raise _fail(fld, origin, f"must be {fld.limits_text()}, not {_shown(fld, value)}")
        value = spelt[value.strip().casefold()]
    if fld.type in (int, float):
        low_ok = fld.minimum is None or (
            value > fld.minimum if fld.exclusive_minimum else value >= fld.minimum
        )
        high_ok = fld.maximum is None or value <= fld.maximum
        if not (low_ok and high_ok):
            raise _fail(fld, origin, f"must be {fld.limits_text()} (got {_num(value)})")
    if fld.check is not None:
        problem = fld.check(value)
        if problem:
            raise _fail(fld, origin, f"{problem} (got {_shown(fld, value)})")
    return value


def parse_flag(key: str, raw: Any) -> Any:
    """Check and convert a command-line value for ``key`` as :func:`load_settings` would."""
    fld = FIELDS_BY_NAME[key]
    return _coerce(fld, raw, _Origin.flag(fld))


def _decode_toml(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8-sig")  # Notepad may add a byte-order mark; it means nothing
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: is not UTF-8 text. Save it again with the encoding UTF-8."
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        hint = ""
        if "\\" in text and ("escape" in str(err).lower() or "hex" in str(err).lower()):
            hint = (
                " A backslash inside double quotes starts an escape: write Windows paths in "
                "single quotes (database = '\\\\server\\share\\nexuslims.sqlite') "
                "or with forward slashes."
            )
        elif "\\" in text and "unescaped" in str(err).lower():
            hint = (
                " Write Windows paths in single quotes "
                "(database = '\\\\server\\share\\nexuslims.sqlite') or with forward slashes."
            )
        raise ConfigError(
            f"{path}: is not valid TOML ({err}).{hint or ' Fix the line, or delete the file.'}"
        ) from None


def read_config_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML config file; unknown keys and bad TOML are errors."""
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ConfigError(f"{path} is a folder, not a config file. Give the file's path.") from None
    except OSError as err:
        raise ConfigError(
            f"{path}: cannot be read ({err.strerror}). Check the file's permissions."
        ) from None
    data = _decode_toml(path, raw)
    unknown = sorted(set(data) - set(FIELDS_BY_NAME))
    if unknown:
        key = unknown[0]
        import difflib  # only needed for this message

        close = difflib.get_close_matches(key, list(FIELDS_BY_NAME), n=1)
        if close:
            fix = f"Did you mean '{close[0]}'? Rename the key or remove the line."
        else:
            fix = f"Remove it, or use one of: {', '.join(FIELDS_BY_NAME)}."
        if isinstance(data[key], dict):
            return_msg = f"{path}: unknown section [{key}]. {fix}"
        else:
            return_msg = f"{path}: unknown key '{key}'. {fix}"
        raise ConfigError(return_msg)
    for key, value in data.items():
        if isinstance(value, dict):
            raise ConfigError(
                f"{path}: '{key}' is written as a section [{key}]; nexus-logger has no "
                f"sections. Write it as one line at the top of the file: {key} = ..."
            )
    origin = _Origin.file(path)
    return {k: _coerce(FIELDS_BY_NAME[k], v, origin) for k, v in data.items()}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective :class:`Settings`.

    ``overrides`` are command-line values (``None`` entries are ignored). A config file named
    explicitly (``--config`` or ``NEXUS_LOGGER_CONFIG``) must exist; the default one may be
    missing. An empty environment variable counts as unset, so that ``set NX_DB_PATH=`` on
    Windows really unsets nothing by accident.
    """
    env = os.environ if environ is None else environ
    path, explicit = config_file_path(config_file, env)
    from_file: dict[str, Any] = {}
    warnings: list[str] = []
    try:
        exists = path.is_file()
        is_dir = not exists and path.is_dir()
    except OSError as err:  # e.g. a folder this account may not enter
        if explicit:
            raise ConfigError(
                f"The config file {path} cannot be read ({err.strerror}). "
                "Check the path and its permissions."
            ) from None
        warnings.append(f"The config file {path} cannot be read ({err.strerror}); using defaults.")
        _logger.warning(warnings[-1])
        exists = is_dir = False
    if is_dir:
        raise ConfigError(
            f"The config file {path} is a folder, not a file. "
            f"Give the path of a .toml file (--config or {CONFIG_ENV})."
        )
    if exists:
        from_file = read_config_file(path)
    elif explicit:
        raise ConfigError(
            f"The config file {path} does not exist. Create it (nexus-logger config init "
            f"--config {path}), or drop --config/{CONFIG_ENV} to use "
            f"{paths.default_config_file()}."
        )
    machine_path, from_machine = _read_machine_file(warnings)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for fld in FIELDS:
        cli_value = (overrides or {}).get(fld.name)
        if cli_value is not None:
            values[fld.name] = _coerce(fld, cli_value, _Origin.flag(fld))
            sources[fld.name] = f"command line ({fld.flag})" if fld.flag else "command line"
            continue
        for var in fld.env:
            raw = env.get(var)
            if raw is not None and raw.strip():
                values[fld.name] = _coerce(fld, raw, _Origin.env(var))
                sources[fld.name] = f"environment ({var})"
                break
        else:
            if fld.name in from_file:
                values[fld.name] = from_file[fld.name]
                sources[fld.name] = f"config file ({path})"
            elif fld.name in from_machine:
                values[fld.name] = from_machine[fld.name]
                sources[fld.name] = f"machine config file ({machine_path})"
            else:
                values[fld.name] = (
                    list(fld.default) if isinstance(fld.default, list) else fld.default
                )
                sources[fld.name] = DEFAULT_SOURCE
    return Settings(
        values=values,
        sources=sources,
        config_file=path,
        config_file_exists=exists,
        warnings=warnings,
        machine_config_file=machine_path,
        machine_config_exists=bool(from_machine) or _is_file(machine_path),
    )


def settings_from_args(args: Any) -> Settings:
    """Settings with the command line's ``--db``, ``--instrument`` and ``--config`` (attributes
    of an ``argparse`` namespace, each optional) on top of environment and files.

    The one place both the headless commands and the windows they open resolve settings, so
    that ``nexus-logger --db X`` and ``nexus-logger --db X admin`` mean the same database.
    """
    overrides = {
        "database": getattr(args, "db", None),
        "instrument": getattr(args, "instrument", None),
    }
    return load_settings(getattr(args, "config", None), overrides)


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


def _read_machine_file(warnings: list[str]) -> tuple[Path, dict[str, Any]]:
    """The machine-wide file's values (below the user's file); {} when it does not exist.

    A file IT wrote that is wrong is an error like the user's own (it names the file and the
    key); one this login may not read is a warning, so that the login still starts.
    """
    machine = paths.machine_config_file()
    try:
        if not machine.is_file():
            return machine, {}
        machine.read_bytes()
    except OSError as err:
        warnings.append(
            f"The machine-wide config file {machine} cannot be read ({err.strerror}); it is "
            "ignored. Ask IT to give every login read access to it."
        )
        _logger.warning(warnings[-1])
        return machine, {}
    return machine, read_config_file(machine)


# --------------------------------------------------------------------------------------------
# Generated documentation and the template config file


def _toml_value(value: Any) -> str:
    """A TOML literal for the value types :data:`FIELDS` uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value)
    if "'" not in text and not has_control_chars(text):
        return f"'{text}'"  # literal string: backslashes of Windows paths stay as typed
    return json.dumps(text, ensure_ascii=False)  # JSON strings are valid TOML basic strings


def render_template(values: Mapping[str, Any] | None = None) -> str:
    """A commented config file: every key with its meaning; ``values`` are written active.

    Keys not in ``values`` are present but commented out with their default, so the file
    documents itself and changing a default later in the code still reaches every PC.
    """
    values = values or {}
    lines = [
        "# nexus-logger configuration (TOML). Generated by 'nexus-logger config init'.",
        "# Precedence: command-line flag > environment variable > the user's file > the",
        "# machine-wide file (every login of this PC) > default.",
        "# Windows paths: use single quotes, e.g. database = '\\\\server\\share\\nexuslims.sqlite'",
        "",
    ]
    for fld in FIELDS:
        lines.append(f"# {fld.help}")
        extra = []
        if fld.env:
            extra.append("environment: " + ", ".join(fld.env))
        if fld.limits_text():
            extra.append("allowed: " + fld.limits_text())
        if extra:
            lines.append("# (" + "; ".join(extra) + ")")
        if fld.name in values and values[fld.name] not in (None, ""):
            lines.append(f"{fld.name} = {_toml_value(values[fld.name])}")
        else:
            lines.append(f"# {fld.name} = {_toml_value(fld.default)}")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _default_text(fld: Field) -> str:
    if fld.name == "database":
        return "*(empty: not set up)*"
    if fld.default in ("", []):
        return "*(empty)*"
    return f"`{_toml_value(fld.default)}`"


def render_reference() -> str:
    """The README's configuration reference, generated from :data:`FIELDS` (Markdown)."""
    out = [
        "<!-- Generated by `python -m nexus_logger.core.config --write-readme` from "
        "nexus_logger/core/config.py; do not edit by hand (a test compares it). -->",
        "",
        "The config file is TOML. Its location: `nexus-logger config path` (on Windows "
        "`%LOCALAPPDATA%\\nexus-logger\\config.toml`, on Linux "
        "`~/.config/nexus-logger/config.toml`, on macOS "
        "`~/Library/Application Support/nexus-logger/config.toml`); another file can be named "
        f"with `--config FILE` or the environment variable `{CONFIG_ENV}`. "
        "`nexus-logger config init` writes a commented template; "
        "`nexus-logger config show` prints every effective value and the file (or variable, "
        "or flag) it came from.",
        "",
        "Every login of a shared PC also reads the **machine-wide** config file, written once "
        "by IT with `nexus-logger config init --machine` (on Windows "
        "`%ProgramData%\\nexus-logger\\config.toml`, on Linux the first folder of "
        "`XDG_CONFIG_DIRS`, by default `/etc/xdg/nexus-logger/config.toml`; "
        "`NEXUS_LOGGER_MACHINE_DIR` moves it).",
        "",
        "Each value is taken from the first of: **command-line flag > environment variable > "
        "user's config file > machine-wide config file > default**. An empty environment variable counts as unset. A config "
        "file named with `--config` or the variable must exist; unknown keys, values of the "
        "wrong type or out of range, and invalid TOML are reported with the file, the key and "
        "the fix. Passwords in a database URL are masked in `config show` and in the log.",
        "",
        "| key | type | default | allowed | environment | flag | meaning |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fld in FIELDS:
        env = ", ".join(f"`{v}`" for v in fld.env) or ""
        flag = f"`{fld.flag}`" if fld.flag else ""
        kind = {
            list: "list of strings",
            bool: "true or false",
            int: "integer",
            float: "number",
            str: "string",
        }[fld.type]
        out.append(
            f"| `{fld.name}` | {kind} | {_default_text(fld)} | {_md(fld.limits_text())} "
            f"| {env} | {flag} | {_md(fld.help)} |"
        )
    out += [
        "",
        "Example (`config.toml` of an instrument PC):",
        "",
        "```toml",
        "database = '\\\\nexus-server\\nexuslims\\nexuslims.sqlite'",
        "instrument = 'FEI-Titan-TEM-635816'",
        "administrators = ['jsmith', 'facility-admin']",
        "facility_contact = 'Jane Smith, microscopy facility, +1 301 975 2000'",
        "auto_close_seconds = 5",
        "```",
    ]
    return "\n".join(out)


README_START = "<!-- config-reference:start -->"
README_END = "<!-- config-reference:end -->"


def readme_path() -> Path:
    """The project's README.md (next to the package in a source checkout)."""
    return Path(__file__).resolve().parents[2] / "README.md"


def readme_with_reference(readme_text: str) -> str:
    """``readme_text`` with the section between the markers replaced by the reference."""
    start = readme_text.find(README_START)
    end = readme_text.find(README_END)
    if start < 0 or end < start:
        raise ConfigError(
            f"The README has no '{README_START}' ... '{README_END}' markers; add them where "
            "the configuration reference belongs."
        )
    head = readme_text[: start + len(README_START)]
    return f"{head}\n{render_reference()}\n{readme_text[end:]}"


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m nexus_logger.core.config``: print, check or write the README reference."""
    parser = argparse.ArgumentParser(prog="python -m nexus_logger.core.config")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write-readme", action="store_true", help="update README.md")
    group.add_argument("--check-readme", action="store_true", help="exit 1 if README is stale")
    group.add_argument("--template", action="store_true", help="print a config file template")
    parser.add_argument("--readme", type=Path, default=None, help="README to use")
    args = parser.parse_args(argv)
    if args.template:
        print(render_template())
        return 0
    if not (args.write_readme or args.check_readme):
        print(render_reference())
        return 0
    path = args.readme or readme_path()
    current = path.read_text(encoding="utf-8")
    wanted = readme_with_reference(current)
    if args.check_readme:
        if current != wanted:
            print(f"{path}: the configuration reference is out of date; run --write-readme.")
            return 1
        return 0
    if current != wanted:
        path.write_text(wanted, encoding="utf-8")
        print(f"Updated the configuration reference in {path}.")
    else:
        print(f"{path} is up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
