"""The scan thread: results on the GUI thread, off the GUI and database threads, stoppable."""

from __future__ import annotations

import threading
import time

from nexus_logger.gui.file_scans import FileScanner


def test_scans_run_on_their_own_thread_and_answer_on_the_gui_thread(qtbot, db_worker) -> None:
    scanner = FileScanner()
    where: dict[str, int] = {}
    db_worker.submit(lambda: where.setdefault("db", threading.get_ident()))
    answers: list[object] = []

    def on_done(result: object) -> None:
        where["callback"] = threading.get_ident()
        answers.append(result)

    scanner.submit(
        lambda x: (where.setdefault("scan", threading.get_ident()), x)[1], 41, on_done=on_done
    )
    scanner.submit(lambda: 1 / 0, on_done=on_done)  # an error comes back, never raised
    qtbot.waitUntil(lambda: len(answers) == 2 and "db" in where)
    assert answers[0] == 41 and isinstance(answers[1], ZeroDivisionError)
    main = threading.get_ident()
    assert where["callback"] == main
    assert where["scan"] not in (main, where["db"])
    assert scanner.shutdown(5000)


def test_shutdown_stops_a_running_scan_and_drops_its_answer(qtbot) -> None:
    scanner = FileScanner()
    running = threading.Event()
    answers: list[object] = []

    def long_scan() -> str:
        running.set()
        while not scanner.stopping():
            time.sleep(0.01)
        return "stopped"

    scanner.submit(long_scan, on_done=answers.append)
    scanner.submit(lambda: "queued", on_done=answers.append)
    assert running.wait(5)
    began = time.monotonic()
    assert scanner.shutdown(5000)
    assert time.monotonic() - began < 2
    qtbot.wait(50)
    assert answers == [] and scanner.pending == 0
    scanner.submit(lambda: "again", on_done=answers.append)  # usable after a shutdown
    qtbot.waitUntil(lambda: answers == ["again"])
    assert scanner.shutdown(5000)


def test_shutdown_all_says_when_a_scan_is_stuck(qtbot) -> None:
    """A scan blocked in a call to a share that went away (it never looks at ``stopping``):
    the app must learn that it cannot wait for it, and leave without it."""
    from nexus_logger.gui.file_scans import shutdown_all

    stuck, released = FileScanner(), threading.Event()
    idle = FileScanner()
    running = threading.Event()
    stuck.submit(lambda: (running.set(), released.wait(30)), on_done=lambda _r: None)
    assert running.wait(5)
    began = time.monotonic()
    assert shutdown_all(200) is False
    assert time.monotonic() - began < 3
    released.set()
    assert shutdown_all(5000) is True
    assert idle.pending == 0
