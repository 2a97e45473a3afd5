# libwal: `make` builds target/release/libwal.{so,a} and include/wal.h;
# `make check` runs every test (Rust, header, C API suite, crash tests).
CARGO   ?= cargo
CC      ?= cc
CXX     ?= c++
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
MINOR   := $(word 2,$(subst ., ,$(VERSION)))
# The soname's version (build.rs): MAJOR, or 0.MINOR while MAJOR is 0.
SOVER   := $(if $(filter 0,$(MAJOR)),0.$(MINOR),$(MAJOR))
REL     := target/release
BUILD   := build

# What a C program needs besides libwal.a: rustc's `--print native-static-libs`
# for this crate, cached in $(NATIVE_LIBS) (see its rule). Anything that links
# libwal.a depends on that file, through $(REL)/libwal.a or by name.
NATIVE_LIBS := $(BUILD)/native-static-libs
STATIC_LIBS = $(or $(file <$(NATIVE_LIBS)),$(error $(NATIVE_LIBS) is missing or empty: depend on $(REL)/libwal.a))

# The C suite (c_tests/test_*.c, crash_*.c) is built with the cc crate and run
# by tests/c_suite/, part of `cargo test`, against the libwal.a and libwal.so
# of that build; it leaves the programs in $(C_BUILT)/{static,shared}/.
C_BUILT  := $(BUILD)/ctests

.PHONY: all lib check check-header test-rust test-c test-cxx test-example install uninstall bench clean

all: lib

lib:
	$(CARGO) build --release
	ln -sf libwal.so $(REL)/libwal.so.$(SOVER)

$(REL)/libwal.a $(REL)/libwal.so include/wal.h: lib
$(REL)/libwal.a: $(NATIVE_LIBS)

# rustc prints the list only when asked, so ask cargo once for the staticlib
# (a build of its own beside `lib`'s, about 15 s; cargo replays the note when
# that build is fresh). -lgcc_s is left out: the C compiler's driver links the
# unwinder itself (libgcc_s as needed in a dynamic link, libgcc_eh with
# -static), and there is no libgcc_s.a, so with it a `cc -static` link fails.
$(NATIVE_LIBS): Cargo.toml Cargo.lock
	@mkdir -p $(BUILD)
	$(CARGO) rustc --release --lib --crate-type staticlib -- --print native-static-libs 2>$@.log || \
	    { cat $@.log >&2; exit 1; }
	sed -n 's/^note: native-static-libs: //p' $@.log | head -n1 | sed -e 's/ *-lgcc_s\b//' -e 's/^ *//' > $@.tmp
	@rm -f $@.log
	@[ -s $@.tmp ] || { echo "$@: no native-static-libs note in cargo's output" >&2; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
	@echo "native-static-libs: $$(cat $@)"

# The committed header must be what cbindgen generates from the sources now:
# keep a copy of the committed one, build (which regenerates it), compare.
check-header:
	@mkdir -p $(BUILD)
	cp include/wal.h $(BUILD)/wal.h.committed
	$(MAKE) lib
	@cmp -s $(BUILD)/wal.h.committed include/wal.h || { \
	  echo "include/wal.h is stale: it differs from what cbindgen generates."; \
	  echo "Run 'make' and commit include/wal.h."; diff -u $(BUILD)/wal.h.committed include/wal.h; exit 1; }
	@echo "include/wal.h matches the sources"

test-rust:
	CC="$(CC)" $(CARGO) test --release

# The header must compile as C99 and as C++, included twice.
test-cxx: include/wal.h
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only c_tests/header_compile.c
	$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude -x c++ -fsyntax-only c_tests/header_compile.c

# test-rust runs the C suite; alone: CC="$(CC)" $(CARGO) test --release --test c_suite
test-c: test-rust

# The README's example, built against the installed-style header and run in a
# fresh directory.
test-example: lib
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -Iinclude -o $(BUILD)/demo examples/demo.c \
	    -L$(REL) -lwal -Wl,-rpath,$(abspath $(REL))
	rm -rf $(BUILD)/demo-run && mkdir -p $(BUILD)/demo-run
	cd $(BUILD)/demo-run && ../demo

# Each capability beside the core (bindings, tools, stress, benchmarks...)
# lives in its own fragment under mk/ and adds its test target to CHECK_EXTRA.
CHECK_EXTRA :=
include $(sort $(wildcard mk/*.mk))

check: check-header test-cxx test-rust test-example test-c $(CHECK_EXTRA)

clean:
	$(CARGO) clean
	rm -rf $(BUILD)
