"""One exception class per WAL_E_* status code, all under WalError."""

from __future__ import annotations

from typing import Dict, Type

from .constants import (E_CORRUPT, E_INTERNAL, E_INVALID, E_IO, E_LOCKED, E_POISONED,
                        E_RANGE, E_READONLY)


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


class WalIOError(WalError):
    """WAL_E_IO: the OS reported an error (ENOSPC, EIO, EACCES, ENOENT...)."""


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


ERROR_CLASSES: Dict[int, Type[WalError]] = {
    E_INVALID: InvalidError,
    E_IO: WalIOError,
    E_CORRUPT: CorruptError,
    E_LOCKED: LockedError,
    E_POISONED: PoisonedError,
    E_RANGE: RangeError,
    E_READONLY: ReadOnlyError,
    E_INTERNAL: InternalError,
}


def error_for(code: int, message: str) -> WalError:
    """The exception for a status code (WalError itself for an unknown one)."""
    return ERROR_CLASSES.get(code, WalError)(code, message)
