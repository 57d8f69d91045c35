"""Run ``nexus_logger.cli.main`` in a child process and report which Qt modules it loaded.

The headless commands must work on a machine without a display, so several test modules
check that a command imports neither PySide6 nor shiboken6; this is the one way they do it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass

_CHILD = """
import json, sys
from nexus_logger.cli import main
try:
    rc = main(json.loads(sys.argv[1]))
except SystemExit as exit:
    rc = exit.code if isinstance(exit.code, int) else 0
qt = sorted(k for k in sys.modules if k.split('.')[0] in ('PySide6', 'shiboken6'))
print(json.dumps([rc, qt]))
"""


@dataclass(frozen=True)
class HeadlessRun:
    """Exit code, the Qt modules loaded, and what the command printed before the report."""

    rc: int
    qt_modules: list[str]
    output: list[str]
    stderr: str


def run_main_in_child(argv: list[str], env: dict[str, str] | None = None) -> HeadlessRun:
    """``main(argv)`` in a fresh interpreter (environment: ours, updated with ``env``)."""
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(argv)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    lines = result.stdout.strip().splitlines()
    rc, qt = json.loads(lines[-1])
    return HeadlessRun(rc, qt, lines[:-1], result.stderr)
