"""Who runs this process, as the operating system knows it, not as the environment claims.

``getpass.getuser()`` reads ``LOGNAME``, ``USER``, ``LNAME`` and ``USERNAME`` first, so anyone can
call themselves anyone by setting a variable. Wherever nexus-logger decides or records who an
administrator is (the admin gate, the audit trail, "updated by" of a station), it asks this
module instead:

* on POSIX, the name of the real user id (``pwd.getpwuid(os.getuid())``);
* on Windows, the user of the process's access token (``GetUserNameExW`` as ``DOMAIN\\user``,
  else ``GetUserNameW``), read through ``ctypes`` without extra dependencies.

This is still only what the PC says about itself: on PostgreSQL the database account
(``session_user``) is what the server vouches for, and that is what the server-side rules use
(docs/postgres-roles.md).
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["ending_login", "os_login", "recorded_login", "same_user"]

_logger = logging.getLogger(__name__)

_NAME_SAM_COMPATIBLE = 2  # EXTENDED_NAME_FORMAT: DOMAIN\user


def _windows_login() -> str:
    import ctypes

    size = ctypes.c_ulong(512)
    buf = ctypes.create_unicode_buffer(size.value)
    try:
        secur32 = ctypes.WinDLL("secur32")  # type: ignore[attr-defined]
        if secur32.GetUserNameExW(_NAME_SAM_COMPATIBLE, buf, ctypes.byref(size)):
            return buf.value
    except OSError:  # no secur32 (very unusual); the plain name below still comes from the token
        pass
    size = ctypes.c_ulong(512)
    buf = ctypes.create_unicode_buffer(size.value)
    advapi32 = ctypes.WinDLL("advapi32")  # type: ignore[attr-defined]
    if advapi32.GetUserNameW(buf, ctypes.byref(size)):
        return buf.value
    return ""


def _posix_login() -> str:
    import pwd

    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # a uid without a passwd entry (containers): the number is still true
        return f"uid {uid}"


def os_login() -> str:
    """The real account of this process ('' only when the OS gives no answer at all)."""
    try:
        name = _windows_login() if sys.platform == "win32" else _posix_login()
    except Exception as err:  # ctypes/pwd failures: say nothing rather than guess
        _logger.warning("Could not read this process's account from the OS: %s", err)
        return ""
    return (name or "").strip()


def recorded_login() -> str:
    """The real account for a record that must name someone ("handled by", a PC's report).

    Never fails: ``"unknown"`` when the OS gives no name (a service account, an odd
    environment), never a name taken from ``LOGNAME`` or ``USERNAME``.
    """
    try:
        return os_login() or "unknown"
    except Exception:
        return "unknown"


def ending_login(owner: str | None, user: str) -> str | None:
    """Who an END of ``owner``'s session names as the login that ended it (its audit row):
    None when ``user`` (the login's name, or the name typed for the new session) is the
    owner; else the real account of this process. The name ``user`` came from LOGNAME,
    USER or USERNAME, which anyone can set: the trail named whoever the environment said."""
    return None if same_user(owner, user) else recorded_login()


def same_user(owner: str | None, current: str) -> bool:
    """True when ``owner`` is ``current`` (case and a ``DOMAIN\\`` prefix ignored).

    Windows logins are case-insensitive and may be stored with or without the domain.
    """
    if not owner:
        return False

    def bare(name: str) -> str:
        return name.strip().rsplit("\\", 1)[-1].casefold()

    return bare(owner) == bare(current)
