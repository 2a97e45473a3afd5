"""Builds the libwal wheel: the ctypes package and libwal.so, which cargo
builds from the libwal checkout this directory belongs to.

The wheel is tagged py3-none-<platform> (linux_x86_64 for a local build):
any Python 3 can load the library through ctypes, but only on the platform
it was compiled for. The library is the one `make` builds (the same
`cargo build --release`, so nothing is built twice), copied without its
debug info. Everything the build writes goes under the checkout's build/.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]  # bindings/python -> the checkout
MANIFEST = REPO / "Cargo.toml"
LIBRARY = "libwal.so"  # the file name inside the package, found by libwal/_native.py


def checkout() -> Path:
    if not (MANIFEST.is_file() and (REPO / "src" / "ffi").is_dir()):
        sys.exit(f"libwal's Python package is built from the libwal checkout: {MANIFEST} is "
                 "missing (build from bindings/python of a checkout; there is no sdist)")
    return REPO


def version() -> str:
    """The library's version, from Cargo.toml: the package and libwal.so
    inside it are released together."""
    found = re.search(r'^version = "([^"]+)"', (checkout() / "Cargo.toml").read_text(), re.M)
    if not found:
        sys.exit(f"no version in {MANIFEST}")
    return found.group(1)


def cargo_build() -> Path:
    """Runs `cargo build --release` in the checkout, as `make` does (another
    selection of packages would unify features differently and rebuild the
    library), and returns the cdylib cargo reports, wherever its target
    directory is."""
    cargo = os.environ.get("CARGO", "cargo")
    command = [cargo, "build", "--release", "--message-format=json-render-diagnostics"]
    try:
        run = subprocess.run(command, cwd=checkout(), stdout=subprocess.PIPE, text=True)
    except FileNotFoundError:
        sys.exit(f"building libwal needs the Rust toolchain: {cargo} was not found "
                 "(install it with rustup, or set CARGO)")
    if run.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with exit status {run.returncode}")
    for line in run.stdout.splitlines():
        message = json.loads(line) if line.startswith("{") else {}
        if message.get("reason") == "compiler-artifact" and "cdylib" in message["target"]["kind"]:
            for name in message["filenames"]:
                if Path(name).name == LIBRARY:
                    return Path(name)
    sys.exit(f"{' '.join(command)} reported no {LIBRARY}")


def copy_without_debug_info(source: Path, dest: Path) -> None:
    """strip --strip-debug keeps the symbol table (backtraces still name
    functions) and takes the library from about 6.6 MB to 1.6 MB."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    strip = os.environ.get("STRIP", "strip")
    try:
        subprocess.run([strip, "--strip-debug", "-o", str(dest), str(source)], check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"libwal: {strip} --strip-debug failed ({err}): the wheel carries the library "
              "with its debug info", file=sys.stderr)
        shutil.copyfile(source, dest)
    dest.chmod(0o755)


class BuildPy(build_py):
    """The package's Python files, and libwal.so beside them."""

    def run(self) -> None:
        super().run()
        copy_without_debug_info(cargo_build(), Path(self.build_lib) / "libwal" / LIBRARY)


class BinaryDistribution(Distribution):
    """Not pure: the package carries a compiled library (platlib, and a
    platform tag)."""

    def has_ext_modules(self) -> bool:
        return True


class BdistWheel(bdist_wheel):
    """Tied to no Python ABI, since ctypes loads the library:
    py3-none-<platform>."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


VERSION = version()
BUILD = REPO / "build" / "python-setuptools"
BUILD.mkdir(parents=True, exist_ok=True)
setup(
    version=VERSION,
    distclass=BinaryDistribution,
    cmdclass={"build_py": BuildPy, "bdist_wheel": BdistWheel},
    options={"build": {"build_base": str(BUILD)}, "egg_info": {"egg_base": str(BUILD)}},
)
