"""Wal.stats(): the counters of wal_stats, checked against the files."""

import threading

import pytest

import libwal
from libwal import OP_PUT
from conftest import open_wal


def segment_files(wal_dir):
    """(count, total length, bytes on disk) of the log's segment files."""
    stats = [p.stat() for p in sorted(wal_dir.glob("*.wal"))]
    return len(stats), sum(s.st_size for s in stats), sum(s.st_blocks * 512 for s in stats)


def test_stats_count_appends_writes_and_syncs(wal_dir):
    with open_wal(wal_dir, segment_size=4096, preallocate=False) as wal:
        assert wal.stats() == libwal.Stats(*[0] * len(libwal.Stats._fields))
        for i in range(60):
            wal.append(OP_PUT, b"key", b"%040d" % i)  # 3 + 40 bytes
        stats = wal.stats()
        count, length, disk = segment_files(wal_dir)
        assert (stats.records_appended, stats.bytes_appended) == (60, 60 * 43)
        assert count > 1 and (stats.segments, stats.disk_bytes) == (count, disk)
        assert stats.bytes_written == length  # no preallocation: every byte written once
        assert stats.syncs >= 60 and stats.group_max == 1
        assert stats.sync_us_p50 <= stats.sync_us_p99 <= stats.sync_us_max
    with pytest.raises(libwal.InvalidError, match="closed"):
        wal.stats()


def test_stats_from_threads_count_every_record(wal_dir):
    with open_wal(wal_dir) as wal:
        def append_50():
            for _ in range(50):
                wal.append(OP_PUT, b"k", b"v")

        threads = [threading.Thread(target=append_50) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = wal.stats()
        assert (stats.records_appended, stats.bytes_appended) == (400, 800)
        assert 1 <= stats.group_max <= 400
