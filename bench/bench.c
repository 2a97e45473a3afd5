/* make bench: libwal against the raw floors and its peers (RocksDB, LevelDB,
 * SQLite, okaywal), same run, same disk, same key and value sizes (16-byte
 * keys), on the workloads of issue 11 ("Faster than the best peer"):
 *
 *   W1  1 thread, durable per append, 100 B        records/s, latency tail
 *   W2  1 thread, durable per append, 4 KiB        records/s (our definition)
 *   W3  8 threads, durable per append, 100 B       records/s, latency tail,
 *                                                  records per fdatasync
 *   W4  1M appends of 100 B, one sync at the end   records/s
 *   W5  250k appends of 4 KiB, one sync at the end MB/s
 *   W6  reopen + replay the W4 records             ms (cold: the log's pages
 *                                                  dropped from the cache)
 *   W7  truncate the first half of them            ms, on W4's log and on a
 *                                                  large log (10 GiB)
 * plus a thread sweep (1..16 threads, durable 100 B; the picture), batches
 * of 16 and 256 entries (durable), a durable run across many segment
 * rotations (small segments; latency tail), the seek of issue 12 (iterator
 * open + first record at the start and at the end of a full segment, on a
 * 1M-record log and on the large log) and wal_open of the large log.
 *
 * Every figure is the median of BENCH_RUNS runs; engines take turns inside
 * each run, so noise from other processes hits all of them alike. At the
 * end it prints every goal of the issues as met or not with its ratio. The
 * tables go to stdout and to $BENCH_OUT.md (in sections that
 * bench/report.py copies into README.md and docs/bench.md); the sweep, for
 * the plot, to $BENCH_OUT-sweep.dat. Knobs (environment): see docs/bench.md
 * and main(); okaywal's own, BENCH_OKAYWAL_*, are read by
 * bench/okaywal/src/lib.rs. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <mntent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "wal.h"

#define MAX_RUNS 32
#define MAX_SAMPLES 256
#define MAX_VALUE (4u << 20)
/* FORMAT.md: a frame is a 32-byte header, then 9 bytes per entry besides
 * its key and value. The large and the seek logs are built to a size. */
#define FRAME_OVERHEAD (32 + 9)

/* ---- helpers shared with the engines ---- */

double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void die_os(const char *what, const char *path) {
    fprintf(stderr, "bench: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

void die_msg(const char *engine, const char *what, const char *detail) {
    fprintf(stderr, "bench: %s: %s: %s\n", engine, what, detail);
    exit(1);
}

/* Hex by hand: snprintf here cost 10% of a W4 run. */
void make_key(char *out, int tid, uint64_t i) {
    uint64_t v = ((uint64_t)tid << 40) | i;
    for (int d = KEY_LEN - 1; d >= 0; d--, v >>= 4) out[d] = "0123456789abcdef"[v & 15];
}

char *path_join(const char *dir, const char *name) {
    char *p;
    if (asprintf(&p, "%s/%s", dir, name) < 0) die_os("asprintf for", name);
    return p;
}

void make_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) die_os("mkdir", dir);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    /* ENOENT: gone meanwhile (a log's own background deletion). */
    if (remove(path) != 0 && errno != ENOENT) die_os("remove", path);
    return 0;
}

static void remove_tree(const char *dir) {
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) die_os("remove", dir);
}

/* ---- configuration ---- */

static struct {
    const char *base, *only, *engines, *out;
    char *dir; /* base/libwal-bench: the only directory the bench writes in */
    int base_created;
    int runs, large_runs, seek_opens;
    double seconds, scale;
    uint64_t large_bytes, large_segment, rotation_segment, seek_segment;
    size_t large_value;
    int large_scaled_down;
} cfg;

static double env_num(const char *name, double dflt) {
    const char *s = getenv(name);
    return s && *s ? atof(s) : dflt;
}

static const char *env_str(const char *name, const char *dflt) {
    const char *s = getenv(name);
    return s && *s ? s : dflt;
}

/* Whether a comma-separated list holds a token that is a case-insensitive
 * prefix of name (an unset list holds everything). */
static int listed(const char *list, const char *name) {
    if (!list) return 1;
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len && len <= strlen(name) && !strncasecmp(p, name, len)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* A group runs when BENCH_ONLY is unset or names it exactly. */
static int group_listed(const char *name) {
    if (!cfg.only) return 1;
    for (const char *p = cfg.only; *p;) {
        size_t len = strcspn(p, ",");
        if (len == strlen(name) && !strncasecmp(p, name, len)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

static char value_buf[MAX_VALUE]; /* random bytes: nothing compresses them */

/* A string that lives as long as the program (series names). */
static const char *str(const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    char *p;
    if (vasprintf(&p, f, ap) < 0) die_os("vasprintf for", f);
    va_end(ap);
    return p;
}

/* ---- the load average, next to every figure ---- */

static double load_start, load_max, load_end;

static double load1(void) {
    double l = NAN;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = NAN;
        fclose(f);
    }
    return l;
}

static void note_load(void) {
    double l = load1();
    if (!(l <= load_max)) load_max = l;
    load_end = l;
}

/* ---- results: samples per (row, engine) ---- */

typedef struct {
    const char *row;
    const char *engine;
    double v[MAX_SAMPLES];
    int n;
} series_t;

static series_t series[1024];
static int n_series;

static series_t *find_series(const char *row, const char *engine) {
    for (int i = 0; i < n_series; i++)
        if (!strcmp(series[i].row, row) && !strcmp(series[i].engine, engine)) return &series[i];
    return NULL;
}

static void add_sample(const char *row, const char *engine, double v) {
    series_t *s = find_series(row, engine);
    if (!s) {
        if (n_series == (int)(sizeof series / sizeof series[0])) die_msg("bench", "too many series", row);
        s = &series[n_series++];
        *s = (series_t){.row = row, .engine = engine};
    }
    if (s->n < MAX_SAMPLES) s->v[s->n++] = v;
}

static void record(const char *row, const char *engine, double v, const char *unit) {
    add_sample(row, engine, v);
    printf("  %-14s %-46s %12.2f %s\n", row, engine, v, unit);
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of a series; NAN when it was not measured. */
static double stat_of(const char *row, const char *engine, double *min, double *max) {
    series_t *s = engine ? find_series(row, engine) : NULL;
    if (!s || !s->n) return *min = *max = NAN;
    double v[MAX_SAMPLES];
    memcpy(v, s->v, sizeof v);
    qsort(v, (size_t)s->n, sizeof v[0], cmp_double);
    *min = v[0];
    *max = v[s->n - 1];
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

static double median_of(const char *row, const char *engine) {
    double lo, hi;
    return stat_of(row, engine, &lo, &hi);
}

/* ---- latency: every durable append of a run, pooled over the runs ---- */

typedef struct {
    float *v; /* microseconds */
    size_t n, cap;
} samples_t;

static void push_sample(samples_t *s, float v) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 4096;
        s->v = realloc(s->v, s->cap * sizeof s->v[0]);
        if (!s->v) die_os("realloc for latency samples", "(memory)");
    }
    s->v[s->n++] = v;
}

typedef struct {
    const char *row, *engine;
    samples_t s;
    int sorted;
} latency_t;

static latency_t latencies[64];
static int n_latencies;

static latency_t *find_latency(const char *row, const char *engine, int create) {
    for (int i = 0; i < n_latencies; i++)
        if (!strcmp(latencies[i].row, row) && !strcmp(latencies[i].engine, engine)) return &latencies[i];
    if (!create) return NULL;
    if (n_latencies == (int)(sizeof latencies / sizeof latencies[0])) die_msg("bench", "too many latency pools", row);
    latency_t *l = &latencies[n_latencies++];
    *l = (latency_t){.row = row, .engine = engine};
    return l;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of a pool; q = 1: the max. NAN if empty. */
static double quantile(const char *row, const char *engine, double q) {
    latency_t *l = find_latency(row, engine, 0);
    if (!l || !l->s.n) return NAN;
    if (!l->sorted) qsort(l->s.v, l->s.n, sizeof l->s.v[0], cmp_float), l->sorted = 1;
    size_t rank = (size_t)ceil(q * (double)l->s.n);
    return l->s.v[rank ? rank - 1 : 0];
}

/* ---- the engines of this build ---- */

static const engine_t *const peers[] = {
#if defined(HAVE_ROCKSDB)
    &rocksdb_engine,
#endif
#if defined(HAVE_LEVELDB)
    &leveldb_engine,
#endif
#if defined(HAVE_SQLITE)
    &sqlite_engine,
#endif
#if defined(HAVE_OKAYWAL)
    &okaywal_engine,
#endif
    NULL,
};

#if defined(HAVE_OKAYWAL)
static const char *const okaywal = "okaywal";
#else
static const char *const okaywal = NULL;
#endif

/* libwal, then the floor, then the peers: the engines of one workload;
 * segmented: only those that open with a segment size (the rotation run). */
static int engines_for(const engine_t *floor, int segmented, const engine_t **out) {
    int n = 0;
    if (listed(cfg.engines, libwal_engine.name)) out[n++] = &libwal_engine;
    if (floor && listed(cfg.engines, floor->name)) out[n++] = floor;
    for (int i = 0; peers[i]; i++)
        if (listed(cfg.engines, peers[i]->name) && (!segmented || peers[i]->open_segmented)) out[n++] = peers[i];
    return n;
}

static char *run_dir(const engine_t *e) {
    char name[64];
    snprintf(name, sizeof name, "%.6s", e->name);
    for (char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c)) *c = '_';
    char *dir = path_join(cfg.dir, name);
    remove_tree(dir);
    return dir;
}

/* libwal's segment files (FORMAT.md: 20 digits + ".wal", named by their
 * first seq): the first seqs, sorted, into a malloc'd array. */
static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static size_t segment_firsts(const char *dir, uint64_t **out) {
    DIR *d = opendir(dir);
    if (!d) die_os("opendir", dir);
    size_t n = 0, cap = 0;
    *out = NULL;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len != 24 || strcmp(e->d_name + 20, ".wal") || strspn(e->d_name, "0123456789") != 20) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            *out = realloc(*out, cap * sizeof **out);
            if (!*out) die_os("realloc for the segments of", dir);
        }
        (*out)[n++] = strtoull(e->d_name, NULL, 10);
    }
    closedir(d);
    qsort(*out, n, sizeof **out, cmp_u64);
    return n;
}

/* ---- a cold cache for one directory ---- */

static uint64_t cache_pages, cache_resident;

static int drop_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode) || !st->st_size) return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) die_os("open", path);
    if (fdatasync(fd) != 0) die_os("fdatasync", path);
    int rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    if (rc) errno = rc, die_os("posix_fadvise(DONTNEED)", path);
    /* Check that it worked: how many of the file's pages are still cached. */
    long page = sysconf(_SC_PAGESIZE);
    size_t pages = (size_t)((st->st_size + page - 1) / page);
    void *m = mmap(NULL, (size_t)st->st_size, PROT_READ, MAP_SHARED, fd, 0);
    unsigned char *vec = malloc(pages);
    if (m == MAP_FAILED || !vec || mincore(m, (size_t)st->st_size, vec) != 0) die_os("mincore", path);
    for (size_t i = 0; i < pages; i++) cache_resident += vec[i] & 1;
    cache_pages += pages;
    free(vec);
    munmap(m, (size_t)st->st_size);
    close(fd);
    return 0;
}

/* Writes back and evicts from the page cache every file under dir, so that
 * the next read of them goes to the disk: per file, with
 * posix_fadvise(DONTNEED), not /proc/sys/vm/drop_caches, which would empty
 * the cache of every process on the machine. */
static void drop_cache(const char *dir) {
    if (nftw(dir, drop_entry, 16, FTW_PHYS) != 0) die_os("drop the cache of", dir);
}

/* ---- durable appends: records/s for a fixed time, and every latency ---- */

typedef struct {
    const engine_t *e;
    void *h;
    int tid;
    size_t value_len, batch;
    double deadline;
    uint64_t done;
    samples_t lat;
} worker_t;

static void *durable_worker(void *arg) {
    worker_t *w = arg;
    char keys[256][KEY_LEN];
    rec_t recs[256];
    for (size_t i = 0; i < w->batch; i++) recs[i] = (rec_t){keys[i], KEY_LEN, value_buf, w->value_len};
    for (double t = now_s(); t < w->deadline;) {
        for (size_t i = 0; i < w->batch; i++) make_key(keys[i], w->tid, w->done + i);
        double t0 = now_s();
        w->e->put(w->h, w->tid, recs, w->batch);
        t = now_s();
        push_sample(&w->lat, (float)((t - t0) * 1e6));
        w->done += w->batch;
    }
    return NULL;
}

/* One durable run of e: records/s into row; the latency of every put into
 * row's pool when keep_latency; wal_stats's group counters into row/...;
 * segment_bytes: open with that segment size (the rotation run). */
static void durable_run(const engine_t *e, const char *row, int threads, size_t value_len, size_t batch,
                        uint64_t segment_bytes, int keep_latency) {
    char *dir = run_dir(e);
    void *h = segment_bytes ? e->open_segmented(dir, threads, segment_bytes) : e->open(dir, 1, threads);
    pthread_t tid[MAX_THREADS];
    worker_t w[MAX_THREADS];
    double start = now_s();
    for (int t = 0; t < threads; t++) {
        w[t] = (worker_t){e, h, t, value_len, batch, start + cfg.seconds, 0, {0}};
        if (pthread_create(&tid[t], NULL, durable_worker, &w[t]) != 0) die_msg(e->name, "pthread_create", dir);
    }
    uint64_t done = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        done += w[t].done;
    }
    double elapsed = now_s() - start;
    group_stats_t g;
    if (e->group_stats && e->group_stats(h, &g) == 0 && g.syncs) {
        add_sample(str("%s/per-sync", row), e->name, (double)g.records / (double)g.syncs);
        add_sample(str("%s/group-max", row), e->name, (double)g.group_max);
        add_sample(str("%s/sync-p50", row), e->name, (double)g.sync_us_p50);
        add_sample(str("%s/sync-p99", row), e->name, (double)g.sync_us_p99);
        add_sample(str("%s/sync-max", row), e->name, (double)g.sync_us_max);
    }
    uint64_t *firsts = NULL;
    size_t segments = 0;
    if (segment_bytes && e == &libwal_engine) {
        segments = segment_firsts(dir, &firsts);
        add_sample(str("%s/segments", row), e->name, (double)segments);
    }
    e->close(h);
    latency_t *l = keep_latency ? find_latency(row, e->name, 1) : NULL;
    /* One thread on a new log: put i wrote seq i+1. The appends around a
     * segment boundary, the last of a segment and the first of the next
     * (the rotation's cost lands in one of them), go to a pool of their own. */
    latency_t *b = l && threads == 1 && segments > 1 ? find_latency(str("%s/boundary", row), e->name, 1) : NULL;
    for (size_t k = 1; b && k < segments; k++)
        for (uint64_t i = firsts[k] >= 2 ? firsts[k] - 2 : 0; i < firsts[k] && i < w[0].lat.n; i++)
            push_sample(&b->s, w[0].lat.v[i]);
    if (b) b->sorted = 0;
    free(firsts);
    for (int t = 0; t < threads; t++) {
        for (size_t i = 0; l && i < w[t].lat.n; i++) push_sample(&l->s, w[t].lat.v[i]);
        free(w[t].lat.v);
    }
    if (l) l->sorted = 0;
    remove_tree(dir);
    free(dir);
    record(row, e->name, (double)done / elapsed, "rec/s");
}

/* One durable workload: every engine, BENCH_RUNS times, taking turns. */
static void durable_rows(const char *row, const engine_t *floor, int threads, size_t value_len, size_t batch,
                         int keep_latency) {
    const engine_t *es[8];
    int n = engines_for(floor, 0, es);
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) durable_run(es[i], row, threads, value_len, batch, 0, keep_latency);
}

static const int sweep_threads[] = {1, 2, 4, 8, 16};
static const char *const sweep_rows[] = {"W1", "sweep-2", "sweep-4", "W3", "sweep-16"};

static void run_w1(void) {
    durable_rows("W1", &floor_prewritten_engine, 1, 100, 1, 1);
    for (int run = 0; run < cfg.runs; run++) durable_run(&floor_growing_engine, "W1", 1, 100, 1, 0, 0);
}

static void run_w3(void) { durable_rows("W3", &floor_prewritten_engine, 8, 100, 1, 1); }

static void run_sweep(void) {
    for (int i = 0; i < 5; i++)
        if (sweep_threads[i] != 1 && sweep_threads[i] != 8)
            durable_rows(sweep_rows[i], &floor_prewritten_engine, sweep_threads[i], 100, 1, 0);
}

static void run_w2(void) { durable_rows("W2", &floor_prewritten_engine, 1, 4096, 1, 0); }

static void run_batches(void) {
    durable_rows("batch-16", &floor_prewritten_engine, 1, 100, 16, 0);
    durable_rows("batch-256", &floor_prewritten_engine, 1, 100, 256, 0);
}

/* W1 with small segments: many rotations within one run. */
static void run_rotation(void) {
    const engine_t *es[8];
    int n = engines_for(NULL, 1, es);
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) durable_run(es[i], "rotation", 1, 100, 1, cfg.rotation_segment, 1);
}

/* ---- bulk: n appends, one sync; then reopen + replay (cold); truncate half ---- */

/* Before each bulk run, not timed: writes back what earlier runs left dirty
 * in the bench's file system, so that their writeback does not slow the next
 * engine's timed writes; then writes `bytes` to a scratch file and deletes
 * it before it is written back. On this VM a page the guest has not used
 * for a while costs several times more to fill the first time (measured:
 * the same libwal W4 run went 1.5M, 2.8M, 4.8M rec/s in a row, 34% of it in
 * copy_folio_from_iter_atomic), and whichever engine ran right after
 * another's files were deleted got the warm pages. The scratch file leaves
 * `bytes` of warm free pages for every engine alike. */
static void settle(uint64_t bytes) {
    int fd = open(cfg.dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || syncfs(fd) != 0) die_os("syncfs", cfg.dir);
    close(fd);
    char *scratch = path_join(cfg.dir, "warm-up");
    fd = open(scratch, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) die_os("open", scratch);
    static char chunk[1 << 20];
    memset(chunk, 0x5a, sizeof chunk);
    for (uint64_t done = 0; done < bytes; done += sizeof chunk)
        if (write(fd, chunk, sizeof chunk) != (ssize_t)sizeof chunk) die_os("write", scratch);
    if (unlink(scratch) != 0) die_os("unlink", scratch);
    close(fd);
    free(scratch);
}

static void bulk_once(const engine_t *e, const char *row, uint64_t n, size_t value_len, const char *replay_row,
                      const char *truncate_row) {
    char *dir = run_dir(e);
    /* Twice what the records hold: room for every engine's framing. */
    settle(2 * n * (KEY_LEN + value_len));
    char key[KEY_LEN];
    rec_t r = {key, KEY_LEN, value_buf, value_len};
    void *h = e->open(dir, 0, 1);
    double start = now_s();
    for (uint64_t i = 0; i < n; i++) {
        make_key(key, 0, i);
        e->put(h, 0, &r, 1);
    }
    e->sync(h);
    double elapsed = now_s() - start;
    e->close(h);
    if (value_len > 1000) record(row, e->name, (double)n * (KEY_LEN + value_len) / 1e6 / elapsed, "MB/s");
    else record(row, e->name, (double)n / elapsed, "rec/s");
    if (replay_row) {
        drop_cache(dir);
        start = now_s();
        h = e->open(dir, 1, 1);
        uint64_t got = e->replay(h);
        record(replay_row, e->name, (now_s() - start) * 1e3, "ms");
        if (got != n) die_msg(e->name, "replay found a different record count in", dir);
        start = now_s();
        e->truncate_half(h, n);
        record(truncate_row, e->name, (now_s() - start) * 1e3, "ms");
        e->close(h);
    }
    remove_tree(dir);
    free(dir);
}

static void run_bulk(void) {
    const engine_t *es[8];
    int n = engines_for(&floor_buffered_engine, 0, es);
    uint64_t count = (uint64_t)(1e6 * cfg.scale) + 2;
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) bulk_once(es[i], "W4", count, 100, "W6", "W7");
    if (cache_pages && cache_resident * 100 > cache_pages)
        printf("NOTE: W6: %.1f%% of the logs' pages stayed in the page cache after posix_fadvise(DONTNEED)\n",
               100.0 * (double)cache_resident / (double)cache_pages);
}

static void run_w5(void) {
    const engine_t *es[8];
    int n = engines_for(&floor_buffered_engine, 0, es);
    uint64_t count = (uint64_t)(250e3 * cfg.scale) + 2;
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) bulk_once(es[i], "W5", count, 4096, NULL, NULL);
}

/* ---- libwal alone: seek, the large log ---- */

static void die_wal(const char *call, const char *dir) {
    fprintf(stderr, "bench: libwal: %s %s: %s\n", call, dir, wal_last_error_message());
    exit(1);
}

static wal_t *open_wal(const char *dir, uint64_t segment_size, uint32_t sync_mode) {
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = segment_size;
    o.sync_mode = sync_mode;
    wal_t *w;
    if (wal_open(dir, &o, &w) != WAL_OK) die_wal("wal_open", dir);
    return w;
}

/* A log of records with value_len-byte values whose frames take at least
 * bytes, written with WAL_SYNC_NONE and closed (which syncs); returns its
 * MB/s. Real data: every byte is written. */
static double build_log(const char *dir, uint64_t segment_size, size_t value_len, uint64_t bytes) {
    remove_tree(dir);
    settle(0);
    wal_t *w = open_wal(dir, segment_size, WAL_SYNC_NONE);
    uint64_t frame = FRAME_OVERHEAD + KEY_LEN + value_len, written = 0;
    double start = now_s();
    for (uint64_t i = 0; written < bytes; i++, written += frame) {
        char key[KEY_LEN];
        make_key(key, 0, i);
        if (wal_append(w, WAL_OP_PUT, key, KEY_LEN, value_buf, value_len) == 0) die_wal("wal_append", dir);
    }
    if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
    return (double)written / 1e6 / (now_s() - start);
}

/* wal_iter_open(after_seq) and the first wal_iter_next, in microseconds. */
static double time_seek(wal_t *w, uint64_t after_seq, const char *dir) {
    wal_iter_t *it;
    wal_record_t r;
    double start = now_s();
    if (wal_iter_open(w, after_seq, &it) != WAL_OK) die_wal("wal_iter_open", dir);
    if (wal_iter_next(it, &r) != 1) die_wal("wal_iter_next", dir);
    double us = (now_s() - start) * 1e6;
    if (r.seq != after_seq + 1) die_msg("libwal", "the seek found a different seq in", dir);
    wal_iter_close(it);
    return us;
}

/* The seek rows of the log in dir, at the start and at the end of its
 * segment number `which` (a full one: not the newest), BENCH_SEEK_OPENS
 * times each, alternating, each on a fresh handle (wal_open not timed):
 * the first seek after the open (row-start, row-end: an index built when a
 * segment is first read is paid for here), and, on another fresh handle,
 * the seek after one untimed seek to the segment's middle (row-warm-start,
 * row-warm-end: whatever that seek built is in place). */
static void seek_rows(const char *dir, uint64_t segment_size, size_t which, const char *row) {
    uint64_t *firsts;
    size_t n = segment_firsts(dir, &firsts);
    if (n < which + 2) die_msg("libwal", "the seek log has too few segments in", dir);
    /* after_seq for its first and its last record, and for its middle one */
    uint64_t at[2] = {firsts[which] - 1, firsts[which + 1] - 2};
    uint64_t middle = firsts[which] - 1 + (firsts[which + 1] - firsts[which]) / 2;
    const char *name[2] = {"start", "end"};
    for (int k = 0; k < cfg.seek_opens; k++)
        for (int p = 0; p < 2; p++) {
            wal_t *w = open_wal(dir, segment_size, WAL_SYNC_ALWAYS);
            add_sample(str("%s-%s", row, name[p]), libwal_engine.name, time_seek(w, at[p], dir));
            if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
            w = open_wal(dir, segment_size, WAL_SYNC_ALWAYS);
            time_seek(w, middle, dir);
            add_sample(str("%s-warm-%s", row, name[p]), libwal_engine.name, time_seek(w, at[p], dir));
            if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
        }
    add_sample(str("%s-records", row), libwal_engine.name, (double)(firsts[which + 1] - firsts[which]));
    add_sample(str("%s-segment", row), libwal_engine.name, (double)which);
    for (int p = 0; p < 2; p++)
        printf("  %-14s %-46s %12.2f us first after open, %.2f us after a seek to the middle (medians of %d)\n",
               str("%s-%s", row, name[p]), libwal_engine.name, median_of(str("%s-%s", row, name[p]), libwal_engine.name),
               median_of(str("%s-warm-%s", row, name[p]), libwal_engine.name), cfg.seek_opens);
    free(firsts);
}

/* Seek on a log of about 1M records of 100 B (2.5 segments of
 * BENCH_SEEK_SEGMENT_MB), at the start and the end of its first segment. */
static void run_seek(void) {
    if (!listed(cfg.engines, libwal_engine.name)) return;
    char *dir = path_join(cfg.dir, "seek");
    for (int run = 0; run < cfg.runs; run++) {
        build_log(dir, cfg.seek_segment, 100, cfg.seek_segment * 5 / 2);
        seek_rows(dir, cfg.seek_segment, 0, "seek");
    }
    remove_tree(dir);
    free(dir);
}

/* Scales the large log down when the disk has less than 1.5x its size free. */
static void fit_large_to_disk(void) {
    struct statvfs st;
    if (statvfs(cfg.dir, &st) != 0) die_os("statvfs", cfg.dir);
    uint64_t free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    if (free_bytes / 3 * 2 >= cfg.large_bytes) return;
    printf("NOTE: only %.1f GB free in %s: the large log is scaled down from %.1f GB to %.1f GB\n",
           free_bytes / 1e9, cfg.dir, cfg.large_bytes / 1e9, free_bytes / 3 * 2 / 1e9);
    cfg.large_bytes = free_bytes / 3 * 2;
    cfg.large_scaled_down = 1;
}

/* The large log: build it, time wal_open, seek in its middle segment, time
 * truncating its first half; removed after each run. */
static void large_once(void) {
    char *dir = path_join(cfg.dir, "large");
    record("large-build", libwal_engine.name, build_log(dir, cfg.large_segment, cfg.large_value, cfg.large_bytes),
           "MB/s");
    double start = now_s();
    wal_t *w = open_wal(dir, cfg.large_segment, WAL_SYNC_ALWAYS);
    record("open-large", libwal_engine.name, (now_s() - start) * 1e3, "ms");
    if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
    uint64_t *firsts;
    size_t segments = segment_firsts(dir, &firsts);
    free(firsts);
    add_sample("large-segments", libwal_engine.name, (double)segments);
    seek_rows(dir, cfg.large_segment, segments / 2 - 1, "seek-large");
    w = open_wal(dir, cfg.large_segment, WAL_SYNC_ALWAYS);
    uint64_t n = wal_last_seq(w);
    add_sample("large-records", libwal_engine.name, (double)n);
    start = now_s();
    if (wal_truncate(w, n / 2) != WAL_OK) die_wal("wal_truncate", dir);
    record("W7-large", libwal_engine.name, (now_s() - start) * 1e3, "ms");
    if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
    remove_tree(dir);
    free(dir);
}

static void run_large(void) {
    if (!listed(cfg.engines, libwal_engine.name)) return;
    fit_large_to_disk();
    for (int run = 0; run < cfg.large_runs; run++) large_once();
}

/* ---- the tables ---- */

typedef struct {
    const char *id, *label, *unit;
    const engine_t *floor;
} row_t;

/* Labels of the large rows take the large log's size (GiB) as argument. */
static const row_t rows[] = {
    {"W1", "W1 1 thread, durable, 100 B", "rec/s", &floor_prewritten_engine},
    {"W1", "W1 against the growing-file floor", "rec/s", &floor_growing_engine},
    {"W2", "W2 1 thread, durable, 4 KiB", "rec/s", &floor_prewritten_engine},
    {"W3", "W3 8 threads, durable, 100 B", "rec/s", &floor_prewritten_engine},
    {"rotation", "rotations: 1 thread, durable, 100 B, %g KiB segments", "rec/s", NULL},
    {"W4", "W4 1M x 100 B, one sync", "rec/s", &floor_buffered_engine},
    {"W5", "W5 250k x 4 KiB, one sync", "MB/s", &floor_buffered_engine},
    {"W6", "W6 reopen + replay W4's log (cold cache)", "ms", &floor_buffered_engine},
    {"W7", "W7 truncate half of W4's log", "ms", &floor_buffered_engine},
    {"W7-large", "W7 truncate half of the %.3g GiB log", "ms", NULL},
    {"open-large", "wal_open of the %.3g GiB log", "ms", NULL},
    {"large-build", "build the %.3g GiB log (SYNC_NONE)", "MB/s", NULL},
    {"sweep-2", "2 threads, durable, 100 B", "rec/s", &floor_prewritten_engine},
    {"sweep-4", "4 threads, durable, 100 B", "rec/s", &floor_prewritten_engine},
    {"sweep-16", "16 threads, durable, 100 B", "rec/s", &floor_prewritten_engine},
    {"batch-16", "batches of 16, 1 thread, durable", "rec/s", &floor_prewritten_engine},
    {"batch-256", "batches of 256, 1 thread, durable", "rec/s", &floor_prewritten_engine},
};

static double large_gib(void) { return (double)cfg.large_bytes / (double)(1ull << 30); }

/* 12345 -> "12.3k"; 2.5e6 -> "2.50M"; small values keep 2-3 digits. */
static const char *fmt(double v, char *buf) {
    if (isnan(v)) return "-";
    const char *suffix = "";
    if (v >= 1e6) v /= 1e6, suffix = "M";
    else if (v >= 1e4) v /= 1e3, suffix = "k";
    snprintf(buf, 32, v >= 100 ? "%.0f%s" : v >= 10 ? "%.1f%s" : "%.2f%s", v, suffix);
    return buf;
}

/* A count: no decimals below 10k. */
static const char *fmt_count(double v, char *buf) {
    if (isnan(v) || v >= 1e4) return fmt(v, buf);
    snprintf(buf, 32, "%.0f", v);
    return buf;
}

static const char *ratio_txt(double r, char *buf) {
    if (isnan(r) || isinf(r)) return "-";
    snprintf(buf, 32, "%.2fx", r);
    return buf;
}

/* The best peer of a row: the highest rate, or the lowest time. */
static const char *best_peer(const row_t *r, double *best) {
    const char *name = NULL;
    *best = NAN;
    for (int i = 0; peers[i]; i++) {
        double m = median_of(r->id, peers[i]->name);
        if (isnan(m)) continue;
        int lower_better = !strcmp(r->unit, "ms");
        if (!name || (lower_better ? m < *best : m > *best)) *best = m, name = peers[i]->name;
    }
    return name;
}

static void print_row(FILE *f, const row_t *r) {
    double lo, hi, lw = stat_of(r->id, libwal_engine.name, &lo, &hi);
    double fl = median_of(r->id, r->floor ? r->floor->name : NULL);
    double ok = okaywal ? median_of(r->id, okaywal) : NAN;
    double peer;
    const char *pname = best_peer(r, &peer);
    char a[32], b[32], c[32], d[32], e[32], g[32], x[32], y[32], z[32], label[128];
    char peer_txt[64] = "-";
    if (pname) snprintf(peer_txt, sizeof peer_txt, "%s %s", pname, fmt(peer, d));
    snprintf(label, sizeof label, r->label, !strcmp(r->id, "rotation") ? (double)cfg.rotation_segment / 1024 : large_gib());
    fprintf(f, "| %s | %s | %s (%s-%s) | %s | %s | %s | %s | %s | %s |\n", label, r->unit, fmt(lw, a), fmt(lo, b),
            fmt(hi, c), fmt(fl, e), fmt(ok, g), peer_txt, ratio_txt(lw / fl, x), ratio_txt(lw / ok, y),
            ratio_txt(lw / peer, z));
}

static void print_table(FILE *f) {
    fprintf(f, "| workload | unit | libwal median (min-max) | raw floor | okaywal | best peer | libwal/floor "
               "| libwal/okaywal | libwal/best peer |\n|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (find_series(rows[i].id, libwal_engine.name)) print_row(f, &rows[i]);
}

/* p50, p99, p99.9 and max of durable append latency. */
static void print_latency(FILE *f) {
    char rot[96], boundary[160];
    snprintf(rot, sizeof rot, "1 thread, %g KiB segments", (double)cfg.rotation_segment / 1024);
    snprintf(boundary, sizeof boundary, "%s: the appends at a segment boundary", rot);
    const struct {
        const char *row, *label;
    } runs[] = {{"W1", "W1, 1 thread"}, {"W3", "W3, 8 threads"}, {"rotation", rot}, {"rotation/boundary", boundary}};
    const char *engines[] = {libwal_engine.name, okaywal, floor_prewritten_engine.name};
    if (!n_latencies) {
        fprintf(f, "Latency: not measured (W1, W3 and the rotations did not run)\n");
        return;
    }
    fprintf(f, "Latency of one durable append (put call to return), microseconds, every append of every run:\n\n"
               "| run | engine | appends | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|\n");
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
        for (size_t e = 0; e < sizeof engines / sizeof engines[0]; e++) {
            latency_t *l = engines[e] ? find_latency(runs[r].row, engines[e], 0) : NULL;
            if (!l) continue;
            char a[32], b[32], c[32], d[32];
            fprintf(f, "| %s | %s | %zu | %s | %s | %s | %s |\n", runs[r].label, engines[e],
                    l->s.n, fmt(quantile(runs[r].row, engines[e], 0.5), a),
                    fmt(quantile(runs[r].row, engines[e], 0.99), b), fmt(quantile(runs[r].row, engines[e], 0.999), c),
                    fmt(quantile(runs[r].row, engines[e], 1.0), d));
        }
    double segs = median_of("rotation/segments", libwal_engine.name);
    if (!isnan(segs))
        fprintf(f, "\nIn the rotation run libwal's log ended with %.0f segments of %g KiB (median of the runs); "
                   "okaywal's checkpoint_after_bytes was the same size. The appends at a boundary are libwal's "
                   "last append to a segment and its first to the next (seqs from the segment names).\n",
                segs, (double)cfg.rotation_segment / 1024);
}

/* Group commit: records per fdatasync from wal_stats, for the sweep. */
static void print_groups(FILE *f) {
    fprintf(f, "Group commit, from `wal_stats` at the end of each durable run (median of the runs):\n\n");
    int any = 0;
    for (int t = 0; t < 5; t++) any |= find_series(sweep_rows[t], libwal_engine.name) != NULL;
    if (!any) {
        fprintf(f, "not measured (W1, W3 and the sweep did not run)\n");
        return;
    }
    fprintf(f, "| threads | libwal rec/s | records per fdatasync | largest group | fdatasync p50 / p99 / max us "
               "| okaywal rec/s |\n|---|---|---|---|---|---|\n");
    for (int t = 0; t < 5; t++) {
        const char *row = sweep_rows[t];
        double lw = median_of(row, libwal_engine.name);
        if (isnan(lw)) continue;
        char a[32], b[32], c[32], d[32], e[32], g[32], h[32];
        fprintf(f, "| %d | %s | %s | %s | %s / %s / %s | %s |\n", sweep_threads[t], fmt(lw, a),
                fmt(median_of(str("%s/per-sync", row), libwal_engine.name), b),
                fmt_count(median_of(str("%s/group-max", row), libwal_engine.name), c),
                fmt(median_of(str("%s/sync-p50", row), libwal_engine.name), d),
                fmt(median_of(str("%s/sync-p99", row), libwal_engine.name), e),
                fmt(median_of(str("%s/sync-max", row), libwal_engine.name), g),
                fmt(okaywal ? median_of(row, okaywal) : NAN, h));
    }
}

static void print_seek(FILE *f) {
    static const struct {
        const char *row, *label;
    } logs[] = {{"seek", "1M records of 100 B, %g MiB segments"}, {"seek-large", "the %.3g GiB log, %g MiB segments"}};
    static const struct {
        const char *kind, *label;
    } kinds[] = {{"", "first seek after wal_open"}, {"warm-", "after a seek to the segment's middle"}};
    if (!find_series("seek-start", libwal_engine.name) && !find_series("seek-large-start", libwal_engine.name)) {
        fprintf(f, "Seek: not measured (the seek and large groups did not run)\n");
        return;
    }
    fprintf(f, "Seek: `wal_iter_open` + the first `wal_iter_next` at the first and at the last record of a full "
               "segment, microseconds, median (min-max) of %d fresh handles per run (page cache warm):\n\n"
               "| log | segment | its records | on the handle | at its start | at its end | end / start |\n"
               "|---|---|---|---|---|---|---|\n",
               cfg.seek_opens);
    for (size_t i = 0; i < sizeof logs / sizeof logs[0]; i++)
        for (size_t j = 0; j < sizeof kinds / sizeof kinds[0]; j++) {
            const char *row = logs[i].row;
            double slo, shi, s = stat_of(str("%s-%sstart", row, kinds[j].kind), libwal_engine.name, &slo, &shi);
            double elo, ehi, e = stat_of(str("%s-%send", row, kinds[j].kind), libwal_engine.name, &elo, &ehi);
            if (isnan(s)) continue;
            char label[128], a[32], b[32], c[32], d[32], g[32], h[32], n[32], x[32];
            if (i == 0) snprintf(label, sizeof label, logs[i].label, (double)cfg.seek_segment / (1 << 20));
            else snprintf(label, sizeof label, logs[i].label, large_gib(), (double)cfg.large_segment / (1 << 20));
            double which = median_of(str("%s-segment", row), libwal_engine.name);
            fprintf(f, "| %s | number %.0f | %s | %s | %s (%s-%s) | %s (%s-%s) | %s |\n", label, which + 1,
                    fmt_count(median_of(str("%s-records", row), libwal_engine.name), n), kinds[j].label, fmt(s, a),
                    fmt(slo, b), fmt(shi, c), fmt(e, d), fmt(elo, g), fmt(ehi, h), ratio_txt(e / s, x));
        }
}

/* One goal: lw against ref (ref_name NULL: an absolute limit, lw itself is
 * compared), op '>' ratio >= limit, '<' ratio <= limit, 'l' ratio < limit. */
static int goals_met, goals_not_met, goals_missing;

static void goal(FILE *f, int count, const char *what, double lw, const char *unit, const char *ref_name, double ref,
                 char op, double limit, const char *missing) {
    char a[32], b[32], r[32];
    double ratio = ref_name ? lw / ref : lw;
    char ref_txt[96] = "-";
    if (ref_name) snprintf(ref_txt, sizeof ref_txt, "%s %s %s", ref_name, fmt(ref, b), unit);
    const char *verdict;
    char why[160];
    if ((isnan(ratio) || isinf(ratio)) && !missing && cfg.only) return; /* a group BENCH_ONLY left out */
    if (isnan(ratio) || isinf(ratio)) {
        snprintf(why, sizeof why, "not measured: %s",
                 missing ? missing : "a figure it needs is missing (left out by BENCH_ONLY or BENCH_ENGINES)");
        verdict = why;
        if (count) goals_missing++;
    } else {
        int met = op == '>' ? ratio >= limit : op == '<' ? ratio <= limit : ratio < limit;
        verdict = met ? "**met**" : "not met";
        if (count) met ? goals_met++ : goals_not_met++;
    }
    fprintf(f, "| %s | %s %s | %s | %s | %s |\n", what, fmt(lw, a), unit, ref_txt,
            ref_name ? ratio_txt(ratio, r) : "-", verdict);
}

static void print_goals(FILE *f, int count) {
    const char *lw = libwal_engine.name, *no_okaywal = okaywal ? NULL : "okaywal is not built in (BENCH_OKAYWAL=0)";
    const char *floor = "floor";
    char what[160];
    double gib = large_gib();
    fprintf(f, "Goals of issue 11 and the seek of issue 12 (ratio: libwal / the other):\n\n"
               "| goal | libwal | against | ratio | |\n|---|---|---|---|---|\n");
    goal(f, count, "W1 >= 1.0x okaywal", median_of("W1", lw), "rec/s", "okaywal", okaywal ? median_of("W1", okaywal) : NAN,
         '>', 1.0, no_okaywal);
    goal(f, count, "W1 p99 <= okaywal's", quantile("W1", lw, 0.99), "us", "okaywal",
         okaywal ? quantile("W1", okaywal, 0.99) : NAN, '<', 1.0, no_okaywal);
    goal(f, count, "W3 >= 2x okaywal", median_of("W3", lw), "rec/s", "okaywal", okaywal ? median_of("W3", okaywal) : NAN,
         '>', 2.0, no_okaywal);
    goal(f, count, "W3 >= 6 records per fdatasync (wal_stats)", median_of("W3/per-sync", lw), "records", NULL, 0, '>',
         6.0, NULL);
    goal(f, count, "W4 >= 0.8x the buffered floor", median_of("W4", lw), "rec/s", floor,
         median_of("W4", floor_buffered_engine.name), '>', 0.8, NULL);
    goal(f, count, "W5 >= 0.9x the floor", median_of("W5", lw), "MB/s", floor, median_of("W5", floor_buffered_engine.name),
         '>', 0.9, NULL);
    goal(f, count, "W6 (cold) <= 1.3x a plain read", median_of("W6", lw), "ms", "plain read",
         median_of("W6", floor_buffered_engine.name), '<', 1.3, NULL);
#if defined(HAVE_SQLITE)
    goal(f, count, "W6 (cold) faster than SQLite", median_of("W6", lw), "ms", "SQLite", median_of("W6", "SQLite"), 'l', 1.0,
         NULL);
#else
    goal(f, count, "W6 (cold) faster than SQLite", NAN, "ms", "SQLite", NAN, 'l', 1.0, "SQLite is not built in");
#endif
    goal(f, count, "W7 <= 1 ms", median_of("W7", lw), "ms", NULL, 0, '<', 1.0, NULL);
    goal(f, count, "W7 <= 2x okaywal", median_of("W7", lw), "ms", "okaywal", okaywal ? median_of("W7", okaywal) : NAN, '<',
         2.0, no_okaywal);
    snprintf(what, sizeof what, "W7 flat: on the %.3g GiB log <= 2x on W4's", gib);
    goal(f, count, what, median_of("W7-large", lw), "ms", "W4's log", median_of("W7", lw), '<', 2.0, NULL);
    snprintf(what, sizeof what, "seek at the end of a full %g MiB segment <= 2x at its start (after a seek to its middle)",
             (double)cfg.seek_segment / (1 << 20));
    goal(f, count, what, median_of("seek-warm-end", lw), "us", "start", median_of("seek-warm-start", lw), '<', 2.0, NULL);
    snprintf(what, sizeof what, "the same in the %.3g GiB log", gib);
    goal(f, count, what, median_of("seek-large-warm-end", lw), "us", "start", median_of("seek-large-warm-start", lw),
         '<', 2.0, NULL);
    snprintf(what, sizeof what, "the same as the first seek after wal_open (the contract: O(log n), no scan)");
    goal(f, count, what, median_of("seek-end", lw), "us", "start", median_of("seek-start", lw), '<', 2.0, NULL);
    snprintf(what, sizeof what, "the same in the %.3g GiB log", gib);
    goal(f, count, what, median_of("seek-large-end", lw), "us", "start", median_of("seek-large-start", lw), '<', 2.0,
         NULL);
    snprintf(what, sizeof what, "wal_open of the %.3g GiB log <= 100 ms (0.1's goal)", gib);
    goal(f, count, what, median_of("open-large", lw), "ms", NULL, 0, '<', 100, NULL);
}

/* ---- the machine, for the table and the plot's title ---- */

static char machine[1024];

/* The file system type of the mount that holds path (longest prefix). */
static void fs_type(const char *path, char *out, size_t len) {
    char real[4096];
    if (!realpath(path, real)) die_os("realpath", path);
    FILE *m = setmntent("/proc/self/mounts", "r");
    if (!m) die_os("setmntent", "/proc/self/mounts");
    size_t best = 0;
    snprintf(out, len, "unknown");
    for (struct mntent *e; (e = getmntent(m));) {
        size_t n = strlen(e->mnt_dir);
        if (n >= best && !strncmp(real, e->mnt_dir, n) && (real[n] == '/' || !real[n] || n == 1))
            best = n, snprintf(out, len, "%s on %s", e->mnt_type, e->mnt_fsname);
    }
    endmntent(m);
}

static void describe_machine(void) {
    char cpu[128] = "unknown CPU", line[256], fs[256], date[32], commit[64] = "";
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = 0;
            break;
        }
    if (f) fclose(f);
    struct utsname u;
    uname(&u);
    fs_type(cfg.dir, fs, sizeof fs);
    time_t t = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t));
    if (getenv("BENCH_COMMIT") && *getenv("BENCH_COMMIT")) snprintf(commit, sizeof commit, " (%s)", getenv("BENCH_COMMIT"));
    snprintf(machine, sizeof machine, "%s, %ld cores (%s), %s, Linux %s, libwal %s%s", date,
             sysconf(_SC_NPROCESSORS_ONLN), cpu, fs, u.release, wal_version(), commit);
}

/* ---- outputs ---- */

static FILE *create(const char *suffix) {
    char *path;
    if (asprintf(&path, "%s%s", cfg.out, suffix) < 0) die_os("asprintf for", suffix);
    FILE *f = fopen(path, "w");
    if (!f) die_os("fopen", path);
    free(path);
    return f;
}

/* Whether this run is the whole benchmark (every group, every engine, full
 * scale), the only kind bench/report.py puts in the README. */
static const char *run_kind(void) {
    static char why[256];
    why[0] = 0;
    if (cfg.only) strcat(why, " BENCH_ONLY");
    if (cfg.engines) strcat(why, " BENCH_ENGINES");
    if (cfg.scale != 1) strcat(why, " BENCH_SCALE");
    if (cfg.large_bytes != 10ull << 30) strcat(why, " large-log-size");
    if (cfg.seek_segment != 64u << 20 || cfg.large_segment != 64u << 20) strcat(why, " segment-size");
    if (sizeof peers / sizeof peers[0] != 5) strcat(why, " peers-missing");
    if (cfg.runs < 3 || cfg.seconds < 1) strcat(why, " short");
    return why[0] ? why : NULL;
}

/* The markdown: sections that bench/report.py copies by name. */
static void print_all(FILE *f, int count) {
    const char *partial = run_kind();
    fprintf(f, "<!-- bench-run: %s%s -->\n", partial ? "partial:" : "full", partial ? partial : "");
    fprintf(f, "<!-- bench-section: header -->\n");
    fprintf(f, "Measured %s, in `%s`; median of %d runs; %g s per durable run; W4/W5 scale %g; ", machine, cfg.base,
            cfg.runs, cfg.seconds, cfg.scale);
    if (find_series("large-build", libwal_engine.name))
        fprintf(f, "the large log %.3g GiB of %zu-byte values in %g MiB segments, built %d time%s; ", large_gib(),
                cfg.large_value, (double)cfg.large_segment / (1 << 20), cfg.large_runs, cfg.large_runs == 1 ? "" : "s");
    fprintf(f, "load average (1 min) %.2f at the start, %.2f at the end, at most %.2f at the start of a workload.\n\n",
            load_start, load_end, load_max);
    fprintf(f, "<!-- bench-section: table -->\n");
    print_table(f);
    fprintf(f, "\n<!-- bench-section: goals -->\n");
    print_goals(f, count);
    fprintf(f, "\n<!-- bench-section: latency -->\n");
    print_latency(f);
    fprintf(f, "\n<!-- bench-section: groups -->\n");
    print_groups(f);
    fprintf(f, "\n<!-- bench-section: seek -->\n");
    print_seek(f);
    fprintf(f, "<!-- bench-section: end -->\n");
}

/* The sweep's medians, one column per engine, for bench/plot.gp. */
static void write_sweep(void) {
    const engine_t *es[8];
    int n = engines_for(&floor_prewritten_engine, 0, es);
    FILE *f = create("-sweep.dat");
    fprintf(f, "# %s; load average %.2f-%.2f\nthreads", machine, load_start, load_max);
    for (int i = 0; i < n; i++) fprintf(f, " \"%s\"", es[i]->name);
    for (int t = 0; t < 5; t++) {
        fprintf(f, "\n%d", sweep_threads[t]);
        for (int i = 0; i < n; i++) {
            double m = median_of(sweep_rows[t], es[i]->name);
            if (isnan(m)) fprintf(f, " -");
            else fprintf(f, " %.0f", m);
        }
    }
    fprintf(f, "\n");
    fclose(f);
}

int main(void) {
    cfg.base = env_str("BENCH_DIR", "build/bench-data");
    cfg.out = env_str("BENCH_OUT", "build/bench");
    cfg.only = getenv("BENCH_ONLY");
    cfg.engines = getenv("BENCH_ENGINES");
    if (cfg.only && !*cfg.only) cfg.only = NULL;
    if (cfg.engines && !*cfg.engines) cfg.engines = NULL;
    cfg.runs = (int)env_num("BENCH_RUNS", 3);
    cfg.large_runs = (int)env_num("BENCH_LARGE_RUNS", 1);
    cfg.seconds = env_num("BENCH_SECONDS", 1.5);
    cfg.scale = env_num("BENCH_SCALE", 1.0);
    cfg.large_bytes = (uint64_t)(env_num("BENCH_LARGE_MB", 10240) * (1 << 20));
    cfg.large_segment = (uint64_t)(env_num("BENCH_LARGE_SEGMENT_MB", 64) * (1 << 20));
    cfg.large_value = (size_t)env_num("BENCH_LARGE_VALUE", 100);
    cfg.rotation_segment = (uint64_t)(env_num("BENCH_ROTATION_SEGMENT_KB", 64) * 1024);
    cfg.seek_segment = (uint64_t)(env_num("BENCH_SEEK_SEGMENT_MB", 64) * (1 << 20));
    cfg.seek_opens = (int)env_num("BENCH_SEEK_OPENS", 10);
    if (cfg.runs < 1 || cfg.runs > MAX_RUNS) die_msg("bench", "BENCH_RUNS", "must be 1..32");
    if (cfg.large_runs < 1 || cfg.large_runs > MAX_RUNS) die_msg("bench", "BENCH_LARGE_RUNS", "must be 1..32");
    if (cfg.seek_opens < 1 || (cfg.runs > cfg.large_runs ? cfg.runs : cfg.large_runs) * cfg.seek_opens > MAX_SAMPLES)
        die_msg("bench", "BENCH_SEEK_OPENS", "must be at least 1, and BENCH_RUNS x BENCH_SEEK_OPENS at most 256");
    if (cfg.large_value > MAX_VALUE || cfg.large_value < 1) die_msg("bench", "BENCH_LARGE_VALUE", "must be 1..4 MiB");
    if (cfg.rotation_segment < 4096) die_msg("bench", "BENCH_ROTATION_SEGMENT_KB", "must be at least 4");
    /* The bench writes only in BENCH_DIR/libwal-bench, so that BENCH_DIR may
     * be a mount point or hold other files; BENCH_DIR goes at the end only
     * if the bench made it. */
    struct stat st;
    cfg.base_created = stat(cfg.base, &st) != 0;
    make_dir(cfg.base);
    cfg.dir = path_join(cfg.base, "libwal-bench");
    remove_tree(cfg.dir);
    make_dir(cfg.dir);
    srand(1);
    for (size_t i = 0; i < sizeof value_buf; i++) value_buf[i] = (char)rand();
    describe_machine();
    load_start = load_max = load1();
    printf("libwal bench: %s\nin %s, %d runs, load average %.2f\n", machine, cfg.dir, cfg.runs, load_start);

    static const struct {
        const char *name;
        void (*run)(void);
    } groups[] = {{"w1", run_w1},     {"w3", run_w3},         {"sweep", run_sweep}, {"w2", run_w2},
                  {"batch", run_batches}, {"rotation", run_rotation}, {"bulk", run_bulk}, {"w5", run_w5},
                  {"seek", run_seek}, {"large", run_large}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (group_listed(groups[i].name)) {
            note_load();
            printf("%s: (load average %.2f)\n", groups[i].name, load_end);
            double start = now_s();
            groups[i].run();
            printf("%s took %.1f s\n", groups[i].name, now_s() - start);
        }
    note_load();

    FILE *md = create(".md");
    print_all(md, 0);
    fclose(md);
    write_sweep();
    remove_tree(cfg.dir);
    if (cfg.base_created) rmdir(cfg.base);
    printf("\n");
    print_all(stdout, 1);
    printf("\nbench: %d goals met, %d not met, %d not measured\n", goals_met, goals_not_met, goals_missing);
    return 0;
}
