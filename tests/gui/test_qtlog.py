"""Qt's own messages land in the Python log (and so in the log file)."""

from __future__ import annotations

import logging

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
