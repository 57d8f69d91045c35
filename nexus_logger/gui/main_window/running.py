"""The running session: its page, the heartbeat, the status line's check of the database
and the events waiting on this PC, the session note and the count of the session's files."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nexus_logger.core import timestamps
from nexus_logger.core.files.filestore import FileReport
from nexus_logger.gui import jobs, text
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.state import WindowState
from nexus_logger.gui.session_files import files_line
from nexus_logger.gui.worker import JobError

if TYPE_CHECKING:
    from nexus_logger.core.sessions.lifecycle import OpenSession

_logger = logging.getLogger(__name__)

#: A window brought to the front asks the database again if its last heartbeat is older
#: than this (switching windows back and forth must not write a heartbeat each time).
LOOKED_AT_RECHECK_SECONDS = 10.0


class RunningSession(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: the session page's flow."""

    def _show_running(self, session: OpenSession, *, queued: bool, message: str) -> None:
        self.session = session
        self.session_queued = queued
        self._note_pending = None
        # Known only from this PC (database away): its stored note was never read.
        offline = self.connected is not None and not self.connected.online
        self._note_in_db = ... if offline or session.kept_on_pc else session.note
        self.session_page.show_session(session, queued=queued)
        self.session_page.set_message(message)
        self.pages.setCurrentWidget(self.session_page)
        self._set_phase(Phase.RUNNING)
        self._clock_held_at = None
        self._clock.start()
        self._heartbeat_timer.start()
        self._sync_timer.start()
        # Demo sessions never reach NexusLIMS: what it would take (or not) means nothing there.
        if self.settings is not None and not self.settings.uses_demo:
            self.files_watch.start(self.settings, session)
        # Typing goes into the note: a space on a focused End button ended the session.
        self.session_page.note_edit.setFocus()
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
        # Not while ending: the session ended at the click (a database slow to answer kept
        # the clock counting past it, for a minute in the user trial). Nor while the files up
        # to the click are counted, or the person is asked about them: the clock stays at the
        # click (it ran on and then jumped back to it).
        if self.session is not None and self.phase is Phase.RUNNING:
            until = self._clock_held_at or datetime.now(UTC)
            seconds = timestamps.seconds_between(self.session.started, until)
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
        self._inflight[key] = -1  # (its job id, once submitted below)

        def done(result: Any) -> None:
            self._inflight.pop(key, None)
            if on_done is not None:
                on_done(result)

        def failed(error: JobError) -> None:
            self._inflight.pop(key, None)
            if on_error is not None:
                on_error(error)
            else:
                _logger.info("Background job %s failed: %s", key, error.message)

        self._inflight[key] = self.worker.submit(fn, *args, on_done=done, on_error=failed)
        return True

    def send_heartbeat(self) -> None:
        """Record in the background that the session is alive."""
        if self.phase is not Phase.RUNNING or self.session is None or self.connected is None:
            return
        session = self.session
        self._last_heartbeat = time.monotonic()
        self._submit_once(
            "heartbeat",
            jobs.heartbeat,
            self.connected.logger,
            session,
            on_done=lambda result: self._on_heartbeat(session, result),
        )

    def check_when_looked_at(self) -> None:
        """The user turned to the window: make sure it does not show a session as running
        that was ended elsewhere since the last heartbeat (which may be a minute old)."""
        if time.monotonic() - self._last_heartbeat >= LOOKED_AT_RECHECK_SECONDS:
            self.send_heartbeat()

    def _on_heartbeat(self, session: OpenSession, result: jobs.HeartbeatResult) -> None:
        if result.unreachable and self.sync_indicator.online:
            # The status line must not say "Online" until the next sync tick (30 s): the sync
            # job says what is waiting and why.
            self.refresh_sync_state()
        elif result.refused:
            self._say_writes_refused(True)
        elif result.at is not None and not result.unreachable:
            self._say_writes_refused(False)  # written: the database takes changes again
        if result.note is not ... and self.phase is Phase.RUNNING and self.session == session:
            self._note_read(result.note)
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
                ended=result.ended_at,  # the END as stored, not when this window noticed it
                message="This session was ended elsewhere (by staff, by another login on "
                "this PC or another, or from the command line). Start a new session if you are "
                "still working.",
                queued=False,
                countdown=False,
            )

    def _say_writes_refused(self, refused: bool) -> None:
        """A read-only database answers every status check, so only a refused write tells:
        the status line said "Online: everything is saved" while heartbeats and notes were
        refused (user trial, a read-only share)."""
        if refused == self._writes_refused:
            return
        self._writes_refused = refused
        footer = self.sync_indicator
        if footer.online is not False:
            footer.set_state(True, footer.pending, footer.conflicts, refusing=refused)

    def refresh_sync_state(self) -> None:
        """Send events waiting on this PC and update the status line (in the background)."""
        if self.connected is None:
            return
        if self._note_pending is not None:
            self.save_note(self._note_pending)
        # One asked for while another runs is run once more after it: the one running may
        # have looked before what the new request is about (a database that came back).
        self._say_if_not_answering()
        # (a START kept on this PC: where it is now, said on the session page)
        kept_start = self.session if self.session_queued else None
        self._sync_again = not self._submit_once(
            "sync",
            jobs.sync_state,
            self.connected.logger,
            kept_start,
            on_done=self._on_sync_state,
        )

    def _say_if_not_answering(self) -> None:
        """One of the window's own jobs (a heartbeat, a status check: each bounded by the
        database timeout) has run longer than that timeout allows, as on a server that stopped
        answering without closing anything: the status line said "Online" from the last
        answer for as long as that lasted. Now it says the database is not reachable until an
        answer comes. (Timed from when the job started, not when it was queued: the Admin
        tab's long lists share the worker and are answered all along.)"""
        running = self.worker.running()
        if running is None or self.settings is None or running[0] not in self._inflight.values():
            return
        waited = running[1]
        if waited > float(self.settings.db_timeout_seconds) + 5:
            footer = self.sync_indicator
            if footer.online is not False:
                _logger.warning("The database has not answered for %.0f s", waited)
            footer.set_state(False, footer.pending, footer.conflicts)

    def _on_sync_state(self, state: jobs.SyncState) -> None:
        self.sync_indicator.set_state(
            state.online,
            state.pending,
            state.conflicts,
            refusing=state.refusing or (bool(state.online) and self._writes_refused),
            unusable=state.unusable,
        )
        if self._sync_again:
            self._sync_again = False
            self.refresh_sync_state()
        if self.phase is Phase.RUNNING and self.session_queued:
            if state.start_held:
                self.session_page.set_message(state.start_held, error=True)
            elif state.start_handled:
                self.session_page.set_message(state.start_handled)
            elif state.start_sent or (state.start_sent is None and state.pending == 0):
                self.session_queued = False
                self.session_page.set_running(queued=False)
                self.session_page.set_message("The session start has been sent to the database.")
        if (
            self._end_sent_message is not None
            and self.phase is Phase.ENDED
            and state.online
            and not state.pending
            and self.connected is not None
            and self.end_outcome is not None
        ):
            self._submit_once(
                "stored-end",
                jobs.stored_end,
                self.connected.logger,
                self.end_outcome.session_identifier,
                on_done=self._on_stored_end,
                on_error=lambda error: _logger.info("Reading the stored END: %s", error.message),
            )

    def _on_stored_end(self, stored: datetime | None) -> None:
        """The kept END has left this PC: say it was sent only if the database has this END
        (the outbox skips it when the session was ended elsewhere meanwhile)."""
        sent, outcome = self._end_sent_message, self.end_outcome
        if sent is None or outcome is None or self.phase is not Phase.ENDED:
            return
        self._end_sent_message = None
        if stored is not None and abs(timestamps.seconds_between(stored, outcome.ended)) < 1:
            self.ended_page.set_sent(sent)
            return
        when = text.when(stored) if stored is not None else "a time that cannot be read"
        started = outcome.started or (self.session.started if self.session else None)
        self.ended_page.set_times(started, stored)
        self.ended_page.set_sent(
            f"This session had already been ended elsewhere, at {when}: that end is the one "
            "kept, and this PC's was not written."
        )

    def _note_read(self, stored: str | None) -> None:
        """The database's note as a heartbeat read it: shown in place of this window's when
        someone else changed it and nothing typed here waits to be saved (typed text stays;
        saving it then says the note was changed elsewhere)."""
        if stored == self._note_in_db or self.session is None:
            return
        from nexus_logger.core.errors import InvalidInput
        from nexus_logger.core.sessions.inputs import clean_note

        try:
            typed = clean_note(self.session_page.note_edit.text())
        except InvalidInput:
            return
        first = self._note_in_db is ...  # the database's first answer: now the note is known
        if first:
            self._note_in_db = stored
            if self._note_pending is not None or typed:
                return  # what was typed here stays, and is saved against what is stored
        elif self._note_pending is not None or typed != self._note_in_db:
            return
        self._note_in_db = stored
        self.session = dataclasses.replace(self.session, note=stored)
        self.session_page.note_edit.setText(stored or "")
        self.session_page.note_status.setText(
            "" if first else "The note was changed elsewhere (another window or the command line)."
        )
        self.session_page.note_status.setToolTip("")

    def save_note(self, note: str) -> None:
        """Save the session note in the background (kept and retried if the database is away)."""
        if self.session is None or self.connected is None or self.phase is not Phase.RUNNING:
            return
        if note == (self.session.note or "") and self._note_pending is None:
            return
        session = self.session
        self.session_page.note_status.setText("Saving the note\u2026")

        def same_session() -> bool:
            return (
                self.session is not None
                and self.session.session_identifier == session.session_identifier
            )

        def saved(cleaned: str | None) -> None:
            if self._note_pending == note:
                self._note_pending = None
            if self.session is not None and same_session():
                self._note_in_db = cleaned
                self.session = dataclasses.replace(self.session, note=cleaned)
            self.session_page.note_status.setText("Note saved.")
            self.session_page.note_status.setToolTip("")
            self._say_writes_refused(False)

        def failed(error: JobError) -> None:
            from nexus_logger.core.errors import (
                DatabaseReadOnly,
                DatabaseUnavailable,
                NoteChanged,
                NotFound,
            )

            if isinstance(error.exception, NoteChanged):
                if not same_session():
                    return  # about a session this window no longer shows
                # Say what is stored now; Enter again replaces it with what was typed here.
                current = error.exception.current
                self._note_in_db = current
                if self._note_pending == note:
                    self._note_pending = None
                shown = "no note"
                if current:
                    flat = " ".join(current.split())  # one line, however it was typed
                    short = flat if len(flat) <= 60 else flat[:59] + "\u2026"
                    shown = f"\u201c{short}\u201d"
                self.session_page.note_status.setText(
                    f"Not saved: someone else changed the note to {shown} meanwhile. "
                    "Press Enter again to replace it with your text."
                )
                self.session_page.note_status.setToolTip(current or "")
            elif isinstance(error.exception, DatabaseUnavailable | DatabaseReadOnly | NotFound):
                # Not in the database yet: keep it here, retried with the next status check,
                # and carried by the END in any case.
                self._note_pending = note
                if self.session is not None:
                    self.session = dataclasses.replace(self.session, note=note or None)
                # Held by this window only (the END carries it): say so, not "on this PC".
                refused = isinstance(error.exception, DatabaseReadOnly)
                self.session_page.note_status.setText(
                    "Note not saved yet: the database refuses changes right now. This window "
                    "saves it when the database takes them again."
                    if refused
                    else "Note not saved yet: this window saves it when the database answers."
                )
                if refused:
                    self._say_writes_refused(True)
                if isinstance(error.exception, DatabaseUnavailable):
                    # The footer must not go on saying "Online" until the next heartbeat.
                    footer = self.sync_indicator
                    footer.set_state(False, footer.pending, footer.conflicts)
            else:
                self.session_page.note_status.setText(f"Note not saved: {error.message}")

        if not self._submit_once(
            "note",
            jobs.save_note,
            self.connected.logger,
            session,
            note,
            self._note_in_db,
            on_done=saved,
            on_error=failed,
        ):
            self._note_pending = note
