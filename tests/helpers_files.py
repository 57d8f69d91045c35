"""A data folder of real files around the pending sessions of NexusLIMS's reference database."""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

#: The reference database's pending session on NX-TEST-INSTR-001 at 10:04-10:45 New York time:
#: the only one with files NexusLIMS would take.
WITH_FILES = "d3ac94af-0f21-4db6-acad-4a268d116ece"


def _pending(db: str) -> dict[str, tuple[str, datetime]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT session_identifier, instrument, timestamp FROM session_log "
            "WHERE record_status = 'TO_BE_BUILT' AND event_type = 'START'"
        ).fetchall()
    return {sid: (pid, datetime.fromisoformat(ts)) for sid, pid, ts in rows}


def build_data_root(db: str, root: Path) -> Path:
    """Two files (1000 and 2000 bytes) inside WITH_FILES's window; for every other pending
    session only files NexusLIMS would not take (before START, or an ignored .emi)."""
    for sid, (pid, start) in _pending(db).items():
        names = ("a.dm3", "run/b.tif") if sid == WITH_FILES else ("c.emi",)
        for i, name in enumerate(names):
            path = root / pid / sid[:8] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x" * (1000 * (i + 1)))
            moment = (start + timedelta(minutes=1 + i)).timestamp()
            os.utime(path, (moment, moment))
        old = root / pid / sid[:8] / "before.dm3"
        old.write_bytes(b"x")
        os.utime(old, (start.timestamp() - 60, start.timestamp() - 60))
    return root
