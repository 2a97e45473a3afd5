"""Records written by C and read by Python, and the reverse: c_peer.c
writes or verifies the log described in conftest.expected_record."""

import subprocess

from libwal import OP_CHECKPOINT, Record
from conftest import (CHILD_TIMEOUT_S, INTEROP_BATCH, INTEROP_LAST, INTEROP_SINGLES,
                      expected_record, open_wal)


def expected_log():
    records = [Record(i, *expected_record(i)) for i in range(1, INTEROP_LAST)]
    return records + [Record(INTEROP_LAST, OP_CHECKPOINT, b"", b"")]


def peer(c_peer, mode, directory):
    return subprocess.run([str(c_peer), mode, str(directory)], capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S)


def test_python_reads_what_c_wrote(c_peer, wal_dir):
    run = peer(c_peer, "write", wal_dir)
    assert run.returncode == 0, run.stderr
    with open_wal(wal_dir, read_only=True) as wal:
        assert list(wal) == expected_log()
        replayed = []
        wal.replay(INTEROP_SINGLES, replayed.append)
        assert replayed == expected_log()[INTEROP_SINGLES:]


def test_c_reads_what_python_wrote(c_peer, wal_dir):
    with open_wal(wal_dir, segment_size=4096) as wal:
        for i in range(1, INTEROP_SINGLES + 1):
            assert wal.append(*expected_record(i)) == i
        batch = [expected_record(i) for i in range(INTEROP_SINGLES + 1, INTEROP_LAST)]
        assert len(batch) == INTEROP_BATCH
        assert wal.append_batch(batch) == INTEROP_LAST - 1
        assert wal.checkpoint() == INTEROP_LAST
    run = peer(c_peer, "verify", wal_dir)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == f"verified {INTEROP_LAST} records"


def test_c_rejects_a_log_that_differs(c_peer, wal_dir):
    """The verifier can fail: one value byte off is caught."""
    with open_wal(wal_dir) as wal:
        for i in range(1, INTEROP_LAST):
            op, key, value = expected_record(i)
            wal.append(op, key, value if i != 7 else value[:-1] + b"?")
        wal.checkpoint()
    run = peer(c_peer, "verify", wal_dir)
    assert run.returncode == 1 and "record 7 (seq 7" in run.stderr
