"""Logging (issue 7, requirement 2): rotating file, one line per event, level, no passwords."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from filelock import FileLock

from nexus_logger.cli import main
from nexus_logger.core.settings import logsetup, paths
from nexus_logger.core.settings.logsetup import (
    SharedRotatingFileHandler,
    configured_level,
    log_file,
    parse_line,
    remove_logging,
    setup_logging,
    tail,
)

_HANDLER = "nexus-logger-file"
LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL)\s+"
    r"[\w.]+: .*$"
)


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """Each test starts without the file handler and leaves none behind."""
    remove_logging()
    yield
    remove_logging()
    logging.getLogger("nexus_logger").setLevel(logging.NOTSET)


def read_log() -> list[str]:
    return log_file().read_text(encoding="utf-8").splitlines()


def test_file_in_the_log_folder_one_line_per_event() -> None:
    path = setup_logging("INFO")
    assert path == log_file() and path.parent == paths.log_dir()
    log = logging.getLogger("nexus_logger.core.setup.demo")
    log.info("first line\nsecond line of the same event")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it failed")
    log.debug("not at INFO")
    lines = read_log()
    assert len(lines) == 2, lines
    for line in lines:
        assert LINE.match(line), line
    first, second = (parse_line(line) for line in lines)
    assert first.level == "INFO" and first.module == "nexus_logger.core.setup.demo"
    assert first.message == "first line | second line of the same event"
    assert first.time is not None and first.time.tzinfo is not None
    assert abs((datetime.now().astimezone() - first.time).total_seconds()) < 60
    assert second.level == "ERROR"
    assert "Traceback (most recent call last):" in second.message
    assert second.message.endswith("ValueError: boom")


def test_the_database_drivers_warnings_go_to_the_log_not_the_screen() -> None:
    """psycopg warns "error ignored terminating <psycopg.Pipeline ...>" when the server
    refuses a statement of a pipeline; with no handler of its own that went to Python's
    last-resort handler, on the user's screen before the one sentence saying what is wrong.
    Run in a process of its own: pytest's capture gives every logger a handler."""
    probe = (
        "import logging\n"
        "from nexus_logger.core.settings.logsetup import setup_logging, log_file\n"
        "setup_logging('INFO')\n"
        "logging.getLogger('psycopg').warning('error ignored terminating pipeline')\n"
        "print(log_file())\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    logged = Path(done.stdout.strip()).read_text(encoding="utf-8")
    assert "psycopg: error ignored terminating pipeline" in logged


def test_a_log_folder_that_cannot_be_made_prints_nothing_more_on_screen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no handler at all, Python's last-resort handler printed every error a second time
    (and an unexpected one's traceback) on the screen. Now: the one sentence, once."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "logs").write_text("a file where the log folder should be")
    env = {**os.environ, "NEXUS_LOGGER_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "nexus_logger", "--db", str(tmp_path / "none.sqlite"), "sessions"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 6
    assert done.stderr.count("does not exist") == 1, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr

    # In one process (the window): once the folder can be made, the file takes over.
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(home))
    assert setup_logging("INFO") is None
    (home / "logs").unlink()
    assert setup_logging("INFO") == log_file()
    ours = [h for h in logging.getLogger("nexus_logger").handlers if h.get_name() == _HANDLER]
    assert len(ours) == 1 and isinstance(ours[0], SharedRotatingFileHandler)


def test_setup_is_idempotent_and_changes_the_level() -> None:
    setup_logging("WARNING")
    setup_logging("WARNING")
    root = logging.getLogger("nexus_logger")
    assert sum(h.get_name() == "nexus-logger-file" for h in root.handlers) == 1
    logging.getLogger("nexus_logger.x").info("quiet")
    setup_logging("DEBUG")
    logging.getLogger("nexus_logger.x").debug("loud")
    assert [parse_line(x).message for x in read_log()] == ["loud"]


def test_follows_the_log_folder_when_it_moves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = setup_logging()
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "elsewhere"))
    second = setup_logging()
    assert second != first and second == log_file()
    logging.getLogger("nexus_logger.x").warning("here")
    assert "here" in second.read_text(encoding="utf-8")


def test_level_comes_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("log_level = 'debug'\n", encoding="utf-8")
    assert configured_level(config) == "DEBUG"
    monkeypatch.setenv("NEXUS_LOGGER_LOG_LEVEL", "error")
    assert configured_level(config) == "ERROR"  # environment beats file
    config.write_text("log_level = 3\n", encoding="utf-8")
    assert configured_level(config) == "INFO"  # broken config: the command reports it

    # end to end: the CLI logs the error of a failing command at the configured level
    monkeypatch.setenv("NEXUS_LOGGER_LOG_LEVEL", "CRITICAL")
    assert main(["sessions", "--db", str(tmp_path / "missing.sqlite")]) != 0
    assert not log_file().exists() or "does not exist" not in log_file().read_text()
    monkeypatch.setenv("NEXUS_LOGGER_LOG_LEVEL", "INFO")
    assert main(["sessions", "--db", str(tmp_path / "missing.sqlite")]) != 0
    capsys.readouterr()
    errors = [parse_line(x) for x in read_log()]
    assert any(e.level == "ERROR" and "does not exist" in e.message for e in errors)


def test_passwords_never_reach_the_log_file(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://bob:hunter2@127.0.0.1:9/nexus"
    assert main(["sessions", "--db", url]) != 0  # unreachable: the error is logged
    assert "hunter2" not in capsys.readouterr().err
    logging.getLogger("nexus_logger.x").warning("connecting to %s", url)
    logging.getLogger("nexus_logger.x").warning("dsn host=h password=hunter2 dbname=n")
    text = log_file().read_text(encoding="utf-8")
    assert "bob:***@127.0.0.1:9/nexus" in text and "password=***" in text
    assert "hunter2" not in text


def _handler(path: Path, max_bytes: int) -> SharedRotatingFileHandler:
    handler = SharedRotatingFileHandler(path, max_bytes=max_bytes, backup_count=3)
    handler.setFormatter(logsetup.OneLineFormatter())
    return handler


def _record(text: str) -> logging.LogRecord:
    return logging.LogRecord("nexus_logger.t", logging.INFO, __file__, 1, text, None, None)


def _all_messages(path: Path) -> list[str]:
    files = sorted(path.parent.glob(path.name + "*"), key=lambda p: p.name, reverse=True)
    messages = []
    for file in files:
        if file.suffix == ".lock":
            continue
        messages += [parse_line(x).message for x in file.read_text(encoding="utf-8").splitlines()]
    return messages


def test_two_processes_share_the_file_across_rotation(tmp_path: Path) -> None:
    """Two handlers on one file (as the window and a scheduled sync): nothing is lost."""
    path = tmp_path / "nexus-logger.log"
    window, sync = _handler(path, 2000), _handler(path, 2000)
    sent = []
    for i in range(60):
        text = f"event {i:03d} " + "x" * 40
        (window if i % 2 else sync).emit(_record(text))
        sent.append(text)
    window.close()
    sync.close()
    backups = sorted(p.name for p in tmp_path.glob("nexus-logger.log.*") if p.suffix != ".lock")
    assert backups == ["nexus-logger.log.1", "nexus-logger.log.2", "nexus-logger.log.3"]
    assert path.stat().st_size < 2000 + 200
    kept = _all_messages(path)
    # everything written since the oldest kept backup is there, in order, exactly once
    assert kept == sent[sent.index(kept[0]) :]
    # the newest events are in the current file, whichever handler wrote them
    assert parse_line(path.read_text().splitlines()[-1]).message == sent[-1]


def test_rotation_that_cannot_happen_keeps_every_line(tmp_path: Path) -> None:
    """While another process holds the rotation lock, lines are appended, not dropped."""
    path = tmp_path / "nexus-logger.log"
    handler = _handler(path, 500)
    handler.lock_timeout = 0.05
    other = FileLock(str(path) + ".lock")
    with other:
        for i in range(20):
            handler.emit(_record(f"held {i:02d} " + "y" * 30))
        assert path.stat().st_size > 500  # grew past the limit instead of losing lines
        assert not (tmp_path / "nexus-logger.log.1").exists()
    for i in range(20):
        handler.emit(_record(f"free {i:02d} " + "z" * 30))
    handler.close()
    assert (tmp_path / "nexus-logger.log.1").exists()
    messages = _all_messages(path)
    assert [m for m in messages if m.startswith("free")] == [
        f"free {i:02d} " + "z" * 30 for i in range(20)
    ]


def test_a_log_that_cannot_be_moved_keeps_every_old_log(tmp_path: Path) -> None:
    """On Windows a log another process has open cannot be renamed: the standard rotation had
    already shifted the old logs, so each failed try dropped the oldest one (Windows review).
    Here the log is append-only (chattr +a): written to, never renamed."""
    import subprocess

    path = tmp_path / "nexus-logger.log"
    handler = _handler(path, 500)
    olds = {i: f"old log {i}\n" for i in range(1, 4)}
    for i, text in olds.items():
        (tmp_path / f"nexus-logger.log.{i}").write_text(text, encoding="utf-8")
    path.write_text("z" * 600, encoding="utf-8")  # over the limit already
    if subprocess.run(["chattr", "+a", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +a is refused here (not root, or no such flag on this file system)")
    try:
        for i in range(40):  # several tries to rotate, each one refused
            handler.emit(_record(f"held {i:02d} " + "y" * 30))
        for i, text in olds.items():
            assert (tmp_path / f"nexus-logger.log.{i}").read_text(encoding="utf-8") == text
        assert not (tmp_path / "nexus-logger.log.4").exists()
    finally:
        subprocess.run(["chattr", "-a", str(path)], check=True)
    handler.emit(_record("free " + "z" * 500))  # now it can move: the old logs move one on
    handler.close()
    moved = [(tmp_path / f"nexus-logger.log.{i}").read_text(encoding="utf-8") for i in (2, 3)]
    assert moved == [olds[1], olds[2]]  # (the third of three kept was the oldest: dropped)
    assert (tmp_path / "nexus-logger.log.1").read_text(encoding="utf-8").startswith("z" * 600)


def test_a_rotation_stopped_half_way_loses_no_line(tmp_path: Path) -> None:
    """The log was moved aside, then the rest failed (a backup held open, the process
    killed): the next rotation moved the new log onto the one set aside, and its lines were
    in no file any more (review)."""
    path = tmp_path / "nexus-logger.log"
    aside = tmp_path / "nexus-logger.log.rotating"
    aside.write_text("set aside line\n", encoding="utf-8")  # left by the rotation that stopped
    handler = _handler(path, 200)
    for i in range(4):  # (one rotation: of three old logs kept, nothing is dropped yet)
        handler.emit(_record(f"line {i:02d} " + "y" * 30))
    handler.close()
    kept = "".join(p.read_text(encoding="utf-8") for p in tmp_path.glob("nexus-logger.log*"))
    assert "set aside line" in kept and not aside.exists()
    assert all(f"line {i:02d}" in kept for i in range(4))


def test_unwritable_log_folder_does_not_break_commands(
    isolated_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated_home / "logs").write_text("a file where the log folder should be")
    assert setup_logging() is None
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(paths.default_config_file())


def test_tail_reads_only_the_end(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    with path.open("w", encoding="utf-8") as fh:
        for i in range(20000):
            fh.write(f"2025-01-01T00:00:00.000+00:00 INFO     nexus_logger.t: line {i}\n")
    last = tail(5, path)
    assert [parse_line(x).message for x in last] == [f"line {i}" for i in range(19995, 20000)]
    assert len(tail(3000, path)) == 3000
    assert tail(10, tmp_path / "none.log") == []
    assert parse_line("free text from an old version").message == "free text from an old version"


def test_qt_warnings_land_in_the_same_file() -> None:
    pytest.importorskip("PySide6")
    code = (
        "from nexus_logger.core.settings.logsetup import setup_logging\n"
        "from nexus_logger.gui import qtlog\n"
        "from PySide6.QtCore import qWarning\n"
        "path = setup_logging('INFO')\n"
        "qtlog.install()\n"
        "qWarning('a warning from Qt itself')\n"
        "print(path)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    path = Path(result.stdout.strip().splitlines()[-1])
    assert path == log_file()
    lines = [parse_line(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert any(
        x.level == "WARNING" and x.module == "nexus_logger.qt" and "from Qt itself" in x.message
        for x in lines
    ), lines
