# make bench: libwal against the raw floors and its peers, same run (bench/).
# `make bench` installs the peers and gnuplot with apt-get when missing, runs
# the full benchmark and draws docs/bench.png; build/bench.md has the table.
# `make check` runs bench-smoke: the same program at a tiny scale.
BENCH_DIR ?= $(BUILD)/bench-data

# okaywal, the Rust WAL crate, is a peer too: bench/okaywal/ is a Cargo
# package of its own (own lock file, excluded from the root workspace; libwal
# never depends on it) built as a cdylib that bench/okaywal.c calls. cargo
# builds it here only, for bench and bench-smoke: about 23 s from a cold
# cache on 2 cores (downloads included). BENCH_OKAYWAL=0 leaves it out (a
# machine without crates.io).
BENCH_OKAYWAL  ?= 1
OKAYWAL_TARGET := target/bench-okaywal
OKAYWAL_LIBDIR := $(OKAYWAL_TARGET)/release
OKAYWAL_SO     := $(OKAYWAL_LIBDIR)/libokaywal_bench.so

# Peers: name, the header that shows it is installed, the Debian package, the library.
BENCH_PEERS := rocksdb leveldb sqlite
bench_hdr_rocksdb := /usr/include/rocksdb/c.h
bench_hdr_leveldb := /usr/include/leveldb/c.h
bench_hdr_sqlite  := /usr/include/sqlite3.h
bench_pkg_rocksdb := librocksdb-dev
bench_pkg_leveldb := libleveldb-dev
bench_pkg_sqlite  := libsqlite3-dev
bench_lib_rocksdb := -lrocksdb
bench_lib_leveldb := -lleveldb
bench_lib_sqlite  := -lsqlite3

BENCH_FOUND   := $(foreach p,$(BENCH_PEERS),$(if $(wildcard $(bench_hdr_$(p))),$(p)))
BENCH_MISSING := $(filter-out $(BENCH_FOUND),$(BENCH_PEERS))
BENCH_SRCS    := bench/bench.c bench/libwal.c bench/floors.c $(addprefix bench/,$(addsuffix .c,$(BENCH_FOUND)))
BENCH_DEFS    := $(foreach p,$(BENCH_FOUND),-DHAVE_$(shell echo $(p) | tr a-z A-Z))
BENCH_LIBS    := $(foreach p,$(BENCH_FOUND),$(bench_lib_$(p)))
ifeq ($(BENCH_OKAYWAL),1)
BENCH_FOUND   += okaywal
BENCH_SRCS    += bench/okaywal.c
BENCH_DEFS    += -DHAVE_OKAYWAL
BENCH_LIBS    += -L$(OKAYWAL_LIBDIR) -lokaywal_bench -Wl,-rpath,$(abspath $(OKAYWAL_LIBDIR))
BENCH_OKAYWAL_DEP := $(OKAYWAL_SO)
else
BENCH_MISSING += okaywal
endif

.PHONY: bench bench-run bench-smoke bench-peers-changed bench-okaywal-cargo

# Relink when the set of peers found changes.
$(BUILD)/bench-peers: bench-peers-changed
	@mkdir -p $(BUILD)
	@echo '$(BENCH_FOUND)' | cmp -s - $@ || echo '$(BENCH_FOUND)' > $@

# cargo runs every time and decides what is stale; a fresh build leaves the
# .so untouched, so the bench is not relinked.
$(OKAYWAL_SO): bench-okaywal-cargo
bench-okaywal-cargo:
	$(CARGO) build --release --locked --manifest-path bench/okaywal/Cargo.toml --target-dir $(OKAYWAL_TARGET) \
	  || { echo "bench: building okaywal (bench/okaywal/) failed; BENCH_OKAYWAL=0 runs without it" >&2; exit 1; }

$(BUILD)/bench: $(BENCH_SRCS) bench/bench.h include/wal.h $(REL)/libwal.a $(BUILD)/bench-peers $(BENCH_OKAYWAL_DEP)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Iinclude $(BENCH_DEFS) -pthread -o $@ \
	    $(BENCH_SRCS) $(REL)/libwal.a $(BENCH_LIBS) $(STATIC_LIBS)

# Install what is missing, then run in a fresh make so the peers just
# installed are found. A package that cannot be installed is left out.
bench:
	@for p in $(foreach p,$(BENCH_MISSING),$(bench_pkg_$(p))) $(if $(shell command -v gnuplot),,gnuplot-nox); do \
	  { [ -n "$$updated" ] || apt-get update -q; } && updated=1; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$p \
	    || echo "bench: could not install $$p: running without it"; \
	done
	$(MAKE) bench-run

bench-run: lib $(BUILD)/bench
	@echo "bench: peers built in: $(or $(BENCH_FOUND),none); missing: $(or $(BENCH_MISSING),none)"
	BENCH_DIR=$(BENCH_DIR) BENCH_OUT=$(BUILD)/bench $(BUILD)/bench
	@if command -v gnuplot >/dev/null; then \
	  gnuplot -e "datafile='$(BUILD)/bench-sweep.dat'; outfile='docs/bench.png'" bench/plot.gp && echo "wrote docs/bench.png"; \
	else echo "bench: gnuplot missing: docs/bench.png not drawn"; fi

# Tiny scale: proves the bench builds, runs every workload on every engine
# built in, checks its replay counts, and prints a full table. Timings are
# not checked. okaywal gets 64 KiB bulk segments, so that its W7 has whole
# segments to drop (okaywal.c then checks what a reopen finds).
bench-smoke: lib $(BUILD)/bench
	@$(foreach p,$(BENCH_MISSING),$(CHECK_SKIP) bench-smoke:$(p) "$(bench_pkg_$(p))" "apt-get install $(bench_pkg_$(p))";)
	BENCH_DIR=$(BUILD)/bench-smoke-data BENCH_OUT=$(BUILD)/bench-smoke BENCH_RUNS=2 BENCH_SECONDS=0.02 \
	  BENCH_SCALE=0.002 BENCH_LARGE_MB=16 BENCH_LARGE_SEGMENT_MB=1 BENCH_OKAYWAL_SEGMENT_KB=64 \
	  $(BUILD)/bench > $(BUILD)/bench-smoke.log
	@rows=$$(grep -cE '^\| [^|]+ \| [a-zA-Z/]+ \| [0-9.]+[kM]? \(' $(BUILD)/bench-smoke.md); \
	  [ "$$rows" -eq 16 ] || { cat $(BUILD)/bench-smoke.log; echo "bench-smoke: $$rows of 16 rows have a libwal figure"; exit 1; }
	@echo "bench-smoke: 16 rows measured"
ifeq ($(BENCH_OKAYWAL),1)
	@rows=$$(awk '$$2 == "okaywal" { print $$1 }' $(BUILD)/bench-smoke.log | sort -u | wc -l); \
	  [ "$$rows" -eq 12 ] || { cat $(BUILD)/bench-smoke.log; echo "bench-smoke: okaywal measured in $$rows of 12 workloads"; exit 1; }
	@grep -qE "okaywal's truncate dropped [1-9]" $(BUILD)/bench-smoke.log || \
	  { cat $(BUILD)/bench-smoke.log; echo "bench-smoke: okaywal's W7 dropped no segment"; exit 1; }
	@echo "bench-smoke: okaywal measured in 12 workloads (W1-W7, the sweep, the batches); its W7 dropped a segment"
else
	@echo "bench-smoke: okaywal left out (BENCH_OKAYWAL=0)"
endif

CHECK_EXTRA += bench-smoke
