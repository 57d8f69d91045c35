"""The definition of every configuration key: its type, default, limits and meaning.

Adding a setting is one :class:`Field` in :data:`FIELDS`; the README reference is generated
from it (``python -m nexus_logger.core.settings.config --write-readme``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The environment variable naming another config file.
CONFIG_ENV = "NEXUS_LOGGER_CONFIG"


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
            parts.append(f"{'>' if self.exclusive_minimum else '≥'} {num_text(self.minimum)}")
        if self.maximum is not None:
            parts.append(f"≤ {num_text(self.maximum)}")
        return ", ".join(parts)


def folder_path(value: str) -> Path:
    """A folder setting as a path: ``~`` and the platform's variables expanded (``%ProgramData%``
    on Windows, ``$HOME`` on POSIX), as IT writes them."""
    return Path(os.path.expandvars(value.strip())).expanduser()


def _whole_path(value: str) -> str | None:
    """Why a folder setting is no whole path, or None. A relative folder is found from the
    working folder, which differs by how the program was started (the shortcut, a scheduled
    task, a console): each would keep its own outbox, and events kept by one were never sent
    by the others."""
    if value.strip() and not folder_path(value).is_absolute():
        return (
            "must be a whole path, such as C:\\ProgramData\\nexus-outbox or /var/lib/nexus-outbox"
        )
    return None


def num_text(value: float) -> str:
    """A limit as text: whole numbers without ``.0``."""
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
        "%ProgramData%\\nexus-logger, Linux the first folder of XDG_DATA_DIRS). A whole path; "
        "%VARIABLES% (Windows) or $VARIABLES are expanded. Set it in the machine-wide config "
        "file.",
        env=("NEXUS_LOGGER_OUTBOX_FOLDER",),
        check=_whole_path,
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
