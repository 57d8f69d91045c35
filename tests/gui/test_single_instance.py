"""One window per PC and user: a second launch raises the first and exits with 0."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QDir

from nexus_logger.gui.single_instance import SingleInstance, server_name

SECOND_LAUNCH = (
    "import sys\n"
    "from PySide6.QtCore import QCoreApplication\n"
    "from nexus_logger.gui.single_instance import SingleInstance\n"
    "app = QCoreApplication(sys.argv[:1])\n"
    "sys.exit(0 if not SingleInstance().acquire(timeout_ms=5000) else 3)\n"
)


@pytest.fixture
def first(qtbot):
    instance = SingleInstance()
    assert instance.acquire() is True
    assert instance.listening
    yield instance
    instance.close()


def test_second_launch_raises_the_first_and_exits_zero(qtbot, first):
    with qtbot.waitSignal(first.raise_requested, timeout=10_000):
        proc = subprocess.Popen([sys.executable, "-c", SECOND_LAUNCH], env=dict(os.environ))
    qtbot.waitUntil(lambda: proc.poll() is not None, timeout=10_000)
    assert proc.returncode == 0


def test_after_the_first_closes_the_next_launch_becomes_the_instance(qtbot, first):
    first.close()
    again = SingleInstance()
    try:
        assert again.acquire() is True and again.listening
    finally:
        again.close()


@pytest.mark.skipif(os.name == "nt", reason="named pipes vanish with their process on Windows")
def test_stale_socket_of_a_crashed_instance_is_removed(qtbot):
    name = server_name()
    path = Path(QDir.tempPath()) / name
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a socket file nobody listens on, as a crash leaves behind
    stale.close()
    assert path.exists()
    instance = SingleInstance(name)
    try:
        assert instance.acquire() is True
        assert instance.listening
    finally:
        instance.close()


def test_names_differ_per_user_and_data_folder(monkeypatch, tmp_path):
    assert server_name("alice") != server_name("bob")
    before = server_name("alice")
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(tmp_path / "elsewhere"))
    assert server_name("alice") != before
    assert len(server_name("alice")) < 40  # Unix socket paths are short


def test_second_real_launch_says_so_in_the_terminal(qtbot, first):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with qtbot.waitSignal(first.raise_requested, timeout=20_000):
        proc = subprocess.Popen(
            [sys.executable, "-m", "nexus_logger"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "already open for this user" in err and "brought to the front" in err
    assert out == ""


def test_the_demo_window_does_not_stand_in_for_the_real_one(qtbot, sqlite_db):
    """A forgotten demo window must not swallow the launch that logs real sessions."""
    import argparse

    from nexus_logger.core.settings import paths
    from nexus_logger.gui.app import _is_demo

    demo_args = argparse.Namespace(db=str(paths.demo_database()), instrument=None, config=None)
    real_args = argparse.Namespace(db=sqlite_db, instrument=None, config=None)
    assert (_is_demo(demo_args), _is_demo(real_args)) == (True, False)
    assert server_name(demo=True) != server_name()
    demo = SingleInstance(server_name(demo=True))
    assert demo.acquire() is True
    try:
        real = SingleInstance(server_name())
        try:
            assert real.acquire() is True  # its own instance: not handed to the demo
        finally:
            real.close()
        again = SingleInstance(server_name(demo=True))
        assert again.acquire() is False  # a second demo still raises the first
    finally:
        demo.close()
