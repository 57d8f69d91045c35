"""The shared database as :class:`~nexus_logger.core.offline.durable.DurableLogger` sees it: its
engine, and whether it could be reached at the last attempt."""

from __future__ import annotations

import os
import time
from pathlib import Path

from sqlalchemy import Engine

from nexus_logger.core.db.engine import EngineLike, default_database, get_engine, is_url
from nexus_logger.core.errors import ConfigError, DatabaseUnavailable

#: After the database could not be reached, calls within this many seconds fail at once, so
#: that one action (identify, find, end) waits one timeout, not one per step.
_DOWN_SECONDS = 2.0


class DatabaseLink:
    """The engine of one database, and why it could not be reached (``offline_reason``)."""

    def __init__(self, database: EngineLike, *, timeout: float | None = None) -> None:
        self._target = database
        self._timeout = timeout
        #: Why the database could not be reached at the last attempt; None after a success.
        self.offline_reason: str | None = None
        self._down_until = 0.0  # see went_offline

    def engine(self) -> Engine:
        """The shared database's engine; :class:`DatabaseUnavailable` if its file is missing.

        A configured SQLite file that has vanished is a share that is not connected (or a file
        moved away for a moment), so it is treated like an unreachable server. A folder named
        as the database is a configuration mistake, not an outage.
        """
        if self.offline_reason is not None and time.monotonic() < self._down_until:
            # It just failed: one action (identify, find, end) waits once, not once per step.
            raise DatabaseUnavailable(self.offline_reason)
        if isinstance(self._target, Engine):
            return self._target
        text = os.fspath(self._target) if self._target is not None else default_database()
        if not is_url(text):
            _check_file(Path(text).expanduser())
        return get_engine(text, timeout=self._timeout)

    def went_offline(self, err: BaseException | str) -> None:
        """Remember why the database could not be reached; after a wait, for a few seconds.

        Only a failure that waited out the timeout (a lock, a silent server) is remembered: the
        next steps of the same action then fail at once instead of waiting again. A failure that
        came at once (a missing file) costs nothing to try again.
        """
        self.offline_reason = str(err)
        low = self.offline_reason.lower()
        if "locked" in low or "timed out" in low or "timeout" in low:
            self._down_until = time.monotonic() + _DOWN_SECONDS

    def came_online(self) -> None:
        self.offline_reason = None
        self._down_until = 0.0

    def ask_again(self) -> None:
        """The next call tries the database, whatever failed a moment ago (an explicit ask)."""
        self._down_until = 0.0

    def check_reachable(self) -> None:
        """Ask the database now; :class:`DatabaseUnavailable` if it does not answer.

        The question names ``session_log`` (and reads no row of it): a bare ``SELECT 1``
        was answered by a file replaced with an empty one or with garbage, and the window
        said "everything is saved"; this one raises :class:`SchemaError` for those.
        """
        from nexus_logger.core.db.engine import read_connection

        self.ask_again()
        try:
            with read_connection(self.engine()) as conn:
                conn.exec_driver_sql("SELECT 1 FROM session_log WHERE 1 = 0")
        except DatabaseUnavailable as err:
            self.went_offline(err)
            raise
        self.came_online()


def _check_file(path: Path) -> None:
    try:
        present, folder = path.is_file(), path.is_dir()
    except OSError:
        present = folder = False
    if folder:
        raise ConfigError(
            f"The database {path} is a folder, not a database file. Set the database "
            "to the NexusLIMS file inside it (for example nexuslims_db.sqlite)."
        )
    if not present:
        raise DatabaseUnavailable(
            f"The database file {path} cannot be reached (it is missing or its share is "
            "not connected)."
        )
