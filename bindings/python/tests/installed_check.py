"""The package as `pip install bindings/python` installed it, used the way a
user's program would: run by make check (test-python-installed) from a
temporary directory, with `python -I`, no PYTHONPATH and no LIBWAL_PATH, in
a venv of its own. Not a pytest module (pytest is not in that venv).

Checks that the wheel was tagged for this platform and carried libwal.so,
that the package loads that copy, and that a log written, closed, reopened
and replayed keeps its records.
"""

import importlib.metadata
import os
import sys
import sysconfig
import tempfile
from pathlib import Path

import libwal

checks = 0


def check(condition, what):
    global checks
    if not condition:
        sys.exit(f"installed_check: FAILED: {what}")
    checks += 1


package = Path(libwal.__file__).resolve().parent
site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
check(package.parent in site, f"libwal imported from {package}, not from this venv's {site}")
check("LIBWAL_PATH" not in os.environ, "LIBWAL_PATH is set")

dist = importlib.metadata.distribution("libwal")
wheel = dict(line.split(": ", 1) for line in dist.read_text("WHEEL").splitlines() if ": " in line)
platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
check(wheel.get("Tag") == f"py3-none-{platform}", f"the wheel's tag is {wheel.get('Tag')}")
check(wheel.get("Root-Is-Purelib") == "false", "the wheel says it is pure")
installed = {str(f) for f in dist.files}
check("libwal/libwal.so" in installed, f"the wheel did not carry libwal/libwal.so: {sorted(installed)}")
check(dist.version == libwal.version(), f"package {dist.version}, library {libwal.version()}")
check(libwal.library_path() == str(package / "libwal.so"),
      f"loaded {libwal.library_path()}, not the package's own {package / 'libwal.so'}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "wal"
    with libwal.Wal(path, segment_size=64 << 10) as wal:
        first = wal.append(libwal.Op.PUT, b"k1", b"v1")
        last = wal.append_batch([(libwal.Op.PUT, b"k2", b"v2"), (libwal.Op.DELETE, b"k1", b"")])
        n = wal.checkpoint()
        wal.append(libwal.Op.PUT, b"k3", b"v3")
    check((first, last, n) == (1, 3, 4), f"seqs {(first, last, n)}")
    with libwal.Wal(path) as wal:
        replayed = []
        wal.replay(0, replayed.append)
    check([(r.seq, r.op, r.key, r.value) for r in replayed] ==
          [(1, libwal.Op.PUT, b"k1", b"v1"), (2, libwal.Op.PUT, b"k2", b"v2"),
           (3, libwal.Op.DELETE, b"k1", b""), (4, libwal.Op.CHECKPOINT, b"", b""),
           (5, libwal.Op.PUT, b"k3", b"v3")], f"replayed {replayed}")

print(f"installed_check: {checks} checks passed: {dist.metadata['Name']}-{dist.version}-"
      f"{wheel['Tag']}.whl, library {libwal.library_path()} (cwd {os.getcwd()})")
