"""The Admin tab's line about a pending session's files: what NexusLIMS would find, and so
whether it will build a record or mark the session NO_FILES_FOUND.

Shown in the detail panel for the selected TO_BE_BUILT session when a data root is set on
this PC (``data_root``, NexusLIMS's ``NX_INSTRUMENT_DATA_PATH``). The folder is read on the
panel's own :class:`~nexus_logger.gui.file_scans.FileScanner` thread, never on the database
worker, so the list and its queries never wait for a share.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from nexus_logger.core.db.models import Instrument
from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.files.filestore import FileReport, Outcome, report_for_settings
from nexus_logger.core.staff import summaries
from nexus_logger.gui.file_scans import FileScanner

_RED = "color: #b3261e;"


class FilesPanel(QLabel):
    """One word-wrapped line under the detail title; hidden when there is nothing to say."""

    def __init__(
        self, settings: Any, parent: QWidget | None = None, *, hide_names: bool = False
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        #: Viewers who may not see who used an instrument do not see file paths either.
        self.hide_names = hide_names
        self.instruments: dict[str, Instrument] = {}
        self.scanner = FileScanner(self)
        self.report: FileReport | None = None
        self._key: tuple[str, datetime, datetime] | None = None
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setVisible(False)

    @property
    def enabled(self) -> bool:
        """True when this PC has a data root to look in."""
        return bool(str(getattr(self.settings, "data_root", "") or "").strip())

    def clear(self) -> None:
        """No session shown."""
        self._key, self.report = None, None
        self.setText("")
        self.setVisible(False)

    def show_session(self, events: list[summaries.SessionEvent]) -> None:
        """Count the files of the session whose rows are ``events`` if it is pending."""
        start = next((e for e in events if e.event_type == EventType.START.value), None)
        # NexusLIMS builds with the END row written last (the highest id) when there are more.
        ends = [e for e in events if e.event_type == EventType.END.value]
        end = max(ends, key=lambda e: e.id_session_log, default=None)
        pending = start is not None and start.record_status == RecordStatus.TO_BE_BUILT.value
        inst = self.instruments.get(start.instrument) if start is not None else None
        if not (self.enabled and pending and end and inst and start.timestamp and end.timestamp):
            self.clear()
            return
        key = (start.session_identifier, start.timestamp, end.timestamp)
        if key == self._key:
            return  # already counted (or being counted) for this session and these times
        self._key, self.report = key, None
        self.setStyleSheet("")
        self.setText("Counting the files NexusLIMS would find\u2026")
        self.setVisible(True)
        count = functools.partial(
            report_for_settings,
            self.settings,
            inst.filestore_path,
            start.timestamp,
            end.timestamp,
            cancel=lambda: self._key != key,  # another session selected: stop counting this one
        )
        self.scanner.submit(count, on_done=lambda result: self._counted(key, inst.timezone, result))

    def recount(self) -> None:
        """Count again on the next :meth:`show_session` (the auto-refresh)."""
        self._key = None

    def _counted(self, key: tuple[str, datetime, datetime], zone: str, result: Any) -> None:
        if key != self._key:
            return  # another session was selected meanwhile
        if isinstance(result, BaseException):
            self.setText(f"The files could not be counted: {result}")
            return
        self.report = result
        if result.tally is None:  # the data root cannot be reached from this PC
            self.setText(result.problem)
            return
        self.setText(
            f"Files NexusLIMS would find: {result.files_text(zone, names=not self.hide_names)}. "
            f"Predicted: {result.outcome_text(zone=zone)}"
        )
        self.setStyleSheet(_RED if result.outcome() is Outcome.NO_FILES_FOUND else "")
