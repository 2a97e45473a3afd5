"""Python bindings for libwal, a crash-safe write-ahead log (ctypes; no
compiler needed). See the README of libwal for the protocol and guarantees.

    from libwal import Wal, OP_PUT

    with Wal("my-log") as wal:
        seq = wal.append(OP_PUT, b"key", b"value")
        for record in wal.records(after=0):
            print(record.seq, record.op, record.key, record.value)
"""

from ._native import LibraryNotFoundError, library_path
from .constants import (E_CORRUPT, E_INTERNAL, E_INVALID, E_IO, E_LOCKED, E_POISONED, E_RANGE,
                        E_READONLY, MAX_RECORD_SIZE, OK, OP_CHECKPOINT, OP_DELETE, OP_PUT,
                        RECOVER_SALVAGE, RECOVER_TAIL, SYNC_ALWAYS, SYNC_EVERY, SYNC_NONE)
from .errors import (CorruptError, InternalError, InvalidError, LockedError, PoisonedError,
                     RangeError, ReadOnlyError, WalError, WalIOError)
from .wal import Record, Records, Wal, strerror, version

__all__ = [
    "Wal", "Record", "Records", "version", "strerror", "library_path",
    "WalError", "InvalidError", "WalIOError", "CorruptError", "LockedError",
    "PoisonedError", "RangeError", "ReadOnlyError", "InternalError", "LibraryNotFoundError",
    "OK", "E_INVALID", "E_IO", "E_CORRUPT", "E_LOCKED", "E_POISONED", "E_RANGE", "E_READONLY",
    "E_INTERNAL", "OP_PUT", "OP_DELETE", "OP_CHECKPOINT", "SYNC_ALWAYS", "SYNC_EVERY",
    "SYNC_NONE", "RECOVER_TAIL", "RECOVER_SALVAGE", "MAX_RECORD_SIZE",
]
