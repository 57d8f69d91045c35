"""The process entry (``cli.run``) can always print its answer, so that a command never fails
after its work was done: the windowed Windows build has no stdout/stderr, and Windows gives a
pipe or a file its ANSI code page."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_logger.core.db.instruments import add_instrument
from nexus_logger.core.db.schema import init_db
from tests.helpers_outbox import moved_away

PID = "PROBE-TEM-01"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, dict[str, str]]:
    db = tmp_path / "db.sqlite"
    init_db(str(db))
    add_instrument(PID, display_name="Probe TEM", timezone="UTC", engine=str(db))
    env = dict(
        os.environ,
        NEXUS_LOGGER_HOME=str(tmp_path / "home"),
        NEXUS_LOGGER_MACHINE_DIR=str(tmp_path / "pc"),
    )
    env.pop("PYTHONIOENCODING", None)
    return str(db), env


def _run(code_before: str, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    code = (
        f"import sys\n{code_before}"
        f"sys.argv = ['nexus-logger', *{argv!r}]\n"
        "from nexus_logger.cli import run\n"
        "sys.exit(run())\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=False
    )


def test_without_a_console_a_start_kept_on_this_pc_is_confirmed(setup, tmp_path: Path) -> None:
    """No stdout at all (pythonw / the windowed exe): the START kept while the share is away
    still counts as told (exit code and log); it crashed after keeping it, unconfirmed, and
    such a START is dropped after ten minutes."""
    db, env = setup
    base = ["--db", db, "--instrument", PID]
    assert _run("", [*base, "session", "status"], env).returncode == 0  # learns its instrument
    with moved_away(db):
        done = _run("sys.stdout = sys.stderr = None\n", [*base, "session", "start"], env)
    assert done.returncode == 3, done  # kept on this PC, not "unexpected error" (1)
    [outbox] = list(tmp_path.rglob("outbox.sqlite"))
    with sqlite3.connect(outbox) as conn:
        rows = conn.execute("SELECT kind, confirmed FROM events").fetchall()
    assert rows == [("START", 1)]


def test_output_to_a_pipe_in_a_narrow_code_page_is_written_in_utf8(setup) -> None:
    db, env = setup
    env["PYTHONIOENCODING"] = "cp1252"  # what Windows gives a pipe or a file
    argv = ["--db", db, "--instrument", PID, "session", "start", "--user", "Łukasz"]
    done = _run("", [*argv, "--note", "grid 3 → 4", "--format", "json"], env)
    assert done.returncode == 0, done.stderr
    assert '"user": "Łukasz"' in done.stdout.decode("utf-8")
