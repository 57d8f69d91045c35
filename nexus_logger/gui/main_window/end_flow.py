"""Ending the session: the End click (its files counted first, and the person asked when
NexusLIMS would find none: :meth:`EndFlow.ask_end_without_files`), the END itself, the ended
page and its countdown to closing."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer

from nexus_logger.core import timestamps
from nexus_logger.core.files.filestore import FileReport, Outcome
from nexus_logger.gui import jobs, text
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.state import WindowState
from nexus_logger.gui.no_files_dialog import EndChoice, NoFilesDialog
from nexus_logger.gui.worker import JobError, run_aside

if TYPE_CHECKING:
    from nexus_logger.core.db.models import Instrument
    from nexus_logger.core.offline.durable import EndOutcome
    from nexus_logger.core.sessions.lifecycle import OpenSession

_logger = logging.getLogger(__name__)

#: The longest End waits for the session's files to be counted before it ends anyway (ms).
END_CHECK_TIMEOUT_MS = 8_000
#: The ended page's sentence after "End anyway" (instead of the promise of a record).
ENDED_WITHOUT_FILES = (
    "Session ended. NexusLIMS will find no files for it: it will be marked NO_FILES_FOUND."
)
#: The demo database is never read by NexusLIMS (its banner says so): no record is promised.
ENDED_IN_DEMO = "Session ended in the demo database. NexusLIMS never reads it: no record is built."


class EndFlow(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: from End to the ended page."""

    def end_session(self, *, ask_about_files: bool = True) -> None:
        """End the running session (the End button and Ctrl+E).

        With a data root set, the session's files are counted first (up to the click), and
        when NexusLIMS would find none the person is asked (:meth:`ask_end_without_files`).
        Logoff, shutdown and stop signals end without asking.
        """
        if self.phase is not Phase.RUNNING or self.session is None or self.connected is None:
            return
        if self.paused:
            return  # "Keep it open and close" was chosen: the window is closing (Ctrl+E too)
        # Ctrl+E works on the Admin tab too: the person sees the END and the ended page
        # (and its countdown) rather than a window that closes a few seconds later.
        self.tabs.setCurrentIndex(0)
        # The END is the moment of the click, even if the worker is still busy with an
        # earlier job (a heartbeat waiting on a locked file) when it gets to this one.
        clicked = datetime.now(UTC)
        if ask_about_files and self.files_watch.counting:
            if self._end_check is None:
                self._end_check = self._clock_held_at = clicked
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
                self._clock_held_at = None
                self._update_elapsed()
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
        from nexus_logger.core.errors import InvalidInput
        from nexus_logger.core.sessions.inputs import clean_note

        typed = self.session_page.note_edit.text()
        note_problem = None
        if typed != (self.session.note or ""):
            try:
                self.session = dataclasses.replace(self.session, note=clean_note(typed))
            except InvalidInput as err:
                # The END must go, at logoff too: with the note last saved, and said so.
                note_problem = str(err)
        session = self.session
        # The END writes the note only when it is one this window has not stored: a note
        # saved here, or changed elsewhere since, is left as the database has it.
        carried = session
        if session.note == self._note_in_db:
            carried = dataclasses.replace(session, note=None)
        self._end_check = None
        self._set_phase(Phase.ENDING)
        self.session_page.set_ending()
        self.session_page.set_message("")
        self.session_page.set_elapsed(timestamps.seconds_between(session.started, clicked))
        self._heartbeat_timer.stop()
        # The END is on its way: "everything is saved" from the last check is not true now.
        footer = self.sync_indicator
        footer.set_state(None, footer.pending, footer.conflicts)
        # A session continued under another login's name is that login's: its END says who
        # ended it (audited), as when it is ended from the owner dialog or by --session.
        from nexus_logger.core.settings.identity import ending_login

        logger = self.connected.logger
        by = ending_login(session.user, self.connected.user)

        def send(kept: bool) -> None:
            # Kept or not (the outbox cannot be used, the time is refused): the database
            # work below says the outcome, and the same refusal, as before.
            self._end_kept = kept
            if kept and self.settings is not None:
                wait_ms = int((float(self.settings.db_timeout_seconds) + 5) * 1000)
                QTimer.singleShot(
                    wait_ms,
                    self,
                    lambda: self._end_kept_while_waiting(session, clicked, without_files),
                )
            self.worker.submit(
                logger.end,
                carried,
                at=clicked,
                ended_by=by,
                on_done=lambda outcome: self._on_end_answered(
                    session, outcome, without_files, note_problem
                ),
                on_error=self._on_end_failed,
            )

        # The END goes into this PC's outbox first, at once: not queued behind a database job
        # that may hang (a heartbeat on a server that stopped answering), which kept the END
        # from ever being saved; at logoff it was then lost.
        self._end_kept = False
        run_aside(
            logger.keep_end,
            carried,
            at=clicked,
            ended_by=by,
            on_done=lambda event: send(event is not None),
            on_error=lambda _error: send(False),
        )

    def _end_kept_while_waiting(
        self, session: OpenSession, clicked: datetime, without_files: bool
    ) -> None:
        """The database has not answered the END in its timeout (a job ahead of it waits on a
        locked file, a server paused or cut off without closing the connection): the END is
        safe in this PC's outbox, so the session has ended as far as the person is concerned.
        The ended page says so, rather than "Ending the session..." for as long as the server
        stays silent (minutes in a trial, with no new session possible meanwhile). If the
        database answers later, the page shows its answer instead."""
        if self.phase is Phase.ENDING and self._end_kept and self.session == session:
            from nexus_logger.core.offline.durable_outcomes import EndOutcome  # loaded by now

            waiting = EndOutcome(
                session.session_identifier,
                session.started,
                clicked,
                True,
                "The database has not answered yet. The session end is saved on this PC and is "
                "sent as soon as the database answers.",
            )
            self._on_ended(session, waiting, without_files)

    def _on_end_failed(self, error: JobError) -> None:
        if self.phase is not Phase.ENDING:
            return
        _logger.warning("Ending the session failed: %s", error.message)
        self._set_phase(Phase.RUNNING)
        self._clock_held_at = None
        self.session_page.set_running(queued=self.session_queued)
        # One sentence for the person at the instrument; the whole message is in the log.
        sentence, _staff = text.for_user(error.message)
        self.session_page.set_message(f"The session was not ended: {sentence}", error=True)
        self._heartbeat_timer.start()

    def _on_end_answered(
        self,
        session: OpenSession,
        outcome: EndOutcome,
        without_files: bool,
        note_problem: str | None,
    ) -> None:
        """The database's answer to the END. Usually the page still says "Ending...": show it.
        Late, after the timeout showed the session ended (``_end_kept_while_waiting``), it
        only replaces the sentence while that page still shows this session: the person may
        have kept the window open (the countdown stays off) or started a new session, which
        the old answer must not turn back into an ended page (its countdown then closed the
        window with the new session running)."""
        if self.phase is Phase.ENDING:
            self._on_ended(session, outcome, without_files, note_problem)
            return
        shown = self.end_outcome
        if (
            self.phase is Phase.ENDED
            and shown is not None
            and shown.queued
            and shown.session_identifier == session.session_identifier
        ):
            self.end_outcome = outcome
            words = self._ended_words(outcome, without_files, note_problem)
            self.ended_page.say(words, queued=outcome.queued)
            if not outcome.queued:
                self._end_sent_message = None
            return
        _logger.info(
            "The database answered the END of %s late: %s", session.session_identifier, outcome
        )

    def _ended_words(
        self, outcome: EndOutcome, without_files: bool, note_problem: str | None
    ) -> str:
        """The ended page's sentence for ``outcome`` (what NexusLIMS will do, the note)."""
        from nexus_logger.core.offline.durable import ENDED_WILL_BUILD  # loaded by now

        message = outcome.message
        if note_problem:
            message += f" The note typed last was not saved: {note_problem}"
        return message.replace(ENDED_WILL_BUILD, self._ended_sentence(without_files))

    def _ended_sentence(self, without_files: bool) -> str:
        """What NexusLIMS will do with the session (demo: nothing; no files: no record)."""
        from nexus_logger.core.offline.durable import ENDED_WILL_BUILD  # loaded by now

        if self.settings is not None and self.settings.uses_demo:
            return ENDED_IN_DEMO
        return ENDED_WITHOUT_FILES if without_files else ENDED_WILL_BUILD

    def _on_ended(
        self,
        session: OpenSession,
        outcome: EndOutcome,
        without_files: bool = False,
        note_problem: str | None = None,
    ) -> None:
        self.end_outcome = outcome
        message = self._ended_words(outcome, without_files, note_problem)
        ended = self._ended_sentence(without_files)
        self._end_sent_message = None
        if not outcome.queued:
            self._say_writes_refused(False)  # the END was written: the database takes changes
        if outcome.queued:
            # Said once the outbox has sent it and the database has this END (running.py).
            self._end_sent_message = f"{ended} Its end, kept on this PC, has now been sent."
            if note_problem:
                self._end_sent_message += f" The note typed last was not saved: {note_problem}"
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
        ended: datetime | None,
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
        """Cancel the countdown after End (the page then puts the focus on Close)."""
        self._stop_countdown()

    def _stop_countdown(self) -> None:
        self._countdown.stop()
        self.ended_page.set_countdown(None)

    def _close_after_end(self) -> None:
        self._closing = True
        self.close()

    def ask_end_without_files(self, report: FileReport) -> EndChoice:
        """NexusLIMS would find no files: end anyway, or keep running (tests replace this)."""
        zone = self.session.instrument.timezone if self.session else None
        dialog = NoFilesDialog(report, zone, self)
        dialog.exec()
        return dialog.choice()
