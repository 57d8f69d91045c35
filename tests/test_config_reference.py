"""The README's configuration reference and the IT notes cannot drift from the code."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import platformdirs.macos
import platformdirs.unix
import platformdirs.windows
import pytest

from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import (
    FIELDS,
    README_END,
    README_START,
    readme_with_reference,
    render_reference,
)

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
IT_NOTES = ROOT / "docs" / "it-notes.md"


def test_readme_reference_is_the_generated_text() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index(README_START) + len(README_START) : text.index(README_END)]
    assert section.strip() == render_reference().strip(), (
        "README.md is out of date: run 'python -m nexus_logger.core.settings.config --write-readme'"
    )
    assert readme_with_reference(text) == text


def test_reference_names_every_key_and_variable() -> None:
    reference = render_reference()
    for fld in FIELDS:
        assert f"| `{fld.name}` |" in reference
        for var in fld.env:
            assert f"`{var}`" in reference


def test_write_readme_repairs_a_stale_copy(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    shutil.copyfile(README, copy)
    text = copy.read_text(encoding="utf-8")
    # Made stale inside the generated section (the prose before it names keys too).
    at = text.index(README_START)
    stale = text[:at] + text[at:].replace("heartbeat_seconds", "heartbeat_secs", 1)
    assert stale != text
    copy.write_text(stale, encoding="utf-8")
    module = [sys.executable, "-m", "nexus_logger.core.settings.config", "--readme", str(copy)]
    check = subprocess.run([*module, "--check-readme"], capture_output=True, text=True)
    assert check.returncode == 1 and "out of date" in check.stdout
    fixed = subprocess.run([*module, "--write-readme"], capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr
    assert copy.read_text(encoding="utf-8") == text


def _platform_dirs(monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    """What platformdirs answers on each OS for a user 'alice', as the docs write it."""
    monkeypatch.setenv("WIN_PD_OVERRIDE_LOCAL_APPDATA", r"C:\Users\alice\AppData\Local")
    monkeypatch.setenv("HOME", "/home/alice")
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.delenv(var, raising=False)
    found = {}
    for system, cls in (
        ("windows", platformdirs.windows.Windows),
        ("macos", platformdirs.macos.MacOS),
        ("linux", platformdirs.unix.Unix),
    ):
        dirs = cls(paths.APP_NAME, appauthor=False)
        values = {
            "config": dirs.user_config_dir,
            "data": dirs.user_data_dir,
            "log": dirs.user_log_dir,
        }
        if system == "windows":
            values = {
                k: v.replace("/", "\\").replace(r"C:\Users\alice\AppData\Local", "%LOCALAPPDATA%")
                for k, v in values.items()
            }
        else:
            values = {k: v.replace("/home/alice", "~") for k, v in values.items()}
        found[system] = values
    return found


def test_documented_locations_are_what_platformdirs_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    dirs = _platform_dirs(monkeypatch)
    reference = render_reference()
    notes = IT_NOTES.read_text(encoding="utf-8")
    sep = {"windows": "\\", "macos": "/", "linux": "/"}
    for system, where in dirs.items():
        config_file = where["config"] + sep[system] + "config.toml"
        assert f"`{config_file}`" in reference, (system, config_file)
        assert config_file in notes, (system, config_file)
        assert where["data"] in notes and where["log"] in notes, (system, where)
    # and the paths module asks platformdirs exactly that (here: Linux, no NEXUS_LOGGER_HOME)
    monkeypatch.delenv(paths.HOME_ENV)
    home = Path("/home/alice")
    assert paths.config_dir() == home / dirs["linux"]["config"].removeprefix("~/")
    assert paths.data_dir() == home / dirs["linux"]["data"].removeprefix("~/")
    assert paths.log_dir() == home / dirs["linux"]["log"].removeprefix("~/")
