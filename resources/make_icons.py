"""Render the application icon: ``nexus-logger.svg`` -> ``nexus-logger.png`` and ``.ico``.

The SVG is the source, drawn by hand. Qt renders it (offscreen, no display needed); the
``.ico`` is assembled here from Qt-rendered PNG images, one per size Windows asks for, because
Qt's ICO writer stores a single size only. Run it after editing the SVG::

    python resources/make_icons.py
"""

from __future__ import annotations

import io
import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

HERE = Path(__file__).resolve().parent
SVG = HERE / "nexus-logger.svg"
PNG = HERE / "nexus-logger.png"
ICO = HERE / "nexus-logger.ico"
PNG_SIZE = 256
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)


def render(size: int, svg: Path = SVG) -> QImage:
    """The icon as a ``size`` x ``size`` ARGB image."""
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG file")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    """``image`` encoded as PNG."""
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """An ICO file holding one PNG-compressed image per size (Windows Vista and later)."""
    out = io.BytesIO()
    out.write(struct.pack("<HHH", 0, 1, len(images)))
    offset = 6 + 16 * len(images)
    for size, data in images.items():
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        out.write(struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset))
        offset += len(data)
    for data in images.values():
        out.write(data)
    return out.getvalue()


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841
    PNG.write_bytes(png_bytes(render(PNG_SIZE)))
    ICO.write_bytes(ico_bytes({s: png_bytes(render(s)) for s in ICO_SIZES}))
    for path in (PNG, ICO):
        print(f"wrote {path.relative_to(HERE.parent)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
