"""One exception class per WAL_E_* status code, all under WalError."""

from __future__ import annotations

import os
import re
from typing import Dict, Optional, Type

from .constants import (E_CORRUPT, E_INTERNAL, E_INVALID, E_IO, E_LOCKED, E_POISONED,
                        E_RANGE, E_READONLY, E_TIMEOUT)


class WalError(Exception):
    """A libwal call failed. ``code`` is the WAL_E_* status code and
    ``message`` the library's sentence, naming the file and the OS error
    where there is one."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidError(WalError, ValueError):
    """WAL_E_INVALID: a bad argument (reserved op, option out of range), or a
    call on a closed log."""


class WalIOError(WalError, OSError):
    """WAL_E_IO: the OS reported an error. An OSError: ``errno`` is the OS
    error number (ENOSPC, EIO, EACCES, ENOENT...; None if libwal had none),
    ``strerror`` its description, ``filename`` the path the error names (the
    log directory when the message names none). str() is libwal's message."""

    def __init__(self, code: int, message: str, errno: Optional[int] = None,
                 filename: Optional[str] = None) -> None:
        OSError.__init__(self, errno, os.strerror(errno) if errno else message, filename)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # type: ignore[override]  # pickles with all four fields
        return type(self), (self.code, self.message, self.errno, self.filename)


class CorruptError(WalError):
    """WAL_E_CORRUPT: damage that the recovery mode does not repair."""


class LockedError(WalError):
    """WAL_E_LOCKED: another handle, in any process, has the directory open
    for writing."""


class PoisonedError(WalError):
    """WAL_E_POISONED: an earlier write or sync failed on this handle; close
    it and reopen."""


class RangeError(WalError):
    """WAL_E_RANGE: a seq past the end of the log or below its start, or a
    record larger than MAX_RECORD_SIZE."""


class ReadOnlyError(WalError):
    """WAL_E_READONLY: a write on a read-only handle."""


class InternalError(WalError):
    """WAL_E_INTERNAL: a bug inside libwal (a caught panic); please report it."""


class WalTimeoutError(WalError, TimeoutError):
    """WAL_E_TIMEOUT: a wait gave up before what it waited for arrived."""


ERROR_CLASSES: Dict[int, Type[WalError]] = {
    E_INVALID: InvalidError,
    E_IO: WalIOError,
    E_CORRUPT: CorruptError,
    E_LOCKED: LockedError,
    E_POISONED: PoisonedError,
    E_RANGE: RangeError,
    E_READONLY: ReadOnlyError,
    E_INTERNAL: InternalError,
    E_TIMEOUT: WalTimeoutError,
}


def error_for(code: int, message: str, os_error: int = 0,
              directory: Optional[str] = None) -> WalError:
    """The exception for a status code (WalError itself for an unknown one).
    For WAL_E_IO, `os_error` is wal_last_os_error() and `directory` the log
    directory the call was about."""
    if code == E_IO:
        return WalIOError(code, message, os_error or None, named_path(message, directory, os_error))
    return ERROR_CLASSES.get(code, WalError)(code, message)


def named_path(message: str, directory: Optional[str], os_error: int = 0) -> Optional[str]:
    """The path that libwal's message names, else `directory`.

    libwal's I/O messages read "cannot <do what> <path>: <OS error>", where
    the OS error is Rust's "<strerror> (os error <errno>)" and every path is
    the directory as it was given to wal_open or a file inside it. So the
    path starts at the directory (at the start of a word) and ends where the
    OS error begins: at ": <strerror> (os error N)" when the errno is known,
    else at the next ": ".
    """
    if not directory:
        return directory
    base = directory.rstrip("/") or "/"
    end = re.escape(f": {os.strerror(os_error)} (os error {os_error})") if os_error else r"(?=: |$)"
    found = re.search(r"(?<!\S)(" + re.escape(base) + r"(?:/.*?)?)" + end, message)
    return found.group(1) if found else directory
