/* What the workloads (bench.c) see of a system under test: an engine is a
 * small table of functions over an opaque handle. libwal, the raw floors and
 * each peer (RocksDB, LevelDB, SQLite, okaywal) implement the operations that make
 * sense for them; a NULL operation means "not measured for this engine". */
#ifndef LIBWAL_BENCH_H
#define LIBWAL_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define KEY_LEN 16     /* every record's key: 16 hex digits, ordered */
#define MAX_THREADS 16

typedef struct {
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
} rec_t;

/* What a log says about its group commit (libwal: wal_stats). */
typedef struct {
    uint64_t records; /* records appended since open */
    uint64_t syncs;   /* fdatasyncs of log files since open */
    uint64_t group_max; /* most records made durable by one fdatasync */
    uint64_t sync_us_p50, sync_us_p99, sync_us_max; /* fdatasync latency */
} group_stats_t;

typedef struct {
    const char *name;
    /* Opens (creating if missing) the store in directory dir. durable:
     * every put is durable when it returns; threads: how many threads will
     * call put at once, with tids 0..threads-1. Exits on failure. */
    void *(*open)(const char *dir, int durable, int threads);
    /* Writes n records as one atomic unit (n > 1: a batch). */
    void (*put)(void *h, int tid, const rec_t *recs, size_t n);
    /* Makes everything put so far durable. */
    void (*sync)(void *h);
    /* Reads every record back in order; returns how many it read. */
    uint64_t (*replay)(void *h);
    /* Drops the first n/2 of the n records put, durably. */
    void (*truncate_half)(void *h, uint64_t n);
    void (*close)(void *h);
    /* Optional: open for durable appends with segment files of about
     * segment_bytes each (the rotation run), the rest as open(dir, 1, threads). */
    void *(*open_segmented)(const char *dir, int threads, uint64_t segment_bytes);
    /* Optional: the group-commit counters since open; 0 on success. */
    int (*group_stats)(void *h, group_stats_t *out);
} engine_t;

/* The engines: libwal.c, floors.c and one file per peer. */
extern const engine_t libwal_engine;
extern const engine_t floor_prewritten_engine; /* pwrite+fdatasync into pre-written blocks */
extern const engine_t floor_growing_engine;    /* pwrite+fdatasync at the end of a growing file */
extern const engine_t floor_buffered_engine;   /* 1 MiB user buffer + pwrite; sequential read */
#if defined(HAVE_ROCKSDB)
extern const engine_t rocksdb_engine;
#endif
#if defined(HAVE_LEVELDB)
extern const engine_t leveldb_engine;
#endif
#if defined(HAVE_SQLITE)
extern const engine_t sqlite_engine;
#endif
#if defined(HAVE_OKAYWAL)
extern const engine_t okaywal_engine; /* okaywal.c + the cdylib of bench/okaywal/ */
#endif

/* Helpers shared by the engines (bench.c). */
double now_s(void);
/* Prints "bench: <what> <path>: <strerror(errno)>" and exits. */
void die_os(const char *what, const char *path);
/* Prints "bench: <engine>: <what>: <detail>" and exits. */
void die_msg(const char *engine, const char *what, const char *detail);
/* Writes the key of record i of thread tid (KEY_LEN bytes, no NUL). */
void make_key(char *out, int tid, uint64_t i);
/* Joins dir and name into a malloc'd path. */
char *path_join(const char *dir, const char *name);
/* mkdir -p for one level; exits on an error other than EEXIST. */
void make_dir(const char *dir);

#endif
