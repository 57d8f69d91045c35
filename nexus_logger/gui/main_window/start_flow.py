"""The window's start-up steps: connect, identify the instrument, check for an open session
(``open_session.py`` handles one found), start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nexus_logger.core.errors import NexusLoggerError, said_locked
from nexus_logger.gui import jobs
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.state import WindowState
from nexus_logger.gui.pages import Step, StepState
from nexus_logger.gui.worker import JobError

if TYPE_CHECKING:
    from nexus_logger.core.db.models import Instrument
    from nexus_logger.core.offline.durable import StartOutcome
    from nexus_logger.core.sessions.lifecycle import OpenSession

_logger = logging.getLogger(__name__)


class StartFlow(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: the steps page's flow."""

    def start(self) -> None:
        """Run the start-up steps: connect, identify, check for an open session, start."""
        if self.phase in (Phase.RUNNING, Phase.ENDING):
            return
        self._countdown.stop()
        self.files_watch.stop()
        self._generation += 1
        self.session = None
        self.end_outcome = None
        self._end_sent_message = None
        self.paused = False
        self._set_phase(Phase.STARTING)
        self._start_asked_at = datetime.now(UTC)
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
        self.sync_indicator.show_failed()
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
                "The database is locked by another program right now."
                if said_locked(connected.offline_reason)
                else "The database cannot be reached right now.",
            )
        self.sync_indicator.set_state(connected.online, connected.pending, connected.conflicts)
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
                # The launch (or Retry): the steps before may each have waited on a locked
                # or slow database, and the session began when the person asked.
                asked_at=self._start_asked_at,
                on_done=self._on_started,
            )
            return
        self._resume(open_session)

    def _on_started(self, outcome: StartOutcome) -> None:
        if outcome.end_waits_here:
            # The open session in the database was ended on this PC; its END waits for the
            # database to take writes. Not a session to ask about (ending it again finds it
            # ended here, continuing it runs a session that is over): the step says so, and
            # Retry starts once the END has gone. (The check above said "no open session":
            # none that runs, but the database still shows this one open.)
            self.steps_page.set_step(
                Step.CHECK, StepState.WARNING, "One was ended on this PC; its END waits to be sent."
            )
            self._fail(Step.START, outcome.message)
            return
        if not outcome.created:
            # Another session was opened between the check and the start (another PC, a
            # second window): the database refused ours. Ask about that session, as at launch.
            self._on_checked(outcome.session)
            return
        state = StepState.WARNING if outcome.queued else StepState.DONE
        message = outcome.message
        kept = outcome.session.kept_since
        if outcome.queued and kept is not None:
            cause = (
                "The database is locked by another program"
                if outcome.locked
                else "The database cannot be reached"
            )
            message = (
                f"{cause}: the session start is saved on this PC (waiting since {kept:%H:%M}) "
                "and will be sent when the database answers."
            )
        self.steps_page.set_step(Step.START, state, message)
        if outcome.event_id is not None and self.connected is not None:
            # Shown to the user in this same turn of the event loop: the START kept on this PC
            # counts (see DurableLogger.confirm). Queued before the running page's heartbeat
            # and sync jobs, which wait a whole database timeout when it does not answer: a
            # crash meanwhile left a START the user had seen counted as one nobody was told of.
            self.worker.submit(self.connected.logger.confirm, outcome)
        self._show_running(outcome.session, queued=outcome.queued, message=message)
        if not outcome.queued and self.connected is not None:
            self.worker.submit(
                jobs.report_pc,
                self.connected.logger,
                outcome.session.instrument.instrument_pid,
                outcome.session.session_identifier,
            )
        self.session_started.emit(outcome.queued)
