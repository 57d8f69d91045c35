"""Logging to a rotating file in the platform's log folder.

One line per event: time, level, module, message. The GUI adds Qt's own warnings to the same
log (see ``nexus_logger.gui.qtlog``) and its debug-log window reads this file.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from nexus_logger.core import paths

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
_HANDLER_NAME = "nexus-logger-file"


def log_file() -> Path:
    """The current log file."""
    return paths.log_dir() / "nexus-logger.log"


def setup_logging(level: str = "INFO") -> Path | None:
    """Send the ``nexus_logger`` loggers to the rotating log file (idempotent).

    Returns the log file, or ``None`` when the log folder cannot be written (then logging
    goes nowhere rather than breaking the command).
    """
    # A log file that cannot be written must not print tracebacks on the user's screen.
    logging.raiseExceptions = False
    root = logging.getLogger("nexus_logger")
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    for handler in root.handlers:
        if handler.get_name() == _HANDLER_NAME:
            return Path(handler.baseFilename)  # type: ignore[attr-defined]
    path = log_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=2_000_000, backupCount=5, encoding="utf-8", delay=True
        )
    except OSError:
        return None
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root.addHandler(handler)
    return path
