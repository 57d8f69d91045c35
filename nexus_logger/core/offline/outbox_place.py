"""Which outbox file this process uses: this PC's, or (as a fallback) the login's own.

One outbox per PC (:func:`~nexus_logger.core.settings.paths.machine_outbox_dir`: the ``outbox_folder``
setting, else the machine-wide data folder) is what lets an END kept offline by one login be
sent by the next nexus-logger that runs on the PC, whoever is logged in. IT makes that folder
writable for every login (docs/deployment.md). When this login cannot write it, the events are
kept in the login's own data folder instead, as before the outbox was one per PC: nothing is
lost, but only this login sends them. That is said once per process (the log, the window's and
the CLI's next message, ``doctor``), never silently.

While the PC's outbox is used, the waiting events of the login's own file are adopted into it
(:mod:`~nexus_logger.core.offline.outbox_adopt`).
"""

from __future__ import annotations

import errno
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nexus_logger.core.offline.outbox import OUTBOX_FILE, Outbox, OutboxError
from nexus_logger.core.settings import paths

if TYPE_CHECKING:
    from nexus_logger.core.settings.config import Settings

__all__ = ["Place", "locate", "open_outbox", "send_if_waiting"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    """Where the outbox is: ``path`` is used; ``machine`` is this PC's outbox file."""

    path: Path
    machine: Path
    #: Why this login keeps its events in its own folder (None: it uses the PC's outbox).
    problem: str | None = None

    @property
    def shared(self) -> bool:
        """True when the PC's outbox is used (every login sends it)."""
        return self.problem is None


def _cannot_write(file: Path) -> str | None:
    """Why this login cannot keep events in ``file`` (None: it can); makes the folder."""
    folder = file.parent
    probe = folder / f".nexus-logger-probe-{uuid.uuid4().hex}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
        for part in (file, Path(f"{file}-wal"), Path(f"{file}-shm"), Path(f"{file}.lock")):
            if part.exists():
                _check_writable(part)
    except OSError as err:
        return err.strerror or str(err)
    return None


def _check_writable(part: Path) -> None:
    """Raise :class:`OSError` when this login cannot write ``part``.

    Outside Windows the file is never opened: closing any descriptor of a file drops every
    POSIX lock the process holds on it, SQLite's included. A window that checked its outbox
    again (Retry, a new session, the doctor after a failed step) lost its locks on the
    outbox it had open; the next process to close the outbox then deleted its WAL, and the
    ENDs the window kept there were lost. ``access`` asks the same question (mode bits,
    ACLs, a read-only mount) without opening. Windows' locks belong to a handle, and its
    ACLs are what ``access`` does not read: there the file is opened.
    """
    if os.name == "nt":
        with part.open("r+b"):
            pass
    elif not os.access(part, os.W_OK):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(part))


def _share_with_every_login(file: Path) -> None:
    """A new outbox file and its lock, writable by every login the folder lets write (SQLite
    creates the file's ``-wal`` and ``-shm`` with the file's rights, so those are too)."""
    for part in (file, Path(f"{file}.lock")):
        paths.share_with_every_login(part)


def locate(configured: str = "") -> Place:
    """This PC's outbox if this login can write it, else the login's own (see the module)."""
    machine = paths.machine_outbox_dir(configured) / OUTBOX_FILE
    why = _cannot_write(machine)
    if why is None:
        if not machine.exists():
            _share_with_every_login(machine)
        return Place(machine, machine, None)
    own = paths.user_outbox_dir() / OUTBOX_FILE
    return Place(
        own,
        machine,
        f"This PC's outbox folder {machine.parent} cannot be written by this login ({why}): "
        f"events waiting for the database are kept in this login's folder {own.parent}, and "
        "only this login sends them; while the database is away, this login does not see the "
        "sessions other logins run on this PC. Ask IT to let every login change that folder "
        "(docs/deployment.md).",
    )


def open_outbox(configured: str = "") -> tuple[Outbox, Place]:
    """The outbox to use, with the login's own waiting events adopted into the PC's."""
    place = locate(configured)
    box = Outbox(place.path)
    if not place.shared:
        _logger.warning("%s", place.problem)
        return box, place
    from nexus_logger.core.offline.outbox_adopt import adopt

    own = paths.user_outbox_dir() / OUTBOX_FILE
    try:
        adopt(own, box)
    except OutboxError as err:  # the events stay in the login's file, adopted next time
        _logger.error("Could not move the events of %s into this PC's outbox: %s", own, err)
    return box, place


def send_if_waiting(settings: Settings) -> int:
    """Send this PC's waiting events when there are any; returns how many were sent.

    Every command that does not send them itself ends with this, so an END another login kept
    offline is sent by whatever nexus-logger runs next. Cheap when nothing waits (one count in
    the local file; the database stack is not even imported); never waits for another sender.
    """
    if not settings.set_up:  # not set up: nowhere to send to
        return 0
    from nexus_logger.core.offline.outbox import pending_events

    place = locate(settings.outbox_folder)
    if not pending_events(place.path):
        return 0
    from nexus_logger.core.offline.durable import DurableLogger
    from nexus_logger.core.sessions.time_rules import TimeRules

    durable = DurableLogger(
        settings.database_target,
        timeout=float(settings.db_timeout_seconds),
        rules=TimeRules.from_settings(settings),
        outbox_folder=settings.outbox_folder,
        lock_wait=0.0,
    )
    report = durable.sync()
    _logger.info("Events waiting on this PC, after the command: %s", report.message)
    return report.sent
