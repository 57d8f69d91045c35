"""The command line: help for everything, one documented exit code per kind of outcome."""

from __future__ import annotations

import argparse
import csv
import io
import re
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from nexus_logger.cli import build_parser, main
from nexus_logger.commands.sync import EXIT_WAITING
from nexus_logger.core import errors
from nexus_logger.core.staff.admin_actions import current_login
from nexus_logger.core.staff.summaries import CSV_COLUMNS, SessionQuery, export_csv
from tests.helpers_admin import insert_rows

README = Path(__file__).resolve().parents[1] / "README.md"
TEM = "TEST-TEM-001"


def _commands(parser: argparse.ArgumentParser, path: str = "nexus-logger"):
    """Every (path, sub-parser, help shown in its parent's list) below ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            listed = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield f"{path} {name}", child, listed.get(name)
                yield from _commands(child, f"{path} {name}")


def test_every_command_and_option_has_help_text() -> None:
    missing = []
    top = build_parser()
    for path, parser, listed in [("nexus-logger", top, "top"), *_commands(top)]:
        if not listed:
            missing.append(f"{path}: no line in the command list")
        if not parser.description:
            missing.append(f"{path}: no description in --help")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            if not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def _readme_exit_codes() -> dict[int, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Exit codes", 1)[1].split("\n#", 1)[0]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| `(\d)` \| (.+?) \|$", section, re.M)}


def test_exit_codes_are_distinct_and_documented_in_one_table() -> None:
    codes = {
        name: value
        for name, value in vars(errors).items()
        if name.startswith("EXIT_") and isinstance(value, int)
    }
    assert sorted(codes.values()) == list(range(7))  # one code per kind of outcome
    documented = _readme_exit_codes()
    assert sorted(documented) == sorted(codes.values())
    assert EXIT_WAITING == errors.EXIT_HELD
    for word, code in [
        ("problems", errors.EXIT_PROBLEMS),
        ("usage", errors.EXIT_USAGE),
        ("this PC", errors.EXIT_HELD),
        ("refused", errors.EXIT_REFUSED),
        ("cannot be reached", errors.EXIT_UNREACHABLE),
        ("configuration", errors.EXIT_SETUP),
    ]:
        assert word in documented[code], (code, documented[code])


def test_error_classes_carry_the_codes() -> None:
    assert errors.InvalidInput.exit_code == errors.EXIT_USAGE
    assert errors.Conflict.exit_code == errors.EXIT_REFUSED
    assert errors.DatabaseUnavailable.exit_code == errors.EXIT_UNREACHABLE
    for cls in (
        errors.ConfigError,
        errors.SchemaError,
        errors.DatabaseMissing,
        errors.DatabaseReadOnly,
        errors.UnknownInstrument,
        errors.LoginRefused,
    ):
        assert cls.exit_code == errors.EXIT_SETUP, cls
    # A refused login is a set-up problem: never "unavailable", so nothing waits on the PC.
    refused = errors.translate(
        OperationalError("connect", {}, Exception('password authentication failed for "bob"')),
        "postgresql://bob@db/nexus",
    )
    assert isinstance(refused, errors.AccessDenied)
    assert not isinstance(refused, errors.DatabaseUnavailable)
    assert refused.exit_code == errors.EXIT_SETUP


def test_usage_errors_exit_2(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["sessions", "--no-such-option"])
    assert stopped.value.code == 2
    with pytest.raises(SystemExit) as stopped:
        main(["sessions", "--db", sqlite_db, "--from", "2025-13-01"])
    assert stopped.value.code == 2
    assert "is not a date" in capsys.readouterr().err
    assert main(["admin", "--db", sqlite_db, "force-end", "x", "--at", "soon", "--yes"]) == 2


def test_set_up_problems_exit_6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--db", str(tmp_path / "missing.sqlite")]) == 6
    not_db = tmp_path / "notes.txt"
    not_db.write_text("not a database\n" * 100)
    assert main(["sessions", "--db", str(not_db)]) == 6
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    assert main(["sessions", "--db", str(empty)]) == 6
    bad_config = tmp_path / "config.toml"
    bad_config.write_text("no_such_key = 1\n")
    assert main(["sessions", "--config", str(bad_config)]) == 6
    err = capsys.readouterr().err
    assert "does not exist" in err and "no NexusLIMS tables" in err and "no_such_key" in err


def test_unknown_instrument_exits_6(sqlite_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["station", "set", "NOPE", "--db", sqlite_db]) == 6
    assert "Known instruments" in capsys.readouterr().err


def test_unreachable_database_exits_5(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sessions", "--db", "postgresql+psycopg://bob:pw@127.0.0.1:9/nexus"]) == 5
    assert "cannot be reached" in capsys.readouterr().err


def test_refused_by_the_database_exits_4(
    sqlite_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_LOGGER_BACKFILL_DAYS", "36500")  # the dates below are old
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "start", *base, "--at", "2025-01-06T08:00"]) == 0
    assert main(["session", "end", *base, "--at", "2025-01-06T09:00", "--format", "json"]) == 0
    ident = (
        sqlite3.connect(sqlite_db)
        .execute("SELECT session_identifier FROM session_log")
        .fetchone()[0]
    )
    monkeypatch.setenv("NEXUS_LOGGER_ADMINISTRATORS", current_login())
    capsys.readouterr()
    assert main(["admin", "--db", sqlite_db, "requeue", ident, "--yes"]) == 4
    assert "already TO_BE_BUILT" in capsys.readouterr().err


def test_init_db_takes_the_database_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "new.sqlite"
    with pytest.raises(SystemExit) as stopped:
        main(["init-db", "--db", str(target)])
    assert stopped.value.code == 2
    assert main(["--db", str(target), "init-db", str(tmp_path / "other.sqlite")]) == 2
    assert "without --db" in capsys.readouterr().err
    assert not target.exists() and not (tmp_path / "other.sqlite").exists()
    assert main(["init-db", str(target)]) == 0 and target.exists()


def test_sessions_from_to_limit_and_the_admin_csv_columns(
    reference_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def csv_rows(*extra: str) -> list[dict[str, str]]:
        assert main(["sessions", "--db", reference_db, "--format", "csv", *extra]) == 0
        return list(csv.DictReader(io.StringIO(capsys.readouterr().out)))

    everything = csv_rows()
    assert len(everything) == 9
    # The same columns, in the same order, as the Admin tab's Export CSV file.
    exported = tmp_path / "export.csv"
    export_csv(SessionQuery(sort="start", descending=False), exported, engine=reference_db)
    with exported.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh))
    assert list(everything[0]) == header == list(CSV_COLUMNS)
    assert "duration_seconds" in header and "note" in header

    newest = csv_rows("--limit", "3")
    by_start = sorted(everything, key=lambda r: _utc(r["start"]))
    assert [r["session_identifier"] for r in newest] == [
        r["session_identifier"] for r in by_start[-3:]
    ]
    assert csv_rows("--from", "2025-01-07") == []
    assert len(csv_rows("--from", "2025-01-06", "--to", "2025-01-06")) == 9
    assert csv_rows("--to", "2025-01-05") == []
    with pytest.raises(SystemExit):
        main(["sessions", "--db", reference_db, "--limit", "0"])


def test_sessions_of_an_unknown_instrument_are_refused_not_none(
    sqlite_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt instrument (or one in another case) said "No sessions." with exit 0, as if
    the instrument had been idle; one that exists and was idle still says so. An instrument
    gone from the table whose sessions remain is listed."""
    for pid in (TEM.lower(), "NOPE"):
        assert main(["sessions", "--db", sqlite_db, "--instrument", pid]) == 6
        err = capsys.readouterr().err
        assert f"The instrument {pid!r} is not in the database" in err and TEM in err
    assert main(["sessions", "--db", sqlite_db, "--instrument", TEM]) == 0
    assert capsys.readouterr().out == "No sessions.\n"
    insert_rows(
        sqlite_db, [("gone", "OLD-TEM", "2025-01-06T10:00:00-05:00", "START", "TO_BE_BUILT", "al")]
    )
    assert main(["sessions", "--db", sqlite_db, "--instrument", "OLD-TEM"]) == 0
    assert "gone" in capsys.readouterr().out


def _utc(text: str):
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).astimezone(UTC)


def test_session_refusals_exit_4(sqlite_db: str) -> None:
    base = ["--db", sqlite_db, "--instrument", TEM]
    assert main(["session", "end", *base]) == errors.EXIT_REFUSED
    assert main(["session", "start", *base]) == 0
    assert main(["session", "start", *base]) == errors.EXIT_REFUSED
