#!/bin/sh
# Checks an installed libwal the way a user meets it: `make install` has put
# it under PREFIX. This checks the files, links, soname and stripping, then
# builds programs from outside the tree with pkg-config: examples/demo.c (C)
# and c_tests/cxx/test_wal_hpp.cpp (C++), each linked dynamically (it must
# load libwal.so.SOVER from PREFIX) and against libwal.a (it must not need
# libwal.so); demo.c fully -static (no dynamic section at all); the
# -fno-exceptions C++ test; and runs them. Then it moves the tree elsewhere
# and builds and runs against the moved copy, with the original gone.
# Usage: test_install.sh WORKDIR (PREFIX is WORKDIR/prefix); environment:
# CC, CXX, VERSION, SOVER; CI=true turns a skip into a failure.
set -eu
work=$1
prefix=$work/prefix
lib=$prefix/lib
fail() { echo "test-install: $*" >&2; exit 1; }
skip() {
    echo "test-install: skipped: $*"
    [ "${CI:-}" != true ] || fail "a skipped test fails under CI=true"
}
command -v pkg-config >/dev/null 2>&1 || { skip "pkg-config is not installed"; exit 0; }
command -v readelf >/dev/null 2>&1 || { skip "readelf (binutils) is not installed"; exit 0; }

# The files, the links and the shared library's soname.
so=libwal.so.$VERSION
for f in include/wal.h include/wal.hpp lib/libwal.a "lib/$so" "lib/.debug/$so.debug" lib/pkgconfig/wal.pc; do
    [ -f "$prefix/$f" ] || fail "make install did not install $f"
done
[ "$(readlink "$lib/libwal.so.$SOVER")" = "$so" ] || fail "libwal.so.$SOVER is not a link to $so"
[ "$(readlink "$lib/libwal.so")" = "libwal.so.$SOVER" ] || fail "libwal.so is not a link to libwal.so.$SOVER"
readelf -d "$lib/$so" | grep -q "SONAME.*\[libwal\.so\.$SOVER\]" ||
    fail "the soname of $so is not libwal.so.$SOVER: $(readelf -d "$lib/$so" | grep SONAME)"

# Stripped: no debug info, symbol table or bitcode in what programs link;
# the shared library's debug info is in lib/.debug, named (with its CRC) by
# the library's .gnu_debuglink, where gdb looks for it.
sections() { readelf -S -W "$1" | sed -n 's/^ *\[ *[0-9]*\] \([^ ]*\) .*/\1/p'; }
if sections "$lib/$so" | grep -E "^\.(debug_info|debug_line|debug_str|symtab|llvmbc)$"; then fail "$so is not stripped"; fi
left=$(sections "$lib/libwal.a" | grep -E '^\.(debug_|llvmbc$|llvmcmd$)' | sort -u) || true
[ -z "$left" ] || fail "libwal.a is not stripped: it has $left"
sections "$lib/libwal.a" | grep -q '^\.text' || fail "libwal.a holds no code"

sections "$lib/$so" | grep -qx .dynsym || fail "$so lost its dynamic symbol table"
sections "$lib/.debug/$so.debug" | grep -qx .debug_info || fail "lib/.debug/$so.debug holds no debug info"
python3 - "$lib/$so" "$lib/.debug/$so.debug" <<'EOF' || fail "the .gnu_debuglink of $so does not name lib/.debug/$so.debug"
import os, struct, subprocess, sys, zlib
lib, debug = sys.argv[1:]
tmp = debug + ".link"
subprocess.run(["objcopy", "--dump-section", ".gnu_debuglink=" + tmp, lib], check=True)
link = open(tmp, "rb").read()
os.remove(tmp)
name = link[: link.index(b"\0")].decode()
(crc,) = struct.unpack("<I", link[-4:])
assert name == os.path.basename(debug), name
assert crc == zlib.crc32(open(debug, "rb").read()), "CRC"
EOF
if command -v gdb >/dev/null 2>&1; then
    gdb -nx -batch -ex "info line wal_open" "$lib/$so" 2>&1 | grep -q 'Line [0-9]* of ".*\.rs"' ||
        fail "gdb finds no line information for wal_open in $so: $(gdb -nx -batch -ex 'info line wal_open' "$lib/$so" 2>&1)"
fi
echo "test-install: files, links, soname libwal.so.$SOVER; stripped, debug info in lib/.debug/$so.debug"
if [ -f target/release/walctl ]; then
    "$prefix/bin/walctl" --version >/dev/null || fail "the installed walctl does not run"
    if sections "$prefix/bin/walctl" | grep -E "^\.(debug_info|debug_line|debug_str|symtab)$"; then fail "walctl is not stripped"; fi
fi

build_and_run() { # name, compiler and flags, source, link flags
    name=$1 compile=$2 src=$3 link=$4
    $compile -o "$work/$name" "$src" $link 2>"$work/$name.log" ||
        fail "$name: cannot build $src against the installed libwal: $(cat "$work/$name.log")"
    rm -rf "$work/run-$name" && mkdir -p "$work/run-$name"
    (cd "$work/run-$name" && "$work/$name" >out) || fail "$name: $src failed: $(cat "$work/run-$name/out")"
    case $name in
    *-dynamic)
        loaded=$(ldd "$work/$name" | sed -n "s/^[[:space:]]*libwal\.so\.$SOVER => \(.*\) (0x.*/\1/p")
        [ -n "$loaded" ] && [ "$(realpath "$(dirname "$loaded")")" = "$(realpath "$(pkg-config --variable=libdir wal)")" ] ||
            fail "$name does not load libwal.so.$SOVER from $(pkg-config --variable=libdir wal): $(ldd "$work/$name" | grep libwal)" ;;
    *-static)
        if readelf -d "$work/$name" | grep NEEDED | grep -q libwal; then fail "$name needs libwal.so"; fi ;;
    *-allstatic)
        readelf -d "$work/$name" | grep -q "no dynamic section" ||
            fail "$name has a dynamic section: $(readelf -d "$work/$name" | head -n 12)"
        if command -v file >/dev/null 2>&1; then
            file "$work/$name" | grep -q "statically linked" || fail "file says: $(file "$work/$name")"
        fi ;;
    esac
    echo "test-install: $name: built with pkg-config, ran, links libwal as it should"
}

# Only our wal.pc, and nothing that would find target/release.
unset PKG_CONFIG_PATH LD_LIBRARY_PATH || true
use_prefix() {
    export PKG_CONFIG_LIBDIR="$1/lib/pkgconfig"
    [ "$(pkg-config --modversion wal)" = "$VERSION" ] || fail "pkg-config --modversion wal is not $VERSION"
    dynamic="$(pkg-config --cflags --libs wal) -Wl,-rpath,$(pkg-config --variable=libdir wal)"
    # With libwal.so beside libwal.a, -lwal picks the .so: name the archive.
    static="$(pkg-config --cflags wal) $(pkg-config --static --libs wal | sed 's/-lwal\b/-l:libwal.a/')"
    # Fully static, -lwal can only be the archive.
    allstatic="-static $(pkg-config --cflags wal) $(pkg-config --static --libs wal)"
}

C="$CC -std=c99 -Wall -Wextra -Werror -pedantic"
CPP="$CXX -std=c++17 -Wall -Wextra -Werror -pedantic"
# A fully static link needs the C library's archive (glibc-static on some
# systems, part of libc6-dev on Debian).
echo 'int main(void) { return 0; }' >"$work/empty.c"
if $CC -static -o "$work/empty" "$work/empty.c" 2>/dev/null; then has_static_libc=1; else has_static_libc=0; fi

use_prefix "$prefix"
build_and_run c-dynamic "$C" examples/demo.c "$dynamic"
build_and_run c-static "$C" examples/demo.c "$static"
grep -q "next seq will be 6" "$work/run-c-static/out" || fail "examples/demo.c printed: $(cat "$work/run-c-static/out")"
if [ $has_static_libc = 1 ]; then
    build_and_run c-allstatic "$C" examples/demo.c "$allstatic"
    grep -q "next seq will be 6" "$work/run-c-allstatic/out" ||
        fail "examples/demo.c -static printed: $(cat "$work/run-c-allstatic/out")"
else
    skip "a static C library (libc.a) is not installed: no -static link"
fi
build_and_run cxx-dynamic "$CPP" c_tests/cxx/test_wal_hpp.cpp "$dynamic"
build_and_run cxx-static "$CPP" c_tests/cxx/test_wal_hpp.cpp "$static"
build_and_run cxx-noexcept-dynamic "$CPP -fno-exceptions" c_tests/cxx/test_wal_hpp_noexcept.cpp "$dynamic"

# Move the tree: a copy elsewhere, the original out of reach while the copy
# is used, so nothing can still point into it.
moved=$work/moved/elsewhere
rm -rf "$work/moved" && mkdir -p "$work/moved" && cp -a "$prefix" "$moved"
mv "$prefix" "$work/prefix.away"
trap 'mv "$work/prefix.away" "$prefix"' EXIT
use_prefix "$moved"
case $(pkg-config --variable=libdir wal) in
"$moved"/*) ;;
*) fail "wal.pc of the moved tree gives libdir $(pkg-config --variable=libdir wal), not inside $moved" ;;
esac
build_and_run moved-c-dynamic "$C" examples/demo.c "$dynamic"
if [ $has_static_libc = 1 ]; then
    build_and_run moved-c-allstatic "$C" examples/demo.c "$allstatic"
else
    build_and_run moved-c-static "$C" examples/demo.c "$static"
fi
