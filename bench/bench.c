/* make bench: durable-append throughput of libwal against the raw fsync loop
 * and, when their headers are installed, RocksDB's WAL and SQLite in WAL
 * mode. Every case runs for a fixed time on the same disk, in one process,
 * one after another, so the ratios printed at the end compare like with
 * like on this machine at this moment. Absolute numbers mean little on a
 * shared machine; the ratios are the result. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wal.h"
#include "../c_tests/testutil.h"

#if defined(HAVE_ROCKSDB)
#include <rocksdb/c.h>
#endif
#if defined(HAVE_SQLITE)
#include <sqlite3.h>
#endif

#define VALUE_LEN 128
static double seconds_per_case = 2.0;
static const char *bench_dir;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    const char *name;
    double ops_per_s;
} result_t;

static result_t results[32];
static int n_results;

static double report(const char *name, uint64_t ops, double elapsed) {
    double rate = (double)ops / elapsed;
    printf("%-44s %10llu ops in %5.2f s = %10.0f ops/s\n", name, (unsigned long long)ops, elapsed, rate);
    fflush(stdout);
    results[n_results].name = name;
    results[n_results].ops_per_s = rate;
    n_results++;
    return rate;
}

static char *fresh_dir(const char *tag) {
    char *d = malloc(4096);
    snprintf(d, 4096, "%s/%s", bench_dir, tag);
    tu_rmtree(d);
    return d;
}

/* The floor: write a record and fdatasync it, one at a time, on a
 * preallocated file (what a hand-rolled WAL with no group commit does). */
static double bench_raw_fsync(void) {
    char *path = fresh_dir("raw");
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(posix_fallocate(fd, 0, 64 << 20) == 0);
    REQUIRE(fdatasync(fd) == 0);
    char rec[VALUE_LEN + 24];
    memset(rec, 'r', sizeof rec);
    uint64_t ops = 0;
    off_t off = 0;
    double start = now(), t;
    while ((t = now()) - start < seconds_per_case) {
        REQUIRE(pwrite(fd, rec, sizeof rec, off) == (ssize_t)sizeof rec);
        REQUIRE(fdatasync(fd) == 0);
        off += (off_t)sizeof rec;
        ops++;
    }
    close(fd);
    unlink(path);
    free(path);
    return report("raw pwrite+fdatasync loop, 1 thread", ops, t - start);
}

typedef struct {
    wal_t *w;
    double start;
    uint64_t ops;
} wal_worker_t;

static void *wal_worker(void *arg) {
    wal_worker_t *k = arg;
    char value[VALUE_LEN];
    memset(value, 'v', sizeof value);
    while (now() - k->start < seconds_per_case) {
        REQUIRE(wal_append(k->w, WAL_OP_PUT, "key", 3, value, sizeof value) != 0);
        k->ops++;
    }
    return NULL;
}

static double bench_wal(const char *name, uint32_t sync_mode, int threads) {
    char *dir = fresh_dir("wal");
    wal_options_t o;
    wal_options_init(&o);
    o.sync_mode = sync_mode;
    wal_t *w;
    REQUIRE(wal_open(dir, &o, &w) == WAL_OK);
    pthread_t tid[64];
    wal_worker_t work[64];
    double start = now();
    for (int i = 0; i < threads; i++) {
        work[i] = (wal_worker_t){w, start, 0};
        REQUIRE(pthread_create(&tid[i], NULL, wal_worker, &work[i]) == 0);
    }
    uint64_t ops = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        ops += work[i].ops;
    }
    REQUIRE(wal_sync(w) == WAL_OK); /* WAL_SYNC_NONE pays for durability here */
    double elapsed = now() - start;
    REQUIRE(wal_close(w) == WAL_OK);
    tu_rmtree(dir);
    free(dir);
    return report(name, ops, elapsed);
}

#if defined(HAVE_ROCKSDB)
typedef struct {
    rocksdb_t *db;
    rocksdb_writeoptions_t *wo;
    double start;
    uint64_t ops;
    int id;
} rocks_worker_t;

static void *rocks_worker(void *arg) {
    rocks_worker_t *k = arg;
    char value[VALUE_LEN], key[32];
    memset(value, 'v', sizeof value);
    while (now() - k->start < seconds_per_case) {
        int n = snprintf(key, sizeof key, "k%d-%llu", k->id, (unsigned long long)k->ops);
        char *err = NULL;
        rocksdb_put(k->db, k->wo, key, (size_t)n, value, sizeof value, &err);
        REQUIRE(err == NULL);
        k->ops++;
    }
    return NULL;
}

/* RocksDB with sync=true puts: its WAL, with its own group commit. */
static double bench_rocksdb(const char *name, int threads) {
    char *dir = fresh_dir("rocksdb");
    rocksdb_options_t *opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(opts, 1);
    char *err = NULL;
    rocksdb_t *db = rocksdb_open(opts, dir, &err);
    REQUIRE(err == NULL);
    rocksdb_writeoptions_t *wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(wo, 1);
    pthread_t tid[64];
    rocks_worker_t work[64];
    double start = now();
    for (int i = 0; i < threads; i++) {
        work[i] = (rocks_worker_t){db, wo, start, 0, i};
        REQUIRE(pthread_create(&tid[i], NULL, rocks_worker, &work[i]) == 0);
    }
    uint64_t ops = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        ops += work[i].ops;
    }
    double elapsed = now() - start;
    rocksdb_writeoptions_destroy(wo);
    rocksdb_close(db);
    rocksdb_options_destroy(opts);
    tu_rmtree(dir);
    free(dir);
    return report(name, ops, elapsed);
}
#endif

#if defined(HAVE_SQLITE)
/* SQLite in WAL mode with synchronous=FULL: one durable insert per commit. */
static double bench_sqlite(void) {
    char *dir = fresh_dir("sqlite");
    REQUIRE(mkdir(dir, 0755) == 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/db", dir);
    sqlite3 *db;
    REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                             "CREATE TABLE log(k BLOB, v BLOB);", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_stmt *st;
    REQUIRE(sqlite3_prepare_v2(db, "INSERT INTO log VALUES (?, ?)", -1, &st, NULL) == SQLITE_OK);
    char value[VALUE_LEN];
    memset(value, 'v', sizeof value);
    uint64_t ops = 0;
    double start = now(), t;
    while ((t = now()) - start < seconds_per_case) {
        sqlite3_bind_blob(st, 1, "key", 3, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, value, VALUE_LEN, SQLITE_STATIC);
        REQUIRE(sqlite3_step(st) == SQLITE_DONE);
        sqlite3_reset(st);
        ops++;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    tu_rmtree(dir);
    free(dir);
    return report("sqlite WAL synchronous=FULL, 1 thread", ops, t - start);
}
#endif

int main(int argc, char **argv) {
    bench_dir = argc > 1 ? argv[1] : "build/bench-data";
    if (getenv("BENCH_SECONDS")) seconds_per_case = atof(getenv("BENCH_SECONDS"));
    mkdir(bench_dir, 0755);
    printf("libwal %s bench: %d-byte values, %.1f s per case, in %s\n\n", wal_version(), VALUE_LEN,
           seconds_per_case, bench_dir);

    double raw = bench_raw_fsync();
    double one = bench_wal("libwal WAL_SYNC_ALWAYS, 1 thread", WAL_SYNC_ALWAYS, 1);
    double eight = bench_wal("libwal WAL_SYNC_ALWAYS, 8 threads", WAL_SYNC_ALWAYS, 8);
    double none = bench_wal("libwal WAL_SYNC_NONE, 1 thread (+1 sync)", WAL_SYNC_NONE, 1);
#if defined(HAVE_ROCKSDB)
    double r1 = bench_rocksdb("rocksdb put sync=true, 1 thread", 1);
    double r8 = bench_rocksdb("rocksdb put sync=true, 8 threads", 8);
#endif
#if defined(HAVE_SQLITE)
    double sq = bench_sqlite();
#endif

    printf("\nratios (same run):\n");
    printf("  libwal ALWAYS 1 thread  / raw fsync loop      = %6.2f\n", one / raw);
    printf("  libwal ALWAYS 8 threads / libwal 1 thread     = %6.2f  (group commit)\n", eight / one);
    printf("  libwal ALWAYS 8 threads / raw fsync loop      = %6.2f\n", eight / raw);
    printf("  libwal NONE 1 thread    / libwal ALWAYS 1     = %6.2f\n", none / one);
#if defined(HAVE_ROCKSDB)
    printf("  libwal ALWAYS 1 thread  / rocksdb 1 thread    = %6.2f\n", one / r1);
    printf("  libwal ALWAYS 8 threads / rocksdb 8 threads   = %6.2f\n", eight / r8);
#endif
#if defined(HAVE_SQLITE)
    printf("  libwal ALWAYS 1 thread  / sqlite WAL FULL     = %6.2f\n", one / sq);
#endif
    tu_rmtree(bench_dir);
    return 0;
}
