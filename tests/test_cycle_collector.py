"""The cycle collector paused while a process starts (core/cycle_collector.py, issue 19)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_logger.core import cycle_collector


@pytest.fixture
def restored() -> Iterator[None]:
    """Each test leaves the pytest process's collector as it found it (on, nothing frozen)."""
    yield
    cycle_collector.resume()
    gc.unfreeze()
    gc.enable()


def test_pause_and_resume(restored: None) -> None:
    cycle_collector.pause()
    assert not gc.isenabled()
    cycle_collector.resume()
    assert gc.isenabled()
    # Nothing frozen: the start's garbage cycles (a first try's connections to a locked
    # database, say) must still be collected, or they hold the shared file open.
    assert gc.get_freeze_count() == 0
    cycle_collector.resume()  # a second resume is nothing
    assert gc.isenabled()


def test_resume_leaves_a_collector_the_host_turned_off_alone(restored: None) -> None:
    """A script that imports the core and turned the collector off itself keeps it off."""
    gc.disable()
    cycle_collector.pause()
    cycle_collector.resume()
    assert not gc.isenabled()


def test_paused_restores_the_state_before(restored: None) -> None:
    with cycle_collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    with cycle_collector.paused():
        pass
    assert not gc.isenabled()  # not turned on by a helper that found it off


@pytest.fixture
def setup_db(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A database with one instrument, and a home and PC folder of this test's own."""
    from nexus_logger.core.db.instruments import add_instrument
    from nexus_logger.core.db.schema import init_db

    db = tmp_path / "db.sqlite"
    init_db(str(db))
    add_instrument("PROBE-TEM-01", display_name="Probe TEM", timezone="UTC", engine=str(db))
    env = dict(
        os.environ,
        NEXUS_LOGGER_HOME=str(tmp_path / "home"),
        NEXUS_LOGGER_MACHINE_DIR=str(tmp_path / "pc"),
    )
    return str(db), env


def test_a_command_process_prints_everything_and_leaves_clean(setup_db, tmp_path: Path) -> None:
    """The console entry (``cli.run``) freezes the heap before the interpreter exits: what a
    command printed is still all there, and its database file is left closed and whole."""
    db, env = setup_db
    base = [sys.executable, "-m", "nexus_logger", "--db", db, "--instrument", "PROBE-TEM-01"]
    for action in ("start", "end"):
        done = subprocess.run(
            [*base, "session", action, "--format", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.rstrip().endswith("}")  # the whole JSON object was written
    assert not list(tmp_path.glob("db.sqlite-journal"))  # no transaction left behind
    import sqlite3

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT event_type, record_status FROM session_log").fetchall()
    assert sorted(rows) == [("END", "TO_BE_BUILT"), ("START", "TO_BE_BUILT")]


def test_a_command_leaves_its_outbox_closed_at_exit(setup_db, tmp_path: Path) -> None:
    """The heap is frozen at exit, so nothing is finalized by the collector: the outbox's WAL
    connection was left open, and its -wal and -shm files with the events stayed beside it
    (review). The process entry closes every outbox first."""
    db, env = setup_db
    base = [sys.executable, "-m", "nexus_logger", "--db", db, "--instrument", "PROBE-TEM-01"]
    done = subprocess.run(
        [*base, "sync", "--status"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    outboxes = list(tmp_path.rglob("outbox.sqlite"))
    assert outboxes, "the command opened no outbox"
    left = [p.name for o in outboxes for p in o.parent.glob("outbox.sqlite-*")]
    assert left == []


def test_the_bridge_service_collects_again_past_its_start(
    restored: None, pg_db: str, tmp_path: Path
) -> None:
    """``bridge --watch`` runs for days: the collector that ``cli.run`` paused must not stay
    paused, or the cycles of every pass would pile up."""
    from nexus_logger.core.bridge import bridge

    stop = threading.Event()
    seen: list[bool] = []

    def on_report(_report: object, _error: BaseException | None) -> None:
        seen.append(gc.isenabled())
        stop.set()

    cycle_collector.pause()
    with bridge.open_pair(pg_db, str(tmp_path / "nexuslims.sqlite"), create=True) as pair:
        bridge.watch(pair, 0.1, stop, on_report)
    assert seen == [True]
