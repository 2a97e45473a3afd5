"""truncate_after(seq) as wal-api.md states it: past last_seq RangeError,
last_seq nothing to do, a cut inside a batch keeps its first entries, the
next append gets seq + 1, records above seq never come back (not after a
reopen either), an iterator whose next record was cut raises RangeError,
and a cut below the newest checkpoint or below first_seq - 1 is refused."""

import pytest

import libwal
from libwal import OP_DELETE, OP_PUT
from conftest import open_wal


def seqs_and_keys(wal):
    return [(r.seq, r.key) for r in wal]


def test_a_cut_keeps_what_is_at_or_below_and_the_next_append_follows(wal_dir):
    with open_wal(wal_dir, segment_size=4096) as wal:
        for i in range(1, 5):
            wal.append(OP_PUT, b"k%d" % i, bytes(1500))  # across segments
        assert wal.append_batch([(OP_PUT, b"b5", b""), (OP_PUT, b"b6", b""), (OP_PUT, b"b7", b""),
                                 (OP_DELETE, b"b8", b"")]) == 8
        before = list(wal)
        with pytest.raises(libwal.RangeError):
            wal.truncate_after(9)
        wal.truncate_after(8)  # last_seq: nothing to do
        assert list(wal) == before

        ahead = wal.records(after=6)
        assert next(ahead).seq == 7
        wal.truncate_after(6)  # inside the batch: b5 and b6 stay
        assert wal.last_seq == 6
        assert wal.append(OP_PUT, b"new7") == 7
        with pytest.raises(libwal.RangeError):
            next(ahead)  # its next record, 8, was cut
        assert list(wal) == before[:6] + [libwal.Record(7, OP_PUT, b"new7", b"")]
        kept = list(wal)
    with open_wal(wal_dir, segment_size=4096) as wal:
        assert list(wal) == kept


def test_a_cut_below_a_checkpoint_or_below_first_seq_is_refused(wal_dir):
    with open_wal(wal_dir) as wal:
        for i in range(6):
            wal.append(OP_PUT, b"k%d" % i)
        wal.truncate(3)
        with pytest.raises(libwal.RangeError):
            wal.truncate_after(2)  # below first_seq - 1: gone already
        wal.truncate_after(3)  # every record left
        assert (wal.first_seq, wal.last_seq, list(wal)) == (4, 3, [])
        assert wal.append(OP_PUT, b"k") == 4
        cp = wal.checkpoint()
        wal.append(OP_PUT, b"after")
        with pytest.raises(libwal.RangeError) as caught:
            wal.truncate_after(cp - 1)
        assert "checkpoint" in str(caught.value) and wal.last_seq == cp + 1
        wal.truncate_after(cp)
        assert wal.last_seq == cp
        with pytest.raises(libwal.InvalidError):
            wal.truncate_after(-1)
    with pytest.raises(libwal.InvalidError):
        wal.truncate_after(1)  # closed
    with open_wal(wal_dir, read_only=True) as ro:
        with pytest.raises(libwal.ReadOnlyError):
            ro.truncate_after(cp)
