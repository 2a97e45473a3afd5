# make bench: libwal against the raw floors and its peers, same run (bench/).
# `make bench` installs the peers and gnuplot with apt-get when missing, runs
# the full benchmark (which prints every goal of issue 11 and the seek of
# issue 12 as met or not), draws docs/bench.png and, from that one run,
# writes the tables of README.md (Performance) and docs/bench.md (The final
# measurement) with bench/report.py; build/bench.md has them all.
# `make bench BENCH_DIR=/mnt/x` runs in another directory (it writes only in
# BENCH_DIR/libwal-bench). `make bench-fs` (root) runs W1, W3 and W4-W7 on
# xfs, btrfs and ext4 images and writes them into docs/bench.md.
# `make check` runs bench-smoke: the same program at a tiny scale.
BENCH_DIR ?= $(BUILD)/bench-data
# Off with BENCH_DOCS=0: the run leaves README.md and docs/bench.md alone.
BENCH_DOCS ?= 1
BENCH_FS_TYPES ?= xfs btrfs ext4
# The commit measured, in the tables' first line.
BENCH_COMMIT = $(shell git describe --always --dirty 2>/dev/null)

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

.PHONY: bench bench-run bench-docs bench-fs bench-smoke bench-peers-changed bench-okaywal-cargo

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
	BENCH_DIR=$(BENCH_DIR) BENCH_OUT=$(BUILD)/bench BENCH_COMMIT=$(BENCH_COMMIT) $(BUILD)/bench
	@if command -v gnuplot >/dev/null; then \
	  gnuplot -e "datafile='$(BUILD)/bench-sweep.dat'; outfile='docs/bench.png'" bench/plot.gp && echo "wrote docs/bench.png"; \
	else echo "bench: gnuplot missing: docs/bench.png not drawn"; fi
ifeq ($(BENCH_DOCS),1)
	@if grep -q '^<!-- bench-run: full -->' $(BUILD)/bench.md; then $(MAKE) --no-print-directory bench-docs; \
	else echo "bench: $$(head -n1 $(BUILD)/bench.md): README.md and docs/bench.md left alone"; fi
endif

# The README's table and docs/bench.md's final measurement, from the last
# run's build/bench.md (one run: every figure in them comes from it).
bench-docs:
	python3 bench/report.py $(BUILD)/bench.md README.md bench-readme header,table,goals,latency
	python3 bench/report.py $(BUILD)/bench.md docs/bench.md bench-final header,table,goals,latency,groups,seek

# Other file systems (root; bench/fs.sh): images written whole, loop devices
# with direct I/O; each type's rows go into docs/bench.md.
bench-fs: lib $(BUILD)/bench
	BENCH_COMMIT=$(BENCH_COMMIT) sh bench/fs.sh $(BUILD)/bench-fs "$(BENCH_FS_TYPES)" $(BUILD)/bench $(BUILD)/bench-fs
	@for fs in $(BENCH_FS_TYPES); do \
	  [ ! -f $(BUILD)/bench-fs-$$fs.md ] || python3 bench/report.py --partial-ok $(BUILD)/bench-fs-$$fs.md docs/bench.md \
	    bench-fs-$$fs header,table,goals,latency || exit 1; \
	done

# Tiny scale: proves the bench builds, runs every workload on every engine
# built in (the rotation run, the cold W6, the seeks and the large log
# included), checks its replay counts, prints every table and every goal,
# and that bench/report.py can put them into copies of README.md and
# docs/bench.md. Timings are not checked. okaywal gets 64 KiB bulk segments,
# so that its W7 has whole segments to drop (okaywal.c then checks what a
# reopen finds).
BENCH_SMOKE_GOALS := 16
# Goals a smoke run may leave unmeasured: those of a peer not built in.
BENCH_SMOKE_UNMEASURED_OK := is not built in
bench-smoke: lib $(BUILD)/bench
	@$(foreach p,$(BENCH_MISSING),$(CHECK_SKIP) bench-smoke:$(p) "$(bench_pkg_$(p))" "apt-get install $(bench_pkg_$(p))";)
	BENCH_DIR=$(BUILD)/bench-smoke-data BENCH_OUT=$(BUILD)/bench-smoke BENCH_RUNS=2 BENCH_SECONDS=0.02 \
	  BENCH_SCALE=0.002 BENCH_LARGE_MB=16 BENCH_LARGE_SEGMENT_MB=1 BENCH_SEEK_SEGMENT_MB=1 BENCH_SEEK_OPENS=2 \
	  BENCH_ROTATION_SEGMENT_KB=4 BENCH_OKAYWAL_SEGMENT_KB=64 \
	  $(BUILD)/bench > $(BUILD)/bench-smoke.log || { cat $(BUILD)/bench-smoke.log; exit 1; }
	@md=$(BUILD)/bench-smoke.md; log=$(BUILD)/bench-smoke.log; \
	  fail() { cat $$log; echo "bench-smoke: $$*"; exit 1; }; \
	  rows=$$(grep -cE '^\| [^|]+ \| [a-zA-Z/]+ \| [0-9.]+[kM]? \(' $$md); \
	  [ "$$rows" -eq 17 ] || fail "$$rows of 17 rows have a libwal figure"; \
	  lat=$$(grep -cE '^\| (W1|W3|1 thread, [0-9.]+ KiB segments)[^|]* \| (libwal|okaywal) \| [0-9.]+[kM]? \| [0-9]' $$md); \
	  [ "$$lat" -eq $(if $(filter okaywal,$(BENCH_FOUND)),6,3) ] || fail "$$lat latency rows of libwal and okaywal"; \
	  seek=$$(grep -cE '^\| (1M records|the [0-9.]+ GiB log)[^|]* \| number [0-9]+ \| [0-9.]+[kM]? \| [^|]+ \| [0-9.]+[kM]? ' $$md); \
	  [ "$$seek" -eq 4 ] || fail "$$seek of 4 seek rows"; \
	  goals=$$(grep -cE '^\| .* \| (\*\*met\*\*|not met|not measured: .*) \|$$' $$md); \
	  [ "$$goals" -eq $(BENCH_SMOKE_GOALS) ] || fail "$$goals of $(BENCH_SMOKE_GOALS) goals printed"; \
	  unmeasured=$$(grep -E '^\| .* \| not measured: ' $$md | grep -vcE '$(BENCH_SMOKE_UNMEASURED_OK)'); \
	  [ "$$unmeasured" -eq 0 ] || fail "$$unmeasured goals not measured"; \
	  grep -qE '^\| 8 \| [0-9.]+[kM]? \| [0-9.]+ \| [0-9]+ \|' $$md || fail "no records per fdatasync for 8 threads"; \
	  echo "bench-smoke: 17 rows measured, $(BENCH_SMOKE_GOALS) goals printed, latency tails, seeks and group commit measured"
	@cp README.md $(BUILD)/bench-smoke-README.md && cp docs/bench.md $(BUILD)/bench-smoke-bench.md
	@python3 bench/report.py --partial-ok --out $(BUILD)/bench-smoke-README.md $(BUILD)/bench-smoke.md \
	  $(BUILD)/bench-smoke-README.md bench-readme header,table,goals,latency >/dev/null
	@python3 bench/report.py --partial-ok --out $(BUILD)/bench-smoke-bench.md $(BUILD)/bench-smoke.md \
	  $(BUILD)/bench-smoke-bench.md bench-final header,table,goals,latency,groups,seek >/dev/null
	@grep -qF "$$(sed -n 3p $(BUILD)/bench-smoke.md)" $(BUILD)/bench-smoke-README.md \
	  || { echo "bench-smoke: bench/report.py did not put the run into a copy of README.md"; exit 1; }
	@! python3 bench/report.py $(BUILD)/bench-smoke.md $(BUILD)/bench-smoke-README.md bench-readme table 2>/dev/null \
	  || { echo "bench-smoke: bench/report.py took a partial run without --partial-ok"; exit 1; }
	@echo "bench-smoke: bench/report.py fills copies of README.md and docs/bench.md, and refuses a partial run"
ifeq ($(BENCH_OKAYWAL),1)
	@rows=$$(awk '$$2 == "okaywal" { print $$1 }' $(BUILD)/bench-smoke.log | sort -u | wc -l); \
	  [ "$$rows" -eq 13 ] || { cat $(BUILD)/bench-smoke.log; echo "bench-smoke: okaywal measured in $$rows of 13 workloads"; exit 1; }
	@grep -qE "okaywal's truncate dropped [1-9]" $(BUILD)/bench-smoke.log || \
	  { cat $(BUILD)/bench-smoke.log; echo "bench-smoke: okaywal's W7 dropped no segment"; exit 1; }
	@echo "bench-smoke: okaywal measured in 13 workloads (W1-W7, the sweep, the batches, the rotations); its W7 dropped a segment"
else
	@echo "bench-smoke: okaywal left out (BENCH_OKAYWAL=0)"
endif

CHECK_EXTRA += bench-smoke
