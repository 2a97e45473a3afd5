"""Finding and loading libwal's shared library, and its C signatures.

The library is looked for, in order:

1. ``LIBWAL_PATH``: the path of the library file; nothing else is tried.
2. Beside this package (``libwal.so.0`` copied in before ``pip install``).
3. ``target/release`` of the libwal checkout this package sits in, when it is
   run from the source tree (``bindings/python``).
4. The system's library path: ``ctypes.util.find_library("wal")``, then
   ``libwal.so.0``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from pathlib import Path
from typing import List, Optional

# The C API major version these bindings speak (WAL_VERSION_MAJOR).
API_MAJOR = 0

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
    "wal_sync": (_int, [_vp]),
    "wal_last_seq": (_u64, [_vp]),
    "wal_first_seq": (_u64, [_vp]),
    "wal_iter_open": (_int, [_vp, _u64, ctypes.POINTER(_vp)]),
    "wal_iter_next": (_int, [_vp, ctypes.POINTER(CRecord)]),
    "wal_iter_close": (None, [_vp]),
    "wal_replay": (_int, [_vp, _u64, REPLAY_FN, _vp]),
    "wal_last_error": (_int, []),
    "wal_last_error_message": (ctypes.c_char_p, []),
    "wal_strerror": (ctypes.c_char_p, [_int]),
    "wal_version": (ctypes.c_char_p, []),
}


def _candidates() -> List[str]:
    here = Path(__file__).resolve().parent
    found = [str(here / name) for name in ("libwal.so.0", "libwal.so")]
    checkout = here.parents[2]  # bindings/python/libwal -> the repository
    if (checkout / "include" / "wal.h").is_file():
        found.append(str(checkout / "target" / "release" / "libwal.so"))
    system = ctypes.util.find_library("wal")
    if system:
        found.append(system)
    found.append("libwal.so.0")
    return found


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    version = lib.wal_version().decode()
    if int(version.split(".")[0]) != API_MAJOR:
        raise LibraryNotFoundError(
            f"{lib._name}: libwal {version} does not match these bindings "
            f"(C API major version {API_MAJOR})")
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
        "libwal's shared library was not found; build it with `make` or set "
        "LIBWAL_PATH to the library file. Tried:\n  " + "\n  ".join(tried))


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
