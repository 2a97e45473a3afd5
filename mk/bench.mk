# make bench: libwal against the raw floors and its peers (bench/); not part of make check.
# Benchmarks: libwal against the raw fsync loop and, when installed, RocksDB
# (librocksdb-dev) and SQLite (libsqlite3-dev). Not part of `make check`.
BENCH_DEFS := $(if $(wildcard /usr/include/rocksdb/c.h),-DHAVE_ROCKSDB) \
              $(if $(wildcard /usr/include/sqlite3.h),-DHAVE_SQLITE)
BENCH_LIBS := $(if $(wildcard /usr/include/rocksdb/c.h),-lrocksdb) \
              $(if $(wildcard /usr/include/sqlite3.h),-lsqlite3)

$(BUILD)/bench: bench/bench.c include/wal.h $(REL)/libwal.a
	@mkdir -p $(BUILD)
	$(CC) -std=c99 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude $(BENCH_DEFS) -pthread -o $@ \
	    bench/bench.c $(REL)/libwal.a $(BENCH_LIBS) $(STATIC_LIBS)

bench: lib $(BUILD)/bench
	$(BUILD)/bench $(BUILD)/bench-data
