"""The application icon: the hand-drawn SVG and the PNG and ICO rendered from it."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

from PySide6.QtCore import QByteArray, QSize, Qt
from PySide6.QtGui import QImage

from nexus_logger.gui.icons import app_icon, find_resource

ROOT_RESOURCES = find_resource("nexus-logger.svg")


def test_icon_files_exist_in_resources():
    for ext in ("svg", "png", "ico"):
        path = find_resource(f"nexus-logger.{ext}")
        assert path is not None, f"nexus-logger.{ext} missing"
        assert path.parent.name == "resources"


def test_png_is_256_pixels_with_transparency():
    image = QImage(str(find_resource("nexus-logger.png")))
    assert image.size() == QSize(256, 256)
    assert image.hasAlphaChannel()
    assert image.pixelColor(0, 0).alpha() == 0  # rounded corner
    assert image.pixelColor(128, 240).alpha() == 255


def test_ico_holds_every_windows_size_as_png():
    data = find_resource("nexus-logger.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data, 0)
    assert (reserved, kind) == (0, 1)
    sizes = []
    for i in range(count):
        w, h, _c, _r, planes, bits, length, offset = struct.unpack_from(
            "<BBBBHHII", data, 6 + 16 * i
        )
        size = w or 256
        image = QImage.fromData(QByteArray(data[offset : offset + length]), "PNG")
        assert image.size() == QSize(size, size) and (planes, bits) == (1, 32)
        sizes.append(size)
    assert {16, 24, 32, 48, 256} <= set(sizes)


def test_app_icon_is_sharp_at_high_dpi(qapp):
    icon = app_icon()
    assert not icon.isNull()
    assert icon.pixmap(QSize(512, 512)).size() == QSize(512, 512)


def test_icons_are_reproducible_from_the_svg(tmp_path):
    # make_icons.py renders the same PNG from the SVG (the committed files are not stale).
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "import make_icons\n"
        "from PySide6.QtGui import QGuiApplication\n"
        "app = QGuiApplication([])\n"
        "sys.stdout.buffer.write(make_icons.png_bytes(make_icons.render(64)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(ROOT_RESOURCES.parent)],
        capture_output=True,
        timeout=60,
        check=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    fresh = QImage.fromData(QByteArray(out.stdout), "PNG")
    committed = QImage(str(find_resource("nexus-logger.png"))).scaled(
        64, 64, mode=Qt.TransformationMode.SmoothTransformation
    )
    assert fresh.size() == QSize(64, 64)
    # Same drawing: the centre and a corner agree.
    for x, y in ((32, 34), (2, 2), (50, 14)):
        a, b = fresh.pixelColor(x, y), committed.pixelColor(x, y)
        assert abs(a.red() - b.red()) < 40 and abs(a.alpha() - b.alpha()) < 60, (x, y)
