"""durable_seq and wait(seq, durable=False, timeout=None): what wakes a
waiter, timeouts, close() and a failed write beside a wait, and the GIL,
which a waiting thread does not hold."""

import json
import textwrap
import threading
import time

import pytest

import libwal
from libwal import OP_PUT, SYNC_NONE
from conftest import open_wal, run_python


def start_waiter(wal, seq, **kwargs):
    """Runs wal.wait(seq, **kwargs) in a thread; result[0] is None when it
    returned, else the exception it raised."""
    result = []

    def wait():
        try:
            wal.wait(seq, **kwargs)
            result.append(None)
        except BaseException as err:
            result.append(err)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread, result


def finished(thread, within_s=10):
    thread.join(timeout=within_s)
    return not thread.is_alive()


def test_durable_seq_follows_syncs(wal_dir):
    with open_wal(wal_dir, sync_mode=SYNC_NONE) as wal:
        assert wal.durable_seq == 0
        wal.append(OP_PUT, b"k1")
        wal.append(OP_PUT, b"k2")
        assert (wal.last_seq, wal.durable_seq) == (2, 0)
        wal.sync()
        assert wal.durable_seq == 2
    with open_wal(wal_dir) as wal:  # SYNC_ALWAYS; the open makes what it found durable
        assert wal.durable_seq == 2
        seq = wal.append(OP_PUT, b"k3")
        assert wal.durable_seq == seq == 3
    with open_wal(wal_dir, read_only=True) as wal:
        assert wal.durable_seq == 3
    with pytest.raises(libwal.InvalidError):
        wal.durable_seq


def test_wait_wakes_on_append_and_on_sync(wal_dir):
    with open_wal(wal_dir, sync_mode=SYNC_NONE, segment_size=4096) as wal:
        wal.append(OP_PUT, b"k1")
        wal.wait(1)  # there already
        wal.wait(0, durable=True)
        appended, appended_result = start_waiter(wal, 3)
        durable, durable_result = start_waiter(wal, 3, durable=True)
        assert not finished(appended, 0.2) and not finished(durable, 0)
        wal.append(OP_PUT, b"k2", bytes(3000))  # across a segment
        wal.append(OP_PUT, b"k3")
        assert finished(appended) and appended_result == [None]
        assert not finished(durable, 0.2)
        wal.sync()
        assert finished(durable) and durable_result == [None]


def test_wait_times_out(wal_dir):
    with open_wal(wal_dir, sync_mode=SYNC_NONE) as wal:
        wal.append(OP_PUT, b"k")
        for timeout in (0.25, 0.0003, 0, -1):
            start = time.monotonic()
            with pytest.raises(libwal.WalTimeoutError) as caught:
                wal.wait(1, durable=True, timeout=timeout)
            elapsed = time.monotonic() - start
            assert max(timeout, 0) <= elapsed < max(timeout, 0) + 5
            err = caught.value
            assert isinstance(err, TimeoutError) and err.code == libwal.E_TIMEOUT
            assert "seq 1 was not durable" in str(err)
        wal.wait(1, timeout=0)  # appended: only checks, and it is there
        with pytest.raises(libwal.InvalidError):
            wal.wait(-1)
        with pytest.raises(libwal.InvalidError):
            wal.wait(1, timeout=float("nan"))


def test_close_ends_a_wait(wal_dir):
    wal = open_wal(wal_dir)
    thread, result = start_waiter(wal, 5)
    assert not finished(thread, 0.15)
    start = time.monotonic()
    wal.close()
    assert finished(thread) and time.monotonic() - start < 5
    assert isinstance(result[0], libwal.InvalidError) and "closed" in str(result[0])


def pure_python_work(seconds):
    """Loop iterations of plain Python done in `seconds`: needs the GIL."""
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        count += 1
    return count


def test_a_waiting_thread_releases_the_gil(wal_dir):
    """While one thread waits (no timeout), this thread runs Python at
    about its full rate (measured: 1.0 of its rate alone) and appends the
    records that wake the waiter. A wait that held the GIL inside wal_wait
    (called through ctypes.PyDLL, tried once) left it 0.15 of its rate."""
    with open_wal(wal_dir) as wal:
        alone = pure_python_work(0.3)
        thread, result = start_waiter(wal, 2)
        beside_waiter = pure_python_work(0.3)
        assert not finished(thread, 0)
        wal.append(OP_PUT, b"k1")
        assert not finished(thread, 0.05)
        wal.append(OP_PUT, b"k2")
        assert finished(thread) and result == [None]
        assert beside_waiter > 0.4 * alone, (alone, beside_waiter)


# A real write failure, as in test_errors.py: RLIMIT_FSIZE makes a write
# past 64 KiB fail with EFBIG, in a child process that keeps the limit.
POISON_WAIT_CHILD = textwrap.dedent("""
    import json, resource, signal, sys, threading
    import libwal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    wal = libwal.Wal(sys.argv[1], segment_size=1 << 20, preallocate=False)
    got = []
    def wait():
        try:
            wal.wait(1 << 40, durable=True, timeout=30)
            got.append("returned")
        except libwal.WalError as err:
            got.append(type(err).__name__)
    waiter = threading.Thread(target=wait)
    waiter.start()
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
    try:
        for _ in range(1000):
            wal.append(libwal.OP_PUT, b"k", bytes(1000))
        append = "no failure"
    except libwal.WalError as err:
        append = type(err).__name__
    waiter.join(timeout=30)
    print(json.dumps({"append": append, "waiter": got}))
""")


def test_a_failed_write_ends_a_wait_with_poisoned(wal_dir):
    child = run_python(POISON_WAIT_CHILD, wal_dir)
    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout) == {"append": "WalIOError", "waiter": ["PoisonedError"]}
