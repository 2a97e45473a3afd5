"""Where the library is loaded from in the checkout and outside it. The
installed package (`pip install bindings/python`, whose wheel carries
libwal.so) is checked from outside the tree by installed_check.py, which
make check runs in a venv of its own."""

import ctypes.util
import shutil
import textwrap

import libwal
from conftest import PACKAGE_ROOT, REPO, python_env, run_python

# Prints where libwal was loaded from, after a round trip through a log.
SMOKE = textwrap.dedent("""
    import os, sys, libwal
    with libwal.Wal(sys.argv[1], segment_size=4096) as wal:
        seq = wal.append(libwal.OP_PUT, b"k", b"v")
        assert list(wal) == [libwal.Record(seq, libwal.OP_PUT, b"k", b"v")]
    print(libwal.library_path())
""")
NOT_THE_TREE = ("__pycache__", "tests", "setup.py", "libwal.so*")


def env_without_libwal_path(**extra):
    env = python_env(**extra)
    env.pop("LIBWAL_PATH", None)
    return env


def copy_package(dest):
    """Copies bindings/python, without the tests and what builds leave."""
    shutil.copytree(PACKAGE_ROOT, dest, ignore=shutil.ignore_patterns(*NOT_THE_TREE))
    return dest


def test_from_the_source_tree_it_loads_target_release(tmp_path):
    run = run_python(SMOKE, tmp_path / "wal", env=env_without_libwal_path())
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(REPO / "target" / "release" / "libwal.so")


def test_libwal_path_wins_and_a_bad_one_is_an_error(tmp_path):
    copy = tmp_path / "elsewhere" / "libwal.so.0"
    copy.parent.mkdir()
    shutil.copy(libwal.library_path(), copy)
    run = run_python(SMOKE, tmp_path / "wal", env=python_env(LIBWAL_PATH=str(copy)))
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(copy)

    missing = tmp_path / "missing.so"
    run = run_python(SMOKE, tmp_path / "wal", env=python_env(LIBWAL_PATH=str(missing)))
    assert run.returncode == 1
    assert f"LibraryNotFoundError: LIBWAL_PATH={missing}" in run.stderr


def test_outside_the_tree_it_asks_the_system_loader(tmp_path):
    site = copy_package(tmp_path / "project")  # bindings/python alone, no library
    if ctypes.util.find_library("wal") is None:  # no libwal installed system-wide
        run = run_python(SMOKE, tmp_path / "wal", env=env_without_libwal_path(PYTHONPATH=str(site)))
        assert run.returncode == 1
        assert "libwal's shared library was not found" in run.stderr
        assert str(site / "libwal" / "libwal.so") + ": not found" in run.stderr
    release = REPO / "target" / "release"
    run = run_python(SMOKE, tmp_path / "wal2", env=env_without_libwal_path(
        PYTHONPATH=str(site), LD_LIBRARY_PATH=str(release)))
    assert run.returncode == 0, run.stderr
    assert "libwal.so" in run.stdout
