"""The Wal class: the README's protocol, reading back, buffers, closing."""

import gc
import os
import re
import textwrap
import warnings

import pytest

import libwal
from libwal import OP_CHECKPOINT, OP_DELETE, OP_PUT, Record
from conftest import REPO, open_wal, run_python


def test_protocol_append_batch_checkpoint_truncate_reopen_replay(wal_dir):
    with open_wal(wal_dir) as wal:
        assert (wal.first_seq, wal.last_seq) == (1, 0)
        assert wal.append(OP_PUT, b"k1", b"v1") == 1
        assert wal.append_batch([(OP_PUT, b"k2", b"v2"), (OP_DELETE, b"k1", b"")]) == 3
        n = wal.checkpoint()
        assert n == 4
        wal.truncate(n)
        assert (wal.first_seq, wal.last_seq) == (5, 4)
        assert wal.append(OP_PUT, b"k3", b"v3") == 5
        wal.sync()

    with open_wal(wal_dir) as wal:
        replayed = []
        wal.replay(n, replayed.append)
        assert replayed == [Record(5, OP_PUT, b"k3", b"v3")]
        assert wal.append(OP_PUT, b"k4") == 6  # the counter goes on after reopen


def test_records_after_n_include_checkpoints_and_whole_batches(wal_dir):
    with open_wal(wal_dir) as wal:
        for i in range(1, 6):
            wal.append(OP_PUT, b"k%d" % i, b"v" * i)
        wal.append_batch([(7, b"a", b"1"), (8, b"b", b"2")])
        wal.checkpoint()
        records = list(wal.records(after=3))
        assert [r.seq for r in records] == [4, 5, 6, 7, 8]
        assert records[0] == Record(4, OP_PUT, b"k4", b"vvvv")
        assert records[2:4] == [Record(6, 7, b"a", b"1"), Record(7, 8, b"b", b"2")]
        assert records[4] == Record(8, OP_CHECKPOINT, b"", b"")
        assert [r.seq for r in wal] == list(range(1, 9))  # iter(wal): everything
        assert list(wal.records(after=8)) == []


def test_replay_stops_on_the_callbacks_exception_and_may_append(wal_dir):
    with open_wal(wal_dir) as wal:
        for i in range(5):
            wal.append(OP_PUT, b"k", b"%d" % i)
        seen = []

        def apply(record):
            seen.append(record.seq)
            if record.seq == 3:
                raise KeyError("stop here")

        with pytest.raises(KeyError, match="stop here"):
            wal.replay(0, apply)
        assert seen == [1, 2, 3]
        appended = []  # the replay may or may not see this record
        wal.replay(4, lambda record: appended or appended.append(wal.append(OP_PUT, b"cb")))
        assert appended == [6] == [wal.last_seq]


def test_keys_and_values_are_bytes_like_and_str_is_refused(wal_dir):
    with open_wal(wal_dir) as wal:
        wal.append(OP_PUT, bytearray(b"ba"), memoryview(b"\x00mv\x00"))
        wal.append_batch([(OP_PUT, memoryview(b"abcdef")[1:3], bytearray(b""))])
        assert [(r.key, r.value) for r in wal] == [(b"ba", b"\x00mv\x00"), (b"bc", b"")]
        with pytest.raises(TypeError, match="encode"):
            wal.append(OP_PUT, "text", b"")
        with pytest.raises(TypeError, match="value must be bytes"):
            wal.append(OP_PUT, b"k", 42)
        with pytest.raises(TypeError):
            wal.append("1", b"k")
        assert wal.last_seq == 2


def test_options_are_applied_and_checked(wal_dir):
    with open_wal(wal_dir, segment_size=4096, sync_mode=libwal.SYNC_EVERY, sync_every=3,
                  preallocate=False) as wal:
        for _ in range(40):
            wal.append(OP_PUT, b"k", b"v" * 200)
    assert len([f for f in os.listdir(wal_dir) if f.endswith(".wal")]) > 1
    with open_wal(wal_dir, read_only=True) as reader:
        assert reader.last_seq == 40
    with pytest.raises(libwal.InvalidError, match="segment_size"):
        libwal.Wal(wal_dir / "small", segment_size=100)
    with pytest.raises(libwal.InvalidError, match="out of range"):
        libwal.Wal(wal_dir / "wrap", sync_mode=1 << 32)  # would wrap to SYNC_ALWAYS
    assert not (wal_dir / "small").exists() and not (wal_dir / "wrap").exists()
    with pytest.raises(libwal.WalIOError):
        libwal.Wal(wal_dir / "missing", create_if_missing=False)


def test_context_manager_closes_and_a_closed_log_refuses_calls(wal_dir):
    with open_wal(wal_dir) as wal:
        wal.append(OP_PUT, b"k")
        assert not wal.closed
    assert wal.closed
    assert "closed" in repr(wal)
    with pytest.raises(libwal.InvalidError, match="closed"):
        wal.append(OP_PUT, b"k")
    with pytest.raises(libwal.InvalidError, match="closed"):
        wal.last_seq
    wal.close()  # a second close does nothing
    with open_wal(wal_dir) as again:  # the lock was released
        assert again.last_seq == 1


def test_a_garbage_collected_log_is_closed_with_a_resource_warning(wal_dir):
    wal = open_wal(wal_dir)
    wal.append(OP_PUT, b"k")
    with pytest.warns(ResourceWarning, match=r"unclosed <libwal.Wal '.*wal'>"):
        del wal
        gc.collect()
    with open_wal(wal_dir) as again:  # no WAL_E_LOCKED: the handle was closed
        assert again.last_seq == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a closed log, or one that never opened: no warning
        del again
        with pytest.raises(libwal.InvalidError):
            libwal.Wal(wal_dir, segment_size=1)
        gc.collect()


def test_modes_and_ops_are_int_enums(wal_dir):
    assert [int(m) for m in libwal.SyncMode] == [0, 1, 2]
    assert [int(m) for m in libwal.RecoveryMode] == [0, 1]
    assert libwal.SYNC_EVERY is libwal.SyncMode.EVERY and libwal.OP_CHECKPOINT is libwal.Op.CHECKPOINT
    with open_wal(wal_dir, sync_mode=libwal.SyncMode.NONE,
                  recovery_mode=libwal.RecoveryMode.SALVAGE) as wal:
        wal.append(libwal.Op.DELETE, b"k")
        wal.append(7, b"own op")
        wal.checkpoint()
        ops = [r.op for r in wal]
    assert ops == [2, 7, 255]
    assert [type(op) for op in ops] == [libwal.Op, int, libwal.Op]  # named ops come back named
    assert ops[0] is libwal.Op.DELETE and ops[2] is libwal.Op.CHECKPOINT
    with pytest.raises(libwal.InvalidError):
        libwal.Wal(wal_dir / "bad", sync_mode=3)  # an int that is no mode: the library says no


def crash_after_appends(wal_dir, count):
    """A writer that appends `count` records (SYNC_ALWAYS, no preallocation)
    and dies without closing the log."""
    child = run_python(textwrap.dedent("""
        import os, sys, libwal
        wal = libwal.Wal(sys.argv[1], segment_size=64 << 10, preallocate=False)
        for i in range(int(sys.argv[2])):
            wal.append(libwal.Op.PUT, b"k", b"v%d" % i)
        os._exit(0)
    """), wal_dir, count)
    assert child.returncode == 0, child.stderr


def test_open_report_tells_of_a_cut_torn_tail_and_of_a_clean_close(wal_dir):
    crash_after_appends(wal_dir, 10)
    newest = max(wal_dir.glob("*.wal"))
    size = newest.stat().st_size
    with newest.open("ab") as f:  # a torn write: bytes that are no frame
        f.write(b"\xab" * 100)
    with open_wal(wal_dir, preallocate=False) as wal:
        assert wal.open_report() == libwal.OpenReport(
            clean_close=False, tail_cut=True, cut_offset=size, bytes_cut=100, salvage_dropped_from=0)
        assert [r.value for r in wal] == [b"v%d" % i for i in range(10)]
    assert b"\xab" * 100 not in newest.read_bytes()  # cut (the clean close may add its mark)
    with open_wal(wal_dir, preallocate=False) as wal:
        report = wal.open_report()
        assert (report.clean_close, report.tail_cut, report.bytes_cut) == (True, False, 0)
    with pytest.raises(libwal.InvalidError, match="closed"):
        wal.open_report()


def test_open_report_tells_where_salvage_cut_and_the_first_seq_it_dropped(wal_dir):
    with open_wal(wal_dir, preallocate=False) as wal:
        for fill in b"ABC":
            wal.append(OP_PUT, b"k", bytes([fill]) * 100)
    (segment,) = wal_dir.glob("*.wal")
    data = bytearray(segment.read_bytes())
    a_end, b_start = data.index(b"A" * 100) + 100, data.index(b"B" * 100)
    data[b_start + 50] ^= 0xFF  # damage record 2 of 3
    segment.write_bytes(data)
    with pytest.raises(libwal.CorruptError):  # TAIL: a cleanly closed log's record is no torn tail
        open_wal(wal_dir)
    salvage = dict(recovery_mode=libwal.RecoveryMode.SALVAGE, preallocate=False)
    with open_wal(wal_dir, read_only=True, **salvage) as reader:  # what a writable open would cut
        would = reader.open_report()
    assert segment.read_bytes() == data
    with open_wal(wal_dir, **salvage) as wal:
        report = wal.open_report()
        assert [r.value for r in wal] == [b"A" * 100]
    assert report == would
    assert (report.tail_cut, report.salvage_dropped_from) == (True, 2)
    assert a_end <= report.cut_offset < b_start
    assert report.bytes_cut == len(data) - report.cut_offset


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_iterators_close_at_the_end_on_close_on_exit_and_when_collected(wal_dir, spy):
    closes = spy("wal_iter_close")
    with open_wal(wal_dir) as wal:
        for i in range(10):
            wal.append(OP_PUT, b"k", b"v")
        assert len(list(wal.records())) == 10  # exhausted
        assert closes.calls == 1
        it = wal.records()
        next(it)
        it.close()
        assert list(it) == [] and closes.calls == 2
        with wal.records() as it:
            next(it)
        assert closes.calls == 3
        baseline = open_fds()
        for _ in range(20):  # half read, then dropped
            it = wal.records()
            next(it)
        del it
        gc.collect()
        assert closes.calls == 23
        assert open_fds() == baseline


def test_an_iterator_outlives_its_log(wal_dir):
    wal = open_wal(wal_dir)
    wal.append(OP_PUT, b"k1")
    wal.append(OP_PUT, b"k2")
    it = wal.records()
    assert next(it).key == b"k1"
    wal.close()
    assert [r.key for r in it] == [b"k2"]


def test_constants_match_the_header():
    header = (REPO / "include" / "wal.h").read_text()
    defines = dict(re.findall(r"^#define WAL_(\w+) (-?\d+|\(\d+ << \d+\))$", header, re.M))
    assert len(defines) >= 20
    for name, value in defines.items():
        if not name.startswith("VERSION_"):
            assert getattr(libwal, name) == eval(value), name
    assert libwal.version() == "{VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_PATCH}".format(**defines)
    assert libwal.strerror(libwal.E_LOCKED) != libwal.strerror(libwal.E_IO)


def test_the_readme_sample_runs(tmp_path):
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("\n### Python\n"):]
    start = section.index("```python\n") + len("```python\n")
    sample = section[start:section.index("\n```", start)]
    child = run_python(sample, cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert child.stdout.endswith("5 1 b'k3' b'v3'\n")
    report, locked, *_ = child.stdout.splitlines()
    assert report.startswith("OpenReport(clean_close=False, tail_cut=False")  # a new log
    assert "LOCK is held" in locked
