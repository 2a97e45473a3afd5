/* Concurrency: eight threads appending at once (and one appending batches) in
 * each sync mode, with checkpoints and truncation going on too; iterators
 * and replays while appends go on; iterators that outlive their handle;
 * per-thread error state.
 *
 * Worker threads never use CHECK (its failure counter is not atomic): they
 * count their own errors, and the main thread checks the counts. */
#include <pthread.h>
#include <sched.h>
#include <time.h>

#include "wal_suite.h"

enum {
    THREADS = 8,
    MAX_BATCH = 5,
    MAX_VALUE = 300,
    SEGMENT = 64 * 1024,
    KEY_CAP = 48,
};

/* ---- content of the records appended concurrently ---- */

/* Who appended a record: a thread, its counter-th call, the index-th entry
 * of a call with count entries. Checkpoints have count 0. */
typedef struct {
    uint32_t thread, counter, index, count;
} rec_id_t;

static size_t key_of(const rec_id_t *id, char *key) {
    return (size_t)snprintf(key, KEY_CAP, "t%u-c%u-i%u-n%u", id->thread, id->counter,
                            id->index, id->count);
}

static uint64_t hash_of(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h ^ (h >> 29);
}

/* The op and value a key implies. */
typedef struct {
    uint8_t op;
    size_t value_len;
    unsigned char value[MAX_VALUE];
} content_t;

static void content_of(const char *key, size_t key_len, content_t *c) {
    uint64_t h = hash_of(key, key_len);
    c->op = su_op_for(h);
    c->value_len = (size_t)(h >> 20) % (MAX_VALUE + 1);
    su_value_for(h, c->value, c->value_len);
}

/* 1 when r is the record id names (or a checkpoint, for count 0). */
static int record_is(const wal_record_t *r, const rec_id_t *id) {
    if (id->count == 0)
        return r->op == WAL_OP_CHECKPOINT && r->key_len == 0 && r->value_len == 0;
    char key[KEY_CAP];
    content_t c;
    size_t key_len = key_of(id, key);
    content_of(key, key_len, &c);
    return r->op == c.op && r->key_len == key_len && memcmp(r->key, key, key_len) == 0 &&
           r->value_len == c.value_len &&
           (c.value_len == 0 || memcmp(r->value, c.value, c.value_len) == 0);
}

/* ---- a run of concurrent appenders ---- */

enum { APPENDS, BATCHES, CHECKPOINTS, TRUNCATES };

/* What one thread did: for its counter-th call, the seq it got back and
 * how many entries the call held (0 for a checkpoint). */
typedef struct {
    wal_t *w;
    uint32_t thread;
    int calls;
    int kind;  /* APPENDS, BATCHES, CHECKPOINTS or TRUNCATES */
    uint64_t *seqs;
    uint32_t *counts;
    int errors;
} worker_t;

static void worker_error(worker_t *wk, const char *what, int counter) {
    if (wk->errors++ < 3)
        fprintf(stderr, "  thread %u: %s %d failed (last error %d: %s)\n", wk->thread, what,
                counter, wal_last_error(), wal_last_error_message());
}

static void worker_append(worker_t *wk, int counter) {
    char keys[MAX_BATCH][KEY_CAP];
    content_t contents[MAX_BATCH];
    wal_entry_t entries[MAX_BATCH];
    uint32_t count = wk->kind == BATCHES ? 1 + (uint32_t)counter % MAX_BATCH : 1;
    for (uint32_t i = 0; i < count; i++) {
        rec_id_t id = { wk->thread, (uint32_t)counter, i, count };
        size_t key_len = key_of(&id, keys[i]);
        content_of(keys[i], key_len, &contents[i]);
        wal_entry_t e = { contents[i].op, keys[i], key_len,
                          contents[i].value_len ? contents[i].value : NULL,
                          contents[i].value_len };
        entries[i] = e;
    }
    const wal_entry_t *e = &entries[0];
    uint64_t seq = wk->kind == BATCHES
        ? wal_append_batch(wk->w, entries, count)
        : wal_append(wk->w, e->op, e->key, e->key_len, e->value, e->value_len);
    if (seq == 0) worker_error(wk, "append", counter);
    wk->seqs[counter] = seq;
    wk->counts[counter] = count;
}

static void *worker_main(void *arg) {
    worker_t *wk = arg;
    for (int c = 0; c < wk->calls; c++) {
        if (wk->kind == APPENDS || wk->kind == BATCHES) {
            worker_append(wk, c);
        } else if (wk->kind == CHECKPOINTS) {
            wk->seqs[c] = wal_checkpoint(wk->w);
            wk->counts[c] = 0;
            if (wk->seqs[c] == 0) worker_error(wk, "checkpoint", c);
            usleep(500);
        } else {
            /* Keep about the newest 200 records. */
            uint64_t last = wal_last_seq(wk->w);
            if (last > 200 && wal_truncate(wk->w, last - 200) != WAL_OK)
                worker_error(wk, "truncate", c);
            usleep(1000);
        }
    }
    return NULL;
}

typedef struct {
    int threads;                 /* appending threads */
    int calls;                   /* calls per appending thread */
    int batch_calls;             /* calls of the batch thread; 0: none */
    int checkpoints, truncates;  /* calls of those threads; 0: none */
    uint32_t sync_mode;
} run_cfg_t;

/* Everything a run appended: owners[seq] says who wrote seq. */
typedef struct {
    rec_id_t *owners;
    unsigned char *owned;
    uint64_t total;              /* seqs handed out */
} run_result_t;

/* Marks the seqs of each call as owned, checking none is handed out twice
 * and each thread got increasing seqs. */
static void collect_owners(worker_t *wks, int n, run_result_t *res) {
    res->total = 0;
    for (int t = 0; t < n; t++)
        for (int c = 0; c < wks[t].calls; c++)
            res->total += wks[t].kind == TRUNCATES ? 0 : wks[t].counts[c] ? wks[t].counts[c] : 1;
    res->owners = calloc(res->total + 1, sizeof *res->owners);
    res->owned = calloc(res->total + 1, 1);
    REQUIRE(res->owners && res->owned);
    for (int t = 0; t < n; t++) {
        const worker_t *wk = &wks[t];
        CHECK_EQ_U64(wk->errors, 0);
        uint64_t prev = 0;
        for (int c = 0; c < wk->calls && wk->kind != TRUNCATES; c++) {
            uint64_t seq = wk->seqs[c];
            uint32_t count = wk->counts[c] ? wk->counts[c] : 1;
            if (seq == 0) continue;
            CHECK(seq > prev);
            prev = seq;
            if (seq < count || seq > res->total) {
                fprintf(stderr, "  thread %u call %d got seq %" PRIu64 " of %" PRIu64 "\n",
                        wk->thread, c, seq, res->total);
                tu_failures++;
                continue;
            }
            for (uint32_t i = 0; i < count; i++) {
                uint64_t s = seq - count + 1 + i;
                if (res->owned[s]++) {
                    fprintf(stderr, "  seq %" PRIu64 " handed out twice\n", s);
                    tu_failures++;
                }
                rec_id_t id = { wk->thread, (uint32_t)c, i, wk->counts[c] };
                res->owners[s] = id;
            }
        }
    }
    for (uint64_t s = 1; s <= res->total; s++)
        if (!res->owned[s]) {
            fprintf(stderr, "  seq %" PRIu64 " was never handed out\n", s);
            tu_failures++;
            break;
        }
}

typedef struct {
    const run_result_t *res;
    uint64_t next;   /* the seq the next record must have */
    int bad;
} verify_t;

static int verify_cb(void *ctx, const wal_record_t *r) {
    verify_t *v = ctx;
    if (r->seq != v->next || r->seq > v->res->total || !record_is(r, &v->res->owners[r->seq])) {
        if (v->bad++ < 3)
            fprintf(stderr, "  read seq %" PRIu64 " (expected %" PRIu64 "): not what its "
                    "appender wrote\n", r->seq, v->next);
    }
    v->next = r->seq + 1;
    return 0;
}

/* A replay from 0 returns first_seq..total, each record what its owner
 * wrote. */
static void verify_log(wal_t *w, const run_result_t *res) {
    CHECK_EQ_U64(wal_last_seq(w), res->total);
    verify_t v = { res, wal_first_seq(w), 0 };
    CHECK_RC(wal_replay(w, 0, verify_cb, &v), WAL_OK);
    CHECK_EQ_U64(v.bad, 0);
    CHECK_EQ_U64(v.next, res->total + 1);
}

/* The threads of a run. */
typedef struct {
    worker_t wks[THREADS + 3];
    pthread_t tids[THREADS + 3];
    int n;
} crew_t;

static void crew_start(crew_t *crew, wal_t *w, const run_cfg_t *cfg) {
    crew->n = 0;
    for (int t = 0; t < cfg->threads + 3; t++) {
        int kind = t < cfg->threads ? APPENDS : t - cfg->threads + BATCHES;
        int calls = kind == APPENDS ? cfg->calls : kind == BATCHES ? cfg->batch_calls
                  : kind == CHECKPOINTS ? cfg->checkpoints : cfg->truncates;
        if (calls == 0) continue;
        worker_t wk = { w, (uint32_t)t, calls, kind, calloc((size_t)calls, sizeof(uint64_t)),
                        calloc((size_t)calls, sizeof(uint32_t)), 0 };
        REQUIRE(wk.seqs && wk.counts);
        crew->wks[crew->n++] = wk;
    }
    for (int i = 0; i < crew->n; i++)
        REQUIRE(pthread_create(&crew->tids[i], NULL, worker_main, &crew->wks[i]) == 0);
}

/* Joins the threads and works out who wrote each seq. */
static void crew_join(crew_t *crew, run_result_t *res) {
    for (int i = 0; i < crew->n; i++) REQUIRE(pthread_join(crew->tids[i], NULL) == 0);
    collect_owners(crew->wks, crew->n, res);
    for (int i = 0; i < crew->n; i++) {
        free(crew->wks[i].seqs);
        free(crew->wks[i].counts);
    }
}

static void result_free(run_result_t *res) {
    free(res->owners);
    free(res->owned);
}

static wal_options_t run_options(const run_cfg_t *cfg) {
    wal_options_t o = su_opts(SEGMENT);
    o.sync_mode = cfg->sync_mode;
    o.sync_every = 10;
    return o;
}

/* Starts the configured threads on a fresh log, joins them, checks the seqs
 * and the log's content, then again after a reopen. */
static void run_concurrent(const char *tag, const run_cfg_t *cfg) {
    su_dir_t d = su_dir(tag);
    wal_options_t o = run_options(cfg);
    wal_t *w = su_open(d.path, &o);
    crew_t crew;
    run_result_t res;
    crew_start(&crew, w, cfg);
    crew_join(&crew, &res);
    uint64_t first = wal_first_seq(w);
    SU_AT(verify_log(w, &res));
    su_close(w);
    w = su_open(d.path, &o);
    CHECK_EQ_U64(wal_first_seq(w), first);
    SU_AT(verify_log(w, &res));
    su_close(w);
    result_free(&res);
    su_dir_done(&d);
}

static void test_concurrent_appends_sync_always(void) {
    run_cfg_t cfg = { THREADS, 200, 100, 0, 0, WAL_SYNC_ALWAYS };
    run_concurrent("thr-always", &cfg);
}

static void test_concurrent_appends_sync_every(void) {
    run_cfg_t cfg = { THREADS, 1000, 400, 0, 0, WAL_SYNC_EVERY };
    run_concurrent("thr-every", &cfg);
}

static void test_concurrent_appends_sync_none(void) {
    run_cfg_t cfg = { THREADS, 2000, 800, 0, 0, WAL_SYNC_NONE };
    run_concurrent("thr-none", &cfg);
}

/* Appends, batches, checkpoints and truncation all at once. */
static void test_appends_race_checkpoints_and_truncation(void) {
    static const uint32_t modes[] = { WAL_SYNC_NONE, WAL_SYNC_ALWAYS };
    for (int m = 0; m < 2; m++) {
        run_cfg_t cfg = { 4, m ? 150 : 1500, m ? 60 : 600, 50, 100, modes[m] };
        run_concurrent("thr-mixed", &cfg);
    }
}

/* ---- reading while a thread appends ---- */

typedef struct {
    wal_t *w;
    int records;
    size_t value_len;
    int errors;
} writer_t;

static void *writer_main(void *arg) {
    writer_t *wr = arg;
    for (int i = 0; i < wr->records; i++) {
        uint64_t expect;
        if (su_try_append_derived(wr->w, wr->value_len, &expect) != expect && wr->errors++ < 3)
            fprintf(stderr, "  writer: append of seq %" PRIu64 " failed (last error %d: %s)\n",
                    expect, wal_last_error(), wal_last_error_message());
    }
    return NULL;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits until other threads have appended up to seq (at most 10 s: a
 * writer that failed is reported by its own checks). */
static void wait_for_seq(wal_t *w, uint64_t seq) {
    double give_up = now_s() + 10;
    while (wal_last_seq(w) < seq && now_s() < give_up) sched_yield();
}

/* An iterator or replay opened while a thread appends returns at least every
 * record up to the last_seq at its opening, in order and intact. */
static void test_reads_while_a_thread_appends(void) {
    su_dir_t d = su_dir("thr-iter");
    wal_options_t o = su_opts(SEGMENT);
    o.sync_mode = WAL_SYNC_NONE;
    wal_t *w = su_open(d.path, &o);
    writer_t wr = { w, 20000, 100, 0 };
    pthread_t tid;
    REQUIRE(pthread_create(&tid, NULL, writer_main, &wr) == 0);
    for (int round = 0; round < 8; round++) {
        uint64_t at = (uint64_t)(round + 1) * 2000;
        wait_for_seq(w, at);
        uint64_t seen = wal_last_seq(w); /* <= last_seq at the opening below */
        uint64_t after = round % 2 ? seen / 2 : 0;
        su_scan_t s;
        int rc = round % 3 == 2 ? su_scan_replay(w, after, &s) : su_scan_iter(w, after, &s);
        CHECK_RC(rc, WAL_OK);
        CHECK_EQ_U64(s.bad, 0);
        CHECK_EQ_U64(s.first, after + 1);
        CHECK(s.last >= seen);
        if (s.last < seen)
            fprintf(stderr, "  round %d: read up to %" PRIu64 ", last_seq was %" PRIu64 "\n",
                    round, s.last, seen);
    }
    REQUIRE(pthread_join(tid, NULL) == 0);
    CHECK_EQ_U64(wr.errors, 0);
    SU_AT(su_expect_derived(w, 0, 1, 20000));
    su_close(w);
    su_dir_done(&d);
}

/* Iterations while eight threads (and a batch thread) append: each returns
 * 1.. at least up to the last_seq seen before it opened, without a gap, and
 * every record is what its appender wrote (checked once they are done). */
static void test_iterations_while_eight_threads_append(void) {
    enum { READS = 6 };
    run_cfg_t cfg = { THREADS, 2000, 800, 0, 0, WAL_SYNC_NONE };
    su_dir_t d = su_dir("thr-iter8");
    wal_options_t o = run_options(&cfg);
    wal_t *w = su_open(d.path, &o);
    crew_t crew;
    crew_start(&crew, w, &cfg);
    su_recs_t reads[READS];
    uint64_t seen[READS];
    int status[READS];
    for (int i = 0; i < READS; i++) {
        if (i > 0) wait_for_seq(w, (uint64_t)i * 2000);
        seen[i] = wal_last_seq(w);
        memset(&reads[i], 0, sizeof reads[i]);
        wal_iter_t *it = NULL;
        status[i] = wal_iter_open(w, 0, &it);
        wal_record_t r;
        if (status[i] == WAL_OK) {
            while ((status[i] = wal_iter_next(it, &r)) == 1) su_recs_add(&reads[i], &r);
            wal_iter_close(it);
        }
    }
    run_result_t res;
    crew_join(&crew, &res);
    for (int i = 0; i < READS; i++) {
        int before = tu_failures;
        CHECK_RC(status[i], WAL_OK);
        CHECK(reads[i].n >= seen[i]);
        for (size_t k = 0; k < reads[i].n; k++) {
            const su_rec_t *c = &reads[i].v[k];
            wal_record_t r = { c->seq, c->op, c->key, c->key_len, c->value, c->value_len };
            if (c->seq != k + 1 || c->seq > res.total || !record_is(&r, &res.owners[c->seq])) {
                fprintf(stderr, "  record %zu read has seq %" PRIu64 " or wrong content\n",
                        k, c->seq);
                tu_failures++;
                break;
            }
        }
        if (tu_failures != before)
            fprintf(stderr, "  ... in read %d (last_seq %" PRIu64 " before it opened)\n", i,
                    seen[i]);
        su_recs_free(&reads[i]);
    }
    SU_AT(verify_log(w, &res));
    result_free(&res);
    su_close(w);
    su_dir_done(&d);
}

/* An iterator kept open while many records are appended and segments
 * rotate: it goes on from where it was, in order. */
static void test_iterator_interleaved_with_appends(void) {
    su_dir_t d = su_dir("thr-interleave");
    wal_options_t o = su_opts(4096);
    o.sync_mode = WAL_SYNC_NONE;
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 5, 100));
    wal_iter_t *it = NULL;
    REQUIRE(wal_iter_open(w, 0, &it) == WAL_OK);
    wal_record_t r;
    uint64_t next = 1;
    for (int round = 0; round < 50; round++) {
        SU_AT(su_append_n(w, 7, 100));
        for (int k = 0; k < 5; k++) {
            int rc = wal_iter_next(it, &r);
            CHECK(rc == 1 || rc == 0);
            if (rc != 1) break;
            CHECK_EQ_U64(r.seq, next);
            CHECK(su_record_is_derived(&r));
            next = r.seq + 1;
        }
    }
    /* Every record up to the last_seq of its opening (5) was returned;
     * whatever more it returns continues without a gap. */
    CHECK(next > 5);
    int rc;
    while ((rc = wal_iter_next(it, &r)) == 1) {
        CHECK_EQ_U64(r.seq, next);
        next = r.seq + 1;
    }
    CHECK_RC(rc, 0);
    wal_iter_close(it);
    su_close(w);
    su_dir_done(&d);
}

/* ---- iterators that outlive their handle ---- */

/* Reads on after wal_close: it may return more records or an error, but the
 * records it returns continue without a gap and are intact. */
static void drain_after_close(wal_iter_t *it, uint64_t next) {
    wal_record_t r;
    for (int i = 0; i < 1000; i++) {
        int rc = wal_iter_next(it, &r);
        if (rc != 1) {
            CHECK(rc == 0 || rc < 0);
            /* Once ended, it stays ended. */
            CHECK(wal_iter_next(it, &r) <= 0);
            return;
        }
        CHECK_EQ_U64(r.seq, next);
        CHECK(su_record_is_derived(&r));
        next = r.seq + 1;
    }
    fprintf(stderr, "  an iterator on a closed handle returned over 1000 records\n");
    tu_failures++;
}

/* Two iterators open when their handle is closed: variant 0 closes it
 * before either has read, variant 1 after one has read ten records, variant
 * 2 also opens a new handle on the directory and appends through it before
 * the old iterators go on. */
static void test_iterator_survives_close_of_its_handle(void) {
    for (int variant = 0; variant < 3; variant++) {
        su_dir_t d = su_dir("thr-afterclose");
        wal_options_t o = su_opts(4096);
        wal_t *w = su_open(d.path, &o);
        SU_AT(su_append_n(w, 100, 100));
        wal_iter_t *a = NULL, *b = NULL;
        REQUIRE(wal_iter_open(w, 0, &a) == WAL_OK);
        REQUIRE(wal_iter_open(w, 50, &b) == WAL_OK);
        wal_record_t r;
        uint64_t next = 1;
        for (int i = 0; variant > 0 && i < 10; i++) {
            CHECK_RC(wal_iter_next(a, &r), 1);
            next = r.seq + 1;
        }
        su_close(w);
        if (variant == 2) {
            /* The closed handle released the lock: a new handle writes
             * while the old iterators are still open. */
            w = su_open_checked(d.path, &o);
            if (w) SU_AT(su_append_n(w, 20, 100));
        }
        SU_AT(drain_after_close(a, next));
        wal_iter_close(a);
        SU_AT(drain_after_close(b, 51));
        wal_iter_close(b);
        if (variant == 2 && w) {
            SU_AT(su_expect_derived(w, 0, 1, 120));
            su_close(w);
        }
        su_dir_done(&d);
    }
}

/* ---- per-thread error state ---- */

typedef struct {
    wal_t *w;
    pthread_barrier_t *barrier;
    int make;   /* the error this thread provokes */
    int seen;   /* what wal_last_error said after both failed */
    int message_ok;
} err_thread_t;

static void *err_thread_main(void *arg) {
    err_thread_t *e = arg;
    if (e->make == WAL_E_INVALID) wal_append(e->w, WAL_OP_PUT, NULL, 1, NULL, 0);
    else wal_truncate(e->w, UINT64_MAX);
    pthread_barrier_wait(e->barrier); /* both have failed */
    e->seen = wal_last_error();
    const char *msg = wal_last_error_message();
    e->message_ok = msg && msg[0] != '\0';
    pthread_barrier_wait(e->barrier);
    return NULL;
}

/* wal_last_error is per thread: two threads failing differently at the same
 * time each see their own code. */
static void test_last_error_is_per_thread(void) {
    su_dir_t d = su_dir("thr-errno");
    wal_t *w = su_open(d.path, NULL);
    pthread_barrier_t barrier;
    REQUIRE(pthread_barrier_init(&barrier, NULL, 2) == 0);
    for (int round = 0; round < 20; round++) {
        err_thread_t e[2] = { { w, &barrier, WAL_E_INVALID, 0, 0 },
                              { w, &barrier, WAL_E_RANGE, 0, 0 } };
        pthread_t tids[2];
        for (int i = 0; i < 2; i++)
            REQUIRE(pthread_create(&tids[i], NULL, err_thread_main, &e[i]) == 0);
        for (int i = 0; i < 2; i++) {
            REQUIRE(pthread_join(tids[i], NULL) == 0);
            CHECK_RC(e[i].seen, e[i].make);
            CHECK(e[i].message_ok);
        }
    }
    pthread_barrier_destroy(&barrier);
    su_close(w);
    su_dir_done(&d);
}

int main(void) {
    su_begin();
    SU_RUN(test_concurrent_appends_sync_always);
    SU_RUN(test_concurrent_appends_sync_every);
    SU_RUN(test_concurrent_appends_sync_none);
    SU_RUN(test_appends_race_checkpoints_and_truncation);
    SU_RUN(test_reads_while_a_thread_appends);
    SU_RUN(test_iterations_while_eight_threads_append);
    SU_RUN(test_iterator_interleaved_with_appends);
    SU_RUN(test_iterator_survives_close_of_its_handle);
    SU_RUN(test_last_error_is_per_thread);
    return tu_finish("test_threads");
}
