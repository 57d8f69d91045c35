"""The debug-log window: shows the log file, copies it, saves it."""

from __future__ import annotations

import logging

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from nexus_logger.gui.log_window import LogWindow


@pytest.fixture
def log_window(qtbot, log_to_file):
    logging.getLogger("nexus_logger.test").warning("first line for the log window")
    window = LogWindow()
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_shows_the_log_file(log_window, log_to_file):
    assert log_window.path == log_to_file
    assert "first line for the log window" in log_window.text()


def test_copy_to_clipboard(qtbot, log_window):
    QGuiApplication.clipboard().setText("something else")
    qtbot.mouseClick(log_window.copy_button, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert "first line for the log window" in copied
    assert copied == log_window.text()
    assert log_window.status.text() == "Copied to the clipboard."


def test_save_as(qtbot, log_window, log_to_file, tmp_path):
    target = tmp_path / "support" / "log.txt"
    target.parent.mkdir()
    log_window.ask_save_path = lambda: target
    before = log_to_file.read_bytes()  # saving adds a line "Log saved to ..." afterwards
    qtbot.mouseClick(log_window.save_button, Qt.MouseButton.LeftButton)
    assert target.read_bytes() == before
    assert log_window.status.text() == f"Saved to {target}."


def test_save_as_cancelled_writes_nothing(qtbot, log_window, tmp_path):
    log_window.ask_save_path = lambda: None
    qtbot.mouseClick(log_window.save_button, Qt.MouseButton.LeftButton)
    assert list(tmp_path.iterdir()) == [] or all(p.is_dir() for p in tmp_path.iterdir())
    assert log_window.status.text() == ""


def test_save_as_to_an_unwritable_place_says_so(qtbot, log_window, tmp_path):
    log_window.ask_save_path = lambda: tmp_path / "no-such-folder" / "log.txt"
    qtbot.mouseClick(log_window.save_button, Qt.MouseButton.LeftButton)
    assert log_window.status.text().startswith("Not saved: ")


def test_follows_new_lines(qtbot, log_window):
    logging.getLogger("nexus_logger.test").warning("a later line")
    qtbot.waitUntil(lambda: "a later line" in log_window.text(), timeout=5000)


def test_missing_log_file(qtbot, tmp_path):
    window = LogWindow(path=tmp_path / "none.log")
    qtbot.addWidget(window)
    assert window.text() == f"The log file {tmp_path / 'none.log'} does not exist yet."
