"""Run the real NexusLIMS back-end (``nexuslims`` 2.8.0 from PyPI) against a database.

The package pulls in a scientific stack (hyperspy, pyxem, ...) that the session code never
touches, so it is installed ``--no-deps`` into its own virtual environment together with the
few packages ``nexusLIMS.db`` really imports. The environment is made once and cached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

NEXUSLIMS_VERSION = "2.8.0"
_DEPS = ["sqlmodel", "pytz", "tzlocal", "pydantic-settings", "python-dotenv", "pydantic[email]"]
#: What ``nexus_logger.core`` imports besides SQLAlchemy (which sqlmodel brings), so that a
#: script in the environment can hand nexus-logger's objects to NexusLIMS's code.
_LOGGER_DEPS = ["platformdirs>=4.0", "filelock>=3.12", "tzdata>=2024.1"]

_PROBE = r"""
import json, sys
from nexusLIMS.db.session_handler import get_sessions_to_build
try:
    sessions = get_sessions_to_build()
except ValueError as err:
    print(json.dumps({"error": str(err)}))
    sys.exit(0)
print(json.dumps({"sessions": [
    {"session_identifier": s.session_identifier, "instrument": s.instrument.instrument_pid,
     "user": s.user, "dt_from": s.dt_from.isoformat(), "dt_to": s.dt_to.isoformat()}
    for s in sessions]}))
"""


def venv_dir() -> Path:
    base = (
        os.environ.get("NEXUS_LOGGER_TEST_CACHE") or Path.home() / ".cache" / "nexus-logger-tests"
    )
    return (
        Path(base) / f"nexuslims-{NEXUSLIMS_VERSION}-py{sys.version_info[0]}{sys.version_info[1]}"
    )


def ensure_nexuslims() -> tuple[Path | None, str]:
    """Python of an environment with NexusLIMS, or ``None`` and the reason it could not be made."""
    root = venv_dir()
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    marker = root / ".complete"
    logger_marker = root / ".nexus-logger-deps"
    wanted = "\n".join(_LOGGER_DEPS)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    try:
        if not marker.exists():
            venv.EnvBuilder(with_pip=True, clear=True).create(root)
            subprocess.run(
                [*pip, "--no-deps", f"nexuslims=={NEXUSLIMS_VERSION}"],
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            )
            subprocess.run([*pip, *_DEPS], check=True, capture_output=True, text=True, timeout=600)
            marker.write_text("ok")
        # Added to an environment made before they were needed (never rebuilt: another test
        # run may be using it).
        if not logger_marker.exists() or logger_marker.read_text() != wanted:
            subprocess.run(
                [*pip, *_LOGGER_DEPS], check=True, capture_output=True, text=True, timeout=600
            )
            logger_marker.write_text(wanted)
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return None, f"could not install nexuslims {NEXUSLIMS_VERSION}: {detail.strip()[-300:]}"
    return python, ""


PROJECT_ROOT = Path(__file__).resolve().parents[1]


def run_in_nexuslims(
    python: Path,
    code: str,
    db_path: Path | str,
    *args: str,
    instrument_data: Path | str | None = None,
    extra_env: dict[str, str] | None = None,
) -> dict:
    """Run ``code`` in NexusLIMS's environment against ``db_path``; return its last JSON line.

    NexusLIMS reads its settings from ``NX_*`` variables (the caller's are dropped); the data
    folders default to an empty temporary one. nexus-logger (this worktree) is importable there
    too, so a script can hand nexus-logger's objects to NexusLIMS's own code. ``args`` are the
    script's ``sys.argv[1:]``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NX_")}
        env.update(
            NX_DB_PATH=str(db_path),
            NX_INSTRUMENT_DATA_PATH=str(instrument_data or tmp),
            NX_DATA_PATH=tmp,
            NX_CDCS_TOKEN="test",
            NX_CDCS_URL="http://localhost/",
            PYTHONPATH=str(PROJECT_ROOT),
        )
        env.update(extra_env or {})
        result = subprocess.run(
            [str(python), "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp,
        )
    if result.returncode != 0:
        raise RuntimeError(f"NexusLIMS script failed: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def nexuslims_sessions_to_build(python: Path, db_path: Path) -> dict:
    """What NexusLIMS's own ``get_sessions_to_build()`` returns for ``db_path``.

    ``{"sessions": [...]}`` or ``{"error": "..."}`` when NexusLIMS raises ``ValueError``.
    """
    return run_in_nexuslims(python, _PROBE, db_path)


_MARK_BUILT = r"""
import json, sys
from nexusLIMS.db.enums import RecordStatus
from nexusLIMS.db.session_handler import get_sessions_to_build
wanted, status = sys.argv[1], sys.argv[2]
for s in get_sessions_to_build():
    if s.session_identifier == wanted:
        row = s.insert_record_generation_event()
        s.update_session_status(RecordStatus[status])
        print(json.dumps({"marked": wanted, "row": row}, default=str))
        break
else:
    print(json.dumps({"error": "not among the sessions to build"}))
"""


def nexuslims_mark_built(
    python: Path, db_path: Path, session_identifier: str, status: str = "COMPLETED"
) -> dict:
    """Build one session the way NexusLIMS's record builder records it: its own
    ``insert_record_generation_event()``, then ``update_session_status(status)``."""
    return run_in_nexuslims(python, _MARK_BUILT, db_path, session_identifier, status)
