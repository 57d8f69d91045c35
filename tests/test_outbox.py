"""The local outbox store (core/offline/outbox.py): durable, ordered, shared safely between processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from nexus_logger.core.db.models import Instrument
from nexus_logger.core.errors import Conflict, NotFound
from nexus_logger.core.offline.outbox import (
    ConflictKind,
    EventKind,
    EventState,
    Outbox,
    OutboxError,
    pending_events,
)
from nexus_logger.core.settings import paths

DB = "/data/nexuslims.sqlite"


def _add(box: Outbox, kind: EventKind = EventKind.START, sid: str = "s-1", **kw: object):
    values = {
        "database": DB,
        "session_identifier": sid,
        "instrument_pid": "TEST-TEM-001",
        "timezone": "America/New_York",
        "at_text": "2025-01-06T08:06:34-05:00",
        "user": "alice",
    }
    values.update(kw)
    return box.add(kind, **values)


def test_default_file_is_in_the_machine_data_folder_and_uses_wal() -> None:
    box = Outbox()
    assert box.path == paths.machine_outbox_dir() / "outbox.sqlite"
    _add(box)
    with sqlite3.connect(box.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_event_survives_a_new_process_with_its_fields(tmp_path: Path) -> None:
    path = tmp_path / "box.sqlite"
    event = _add(Outbox(path), note="sample 7; «quartz»", start_text=None)
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from nexus_logger.core.offline.outbox import Outbox\n"
        "e = Outbox(Path(sys.argv[1])).items()[0]\n"
        "print(json.dumps([e.key, e.kind, e.session_identifier, e.at_text, e.note, e.state]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    import json

    assert json.loads(out.stdout) == [
        event.key,
        "START",
        "s-1",
        "2025-01-06T08:06:34-05:00",
        "sample 7; «quartz»",
        "pending",
    ]
    assert event.at.utcoffset().total_seconds() == -5 * 3600


def test_items_keep_order_and_filter(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    a = _add(box, EventKind.START, "s-1")
    b = _add(box, EventKind.END, "s-1", start_text="2025-01-06T08:06:34-05:00")
    c = _add(box, EventKind.START, "s-2", database="postgresql+psycopg://u@h/other")
    assert [e.id for e in box.items()] == [a.id, b.id, c.id]
    assert [e.id for e in box.items(database=DB)] == [a.id, b.id]
    assert [e.id for e in box.items(session_identifier="s-2")] == [c.id]
    assert box.pending_count() == 3 and box.pending_count(DB) == 2
    box.set_state(a.id, EventState.SENT)
    box.set_state(b.id, EventState.HELD, error="why")
    assert [e.id for e in box.items()] == [b.id, c.id]  # held still waits
    assert [e.id for e in box.items(states=(EventState.PENDING,))] == [c.id]
    assert box.pending_count(DB) == 1
    assert box.get(b.id).last_error == "why"
    assert box.get(a.id).done_at is not None


def test_adding_the_same_key_twice_keeps_one_event(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    first = _add(box, key="k-1")
    again = _add(box, key="k-1", user="someone else")
    assert again == first
    assert box.pending_count() == 1


def test_pending_events_does_not_create_the_file(tmp_path: Path) -> None:
    path = tmp_path / "none" / "outbox.sqlite"
    assert pending_events(path) == 0
    assert not path.exists()
    _add(Outbox(path))
    assert pending_events(path) == 1
    assert pending_events() == 0  # the default file of this (isolated) home is untouched


def test_conflict_stays_listed_until_resolved_and_gives_up_its_held_event(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    event = _add(box)
    box.set_state(event.id, EventState.HELD)
    record = box.add_conflict(event, ConflictKind.START_WHILE_OPEN, "Two sessions.")
    assert [c.id for c in box.conflicts()] == [record.id]
    assert box.open_conflict_for(event.id, ConflictKind.START_WHILE_OPEN) == record
    box.append_to_conflict(record.id, "Later news.")
    assert box.conflicts()[0].message == "Two sessions. Later news."

    done = box.resolve(record.id, by="staff", note="checked")
    assert done.handled and done.handled_by == "staff" and done.handled_note == "checked"
    assert box.conflicts() == []
    assert [c.id for c in box.conflicts(include_handled=True)] == [record.id]
    assert box.get(event.id).state is EventState.SKIPPED
    assert box.pending_count() == 0
    assert box.resolve(record.id, by="other").handled_by == "staff"  # idempotent


def test_resolve_and_retry_refuse_unknown_or_wrong_ids(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    event = _add(box)
    with pytest.raises(NotFound, match="no conflict 99"):
        box.resolve(99, by="x")
    with pytest.raises(Conflict, match="not held"):
        box.retry(event.id)
    box.set_state(event.id, EventState.HELD)
    assert box.retry(event.id).state is EventState.PENDING
    with pytest.raises(NotFound):
        box.get(12345)


def test_prune_forgets_old_done_events_only(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    old_sent = _add(box, sid="a")
    old_conflict = _add(box, sid="b")
    waiting = _add(box, sid="c")
    box.set_state(old_sent.id, EventState.SENT)
    box.set_state(old_conflict.id, EventState.SKIPPED)
    box.add_conflict(box.get(old_conflict.id), ConflictKind.END_ALREADY_RECORDED, "x")
    with sqlite3.connect(box.path) as conn:
        conn.execute("UPDATE events SET done_at = '2000-01-01T00:00:00+00:00'")
    assert box.prune() == 1
    assert {e.id for e in box.items(states=tuple(EventState))} == {old_conflict.id, waiting.id}


def test_instrument_cache(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "b.sqlite")
    inst = Instrument(
        instrument_pid="TEST-FIB-003",
        display_name="Test FIB",
        timezone="Asia/Kolkata",
        location="Lab",
        api_url="x",
        calendar_url="",
        property_tag="",
        filestore_path="f",
        harvester="nemo",
    )
    box.remember_instrument(DB, "host:pc-7", inst)
    for key in ("host:pc-7", "pid:TEST-FIB-003"):
        got = box.cached_instrument(DB, key)
        assert (got.instrument_pid, got.display_name, got.timezone, got.location) == (
            "TEST-FIB-003",
            "Test FIB",
            "Asia/Kolkata",
            "Lab",
        )
    assert box.cached_instrument("other-db", "host:pc-7") is None


def _add_many(path: str, prefix: str, n: int) -> None:
    box = Outbox(Path(path))
    for i in range(n):
        _add(box, sid=f"{prefix}-{i}")


def test_two_processes_and_threads_adding_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite"
    Outbox(path).pending_count()  # create it first
    code = (
        "import sys\nfrom tests.test_outbox import _add_many\n_add_many(sys.argv[1], 'proc', 60)\n"
    )
    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=root)
    threads = [threading.Thread(target=_add_many, args=(str(path), f"t{i}", 30)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert child.wait(timeout=60) == 0
    events = Outbox(path).items()
    sids = [e.session_identifier for e in events]
    assert len(sids) == len(set(sids)) == 120
    # Each writer's events stay in the order it wrote them.
    for prefix, n in (("proc", 60), ("t0", 30), ("t1", 30)):
        mine = [s for s in sids if s.startswith(prefix + "-")]
        assert mine == [f"{prefix}-{i}" for i in range(n)]


def test_damaged_file_is_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite"
    damaged = b"this is not a database, it is text" * 100
    path.write_bytes(damaged)
    box = Outbox(path)
    assert box.pending_count() == 0
    assert box.moved_aside is not None and box.moved_aside.parent == tmp_path
    assert box.moved_aside.read_bytes() == damaged  # kept whole, for support
    _add(box)
    assert Outbox(path).pending_count() == 1


def test_unwritable_folder_gives_a_readable_error(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    (folder / "outbox.sqlite").mkdir()  # a folder where the file should be: cannot be opened
    with pytest.raises(OutboxError, match="cannot be used") as info:
        Outbox(folder / "outbox.sqlite").pending_count()
    assert str(folder / "outbox.sqlite") in str(info.value)
