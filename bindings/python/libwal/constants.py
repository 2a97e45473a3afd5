"""The constants of include/wal.h, without their WAL_ prefix (a test checks
that they match the header)."""

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

# Op codes: 1..254 are the caller's; these two are named for convenience.
OP_PUT = 1
OP_DELETE = 2
OP_CHECKPOINT = 255  # reserved: written only by checkpoint()

# Sync modes.
SYNC_ALWAYS = 0  # default: a record is durable when its append returns
SYNC_EVERY = 1  # durable after every sync_every records, and on sync/checkpoint/close
SYNC_NONE = 2  # durable only after sync(), checkpoint() or close()

# Recovery modes.
RECOVER_TAIL = 0  # default: cut off a torn tail of the newest segment
RECOVER_SALVAGE = 1  # keep every record before the first damaged one

MAX_RECORD_SIZE = 64 << 20  # the largest len(key) + len(value) of one record
