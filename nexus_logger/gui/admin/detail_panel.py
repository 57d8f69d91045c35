"""The Sessions page's detail panel: every row of the selected session, the files NexusLIMS
would find for it, and the admin action buttons that apply to it."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nexus_logger.core.enums import EventType, RecordStatus
from nexus_logger.core.staff import summaries
from nexus_logger.gui import text, theme
from nexus_logger.gui.admin.context import TabContext
from nexus_logger.gui.admin.files_panel import FilesPanel
from nexus_logger.gui.admin.models import EventsTableModel
from nexus_logger.gui.admin.table_view import make_table_view

NOTHING_SELECTED = "Select a session to see all its rows."
#: The most lines of a note shown at once under the list (a longer one scrolls).
NOTE_LINES = 4


class DetailPanel(QWidget):
    """The rows of one session (``session_identifier``), loaded on the tab's worker."""

    def __init__(
        self,
        parent: QWidget,
        context: TabContext,
    ) -> None:
        super().__init__(parent)
        self._jobs = context.jobs
        self._database = context.database
        self.is_admin = context.is_admin
        self.session_identifier: str | None = None
        self.events: list[summaries.SessionEvent] = []
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 4, 0, 0)
        self.detail_title = QLabel(NOTHING_SELECTED, self)
        self.detail_title.setWordWrap(True)
        self.detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.detail_title)
        lay.addLayout(self._build_note())
        self.files_panel = FilesPanel(context.settings, self, hide_names=context.hide_people)
        lay.addWidget(self.files_panel)
        self.events_model = EventsTableModel(self)
        self.events_view = make_table_view(self.events_model, self)
        # A START and an END row always show (a scroll bar below them too): on a small or
        # scaled screen the splitter takes the room from the list of sessions instead.
        view = self.events_view
        view.setMinimumHeight(
            view.horizontalHeader().sizeHint().height()
            + 2 * view.verticalHeader().defaultSectionSize()
            + view.horizontalScrollBar().sizeHint().height()
            + 2 * view.frameWidth()
        )
        lay.addWidget(self.events_view, 1)
        lay.addLayout(self._build_buttons())
        # Under the buttons, the panel's whole width: beside them a long "Done ..." wrapped to
        # six lines, was cut at top and bottom and squeezed the rows table to one row.
        self.action_label = QLabel(self)
        self.action_label.setWordWrap(True)
        self.action_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.action_label)

    def minimumSizeHint(self) -> QSize:
        """As high as the wrapped title and action result need at the panel's width.

        Qt's layouts count a word-wrapped label at the height of a wide one, so the splitter
        squeezed the panel below what it shows: a two-line "Nothing was changed ..." pushed
        the buttons over the END row (staff trial, 760 x 640)."""
        hint = super().minimumSizeHint()
        width = self.contentsRect().width()
        extra = 0
        for label in (self.detail_title, self.action_label):
            if label.text() and not label.isHidden():
                extra += max(0, label.heightForWidth(width) - label.minimumSizeHint().height())
        return QSize(hint.width(), hint.height() + extra)

    def _build_note(self) -> QHBoxLayout:
        # The whole note, readable and scrollable by keyboard: the list cuts a long one and
        # shows it whole only in a tooltip, which needs a mouse.
        row = QHBoxLayout()
        self.note_caption = QLabel("Note:", self)
        row.addWidget(self.note_caption, 0, Qt.AlignmentFlag.AlignTop)
        self.note_view = QPlainTextEdit(self)
        self.note_view.setReadOnly(True)
        self.note_view.setTabChangesFocus(True)
        row.addWidget(self.note_view, 1)
        self.show_note(None)
        return row

    def show_note(self, note: str | None) -> None:
        """Show the selected session's note (as the list has it); none hides the field."""
        self.note_view.setPlainText(note or "")
        # As high as its lines, up to four (a longer one scrolls): room taken from the list.
        view = self.note_view
        lines = min(max(view.document().blockCount(), 1), NOTE_LINES)
        spacing = view.fontMetrics().lineSpacing()
        # (plus a quarter line: Qt's layout rounds, and one pixel short scrolled two lines)
        margin = 2 * (view.frameWidth() + int(view.document().documentMargin())) + spacing // 4
        view.setFixedHeight(lines * spacing + margin)
        self.note_caption.setVisible(bool(note))
        self.note_view.setVisible(bool(note))

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.force_end_button = QPushButton("Force end\u2026", self)
        self.requeue_button = QPushButton("Re-queue\u2026", self)
        self.fix_user_button = QPushButton("Fix user mismatch\u2026", self)
        for button in (self.force_end_button, self.requeue_button, self.fix_user_button):
            button.setEnabled(False)
            if not self.is_admin:
                button.setToolTip("Only administrators (listed in the config file) can do this.")
            buttons.addWidget(button)
        theme.press_on_enter(self.force_end_button, self.requeue_button, self.fix_user_button)
        buttons.addStretch(1)
        return buttons

    def clear(self) -> None:
        """Show no session."""
        self.session_identifier = None
        self.events = []
        self.events_model.set_items([])
        self.detail_title.setText(NOTHING_SELECTED)
        self.show_note(None)
        self.files_panel.clear()
        self.action_label.clear()
        self.update_action_buttons()

    def load(self, session_identifier: str) -> None:
        """Load every row of a session into the detail table."""
        if session_identifier != self.session_identifier:
            self.action_label.clear()  # "Done ..." was about the session shown before
            self.show_note(None)  # (the list's selection shows the new one's, if any)
        self.session_identifier = session_identifier
        self._jobs.submit(
            summaries.session_events,
            session_identifier,
            engine=self._database,
            on_done=lambda events, s=session_identifier: self._loaded(s, events),
        )

    def reload(self) -> None:
        """Load the session shown again (nothing when none is)."""
        if self.session_identifier:
            self.load(self.session_identifier)

    def _loaded(self, ident: str, events: list[summaries.SessionEvent]) -> None:
        if ident != self.session_identifier:
            return  # another session was selected meanwhile
        self.events = events
        self.events_model.set_items(events)
        self.files_panel.show_session(events)
        self.events_view.resizeColumnsToContents()
        if not events:
            self.detail_title.setText(f"Session {ident} has no rows (any more).")
        else:
            first = events[0]
            starts = [e for e in events if e.event_type == EventType.START.value]
            user = starts[0].user if starts else first.user
            gens = sum(e.event_type == EventType.RECORD_GENERATION.value for e in events)
            who = f"user {user}" if user else "no user"  # (user "(hidden)" when names are)
            title = (
                f"Session {ident} on {first.instrument}, {who}: "
                f"{text.plural(len(events), 'row')}, "
                f"{text.plural(gens, 'RECORD_GENERATION event')}."
            )
            if not starts:
                # The list above shows sessions by their START: say why this one is not there.
                title += (
                    " It has no START row, so the list and its counts leave it out and "
                    "NexusLIMS never builds it (see Problems)."
                )
            self.detail_title.setText(title)
        self.update_action_buttons()

    def update_action_buttons(self) -> None:
        """Enable the actions that apply to the rows shown (for administrators only)."""
        events = self.events
        starts = [e for e in events if e.event_type == EventType.START.value]
        ends = [e for e in events if e.event_type == EventType.END.value]
        waiting = (RecordStatus.WAITING_FOR_END.value, RecordStatus.TO_BE_BUILT.value)
        can_end = bool(starts) and not ends and starts[0].record_status in waiting
        can_requeue = (
            len(starts) == 1
            and bool(ends)
            and any(e.record_status != RecordStatus.TO_BE_BUILT.value for e in (*starts, *ends))
        )
        can_fix = bool(starts) and bool(ends) and len({e.user for e in (*starts, *ends)}) > 1
        self.force_end_button.setEnabled(self.is_admin and can_end)
        self.requeue_button.setEnabled(self.is_admin and can_requeue)
        self.fix_user_button.setEnabled(self.is_admin and can_fix)
