"""A headless command imports only what it needs (issue 19): no Qt, no other command's module,
no SQLAlchemy ORM, and ``--help`` not even the database stack. Measured in a fresh process, as
a user runs it."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_logger import cli
from nexus_logger.core.db.schema import init_db

ROOT = Path(__file__).resolve().parents[1]

_PROBE = """
import json, sys
from nexus_logger import cli
try:
    code = cli.main(sys.argv[2:])
except SystemExit as exit:
    code = exit.code
with open(sys.argv[1], "w") as fh:
    json.dump({"code": code, "modules": sorted(sys.modules)}, fh)
"""


def _modules_after(tmp_path: Path, *argv: str) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    env = dict(os.environ, NEXUS_LOGGER_HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    subprocess.run(
        [sys.executable, "-c", _PROBE, str(out), *argv],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    data = json.loads(out.read_text())
    return data["code"], set(data["modules"])


def _commands_of(modules: set[str]) -> set[str]:
    return {m.rsplit(".", 1)[1] for m in modules if m.startswith("nexus_logger.commands.")}


def test_the_command_table_matches_what_the_modules_register():
    """cli.COMMANDS lists each command's module and help line; a module adding a command or
    changing its help without the table would show a wrong --help."""
    registered: dict[str, tuple[str, str | None]] = {}
    for module_name in cli.COMMAND_MODULES:
        parser = argparse.ArgumentParser()
        sub = parser.add_subparsers()
        module = importlib.import_module(f"nexus_logger.commands.{module_name}")
        module.register(sub, argparse.ArgumentParser(add_help=False))
        for action in sub._choices_actions:
            registered[action.dest] = (module_name, action.help)
    assert registered == cli.COMMANDS


def test_help_imports_no_command_module_no_database_stack_and_no_qt(tmp_path):
    code, modules = _modules_after(tmp_path, "--help")
    assert code == 0
    assert _commands_of(modules) == {"_common"}
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "PySide6", "shiboken6")}


@pytest.mark.parametrize("action", ["status", "start", "end"])
def test_a_session_command_imports_its_own_module_only_and_no_qt(tmp_path, action):
    db = tmp_path / "db.sqlite"
    init_db(str(db))
    from nexus_logger.core.db.instruments import add_instrument

    add_instrument("PROBE-TEM-01", display_name="Probe TEM", timezone="UTC", engine=str(db))
    argv = ["--db", str(db), "session", action, "--instrument", "PROBE-TEM-01"]
    if action == "end":
        _modules_after(
            tmp_path, "--db", str(db), "session", "start", "--instrument", "PROBE-TEM-01"
        )
    code, modules = _modules_after(tmp_path, *argv)
    assert code == 0
    own = {"_common", "_session_words", "session"}  # its own module and words
    if action == "end":
        own.add("_session_end")  # the end's own half, loaded for it only
    if action == "status":
        own.add("_session_status")  # the status's own half, likewise
    assert _commands_of(modules) == own
    assert not {m for m in modules if m.split(".")[0] in ("PySide6", "shiboken6")}
    assert "nexus_logger.gui" not in modules
    # Core statements only: the ORM's import and mapping cost ~0.1 s a launch for nothing.
    assert "sqlalchemy.orm" not in modules
