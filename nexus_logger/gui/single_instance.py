"""One window per PC and user (and one for the demo): a second launch raises the first
window and exits.

Two windows would each start a session on the same instrument. The first instance listens on
a local socket (a Unix domain socket, or a named pipe on Windows) whose name is derived from
the user and the data folder; a second launch connects, asks it to come to the front, and
exits with status 0. A file lock around "look for a running instance, else listen" closes the
window in which two launches at the same moment would both start. A socket file left behind
by a crashed instance (Unix) refuses connections and is removed before listening again.
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import sys

from PySide6.QtCore import QLockFile, QObject, Signal
from PySide6.QtNetwork import QAbstractSocket, QLocalServer, QLocalSocket

from nexus_logger.core.settings import paths

_logger = logging.getLogger(__name__)

RAISE_MESSAGE = b"raise\n"
ACK = b"ok\n"


def current_user() -> str:
    """The OS login of this process, or a stand-in when the OS does not say."""
    try:
        return getpass.getuser()
    except Exception:  # getuser raises OSError/KeyError when no login name is known
        return "unknown-user"


def server_name(user: str | None = None, *, demo: bool = False) -> str:
    """The local-socket name for this user and data folder (short: Unix limits paths).

    The demo's window is an instance of its own: it writes only to the local demo file, so it
    must not stand in for the window that logs real sessions (a launch from the Startup
    shortcut would raise a forgotten demo and log nothing), nor the other way round.
    """
    key = f"{user or current_user()}|{paths.data_dir()}" + ("|demo" if demo else "")
    return "nexus-logger-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _let_the_running_window_come_forward() -> None:
    """On Windows, let the running instance take the foreground: Windows refuses it to a
    process in the background (its taskbar button only flashes, the window stays behind the
    microscope's software) unless the process the user just started allows it."""
    if sys.platform != "win32":
        return
    try:
        import ctypes

        ctypes.windll.user32.AllowSetForegroundWindow(-1)  # ASFW_ANY  # type: ignore[attr-defined]
    except (AttributeError, OSError) as err:  # a missing user32 must not stop the launch
        _logger.info("AllowSetForegroundWindow failed: %s", err)


class SingleInstance(QObject):
    """The local server of the running instance, and the client of a second launch."""

    #: Another launch asked this instance to bring its window to the front.
    raise_requested = Signal()

    def __init__(self, name: str | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name or server_name()
        self._server: QLocalServer | None = None

    @property
    def listening(self) -> bool:
        """True when this process is the running instance."""
        return self._server is not None and self._server.isListening()

    def acquire(self, timeout_ms: int = 1500) -> bool:
        """Become the running instance (True), or hand over to the running one (False)."""
        lock = self._startup_lock()
        try:
            if self.notify_running(timeout_ms):
                return False
            return self.listen()
        finally:
            if lock is not None:
                lock.unlock()

    def notify_running(self, timeout_ms: int = 1500) -> bool:
        """Ask a running instance to raise its window; True when one is there."""
        socket = QLocalSocket()
        socket.connectToServer(self.name)
        if not socket.waitForConnected(timeout_ms):
            if socket.error() not in (
                QLocalSocket.LocalSocketError.ServerNotFoundError,
                QLocalSocket.LocalSocketError.ConnectionRefusedError,
            ):
                _logger.info(
                    "No running instance answered on %s: %s", self.name, socket.errorString()
                )
            return False
        _let_the_running_window_come_forward()
        socket.write(RAISE_MESSAGE)
        socket.flush()
        answered = socket.waitForReadyRead(timeout_ms) and bytes(socket.readAll().data()) == ACK
        if not answered:
            # A server is listening, so an instance runs; it may be busy. Starting a second
            # one would open a second session, so this launch still gives way.
            _logger.warning("The running instance on %s did not answer in time", self.name)
        socket.disconnectFromServer()
        if socket.state() != QLocalSocket.LocalSocketState.UnconnectedState:
            socket.waitForDisconnected(timeout_ms)
        return True

    def listen(self) -> bool:
        """Listen for later launches, removing a socket a crashed instance left behind."""
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not server.listen(self.name):
            if server.serverError() == QAbstractSocket.SocketError.AddressInUseError:
                _logger.info("Removing the stale single-instance socket %s", self.name)
                QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                # Without the server this window still works; only the "raise the running
                # window" feature is lost, which must not stop the user from logging.
                _logger.warning(
                    "Cannot listen on %s (%s); a second launch will not find this window",
                    self.name,
                    server.errorString(),
                )
                server.deleteLater()
                return True
        server.newConnection.connect(self._on_new_connection)
        self._server = server
        _logger.debug("Single-instance server listening on %s", self.name)
        return True

    def close(self) -> None:
        """Stop listening (the socket name is freed for the next launch)."""
        if self._server is not None:
            self._server.close()
            self._server.deleteLater()
            self._server = None

    def _startup_lock(self) -> QLockFile | None:
        try:
            folder = paths.data_dir()
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            _logger.warning("No start-up lock (data folder not writable: %s)", err)
            return None
        lock = QLockFile(str(folder / f"{self.name}.lock"))
        lock.setStaleLockTime(10_000)
        if not lock.tryLock(5000):
            _logger.warning("The start-up lock %s is held; going on without it", folder)
            return None
        return lock

    def _on_new_connection(self) -> None:
        assert self._server is not None
        while self._server.hasPendingConnections():
            conn = self._server.nextPendingConnection()
            conn.readyRead.connect(lambda c=conn: self._on_message(c))
            conn.disconnected.connect(conn.deleteLater)
            if conn.bytesAvailable():
                self._on_message(conn)

    def _on_message(self, conn: QLocalSocket) -> None:
        data = bytes(conn.readAll().data())
        if RAISE_MESSAGE.strip() in data:
            _logger.info("Another launch asked for this window; raising it")
            conn.write(ACK)
            conn.flush()
            self.raise_requested.emit()
        else:
            _logger.warning("Unexpected single-instance message %r", data[:50])
        conn.disconnectFromServer()
