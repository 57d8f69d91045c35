"""Run-time hook of the frozen app: where Qt finds its plug-ins, without importing Qt.

It replaces PyInstaller's own hook for PySide6 (``pyi_rth_pyside6``, dropped in
``nexus_logger.spec``), which imports ``PySide6.QtCore`` at every launch to register a
``qt.conf`` that PySide6's PyPI wheels register themselves when Qt is imported. That import
cost every headless command (``nexus-logger-cli session start``, ``doctor``, the bridge) about
0.1 s and loaded Qt into processes that never open a window (issue 19). What the hook did
besides, setting Qt's search paths, is done here the same way for the two platforms the app is
built for (Windows and Linux).
"""

import os
import sys


def _qt_paths() -> None:
    root = sys._MEIPASS  # type: ignore[attr-defined]  # set by PyInstaller's bootloader
    qt = (
        os.path.join(root, "PySide6")
        if sys.platform == "win32"
        else os.path.join(root, "PySide6", "Qt")
    )
    # PySide6 registers the qt.conf that puts Qt's prefix inside the app, unless told not to.
    os.environ.pop("PYSIDE_DISABLE_INTERNAL_QT_CONF", None)
    os.environ["QT_PLUGIN_PATH"] = os.path.join(qt, "plugins")
    os.environ["QML2_IMPORT_PATH"] = os.path.join(qt, "qml")
    if sys.platform == "win32":  # QtNetwork finds the OpenSSL DLLs collected beside the app
        os.environ["PATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PATH")]))


_qt_paths()
del _qt_paths
