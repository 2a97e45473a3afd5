"""The Wal class (an open log) and its record iterator."""

from __future__ import annotations

import ctypes
import math
import os
import threading
import time
import warnings
from contextlib import contextmanager
from typing import (Callable, ContextManager, Dict, Iterable, Iterator, NamedTuple, Optional,
                    Tuple, Union)

from . import _native
from .constants import E_INVALID, E_TIMEOUT, OK, Op
from .errors import InvalidError, WalError, error_for

Buffer = Union[bytes, bytearray, memoryview]
PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]


class Record(NamedTuple):
    """One record of the log. ``op`` is an Op when it is one of the named
    ops, else the caller's int. A checkpoint has op Op.CHECKPOINT and empty
    key and value."""

    seq: int
    op: int
    key: bytes
    value: bytes


class OpenReport(NamedTuple):
    """What the open of a Wal found and did (wal_open_report). For a
    read-only Wal, which changes nothing, the cut fields say what a
    writable open would cut."""

    clean_close: bool  # the last writer closed the log cleanly
    tail_cut: bool  # the open cut the newest segment (a torn tail, or SALVAGE)
    cut_offset: int  # where the cut was made in the newest segment's file
    bytes_cut: int  # data bytes (not preallocated zeros) the cut removed
    salvage_dropped_from: int  # SALVAGE: the first seq dropped (handed out again); 0 if none


class Stats(NamedTuple):
    """A log's counters since its open (wal_stats), for monitoring, and its
    segment files now. records_appended / syncs is how many records group
    commit made durable per fdatasync."""

    records_appended: int  # records appended (batch entries one each, checkpoints too)
    bytes_appended: int  # key + value bytes of those records
    bytes_written: int  # bytes written to segment files (headers, frames, zeros)
    syncs: int  # fdatasyncs of segment files
    sync_us_p50: int  # fdatasync latency in microseconds, from a histogram
    sync_us_p99: int
    sync_us_max: int  # the slowest fdatasync, exactly
    group_max: int  # most records made durable by one fdatasync
    segments: int  # segment files in the log now
    disk_bytes: int  # bytes the segment files occupy on disk now


def _failure(directory: str, code: Optional[int] = None) -> WalError:
    """The exception for the call on the log in `directory` that just
    failed on this thread.

    libwal keeps the last error per OS thread. ctypes runs a C function on
    the calling thread (it only releases the GIL meanwhile), so reading the
    error right after the failing call, on the same thread, gets that call's.
    """
    lib = _native.lib()
    if code is None:
        code = lib.wal_last_error()
    message = lib.wal_last_error_message().decode("utf-8", "replace")
    return error_for(code, message or lib.wal_strerror(code).decode(),
                     lib.wal_last_os_error(), directory)


def _as_bytes(what: str, data: Buffer) -> bytes:
    """bytes as they are; bytearray and memoryview copied; str refused, since
    records come back as bytes and an implicit encoding would hide that."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        raise TypeError(f"{what} must be bytes-like, not str: encode it (e.g. {what}.encode())")
    try:
        return memoryview(data).tobytes()
    except TypeError:
        raise TypeError(f"{what} must be bytes, bytearray or memoryview, "
                        f"not {type(data).__name__}") from None


def _as_uint(what: str, value: int, bits: int) -> int:
    """value as a C unsigned integer of `bits` bits; ctypes would silently
    wrap a value out of range."""
    if not isinstance(value, int):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise InvalidError(E_INVALID, f"{what} {value} is out of range 0..{(1 << bits) - 1}")
    return value


_NAMED_OPS: Dict[int, Op] = {int(op): op for op in Op}

# The longest one wal_wait call made by Wal.wait lasts: how soon a wait
# notices close() and lets the main thread run a signal handler (Ctrl-C).
_WAIT_SLICE_S = 0.1


def _record(c: _native.CRecord) -> Record:
    """Copies a C record, whose buffers the library owns, into Python bytes."""
    key = ctypes.string_at(c.key, c.key_len) if c.key_len else b""
    value = ctypes.string_at(c.value, c.value_len) if c.value_len else b""
    return Record(c.seq, _NAMED_OPS.get(c.op, c.op), key, value)


class _Handle:
    """The wal_t pointer, and the calls in flight on it: wal_close must not
    race another call on the handle, so close waits for them to return."""

    def __init__(self, pointer: Optional[int]) -> None:
        self._pointer = pointer
        self._callers: Dict[int, int] = {}  # thread id -> calls in flight
        self._idle = threading.Condition()

    @property
    def closed(self) -> bool:
        return self._pointer is None

    @contextmanager
    def use(self) -> Iterator[int]:
        me = threading.get_ident()
        with self._idle:
            if self._pointer is None:
                raise InvalidError(E_INVALID, "the log is closed")
            self._callers[me] = self._callers.get(me, 0) + 1
            pointer = self._pointer
        try:
            yield pointer
        finally:
            with self._idle:
                self._callers[me] -= 1
                if not self._callers[me]:
                    del self._callers[me]
                    self._idle.notify_all()

    def take(self) -> Optional[int]:
        """Marks the handle closed once no call is in flight; returns the
        pointer to close, or None if it was already closed."""
        with self._idle:
            if threading.get_ident() in self._callers:
                raise InvalidError(E_INVALID, "close() inside a call on the same log "
                                   "(a replay callback?) would wait for itself")
            pointer, self._pointer = self._pointer, None
            self._idle.wait_for(lambda: not self._callers)
        return pointer


class Records(Iterator[Record]):
    """The records after a seq, in seq order (checkpoints included).

    It ends where the log ends at the time of reading (records appended
    later are for a new iterator). The C iterator is closed at the end, on
    an error, by close() or leaving a ``with`` block, or when this object is
    garbage collected. Safe to share between threads (one at a time reads).
    """

    def __init__(self, lib: ctypes.CDLL, iterator: Optional[int], directory: str) -> None:
        self._next_fn, self._close_fn = lib.wal_iter_next, lib.wal_iter_close
        self._iterator: Optional[int] = iterator
        self._directory = directory
        self._record = _native.CRecord()
        self._lock = threading.Lock()

    def __iter__(self) -> "Records":
        return self

    def __next__(self) -> Record:
        with self._lock:
            if self._iterator is None:
                raise StopIteration
            status = self._next_fn(self._iterator, ctypes.byref(self._record))
            if status == 1:
                return _record(self._record)
            error = _failure(self._directory, status) if status < 0 else None
            self._close_locked()
        if error is not None:
            raise error
        raise StopIteration

    def close(self) -> None:
        """Frees the C iterator; further iteration yields nothing."""
        with self._lock:
            self._close_locked()

    def _close_locked(self) -> None:
        if self._iterator is not None:
            self._close_fn(self._iterator)
            self._iterator = None

    def __enter__(self) -> "Records":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Wal:
    """An open log: a directory of segment files (see the README of libwal).

    Options left as None take the library's defaults (wal_options_init):
    64 MiB segments, SyncMode.ALWAYS, sync_every 100, RecoveryMode.TAIL,
    writable, preallocate, create_if_missing. Keys and values are bytes,
    bytearray or memoryview (str is refused: encode it). Every method may be
    called from many threads at once; close() waits for the calls in flight.
    Close it (or use ``with``): a Wal garbage-collected while open is closed
    with a ResourceWarning, as an unclosed file is.
    """

    _handle = _Handle(None)  # closed until wal_open succeeds

    def __init__(self, path: PathLike, *, segment_size: Optional[int] = None,
                 sync_mode: Optional[int] = None, sync_every: Optional[int] = None,
                 recovery_mode: Optional[int] = None, read_only: Optional[bool] = None,
                 preallocate: Optional[bool] = None,
                 create_if_missing: Optional[bool] = None) -> None:
        self._lib = lib = _native.lib()
        self.path = os.fsdecode(path)
        options = _native.Options()
        lib.wal_options_init(ctypes.byref(options))
        for name, value, bits in (("segment_size", segment_size, 64),
                                  ("sync_mode", sync_mode, 32),
                                  ("sync_every", sync_every, 32),
                                  ("recovery_mode", recovery_mode, 32)):
            if value is not None:
                setattr(options, name, _as_uint(name, value, bits))
        for name, flag in (("read_only", read_only), ("preallocate", preallocate),
                           ("create_if_missing", create_if_missing)):
            if flag is not None:
                setattr(options, name, int(bool(flag)))
        encoded = os.fsencode(path)
        if b"\0" in encoded:  # C would see only the part before it
            raise InvalidError(E_INVALID, f"the path {self.path!r} holds a NUL byte")
        pointer = ctypes.c_void_p()
        self._check_status(lib.wal_open(encoded, ctypes.byref(options), ctypes.byref(pointer)))
        self._handle = _Handle(pointer.value)

    def append(self, op: int, key: Buffer = b"", value: Buffer = b"") -> int:
        """Appends one record (op 1..254) and returns its seq; in SYNC_ALWAYS
        it is durable when this returns."""
        op = _as_uint("op", op, 8)
        key, value = _as_bytes("key", key), _as_bytes("value", value)
        with self._use() as w:
            return self._check_seq(self._lib.wal_append(w, op, key, len(key), value, len(value)))

    def append_batch(self, entries: Iterable[Tuple[int, Buffer, Buffer]]) -> int:
        """Appends (op, key, value) entries as one atomic batch: after a
        crash, all of them or none. Returns the last entry's seq."""
        items = list(entries)
        array = (_native.Entry * len(items))()
        for slot, (op, key, value) in zip(array, items):
            key, value = _as_bytes("key", key), _as_bytes("value", value)
            slot.op, slot.key, slot.key_len = _as_uint("op", op, 8), key, len(key)
            slot.value, slot.value_len = value, len(value)
        with self._use() as w:
            return self._check_seq(self._lib.wal_append_batch(w, array, len(items)))

    def checkpoint(self) -> int:
        """Appends a checkpoint record, makes it and everything before it
        durable, and returns its seq: the N to store with the engine's state."""
        with self._use() as w:
            return self._check_seq(self._lib.wal_checkpoint(w))

    def truncate(self, upto_seq: int) -> None:
        """Discards every record with seq <= upto_seq, durably."""
        upto_seq = _as_uint("upto_seq", upto_seq, 64)
        with self._use() as w:
            self._check_status(self._lib.wal_truncate(w, upto_seq))

    def truncate_after(self, seq: int) -> None:
        """Discards every record with seq > `seq` (the newest ones), durably:
        none of them is ever replayed again, every record up to `seq` stays
        intact, and the next append gets seq + 1. A crash during the call
        leaves the log as it was or as it is on return. `seq` == last_seq
        does nothing; past last_seq, below first_seq - 1 or below the newest
        checkpoint record it raises RangeError. An iterator whose next record
        was cut raises RangeError."""
        seq = _as_uint("seq", seq, 64)
        with self._use() as w:
            self._check_status(self._lib.wal_truncate_after(w, seq))

    def sync(self) -> None:
        """Makes every record appended so far durable."""
        with self._use() as w:
            self._check_status(self._lib.wal_sync(w))

    @property
    def last_seq(self) -> int:
        """The highest seq assigned so far; 0 for a new log."""
        with self._use() as w:
            return int(self._lib.wal_last_seq(w))

    @property
    def first_seq(self) -> int:
        """The lowest seq a replay can return; last_seq + 1 when none."""
        with self._use() as w:
            return int(self._lib.wal_first_seq(w))

    @property
    def durable_seq(self) -> int:
        """The durable watermark: every seq at or below it is on disk,
        synced; 0 when none is. A writable open starts it at the recovered
        last_seq; a read-only one reports the last_seq it found."""
        with self._use() as w:
            return int(self._lib.wal_durable_seq(w))

    def wait(self, seq: int, durable: bool = False, timeout: Optional[float] = None) -> None:
        """Blocks until last_seq >= seq (durable false) or durable_seq >= seq
        (durable true). Appends and syncs through this Wal wake it; any number
        of threads may wait at once, and the GIL is released while it waits,
        so other threads run meanwhile (appending, for instance).

        timeout is in seconds: None waits as long as it takes, 0 (or less)
        only checks. Raises WalTimeoutError (a TimeoutError) when the time
        runs out, PoisonedError if a write or sync failed before the seq
        arrived, InvalidError if the log is or gets closed (close() does not
        wait for a wait to end; the wait notices within 0.1 s)."""
        seq = _as_uint("seq", seq, 64)
        flag = int(bool(durable))
        if timeout is not None and math.isnan(timeout):
            raise InvalidError(E_INVALID, "timeout is NaN")
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0.0)
        while True:
            left = _WAIT_SLICE_S if deadline is None else min(deadline - time.monotonic(), _WAIT_SLICE_S)
            # Whole milliseconds, rounded up: a wait of 0.3 ms waits rather than only checks.
            left_ms = max(0, math.ceil(left * 1000))
            with self._use() as w:
                status = self._lib.wal_wait(w, seq, flag, left_ms)
                if status == OK:
                    return
                if status != E_TIMEOUT or (deadline is not None and time.monotonic() >= deadline):
                    raise _failure(self.path, status)

    def open_report(self) -> OpenReport:
        """What the open of this log found and did: a clean close or not,
        the cut of a torn tail or SALVAGE's cut, and the first seq SALVAGE
        dropped. An engine logs it at startup."""
        report = _native.OpenReport()
        with self._use() as w:
            self._check_status(self._lib.wal_open_report(w, ctypes.byref(report)))
        return OpenReport(bool(report.clean_close), bool(report.tail_cut), report.cut_offset,
                          report.bytes_cut, report.salvage_dropped_from)

    def stats(self) -> Stats:
        """The log's counters since its open and its segment files now; it
        costs one stat per segment file."""
        raw = _native.Stats()
        with self._use() as w:
            self._check_status(self._lib.wal_stats(w, ctypes.byref(raw)))
        return Stats(*(getattr(raw, name) for name in Stats._fields))

    def records(self, after: int = 0) -> Records:
        """An iterator over the records with seq > after (0: all retained)."""
        after = _as_uint("after", after, 64)
        iterator = ctypes.c_void_p()
        with self._use() as w:
            self._check_status(self._lib.wal_iter_open(w, after, ctypes.byref(iterator)))
        return Records(self._lib, iterator.value, self.path)

    def __iter__(self) -> Records:
        return self.records()

    def replay(self, after: int, fn: Callable[[Record], object]) -> None:
        """Calls fn(record) for each record with seq > after, in seq order,
        through wal_replay. An exception raised by fn stops the replay and
        propagates. fn may append to this log; it must not close it."""
        after = _as_uint("after", after, 64)
        raised = []

        def each(_ctx: Optional[int], record: "ctypes._Pointer[_native.CRecord]") -> int:
            try:
                fn(_record(record.contents))
                return 0
            except BaseException as err:  # re-raised below, KeyboardInterrupt too
                raised.append(err)
                return 1

        callback = _native.REPLAY_FN(each)
        with self._use() as w:
            status = self._lib.wal_replay(w, after, callback, None)
        if raised:
            raise raised[0]
        self._check_status(status)

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def close(self) -> None:
        """Syncs and closes the log; a second close does nothing. Raises
        PoisonedError if an earlier write failed (the handle is freed anyway)."""
        pointer = self._handle.take()
        if pointer is not None:
            self._check_status(self._lib.wal_close(pointer))

    def _use(self) -> ContextManager[int]:
        return self._handle.use()

    def _check_seq(self, seq: int) -> int:
        if seq == 0:
            raise _failure(self.path)
        return seq

    def _check_status(self, status: int) -> None:
        if status != OK:
            raise _failure(self.path, status)

    def __enter__(self) -> "Wal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if self._handle.closed:
            return
        try:
            warnings.warn(f"unclosed {self!r}: close it, or open it in a `with` block",
                          ResourceWarning, source=self)
        finally:
            try:
                self.close()
            except WalError:
                pass

    def __repr__(self) -> str:
        return f"<libwal.Wal {self.path!r}{' closed' if self.closed else ''}>"


def version() -> str:
    """The loaded library's version, "MAJOR.MINOR.PATCH"."""
    return str(_native.lib().wal_version().decode())


def strerror(code: int) -> str:
    """The library's static description of a status code."""
    return str(_native.lib().wal_strerror(code).decode())
