"""Which files NexusLIMS 2.8's record builder takes for a session: its rules, restated.

NexusLIMS finds a session's files with GNU ``find`` (``nexusLIMS.utils.files.
gnu_find_files_by_mtime``, called by ``record_builder.get_files``), so the rules here are those
of that command line, read in the installed ``nexuslims`` 2.8.0 package:

* the folder is ``NX_INSTRUMENT_DATA_PATH / filestore_path``, a leading ``/`` of
  ``filestore_path`` stripped (``utils.paths.join_instrument_filestore_path``); a folder that
  does not exist has no files;
* ``-type f -newermt START -not -newermt END``: regular files whose modification time is
  strictly after START and at or before END (absolute instants: both are ISO-8601 with an
  offset, so the instrument's time zone and a DST change do not matter);
* ``NX_FILE_STRATEGY``: ``exclusive`` (default) keeps only names ending in an extension that
  has a specialised extractor (``-iname '*.EXT'``, case-insensitive), ``inclusive`` keeps
  every file; any other value counts as ``exclusive`` (NexusLIMS logs a warning);
* ``NX_IGNORE_PATTERNS``: ``-not -iname PATTERN`` for each glob, on the file name;
* ``-H`` with a first ``find -type l -xtype d``: if the folder holds symbolic links to
  folders (at any depth), only those linked folders are searched, not the folder itself;
  links met below a searched folder are not followed.

``NX_FILE_DELAY_DAYS`` is not a file rule but decides the outcome: a session without files is
marked ``NO_FILES_FOUND`` only once its END is that long ago (before, the build run tries again).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: Extensions with a specialised extractor in NexusLIMS 2.8.0 (``extractors/plugins``: the
#: ``supported_extensions`` of every extractor whose priority is above the fallback's 0).
#: ``tests/test_filestore_nexuslims.py`` reads them from the installed package.
EXCLUSIVE_EXTENSIONS: tuple[str, ...] = ("dm3", "dm4", "h5", "msa", "ser", "spc", "tif", "tiff")
#: NexusLIMS 2.8's default ``NX_IGNORE_PATTERNS``.
DEFAULT_IGNORE_PATTERNS: tuple[str, ...] = ("*.mib", "*.db", "*.emi", "*.hdr")
#: NexusLIMS 2.8's default ``NX_FILE_DELAY_DAYS``.
DEFAULT_DELAY_DAYS = 2.0
STRATEGIES = ("exclusive", "inclusive")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FileRules:
    """The NexusLIMS settings that decide which files a record takes (see the module text)."""

    strategy: str = "exclusive"
    ignore_patterns: tuple[str, ...] = DEFAULT_IGNORE_PATTERNS
    extensions: tuple[str, ...] = EXCLUSIVE_EXTENSIONS
    delay_days: float = DEFAULT_DELAY_DAYS

    def __post_init__(self) -> None:
        # Compiled once: the scan asks for every file of a folder of 100,000.
        object.__setattr__(self, "_ignore", _compile(self.ignore_patterns))
        object.__setattr__(self, "_suffixes", tuple("." + e.lower() for e in self.extensions))

    @property
    def exclusive(self) -> bool:
        """True unless the strategy is ``inclusive`` (NexusLIMS's fallback is exclusive)."""
        return self.strategy.strip().lower() != "inclusive"

    def takes(self, name: str) -> bool:
        """Would NexusLIMS take a regular file called ``name`` (its time aside)?"""
        low = name.lower()
        if self.exclusive and not low.endswith(self._suffixes):  # type: ignore[attr-defined]
            return False
        return not (self._ignore and self._ignore.match(low))  # type: ignore[attr-defined]

    @classmethod
    def from_settings(cls, settings: Any) -> FileRules:
        """The rules of nexus-logger's settings (``file_strategy``, ``ignore_patterns``, ...)."""
        return cls(
            strategy=str(settings.file_strategy),
            ignore_patterns=tuple(settings.ignore_patterns),
            delay_days=float(settings.file_delay_days),
        )


def _compile(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regular expression for all ``-iname`` globs (matched on the lower-cased name)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns), re.S)


def session_folder(data_root: str | Path, filestore_path: str) -> Path:
    """``NX_INSTRUMENT_DATA_PATH / filestore_path`` as NexusLIMS joins them."""
    return Path(data_root) / (filestore_path or "").lstrip("/")


def ns_since_epoch(moment: datetime) -> int:
    """An aware datetime as whole nanoseconds since the epoch (``st_mtime_ns``'s scale)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def in_window(mtime_ns: int, start_ns: int, end_ns: int) -> bool:
    """``find -newermt START -not -newermt END``: after START, at or before END."""
    return start_ns < mtime_ns <= end_ns
