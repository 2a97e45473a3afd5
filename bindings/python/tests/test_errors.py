"""Every exception class, raised by the library itself, with its code and
the library's message."""

import errno
import json
import os
import pickle
import textwrap

import pytest

import libwal
from libwal import OP_PUT
from conftest import open_wal, run_python


def test_invalid_argument(wal_dir):
    with open_wal(wal_dir) as wal:
        with pytest.raises(libwal.InvalidError, match="op 0 is reserved") as caught:
            wal.append(0, b"k")
        assert caught.value.code == libwal.E_INVALID == -1
        assert isinstance(caught.value, ValueError)
        with pytest.raises(libwal.InvalidError):
            wal.append_batch([])
        with pytest.raises(libwal.InvalidError):
            wal.append_batch([(OP_PUT, b"k", b"v"), (255, b"k", b"v")])
        assert wal.last_seq == 0  # the batch was refused whole
    with pytest.raises(libwal.InvalidError, match="NUL"):
        libwal.Wal(str(wal_dir) + "\0suffix")


def test_io_error_is_an_oserror_with_errno_and_filename(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_bytes(b"")
    with pytest.raises(OSError) as caught:
        libwal.Wal(not_a_dir / "wal")
    err = caught.value
    assert type(err) is libwal.WalIOError and isinstance(err, libwal.WalError)
    assert (err.code, err.errno, err.strerror) == (libwal.E_IO, errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    assert err.filename == str(not_a_dir / "wal")
    assert str(err) == err.message and str(not_a_dir) in err.message

    missing = tmp_path / "missing"
    with pytest.raises(libwal.WalIOError) as caught:
        libwal.Wal(missing, create_if_missing=False)
    assert (caught.value.errno, caught.value.filename) == (errno.ENOENT, str(missing))

    again = pickle.loads(pickle.dumps(caught.value))  # e.g. from a multiprocessing worker
    assert (type(again), again.code, again.message, again.errno, again.filename) == \
        (libwal.WalIOError, caught.value.code, caught.value.message, errno.ENOENT, str(missing))


@pytest.mark.parametrize("message, directory, os_error, expected", [
    ("cannot open segment d/00000000000000000001.wal: No such file or directory (os error 2)",
     "d", errno.ENOENT, "d/00000000000000000001.wal"),
    # "wal.meta" in the words before the path is not the directory "wal"
    ("cannot rename to wal.meta wal/wal.meta.tmp: No space left on device (os error 28)",
     "wal", errno.ENOSPC, "wal/wal.meta.tmp"),
    ("cannot fsync directory /x/y/: Input/output error (os error 5)", "/x/y/", errno.EIO, "/x/y/"),
    ("cannot open log directory /a: b/wal: Not a directory (os error 20)", "/a: b/wal",
     errno.ENOTDIR, "/a: b/wal"),
    ("opening d/x.wal: cannot read d/x.wal: something", "d", 0, "d/x.wal"),
    ("a message that names no path", "/the/log", errno.EIO, "/the/log"),
])
def test_the_filename_is_the_path_the_message_names(message, directory, os_error, expected):
    err = libwal.errors.error_for(libwal.E_IO, message, os_error, directory)
    assert (err.filename, err.errno) == (expected, os_error or None)


def test_corrupt_record_in_the_middle(wal_dir):
    with open_wal(wal_dir) as wal:
        for fill in b"ABC":
            wal.append(OP_PUT, b"k", bytes([fill]) * 100)
    (segment,) = [p for p in wal_dir.iterdir() if p.suffix == ".wal"]
    data = bytearray(segment.read_bytes())
    data[data.index(b"B" * 100) + 50] ^= 0xFF  # damage record 2, record 3 stays valid
    segment.write_bytes(data)
    with pytest.raises(libwal.CorruptError) as caught:
        with open_wal(wal_dir) as wal:
            list(wal.records())
    assert caught.value.code == libwal.E_CORRUPT
    assert ".wal" in caught.value.message


def test_locked_by_a_second_writer(wal_dir):
    with open_wal(wal_dir):
        with pytest.raises(libwal.LockedError) as caught:
            open_wal(wal_dir)
        assert caught.value.code == libwal.E_LOCKED


def test_range(wal_dir):
    with open_wal(wal_dir) as wal:
        for _ in range(5):
            wal.append(OP_PUT, b"k")
        with pytest.raises(libwal.RangeError):
            wal.truncate(6)
        wal.truncate(3)
        with pytest.raises(libwal.RangeError) as caught:
            wal.records(after=1)  # records 2 and 3 are gone
        assert caught.value.code == libwal.E_RANGE
        with pytest.raises(libwal.RangeError):
            wal.replay(1, print)
        with pytest.raises(libwal.RangeError):
            wal.append(OP_PUT, b"k", bytes(libwal.MAX_RECORD_SIZE))
        with pytest.raises(libwal.InvalidError, match="out of range"):
            wal.truncate(-1)  # refused before ctypes would wrap it to 2**64 - 1


def test_read_only(wal_dir):
    open_wal(wal_dir).close()
    with open_wal(wal_dir, read_only=True) as wal:
        with pytest.raises(libwal.ReadOnlyError) as caught:
            wal.checkpoint()
        assert caught.value.code == libwal.E_READONLY


# A real write failure, as in c_tests/test_poison.c: RLIMIT_FSIZE makes a
# write past 64 KiB fail with EFBIG (SIGXFSZ ignored), in a child process so
# that the limit stays there.
POISON_CHILD = textwrap.dedent("""
    import json, resource, signal, sys
    import libwal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    wal = libwal.Wal(sys.argv[1], segment_size=1 << 20, preallocate=False)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, resource.RLIM_INFINITY))
    acked, seen = 0, []
    def failure(call):
        try:
            call()
        except libwal.WalError as err:
            seen.append([type(err).__name__, err.code, err.message])
    for _ in range(1000):
        try:
            acked = wal.append(libwal.OP_PUT, b"k", bytes(1000))
        except libwal.WalError as err:
            seen.append([type(err).__name__, err.code, err.message, getattr(err, "errno", None),
                         getattr(err, "filename", None)])
            break
    failure(lambda: wal.append(libwal.OP_PUT, b"k"))
    failure(wal.sync)
    failure(wal.close)
    print(json.dumps({"acked": acked, "errors": seen}))
""")


def test_a_failed_write_poisons_the_handle(wal_dir):
    child = run_python(POISON_CHILD, wal_dir)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout)
    io_error, *poisoned = report["errors"]
    assert io_error[:2] == ["WalIOError", libwal.E_IO]
    assert ".wal" in io_error[2] and "too large" in io_error[2]
    assert io_error[3] == errno.EFBIG
    assert io_error[4].startswith(str(wal_dir) + "/") and io_error[4].endswith(".wal")
    assert io_error[4] in io_error[2]
    assert [e[:2] for e in poisoned] == [["PoisonedError", libwal.E_POISONED]] * 3
    with open_wal(wal_dir) as wal:  # reopening recovers what was acknowledged
        assert wal.last_seq >= report["acked"] > 10


def test_every_code_has_its_class():
    """WAL_E_INTERNAL (a caught panic) cannot be caused from outside; its
    mapping is checked here with the rest."""
    classes = {libwal.E_INVALID: libwal.InvalidError, libwal.E_IO: libwal.WalIOError,
               libwal.E_CORRUPT: libwal.CorruptError, libwal.E_LOCKED: libwal.LockedError,
               libwal.E_POISONED: libwal.PoisonedError, libwal.E_RANGE: libwal.RangeError,
               libwal.E_READONLY: libwal.ReadOnlyError, libwal.E_INTERNAL: libwal.InternalError,
               libwal.E_TIMEOUT: libwal.WalTimeoutError}
    for code, cls in classes.items():
        err = libwal.errors.error_for(code, libwal.strerror(code))
        assert type(err) is cls and isinstance(err, libwal.WalError)
        assert (err.code, str(err)) == (code, libwal.strerror(code))
    assert type(libwal.errors.error_for(-99, "?")) is libwal.WalError
    assert issubclass(libwal.WalIOError, OSError) and issubclass(libwal.WalTimeoutError, TimeoutError)
