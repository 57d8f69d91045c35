"""Layering rules: the core and the headless commands never need Qt."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.headless import run_main_in_child

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    lint_imports = shutil.which("lint-imports")
    if lint_imports is None:
        pytest.fail("import-linter is not installed: install the project with its [test] extra")
    result = subprocess.run([lint_imports], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 8 kept, 0 broken" in result.stdout


def test_core_package_imports_no_qt_at_runtime() -> None:
    code = (
        "import sys, json, pkgutil, importlib, nexus_logger.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'nexus_logger.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(json.dumps(sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'shiboken6') or k.startswith('nexus_logger.gui'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize("argv", [["--version"], ["sessions", "--help"], ["init-db", "DBFILE"]])
def test_headless_commands_do_not_import_qt(argv: list[str], tmp_path: Path) -> None:
    argv = [str(tmp_path / "x.sqlite") if a == "DBFILE" else a for a in argv]
    assert run_main_in_child(argv).qt_modules == []
