"""Closing the window and quitting: what closing does to a running session (asking:
:meth:`Closing.ask_close_choice`), stop signals, and the OS logging off or shutting down."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication

from nexus_logger.gui.dialogs import CloseChoice, CloseDialog
from nexus_logger.gui.main_window.phase import Phase
from nexus_logger.gui.main_window.state import WindowState

_logger = logging.getLogger(__name__)


class Closing(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: close, quit, logoff."""

    def ask_close_choice(self) -> CloseChoice:
        """Ask whether closing ends the session (tests replace this)."""
        dialog = self.close_dialog()
        dialog.exec()
        return dialog.choice()

    def close_dialog(self) -> CloseDialog:
        """The question about the running session, naming its owner when it is another
        login's session continued here (it said "Your session")."""
        name = self.session.instrument.display_name if self.session else "this instrument"
        owner = None
        if self.session is not None and self.connected is not None:
            from nexus_logger.core.settings.identity import same_user

            if not same_user(self.session.user, self.connected.user):
                owner = self.session.user or "an unknown user"
        return CloseDialog(name, self, owner=owner)

    def closeEvent(self, event: QCloseEvent) -> None:
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication) and app.isSavingSession() and not self._closing:
            # The OS session is ending and Qt closes the windows: nobody can answer a question.
            self.end_for_shutdown()
        starting = self.phase is Phase.STARTING and self.worker.pending > 0
        if starting and not self._closing and not self._close_after_start:
            # A START may be on its way: closing now left it to commit, a session nobody was
            # shown and nobody ends. Close once the steps have answered (a session that
            # started then gets the usual question); a second click closes at once.
            self._close_after_start = True
            self.steps_page.title.setText("Closing once the database has answered\u2026")
            event.ignore()
            return
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
            # Kept open from this answer on: a quit while the heartbeat below is waited for
            # (a second click on the close button quits Qt) must not end it at "logoff".
            self.paused = True
            # A last heartbeat, as the README says: "end at its last heartbeat" later must
            # not lose the minutes since the one before. Waited for (bounded), as at logoff
            # with on_quit = keep: a job still queued when the worker stops is not run.
            self.session_page.set_message("Closing: the session stays open\u2026")
            self.session_page.end_button.setEnabled(False)
            self.send_heartbeat()
            limit = float(self.settings.db_timeout_seconds) if self.settings else 30.0
            self._wait_until(lambda: "heartbeat" not in self._inflight, int((limit + 5) * 1000))
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
        # A close put off while starting must not ask its question now: nobody answers at
        # logoff, and the quit below ends (or keeps) the session itself.
        self._close_after_start = False
        if self._question is not None:
            # Nothing is on its way while the user is asked: close the question, change nothing.
            _logger.info(
                "Stopped by %s while asking about a session found open: nothing was changed; "
                "quitting",
                description,
            )
            self._closing = True
            self._question.reject()
            self.close()
            app = QGuiApplication.instance()
            if app is not None:
                app.quit()
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
        self._close_after_start = False  # (see quit_for_signal)
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
        if not ended and self._end_kept:
            _logger.error(
                "The database did not answer before the OS session ended; the session's END is "
                "kept on this PC and the next nexus-logger here sends it"
            )
        elif not ended:
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
