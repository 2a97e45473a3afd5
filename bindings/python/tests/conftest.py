"""Shared helpers: paths, small logs, the record pattern shared with
c_peer.c, the compiled C peer, and running Python children."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import libwal

PACKAGE_ROOT = Path(__file__).resolve().parents[1]  # bindings/python
REPO = PACKAGE_ROOT.parents[1]
CHILD_TIMEOUT_S = 60


def open_wal(path, **options):
    """A log with 64 KiB segments (several segments, little disk) unless
    told otherwise."""
    options.setdefault("segment_size", 64 << 10)
    return libwal.Wal(path, **options)


def expected_record(i):
    """Record i of the interop log; must match expected() in c_peer.c."""
    value = bytes((i * 7 + j) & 0xFF for j in range((i * 37) % 300))
    return 1 + i % 3, f"key-{i}".encode(), value


INTEROP_SINGLES, INTEROP_BATCH = 20, 10
INTEROP_LAST = INTEROP_SINGLES + INTEROP_BATCH + 1  # the checkpoint


def python_env(**extra):
    """The environment of a child interpreter that imports libwal from this
    tree (or from `PYTHONPATH` given in `extra`)."""
    return {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT), **extra}


def run_python(code, *args, env=None, **kwargs):
    """Runs `code` in a new interpreter; returns the finished process."""
    return subprocess.run([sys.executable, "-c", code, *map(str, args)],
                          env=env or python_env(), capture_output=True, text=True,
                          timeout=CHILD_TIMEOUT_S, **kwargs)


@pytest.fixture
def wal_dir(tmp_path):
    return tmp_path / "wal"


@pytest.fixture(scope="session")
def c_peer(tmp_path_factory):
    """c_peer.c compiled with $CC against include/wal.h and the libwal that
    the bindings load."""
    library = Path(libwal.library_path())
    out = tmp_path_factory.mktemp("c_peer") / "c_peer"
    command = [os.environ.get("CC", "cc"), "-std=c99", "-Wall", "-Wextra", "-Werror",
               f"-I{REPO / 'include'}", "-o", str(out), str(Path(__file__).parent / "c_peer.c"),
               str(library), f"-Wl,-rpath,{library.parent}"]
    subprocess.run(command, check=True, timeout=CHILD_TIMEOUT_S)
    return out


class Spy:
    """Stands in front of one of the library's functions and calls the real
    one, counting the calls made and those still running."""

    def __init__(self, real):
        self.real, self.calls, self.running = real, 0, 0
        self._lock = threading.Lock()

    def __call__(self, *args):
        with self._lock:
            self.calls += 1
            self.running += 1
        try:
            return self.real(*args)
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def spy(monkeypatch):
    """spy("wal_append") puts a Spy in front of that C function."""
    lib = libwal._native.lib()

    def install(name):
        installed = Spy(getattr(lib, name))
        monkeypatch.setattr(lib, name, installed)
        return installed

    return install
