"""Qt's own messages land in the Python log (and so in the log file)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import qInstallMessageHandler, qWarning

from nexus_logger.gui import qtlog


@pytest.fixture
def installed():
    previous = qtlog.install()
    yield
    qInstallMessageHandler(previous)


@pytest.mark.qt_log_level_fail("NO")  # this test makes Qt warn on purpose
def test_qt_warnings_are_logged(installed, caplog):
    with caplog.at_level(logging.DEBUG, logger="nexus_logger.qt"):
        qWarning("QLayout: something odd")
        qWarning("This plugin does not support raise()")
    records = [r for r in caplog.records if r.name == "nexus_logger.qt"]
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "QLayout: something odd")
    ]


def test_gui_tests_fail_on_qt_warnings(request):
    marker = request.node.get_closest_marker("qt_log_level_fail")
    assert marker is not None and marker.args == ("WARNING",)


def _launch_window(env_changes: dict[str, str], home) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.update(env_changes, NEXUS_LOGGER_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "nexus_logger"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _one_sentence(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("nexus-logger: the window cannot open: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_platform_qt_cannot_load_is_one_sentence_and_exit_1(tmp_path) -> None:
    result = _launch_window({"QT_QPA_PLATFORM": "no-such-platform"}, tmp_path)
    assert result.returncode == qtlog.NO_WINDOW_EXIT_CODE == 1
    assert "'no-such-platform'" in _one_sentence(result.stderr)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 plugin is Linux's")
def test_no_display_or_a_missing_x11_library_is_named(tmp_path) -> None:
    # With every library present this is "no display"; on a machine without, say,
    # libxcb-cursor0 the sentence names the missing file and its package instead.
    result = _launch_window({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":9173"}, tmp_path)
    assert result.returncode == 1
    sentence = _one_sentence(result.stderr)
    missing = qtlog.missing_library("xcb")
    if missing:
        assert missing in sentence and qtlog.debian_package(missing) in sentence
    else:
        assert "there is no display" in sentence and ":9173" in sentence


def test_library_file_names_map_to_debian_packages() -> None:
    assert qtlog.debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert qtlog.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qtlog.debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert qtlog.debian_package("libEGL.so.1") == "libegl1"
