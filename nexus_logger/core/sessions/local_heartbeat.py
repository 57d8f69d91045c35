"""This PC's record of the sessions running on it: when each was last alive, and who started
it when. Known even while the database is away, so a PC that lost the network can still end
its session, at the time it was really last alive, and knows a session is open on its
instrument whichever login started it.

One file per PC (``heartbeat.json`` in the PC's folder, beside its outbox: the
``outbox_folder`` setting, else the machine-wide data folder), read and written by every
login's nexus-logger: a PC is shared, and a session bob started must stop alice's offline
start and stay bob's to end offline. When this login cannot write that folder, its entries
go to the login's own data folder (where the record was before it was one per PC), which is
read too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filelock import FileLock
from filelock import Timeout as FileLockTimeout

from nexus_logger.core import timestamps
from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.sessions.inputs import clean_identifier, stored_in_zone
from nexus_logger.core.sessions.outcomes import OpenSession
from nexus_logger.core.sessions.station import this_host
from nexus_logger.core.settings import paths

_logger = logging.getLogger(__name__)

__all__ = [
    "forget_open_here",
    "heartbeat_file",
    "local_heartbeat",
    "open_here",
    "read_local_file",
    "record_local_heartbeat",
    "remember_open_here",
    "update_local_file",
]

#: The files this process could not write (said once each in the log, not at every heartbeat).
_TOLD: set[Path] = set()

#: Entries of the local heartbeat file older than this are dropped when it is rewritten.
_LOCAL_HEARTBEAT_KEEP = timedelta(days=30)
_FILE_NAME = "heartbeat.json"


def heartbeat_file() -> Path:
    """This PC's record (JSON, rewritten atomically), in the PC's folder beside its outbox."""
    from nexus_logger.core.settings.config import load_settings

    try:
        configured = load_settings().outbox_folder
    except NexusLoggerError:  # a broken config file is reported where it is used
        configured = ""
    return paths.machine_outbox_dir(configured) / _FILE_NAME


def _own_file() -> Path:
    """This login's own record: where it was before it was one per PC, and the fallback."""
    return paths.data_dir() / _FILE_NAME


def _read(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        _logger.warning("Local heartbeat file %s unreadable (%s); ignoring it", path, err)
        return {}
    sessions = data.get("sessions") if isinstance(data, dict) else None
    return sessions if isinstance(sessions, dict) else {}


def read_local_file() -> dict[str, dict[str, Any]]:
    """Every session's entry this PC holds (empty when there is none or it is unreadable).

    An entry in both records is the two merged, the one more recently alive winning: a login
    that cannot write the PC's record keeps its heartbeats in its own.
    """
    pc, own = heartbeat_file(), _own_file()
    if own == pc:
        return _read(pc)
    merged = _read(own)
    for ident, entry in _read(pc).items():
        mine = merged.get(ident)
        if not isinstance(mine, dict) or not isinstance(entry, dict):
            merged[ident] = entry
        elif _alive(mine) > _alive(entry):
            merged[ident] = {**entry, **mine}
        else:
            merged[ident] = {**mine, **entry}
    return merged


def _alive(entry: dict[str, Any]) -> float:
    """When an entry was last known alive, for ordering (unknown: earliest)."""
    seen = entry.get("last_alive") or entry.get("started")
    key = timestamps.sort_key(str(seen)) if seen else float("-inf")
    return key if key != float("inf") else float("-inf")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = Path(str(path) + ".lock")
    if not lock.exists():
        paths.share_with_every_login(lock)
    with FileLock(str(lock), timeout=10, mode=paths.SHARED_LOCK_MODE):
        yield


def _write(path: Path, sessions: dict[str, dict[str, Any]]) -> None:
    payload = json.dumps({"version": 1, "sessions": sessions}, indent=1, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".heartbeat-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        if sys.platform != "win32":
            os.chmod(tmp, 0o644)  # every login reads it (mkstemp makes it private)
        for attempt in range(5):  # Windows refuses to replace a file another process reads
            try:
                os.replace(tmp, path)
                break
            except PermissionError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _update(path: Path, ident: str, entry: dict[str, Any] | None) -> None:
    """Set (or with ``None`` remove) one entry of the record at ``path``; prune old ones."""
    with _locked(path):
        sessions = _read(path)
        if entry is None:
            if sessions.pop(ident, None) is None:
                return
        else:
            # Who started it and when stay known across heartbeats (see open_here), also
            # from the login's own record of before.
            old = sessions.get(ident) or _read(_own_file()).get(ident)
            sessions[ident] = {**(old if isinstance(old, dict) else {}), **entry}
        cutoff = timestamps.now_in("UTC") - _LOCAL_HEARTBEAT_KEEP
        for key in list(sessions):
            try:
                seen = sessions[key].get("last_alive") or sessions[key]["started"]
                if timestamps.parse(seen) < cutoff:
                    del sessions[key]
            except (KeyError, TypeError, timestamps.TimestampError):
                del sessions[key]
        _write(path, sessions)


def update_local_file(ident: str, entry: dict[str, Any] | None) -> None:
    """Set (or with ``None`` remove) one session's entry in this PC's record; old entries are
    pruned. Removing takes it out of the login's own record too. When this login cannot write
    the PC's record, its own takes the entry."""
    pc, own = heartbeat_file(), _own_file()
    try:
        _update(pc, ident, entry)
        if entry is not None or own == pc:
            return
    except (OSError, FileLockTimeout) as err:
        _warn_once(pc, err)
        if own == pc:
            return
    try:
        _update(own, ident, entry)
    except (OSError, FileLockTimeout) as err:
        _warn_once(own, err)


def _warn_once(path: Path, err: BaseException) -> None:
    if path not in _TOLD:
        _TOLD.add(path)
        _logger.warning("Could not update the heartbeat file %s: %s", path, err)
    else:
        _logger.debug("Could not update the heartbeat file %s: %s", path, err)


def forget_open_here(session_identifier: str) -> None:
    """Drop a session from this PC's local file (it ended)."""
    # Most sessions ended here have no local entry (ended from another process, or within a
    # minute of their start): look before taking the file lock and rewriting the file. An
    # entry a concurrent heartbeat adds after this look is dropped with the old entries later.
    if session_identifier in read_local_file():
        update_local_file(session_identifier, None)


def remember_open_here(session: OpenSession, database: str | None = None) -> None:
    """Note in this PC's local file that ``session`` runs here (its user, start and zone).

    What lets this PC end its own session while the database cannot be reached: the window
    and ``session end`` then find it with :func:`open_here`. Removed when the session ends.
    ``database``: the key of the database it runs in (the outbox's), so that a PC that
    logs to a test database and to the real one never takes one's session for the other's.
    """
    inst = session.instrument
    entry = {
        "database": database,
        "instrument": inst.instrument_pid,
        "timezone": inst.timezone,
        "hostname": this_host(),
        "user": session.user,
        "started": session.start_text,
    }
    if session.last_heartbeat is not None:
        entry["last_alive"] = session.last_heartbeat.isoformat()
    update_local_file(session.session_identifier, entry)


def open_here(instrument_pid: str, database: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """Sessions this PC's local file says run here on the instrument, latest alive last.

    Only entries written by :func:`remember_open_here` (they know the user and the start);
    with ``database``, only those of that database (an entry written before entries named
    their database counts for any).
    """
    found = [
        (ident, entry)
        for ident, entry in read_local_file().items()
        if isinstance(entry, dict)
        and entry.get("instrument") == instrument_pid
        and entry.get("started")
        and (database is None or entry.get("database") in (None, database))
    ]
    return sorted(found, key=lambda item: str(item[1].get("last_alive") or item[1]["started"]))


def local_heartbeat(session_identifier: str, tz: str | None = None) -> datetime | None:
    """The last-alive time this PC's local file holds for a session (None if none).

    Known even while the database is away, so an abandoned session can still be closed at
    the time it was really last alive.
    """
    entry = read_local_file().get(session_identifier)
    if not isinstance(entry, dict):
        return None
    try:
        return stored_in_zone(entry["last_alive"], tz or entry.get("timezone"))
    except (KeyError, TypeError, timestamps.TimestampError):
        return None


def record_local_heartbeat(session_identifier: str, instrument: Instrument) -> datetime:
    """Record in this PC's local file only that the session is alive now; returns that time.

    For a caller that already knows the database is away, or that the session's START is still
    waiting in the outbox: the local file then keeps the real last-alive time until the
    database can be written again (:func:`~nexus_logger.core.sessions.heartbeat_and_note.last_heartbeat`
    reads both).
    """
    ident = clean_identifier(session_identifier)
    now = timestamps.now_in(instrument.timezone)
    update_local_file(
        ident,
        {
            "instrument": instrument.instrument_pid,
            "timezone": instrument.timezone,
            "last_alive": now.isoformat(),
            "hostname": this_host(),
        },
    )
    return now
