"""Configuration: one typed definition per key, loaded with a documented precedence.

Precedence, highest first: command-line flag > environment variable > config file > default.
Every value remembers where it came from so that ``nexus-logger config show`` can say so.
The README's configuration reference is generated from :data:`FIELDS`, so it cannot drift.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_logger.core import paths
from nexus_logger.core.errors import ConfigError

_logger = logging.getLogger(__name__)

CONFIG_ENV = "NEXUS_LOGGER_CONFIG"


@dataclass(frozen=True)
class Field:
    """One configuration key: its type, default, environment variables and meaning."""

    name: str
    type: type
    default: Any
    help: str
    env: tuple[str, ...] = ()
    secret: bool = False
    check: Callable[[Any], str | None] | None = None


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be zero or more"


def _log_level(value: Any) -> str | None:
    ok = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
    return None if str(value).upper() in ok else f"must be one of {', '.join(sorted(ok))}"


FIELDS: tuple[Field, ...] = (
    Field(
        "database",
        str,
        "",
        "Database: a path to the NexusLIMS SQLite file, or a SQLAlchemy URL such as "
        "postgresql+psycopg://user:password@host/nexuslims. Empty means the local demo database.",
        env=("NEXUS_LOGGER_DB", "NX_DB_PATH"),
        secret=True,
    ),
    Field(
        "instrument",
        str,
        "",
        "instrument_pid of the instrument this PC controls. Empty: look the PC up by host name.",
        env=("NEXUS_LOGGER_INSTRUMENT",),
    ),
    Field(
        "administrators",
        list,
        [],
        "OS logins allowed to use the admin actions (force-end, re-queue, fix user).",
        env=("NEXUS_LOGGER_ADMINISTRATORS",),
    ),
    Field(
        "auto_close_seconds",
        int,
        3,
        "Seconds the window waits after End session before it closes (0: close at once).",
        env=("NEXUS_LOGGER_AUTO_CLOSE_SECONDS",),
        check=_non_negative,
    ),
    Field(
        "heartbeat_seconds",
        int,
        60,
        "How often an open session records that it is still alive.",
        env=("NEXUS_LOGGER_HEARTBEAT_SECONDS",),
        check=_positive,
    ),
    Field(
        "long_session_hours",
        float,
        12.0,
        "Open sessions older than this are reported as problems in the admin tab and 'check'.",
        env=("NEXUS_LOGGER_LONG_SESSION_HOURS",),
        check=_positive,
    ),
    Field(
        "admin_refresh_seconds",
        int,
        30,
        "Auto-refresh interval of the admin tab (0: no auto-refresh).",
        env=("NEXUS_LOGGER_ADMIN_REFRESH_SECONDS",),
        check=_non_negative,
    ),
    Field(
        "db_timeout_seconds",
        float,
        30.0,
        "How long to wait for a locked SQLite database or a slow server before giving up "
        "(and keeping the event in the local outbox).",
        env=("NEXUS_LOGGER_DB_TIMEOUT_SECONDS",),
        check=_positive,
    ),
    Field(
        "log_level",
        str,
        "INFO",
        "Log level of the log file: DEBUG, INFO, WARNING, ERROR.",
        env=("NEXUS_LOGGER_LOG_LEVEL",),
        check=_log_level,
    ),
)

FIELDS_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


@dataclass
class Settings:
    """Effective configuration: ``values[key]`` and where it came from in ``sources[key]``."""

    values: dict[str, Any]
    sources: dict[str, str]
    config_file: Path
    config_file_exists: bool = False
    warnings: list[str] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def database_target(self) -> str:
        """The database to use: the configured one, or the local demo database."""
        return self.values["database"] or str(paths.demo_database())

    @property
    def using_default_database(self) -> bool:
        """True when no database was configured anywhere and the demo database is used."""
        return not self.values["database"]


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


def _coerce(fld: Field, value: Any, origin: str) -> Any:
    """Convert ``value`` to the field's type or raise a :class:`ConfigError` naming ``origin``."""
    try:
        if fld.type is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError
        elif fld.type is bool:
            if isinstance(value, str):
                value = value.strip().lower() in {"1", "true", "yes", "on"}
            elif not isinstance(value, bool):
                raise TypeError
        elif fld.type is int:
            if isinstance(value, bool) or isinstance(value, float):
                raise TypeError
            value = int(value)
        elif fld.type is float:
            if isinstance(value, bool):
                raise TypeError
            value = float(value)
        elif fld.type is str:
            if not isinstance(value, str):
                raise TypeError
            value = value.strip()
    except (TypeError, ValueError):
        kind = {
            list: "a list of strings",
            int: "a whole number",
            float: "a number",
            str: "a string",
            bool: "true or false",
        }[fld.type]
        raise ConfigError(
            f"{origin}: '{fld.name}' must be {kind}, not {value!r}. Fix the value or remove the line."
        ) from None
    if fld.check is not None:
        problem = fld.check(value)
        if problem:
            raise ConfigError(f"{origin}: '{fld.name}' {problem} (got {value!r}).")
    if fld.name == "log_level":
        value = str(value).upper()
    return value


def read_config_file(path: Path) -> dict[str, Any]:
    """Read and validate a TOML config file; unknown keys and bad TOML are errors."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err}). Fix the file or delete it.") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror}).") from None
    unknown = sorted(set(data) - set(FIELDS_BY_NAME))
    if unknown:
        known = ", ".join(FIELDS_BY_NAME)
        raise ConfigError(f"{path}: unknown key '{unknown[0]}'. Remove it or use one of: {known}.")
    return {k: _coerce(FIELDS_BY_NAME[k], v, str(path)) for k, v in data.items()}


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective :class:`Settings`.

    ``overrides`` are command-line values (``None`` entries are ignored). A config file named
    explicitly must exist; the default one may be missing.
    """
    env = os.environ if environ is None else environ
    path, explicit = config_file_path(config_file, env)
    from_file: dict[str, Any] = {}
    warnings: list[str] = []
    try:
        exists = path.is_file()
    except OSError as err:  # e.g. a folder this account may not enter
        if explicit:
            raise ConfigError(f"The config file {path} cannot be read ({err.strerror}).") from None
        warnings.append(f"The config file {path} cannot be read ({err.strerror}); using defaults.")
        _logger.warning(warnings[-1])
        exists = False
    if exists:
        from_file = read_config_file(path)
    elif explicit:
        raise ConfigError(
            f"The config file {path} does not exist. Create it, or drop --config/"
            f"{CONFIG_ENV} to use {paths.default_config_file()}."
        )
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for fld in FIELDS:
        cli_value = (overrides or {}).get(fld.name)
        if cli_value is not None:
            values[fld.name] = _coerce(fld, cli_value, "command line")
            sources[fld.name] = "command line"
            continue
        for var in fld.env:
            raw = env.get(var)
            if raw is not None and raw.strip():
                values[fld.name] = _coerce(fld, raw, f"environment variable {var}")
                sources[fld.name] = f"environment ({var})"
                break
        else:
            if fld.name in from_file:
                values[fld.name] = from_file[fld.name]
                sources[fld.name] = f"config file ({path})"
            else:
                values[fld.name] = (
                    list(fld.default) if isinstance(fld.default, list) else fld.default
                )
                sources[fld.name] = "default"
    return Settings(
        values=values,
        sources=sources,
        config_file=path,
        config_file_exists=exists,
        warnings=warnings,
    )
