"""Qt's own messages (warnings about layouts, fonts, plugins...) go to the Python log.

Without this, Qt prints to stderr, which a desktop app on Windows does not have: the
messages would be lost exactly when someone needs them. As in qutebrowser, a message handler
turns each one into a ``logging`` record of the ``nexus_logger.qt`` logger, so it lands in
the log file and in the debug-log window. The test suite makes Qt warnings fail GUI tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QMessageLogContext, QtMsgType, qInstallMessageHandler

qt_logger = logging.getLogger("nexus_logger.qt")

_LEVELS = {
    QtMsgType.QtDebugMsg: logging.DEBUG,
    QtMsgType.QtInfoMsg: logging.INFO,
    QtMsgType.QtWarningMsg: logging.WARNING,
    QtMsgType.QtCriticalMsg: logging.ERROR,
    QtMsgType.QtFatalMsg: logging.CRITICAL,
}

#: Messages that say nothing useful about nexus-logger (what a platform plugin cannot do,
#: such as "This plugin does not support raise()" on the offscreen platform).
IGNORED_PREFIXES = ("This plugin does not support ",)


def qt_message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Log one Qt message at the matching level, with Qt's category and source if known."""
    if message.startswith(IGNORED_PREFIXES):
        return
    level = _LEVELS.get(mode, logging.WARNING)
    where = ""
    category = getattr(context, "category", None)
    if category and category != "default":
        where = f"[{category}] "
    if getattr(context, "file", None):
        where += f"({context.file}:{context.line}) "
    qt_logger.log(level, "%s%s", where, message)


def install() -> Callable[..., Any] | None:
    """Route Qt messages into logging; returns the previous handler (to restore it)."""
    return qInstallMessageHandler(qt_message_handler)
