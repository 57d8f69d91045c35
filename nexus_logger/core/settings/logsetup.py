"""Logging to a rotating file in the platform's log folder.

One line per event: ``time level module: message``, the time in ISO-8601 with the PC's UTC
offset (sessions span time zones; a log line must say which). Line breaks inside a message or
a traceback are folded into `` | `` so that every event is exactly one line: the debug-log
window and ``grep`` can then read the file line by line (:func:`parse_line`, :func:`tail`).

The GUI adds Qt's own warnings to the same log (``nexus_logger.gui.qtlog``).

Passwords of database URLs are masked in every line (:func:`nexus_logger.core.settings.config.mask_secret`),
whatever code wrote the message.

Several nexus-logger processes on one PC (the window, a scheduled ``sync``, ``doctor``) write
the same file. The handler therefore reopens the file when another process has rotated it, and
rotates under a file lock; where rotation is impossible (Windows refuses to rename a file
another process holds open), it keeps appending rather than losing the line.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import mask_secret

_logger = logging.getLogger(__name__)
#: The PostgreSQL driver's logger: its warnings go to the log file too (setup_logging).
_DRIVER_LOGGER = "psycopg"

LOG_FORMAT = "%(asctime)s %(levelname)-8s %(name)s: %(message)s"
_HANDLER_NAME = "nexus-logger-file"
#: Size at which the log file is rotated, and how many old files are kept.
MAX_BYTES = 2_000_000
BACKUP_COUNT = 5
#: What replaces a line break inside one event.
LINE_JOIN = " | "


def log_file() -> Path:
    """The current log file."""
    return paths.log_dir() / "nexus-logger.log"


class OneLineFormatter(logging.Formatter):
    """``time level module: message`` on one line, ISO-8601 time, passwords masked."""

    def __init__(self) -> None:
        super().__init__(LOG_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return (
            datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds")
        )

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        lines = [line.rstrip() for line in text.splitlines() if line.strip()]
        return mask_secret(LINE_JOIN.join(lines))


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A :class:`RotatingFileHandler` that several processes can share safely.

    * Before writing, it checks that its open file is still the log file; if another process
      rotated it, it reopens (like :class:`logging.handlers.WatchedFileHandler`).
    * Rotation happens under a :class:`filelock.FileLock` and only if the file is still too
      big once the lock is held, so two processes never rotate twice in a row.
    * If the rename fails (Windows: another process has the file open), it keeps appending
      to the current file and tries again after another tenth of ``maxBytes``.
    """

    #: Seconds to wait for another process that is rotating the file.
    lock_timeout = 2.0

    def __init__(self, filename: Path, *, max_bytes: int, backup_count: int) -> None:
        super().__init__(
            filename, maxBytes=max_bytes, backupCount=backup_count, encoding="utf-8", delay=True
        )
        self._lock_path = str(filename) + ".lock"
        self._retry_at = 0

    def _stream_is_current(self) -> bool:
        if self.stream is None:
            return True
        try:
            mine = os.fstat(self.stream.fileno())
            on_disk = os.stat(self.baseFilename)
        except OSError:
            return False
        return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)

    def emit(self, record: logging.LogRecord) -> None:
        if not self._stream_is_current():
            try:
                self.stream.close()
            except OSError:
                pass
            self.stream = None  # reopened by the next write (delay=True)
        super().emit(record)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        if self.maxBytes <= 0:
            return False
        if os.path.exists(self.baseFilename) and not os.path.isfile(self.baseFilename):
            return False  # never rotate a device or a pipe (bpo-45401)
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.seek(0, os.SEEK_END)
        return size >= max(self.maxBytes, self._retry_at)

    def doRollover(self) -> None:
        # Imported here, not with the module: rotation is rare, and filelock's import (30 ms)
        # would otherwise come before every window and command.
        from filelock import FileLock, Timeout

        try:
            with FileLock(self._lock_path, timeout=self.lock_timeout):
                if self.stream is not None:
                    self.stream.close()
                    self.stream = None
                try:
                    size = os.stat(self.baseFilename).st_size
                except OSError:
                    size = 0
                if size >= self.maxBytes:  # not already rotated by another process
                    self._rotate()
                self._retry_at = 0
        except (OSError, Timeout):
            # Rotation is impossible now: keep writing to the same file, try again later.
            self._retry_at = self._current_size() + max(self.maxBytes // 10, 1)
        if self.stream is None:
            self.stream = self._open()

    def _rotate(self) -> None:
        """log -> log.1 -> log.2 ..., the oldest dropped; nothing moves unless the log itself
        can be moved first. (The standard rotation shifts the old logs before it renames the
        log: where that rename fails, as on Windows while another process has the file open,
        each retry dropped one more old log.)"""
        base = self.baseFilename
        moving = base + ".rotating"
        if os.path.exists(moving):
            # A rotation that stopped half-way (a shift refused, the process killed): those
            # lines become log.1 now, not overwritten by the next log moved aside.
            self._shift_and_place(moving)
        os.replace(base, moving)  # the step that can fail: nothing has moved yet
        self._shift_and_place(moving)

    def _shift_and_place(self, moving: str) -> None:
        """log.1 -> log.2 ... (the oldest dropped), then ``moving`` -> log.1."""
        base = self.baseFilename
        for i in range(self.backupCount - 1, 0, -1):
            older = f"{base}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{base}.{i + 1}")
        os.replace(moving, f"{base}.1")

    def _current_size(self) -> int:
        try:
            return os.stat(self.baseFilename).st_size
        except OSError:
            return 0


def setup_logging(level: str = "INFO") -> Path | None:
    """Send the ``nexus_logger`` loggers to the rotating log file (idempotent).

    Calling it again changes the level (and follows the log folder if it moved). Returns the log file, or ``None`` when the log folder
    cannot be written (then logging goes nowhere rather than breaking the command; ``doctor``
    reports it).
    """
    # A log file that cannot be written must not print tracebacks on the user's screen.
    logging.raiseExceptions = False
    root = logging.getLogger("nexus_logger")
    root.setLevel(getattr(logging, str(level).upper(), logging.INFO))
    path = log_file()
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            if getattr(handler, "baseFilename", None) == os.path.abspath(path):
                return path
            # The log folder moved (NEXUS_LOGGER_HOME changed in this process): follow it.
            root.removeHandler(handler)
            handler.close()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = SharedRotatingFileHandler(
            path, max_bytes=MAX_BYTES, backup_count=BACKUP_COUNT
        )
    except OSError:
        # Nowhere, really: with no handler at all Python's last-resort handler printed every
        # error a second time, and an unexpected one's whole traceback, on the user's screen.
        handler, path = logging.NullHandler(), None
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(OneLineFormatter())
    root.addHandler(handler)
    # The database driver's own warnings ("error ignored terminating <psycopg.Pipeline ...>"
    # when the server refuses a statement of a pipeline) went to Python's last-resort handler,
    # on the user's screen before the one sentence that says what is wrong: into the log.
    driver = logging.getLogger(_DRIVER_LOGGER)
    for old in [h for h in driver.handlers if h.get_name() == _HANDLER_NAME]:
        driver.removeHandler(old)
    driver.addHandler(handler)
    return path


def configured_level(config_file: str | os.PathLike[str] | None = None) -> str:
    """The ``log_level`` setting (environment > config file > default), ``INFO`` if unreadable.

    Used before a command runs, so that a broken config file still gets its error logged; the
    command itself then reports the config problem.
    """
    from nexus_logger.core.errors import NexusLoggerError
    from nexus_logger.core.settings.config import load_settings

    try:
        return str(load_settings(config_file).log_level)
    except NexusLoggerError:
        return "INFO"


def remove_logging() -> None:
    """Detach and close the file handler (tests, and before a portable install is unplugged)."""
    for name in ("nexus_logger", _DRIVER_LOGGER):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if handler.get_name() == _HANDLER_NAME:
                logger.removeHandler(handler)
                handler.close()


_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\S+) (?P<level>[A-Z]+)\s+(?P<module>[\w.]+): (?P<message>.*)$"
)


@dataclass(frozen=True)
class LogLine:
    """One event of the log file, split into its parts."""

    time: datetime | None
    level: str
    module: str
    message: str
    raw: str


def parse_line(line: str) -> LogLine:
    """Split a log line; a line in another format (an old file) keeps its text as message."""
    line = line.rstrip("\r\n")
    match = _LINE.match(line)
    if not match:
        return LogLine(None, "", "", line, line)
    try:
        when: datetime | None = datetime.fromisoformat(match["time"])
    except ValueError:
        when = None
    return LogLine(when, match["level"], match["module"], match["message"], line)


def tail(max_lines: int = 1000, path: Path | None = None) -> list[str]:
    """The last ``max_lines`` lines of the log file (empty if there is none yet).

    Reads from the end in blocks, so a large log file costs no more than its tail.
    """
    path = path or log_file()
    try:
        with path.open("rb") as fh:
            end = fh.seek(0, os.SEEK_END)
            block = 64 * 1024
            data = b""
            pos = end
            while pos > 0 and data.count(b"\n") <= max_lines:
                step = min(block, pos)
                pos -= step
                fh.seek(pos)
                data = fh.read(step) + data
    except OSError:
        return []
    lines = data.decode("utf-8", errors="replace").splitlines()
    if pos > 0:
        lines = lines[1:]  # the first line may be cut
    return lines[-max_lines:] if max_lines > 0 else []
