"""Which files NexusLIMS would take: real folders, real files, modification times set with utime.

The rules are checked against NexusLIMS's own search in tests/test_filestore_nexuslims.py; these
tests pin each rule on its own, with instruments in several zones and across DST changes.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nexus_logger.core.files.filestore import (
    NO_FILES_SENTENCE,
    FileReport,
    Outcome,
    data_root_problem,
    moment_text,
    session_files,
    size_text,
)
from nexus_logger.core.files.filestore_rules import FileRules, session_folder
from nexus_logger.core.files.filestore_scan import ScanLimits, scan, scan_windows

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
INCLUSIVE = FileRules(strategy="inclusive")


def put(path: Path, modified: datetime, size: int = 10) -> Path:
    """A real file of ``size`` bytes whose modification time is ``modified``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, ns=(int(modified.timestamp() * 1e9),) * 2)
    return path


def test_times_are_after_start_and_up_to_end_exactly(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 5, 31, tzinfo=NEW_YORK)
    end = start + timedelta(minutes=49)
    put(tmp_path / "at-start.dm3", start)  # find -newermt START: strictly after
    put(tmp_path / "just-after-start.dm3", start + timedelta(microseconds=1))
    put(tmp_path / "at-end.dm3", end)  # -not -newermt END: at END counts
    put(tmp_path / "after-end.dm3", end + timedelta(seconds=1))
    put(tmp_path / "before.dm3", start - timedelta(hours=1))
    tally = scan(tmp_path, start, end, FileRules())
    assert (tally.count, tally.total_bytes, tally.complete) == (2, 20, True)
    assert tally.newest_path == "at-end.dm3"
    assert tally.newest_mtime == end.astimezone(UTC)


def test_exclusive_takes_only_extractor_extensions_and_ignore_patterns_always_apply(
    tmp_path: Path,
) -> None:
    start = datetime(2025, 6, 2, 9, 0, tzinfo=BERLIN)
    inside = start + timedelta(minutes=5)
    for name in ("a.dm3", "b.DM4", "c.tif", "d.TIFF", "e.ser", "f.h5", "g.msa", "h.spc"):
        put(tmp_path / "deep" / "er" / name, inside)
    for name in ("notes.txt", "image.png", "a.tif.bak", "noext"):
        put(tmp_path / name, inside)
    for name in ("frames.MIB", "scan.emi", "x.hdr", "cache.db"):
        put(tmp_path / name, inside)
    end = start + timedelta(hours=1)
    assert scan(tmp_path, start, end, FileRules()).count == 8
    assert scan(tmp_path, start, end, INCLUSIVE).count == 12  # 8 + 4, never the ignored 4
    # Any other strategy counts as exclusive (NexusLIMS warns and falls back).
    assert scan(tmp_path, start, end, FileRules(strategy="everything")).count == 8
    custom = FileRules(strategy="inclusive", ignore_patterns=("*.TXT", "image.*"))
    assert scan(tmp_path, start, end, custom).count == 8 + 2 + 4  # the .mib etc. now count


def test_time_zones_do_not_matter_only_instants(tmp_path: Path) -> None:
    # 14:00 in Berlin is 08:00 in New York: one instant, whatever zone each side is given in.
    moment = datetime(2025, 1, 6, 14, 0, tzinfo=BERLIN)
    put(tmp_path / "a.dm3", moment)
    start_ny = datetime(2025, 1, 6, 7, 59, tzinfo=NEW_YORK)
    end_ny = datetime(2025, 1, 6, 8, 0, tzinfo=NEW_YORK)
    assert scan(tmp_path, start_ny, end_ny, FileRules()).count == 1
    assert scan(tmp_path, start_ny, end_ny - timedelta(seconds=1), FileRules()).count == 0
    assert scan(tmp_path, start_ny.astimezone(UTC), end_ny.astimezone(BERLIN), FileRules()).count


def test_a_session_across_the_autumn_dst_change(tmp_path: Path) -> None:
    # New York, 2 Nov 2025: 01:00-02:00 happens twice (EDT, then EST).
    start = datetime(2025, 11, 2, 0, 50, tzinfo=NEW_YORK)
    end = datetime(2025, 11, 2, 1, 40, fold=1, tzinfo=NEW_YORK)  # the second 01:40 (EST)
    assert (end.astimezone(UTC) - start).total_seconds() == 110 * 60
    put(tmp_path / "first-0145.dm3", datetime(2025, 11, 2, 1, 45, tzinfo=NEW_YORK))  # EDT
    put(tmp_path / "second-0130.dm3", datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=NEW_YORK))
    put(tmp_path / "second-0145.dm3", datetime(2025, 11, 2, 1, 45, fold=1, tzinfo=NEW_YORK))
    tally = scan(tmp_path, start, end, FileRules())
    # By the wall clock 01:45 is after 01:40; as an instant the first 01:45 is inside.
    assert tally.count == 2
    assert tally.newest_path == "second-0130.dm3"
    assert moment_text(tally.newest_mtime, "America/New_York") == "2025-11-02 01:30:00 EST"


def test_a_session_across_the_spring_dst_change(tmp_path: Path) -> None:
    # Berlin, 30 Mar 2025: 02:00-03:00 does not exist; the session lasts one hour, not two.
    start = datetime(2025, 3, 30, 1, 30, tzinfo=BERLIN)
    end = datetime(2025, 3, 30, 3, 30, tzinfo=BERLIN)
    assert (end.astimezone(UTC) - start).total_seconds() == 3600
    put(tmp_path / "a.tif", datetime(2025, 3, 30, 1, 59, tzinfo=BERLIN))
    put(tmp_path / "b.tif", datetime(2025, 3, 30, 3, 1, tzinfo=BERLIN))
    put(tmp_path / "c.tif", datetime(2025, 3, 30, 3, 31, tzinfo=BERLIN))
    tally = scan(tmp_path, start, end, FileRules())
    assert (tally.count, tally.newest_path) == (2, "b.tif")
    assert moment_text(tally.newest_mtime, "Europe/Berlin") == "2025-03-30 03:01:00 CEST"


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need rights on Windows")
def test_links_to_folders_are_searched_instead_of_the_folder(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    inside = start + timedelta(minutes=1)
    folder = tmp_path / "TEM"
    put(folder / "direct.dm3", inside)
    elsewhere = tmp_path / "elsewhere"
    put(elsewhere / "linked.dm3", inside)
    put(elsewhere / "sub" / "deeper.dm3", inside)
    end = start + timedelta(hours=1)
    assert scan(folder, start, end, FileRules()).count == 1
    (folder / "day1").symlink_to(elsewhere, target_is_directory=True)
    (folder / "file-link.dm3").symlink_to(elsewhere / "linked.dm3")
    # As NexusLIMS: only the linked folder is searched ("direct.dm3" is not), and a link to
    # a file is never a regular file.
    tally = scan(folder, start, end, FileRules())
    assert tally.count == 2
    assert tally.newest_path in {"day1/linked.dm3", "day1/sub/deeper.dm3"}


def test_a_file_gone_between_listing_and_stat_loses_nothing_else(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    for name in ("a.dm3", "b.dm3", "c.dm3"):
        put(tmp_path / "TEM" / name, start + timedelta(minutes=1))
    real_scandir = os.scandir

    def scandir_listing_a_vanished_file(path):  # a temporary file renamed away meanwhile
        listing = real_scandir(path)
        entries = list(listing)
        listing.close()
        (tmp_path / "TEM" / "b.dm3").unlink(missing_ok=True)
        return _Listing(entries)

    monkeypatch.setattr(os, "scandir", scandir_listing_a_vanished_file)
    tally = scan(tmp_path / "TEM", start, start + timedelta(hours=1), FileRules())
    assert (tally.count, tally.unreadable, tally.complete) == (2, 0, True)


class _Listing(list):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_the_scan_is_bounded_and_says_at_least(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    for i in range(3000):
        put(tmp_path / f"d{i % 7}" / f"f{i}.dm3", start + timedelta(seconds=1 + i))
    end = start + timedelta(hours=2)
    full = scan(tmp_path, start, end, FileRules())
    assert (full.count, full.complete) == (3000, True)
    part = scan(tmp_path, start, end, FileRules(), ScanLimits(max_entries=1024))
    assert not part.complete and 0 < part.count < 3000
    report = session_files(
        str(tmp_path.parent),
        FileRules(),
        tmp_path.name,
        start,
        end,
        limits=ScanLimits(max_entries=1024),
    )
    assert report.files_text().startswith(f"at least {part.count:,} files")
    assert report.outcome() is Outcome.FILES_FOUND
    stopped = scan(tmp_path, start, end, FileRules(), cancel=lambda: True)
    assert not stopped.complete and stopped.entries <= 512


def test_no_files_is_predicted_only_from_a_whole_scan(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=NEW_YORK)
    end = start + timedelta(hours=1)
    (tmp_path / "TEM").mkdir()
    for i in range(2000):
        put(tmp_path / "TEM" / f"old{i}.dm3", start - timedelta(days=1))
    report = session_files(str(tmp_path), FileRules(), "/TEM", start, end)
    assert report.folder == tmp_path / "TEM"  # the leading "/" is stripped, as NexusLIMS does
    assert report.outcome() is Outcome.NO_FILES_FOUND
    assert report.outcome_text(now=end + timedelta(days=3)) == NO_FILES_SENTENCE + "."
    soon = report.outcome_text(now=end + timedelta(hours=1), zone="America/New_York")
    assert soon == (
        f"{NO_FILES_SENTENCE} unless files appear before 2025-01-08 09:00:00 EST "
        "(NX_FILE_DELAY_DAYS)."
    )
    partial = session_files(
        str(tmp_path), FileRules(), "TEM", start, end, limits=ScanLimits(max_entries=600)
    )
    assert partial.outcome() is Outcome.UNKNOWN  # none among the first 600 proves nothing
    # A folder that does not exist has no files (NexusLIMS returns an empty list).
    missing = session_files(str(tmp_path), FileRules(), "SEM", start, end)
    assert missing.outcome() is Outcome.NO_FILES_FOUND
    assert "does not exist" in missing.files_text()


def test_an_unreachable_data_root_predicts_nothing(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    for root, words in (
        ("", "no data root is set"),
        (str(tmp_path / "share-down"), "cannot be reached"),
        (str(put(tmp_path / "a-file", start)), "cannot be reached"),
    ):
        report = session_files(root, FileRules(), "TEM", start, start + timedelta(hours=1))
        assert not report.counted and report.outcome() is Outcome.UNKNOWN
        assert words in report.files_text() and words in data_root_problem(root)
        assert report.as_dict()["predicted"] == "UNKNOWN"


def test_report_texts_and_json(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=NEW_YORK)
    put(tmp_path / "TEM" / "run" / "a.dm3", start + timedelta(minutes=1), size=2_500_000)
    put(tmp_path / "TEM" / "b.ser", start + timedelta(minutes=2), size=1_000_000)
    report = session_files(str(tmp_path), FileRules(), "TEM", start, start + timedelta(hours=1))
    assert report.files_text("America/New_York") == (
        "2 files, 3.5 MB; newest: b.ser at 2025-01-06 08:02:00 EST"
    )
    data = report.as_dict(zone="America/New_York")
    assert (data["files"], data["total_bytes"], data["predicted"]) == (2, 3_500_000, "FILES_FOUND")
    assert data["newest_mtime"] == "2025-01-06T13:02:00+00:00"
    assert [size_text(n) for n in (1, 999, 1000, 1_234_567, 5 * 10**12)] == [
        "1 byte",
        "999 bytes",
        "1.0 kB",
        "1.2 MB",
        "5.0 TB",
    ]
    assert session_folder("Z:/data", "/Titan") == Path("Z:/data/Titan")


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need rights on Windows")
def test_a_scan_cut_short_after_finding_links_predicts_nothing(tmp_path: Path) -> None:
    start = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    folder = tmp_path / "TEM"
    (tmp_path / "elsewhere").mkdir()
    for i in range(1200):  # beside the link: NexusLIMS would search only the link
        put(folder / "z" / f"f{i:04}.dm3", start + timedelta(minutes=1))
    (folder / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    whole = scan(folder, start, end, FileRules())
    assert (whole.count, whole.complete) == (0, True)  # the linked folder is empty
    cut = scan(folder, start, end, FileRules(), ScanLimits(max_entries=600))
    assert (cut.count, cut.complete) == (0, False)  # not the ~500 files beside the link
    report = FileReport(start, end, str(tmp_path), folder, cut)
    assert report.outcome() is Outcome.UNKNOWN


def test_one_walk_for_many_sessions_counts_as_one_walk_each(tmp_path: Path) -> None:
    """``check`` walks each instrument's folder once for all its pending sessions: each
    session's count is what its own walk finds, with windows that touch, overlap, hold
    nothing, or are given out of order."""
    day = datetime(2025, 3, 3, 8, 0, tzinfo=NEW_YORK)
    for minute in range(0, 300, 7):
        put(tmp_path / f"run{minute // 60}" / f"f{minute}.dm3", day + timedelta(minutes=minute))
    put(tmp_path / "ignored.emi", day + timedelta(minutes=30))
    windows = [
        (day + timedelta(minutes=120), day + timedelta(minutes=180)),
        (day, day + timedelta(minutes=60)),
        (day + timedelta(minutes=60), day + timedelta(minutes=120)),  # touches the one before
        (day + timedelta(minutes=30), day + timedelta(minutes=150)),  # overlaps three
        (day + timedelta(hours=10), day + timedelta(hours=11)),  # nothing
        (day - timedelta(hours=1), day),  # ends at a file's time: it counts
    ]
    together = scan_windows(tmp_path, windows, FileRules())
    alone = [scan(tmp_path, start, end, FileRules()) for start, end in windows]
    key = lambda t: (t.count, t.total_bytes, t.newest_path, t.newest_mtime, t.complete)  # noqa: E731
    assert [key(t) for t in together] == [key(t) for t in alone]
    assert [t.count for t in together] == [8, 8, 9, 17, 0, 1]


def test_one_long_session_among_many_keeps_the_walk_a_single_pass(tmp_path: Path) -> None:
    """A session left open for days, ended now, spans every other pending session: matching
    each file against the windows one by one made the walk files x sessions, cut short by its
    time limit, and every session of the folder became "at least N" (the review's case)."""
    day = datetime(2025, 3, 3, 0, 0, tzinfo=UTC)
    for i in range(5000):
        put(tmp_path / f"d{i // 500}" / f"f{i}.dm3", day + timedelta(minutes=i), size=1)
    windows = [(day + timedelta(minutes=k), day + timedelta(minutes=k + 5)) for k in range(5000)]
    windows.append((day - timedelta(days=1), day + timedelta(days=30)))  # the long one
    tallies = scan_windows(tmp_path, windows, FileRules(), ScanLimits(max_seconds=1.0))
    assert all(t.complete for t in tallies)
    assert tallies[-1].count == 5000
    assert [t.count for t in tallies[:4995]] == [5] * 4995  # minutes k+1 .. k+5
