"""When this PC's outbox cannot be written, sessions still start and end in the database.

A full disk is a real one: a tiny tmpfs the test mounts (as root, where mounting is allowed;
elsewhere the test is skipped and says why). A damaged file is moved aside, kept, and a new one
started. Nothing needs a person to repair it: once space is free, the outbox works again.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus_logger.core.errors import DatabaseUnavailable
from nexus_logger.core.offline.durable import DurableLogger
from nexus_logger.core.offline.outbox import EventKind, EventState, OutboxError
from nexus_logger.core.sessions.lifecycle import find_open_session
from tests.helpers_outbox import TEM, assert_pairing_holds, fast_engine, moved_away


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on ``folder`` with ``options``, unmounted afterwards (else: skip)."""
    folder.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): test skipped")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """Fill the disk holding ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while True:
            os.write(fd, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_start_and_end_go_straight_to_the_database(
    sqlite_db: str, tmp_path: Path
) -> None:
    with tmpfs(tmp_path / "tiny", "size=256k") as disk:
        filler = fill(disk)
        durable = DurableLogger(fast_engine(sqlite_db), outbox_path=disk / "outbox.sqlite")
        inst = durable.identify(instrument=TEM)
        started = durable.start(instrument=inst, user="alice")
        assert started.created and not started.queued
        assert "nothing can be kept on this PC" in started.message
        assert "disk" in started.message and "full" in started.message
        assert "damaged" not in started.message and "move it aside" not in started.message
        ended = durable.end(started.session)
        assert not ended.queued and "NexusLIMS will build" in ended.message
        assert "nothing can be kept" not in ended.message  # warned once, not every time
        assert assert_pairing_holds(sqlite_db) == [
            (started.session.session_identifier, TEM, "alice")
        ]
        # With the database away as well, the user is told that nothing could be kept (here
        # another nexus-logger process on the PC).
        again = durable.start(instrument=inst, user="bob").session
        other = DurableLogger(sqlite_db, outbox_path=disk / "outbox.sqlite")
        with moved_away(sqlite_db), pytest.raises(DatabaseUnavailable, match="either"):
            other.end(again)
        # Space is freed: the outbox works again, with no step by hand.
        filler.unlink()
        ended = durable.end(again)
        assert not ended.queued and durable.outbox_problem is None
        kinds = [(e.kind, e.state) for e in durable.outbox.items(states=tuple(EventState))]
        assert kinds == [(EventKind.END, EventState.SENT)]
        assert find_open_session(TEM, engine=sqlite_db) is None


def test_offline_with_a_full_disk_the_pc_does_not_claim_it_never_reached_the_database(
    sqlite_db: str, tmp_path: Path
) -> None:
    """The outbox (which keeps the instrument identified last) cannot be read on a full disk:
    the message said "This PC has not reached that database before", which was not true."""
    with tmpfs(tmp_path / "tiny", "size=256k") as disk:
        first = DurableLogger(fast_engine(sqlite_db), outbox_path=disk / "outbox.sqlite")
        first.identify(instrument=TEM)
        first.outbox.close()
        fill(disk)
        with moved_away(sqlite_db), pytest.raises(DatabaseUnavailable) as away:
            # A new engine: the first one's kept connection would still read the moved file.
            durable = DurableLogger(sqlite_db, outbox_path=disk / "outbox.sqlite", timeout=0.9)
            durable.identify(instrument=TEM)
    said = str(away.value)
    assert "has not reached the database before" not in said
    assert "cannot be read either" in said and "is full" in said
    # Not "nothing else needs doing": nothing was recorded, and the person must try again.
    assert said.endswith(
        "Nothing was recorded: try again once the database can be reached or the outbox used."
    )


def test_damaged_outbox_is_moved_aside_and_sessions_go_on(sqlite_db: str, tmp_path: Path) -> None:
    box = tmp_path / "outbox.sqlite"
    box.write_bytes(b"\x13garbage, not SQLite" * 500)
    durable = DurableLogger(fast_engine(sqlite_db), outbox_path=box)
    inst = durable.identify(instrument=TEM)
    started = durable.start(instrument=inst, user="alice")
    assert started.created
    moved = durable.outbox.moved_aside
    assert moved is not None and moved.exists() and str(moved) in started.message
    ended = durable.end(started.session)
    assert not ended.queued and str(moved) not in ended.message  # told once
    assert assert_pairing_holds(sqlite_db) == [(started.session.session_identifier, TEM, "alice")]


def test_damage_inside_the_outbox_is_found_at_once_and_sessions_go_on(
    sqlite_db: str, tmp_path: Path
) -> None:
    """Damage past the file's first page showed only when a query reached it: every start
    and end then failed ('database disk image is malformed'), with the database reachable,
    until someone deleted the file by hand."""
    box = tmp_path / "outbox.sqlite"
    first = DurableLogger(fast_engine(sqlite_db), outbox_path=box)
    inst = first.identify(instrument=TEM)
    with moved_away(sqlite_db):
        kept = first.start(instrument=inst, user="bob")
    assert kept.queued
    first.outbox.close()  # the last connection folds the WAL into the file
    with box.open("r+b") as raw:
        raw.seek(4096)  # the second page: a table's, not the header
        raw.write(b"\x13garbage" * 512)

    durable = DurableLogger(fast_engine(sqlite_db), outbox_path=box)
    started = durable.start(instrument=durable.identify(instrument=TEM), user="alice")
    assert started.created and not started.queued
    moved = durable.outbox.moved_aside
    assert moved is not None and moved.exists() and str(moved) in started.message
    assert not durable.end(started.session).queued
    assert assert_pairing_holds(sqlite_db) == [(started.session.session_identifier, TEM, "alice")]


def test_read_only_folder_start_and_end_still_work(sqlite_db: str, tmp_path: Path) -> None:
    """A folder this account cannot write (a read-only mount: root ignores file modes)."""
    with tmpfs(tmp_path / "ro", "ro,size=64k") as mount:
        durable = DurableLogger(fast_engine(sqlite_db), outbox_path=mount / "outbox.sqlite")
        inst = durable.identify(instrument=TEM)
        started = durable.start(instrument=inst, user="alice")
        assert started.created and "nothing can be kept on this PC" in started.message
        ended = durable.end(started.session)
        assert not ended.queued
        assert assert_pairing_holds(sqlite_db) == [
            (started.session.session_identifier, TEM, "alice")
        ]


def test_a_lock_this_login_cannot_take_never_stops_its_own_start_and_end(
    sqlite_db: str, tmp_path: Path
) -> None:
    """In a folder with the sticky bit, the outbox's lock file of another login cannot be
    taken (here: the lock's path is a folder, which fails the same way, with an OSError):
    every command of this login failed with an unexpected error, and an END kept on this PC
    was reported as that error. Its own START and END now go straight to the database, and
    'sync' says in one sentence what IT must change."""
    from tests.helpers_outbox import SEM

    box = tmp_path / "outbox.sqlite"
    durable = DurableLogger(fast_engine(sqlite_db), outbox_path=box)
    sem = durable.identify(instrument=SEM)
    with moved_away(sqlite_db):
        assert durable.start(instrument=sem, user="bob").queued  # bob's, waiting here
    (tmp_path / "outbox.sqlite.lock").unlink(missing_ok=True)
    (tmp_path / "outbox.sqlite.lock").mkdir()

    alice = DurableLogger(fast_engine(sqlite_db), outbox_path=box)
    started = alice.start(instrument=alice.identify(instrument=TEM), user="alice")
    assert started.created and not started.queued
    ended = alice.end(started.session)
    assert not ended.queued and ended.message.startswith("Session ended.")
    with pytest.raises(OutboxError, match="cannot take the outbox's lock"):
        alice.sync()
    assert alice.pending_count() == 1  # bob's START still waits for a login that can send it
