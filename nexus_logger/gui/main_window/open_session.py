"""A session found open at launch: ask what to do with it
(:meth:`OpenSessionChoice.ask_resume_choice`; another person's session gets its own dialog),
then continue it, or end it and start anew."""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

from nexus_logger.gui import text
from nexus_logger.gui.dialogs import ResumeAction, ResumeChoice, ResumeDialog
from nexus_logger.gui.main_window.state import WindowState
from nexus_logger.gui.owner_dialog import OtherUserDialog, same_user
from nexus_logger.gui.pages import Step, StepState

if TYPE_CHECKING:
    from nexus_logger.core.offline.durable import StartOutcome
    from nexus_logger.core.sessions.lifecycle import OpenSession

_logger = logging.getLogger(__name__)


class OpenSessionChoice(WindowState):
    """Mixin of :class:`~nexus_logger.gui.main_window.MainWindow`: the open session's choice."""

    def _resume(self, open_session: OpenSession) -> None:
        """Say what was found, ask, and continue the session or replace it."""
        assert self.connected is not None
        logger = self.connected.logger
        self.steps_page.set_step(
            Step.CHECK,
            StepState.DONE,
            f"Open session found: {open_session.user or 'unknown user'}, "
            f"since {text.when(open_session.started)}.",
        )
        others = not same_user(open_session.user, self.connected.user)
        choice = self.ask_resume_choice(open_session)
        if self._closing:
            return  # stopped (SIGTERM, logoff) while asking: nothing chosen, nothing changed
        if choice is None and others:
            # Never go on under another person's name without a choice that says so.
            self._fail(
                Step.CHECK,
                f"No choice was made about the open session of {open_session.user}. "
                "Press F5 to be asked again.",
            )
            return
        choice = choice or ResumeChoice(ResumeAction.CONTINUE)
        self._log_resume_choice(open_session, choice, others)
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
        whose = f"{open_session.user}'s session" if others else "The session left open"

        def started(outcome: StartOutcome) -> None:
            # Said on the running page: the other session really was ended, and when (or
            # that it had been ended already, elsewhere, at its own time).
            old = outcome.replaced
            if outcome.created and not outcome.queued and old is not None:
                ended = (
                    old.message
                    if old.already_ended
                    else f"{whose} was ended at {text.when(old.ended)}."
                )
                outcome = dataclasses.replace(outcome, message=f"{ended} {outcome.message}")
            self._on_started(outcome)

        self._submit_step(
            Step.START,
            logger.replace,
            open_session,
            end_at=end_at,
            user=self.connected.user,
            on_done=started,
        )

    def _log_resume_choice(
        self, open_session: OpenSession, choice: ResumeChoice, others: bool
    ) -> None:
        """Log what was chosen; loudly when it touches another person's session."""
        assert self.connected is not None
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
        _logger.info(
            "Asking %s what to do with the open session %s of %s",
            current,
            session.session_identifier,
            session.user,
        )
        self._question = dialog
        try:
            dialog.exec()
        finally:
            self._question = None
        return dialog.choice()
