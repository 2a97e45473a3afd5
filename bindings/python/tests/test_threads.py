"""Many Python threads on one log: ctypes releases the GIL during each call,
so appends really run at once in libwal (and share fdatasyncs)."""

import threading
import time

import pytest

import libwal
from libwal import OP_PUT
from conftest import open_wal

THREADS, APPENDS = 4, 150


def run_threads(target, count):
    threads = [threading.Thread(target=target, args=(t,)) for t in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()


def test_concurrent_appends_and_batches_get_distinct_seqs(wal_dir):
    acked = {}  # seq -> (key, value)
    errors = []

    def writer(t):
        try:
            for i in range(APPENDS):
                key, value = b"t%d" % t, b"%d" % i
                if i % 10 == 0:
                    last = wal.append_batch([(OP_PUT, key, value), (OP_PUT, key, b"b" + value)])
                    acked[last - 1], acked[last] = (key, value), (key, b"b" + value)
                else:
                    acked[wal.append(OP_PUT, key, value)] = (key, value)
        except BaseException as err:
            errors.append(err)

    with open_wal(wal_dir) as wal:
        run_threads(writer, THREADS)
        assert errors == []
        total = THREADS * (APPENDS + APPENDS // 10)
        assert sorted(acked) == list(range(1, total + 1))
    with open_wal(wal_dir) as wal:
        assert {r.seq: (r.key, r.value) for r in wal} == acked
        # Each thread's records are in the order it appended them.
        for t in range(THREADS):
            mine = [r.value for r in wal if r.key == b"t%d" % t and not r.value.startswith(b"b")]
            assert mine == [b"%d" % i for i in range(APPENDS)]


def test_close_waits_for_calls_in_flight(wal_dir, spy, monkeypatch):
    """close() while other threads append: wal_close never runs beside a
    wal_append (the C API forbids it); each append either returns a seq that
    survives, or raises InvalidError ('closed')."""
    appends, acked, refusals = spy("wal_append"), [], []
    lib = libwal._native.lib()
    real_close, appends_beside_close = lib.wal_close, []

    def close_checked(pointer):
        appends_beside_close.append(appends.running)
        return real_close(pointer)

    monkeypatch.setattr(lib, "wal_close", close_checked)

    def writer(t):
        try:
            while True:
                acked.append(wal.append(OP_PUT, b"k", b"v"))
        except libwal.InvalidError as err:
            refusals.append(str(err))

    wal = open_wal(wal_dir)
    threads = [threading.Thread(target=writer, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acked) < 200 and time.monotonic() < deadline:
        time.sleep(0.001)
    wal.close()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()
    assert appends_beside_close == [0]
    assert refusals == ["the log is closed"] * THREADS
    with open_wal(wal_dir) as again:
        assert again.last_seq == len(acked) == max(acked) >= 200
        assert [r.seq for r in again] == sorted(acked)


def test_close_inside_a_replay_callback_is_refused(wal_dir):
    with open_wal(wal_dir) as wal:
        wal.append(OP_PUT, b"k")
        with pytest.raises(libwal.InvalidError, match="wait for itself"):
            wal.replay(0, lambda record: wal.close())
        assert wal.last_seq == 1
