"""The machine-wide configuration of a shared instrument PC (issue 14, req 1).

Two OS logins are simulated by two ``NEXUS_LOGGER_HOME`` folders; the one machine-wide folder
is ``NEXUS_LOGGER_MACHINE_DIR`` (set per test in conftest). The CLI runs in-process through
``main``, the way ``nexus-logger`` runs it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import platformdirs
import pytest

from nexus_logger.cli import main
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import load_settings

PID = "TEST-TEM-001"


def login(monkeypatch: pytest.MonkeyPatch, home: Path, name: str) -> None:
    """Become the OS login ``name`` with its own home folder."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(home))
    for var in ("USER", "LOGNAME", "USERNAME", "LNAME"):
        monkeypatch.setenv(var, name)


def test_the_machine_folder_is_platformdirs_site_config_dir(monkeypatch, tmp_path):
    monkeypatch.delenv(paths.MACHINE_ENV)
    monkeypatch.setenv("XDG_CONFIG_DIRS", f"{tmp_path / 'site'}:/etc/xdg")
    expected = platformdirs.site_config_path("nexus-logger", appauthor=False)
    assert paths.machine_config_dir() == expected
    if sys.platform.startswith("linux"):
        assert paths.machine_config_file() == tmp_path / "site" / "nexus-logger" / "config.toml"


def test_config_init_machine_sets_up_every_login(monkeypatch, tmp_path, capsys, sqlite_db):
    login(monkeypatch, tmp_path / "home-it", "it-admin")
    assert main(["config", "init", "--machine", "--db", sqlite_db, "--instrument", PID]) == 0
    out = capsys.readouterr().out
    machine = paths.machine_config_file()
    assert f"Wrote {machine}" in out and machine.is_file()
    assert not paths.default_config_file().exists()  # the IT login's own file is untouched

    for name in ("alice", "bob"):
        login(monkeypatch, tmp_path / f"home-{name}", name)
        settings = load_settings()
        assert settings.set_up and not settings.uses_demo
        assert settings.database_target == sqlite_db
        assert settings.sources["database"] == f"machine config file ({machine})"
        assert main(["doctor"]) == 0, capsys.readouterr().out
        capsys.readouterr()


def test_the_users_file_is_above_the_machine_file(monkeypatch, tmp_path, capsys, sqlite_db):
    machine = paths.machine_config_file()
    machine.parent.mkdir(parents=True)
    machine.write_text(f"database = '{sqlite_db}'\nheartbeat_seconds = 90\n", encoding="utf-8")
    login(monkeypatch, tmp_path / "home-bob", "bob")
    user_file = paths.default_config_file()
    user_file.parent.mkdir(parents=True)
    user_file.write_text("heartbeat_seconds = 30\n", encoding="utf-8")
    monkeypatch.setenv("NEXUS_LOGGER_LOG_LEVEL", "debug")

    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert f"Machine-wide config file (every login): {machine}" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert f"machine config file ({machine})" in rows["database"]
    assert f"config file ({user_file})" in rows["heartbeat_seconds"]
    assert "machine" not in rows["heartbeat_seconds"]
    assert "environment (NEXUS_LOGGER_LOG_LEVEL)" in rows["log_level"]
    assert "default" in rows["backfill_days"]

    assert main(["config", "show", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["machine_config_file"] == str(machine) and shown["machine_config_file_exists"]
    by_key = {r["key"]: r for r in shown["settings"]}
    assert by_key["heartbeat_seconds"]["value"] == 30
    assert by_key["database"]["source"] == f"machine config file ({machine})"


def test_a_wrong_machine_file_is_reported_with_its_path(monkeypatch, tmp_path, capsys):
    machine = paths.machine_config_file()
    machine.parent.mkdir(parents=True)
    machine.write_text("databse = 'x.sqlite'\n", encoding="utf-8")
    assert main(["config", "show"]) != 0
    err = capsys.readouterr().err
    assert str(machine) in err and "Did you mean 'database'?" in err


def test_init_machine_refuses_to_overwrite_and_to_mix_with_config(tmp_path, capsys, sqlite_db):
    assert main(["config", "init", "--machine", "--db", sqlite_db]) == 0
    capsys.readouterr()
    assert main(["config", "init", "--machine", "--db", "other.sqlite"]) != 0
    assert "config init --machine --force" in capsys.readouterr().err
    assert sqlite_db in paths.machine_config_file().read_text(encoding="utf-8")
    assert main(["config", "init", "--machine", "--force", "--db", "other.sqlite"]) == 0
    assert "other.sqlite" in paths.machine_config_file().read_text(encoding="utf-8")
    capsys.readouterr()
    other = tmp_path / "x.toml"
    assert main(["config", "init", "--machine", "--config", str(other)]) != 0
    assert "not both" in capsys.readouterr().err and not other.exists()


def test_a_login_on_an_unconfigured_pc_is_told_so(monkeypatch, tmp_path, capsys):
    login(monkeypatch, tmp_path / "home-bob", "bob")
    assert main(["session", "status"]) != 0
    err = capsys.readouterr().err
    assert "This PC is not set up: sessions are not sent to NexusLIMS." in err
    assert not paths.demo_database().exists()
