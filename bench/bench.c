/* make bench: libwal against the raw floors and its peers (RocksDB, LevelDB,
 * SQLite, okaywal), same run, same disk, same key and value sizes (16-byte
 * keys), on the workloads of the issue "libwal at the physical limit":
 *
 *   W1  1 thread, durable per append, 100 B        records/s
 *   W2  1 thread, durable per append, 4 KiB        records/s (our definition)
 *   W3  8 threads, durable per append, 100 B       records/s
 *   W4  1M appends of 100 B, one sync at the end   records/s
 *   W5  250k appends of 4 KiB, one sync at the end MB/s
 *   W6  reopen + replay the W4 records             ms (page cache warm)
 *   W7  truncate the first half of them            ms, on W4's log and on a
 *                                                  large log (10 GB)
 * plus a thread sweep (1..16 threads, durable 100 B), batches of 16 and 256
 * entries (durable), and wal_open of the large log.
 *
 * Every figure is the median of BENCH_RUNS runs; engines take turns inside
 * each run, so noise from other processes hits all of them alike. The
 * table goes to stdout and to $BENCH_OUT.md; the sweep, for the plot, to
 * $BENCH_OUT-sweep.dat. Knobs (environment): BENCH_DIR, BENCH_OUT,
 * BENCH_RUNS, BENCH_SECONDS (per durable run), BENCH_SCALE (W4/W5 counts),
 * BENCH_LARGE_MB, BENCH_LARGE_SEGMENT_MB, BENCH_ONLY (groups: sweep, w2,
 * batch, bulk, w5, large), BENCH_ENGINES (name prefixes: libwal, floor,
 * RocksDB, LevelDB, SQLite, okaywal); okaywal's own, BENCH_OKAYWAL_*, are
 * read by bench/okaywal/src/lib.rs. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <mntent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "wal.h"

#define MAX_RUNS 32
#define MAX_VALUE (4u << 20)

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
    if (remove(path) != 0) die_os("remove", path);
    return 0;
}

static void remove_tree(const char *dir) {
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) die_os("remove", dir);
}

/* ---- configuration ---- */

static struct {
    const char *dir, *out, *only, *engines;
    int runs;
    double seconds, scale;
    uint64_t large_bytes, large_segment;
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

static char value_buf[MAX_VALUE]; /* random bytes: nothing compresses them */

/* ---- results: samples per (row, engine) ---- */

typedef struct {
    const char *row;
    const char *engine;
    double v[MAX_RUNS];
    int n;
} series_t;

static series_t series[512];
static int n_series;

static series_t *find_series(const char *row, const char *engine) {
    for (int i = 0; i < n_series; i++)
        if (!strcmp(series[i].row, row) && !strcmp(series[i].engine, engine)) return &series[i];
    return NULL;
}

static void record(const char *row, const char *engine, double v, const char *unit) {
    series_t *s = find_series(row, engine);
    if (!s) {
        s = &series[n_series++];
        *s = (series_t){.row = row, .engine = engine};
    }
    if (s->n < MAX_RUNS) s->v[s->n++] = v;
    printf("  %-10s %-46s %12.2f %s\n", row, engine, v, unit);
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
    double v[MAX_RUNS];
    memcpy(v, s->v, sizeof v);
    qsort(v, (size_t)s->n, sizeof v[0], cmp_double);
    *min = v[0];
    *max = v[s->n - 1];
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
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

/* libwal, then the floor, then the peers: the engines of one workload. */
static int engines_for(const engine_t *floor, const engine_t **out) {
    int n = 0;
    if (listed(cfg.engines, libwal_engine.name)) out[n++] = &libwal_engine;
    if (floor && listed(cfg.engines, floor->name)) out[n++] = floor;
    for (int i = 0; peers[i]; i++)
        if (listed(cfg.engines, peers[i]->name)) out[n++] = peers[i];
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

/* ---- durable appends: records/s for a fixed time ---- */

typedef struct {
    const engine_t *e;
    void *h;
    int tid;
    size_t value_len, batch;
    double deadline;
    uint64_t done;
} worker_t;

static void *durable_worker(void *arg) {
    worker_t *w = arg;
    char keys[256][KEY_LEN];
    rec_t recs[256];
    for (size_t i = 0; i < w->batch; i++) recs[i] = (rec_t){keys[i], KEY_LEN, value_buf, w->value_len};
    while (now_s() < w->deadline) {
        for (size_t i = 0; i < w->batch; i++) make_key(keys[i], w->tid, w->done + i);
        w->e->put(w->h, w->tid, recs, w->batch);
        w->done += w->batch;
    }
    return NULL;
}

static double durable_rate(const engine_t *e, int threads, size_t value_len, size_t batch) {
    char *dir = run_dir(e);
    void *h = e->open(dir, 1, threads);
    pthread_t tid[MAX_THREADS];
    worker_t w[MAX_THREADS];
    double start = now_s();
    for (int t = 0; t < threads; t++) {
        w[t] = (worker_t){e, h, t, value_len, batch, start + cfg.seconds, 0};
        if (pthread_create(&tid[t], NULL, durable_worker, &w[t]) != 0) die_msg(e->name, "pthread_create", dir);
    }
    uint64_t done = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        done += w[t].done;
    }
    double elapsed = now_s() - start;
    e->close(h);
    remove_tree(dir);
    free(dir);
    return (double)done / elapsed;
}

/* One durable workload: every engine, BENCH_RUNS times, taking turns. */
static void durable_rows(const char *row, const engine_t *floor, int threads, size_t value_len, size_t batch) {
    const engine_t *es[8];
    int n = engines_for(floor, es);
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) record(row, es[i]->name, durable_rate(es[i], threads, value_len, batch), "rec/s");
}

static const int sweep_threads[] = {1, 2, 4, 8, 16};
static const char *const sweep_rows[] = {"W1", "sweep-2", "sweep-4", "W3", "sweep-16"};

static void run_sweep(void) {
    for (int i = 0; i < 5; i++) durable_rows(sweep_rows[i], &floor_prewritten_engine, sweep_threads[i], 100, 1);
    for (int run = 0; run < cfg.runs; run++)
        record("W1", floor_growing_engine.name, durable_rate(&floor_growing_engine, 1, 100, 1), "rec/s");
}

static void run_w2(void) { durable_rows("W2", &floor_prewritten_engine, 1, 4096, 1); }

static void run_batches(void) {
    durable_rows("batch-16", &floor_prewritten_engine, 1, 100, 16);
    durable_rows("batch-256", &floor_prewritten_engine, 1, 100, 256);
}

/* ---- bulk: n appends, one sync; then reopen + replay; truncate half ---- */

static void bulk_once(const engine_t *e, const char *row, uint64_t n, size_t value_len, const char *replay_row,
                      const char *truncate_row) {
    char *dir = run_dir(e);
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
    int n = engines_for(&floor_buffered_engine, es);
    uint64_t count = (uint64_t)(1e6 * cfg.scale) + 2;
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) bulk_once(es[i], "W4", count, 100, "W6", "W7");
}

static void run_w5(void) {
    const engine_t *es[8];
    int n = engines_for(&floor_buffered_engine, es);
    uint64_t count = (uint64_t)(250e3 * cfg.scale) + 2;
    for (int run = 0; run < cfg.runs; run++)
        for (int i = 0; i < n; i++) bulk_once(es[i], "W5", count, 4096, NULL, NULL);
}

/* ---- the large log: build it, time wal_open and truncating half ---- */

static void die_wal(const char *call, const char *dir) {
    fprintf(stderr, "bench: libwal: %s %s: %s\n", call, dir, wal_last_error_message());
    exit(1);
}

static wal_t *open_large(const char *dir, uint32_t sync_mode) {
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = cfg.large_segment;
    o.sync_mode = sync_mode;
    wal_t *w;
    if (wal_open(dir, &o, &w) != WAL_OK) die_wal("wal_open", dir);
    return w;
}

/* Scales the large log down when the disk has less than 3x its size free. */
static void fit_large_to_disk(void) {
    struct statvfs st;
    if (statvfs(cfg.dir, &st) != 0) die_os("statvfs", cfg.dir);
    uint64_t free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
    if (free_bytes / 3 >= cfg.large_bytes) return;
    printf("NOTE: only %.1f GB free in %s: the large log is scaled down from %.1f GB to %.1f GB\n",
           free_bytes / 1e9, cfg.dir, cfg.large_bytes / 1e9, free_bytes / 3 / 1e9);
    cfg.large_bytes = free_bytes / 3;
}

static void large_once(void) {
    char *dir = path_join(cfg.dir, "large");
    remove_tree(dir);
    size_t rec = cfg.large_bytes / 64 < MAX_VALUE ? cfg.large_bytes / 64 : MAX_VALUE;
    wal_t *w = open_large(dir, WAL_SYNC_NONE);
    double start = now_s();
    for (uint64_t i = 0, bytes = 0; bytes < cfg.large_bytes; i++, bytes += rec) {
        char key[KEY_LEN];
        make_key(key, 0, i);
        if (wal_append(w, WAL_OP_PUT, key, KEY_LEN, value_buf, rec - KEY_LEN) == 0) die_wal("wal_append", dir);
    }
    if (wal_close(w) != WAL_OK) die_wal("wal_close", dir);
    record("large-build", libwal_engine.name, cfg.large_bytes / 1e6 / (now_s() - start), "MB/s");
    start = now_s();
    w = open_large(dir, WAL_SYNC_ALWAYS);
    record("open-large", libwal_engine.name, (now_s() - start) * 1e3, "ms");
    uint64_t n = wal_last_seq(w);
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
    for (int run = 0; run < cfg.runs; run++) large_once();
}

/* ---- the table ---- */

typedef struct {
    const char *id, *label, *unit;
    const engine_t *floor;
    double floor_min, floor_max, peer_min, abs_max; /* goals; 0: none */
    const char *flat_of;                            /* goal: <= 2x this row's libwal median */
    const char *goal;
} row_t;

static const row_t rows[] = {
    {"W1", "W1 1 thread, durable, 100 B", "rec/s", &floor_prewritten_engine, 1.0, 0, 1.1, 0, NULL,
     ">= 1.0x floor, >= 1.1x best peer"},
    {"W1", "W1 against the growing-file floor", "rec/s", &floor_growing_engine, 0, 0, 0, 0, NULL, "-"},
    {"W2", "W2 1 thread, durable, 4 KiB", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL, "-"},
    {"W3", "W3 8 threads, durable, 100 B", "rec/s", &floor_prewritten_engine, 0, 0, 2.0, 0, NULL,
     ">= 2x best peer"},
    {"W4", "W4 1M x 100 B, one sync", "rec/s", &floor_buffered_engine, 0.8, 0, 0, 0, NULL, ">= 0.8x floor"},
    {"W5", "W5 250k x 4 KiB, one sync", "MB/s", &floor_buffered_engine, 0.9, 0, 0, 0, NULL, ">= 0.9x floor"},
    {"W6", "W6 reopen + replay W4's log (warm)", "ms", &floor_buffered_engine, 0, 1.3, 0, 0, NULL,
     "<= 1.3x floor"},
    {"W7", "W7 truncate half of W4's log", "ms", &floor_buffered_engine, 0, 0, 0, 1.0, NULL, "<= 1 ms"},
    {"W7-large", "W7 truncate half of the large log", "ms", NULL, 0, 0, 0, 1.0, "W7",
     "<= 1 ms, <= 2x W7 small"},
    {"open-large", "wal_open of the large log", "ms", NULL, 0, 0, 0, 100, NULL, "<= 100 ms"},
    {"large-build", "build the large log (SYNC_NONE)", "MB/s", NULL, 0, 0, 0, 0, NULL, "-"},
    {"sweep-2", "2 threads, durable, 100 B", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL, "-"},
    {"sweep-4", "4 threads, durable, 100 B", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL, "-"},
    {"sweep-16", "16 threads, durable, 100 B", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL, "-"},
    {"batch-16", "batches of 16, 1 thread, durable", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL, "-"},
    {"batch-256", "batches of 256, 1 thread, durable", "rec/s", &floor_prewritten_engine, 0, 0, 0, 0, NULL,
     "-"},
};

/* 12345 -> "12.3k"; 2.5e6 -> "2.50M"; small values keep 2-3 digits. */
static const char *fmt(double v, char *buf) {
    if (isnan(v)) return "-";
    const char *suffix = "";
    if (v >= 1e6) v /= 1e6, suffix = "M";
    else if (v >= 1e4) v /= 1e3, suffix = "k";
    snprintf(buf, 32, v >= 100 ? "%.0f%s" : v >= 10 ? "%.1f%s" : "%.2f%s", v, suffix);
    return buf;
}

/* The best peer of a row: the highest rate, or the lowest time. */
static const char *best_peer(const row_t *r, double *best) {
    const char *name = NULL;
    *best = NAN;
    for (int i = 0; peers[i]; i++) {
        double lo, hi, m = stat_of(r->id, peers[i]->name, &lo, &hi);
        if (isnan(m)) continue;
        int lower_better = !strcmp(r->unit, "ms");
        if (!name || (lower_better ? m < *best : m > *best)) *best = m, name = peers[i]->name;
    }
    return name;
}

/* "met", "not met", or "n/a" when a figure the goal needs is missing. */
static const char *verdict(const row_t *r, double lw, double floor_ratio, double peer_ratio) {
    if (!strcmp(r->goal, "-")) return "";
    double lo, hi, flat = r->flat_of ? stat_of(r->flat_of, libwal_engine.name, &lo, &hi) : 0;
    if (isnan(lw) || ((r->floor_min || r->floor_max) && isnan(floor_ratio)) || (r->peer_min && isnan(peer_ratio)) ||
        isnan(flat))
        return "n/a";
    int met = (!r->floor_min || floor_ratio >= r->floor_min) && (!r->floor_max || floor_ratio <= r->floor_max) &&
              (!r->peer_min || peer_ratio >= r->peer_min) && (!r->abs_max || lw <= r->abs_max) &&
              (!r->flat_of || lw <= 2 * flat);
    return met ? "**met**" : "not met";
}

static void print_row(FILE *f, const row_t *r) {
    double lo, hi, lw = stat_of(r->id, libwal_engine.name, &lo, &hi);
    double flo, fhi, fl = stat_of(r->id, r->floor ? r->floor->name : NULL, &flo, &fhi);
    double peer;
    const char *pname = best_peer(r, &peer);
    char a[32], b[32], c[32], d[32], e[32];
    char peer_txt[64] = "-";
    if (pname) snprintf(peer_txt, sizeof peer_txt, "%s %s", pname, fmt(peer, d));
    double fr = lw / fl, pr = lw / peer;
    char frs[16] = "-", prs[16] = "-";
    if (!isnan(fr)) snprintf(frs, sizeof frs, "%.2fx", fr);
    if (!isnan(pr)) snprintf(prs, sizeof prs, "%.2fx", pr);
    fprintf(f, "| %s | %s | %s (%s-%s) | %s | %s | %s | %s | %s | %s |\n", r->label, r->unit, fmt(lw, a), fmt(lo, b),
            fmt(hi, c), fmt(fl, e), peer_txt, frs, prs, r->goal, verdict(r, lw, fr, pr));
}

static void print_table(FILE *f) {
    fprintf(f, "| workload | unit | libwal median (min-max) | raw floor | best peer | libwal/floor | libwal/peer "
               "| goal | |\n|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (find_series(rows[i].id, libwal_engine.name)) print_row(f, &rows[i]);
}

/* ---- the machine, for the table and the plot's title ---- */

static char machine[512];

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
    char cpu[128] = "unknown CPU", line[256], fs[256], date[32];
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
    snprintf(machine, sizeof machine, "%s, %ld cores (%s), %s, Linux %s, libwal %s", date,
             sysconf(_SC_NPROCESSORS_ONLN), cpu, fs, u.release, wal_version());
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

static void write_markdown(void) {
    FILE *f = create(".md");
    fprintf(f, "Measured %s; median of %d runs; %g s per durable run; W4/W5 scale %g.\n\n", machine, cfg.runs,
            cfg.seconds, cfg.scale);
    print_table(f);
    fclose(f);
}

/* The sweep's medians, one column per engine, for bench/plot.gp. */
static void write_sweep(void) {
    const engine_t *es[8];
    int n = engines_for(&floor_prewritten_engine, es);
    FILE *f = create("-sweep.dat");
    fprintf(f, "# %s\nthreads", machine);
    for (int i = 0; i < n; i++) fprintf(f, " \"%s\"", es[i]->name);
    for (int t = 0; t < 5; t++) {
        fprintf(f, "\n%d", sweep_threads[t]);
        for (int i = 0; i < n; i++) {
            double lo, hi, m = stat_of(sweep_rows[t], es[i]->name, &lo, &hi);
            if (isnan(m)) fprintf(f, " -");
            else fprintf(f, " %.0f", m);
        }
    }
    fprintf(f, "\n");
    fclose(f);
}

int main(void) {
    cfg.dir = env_str("BENCH_DIR", "build/bench-data");
    cfg.out = env_str("BENCH_OUT", "build/bench");
    cfg.only = getenv("BENCH_ONLY");
    cfg.engines = getenv("BENCH_ENGINES");
    cfg.runs = (int)env_num("BENCH_RUNS", 3);
    cfg.seconds = env_num("BENCH_SECONDS", 1.5);
    cfg.scale = env_num("BENCH_SCALE", 1.0);
    cfg.large_bytes = (uint64_t)(env_num("BENCH_LARGE_MB", 10240) * (1 << 20));
    cfg.large_segment = (uint64_t)(env_num("BENCH_LARGE_SEGMENT_MB", 64) * (1 << 20));
    if (cfg.runs < 1 || cfg.runs > MAX_RUNS) die_msg("bench", "BENCH_RUNS", "must be 1..32");
    make_dir(cfg.dir);
    srand(1);
    for (size_t i = 0; i < sizeof value_buf; i++) value_buf[i] = (char)rand();
    describe_machine();
    printf("libwal bench: %s\nin %s, %d runs\n", machine, cfg.dir, cfg.runs);

    static const struct {
        const char *name;
        void (*run)(void);
    } groups[] = {{"sweep", run_sweep}, {"w2", run_w2},   {"batch", run_batches},
                  {"bulk", run_bulk},   {"w5", run_w5},   {"large", run_large}};
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
        if (listed(cfg.only, groups[i].name)) {
            printf("%s:\n", groups[i].name);
            groups[i].run();
        }

    printf("\n");
    print_table(stdout);
    write_markdown();
    write_sweep();
    remove_tree(cfg.dir);
    return 0;
}
