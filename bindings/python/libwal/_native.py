"""Finding and loading libwal's shared library, and its C signatures.

The library is looked for, in order:

1. ``LIBWAL_PATH``: the path of the library file; nothing else is tried.
2. ``libwal.so`` in this package: an installed wheel carries it there.
3. ``target/release`` of the libwal checkout this package sits in, when it is
   run from the source tree (``bindings/python``).
4. The system's library path: ``ctypes.util.find_library("wal")``, then
   ``libwal.so.0.2`` (the soname).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import List, Optional

# The C ABI these bindings speak: MAJOR.MINOR while MAJOR is 0 (each 0.x
# release may change it), MAJOR after that; as in the library's soname.
ABI = (0, 2)
SONAME = "libwal.so." + ".".join(map(str, ABI))

_c_uint8_p = ctypes.POINTER(ctypes.c_uint8)


class LibraryNotFoundError(OSError):
    """libwal's shared library could not be found or loaded."""


class Options(ctypes.Structure):
    _fields_ = [
        ("segment_size", ctypes.c_uint64),
        ("sync_mode", ctypes.c_uint32),
        ("sync_every", ctypes.c_uint32),
        ("recovery_mode", ctypes.c_uint32),
        ("read_only", ctypes.c_uint32),
        ("preallocate", ctypes.c_uint32),
        ("create_if_missing", ctypes.c_uint32),
        ("reserved", ctypes.c_uint64 * 8),
    ]


class OpenReport(ctypes.Structure):
    _fields_ = [
        ("clean_close", ctypes.c_uint32),
        ("tail_cut", ctypes.c_uint32),
        ("cut_offset", ctypes.c_uint64),
        ("bytes_cut", ctypes.c_uint64),
        ("salvage_dropped_from", ctypes.c_uint64),
        ("reserved", ctypes.c_uint64 * 4),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("records_appended", ctypes.c_uint64),
        ("bytes_appended", ctypes.c_uint64),
        ("bytes_written", ctypes.c_uint64),
        ("syncs", ctypes.c_uint64),
        ("sync_us_p50", ctypes.c_uint64),
        ("sync_us_p99", ctypes.c_uint64),
        ("sync_us_max", ctypes.c_uint64),
        ("group_max", ctypes.c_uint64),
        ("segments", ctypes.c_uint64),
        ("disk_bytes", ctypes.c_uint64),
        ("reserved", ctypes.c_uint64 * 6),
    ]


class Entry(ctypes.Structure):
    # c_char_p fields take a bytes object without copying it and keep it
    # alive as long as the structure; lengths are explicit, so NULs are fine.
    _fields_ = [
        ("op", ctypes.c_uint8),
        ("key", ctypes.c_char_p),
        ("key_len", ctypes.c_size_t),
        ("value", ctypes.c_char_p),
        ("value_len", ctypes.c_size_t),
    ]


class CRecord(ctypes.Structure):
    _fields_ = [
        ("seq", ctypes.c_uint64),
        ("op", ctypes.c_uint8),
        ("key", _c_uint8_p),
        ("key_len", ctypes.c_size_t),
        ("value", _c_uint8_p),
        ("value_len", ctypes.c_size_t),
    ]


REPLAY_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(CRecord))

_u64, _int, _vp = ctypes.c_uint64, ctypes.c_int, ctypes.c_void_p
_SIGNATURES = {
    "wal_options_init": (None, [ctypes.POINTER(Options)]),
    "wal_open": (_int, [ctypes.c_char_p, ctypes.POINTER(Options), ctypes.POINTER(_vp)]),
    "wal_close": (_int, [_vp]),
    "wal_append": (_u64, [_vp, ctypes.c_uint8, ctypes.c_char_p, ctypes.c_size_t,
                          ctypes.c_char_p, ctypes.c_size_t]),
    "wal_append_batch": (_u64, [_vp, ctypes.POINTER(Entry), ctypes.c_size_t]),
    "wal_checkpoint": (_u64, [_vp]),
    "wal_truncate": (_int, [_vp, _u64]),
    "wal_truncate_after": (_int, [_vp, _u64]),
    "wal_sync": (_int, [_vp]),
    "wal_last_seq": (_u64, [_vp]),
    "wal_first_seq": (_u64, [_vp]),
    "wal_iter_open": (_int, [_vp, _u64, ctypes.POINTER(_vp)]),
    "wal_iter_next": (_int, [_vp, ctypes.POINTER(CRecord)]),
    "wal_iter_close": (None, [_vp]),
    "wal_replay": (_int, [_vp, _u64, REPLAY_FN, _vp]),
    "wal_open_report": (_int, [_vp, ctypes.POINTER(OpenReport)]),
    "wal_durable_seq": (_u64, [_vp]),
    "wal_wait": (_int, [_vp, _u64, ctypes.c_uint32, ctypes.c_int64]),
    "wal_stats": (_int, [_vp, ctypes.POINTER(Stats)]),
    "wal_last_error": (_int, []),
    "wal_last_error_message": (ctypes.c_char_p, []),
    "wal_last_os_error": (_int, []),
    "wal_strerror": (ctypes.c_char_p, [_int]),
    "wal_version": (ctypes.c_char_p, []),
}


def _candidates() -> List[str]:
    here = Path(__file__).resolve().parent
    found = [str(here / "libwal.so")]
    checkout = here.parents[2]  # bindings/python/libwal -> the repository
    if (checkout / "include" / "wal.h").is_file():
        found.append(str(checkout / "target" / "release" / "libwal.so"))
    system = ctypes.util.find_library("wal")
    if system:
        found.append(system)
    found.append(SONAME)
    return found


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Checks the library's version (before any other symbol is looked up:
    another ABI may lack some), then declares the signatures."""
    lib.wal_version.restype, lib.wal_version.argtypes = ctypes.c_char_p, []
    version = lib.wal_version().decode()
    numbers = tuple(int(part) for part in version.split(".")[:2])
    if numbers[:len(ABI)] != ABI:
        raise LibraryNotFoundError(
            f"{lib._name}: libwal {version} does not match these bindings "
            f"(libwal {'.'.join(map(str, ABI))}.x)")
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


def _load() -> ctypes.CDLL:
    explicit = os.environ.get("LIBWAL_PATH")
    if explicit:
        try:
            return _declare(ctypes.CDLL(explicit))
        except OSError as err:
            raise LibraryNotFoundError(f"LIBWAL_PATH={explicit}: {err}") from err
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path}: not found")
            continue
        try:
            return _declare(ctypes.CDLL(path))
        except OSError as err:
            tried.append(str(err))
    raise LibraryNotFoundError(
        "libwal's shared library was not found: install this package with pip (its wheel "
        "carries the library), run it from a checkout built with `make`, or set LIBWAL_PATH "
        "to the library file. Tried:\n  " + "\n  ".join(tried))


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def lib() -> ctypes.CDLL:
    """The loaded library, loaded on first use."""
    global _lib
    with _lock:
        if _lib is None:
            _lib = _load()
        return _lib


def library_path() -> str:
    """The path of the shared library in use (loading it if needed)."""
    return lib()._name
