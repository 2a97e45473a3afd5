"""The constants of include/wal.h, without their WAL_ prefix (a test checks
that they match the header). The sync modes, recovery modes and named ops
are IntEnums; each is also a module constant (SYNC_ALWAYS is
SyncMode.ALWAYS), and any int is accepted where they are."""

from enum import IntEnum

# Status codes.
OK = 0
E_INVALID = -1
E_IO = -2
E_CORRUPT = -3
E_LOCKED = -4
E_POISONED = -5
E_RANGE = -6
E_READONLY = -7
E_INTERNAL = -8
E_TIMEOUT = -9


class _IntEnum(IntEnum):
    """str() is the number on every Python 3 (as 3.11 made it for IntEnum),
    so printing a record's op prints 1, not Op.PUT."""

    def __str__(self) -> str:
        return int.__repr__(self)


class Op(_IntEnum):
    """The named op codes. 1..254 are the caller's (a record's op is an Op
    when it is one of these, else a plain int); 0 is reserved."""

    PUT = 1
    DELETE = 2
    CHECKPOINT = 255  # reserved: written only by checkpoint()


class SyncMode(_IntEnum):
    """When an append is durable."""

    ALWAYS = 0  # default: a record is durable when its append returns
    EVERY = 1  # durable after every sync_every records, and on sync/checkpoint/close
    NONE = 2  # durable only after sync(), checkpoint() or close()


class RecoveryMode(_IntEnum):
    """What a writable open does with damage."""

    TAIL = 0  # default: cut off a torn tail of the newest segment
    SALVAGE = 1  # keep every record before the first damaged one


OP_PUT, OP_DELETE, OP_CHECKPOINT = Op.PUT, Op.DELETE, Op.CHECKPOINT
SYNC_ALWAYS, SYNC_EVERY, SYNC_NONE = SyncMode.ALWAYS, SyncMode.EVERY, SyncMode.NONE
RECOVER_TAIL, RECOVER_SALVAGE = RecoveryMode.TAIL, RecoveryMode.SALVAGE

MAX_RECORD_SIZE = 64 << 20  # the largest len(key) + len(value) of one record
MAX_BATCH_SIZE = 128 << 20  # the largest encoded size of one batch
