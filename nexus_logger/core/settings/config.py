"""Configuration: the effective settings, loaded with a documented precedence.

Precedence, highest first: command-line flag > environment variable > the user's config file >
the machine-wide config file (:func:`~nexus_logger.core.settings.paths.machine_config_file`, written
once per PC by IT with ``config init --machine``, read by every login) > default.
Every value remembers where it came from so that ``nexus-logger config show`` can say so.
The keys are defined in :mod:`~nexus_logger.core.settings.config_fields`, raw values checked in
:mod:`~nexus_logger.core.settings.config_values`, the README reference written by
:mod:`~nexus_logger.core.settings.config_readme`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus_logger.core.errors import ConfigError
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config_fields import (
    CONFIG_ENV,
    FIELDS,
    FIELDS_BY_NAME,
    LOG_LEVELS,
    Field,
)
from nexus_logger.core.settings.config_readme import (
    README_END,
    README_START,
    main,
    readme_path,
    readme_with_reference,
    render_reference,
    render_template,
)
from nexus_logger.core.settings.config_values import (
    Origin,
    coerce,
    mask_secret,
    parse_flag,
    read_config_file,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_SOURCE",
    "FIELDS",
    "FIELDS_BY_NAME",
    "LOG_LEVELS",
    "NOT_SET_UP",
    "README_END",
    "README_START",
    "Field",
    "NotSetUp",
    "Settings",
    "config_file_path",
    "is_demo_database",
    "load_settings",
    "main",
    "mask_secret",
    "parse_flag",
    "read_config_file",
    "readme_path",
    "readme_with_reference",
    "render_reference",
    "render_template",
    "settings_from_args",
]

_logger = logging.getLogger(__name__)

#: Source label of a value that came from no file, variable or flag.
DEFAULT_SOURCE = "default"


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
    warnings: list[str] = []
    exists, from_file = _read_user_file(path, explicit, warnings)
    machine_path, from_machine = _read_machine_file(warnings)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for fld in FIELDS:
        found = _from_flag_or_env(fld, overrides or {}, env)
        if found is None:
            if fld.name in from_file:
                found = from_file[fld.name], f"config file ({path})"
            elif fld.name in from_machine:
                found = from_machine[fld.name], f"machine config file ({machine_path})"
            else:
                default = list(fld.default) if isinstance(fld.default, list) else fld.default
                found = default, DEFAULT_SOURCE
        values[fld.name], sources[fld.name] = found
    return Settings(
        values=values,
        sources=sources,
        config_file=path,
        config_file_exists=exists,
        warnings=warnings,
        machine_config_file=machine_path,
        machine_config_exists=bool(from_machine) or _is_file(machine_path),
    )


def _from_flag_or_env(
    fld: Field, overrides: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[Any, str] | None:
    """``fld``'s value and source from the command line or the environment, if set there."""
    cli_value = overrides.get(fld.name)
    if cli_value is not None:
        source = f"command line option {fld.flag}" if fld.flag else "command line"
        return coerce(fld, cli_value, Origin.flag(fld)), source
    for var in fld.env:
        raw = env.get(var)
        if raw is not None and raw.strip():
            return coerce(fld, raw, Origin.env(var)), f"environment ({var})"
    return None


def _read_user_file(path: Path, explicit: bool, warnings: list[str]) -> tuple[bool, dict[str, Any]]:
    """Whether the user's config file exists, and its values.

    A file named explicitly must exist; the default one may be missing or unreadable (a
    warning then, so that the login still starts).
    """
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
        return True, read_config_file(path)
    if explicit:
        raise ConfigError(
            f"The config file {path} does not exist. Create it (nexus-logger config init "
            f"--config {path}), or drop --config/{CONFIG_ENV} to use "
            f"{paths.default_config_file()}."
        )
    return False, {}


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


if __name__ == "__main__":
    sys.exit(main())
