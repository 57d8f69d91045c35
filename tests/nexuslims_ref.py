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
    if marker.exists():
        return python, ""
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run(
            [*pip, "--no-deps", f"nexuslims=={NEXUSLIMS_VERSION}"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
        subprocess.run([*pip, *_DEPS], check=True, capture_output=True, text=True, timeout=600)
    except (subprocess.SubprocessError, OSError) as err:
        detail = getattr(err, "stderr", "") or str(err)
        return None, f"could not install nexuslims {NEXUSLIMS_VERSION}: {detail.strip()[-300:]}"
    marker.write_text("ok")
    return python, ""


def nexuslims_sessions_to_build(python: Path, db_path: Path) -> dict:
    """What NexusLIMS's own ``get_sessions_to_build()`` returns for ``db_path``.

    ``{"sessions": [...]}`` or ``{"error": "..."}`` when NexusLIMS raises ``ValueError``.
    """
    return run_in_nexuslims(python, db_path, _PROBE)


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
    return run_in_nexuslims(python, db_path, _MARK_BUILT, session_identifier, status)


def run_in_nexuslims(python: Path, db_path: Path, code: str, *argv: str) -> dict:
    """Run ``code`` in the NexusLIMS environment with ``NX_DB_PATH=db_path``; its last
    printed line, as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NX_")}
        env.update(
            NX_DB_PATH=str(db_path),
            NX_INSTRUMENT_DATA_PATH=tmp,
            NX_DATA_PATH=tmp,
            NX_CDCS_TOKEN="test",
            NX_CDCS_URL="http://localhost/",
        )
        result = subprocess.run(
            [str(python), "-c", code, *argv],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp,
        )
    if result.returncode != 0:
        raise RuntimeError(f"NexusLIMS probe failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
