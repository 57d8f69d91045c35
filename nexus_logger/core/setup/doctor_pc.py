"""Pre-flight checks of this PC itself: its outbox and its log folder."""

from __future__ import annotations

import stat
import uuid
from pathlib import Path

from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.settings import paths
from nexus_logger.core.setup.doctor_check import Check


def check_outbox(outbox_path: Path | None = None, configured: str = "") -> Check:
    """This PC's outbox can be written by this login, and no START or END waits in it.

    ``configured`` is the ``outbox_folder`` setting; ``outbox_path`` (tests) names a file.
    """
    from nexus_logger.core.offline.outbox import damaged_copies, damaged_notice, pending_events
    from nexus_logger.core.offline.outbox_place import locate

    place = None if outbox_path is not None else locate(configured)
    path = outbox_path if place is None else place.path
    try:
        waiting = pending_events(path)
    except NexusLoggerError as err:
        return Check(
            "outbox",
            False,
            f"The outbox cannot be read: {err}",
            f"Check the folder {path.parent}.",
        )
    events = "event waits" if waiting == 1 else "events wait"
    if place is not None and not place.shared:
        held = f" {waiting} session {events} there." if waiting else ""
        return Check(
            "outbox",
            False,
            f"{place.problem}{held}",
            f"Let every login change {place.machine.parent} (Windows: icacls, see "
            "docs/deployment.md), or name another folder in 'outbox_folder'.",
        )
    if place is not None and _sticky(path.parent):
        return Check(
            "outbox",
            False,
            f"This PC's outbox folder {path.parent} has the sticky bit (like /tmp): a login "
            "cannot change the files another login made there, so its lock, and the record of "
            "the sessions running on this PC, fail for every login but the first (events "
            "waiting may then go unsent, an offline start may not see a running session).",
            "Give the folder a group every microscope login is in instead, without the sticky "
            "bit: 'chmod 2775' and that group (docs/deployment.md).",
        )
    damaged = damaged_copies(path)
    if damaged:
        return Check(
            "outbox",
            False,
            " ".join(damaged_notice(copy) for copy in damaged)
            + (f" Besides, {waiting} session {events} in {path}." if waiting else ""),
            "Compare the sessions of this PC's instrument around the file's date with what the "
            "users remember (a session without END shows in Problems); then delete the file (and "
            "its -wal and -shm files).",
        )
    if waiting == 0:
        return Check("outbox", True, f"No session events wait in this PC's outbox {path}.")
    return Check(
        "outbox",
        False,
        f"{waiting} session {events} in this PC's outbox {path} for the database (kept while "
        "it could not be reached or written, or held by a conflict).",
        "Waiting events are sent automatically once the database takes them; events held by a "
        "conflict are not. 'nexus-logger sync --status' lists them, the database each waits "
        "for and what to do; 'nexus-logger sync --db THAT-DATABASE' sends them now.",
    )


def _sticky(folder: Path) -> bool:
    """POSIX: True when ``folder`` has the sticky bit (files only their owner may replace)."""
    try:
        return bool(folder.stat().st_mode & stat.S_ISVTX)
    except OSError:
        return False


def check_log() -> Check:
    """The log folder exists (or can be made) and a file can be written in it."""
    from nexus_logger.core.settings.logsetup import log_file

    folder = paths.log_dir()
    probe = folder / f".nexus-logger-probe-{uuid.uuid4().hex}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        with log_file().open("a", encoding="utf-8"):
            pass
    except OSError as err:
        return Check(
            "log",
            False,
            f"The log folder {folder} cannot be written ({err.strerror or err}).",
            f"Fix the folder's permissions, or set {paths.HOME_ENV} to a folder this account "
            "may write. nexus-logger still works, without a log.",
        )
    return Check("log", True, f"Logging to {log_file()}.")
