"""Qt's own messages (warnings about layouts, fonts, plugins...) go to the Python log.

Without this, Qt prints to stderr, which a desktop app on Windows does not have: the
messages would be lost exactly when someone needs them. As in qutebrowser, a message handler
turns each one into a ``logging`` record of the ``nexus_logger.qt`` logger, so it lands in
the log file and in the debug-log window. The test suite makes Qt warnings fail GUI tests.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
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


#: Exit code when Qt cannot start at all (no display, a system library missing).
NO_WINDOW_EXIT_CODE = 1

_PLUGIN_FAILED = re.compile(r'Could not load the Qt platform plugin "([^"]+)"')
_failed_plugins: list[str] = []
_no_display = False
_uninstall_at_exit = False


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package that ships a library: libxcb-icccm.so.4 -> libxcb-icccm4."""
    name, _, version = soname.lower().partition(".so")
    version = version.lstrip(".").split(".")[0]
    if not version:
        return name
    return f"{name}-{version}" if name[-1:].isdigit() else f"{name}{version}"


def missing_library(plugin: str) -> str | None:
    """The first system library the Qt platform ``plugin`` cannot load, or ``None``.

    Qt itself only says that the plugin "could not be loaded" (and, for xcb, always names
    libxcb-cursor0, whatever is really missing); loading the plugin's library here makes the
    dynamic linker name the file it did not find.
    """
    if not sys.platform.startswith("linux"):
        return None
    import PySide6

    qt_dir = Path(PySide6.__file__).resolve().parent / "Qt"
    candidates = [qt_dir / "plugins" / "platforms" / f"libq{plugin}.so"]
    if plugin == "xcb":
        candidates.insert(0, qt_dir / "lib" / "libQt6XcbQpa.so.6")
        candidates.append(Path("libxcb-cursor.so.0"))
    for candidate in candidates:
        if candidate.is_absolute() and not candidate.exists():
            continue
        try:
            ctypes.CDLL(str(candidate))
        except OSError as err:
            found = re.search(r"(lib[\w.+-]+\.so[.\d]*)", str(err))
            if found and found.group(1) != candidate.name:
                return found.group(1)
            if not candidate.is_absolute():
                return candidate.name
    return None


def startup_failure_sentence() -> str:
    """One sentence for the terminal: why Qt could not open a window, and what to do."""
    plugin = _failed_plugins[-1] if _failed_plugins else os.environ.get("QT_QPA_PLATFORM", "")
    if _no_display:
        return (
            "nexus-logger: the window cannot open: there is no display (DISPLAY is "
            f"{os.environ.get('DISPLAY') or 'not set'}); start it from a desktop session, or "
            "use a command such as 'nexus-logger session start' instead."
        )
    library = missing_library(plugin) if plugin else None
    if library:
        return (
            f"nexus-logger: the window cannot open: Qt's {plugin} display plugin needs the "
            f"system library {library}, which is not installed (Debian/Ubuntu: apt install "
            f"{debian_package(library)}; the README lists every package the window needs)."
        )
    return (
        "nexus-logger: the window cannot open: Qt could not start its display plugin"
        f"{' ' + repr(plugin) if plugin else ''}; the log file has Qt's own messages, and the "
        "README lists the system packages the window needs."
    )


def _fail_to_start() -> None:
    """Qt is about to abort: say why on stderr and leave with a plain non-zero code."""
    print(startup_failure_sentence(), file=sys.stderr, flush=True)
    logging.shutdown()
    os._exit(NO_WINDOW_EXIT_CODE)


def qt_message_handler(mode: QtMsgType, context: QMessageLogContext, message: str) -> None:
    """Log one Qt message at the matching level, with Qt's category and source if known.

    A fatal message about the platform plugin (Qt cannot open any window) also ends the
    process with one sentence on stderr, instead of Qt's silent abort.
    """
    global _no_display
    if message.startswith(IGNORED_PREFIXES):
        return
    found = _PLUGIN_FAILED.search(message)
    if found:
        _failed_plugins.append(found.group(1))
    if "could not connect to display" in message:
        _no_display = True
    level = _LEVELS.get(mode, logging.WARNING)
    where = ""
    category = getattr(context, "category", None)
    if category and category != "default":
        where = f"[{category}] "
    if getattr(context, "file", None):
        where += f"({context.file}:{context.line}) "
    qt_logger.log(level, "%s%s", where, message)
    if mode == QtMsgType.QtFatalMsg and "platform plugin" in message:
        _fail_to_start()


def install() -> Callable[..., Any] | None:
    """Route Qt messages into logging; returns the previous handler (to restore it).

    :func:`uninstall` runs at exit whatever the way out (a second launch that only raises the
    first window, the admin window, an exception): it is registered after PySide6's own
    clean-up, and ``atexit`` runs the last registered first, before Qt is torn down.
    """
    global _uninstall_at_exit
    if not _uninstall_at_exit:
        atexit.register(uninstall)
        _uninstall_at_exit = True
    return qInstallMessageHandler(qt_message_handler)


def uninstall() -> None:
    """Give Qt its own handler back, once the event loop and the threads have ended.

    Qt still speaks while the interpreter shuts down (it unloads its plug-ins when the
    application object goes); a Python handler called then crashed the process at exit
    (seen with ``QT_DEBUG_PLUGINS=1``: exit code 139 instead of 0). Those last messages go to
    stderr, as Qt writes them by default.
    """
    qInstallMessageHandler(None)
