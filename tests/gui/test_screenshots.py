"""The screenshot script runs, and the window draws sharply at 200 % scaling (High-DPI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtGui import QImage

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "make_screenshots.py"
STATES = (
    "starting.png",
    "failed.png",
    "failed-details.png",
    "running.png",
    "running-offline.png",
    "ending.png",
    "ended.png",
    "resume-dialog.png",
    "close-dialog.png",
    "log-window.png",
    "admin.png",
    "admin-problems.png",
    "admin-fleet.png",
    "force-end.png",
    "force-end-future.png",
)


def test_screenshots_at_200_percent(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "QT_SCALE_FACTOR": "2"}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(STATES)
    running = QImage(str(tmp_path / "running.png"))
    # 760 x 640 logical pixels, drawn with twice the pixels, not scaled up afterwards.
    assert (running.width(), running.height()) == (1520, 1280)
