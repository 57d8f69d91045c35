"""Configuration (issue 7, requirement 1): precedence, every bad-config case, show/path/init."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nexus_logger.cli import main
from nexus_logger.core.errors import ConfigError
from nexus_logger.core.settings import paths
from nexus_logger.core.settings.config import (
    CONFIG_ENV,
    FIELDS,
    FIELDS_BY_NAME,
    NotSetUp,
    load_settings,
    mask_secret,
    read_config_file,
    render_template,
)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def show_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, dict[str, object]]:
    assert main(["config", "show", "--format", "json", *argv]) == 0
    data = json.loads(capsys.readouterr().out)
    return {row["key"]: row for row in data["settings"]}


# -- precedence: flag > environment > file > default -------------------------------------------


def test_defaults_when_nothing_is_configured() -> None:
    settings = load_settings()
    for fld in FIELDS:
        assert settings.values[fld.name] == fld.default
        assert settings.sources[fld.name] == "default"
    assert settings.config_file == paths.default_config_file()
    assert not settings.config_file_exists
    assert settings.using_default_database
    assert not settings.set_up and not settings.uses_demo
    with pytest.raises(NotSetUp, match="This PC is not set up: sessions are not sent"):
        settings.database_target  # noqa: B018 (the property raises)
    asked = load_settings(overrides={"demo": True})
    assert asked.set_up and asked.uses_demo
    assert asked.database_target == str(paths.demo_database())
    explicit = load_settings(overrides={"database": str(paths.demo_database())})
    assert explicit.uses_demo  # what 'nexus-logger demo' passes
    assert not load_settings(overrides={"database": "lab.sqlite"}).uses_demo


@pytest.mark.parametrize(
    ("layers", "expected_value", "expected_source"),
    [
        ({"file"}, "file.sqlite", "config file"),
        ({"file", "env"}, "env.sqlite", "environment (NEXUS_LOGGER_DB)"),
        ({"file", "env", "flag"}, "flag.sqlite", "command line option --db"),
        ({"env", "flag"}, "flag.sqlite", "command line option --db"),
        ({"file", "flag"}, "flag.sqlite", "command line option --db"),
        ({"env"}, "env.sqlite", "environment (NEXUS_LOGGER_DB)"),
    ],
)
def test_precedence_of_database(
    layers: set[str],
    expected_value: str,
    expected_source: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if "file" in layers:
        write(paths.default_config_file(), "database = 'file.sqlite'\n")
    if "env" in layers:
        monkeypatch.setenv("NEXUS_LOGGER_DB", "env.sqlite")
    argv = ["--db", "flag.sqlite"] if "flag" in layers else []
    rows = show_json(capsys, *argv)
    assert rows["database"]["value"] == expected_value
    assert str(rows["database"]["source"]).startswith(expected_source)
    # the same through the library call the window uses
    settings = load_settings(overrides={"database": "flag.sqlite" if argv else None})
    assert settings.values["database"] == expected_value


def test_the_outbox_folder_is_a_whole_path_with_its_variables_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative outbox_folder was found from the working folder, which differs between the
    shortcut, a scheduled task and a console: each kept its own outbox, and events one kept were
    never sent by the others (Windows review). IT writes %ProgramData% (or $VAR) in paths."""
    from nexus_logger.core.errors import ConfigError
    from nexus_logger.core.settings import paths

    with pytest.raises(ConfigError, match="outbox_folder.*must be a whole path"):
        load_settings(overrides={"outbox_folder": "nexus-outbox"})
    monkeypatch.setenv("NEXUS_TEST_SHARE", str(tmp_path))
    settings = load_settings(overrides={"outbox_folder": "$NEXUS_TEST_SHARE/outbox"})
    assert paths.machine_outbox_dir(settings.outbox_folder) == tmp_path / "outbox"


def test_precedence_for_every_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each key: file beats default, environment beats file, command line beats environment."""
    samples = {
        "database": ("f.sqlite", "e.sqlite", "c.sqlite"),
        "instrument": ("FILE-PID", "ENV-PID", "CLI-PID"),
        "demo": (True, "false", None),
        "on_quit": ("keep", "end", None),
        "outbox_folder": ("/srv/nexus-outbox", "/var/outbox", None),
        "administrators": (["file"], "env1, env2", None),
        "facility_contact": ("Jane, +1 555 0100", "help@example.org", None),
        "auto_close_seconds": (7, "8", None),
        "heartbeat_seconds": (11, "12", None),
        "long_session_hours": (2, "3.5", None),
        "fleet_silent_hours": (48.0, "6", None),
        "admin_refresh_seconds": (0, "45", None),
        "admin_tab_for_everyone": (True, "false", None),
        "admin_tab_shows_people": (True, "0", None),
        "db_timeout_seconds": (4.5, "6", None),
        "clock_skew_minutes": (2.5, "3", None),
        "backfill_days": (10.0, "20", None),
        "bridge_warn_hours": (6, "12.5", None),
        "log_level": ("warning", "debug", None),
        "data_root": ("/mnt/file", "/mnt/env", None),
        "file_strategy": ("inclusive", "EXCLUSIVE", None),
        "ignore_patterns": (["*.tmp"], '["*.mib", "*.db"]', None),
        "file_delay_days": (0.5, "3", None),
    }
    assert set(samples) == set(FIELDS_BY_NAME), "add a sample for the new key"
    lines = []
    for key, (in_file, _env, _cli) in samples.items():
        value = (
            json.dumps(in_file) if not isinstance(in_file, str) else f"'{in_file}'"
        )  # JSON lists/numbers are TOML too
        lines.append(f"{key} = {value}")
    write(paths.default_config_file(), "\n".join(lines) + "\n")

    from_file = load_settings()
    expected_file = {
        "administrators": ["file"],
        "long_session_hours": 2.0,
        "bridge_warn_hours": 6.0,
        "log_level": "WARNING",
    }
    for key, (in_file, _env, _cli) in samples.items():
        assert from_file.values[key] == expected_file.get(key, in_file), key
        assert from_file.sources[key] == f"config file ({paths.default_config_file()})"

    for key, (_file, in_env, _cli) in samples.items():
        monkeypatch.setenv(FIELDS_BY_NAME[key].env[0], in_env)
    from_env = load_settings()
    expected_env = {
        "administrators": ["env1", "env2"],
        "auto_close_seconds": 8,
        "heartbeat_seconds": 12,
        "long_session_hours": 3.5,
        "fleet_silent_hours": 6.0,
        "admin_refresh_seconds": 45,
        "admin_tab_for_everyone": False,
        "admin_tab_shows_people": False,
        "db_timeout_seconds": 6.0,
        "clock_skew_minutes": 3.0,
        "backfill_days": 20.0,
        "bridge_warn_hours": 12.5,
        "log_level": "DEBUG",
        "demo": False,
        "file_strategy": "exclusive",
        "ignore_patterns": ["*.mib", "*.db"],
        "file_delay_days": 3.0,
    }
    for key, (_file, in_env, _cli) in samples.items():
        assert from_env.values[key] == expected_env.get(key, in_env), key
        assert from_env.sources[key] == f"environment ({FIELDS_BY_NAME[key].env[0]})"

    overrides = {k: cli for k, (_f, _e, cli) in samples.items() if cli is not None}
    from_cli = load_settings(overrides=overrides)
    for key, value in overrides.items():
        assert from_cli.values[key] == value
        assert from_cli.sources[key].startswith("command line")
    assert from_cli.values["heartbeat_seconds"] == 12  # no flag: the environment still wins


def test_our_variable_beats_nexuslims_variable_and_empty_means_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NX_DB_PATH", "nexuslims.sqlite")
    assert load_settings().sources["database"] == "environment (NX_DB_PATH)"
    monkeypatch.setenv("NEXUS_LOGGER_DB", "ours.sqlite")
    assert load_settings().values["database"] == "ours.sqlite"
    monkeypatch.setenv("NEXUS_LOGGER_DB", "   ")
    assert load_settings().values["database"] == "nexuslims.sqlite"


def test_nexuslims_file_variables_are_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    """NexusLIMS's own NX_* file settings are read as NX_DB_PATH is; ours win over them."""
    monkeypatch.setenv("NX_INSTRUMENT_DATA_PATH", "/mnt/nexuslims")
    monkeypatch.setenv("NX_FILE_STRATEGY", "inclusive")
    monkeypatch.setenv("NX_IGNORE_PATTERNS", '["*.MIB","*.db"]')
    monkeypatch.setenv("NX_FILE_DELAY_DAYS", "0.25")
    settings = load_settings()
    assert settings.sources["data_root"] == "environment (NX_INSTRUMENT_DATA_PATH)"
    assert settings.values["data_root"] == "/mnt/nexuslims"
    assert settings.values["file_strategy"] == "inclusive"
    assert settings.values["ignore_patterns"] == ["*.MIB", "*.db"]
    assert settings.values["file_delay_days"] == 0.25
    monkeypatch.setenv("NEXUS_LOGGER_DATA_ROOT", "Z:/data")
    assert load_settings().values["data_root"] == "Z:/data"
    monkeypatch.setenv("NX_IGNORE_PATTERNS", "*.mib, *.hdr")
    assert load_settings().values["ignore_patterns"] == ["*.mib", "*.hdr"]
    monkeypatch.setenv("NX_IGNORE_PATTERNS", '["*.mib", 3]')
    with pytest.raises(ConfigError, match="NX_IGNORE_PATTERNS"):
        load_settings()


def test_config_file_location_flag_then_environment_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default = write(paths.default_config_file(), "instrument = 'DEFAULT'\n")
    by_env = write(tmp_path / "env.toml", "instrument = 'ENV'\n")
    by_flag = write(tmp_path / "flag.toml", "instrument = 'FLAG'\n")
    assert load_settings().values["instrument"] == "DEFAULT"
    monkeypatch.setenv(CONFIG_ENV, str(by_env))
    assert load_settings().values["instrument"] == "ENV"
    assert load_settings(by_flag).values["instrument"] == "FLAG"

    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(by_env)
    assert main(["config", "path", "--config", str(by_flag)]) == 0
    assert capsys.readouterr().out.strip() == str(by_flag)
    monkeypatch.delenv(CONFIG_ENV)
    assert main(["config", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(default)
    assert main(["config", "path", "--all"]) == 0
    out = capsys.readouterr().out
    assert str(paths.data_dir()) in out and str(paths.log_dir()) in out
    assert f"outbox:        {paths.machine_outbox_dir() / 'outbox.sqlite'}" in out


# -- bad configuration: one clear message naming the file, the key and the fix -----------------


BAD_FILES = [
    pytest.param("databse = 'x.sqlite'\n", ["'databse'", "Did you mean 'database'"], id="typo"),
    pytest.param("colour = 'red'\n", ["unknown key 'colour'", "Remove it"], id="unknown"),
    pytest.param("[paths]\ndb = 'x'\n", ["unknown section [paths]"], id="section"),
    pytest.param(
        "[database]\npath = 'x'\n", ["'database' is written as a section"], id="known-section"
    ),
    pytest.param(
        "heartbeat_seconds = '60'\n",
        ["'heartbeat_seconds' must be a whole number", "Fix the value in the file"],
        id="int-as-string",
    ),
    pytest.param(
        "auto_close_seconds = 2.5\n", ["'auto_close_seconds' must be a whole number"], id="float"
    ),
    pytest.param(
        "heartbeat_seconds = true\n", ["'heartbeat_seconds' must be a whole number"], id="bool"
    ),
    pytest.param(
        "administrators = 'alice'\n", ["'administrators' must be a list of strings"], id="list"
    ),
    pytest.param(
        "administrators = ['alice', 3]\n", ["'administrators' must be a list"], id="list-item"
    ),
    pytest.param("instrument = 42\n", ["'instrument' must be a string"], id="str"),
    pytest.param(
        "heartbeat_seconds = 0\n", ["'heartbeat_seconds' must be > 0, ≤ 86400"], id="range-low"
    ),
    pytest.param(
        "db_timeout_seconds = 1e9\n", ["'db_timeout_seconds' must be > 0, ≤ 3600"], id="range-hi"
    ),
    pytest.param(
        "db_timeout_seconds = inf\n", ["'db_timeout_seconds' must be a number"], id="infinite"
    ),
    pytest.param("log_level = 'LOUD'\n", ["'log_level' must be one of DEBUG"], id="choice"),
    pytest.param("instrument = \n", ["is not valid TOML", "Fix the line"], id="toml-syntax"),
    pytest.param(
        'database = "C:\\Users\\x.sqlite"\n',
        ["is not valid TOML", "single quotes"],
        id="windows-path-escape",
    ),
    pytest.param(
        'database = "\\\\server\\share\\x.sqlite"\n',
        ["is not valid TOML", "single quotes"],
        id="unc-path-escape",
    ),
    pytest.param(
        'database = "C:\\new\\table.sqlite"\n',
        ["'database' contains a control character", "single quotes"],
        id="escape-becomes-newline",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_FILES)
def test_bad_config_file_is_one_clear_sentence(
    text: str, fragments: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "station.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message

    # the command line says the same, as one line, with a non-zero exit
    assert main(["config", "show", "--config", str(path)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("nexus-logger: ") and str(path) in err
    assert "Traceback" not in err


def test_the_default_file_is_checked_as_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    path = write(paths.default_config_file(), "heartbeat = 5\n")
    assert main(["config", "show"]) != 0
    err = capsys.readouterr().err
    assert str(path) in err and "'heartbeat'" in err and "heartbeat_seconds" in err


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes("instrument = 'Zeiß'\n".encode("latin-1"))
    with pytest.raises(
        ConfigError, match="is not UTF-8 text. Save it again with the encoding UTF-8"
    ):
        load_settings(path)


def test_byte_order_mark_from_notepad_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeffinstrument = 'Zeiß-SEM'\n".encode())
    assert load_settings(path).values["instrument"] == "Zeiß-SEM"


@pytest.mark.parametrize("how", ["flag", "environment"])
def test_missing_file_named_explicitly(
    how: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope" / "config.toml"
    argv = ["config", "show"]
    if how == "flag":
        argv += ["--config", str(missing)]
    else:
        monkeypatch.setenv(CONFIG_ENV, str(missing))
    assert main(argv) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert f"The config file {missing} does not exist" in err
    assert "config init" in err and CONFIG_ENV in err


def test_config_path_that_is_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a folder, not a file"):
        load_settings(tmp_path)


@pytest.mark.parametrize(
    ("var", "value", "fragment"),
    [
        ("NEXUS_LOGGER_HEARTBEAT_SECONDS", "soon", "must be a whole number, not 'soon'"),
        ("NEXUS_LOGGER_DB_TIMEOUT_SECONDS", "nan", "must be a number"),
        ("NEXUS_LOGGER_AUTO_CLOSE_SECONDS", "-1", "must be ≥ 0, ≤ 3600"),
        ("NEXUS_LOGGER_LOG_LEVEL", "chatty", "must be one of DEBUG"),
    ],
)
def test_bad_environment_value_names_the_variable(
    var: str, value: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"The environment variable {var}: ")
    assert fragment in message and f"Fix the value of {var} or unset it." in message


def test_bad_flag_value_names_the_option() -> None:
    with pytest.raises(ConfigError, match=r"The option --instrument: 'instrument' contains"):
        load_settings(overrides={"instrument": "TEM\n01"})


def test_administrators_from_environment_are_split_and_cleaned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", " alice ; bob,, alice ,carol ")
    assert load_settings().administrators == ["alice", "bob", "carol"]


def test_unreadable_default_location_is_a_warning_not_a_failure(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the config folder's parent is a file: is_file() on the config path raises ENOTDIR
    blocker = isolated_home / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("NEXUS_LOGGER_HOME", str(blocker))
    settings = load_settings()
    assert not settings.config_file_exists
    assert settings.values["heartbeat_seconds"] == 60


# -- passwords ------------------------------------------------------------------------------


SECRET_URL = "postgresql+psycopg://nexus:s3cr%t@pw@dbhost:5432/nexuslims"


@pytest.mark.parametrize("where", ["flag", "environment", "file"])
def test_config_show_masks_the_password(
    where: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["config", "show"]
    if where == "flag":
        argv += ["--db", SECRET_URL]
    elif where == "environment":
        monkeypatch.setenv("NX_DB_PATH", SECRET_URL)
    else:
        write(paths.default_config_file(), f"database = '{SECRET_URL}'\n")
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert main([*argv, "--format", "json"]) == 0
    as_json = capsys.readouterr().out
    for out in (table, as_json):
        assert "nexus:***@dbhost:5432/nexuslims" in out
        assert "s3cr" not in out and "@pw" not in out
    settings = load_settings(overrides={"database": SECRET_URL})
    assert "s3cr" not in repr(settings)
    assert settings.database_target == SECRET_URL  # masked only where it is shown


def test_wrong_type_message_never_echoes_the_database_value(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", f"database = ['{SECRET_URL}']\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "s3cr" not in str(caught.value) and "'database' must be a string" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://u:pw@h/d", "postgresql://u:***@h/d"),
        ("postgresql://u:p@ss@h/d", "postgresql://u:***@h/d"),
        ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
        ("postgresql://h:5432/d", "postgresql://h:5432/d"),
        (r"\\server\share\x.sqlite", r"\\server\share\x.sqlite"),
        ("", ""),
    ],
)
def test_mask_secret(text: str, expected: str) -> None:
    assert mask_secret(text) == expected


# -- config init ----------------------------------------------------------------------------


def test_config_init_writes_a_template_that_loads(capsys: pytest.CaptureFixture[str]) -> None:
    unc = r"\\nexus-server\share\nexuslims.sqlite"
    assert main(["config", "init", "--db", unc, "--instrument", "FEI-Titan-TEM-635816"]) == 0
    path = paths.default_config_file()
    assert f"Wrote {path}" in capsys.readouterr().out
    text = path.read_text(encoding="utf-8")
    for fld in FIELDS:
        assert fld.help in text
    settings = load_settings()
    assert settings.values["database"] == unc
    assert settings.values["instrument"] == "FEI-Titan-TEM-635816"
    assert settings.sources["heartbeat_seconds"] == "default"  # the rest stays commented out

    assert main(["config", "init"]) == ConfigError.exit_code
    assert "already exists; nothing was changed" in capsys.readouterr().err
    assert load_settings().values["database"] == unc
    assert main(["config", "init", "--force"]) == 0
    assert load_settings().values["database"] == ""


def test_config_init_writes_a_relative_database_path_as_an_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Written as given, 'nexuslims.sqlite' meant another file in every other working folder
    (the window's, a scheduled task's): "does not exist" for every other login."""
    monkeypatch.chdir(tmp_path)
    assert main(["config", "init", "--db", "shared/nexuslims.sqlite"]) == 0
    assert load_settings().values["database"] == str(tmp_path / "shared" / "nexuslims.sqlite")
    assert str(tmp_path / "shared" / "nexuslims.sqlite") in capsys.readouterr().out


def test_the_global_instrument_option_reaches_the_config_commands(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``nexus-logger --instrument PID config init`` (the top-level option, in --help) was
    dropped by sub-commands with an --instrument of their own."""
    pid = "FEI-Titan-TEM-635816"
    assert main(["--instrument", pid, "config", "init"]) == 0
    assert load_settings().values["instrument"] == pid
    capsys.readouterr()
    assert main(["--instrument", "Other-PID", "config", "show", "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert "Other-PID" in json.dumps(shown)


def test_config_init_says_what_is_in_the_way_of_its_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file where a folder of the path should be: its error was hidden behind "unexpected
    error: Not a directory" (the clean-up failed too), and permission would not help."""
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    target = blocker / "nexus" / "config.toml"
    assert main(["config", "init", "--config", str(target)]) == ConfigError.exit_code
    err = capsys.readouterr().err
    assert "a file stands where one of the folders of that path should be" in err
    assert "unexpected" not in err


def test_config_init_refuses_a_bad_value_and_writes_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "init", "--instrument", "A\tB"]) == ConfigError.exit_code
    assert "--instrument" in capsys.readouterr().err
    assert not paths.default_config_file().exists()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_config_init_keeps_a_password_to_its_reader(capsys: pytest.CaptureFixture[str]) -> None:
    """A login's own file with a password in its URL is readable by that login only; the
    machine-wide one (every login reads it) is written so, and the command says what that
    means for the password."""
    url = "postgresql+psycopg://pc_titan:titanpw@db.example/nexus"
    assert main(["config", "init", "--db", url]) == 0
    assert paths.default_config_file().stat().st_mode & 0o777 == 0o600
    assert "titanpw" not in capsys.readouterr().out
    assert main(["config", "init", "--machine", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "every login of this PC can read" in out and "titanpw" not in out
    assert paths.machine_config_file().stat().st_mode & 0o044  # others must read it
    assert main(["config", "init", "--force", "--db", "/data/nexuslims.sqlite"]) == 0
    assert paths.default_config_file().stat().st_mode & 0o777 != 0o600  # no password: as usual


def test_template_values_round_trip(tmp_path: Path) -> None:
    odd = 'C:\\it\'s "quoted"\\x.sqlite'
    path = write(tmp_path / "c.toml", render_template({"database": odd, "administrators": ["a"]}))
    assert read_config_file(path) == {"database": odd, "administrators": ["a"]}


# -- the real console script -----------------------------------------------------------------


def test_console_script_reports_bad_config_without_traceback(tmp_path: Path) -> None:
    path = write(tmp_path / "c.toml", "heartbeat_seconds = -5\n")
    result = subprocess.run(
        [sys.executable, "-m", "nexus_logger", "config", "show"],
        capture_output=True,
        text=True,
        env={**os.environ, CONFIG_ENV: str(path)},
        timeout=60,
    )
    assert result.returncode == ConfigError.exit_code
    assert result.stderr.startswith(f"nexus-logger: {path}: 'heartbeat_seconds' must be > 0")
    assert "Traceback" not in result.stderr
