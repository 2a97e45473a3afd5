"""Python bindings for libwal, a crash-safe write-ahead log (ctypes; no
compiler needed). See the README of libwal for the protocol and guarantees.

    from libwal import Wal, Op

    with Wal("my-log") as wal:
        seq = wal.append(Op.PUT, b"key", b"value")
        for record in wal.records(after=0):
            print(record.seq, record.op, record.key, record.value)
"""

from ._native import LibraryNotFoundError, library_path
from .constants import (E_CORRUPT, E_INTERNAL, E_INVALID, E_IO, E_LOCKED, E_POISONED, E_RANGE,
                        E_READONLY, E_TIMEOUT, MAX_BATCH_SIZE, MAX_RECORD_SIZE, OK, OP_CHECKPOINT, OP_DELETE, OP_PUT,
                        RECOVER_SALVAGE, RECOVER_TAIL, SYNC_ALWAYS, SYNC_EVERY, SYNC_NONE, Op,
                        RecoveryMode, SyncMode)
from .errors import (CorruptError, InternalError, InvalidError, LockedError, PoisonedError,
                     RangeError, ReadOnlyError, WalError, WalIOError, WalTimeoutError)
from .wal import OpenReport, Record, Records, Stats, Wal, strerror, version

__all__ = [
    "Wal", "Record", "Records", "OpenReport", "Stats", "version", "strerror", "library_path",
    "Op", "SyncMode", "RecoveryMode",
    "WalError", "InvalidError", "WalIOError", "CorruptError", "LockedError",
    "PoisonedError", "RangeError", "ReadOnlyError", "InternalError", "WalTimeoutError",
    "LibraryNotFoundError",
    "OK", "E_INVALID", "E_IO", "E_CORRUPT", "E_LOCKED", "E_POISONED", "E_RANGE", "E_READONLY",
    "E_INTERNAL", "E_TIMEOUT", "OP_PUT", "OP_DELETE", "OP_CHECKPOINT", "SYNC_ALWAYS", "SYNC_EVERY",
    "SYNC_NONE", "RECOVER_TAIL", "RECOVER_SALVAGE", "MAX_RECORD_SIZE",
    "MAX_BATCH_SIZE",
]
