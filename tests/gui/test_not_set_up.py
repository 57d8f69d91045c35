"""Demo is never mistaken for production (issue 14, req 2), in the window.

A login with no configuration (its own empty HOME) gets a "This PC is not set up" page and no
session anywhere; the demo, when asked for, says so in the title and in a banner over every
page.
"""

from __future__ import annotations

from nexus_logger.core.settings import paths
from nexus_logger.gui.main_window import DEMO_BANNER, Phase
from nexus_logger.gui.pages import Step, StepState
from tests.gui.helpers_gui import wait_phase


def test_an_unconfigured_login_sees_this_pc_is_not_set_up(qtbot, make_window, db_worker):
    window = make_window("", instrument="")
    wait_phase(qtbot, window, Phase.FAILED)
    assert window.steps_page.state(Step.CONNECT) is StepState.FAILED
    shown = window.steps_page.error_label.text()
    assert shown.startswith("This PC is not set up: sessions are not sent to NexusLIMS."), shown
    assert "not set up" in window.windowTitle()
    assert window.windowTitle().endswith("NexusLIMS session logger")  # Qt adds no second name
    assert not window.demo_banner.isVisible()
    assert window.steps_page.title.text() == "This PC is not set up"
    contact = window.steps_page.contact_label.text()
    assert "set the database once for this PC" in contact and "demo" in contact
    assert "nexus-logger" not in contact  # no command lines for the person at the instrument
    assert window.sync_indicator.plain_text() == "Not set up: nothing is logged on this PC"
    assert window.session is None
    assert not window.tabs.isTabVisible(1)  # nothing to administer: no Admin tab
    window.tabs.setCurrentIndex(1)  # the Admin tab has no database either
    assert "This PC is not set up" in window._admin_placeholder.text()
    window.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: db_worker.pending == 0)
    assert not paths.demo_database().exists(), "no demo database is made behind the user's back"


def test_the_demo_says_so_on_every_page(qtbot, make_window):
    window = make_window("", instrument="", demo=True)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert paths.demo_database().exists()
    assert "DEMO" in window.windowTitle() and "not sent to NexusLIMS" in window.windowTitle()
    assert window.windowTitle().endswith("NexusLIMS session logger")  # Qt adds no second name
    assert window.demo_banner.isVisible() and window.demo_banner.text() == DEMO_BANNER
    assert window.sync_indicator.plain_text() == "Online: everything is saved in the demo database"
    assert window.connected is not None
    assert "not sent to NexusLIMS" in window.connected.database  # the Connect step's line
    assert window.tabs.isTabVisible(1)  # the demo's Admin tab shows made-up sessions to all
    window.tabs.setCurrentIndex(1)  # the Admin tab
    qtbot.waitUntil(lambda: window._admin_tab is not None)
    assert window.demo_banner.isVisible()
    assert window.demo_banner.geometry().bottom() < window.tabs.geometry().top() + 1
    window.tabs.setCurrentIndex(0)
    # Ended, the page promises no record: NexusLIMS never reads the demo database.
    window.end_session(ask_about_files=False)
    wait_phase(qtbot, window, Phase.ENDED)
    ended = window.ended_page.message_label.text()
    assert "no record is built" in ended and "will build its record" not in ended


def test_the_demo_command_path_counts_as_demo(qtbot, make_window):
    from nexus_logger.core.setup.demo import ensure_demo_database

    window = make_window(str(ensure_demo_database()), instrument="")
    wait_phase(qtbot, window, Phase.RUNNING)
    assert window.demo_banner.isVisible()


def test_a_configured_database_shows_no_banner(qtbot, make_window, sqlite_db):
    window = make_window(sqlite_db)
    wait_phase(qtbot, window, Phase.RUNNING)
    assert not window.demo_banner.isVisible()
    assert window.windowTitle() == "NexusLIMS session logger"
