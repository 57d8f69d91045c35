"""The instrument-PC window: start a session at launch, show it while it runs, end it.

All database work goes to the one :class:`~nexus_logger.gui.worker.DbWorker` through
:mod:`nexus_logger.gui.jobs` and :class:`~nexus_logger.core.durable.DurableLogger`, so a
locked file or a slow server never freezes the window: the steps and buttons keep reacting
while a job waits. The running session's files are counted on a thread of their own
(:mod:`nexus_logger.gui.session_files`). The questions the window may ask are the methods
:meth:`MainWindow.ask_resume_choice`, :meth:`MainWindow.ask_close_choice` and
:meth:`MainWindow.ask_end_without_files`; tests replace them, so no test waits on a modal
dialog.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QGuiApplication, QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core.config import NOT_SET_UP, NotSetUp
from nexus_logger.core.errors import NexusLoggerError
from nexus_logger.core.filestore import FileReport, Outcome
from nexus_logger.gui import jobs, text, theme
from nexus_logger.gui.dialogs import (
    CloseChoice,
    CloseDialog,
    ResumeAction,
    ResumeChoice,
    ResumeDialog,
)
from nexus_logger.gui.file_scans import FileScanner
from nexus_logger.gui.icons import app_icon
from nexus_logger.gui.no_files_dialog import EndChoice, NoFilesDialog
from nexus_logger.gui.owner_dialog import OtherUserDialog, same_user
from nexus_logger.gui.pages import EndedPage, SessionPage, Step, StepsPage, StepState, SyncIndicator
from nexus_logger.gui.session_files import SessionFilesWatch, files_line
from nexus_logger.gui.worker import DbWorker, JobError

if TYPE_CHECKING:
    from nexus_logger.core.config import Settings
    from nexus_logger.core.durable import EndOutcome, StartOutcome
    from nexus_logger.core.lifecycle import OpenSession
    from nexus_logger.core.models import Instrument

_logger = logging.getLogger(__name__)

#: The window's title; the demo and an unconfigured PC add to it.
TITLE = "NexusLIMS session logger"
#: The banner over every page while the demo database is in use.
DEMO_BANNER = "DEMO: this window uses a local demo database. Sessions are not sent to NexusLIMS."

#: How often the status line re-checks the database and sends waiting events (ms).
SYNC_INTERVAL_MS = 30_000
#: The longest End waits for the session's files to be counted before it ends anyway (ms).
END_CHECK_TIMEOUT_MS = 8_000
#: The ended page's sentence after "End anyway" (instead of the promise of a record).
ENDED_WITHOUT_FILES = (
    "Session ended. NexusLIMS will find no files for it: it will be marked NO_FILES_FOUND."
)


class Phase(enum.Enum):
    """Where the window is in a session's life."""

    STARTING = "starting"
    FAILED = "failed"
    RUNNING = "running"
    ENDING = "ending"
    ENDED = "ended"


class MainWindow(QMainWindow):
    """Session tab (steps, running session, end) and the Admin tab."""

    #: The session is running (True: only kept on this PC); for bench/bench_startup.py.
    session_started = Signal(bool)

    def __init__(
        self,
        worker: DbWorker,
        settings_loader: Callable[[], Settings],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self._settings_loader = settings_loader
        self.settings: Settings | None = None
        self.phase = Phase.STARTING
        self.connected: jobs.Connected | None = None
        self.instrument: Instrument | None = None
        self.session: OpenSession | None = None
        self.session_queued = False
        self.end_outcome: EndOutcome | None = None
        self.paused = False  # "Keep it open and close": the session stays open on purpose
        self._closing = False  # closing without asking (after End, at logoff)
        self._generation = 0
        self._inflight: set[str] = set()
        self._note_pending: str | None = None
        self._log_window: QWidget | None = None
        self._admin_tab: QWidget | None = None
        self._countdown_left = 0
        self._end_check: datetime | None = None  # the End click whose files are counted

        self.setWindowTitle(TITLE)
        self.setWindowIcon(app_icon())
        self.resize(760, 640)
        self.setMinimumSize(560, 480)
        self._build()

        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._update_elapsed)
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._count_down)
        self._heartbeat_timer = QTimer(self)
        self._heartbeat_timer.timeout.connect(self.send_heartbeat)
        self._sync_timer = QTimer(self)
        self._sync_timer.setInterval(SYNC_INTERVAL_MS)
        self._sync_timer.timeout.connect(self.refresh_sync_state)
        self.file_scanner = FileScanner(self)
        self.files_watch = SessionFilesWatch(self.file_scanner, self)
        self.files_watch.updated.connect(self._show_files)

    # -- layout -------------------------------------------------------------------------

    def _build(self) -> None:
        self.steps_page = StepsPage()
        self.session_page = SessionPage()
        self.ended_page = EndedPage()
        self.pages = QStackedWidget()
        for page in (self.steps_page, self.session_page, self.ended_page):
            self.pages.addWidget(page)
        self.sync_indicator = SyncIndicator()
        self.log_button = QPushButton("Show debug &log")
        theme.set_font(self.log_button, theme.BASE_PT)
        self.log_button.setToolTip("The program's log, to copy or save for support (Ctrl+L)")
        footer = QHBoxLayout()
        footer.addWidget(self.sync_indicator, 1)
        footer.addWidget(self.log_button)

        session_tab = QWidget()
        layout = QVBoxLayout(session_tab)
        layout.setContentsMargins(24, 20, 24, 14)
        layout.addWidget(self.pages, 1)
        layout.addLayout(footer)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        theme.set_font(self.tabs.tabBar(), theme.BASE_PT)
        self.tabs.addTab(session_tab, "Session")
        self._admin_placeholder = QLabel("Loading the admin view\u2026")
        self._admin_placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._admin_placeholder.setWordWrap(True)
        self.tabs.addTab(self._admin_placeholder, "Admin")
        # Hidden until the settings say who may see it (it lists everyone's sessions).
        self.tabs.setTabVisible(self.tabs.indexOf(self._admin_placeholder), False)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        # Above the tabs, so it is on every page: the demo must never pass for production.
        self.demo_banner = QLabel(DEMO_BANNER)
        self.demo_banner.setWordWrap(True)
        self.demo_banner.setAlignment(Qt.AlignmentFlag.AlignCenter)
        theme.set_font(self.demo_banner, theme.BASE_PT, bold=True)
        self.demo_banner.setStyleSheet(
            f"background: {theme.AMBER}; color: white; padding: 6px 12px;"
        )
        self.demo_banner.hide()
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        outer.addWidget(self.demo_banner)
        outer.addWidget(self.tabs, 1)
        self.setCentralWidget(central)

        self.steps_page.retry_requested.connect(self.start)
        self.steps_page.log_requested.connect(self.show_log)
        self.session_page.end_requested.connect(self.end_session)
        self.session_page.note_edited.connect(self.save_note)
        self.ended_page.keep_open_requested.connect(self.keep_window_open)
        self.ended_page.new_session_requested.connect(self.start)
        self.ended_page.close_requested.connect(self.close)
        self.log_button.clicked.connect(self.show_log)

        self.end_shortcut = QShortcut(QKeySequence("Ctrl+E"), self)
        self.end_shortcut.activated.connect(self.end_session)
        # A line edit takes Ctrl+E for itself (end of line, on X11): in the note field, where
        # the user is after typing a note, it must still end the session.
        self.session_page.note_edit.installEventFilter(self)
        QShortcut(QKeySequence("Ctrl+L"), self).activated.connect(self.show_log)
        QShortcut(QKeySequence("F5"), self).activated.connect(self._retry_if_failed)

    # -- start-up steps -------------------------------------------------------------------

    def start(self) -> None:
        """Run the start-up steps: connect, identify, check for an open session, start."""
        if self.phase in (Phase.RUNNING, Phase.ENDING):
            return
        self._countdown.stop()
        self.files_watch.stop()
        self._generation += 1
        self.session = None
        self.end_outcome = None
        self.paused = False
        self._set_phase(Phase.STARTING)
        self.steps_page.reset()
        self.pages.setCurrentWidget(self.steps_page)
        try:
            self.settings = self._settings_loader()
        except NexusLoggerError as err:
            self._fail(Step.CONNECT, str(err))
            return
        self._show_demo(self.settings.uses_demo)
        self._show_admin_tab_only_to_whom_it_may_concern()
        if not self.settings.set_up:
            self._show_not_set_up()
            return
        self._heartbeat_timer.setInterval(int(self.settings.heartbeat_seconds) * 1000)
        self.steps_page.set_step(Step.CONNECT, StepState.ACTIVE)
        self._submit_step(Step.CONNECT, jobs.connect, self.settings, on_done=self._on_connected)

    def _submit_step(
        self,
        step: Step,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None],
        **kw: Any,
    ) -> None:
        generation = self._generation

        def done(result: Any) -> None:
            if generation == self._generation:
                on_done(result)

        def failed(error: JobError) -> None:
            if generation == self._generation:
                self._fail(step, error.message, error.exception)

        self.worker.submit(fn, *args, on_done=done, on_error=failed, **kw)

    def _fail(self, step: Step, message: str, error: BaseException | None = None) -> None:
        _logger.warning("Start-up step '%s' failed: %s", step.value, message)
        self.steps_page.set_step(step, StepState.FAILED)
        contact = str(getattr(self.settings, "facility_contact", "") or "")
        self.steps_page.show_error(message, contact)
        self._set_phase(Phase.FAILED)
        if self.settings is not None:
            # The doctor's checks say which part of the set-up is at fault and what to do.
            generation = self._generation

            def show(diagnosis: str | None) -> None:
                if generation == self._generation and diagnosis:
                    self.steps_page.show_diagnosis(diagnosis)

            self.worker.submit(jobs.diagnose, self.settings, error, on_done=show)

    def _retry_if_failed(self) -> None:
        if self.phase is Phase.FAILED:
            self.start()

    def _on_connected(self, connected: jobs.Connected) -> None:
        self.connected = connected
        if connected.online:
            self.steps_page.set_step(Step.CONNECT, StepState.DONE, connected.database)
        else:
            self.steps_page.set_step(
                Step.CONNECT,
                StepState.WARNING,
                # No promise yet: whether this PC can keep the session depends on whether it
                # knows its instrument (the next step says which).
                "The database cannot be reached right now.",
            )
        self.sync_indicator.set_state(connected.online, connected.pending)
        self.steps_page.set_step(Step.IDENTIFY, StepState.ACTIVE)
        assert self.settings is not None
        self._submit_step(
            Step.IDENTIFY,
            connected.logger.identify,
            instrument=self.settings.instrument or None,
            on_done=self._on_identified,
        )

    def _on_identified(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.steps_page.set_step(
            Step.IDENTIFY,
            StepState.DONE,
            f"{instrument.display_name} ({instrument.instrument_pid})",
        )
        self.steps_page.set_step(Step.CHECK, StepState.ACTIVE)
        assert self.connected is not None
        self._submit_step(
            Step.CHECK,
            self.connected.logger.find_open,
            instrument.instrument_pid,
            on_done=self._on_checked,
        )

    def _on_checked(self, open_session: OpenSession | None) -> None:
        assert self.connected is not None and self.instrument is not None
        logger = self.connected.logger
        if open_session is None:
            self.steps_page.set_step(Step.CHECK, StepState.DONE, "No open session.")
            self.steps_page.set_step(Step.START, StepState.ACTIVE)
            self._submit_step(
                Step.START,
                logger.start,
                instrument=self.instrument,
                user=self.connected.user,
                confirm=False,  # confirmed below, once the window shows it
                on_done=self._on_started,
            )
            return
        self.steps_page.set_step(
            Step.CHECK,
            StepState.DONE,
            f"Open session found: {open_session.user or 'unknown user'}, "
            f"since {text.when(open_session.started)}.",
        )
        others = not same_user(open_session.user, self.connected.user)
        choice = self.ask_resume_choice(open_session)
        if choice is None and others:
            # Never go on under another person's name without a choice that says so.
            self._fail(
                Step.CHECK,
                f"No choice was made about the open session of {open_session.user}. "
                "Press F5 to be asked again.",
            )
            return
        choice = choice or ResumeChoice(ResumeAction.CONTINUE)
        _logger.info(
            "Open session %s of %s found by %s; chose %s",
            open_session.session_identifier,
            open_session.user,
            self.connected.user,
            choice,
        )
        if others and choice.action is ResumeAction.NEW:
            _logger.warning(
                "Ending session %s of user %s (started %s, last heartbeat %s) at %s: "
                "%s found it open at launch and starts a session of their own",
                open_session.session_identifier,
                open_session.user,
                open_session.start_text,
                open_session.last_heartbeat.isoformat() if open_session.last_heartbeat else None,
                choice.end_at.isoformat() if choice.end_at else "now",
                self.connected.user,
            )
        elif others:
            _logger.warning(
                "%s continues session %s under the name of %s (explicit choice)",
                self.connected.user,
                open_session.session_identifier,
                open_session.user,
            )
        if choice.action is ResumeAction.CONTINUE:
            self.steps_page.set_step(Step.START, StepState.DONE, "Continuing the open session.")
            self._show_running(
                open_session,
                # Events of this PC still waiting: the database may not have this START yet.
                queued=self.sync_indicator.pending > 0,
                message=f"Continuing the open session of {open_session.user or 'an unknown user'}"
                f" (started {text.when(open_session.started)}).",
            )
            return
        end_at = choice.end_at or text.now_like(open_session.started)
        self.steps_page.set_step(
            Step.START,
            StepState.ACTIVE,
            f"Ending the open session at {end_at:%H:%M} and starting a new one.",
        )
        self._submit_step(
            Step.START,
            logger.replace,
            open_session,
            end_at=end_at,
            user=self.connected.user,
            on_done=self._on_started,
        )

    def _on_started(self, outcome: StartOutcome) -> None:
        if not outcome.created:
            # Another session was opened between the check and the start (another PC, a
            # second window): the database refused ours. Ask about that session, as at launch.
            self._on_checked(outcome.session)
            return
        state = StepState.WARNING if outcome.queued else StepState.DONE
        message = outcome.message
        kept = outcome.session.kept_since
        if outcome.queued and kept is not None:
            message = (
                f"The database cannot be reached: the session start is saved on this PC "
                f"(waiting since {kept:%H:%M}) and will be sent when the database answers."
            )
        self.steps_page.set_step(Step.START, state, message)
        self._show_running(outcome.session, queued=outcome.queued, message=message)
        if outcome.event_id is not None and self.connected is not None:
            # Shown to the user now: the START kept on this PC counts (see DurableLogger.confirm).
            self.worker.submit(self.connected.logger.confirm, outcome)
        if not outcome.queued and self.connected is not None:
            self.worker.submit(
                jobs.report_pc,
                self.connected.logger,
                outcome.session.instrument.instrument_pid,
                outcome.session.session_identifier,
            )
        self.session_started.emit(outcome.queued)

    # -- the running session --------------------------------------------------------------

    def _show_running(self, session: OpenSession, *, queued: bool, message: str) -> None:
        self.session = session
        self.session_queued = queued
        self._note_pending = None
        self.session_page.show_session(session, queued=queued)
        self.session_page.set_message(message)
        self.pages.setCurrentWidget(self.session_page)
        self._set_phase(Phase.RUNNING)
        self._clock.start()
        self._heartbeat_timer.start()
        self._sync_timer.start()
        # Demo sessions never reach NexusLIMS: what it would take (or not) means nothing there.
        if self.settings is not None and not self.settings.uses_demo:
            self.files_watch.start(self.settings, session)
        self.session_page.end_button.setFocus()
        self.send_heartbeat()
        self.refresh_sync_state()

    def _show_files(self, report: FileReport) -> None:
        if self.session is None or self.phase is not Phase.RUNNING:
            return
        empty = report.tally is not None and report.tally.count == 0 and report.tally.complete
        self.session_page.set_files(
            files_line(report, self.session.instrument.timezone), empty=empty
        )

    def _update_elapsed(self) -> None:
        if self.session is not None and self.phase in (Phase.RUNNING, Phase.ENDING):
            seconds = (text.now_like(self.session.started) - self.session.started).total_seconds()
            self.session_page.set_elapsed(seconds)

    def _submit_once(
        self,
        key: str,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[JobError], None] | None = None,
    ) -> bool:
        """Queue a background job unless the same kind is still waiting (a slow database
        must not pile up heartbeats behind each other)."""
        if key in self._inflight:
            return False
        self._inflight.add(key)

        def done(result: Any) -> None:
            self._inflight.discard(key)
            if on_done is not None:
                on_done(result)

        def failed(error: JobError) -> None:
            self._inflight.discard(key)
            if on_error is not None:
                on_error(error)
            else:
                _logger.info("Background job %s failed: %s", key, error.message)

        self.worker.submit(fn, *args, on_done=done, on_error=failed)
        return True

    def send_heartbeat(self) -> None:
        """Record in the background that the session is alive."""
        if self.phase is not Phase.RUNNING or self.session is None or self.connected is None:
            return
        session = self.session
        self._submit_once(
            "heartbeat",
            jobs.heartbeat,
            self.connected.logger,
            session,
            on_done=lambda result: self._on_heartbeat(session, result),
        )

    def _on_heartbeat(self, session: OpenSession, result: jobs.HeartbeatResult) -> None:
        if result.ended_elsewhere and self.phase is Phase.RUNNING and self.session == session:
            _logger.warning(
                "Session %s was ended elsewhere: %s",
                session.session_identifier,
                result.ended_elsewhere,
            )
            self._show_ended(
                instrument=session.instrument,
                user=session.user,
                started=session.started,
                ended=text.now_like(session.started),
                message="This session was ended elsewhere (by staff or on another PC). "
                "Start a new session if you are still working.",
                queued=False,
                countdown=False,
            )

    def refresh_sync_state(self) -> None:
        """Send events waiting on this PC and update the status line (in the background)."""
        if self.connected is None:
            return
        if self._note_pending is not None:
            self.save_note(self._note_pending)
        self._submit_once(
            "sync",
            jobs.sync_state,
            self.connected.logger,
            on_done=self._on_sync_state,
        )

    def _on_sync_state(self, state: jobs.SyncState) -> None:
        self.sync_indicator.set_state(state.online, state.pending, state.conflicts)
        if self.phase is Phase.RUNNING and self.session_queued and state.pending == 0:
            self.session_queued = False
            self.session_page.set_running(queued=False)
            self.session_page.set_message("The session start has been sent to the database.")

    def save_note(self, note: str) -> None:
        """Save the session note in the background (kept and retried if the database is away)."""
        if self.session is None or self.connected is None or self.phase is not Phase.RUNNING:
            return
        if note == (self.session.note or "") and self._note_pending is None:
            return
        session = self.session
        self.session_page.note_status.setText("Saving the note\u2026")

        def saved(cleaned: str | None) -> None:
            if self._note_pending == note:
                self._note_pending = None
            if (
                self.session is not None
                and self.session.session_identifier == session.session_identifier
            ):
                self.session = dataclasses.replace(self.session, note=cleaned)
            self.session_page.note_status.setText("Note saved.")

        def failed(error: JobError) -> None:
            from nexus_logger.core.errors import DatabaseUnavailable, NotFound

            if isinstance(error.exception, DatabaseUnavailable | NotFound):
                # Not in the database yet: keep it here, retried with the next status check,
                # and carried by the END in any case.
                self._note_pending = note
                if self.session is not None:
                    self.session = dataclasses.replace(self.session, note=note or None)
                self.session_page.note_status.setText(
                    "Note kept on this PC; it will be saved when the database answers."
                )
            else:
                self.session_page.note_status.setText(f"Note not saved: {error.message}")

        if not self._submit_once(
            "note",
            jobs.save_note,
            self.connected.logger,
            session,
            note,
            on_done=saved,
            on_error=failed,
        ):
            self._note_pending = note

    # -- ending ---------------------------------------------------------------------------

    def end_session(self, *, ask_about_files: bool = True) -> None:
        """End the running session (the End button and Ctrl+E).

        With a data root set, the session's files are counted first (up to the click), and
        when NexusLIMS would find none the person is asked (:meth:`ask_end_without_files`).
        Logoff, shutdown and stop signals end without asking.
        """
        if self.phase is not Phase.RUNNING or self.session is None or self.connected is None:
            return
        # The END is the moment of the click, even if the worker is still busy with an
        # earlier job (a heartbeat waiting on a locked file) when it gets to this one.
        clicked = datetime.now(UTC)
        if ask_about_files and self.files_watch.counting:
            if self._end_check is None:
                self._end_check = clicked
                self.session_page.set_checking_files()
                self.files_watch.report_at(clicked, lambda r: self._files_checked(clicked, r))
                QTimer.singleShot(
                    END_CHECK_TIMEOUT_MS, self, lambda: self._files_checked(clicked, None)
                )
            return
        self._end_at(clicked)

    def _files_checked(self, clicked: datetime, report: FileReport | None) -> None:
        """The files up to the End click are counted (or took too long: None): end, or ask."""
        if self._end_check != clicked or self.phase is not Phase.RUNNING:
            return
        self._end_check = None
        if report is not None and report.outcome() is Outcome.NO_FILES_FOUND:
            assert self.session is not None
            choice = self.ask_end_without_files(report)
            _logger.info(
                "End of session %s: NexusLIMS would find no files in %s; the user chose %s",
                self.session.session_identifier,
                report.folder,
                choice.value,
            )
            if self.phase is not Phase.RUNNING:
                return  # ended elsewhere while the question was open
            if choice is not EndChoice.END_ANYWAY:
                self.session_page.set_running(queued=self.session_queued)
                self.session_page.set_message("The session is still running.")
                return
            self._end_at(clicked, without_files=True)
            return
        if report is None:
            _logger.info("Ending without the files counted (no answer in time)")
        self._end_at(clicked)

    def _end_at(self, clicked: datetime, *, without_files: bool = False) -> None:
        """End at ``clicked``; ``without_files``: the person was told NexusLIMS will find no
        files and chose to end anyway, so the ended page does not promise a record."""
        assert self.session is not None and self.connected is not None
        if self.session_page.note_edit.text() != (self.session.note or ""):
            self.session = dataclasses.replace(
                self.session, note=self.session_page.note_edit.text().strip() or None
            )
        session = self.session
        self._end_check = None
        self._set_phase(Phase.ENDING)
        self.session_page.set_ending()
        self.session_page.set_message("")
        self._heartbeat_timer.stop()
        self.worker.submit(
            self.connected.logger.end,
            session,
            at=clicked,
            on_done=lambda outcome: self._on_ended(session, outcome, without_files),
            on_error=self._on_end_failed,
        )

    def _on_end_failed(self, error: JobError) -> None:
        if self.phase is not Phase.ENDING:
            return
        _logger.warning("Ending the session failed: %s", error.message)
        self._set_phase(Phase.RUNNING)
        self.session_page.set_running(queued=self.session_queued)
        # One sentence for the person at the instrument; the whole message is in the log.
        sentence, _staff = text.for_user(error.message)
        self.session_page.set_message(f"The session was not ended: {sentence}", error=True)
        self._heartbeat_timer.start()

    def _on_ended(
        self, session: OpenSession, outcome: EndOutcome, without_files: bool = False
    ) -> None:
        self.end_outcome = outcome
        message = outcome.message
        if without_files:
            from nexus_logger.core.durable import ENDED_WILL_BUILD  # loaded by now

            message = message.replace(ENDED_WILL_BUILD, ENDED_WITHOUT_FILES)
        if self.connected is not None:
            self.worker.submit(
                jobs.report_pc, self.connected.logger, session.instrument.instrument_pid, None
            )
        self._show_ended(
            instrument=session.instrument,
            user=session.user,
            started=outcome.started or session.started,
            ended=outcome.ended,
            message=message,
            queued=outcome.queued,
            countdown=True,
        )
        self.refresh_sync_state()

    def _show_ended(
        self,
        *,
        instrument: Instrument,
        user: str | None,
        started: datetime | None,
        ended: datetime,
        message: str,
        queued: bool,
        countdown: bool,
    ) -> None:
        self._clock.stop()
        self._heartbeat_timer.stop()
        self.files_watch.stop()
        self._set_phase(Phase.ENDED)
        self.ended_page.show_ended(
            instrument=f"{instrument.display_name} ({instrument.instrument_pid})",
            user=user,
            started=started,
            ended=ended,
            message=message,
            queued=queued,
        )
        self.pages.setCurrentWidget(self.ended_page)
        seconds = int(self.settings.auto_close_seconds) if self.settings is not None else 3
        if not countdown:
            self.ended_page.set_countdown(None)
        elif seconds <= 0:
            self._close_after_end()
        else:
            self._countdown_left = seconds
            self.ended_page.set_countdown(seconds)
            self._countdown.start()

    def _count_down(self) -> None:
        self._countdown_left -= 1
        if self._countdown_left <= 0:
            self._countdown.stop()
            self._close_after_end()
        else:
            self.ended_page.set_countdown(self._countdown_left)

    def keep_window_open(self) -> None:
        """Cancel the countdown after End."""
        self._countdown.stop()
        self.ended_page.set_countdown(None)
        self.ended_page.new_button.setFocus()

    def _close_after_end(self) -> None:
        self._closing = True
        self.close()

    # -- closing, logoff ------------------------------------------------------------------

    def ask_resume_choice(self, session: OpenSession) -> ResumeChoice | None:
        """Ask what to do with the open session found at launch (tests replace this).

        Another login's session gets :class:`OtherUserDialog`, whose default ends it.
        """
        current = self.connected.user if self.connected is not None else ""
        dialog: ResumeDialog | OtherUserDialog
        if same_user(session.user, current):
            dialog = ResumeDialog(session, self)
        else:
            dialog = OtherUserDialog(session, current, self)
        dialog.exec()
        return dialog.choice()

    def ask_end_without_files(self, report: FileReport) -> EndChoice:
        """NexusLIMS would find no files: end anyway, or keep running (tests replace this)."""
        zone = self.session.instrument.timezone if self.session else None
        dialog = NoFilesDialog(report, zone, self)
        dialog.exec()
        return dialog.choice()

    def ask_close_choice(self) -> CloseChoice:
        """Ask whether closing ends the session (tests replace this)."""
        name = self.session.instrument.display_name if self.session else "this instrument"
        dialog = CloseDialog(name, self)
        dialog.exec()
        return dialog.choice()

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication) and app.isSavingSession() and not self._closing:
            # The OS session is ending and Qt closes the windows: nobody can answer a question.
            self.end_for_shutdown()
        if self._closing or self.phase in (Phase.FAILED, Phase.ENDED, Phase.STARTING):
            self._accept_close(event)
            return
        if self.phase is Phase.ENDING:
            # The END is on its way; closing now could lose the answer. It takes seconds.
            self.session_page.set_message("Please wait: the session is being ended.")
            event.ignore()
            return
        choice = self.ask_close_choice()
        _logger.info("Close requested with a running session; user chose %s", choice.value)
        if choice is CloseChoice.END:
            event.ignore()
            self.end_session()
        elif choice is CloseChoice.KEEP_OPEN:
            self.paused = True
            self._accept_close(event)
        else:
            event.ignore()

    def _accept_close(self, event: QCloseEvent) -> None:
        self._clock.stop()
        self._countdown.stop()
        self._heartbeat_timer.stop()
        self._sync_timer.stop()
        self._end_check = None  # an End still counting its files ends nothing now
        self.files_watch.stop()
        self.file_scanner.shutdown(2000)
        if self._log_window is not None:
            self._log_window.close()
        event.accept()

    def quit_for_signal(self, description: str) -> None:
        """SIGTERM, Ctrl+C, a closed console: do what ``on_quit`` says, then quit (one line).

        ``end`` (the default) ends the session as the close dialog's *End* does; ``keep``
        leaves it open with a last heartbeat, as *Keep it open and close* does.
        """
        if self._closing and self.phase is not Phase.RUNNING:
            _logger.info("Stopped again by %s: already quitting", description)
            return
        if self.phase is Phase.STARTING and self.settings is not None:
            # A START may be on its way: let the steps answer, so it is ended, not left open.
            limit = int((float(self.settings.db_timeout_seconds) + 5) * 1000)
            self._wait_until(lambda: self.phase is not Phase.STARTING, limit)
        running = self.phase in (Phase.RUNNING, Phase.ENDING) and not self.paused
        keep = self.settings is not None and self.settings.on_quit == "keep"
        if not running:
            _logger.info("Stopped by %s: no session is running; quitting", description)
        elif keep:
            _logger.info(
                "Stopped by %s: the session stays open (on_quit = keep); quitting", description
            )
        else:
            _logger.info("Stopped by %s: ending the session, then quitting", description)
        if running:
            self.end_for_shutdown(announce=False)
        self._closing = True
        self.close()
        app = QGuiApplication.instance()
        if app is not None:
            app.quit()

    def end_for_shutdown(self, timeout_ms: int | None = None, *, announce: bool = True) -> bool:
        """End the running session before the OS logs off or shuts down; True when done.

        Called from the application's session-end signals and :meth:`quit_for_signal`. Waits
        (with the event loop running) for the END, which :class:`DurableLogger` writes to the
        database or, if it cannot be reached, keeps in the outbox. Does nothing if the user
        chose to keep the session open. With ``on_quit = keep`` the session stays open and
        only a last heartbeat is written.
        """
        self._closing = True
        if timeout_ms is None:
            limit = float(self.settings.db_timeout_seconds) if self.settings else 30.0
            timeout_ms = int((limit + 5) * 1000)
        if self.phase is Phase.ENDING:
            pass  # already on its way; wait for it below
        elif self.phase is not Phase.RUNNING or self.paused:
            return False
        elif self.settings is not None and self.settings.on_quit == "keep":
            if announce:
                _logger.info("The OS session is ending: the session stays open (on_quit = keep)")
            self.paused = True
            self.send_heartbeat()
            self._wait_until(lambda: self.worker.pending == 0, timeout_ms)
            return False
        else:
            if announce:
                _logger.info("The OS session is ending: ending the session")
            self.end_session(ask_about_files=False)
        if self.phase is Phase.ENDING:
            self._wait_until(lambda: self.phase is not Phase.ENDING, timeout_ms)
        ended = self.phase is Phase.ENDED
        if not ended:
            _logger.error("The session could not be ended before the OS session ended")
        return ended

    def _wait_until(self, done: Callable[[], bool], timeout_ms: int) -> None:
        """Run the event loop until ``done()`` or ``timeout_ms`` (the jobs answer meanwhile)."""
        if done():
            return
        loop = QEventLoop()
        watchdog = QTimer()
        watchdog.setSingleShot(True)
        watchdog.timeout.connect(loop.quit)
        check = QTimer()
        check.setInterval(20)
        check.timeout.connect(lambda: done() and loop.quit())
        watchdog.start(timeout_ms)
        check.start()
        loop.exec()
        check.stop()
        watchdog.stop()

    # -- misc -----------------------------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Ctrl+E in the note field ends the session (saving the note with the END)."""
        if (
            watched is self.session_page.note_edit
            and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress)
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_E
            and event.modifiers() == Qt.KeyboardModifier.ControlModifier
        ):
            # Claimed at ShortcutOverride, so the key press comes here (and only here).
            if event.type() == QEvent.Type.KeyPress:
                self.end_session()
            event.accept()
            return True
        return super().eventFilter(watched, event)

    def _show_demo(self, demo: bool) -> None:
        """Say in the title and a banner over every page that this is the demo."""
        self.demo_banner.setVisible(demo)
        self.setWindowTitle(f"{TITLE} \u2013 DEMO, not sent to NexusLIMS" if demo else TITLE)
        self.sync_indicator.database_words = "demo database" if demo else "database"

    def _show_not_set_up(self) -> None:
        """No database and no demo: say so, and what to do, instead of logging anywhere."""
        self.setWindowTitle(f"{TITLE} \u2013 this PC is not set up")
        self._fail(Step.CONNECT, NOT_SET_UP, NotSetUp(NOT_SET_UP))
        self.steps_page.title.setText("This PC is not set up")
        contact = str(getattr(self.settings, "facility_contact", "") or "")
        who = contact.strip() or "the facility staff or IT"
        self.steps_page.contact_label.setText(
            f"Ask {who} to set the database once for this PC. To try the program without "
            "it, run 'nexus-logger demo'."
        )
        self.sync_indicator.database_words = None
        self.sync_indicator.set_state(None, 0)

    def _set_phase(self, phase: Phase) -> None:
        if phase is not self.phase:
            _logger.debug("Window phase: %s -> %s", self.phase.value, phase.value)
        self.phase = phase
        self.end_shortcut.setEnabled(phase is Phase.RUNNING)

    def bring_to_front(self) -> None:
        """Show the window on top (a second launch asked for it)."""
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def show_log(self) -> None:
        """Open (or raise) the debug-log window."""
        from nexus_logger.gui.log_window import LogWindow

        if self._log_window is None:
            self._log_window = LogWindow(self)
        self._log_window.show()
        self._log_window.raise_()
        self._log_window.activateWindow()

    def _on_tab_changed(self, index: int) -> None:
        if self.tabs.widget(index) is self._admin_placeholder and self._admin_tab is None:
            self._create_admin_tab()

    def _show_admin_tab_only_to_whom_it_may_concern(self) -> None:
        """The Admin tab lists everyone's sessions: hidden unless the settings allow it (or the
        database is the demo's)."""
        from nexus_logger.core.admin_actions import is_administrator

        assert self.settings is not None
        index = self.tabs.indexOf(self._admin_placeholder)
        wanted = self.settings.set_up and (
            self.settings.uses_demo  # made-up sessions: nobody's personal data
            or bool(getattr(self.settings, "admin_tab_for_everyone", False))
            or is_administrator(administrators=self.settings.administrators)
        )
        if index >= 0:
            self.tabs.setTabVisible(index, wanted)

    def _create_admin_tab(self) -> None:
        """The Admin tab is built on first use: it is not needed to start a session."""
        try:
            from nexus_logger.gui.admin import AdminTab

            settings = self.settings or self._settings_loader()
            tab = AdminTab(self.worker, settings.database_target, settings, self)
        except (ImportError, NexusLoggerError) as err:
            _logger.warning("The Admin tab is not available: %s", err)
            self._admin_placeholder.setText(f"The admin view is not available: {err}")
            return
        self._admin_tab = tab
        index = self.tabs.indexOf(self._admin_placeholder)
        self.tabs.blockSignals(True)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, tab, "Admin")
        self.tabs.setCurrentIndex(index)
        self.tabs.blockSignals(False)
        self._admin_placeholder.deleteLater()
