"""Where nexus-logger keeps its files on this machine.

``platformdirs`` gives the per-user locations (``%LOCALAPPDATA%\\nexus-logger`` on Windows, XDG
folders on Linux), which need no admin rights. ``NEXUS_LOGGER_HOME`` puts everything under one
folder instead: for a portable install on a USB stick, and for tests.

The machine-wide configuration, which IT writes once per PC and every login reads, is in
platformdirs' *site* config folder (``%ProgramData%\\nexus-logger`` on Windows; the first
folder of ``XDG_CONFIG_DIRS``, by default ``/etc/xdg/nexus-logger``, on Linux).
``NEXUS_LOGGER_MACHINE_DIR`` puts it elsewhere: tests give two simulated logins (two
``NEXUS_LOGGER_HOME`` folders) one machine folder that way.

The outbox (events waiting for the database) is one per PC, in platformdirs' *site data*
folder (``%ProgramData%\\nexus-logger`` on Windows; the first folder of ``XDG_DATA_DIRS``, by
default ``/usr/local/share/nexus-logger``, on Linux), or the folder IT names in the
``outbox_folder`` setting: every login writes it, and whichever nexus-logger runs next sends
it. :mod:`~nexus_logger.core.offline.outbox_place` falls back to the user's data folder when this login
cannot write there.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import platformdirs

from nexus_logger.core.settings.config_fields import folder_path

_logger = logging.getLogger(__name__)

APP_NAME = "nexus-logger"
HOME_ENV = "NEXUS_LOGGER_HOME"
MACHINE_ENV = "NEXUS_LOGGER_MACHINE_DIR"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV, "").strip()
    return Path(value).expanduser() if value else None


def config_dir() -> Path:
    """Folder of ``config.toml``."""
    home = _home()
    return home / "config" if home else platformdirs.user_config_path(APP_NAME, appauthor=False)


def data_dir() -> Path:
    """Folder of the demo database, the outbox and the heartbeat file."""
    home = _home()
    return home / "data" if home else platformdirs.user_data_path(APP_NAME, appauthor=False)


def log_dir() -> Path:
    """Folder of the rotating log file."""
    home = _home()
    return home / "logs" if home else platformdirs.user_log_path(APP_NAME, appauthor=False)


def default_config_file() -> Path:
    """``config.toml`` in :func:`config_dir`."""
    return config_dir() / "config.toml"


def demo_database() -> Path:
    """The embedded default database: a local SQLite file with demo instruments."""
    return data_dir() / "demo.sqlite"


def _machine_home() -> Path | None:
    value = os.environ.get(MACHINE_ENV, "").strip()
    return Path(value).expanduser() if value else None


def machine_config_dir() -> Path:
    """Folder of the machine-wide ``config.toml`` (read by every login of this PC)."""
    home = _machine_home()
    if home:
        return home / "config"
    return platformdirs.site_config_path(APP_NAME, appauthor=False)


def machine_config_file() -> Path:
    """``config.toml`` in :func:`machine_config_dir`."""
    return machine_config_dir() / "config.toml"


def machine_outbox_dir(configured: str = "") -> Path:
    """Folder of this PC's one outbox: ``configured`` (the ``outbox_folder`` setting) if given,
    else ``$NEXUS_LOGGER_MACHINE_DIR/data``, else platformdirs' site data folder."""
    if configured.strip():
        return folder_path(configured)
    home = _machine_home()
    if home:
        return home / "data"
    return platformdirs.site_data_path(APP_NAME, appauthor=False)


#: The mode of a lock file every login of the PC takes (filelock releases before 2026 set a
#: lock to 0o644 on each acquire unless told: the other logins could then not take it).
SHARED_LOCK_MODE = 0o666


def share_with_every_login(file: Path) -> None:
    """POSIX: give ``file`` the write rights its folder gives (group, others), so that the
    other logins of this PC can change it too; made empty if missing. On Windows the folder's
    ACL is inherited and nothing needs doing. A file of another login is left as it is."""
    if sys.platform == "win32":
        return
    try:
        folder_mode = file.parent.stat().st_mode
        if not file.exists():
            file.touch()
        os.chmod(file, 0o644 | (folder_mode & 0o020) | (folder_mode & 0o002))
    except OSError as err:  # another login's file: its owner set it up already
        _logger.debug("Could not share %s with the other logins: %s", file, err)


def user_outbox_dir() -> Path:
    """Where the outbox lived before it was one per PC; the fallback when that cannot be
    written by this login (:mod:`~nexus_logger.core.offline.outbox_place`)."""
    return data_dir()
