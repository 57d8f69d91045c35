"""The application icon, found wherever nexus-logger runs from.

The icon files live in ``resources/`` at the top of the source tree (the SVG is the source;
``resources/make_icons.py`` renders the PNG and ICO). A frozen build (PyInstaller) carries
them under ``sys._MEIPASS/resources``; a wheel may carry them in ``nexus_logger/resources``.
"""

from __future__ import annotations

import logging
import sys
from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

_logger = logging.getLogger(__name__)

ICON_STEM = "nexus-logger"


def resource_dirs() -> list[Path]:
    """Folders searched for resources, most specific first."""
    dirs: list[Path] = []
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        dirs.append(Path(frozen) / "resources")
    package = Path(__file__).resolve().parents[1]
    dirs.append(package / "resources")
    dirs.append(package.parent / "resources")
    return dirs


def find_resource(name: str) -> Path | None:
    """The first existing ``name`` in :func:`resource_dirs`, or None."""
    for folder in resource_dirs():
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=1)
def app_icon() -> QIcon:
    """The application icon: the SVG (sharp at any DPI) plus the PNG as a fallback."""
    icon = QIcon()
    for ext in ("svg", "png"):
        path = find_resource(f"{ICON_STEM}.{ext}")
        if path is not None:
            icon.addFile(str(path))
    if icon.isNull():
        _logger.warning("The application icon was not found in %s", resource_dirs())
    return icon
