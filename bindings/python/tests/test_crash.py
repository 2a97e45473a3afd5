"""A Python writer killed with SIGKILL: every seq it was told of survives."""

import random
import signal
import subprocess
import sys
import textwrap
import time

from libwal import OP_PUT
from conftest import open_wal, python_env

ROUNDS = 3
CHILD_TIMEOUT_S = 30

# Appends with SYNC_ALWAYS (record n carries value(n)), printing each seq
# once its append has returned: a printed seq was acknowledged.
WRITER = textwrap.dedent("""
    import sys
    import libwal
    wal = libwal.Wal(sys.argv[1], segment_size=16 << 10, sync_mode=libwal.SYNC_ALWAYS)
    n = wal.last_seq
    while True:
        n += 1
        if n % 5 == 0:
            seq = wal.append_batch([(libwal.OP_PUT, b"batch", b"%d" % n), (libwal.OP_PUT, b"batch", b"%d+" % n)])
            n += 1
        else:
            seq = wal.append(libwal.OP_PUT, b"k", b"%d" % n * (n % 50))
        assert seq == n, (seq, n)
        print(seq, flush=True)
""")


def expected_value(seq, key):
    if key == b"batch":
        return b"%d+" % (seq - 1) if seq % 5 == 1 else b"%d" % seq
    return b"%d" % seq * (seq % 50)


def kill_after(wal_dir, acks):
    """Starts a writer, lets it acknowledge `acks` more seqs, kills it with
    SIGKILL at once; returns the last acknowledged seq."""
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(wal_dir)], stdout=subprocess.PIPE,
                             env=python_env(), text=True)
    deadline, last = time.monotonic() + CHILD_TIMEOUT_S, 0
    try:
        for _ in range(acks):
            line = child.stdout.readline()
            assert line and time.monotonic() < deadline, "the writer stopped or is too slow"
            last = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=CHILD_TIMEOUT_S)
    assert child.returncode == -signal.SIGKILL
    return last


def test_every_acknowledged_seq_survives_sigkill(wal_dir):
    rng = random.Random(7)
    acked = 0
    for _ in range(ROUNDS):
        acked = max(acked, kill_after(wal_dir, rng.randrange(50, 400)))
        with open_wal(wal_dir, segment_size=16 << 10) as wal:  # a restart: recovery, replay
            records = list(wal)
            assert wal.last_seq >= acked
        assert [r.seq for r in records] == list(range(1, len(records) + 1))
        assert len(records) >= acked
        for r in records:
            assert (r.op, r.value) == (OP_PUT, expected_value(r.seq, r.key)), r
