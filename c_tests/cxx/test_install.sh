#!/bin/sh
# Checks an installed libwal the way a user meets it: `make install` has put
# it under PREFIX; this builds two programs from outside the tree with
# pkg-config, examples/demo.c (C) and c_tests/cxx/test_wal_hpp.cpp (C++),
# each linked dynamically (it must load libwal.so.MAJOR from PREFIX) and
# statically (it must not need libwal.so at all), and runs all four.
# Usage: test_install.sh WORKDIR (PREFIX is WORKDIR/prefix); environment:
# CC, CXX, VERSION, MAJOR.
set -eu
work=$1
prefix=$work/prefix
lib=$prefix/lib
fail() { echo "test-install: $*" >&2; exit 1; }

# The files, the links and the shared library's soname.
for f in include/wal.h include/wal.hpp lib/libwal.a "lib/libwal.so.$VERSION" lib/pkgconfig/wal.pc; do
    [ -f "$prefix/$f" ] || fail "make install did not install $f"
done
[ "$(readlink "$lib/libwal.so.$MAJOR")" = "libwal.so.$VERSION" ] || fail "libwal.so.$MAJOR is not a link to libwal.so.$VERSION"
[ "$(readlink "$lib/libwal.so")" = "libwal.so.$MAJOR" ] || fail "libwal.so is not a link to libwal.so.$MAJOR"
readelf -d "$lib/libwal.so.$VERSION" | grep -q "SONAME.*\[libwal\.so\.$MAJOR\]" ||
    fail "the soname of libwal.so.$VERSION is not libwal.so.$MAJOR: $(readelf -d "$lib/libwal.so.$VERSION" | grep SONAME)"
if [ -f target/release/walctl ]; then
    "$prefix/bin/walctl" --version >/dev/null || fail "the installed walctl does not run"
fi

# Only our wal.pc, and nothing that would find target/release.
export PKG_CONFIG_LIBDIR="$lib/pkgconfig"
unset PKG_CONFIG_PATH LD_LIBRARY_PATH || true
[ "$(pkg-config --modversion wal)" = "$VERSION" ] || fail "pkg-config --modversion wal is not $VERSION"
dynamic="$(pkg-config --cflags --libs wal) -Wl,-rpath,$(pkg-config --variable=libdir wal)"
# With libwal.so beside libwal.a, -lwal picks the .so: name the archive.
static="$(pkg-config --cflags wal) $(pkg-config --static --libs wal | sed 's/-lwal\b/-l:libwal.a/')"

build_and_run() { # name, compiler and flags, source, link flags
    name=$1 compile=$2 src=$3 link=$4
    $compile -o "$work/$name" "$src" $link || fail "$name: cannot build $src against the installed libwal"
    mkdir -p "$work/run-$name"
    (cd "$work/run-$name" && "$work/$name" >out) || fail "$name: $src failed: $(cat "$work/run-$name/out")"
    case $name in
    *-dynamic)
        ldd "$work/$name" | grep -q "libwal\.so\.$MAJOR => $lib/libwal\.so\.$MAJOR" ||
            fail "$name does not load libwal from $lib: $(ldd "$work/$name" | grep libwal)" ;;
    *-static)
        if readelf -d "$work/$name" | grep NEEDED | grep -q libwal; then fail "$name needs libwal.so"; fi ;;
    esac
    echo "test-install: $name: built with pkg-config, ran, links libwal as it should"
}

C="$CC -std=c99 -Wall -Wextra -Werror -pedantic"
CPP="$CXX -std=c++17 -Wall -Wextra -Werror -pedantic"
build_and_run c-dynamic "$C" examples/demo.c "$dynamic"
build_and_run c-static "$C" examples/demo.c "$static"
grep -q "next seq will be 6" "$work/run-c-static/out" || fail "examples/demo.c printed: $(cat "$work/run-c-static/out")"
build_and_run cxx-dynamic "$CPP" c_tests/cxx/test_wal_hpp.cpp "$dynamic"
build_and_run cxx-static "$CPP" c_tests/cxx/test_wal_hpp.cpp "$static"
