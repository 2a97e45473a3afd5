/* Crash test of wal_truncate_after (cutting the newest records). In each
 * round a child opens the log (WAL_SYNC_ALWAYS, EVERY or NONE; 4 KiB or
 * 64 KiB segments) and, single-threaded, appends single records and batches
 * of up to 40 entries, syncs now and then, truncates the front when the log
 * holds more than 1,000 records, and often cuts it with wal_truncate_after(S),
 * S anywhere in [first_seq - 1, last_seq] (inside batches too; mostly among
 * the newest 30 records, so that the log grows long across rounds; one cut
 * in 24 anywhere, which then deletes many segments; one in 48 at
 * first_seq - 1, everything the truncates left).
 * It reports through a pipe every acknowledged append and sync, "cut to S
 * requested" before each cut and "done" after it (likewise for truncates).
 * Each key names the round, a generation that changes at each cut, the seq
 * the record must have, the append and its place in its batch; op and value
 * follow from the key. So a record appended at a seq after a cut differs
 * from the one the cut discarded.
 *
 * The parent kills the child with SIGKILL: in a quarter of the rounds at a
 * random instant, otherwise a random short time after the k-th "cut
 * requested" message (0 to 1.5 times what the child's cuts lately took), so
 * that most kills land inside a cut. It reopens the log read-only, then
 * writable (both must read the same log), and checks against a model it
 * keeps of the log:
 *   - every record is at the seq its key names, with its op and value;
 *   - every acknowledged durable record is there, unless a completed cut or
 *     truncate removed it (SYNC_ALWAYS: every acknowledged append; otherwise
 *     what a sync, or a cut, made durable); past that, what is there is what
 *     was appended, in order, and at most one append the child did not live
 *     to acknowledge, whole;
 *   - a cut in flight left exactly the old log, or exactly the new one
 *     (last_seq == S, everything up to S as it was, nothing above S);
 *   - nothing a completed cut discarded is ever back, in this round or any
 *     later one (the parent's model holds what each seq must be);
 *   - first_seq is what the completed truncates made it;
 *   - the next append gets last_seq + 1 and survives a reopen.
 * Every round uses the same directory, so each also recovers what the
 * previous rounds left. CRASH_ROUNDS / CRASH_SECONDS / CRASH_SEED as in
 * crash_util.h (`make stress` runs many more rounds). */
#include <stdarg.h>

#include "crash_util.h"

enum {
    MAX_BATCH = 40,
    MAX_VALUE = 300,
    KEY_CAP = 80,
    /* The child truncates the front once the log holds more records. */
    TRUNCATE_ABOVE = 1000,
};

/* ---- records: what a key says, and what it implies ---- */

typedef struct {
    uint32_t by_parent;
    uint32_t round, gen, counter, count, index;
    uint64_t seq;
} rec_id_t;

static size_t format_key(const rec_id_t *id, char *key) {
    if (id->by_parent)
        return (size_t)snprintf(key, KEY_CAP, "p%u-q%llu", id->round, (unsigned long long)id->seq);
    return (size_t)snprintf(key, KEY_CAP, "r%u-g%u-q%llu-c%u-n%u-i%u", id->round, id->gen,
                            (unsigned long long)id->seq, id->counter, id->count, id->index);
}

/* Decodes a key; 0 unless it is exactly what format_key makes. */
static int parse_key(const uint8_t *key, size_t len, rec_id_t *id) {
    char buf[KEY_CAP], again[KEY_CAP];
    unsigned long long seq = 0;
    if (len == 0 || len >= KEY_CAP) return 0;
    memcpy(buf, key, len);
    buf[len] = '\0';
    memset(id, 0, sizeof *id);
    id->by_parent = buf[0] == 'p';
    int fields = id->by_parent
        ? sscanf(buf, "p%u-q%llu", &id->round, &seq)
        : sscanf(buf, "r%u-g%u-q%llu-c%u-n%u-i%u", &id->round, &id->gen, &seq, &id->counter,
                 &id->count, &id->index);
    id->seq = seq;
    if (fields != (id->by_parent ? 2 : 6)) return 0;
    return format_key(id, again) == len && memcmp(again, buf, len) == 0;
}

static int same_id(const rec_id_t *a, const rec_id_t *b) {
    return a->by_parent == b->by_parent && a->round == b->round && a->gen == b->gen &&
           a->counter == b->counter && a->count == b->count && a->index == b->index &&
           a->seq == b->seq;
}

static void show_id(const rec_id_t *id, char *out) {
    if (!id->by_parent && id->count == 0) snprintf(out, KEY_CAP, "(nothing)");
    else format_key(id, out);
}

typedef struct {
    uint8_t op;
    size_t value_len;
    unsigned char value[MAX_VALUE];
} content_t;

static void content_for(const char *key, size_t key_len, content_t *c) {
    uint64_t h = cu_hash(key, key_len);
    c->op = (uint8_t)(1 + h % 254);
    c->value_len = (size_t)((h >> 16) % (MAX_VALUE + 1));
    cu_fill(h, c->value, c->value_len);
}

static wal_entry_t entry_for(const rec_id_t *id, char *key, content_t *content) {
    size_t key_len = format_key(id, key);
    content_for(key, key_len, content);
    wal_entry_t e = { .op = content->op, .key = key, .key_len = key_len,
                      .value = content->value_len ? content->value : NULL,
                      .value_len = content->value_len };
    return e;
}

/* ---- what the child reports ---- */

enum { MSG_OPENED, MSG_ACK, MSG_SYNCED, MSG_CUT_REQ, MSG_CUT_DONE, MSG_TRUNC_REQ, MSG_TRUNC_DONE };

/* OPENED: seq = last_seq, aux = first_seq. ACK: seq = the append's last
 * seq, count entries, appended in generation gen as the round's append
 * number counter. SYNCED: everything up to seq is durable. CUT_*: seq = S,
 * gen = the generation after the cut. TRUNC_*: seq = upto. */
typedef struct {
    uint64_t seq, aux;
    uint32_t kind, gen, counter, count;
} msg_t;

/* ---- the child ---- */

typedef struct {
    const char *dir;
    uint64_t seed, segment_size;
    uint32_t round, sync_mode, sync_every, preallocate;
} round_cfg_t;

static void send_msg(int fd, uint32_t kind, uint64_t seq, uint64_t aux, uint32_t gen,
                     uint32_t counter, uint32_t count) {
    msg_t m = { seq, aux, kind, gen, counter, count };
    cu_send(fd, &m, sizeof m);
}

static void child_main(void *ctx, int fd) {
    const round_cfg_t *cfg = ctx;
    wal_options_t opts;
    wal_options_init(&opts);
    opts.segment_size = cfg->segment_size;
    opts.sync_mode = cfg->sync_mode;
    opts.sync_every = cfg->sync_every;
    opts.preallocate = cfg->preallocate;
    wal_t *w = NULL;
    if (wal_open(cfg->dir, &opts, &w) != WAL_OK) cu_child_fail("wal_open");
    send_msg(fd, MSG_OPENED, wal_last_seq(w), wal_first_seq(w), 0, 0, 0);

    cu_rng_t rng = cu_rng_for(cfg->seed, cfg->round, 1);
    static char keys[MAX_BATCH][KEY_CAP];
    static content_t contents[MAX_BATCH];
    wal_entry_t entries[MAX_BATCH];
    uint32_t gen = 0, counter = 0;
    int always = cfg->sync_mode == WAL_SYNC_ALWAYS;
    for (;;) {
        uint64_t first = wal_first_seq(w), last = wal_last_seq(w);
        uint64_t action = cu_range(&rng, 0, 99);
        if (last >= first && last - first > TRUNCATE_ABOVE && action < 5) {
            uint64_t upto = last - cu_range(&rng, 0, TRUNCATE_ABOVE / 2);
            send_msg(fd, MSG_TRUNC_REQ, upto, 0, gen, counter, 0);
            if (wal_truncate(w, upto) != WAL_OK) cu_child_fail("wal_truncate");
            send_msg(fd, MSG_TRUNC_DONE, upto, 0, gen, counter, 0);
        } else if (action >= 5 && action < 15) {
            /* A cut: mostly of the newest few records (a follower's
             * conflicting suffix), sometimes anywhere, down to first - 1. */
            uint64_t lo = first - 1, s;
            uint64_t pick = cu_range(&rng, 0, 47);
            if (pick == 0) s = lo; /* everything left after the truncates */
            else if (pick <= 2 || last - lo < 30) s = cu_range(&rng, lo, last);
            else s = cu_range(&rng, last - 30, last);
            if (!always && cu_range(&rng, 0, 3) != 0) {
                if (wal_sync(w) != WAL_OK) cu_child_fail("wal_sync");
                send_msg(fd, MSG_SYNCED, last, 0, gen, counter, 0);
            }
            gen++;
            send_msg(fd, MSG_CUT_REQ, s, 0, gen, counter, 0);
            if (wal_truncate_after(w, s) != WAL_OK) cu_child_fail("wal_truncate_after");
            send_msg(fd, MSG_CUT_DONE, s, 0, gen, counter, 0);
            if (wal_last_seq(w) != s) {
                fprintf(stderr, "child: after a cut to %llu, wal_last_seq is %llu\n",
                        (unsigned long long)s, (unsigned long long)wal_last_seq(w));
                _exit(CU_CHILD_FAILED);
            }
        } else if (!always && action >= 15 && action < 20) {
            if (wal_sync(w) != WAL_OK) cu_child_fail("wal_sync");
            send_msg(fd, MSG_SYNCED, last, 0, gen, counter, 0);
        } else {
            uint32_t count = cu_range(&rng, 0, 2) ? 1 : (uint32_t)cu_range(&rng, 2, MAX_BATCH);
            for (uint32_t i = 0; i < count; i++) {
                rec_id_t id = { 0, cfg->round, gen, counter, count, i, last + 1 + i };
                entries[i] = entry_for(&id, keys[i], &contents[i]);
            }
            const wal_entry_t *e = &entries[0];
            uint64_t seq = count == 1
                ? wal_append(w, e->op, e->key, e->key_len, e->value, e->value_len)
                : wal_append_batch(w, entries, count);
            if (seq == 0) cu_child_fail(count == 1 ? "wal_append" : "wal_append_batch");
            if (seq != last + count) {
                fprintf(stderr, "child: append of %u after seq %llu got seq %llu\n", count,
                        (unsigned long long)last, (unsigned long long)seq);
                _exit(CU_CHILD_FAILED);
            }
            send_msg(fd, MSG_ACK, seq, 0, gen, counter, count);
            counter++;
        }
    }
}

/* ---- the parent's model of the log ---- */

/* What each seq of the log must hold, for seqs in [base, base + len). */
typedef struct {
    rec_id_t *ids;
    uint64_t base, len, cap;
} model_t;

static rec_id_t *model_at(model_t *m, uint64_t seq) {
    REQUIRE(seq >= m->base);
    uint64_t i = seq - m->base;
    if (i >= m->cap) {
        uint64_t cap = m->cap ? m->cap : 4096;
        while (cap <= i) cap *= 2;
        m->ids = realloc(m->ids, cap * sizeof *m->ids);
        REQUIRE(m->ids != NULL);
        memset(m->ids + m->cap, 0, (cap - m->cap) * sizeof *m->ids);
        m->cap = cap;
    }
    if (i >= m->len) m->len = i + 1;
    return &m->ids[i];
}

typedef struct {
    cu_run_t run;
    model_t model;      /* the log as the parent left it after the last round */
    uint64_t first, last;
    double cut_s;       /* how long the child's cuts lately took, as seen here */
    /* Counters for the summary. */
    int killed_in_cut, came_back_cut, came_back_old, killed_in_truncate, killed_opening;
    uint64_t cuts_done, records_checked;
} test_t;

static int fail_round(uint32_t round, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail_round(uint32_t round, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "round %u: ", round);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    tu_failures++;
    return -1;
}

/* What the messages of a round say the log must be. */
typedef struct {
    uint64_t first;     /* first_seq after the completed truncates */
    uint64_t last;      /* the last acknowledged record (after the completed cuts) */
    uint64_t durable;   /* every record up to here must be there */
    uint32_t gen, counter;
    int opened;
    const msg_t *pending; /* a cut or truncate requested and not reported done */
    size_t cuts;
} expect_t;

static int apply_messages(test_t *t, uint32_t round, const round_cfg_t *cfg, const msg_t *m,
                          size_t n, expect_t *e) {
    memset(e, 0, sizeof *e);
    e->first = t->first;
    e->last = e->durable = t->last;
    int always = cfg->sync_mode == WAL_SYNC_ALWAYS;
    for (size_t i = 0; i < n; i++) {
        const msg_t *k = &m[i];
        if (e->pending && !((e->pending->kind == MSG_CUT_REQ && k->kind == MSG_CUT_DONE) ||
                            (e->pending->kind == MSG_TRUNC_REQ && k->kind == MSG_TRUNC_DONE)))
            return fail_round(round, "message %zu (kind %u) follows an unfinished request", i,
                              k->kind);
        if (k->kind != MSG_OPENED && !e->opened)
            return fail_round(round, "message %zu (kind %u) before the child opened the log", i,
                              k->kind);
        switch (k->kind) {
        case MSG_OPENED:
            if (i != 0 || k->seq != t->last || k->aux != t->first)
                return fail_round(round, "the child opened a log of %llu..%llu; the parent left "
                                  "%llu..%llu", (unsigned long long)k->aux,
                                  (unsigned long long)k->seq, (unsigned long long)t->first,
                                  (unsigned long long)t->last);
            e->opened = 1;
            break;
        case MSG_ACK:
            if (k->count == 0 || k->count > MAX_BATCH || k->seq != e->last + k->count ||
                k->gen != e->gen || k->counter != e->counter)
                return fail_round(round, "malformed acknowledgment %zu: seq %llu, %u entries, "
                                  "gen %u, counter %u (log ends at %llu)", i,
                                  (unsigned long long)k->seq, k->count, k->gen, k->counter,
                                  (unsigned long long)e->last);
            for (uint32_t j = 0; j < k->count; j++) {
                rec_id_t id = { 0, round, k->gen, k->counter, k->count, j, e->last + 1 + j };
                *model_at(&t->model, id.seq) = id;
            }
            e->last = k->seq;
            if (always) e->durable = k->seq;
            e->counter++;
            break;
        case MSG_SYNCED:
            if (k->seq != e->last)
                return fail_round(round, "sync of %llu reported, the log ends at %llu",
                                  (unsigned long long)k->seq, (unsigned long long)e->last);
            e->durable = k->seq;
            break;
        case MSG_CUT_REQ:
            if (k->gen != e->gen + 1 || k->seq + 1 < e->first || k->seq > e->last)
                return fail_round(round, "cut to %llu (gen %u) requested out of range %llu..%llu",
                                  (unsigned long long)k->seq, k->gen,
                                  (unsigned long long)e->first, (unsigned long long)e->last);
            e->gen = k->gen;
            e->pending = k;
            break;
        case MSG_CUT_DONE:
            if (!e->pending || e->pending->seq != k->seq)
                return fail_round(round, "cut to %llu done without a request",
                                  (unsigned long long)k->seq);
            /* A cut makes what it keeps durable; a cut to last_seq is
             * nothing to do, and syncs nothing (in SYNC_NONE and EVERY the
             * records after the last sync may still be lost). */
            if (k->seq < e->last) e->last = e->durable = k->seq;
            e->pending = NULL;
            e->cuts++;
            break;
        case MSG_TRUNC_REQ:
            if (k->seq > e->last)
                return fail_round(round, "truncate to %llu requested past %llu",
                                  (unsigned long long)k->seq, (unsigned long long)e->last);
            e->pending = k;
            break;
        case MSG_TRUNC_DONE:
            if (!e->pending || e->pending->seq != k->seq)
                return fail_round(round, "truncate to %llu done without a request",
                                  (unsigned long long)k->seq);
            if (k->seq + 1 > e->first) e->first = k->seq + 1;
            if (e->durable < e->first - 1) e->durable = e->first - 1;
            e->pending = NULL;
            break;
        default:
            return fail_round(round, "unknown message %zu (kind %u)", i, k->kind);
        }
    }
    return 0;
}

/* One record as read back. */
typedef struct {
    uint64_t seq;
    rec_id_t id;
} got_t;

typedef struct {
    uint64_t first, last;
    got_t *recs;
    size_t n;
} read_t;

/* Reads the whole log through w, checking each record's content against its
 * key. Returns 0, or -1 after reporting. */
static int read_log(uint32_t round, wal_t *w, const char *how, read_t *out) {
    memset(out, 0, sizeof *out);
    out->first = wal_first_seq(w);
    out->last = wal_last_seq(w);
    if (out->first == 0 || out->first > out->last + 1)
        return fail_round(round, "%s: first_seq %llu, last_seq %llu", how,
                          (unsigned long long)out->first, (unsigned long long)out->last);
    size_t cap = (size_t)(out->last + 1 - out->first) + 1;
    out->recs = calloc(cap, sizeof *out->recs);
    REQUIRE(out->recs != NULL);
    wal_iter_t *it = NULL;
    int r = wal_iter_open(w, 0, &it);
    if (r != WAL_OK) return fail_round(round, "%s: wal_iter_open: %d (%s)", how, r,
                                       wal_last_error_message());
    wal_record_t rec;
    while ((r = wal_iter_next(it, &rec)) == 1) {
        uint64_t want = out->first + out->n;
        if (rec.seq != want || out->n >= cap - 1) {
            wal_iter_close(it);
            return fail_round(round, "%s: seq %llu where %llu was expected (last_seq %llu)", how,
                              (unsigned long long)rec.seq, (unsigned long long)want,
                              (unsigned long long)out->last);
        }
        got_t *g = &out->recs[out->n];
        g->seq = rec.seq;
        if (!parse_key(rec.key, rec.key_len, &g->id) || g->id.seq != rec.seq) {
            wal_iter_close(it);
            return fail_round(round, "%s: seq %llu holds key '%.*s'", how,
                              (unsigned long long)rec.seq,
                              (int)(rec.key_len < 60 ? rec.key_len : 60), (const char *)rec.key);
        }
        content_t c;
        content_for((const char *)rec.key, rec.key_len, &c);
        if (rec.op != c.op || rec.value_len != c.value_len ||
            (c.value_len && memcmp(rec.value, c.value, c.value_len) != 0)) {
            wal_iter_close(it);
            return fail_round(round, "%s: seq %llu (key %.*s): op %u and %zu-byte value are not "
                              "the ones its key implies", how, (unsigned long long)rec.seq,
                              (int)rec.key_len, (const char *)rec.key, rec.op, rec.value_len);
        }
        out->n++;
    }
    wal_iter_close(it);
    if (r != 0)
        return fail_round(round, "%s: wal_iter_next: %d (%s)", how, r, wal_last_error_message());
    if (out->first + out->n != out->last + 1)
        return fail_round(round, "%s: read %zu records from %llu, last_seq is %llu", how, out->n,
                          (unsigned long long)out->first, (unsigned long long)out->last);
    return 0;
}

/* Whether records [from, to] of what was read are the model's. On a
 * mismatch, says where in *bad (if not NULL). */
/* Drops what lies below first (nothing ever asks for it again). */
static void model_rebase(model_t *m, uint64_t first) {
    if (first <= m->base || first - m->base < m->cap / 2) return;
    uint64_t drop = first - m->base;
    uint64_t keep = m->len > drop ? m->len - drop : 0;
    memmove(m->ids, m->ids + drop, keep * sizeof *m->ids);
    memset(m->ids + keep, 0, (m->cap - keep) * sizeof *m->ids);
    m->base = first;
    m->len = keep;
}

static int matches_model(test_t *t, const read_t *g, uint64_t from, uint64_t to, uint64_t *bad) {
    for (uint64_t s = from; s <= to; s++) {
        const rec_id_t *want = model_at(&t->model, s);
        if (!same_id(&g->recs[s - g->first].id, want)) {
            if (bad) *bad = s;
            return 0;
        }
    }
    return 1;
}

static int report_mismatch(test_t *t, uint32_t round, const read_t *g, uint64_t s,
                           const char *what) {
    char want[KEY_CAP], got[KEY_CAP];
    show_id(model_at(&t->model, s), want);
    show_id(&g->recs[s - g->first].id, got);
    return fail_round(round, "%s: seq %llu holds %s where %s was expected", what,
                      (unsigned long long)s, got, want);
}

/* The log is the model's up to its end, or a shorter prefix no shorter than
 * what is durable, possibly followed by one whole unacknowledged append of
 * the child (only where the model's records all are). */
static int check_old(test_t *t, uint32_t round, const expect_t *e, const read_t *g,
                     int append_may_follow, const char *what) {
    uint64_t first = g->first, last = g->last, bad = 0;
    if (last < e->durable)
        return fail_round(round, "%s: the log ends at %llu, but every record up to %llu was "
                          "acknowledged durable", what, (unsigned long long)last,
                          (unsigned long long)e->durable);
    uint64_t upto = last < e->last ? last : e->last;
    if (first <= upto && !matches_model(t, g, first, upto, &bad))
        return report_mismatch(t, round, g, bad, what);
    if (last <= e->last) return 0;
    /* Past the acknowledged records: one append the child was making. */
    uint64_t extra = last - e->last;
    if (e->last + 1 < first)
        return fail_round(round, "%s: the log is %llu..%llu, the acknowledged records end at "
                          "%llu", what, (unsigned long long)first, (unsigned long long)last,
                          (unsigned long long)e->last);
    const rec_id_t *id = &g->recs[e->last + 1 - first].id;
    if (!append_may_follow || id->by_parent || id->round != round || id->gen != e->gen ||
        id->counter != e->counter || id->count != extra || id->index != 0)
        return fail_round(round, "%s: the log goes on past the acknowledged %llu to %llu with "
                          "records that are not one whole append in flight", what,
                          (unsigned long long)e->last, (unsigned long long)last);
    for (uint64_t s = e->last + 1; s <= last; s++) {
        const rec_id_t *r = &g->recs[s - first].id;
        if (r->round != id->round || r->gen != id->gen || r->counter != id->counter ||
            r->count != id->count || r->index != s - e->last - 1)
            return fail_round(round, "%s: the append in flight is not whole at seq %llu", what,
                              (unsigned long long)s);
        *model_at(&t->model, s) = *r;
    }
    return 0;
}

/* Checks what the writable open read against what the messages say; *cut_out
 * is 1 when a cut in flight came back done, 0 when it came back undone. */
static int check_log(test_t *t, uint32_t round, const expect_t *e, const read_t *g, int *cut_out) {
    const msg_t *p = e->pending;
    *cut_out = -1;
    if (!e->opened) {
        /* Killed while opening: the log is the one the parent left. */
        if (g->first != t->first || g->last != t->last)
            return fail_round(round, "killed while opening: log %llu..%llu, was %llu..%llu",
                              (unsigned long long)g->first, (unsigned long long)g->last,
                              (unsigned long long)t->first, (unsigned long long)t->last);
        uint64_t bad = 0;
        if (g->first <= g->last && !matches_model(t, g, g->first, g->last, &bad))
            return report_mismatch(t, round, g, bad, "killed while opening");
        return 0;
    }
    if (p && p->kind == MSG_TRUNC_REQ) {
        /* Every record above upto is there; below, what the floor left. */
        if (g->first < e->first || g->first > p->seq + 1)
            return fail_round(round, "killed inside truncate(%llu): first_seq %llu, expected "
                              "%llu..%llu", (unsigned long long)p->seq,
                              (unsigned long long)g->first, (unsigned long long)e->first,
                              (unsigned long long)p->seq + 1);
        return check_old(t, round, e, g, 0, "killed inside a truncate");
    }
    if (g->first != e->first)
        return fail_round(round, "first_seq is %llu; the completed truncates make it %llu",
                          (unsigned long long)g->first, (unsigned long long)e->first);
    if (p && p->kind == MSG_CUT_REQ) {
        uint64_t s = p->seq, bad = 0;
        /* The new log: last_seq == S, everything up to S as it was. */
        if (g->last == s && (g->first > s || matches_model(t, g, g->first, s, &bad))) {
            *cut_out = 1;
            return 0;
        }
        /* Otherwise exactly the old one (with SYNC_ALWAYS every record is
         * durable; otherwise the unsynced ones may be missing). */
        *cut_out = 0;
        return check_old(t, round, e, g, 0,
                         "killed inside a cut (neither the new log nor the old)");
    }
    return check_old(t, round, e, g, 1, "after the kill");
}

static int same_reads(const read_t *a, const read_t *b) {
    if (a->first != b->first || a->last != b->last || a->n != b->n) return 0;
    for (size_t i = 0; i < a->n; i++)
        if (a->recs[i].seq != b->recs[i].seq || !same_id(&a->recs[i].id, &b->recs[i].id)) return 0;
    return 1;
}

/* Appends the parent's record of the round: it must get last_seq + 1 and be
 * there after a reopen. */
static int append_and_reopen(test_t *t, uint32_t round, const char *dir, wal_t *w) {
    uint64_t last = wal_last_seq(w);
    rec_id_t id = { 1, round, 0, 0, 0, 0, last + 1 };
    char key[KEY_CAP];
    content_t content;
    wal_entry_t e = entry_for(&id, key, &content);
    uint64_t seq = wal_append(w, e.op, e.key, e.key_len, e.value, e.value_len);
    int close_r = wal_close(w);
    if (seq != last + 1 || close_r != WAL_OK)
        return fail_round(round, "the parent's append got seq %llu (last_seq %llu), close %d: %s",
                          (unsigned long long)seq, (unsigned long long)last, close_r,
                          wal_last_error_message());
    *model_at(&t->model, seq) = id;
    REQUIRE(wal_open(dir, NULL, &w) == WAL_OK);
    wal_iter_t *it = NULL;
    wal_record_t rec;
    int ok = wal_last_seq(w) == seq && wal_iter_open(w, last, &it) == WAL_OK &&
             wal_iter_next(it, &rec) == 1 && rec.seq == seq && rec.key_len == e.key_len &&
             memcmp(rec.key, key, e.key_len) == 0 && wal_iter_next(it, &rec) == 0;
    wal_iter_close(it);
    CHECK(wal_close(w) == WAL_OK);
    if (!ok) return fail_round(round, "the parent's record at %llu is not there after a reopen",
                               (unsigned long long)seq);
    t->last = seq;
    return 0;
}

/* After a failure: the round's settings and its last messages. */
static void dump_messages(uint32_t round, const round_cfg_t *cfg, const msg_t *m, size_t n) {
    static const char *names[] = { "opened", "ack", "synced", "cut requested", "cut done",
                                   "truncate requested", "truncate done" };
    fprintf(stderr, "round %u: sync mode %u (every %u), segment size %llu, preallocate %u; "
            "%zu messages%s\n", round, cfg->sync_mode, cfg->sync_every,
            (unsigned long long)cfg->segment_size, cfg->preallocate, n,
            n > 60 ? ", the last 60:" : ":");
    for (size_t i = n > 60 ? n - 60 : 0; i < n; i++)
        fprintf(stderr, "  %s seq %llu aux %llu gen %u counter %u count %u\n",
                m[i].kind <= MSG_TRUNC_DONE ? names[m[i].kind] : "?",
                (unsigned long long)m[i].seq, (unsigned long long)m[i].aux, m[i].gen,
                m[i].counter, m[i].count);
}

static void recover_and_check(test_t *t, uint32_t round, const round_cfg_t *cfg,
                              const cu_child_t *c, const char *plan) {
    size_t n;
    const msg_t *m = cu_messages(c, sizeof(msg_t), &n);
    expect_t e;
    if (apply_messages(t, round, cfg, m, n, &e) != 0) return;

    wal_options_t ro;
    wal_options_init(&ro);
    ro.read_only = 1;
    wal_t *w = NULL;
    int r = wal_open(cfg->dir, &ro, &w);
    if (r != WAL_OK) {
        fail_round(round, "read-only open after the kill: %d (%s)", r, wal_last_error_message());
        return;
    }
    read_t seen_ro = { 0, 0, NULL, 0 }, seen = { 0, 0, NULL, 0 };
    int bad = read_log(round, w, "read-only", &seen_ro);
    CHECK(wal_close(w) == WAL_OK);
    w = NULL;
    if (!bad && (r = wal_open(cfg->dir, NULL, &w)) != WAL_OK)
        bad = fail_round(round, "writable open after the kill: %d (%s)", r,
                         wal_last_error_message());
    if (!bad) bad = read_log(round, w, "writable", &seen);
    if (!bad && !same_reads(&seen_ro, &seen))
        bad = fail_round(round, "the read-only open read %llu..%llu, the writable one %llu..%llu "
                         "(or other records)", (unsigned long long)seen_ro.first,
                         (unsigned long long)seen_ro.last, (unsigned long long)seen.first,
                         (unsigned long long)seen.last);
    int cut = -1;
    if (!bad) bad = check_log(t, round, &e, &seen, &cut);
    const char *phase = !e.opened ? "opening"
        : e.pending && e.pending->kind == MSG_CUT_REQ ? "cutting"
        : e.pending ? "truncating" : "appending";
    if (!bad) {
        t->records_checked += seen.n;
        t->first = seen.first;
        t->last = seen.last;
        t->cuts_done += e.cuts;
        t->killed_opening += !e.opened;
        t->killed_in_truncate += e.pending && e.pending->kind == MSG_TRUNC_REQ;
        if (cut >= 0) {
            t->killed_in_cut++;
            t->came_back_cut += cut;
            t->came_back_old += !cut;
        }
        printf("round %3u: %s, seg %6llu, prealloc %u, %-10s killed %8.3f ms in, while %-10s%s: "
               "%3zu cuts done, log %llu..%llu\n", round,
               cfg->sync_mode == WAL_SYNC_ALWAYS ? "ALWAYS" : cfg->sync_mode == WAL_SYNC_NONE
                                                              ? "NONE  " : "EVERY ",
               (unsigned long long)cfg->segment_size, cfg->preallocate, plan,
               c->delay_us / 1000.0, phase,
               cut == 1 ? " (came back cut)" : cut == 0 ? " (came back as before)" : "",
               e.cuts, (unsigned long long)seen.first, (unsigned long long)seen.last);
        bad = append_and_reopen(t, round, cfg->dir, w);
        w = NULL;
    }
    if (bad) dump_messages(round, cfg, m, n);
    if (w) wal_close(w);
    free(seen_ro.recs);
    free(seen.recs);
}

/* ---- killing the child ---- */

typedef struct {
    int at_cut;          /* kill after the at_cut-th "cut requested"; 0: at delay_us */
    unsigned delay_us;   /* after the start, or after that message */
} kill_plan_t;

/* Like cu_crash_child, but the kill may be timed from the k-th "cut
 * requested" message. Learns meanwhile how long the child's cuts take. */
static int crash_child(test_t *t, const round_cfg_t *cfg, kill_plan_t plan,
                       cu_child_t *c) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    memset(c, 0, sizeof *c);
    c->fd = fds[0];
    fflush(NULL);
    c->start = cu_now();
    c->pid = fork();
    REQUIRE(c->pid >= 0);
    if (c->pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(CU_CHILD_LIFETIME_S);
        child_main((void *)cfg, fds[1]);
        _exit(CU_CHILD_FAILED);
    }
    close(fds[1]);
    /* A child that never reaches the k-th cut is killed after 3 s. */
    double deadline = c->start + (plan.at_cut ? 3.0 : plan.delay_us / 1e6);
    size_t scanned = 0;
    int cuts = 0;
    double requested = 0;
    for (;;) {
        double now = cu_now(), left = deadline - now;
        if (left <= 0) break;
        struct pollfd pfd = { c->fd, POLLIN, 0 };
        struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
        if (ppoll(&pfd, 1, &ts, NULL) <= 0) continue;
        if (!cu_read_some(c)) break; /* the child is gone */
        now = cu_now();
        for (; scanned + sizeof(msg_t) <= c->len; scanned += sizeof(msg_t)) {
            msg_t m;
            memcpy(&m, c->data + scanned, sizeof m);
            if (m.kind == MSG_CUT_REQ) {
                requested = now;
                if (++cuts == plan.at_cut) deadline = now + plan.delay_us / 1e6;
            } else if (m.kind == MSG_CUT_DONE && requested > 0) {
                t->cut_s = 0.9 * t->cut_s + 0.1 * (now - requested);
            }
        }
    }
    c->delay_us = (unsigned)((cu_now() - c->start) * 1e6);
    kill(c->pid, SIGKILL);
    while (cu_read_some(c)) {}
    close(c->fd);
    int status;
    pid_t r;
    do r = waitpid(c->pid, &status, 0);
    while (r < 0 && errno == EINTR);
    REQUIRE(r == c->pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return 0;
    tu_failures++;
    if (WIFEXITED(status))
        fprintf(stderr, "child %d exited by itself with status %d%s\n", (int)c->pid,
                WEXITSTATUS(status),
                WEXITSTATUS(status) == CU_CHILD_FAILED ? " (see its message above)" : "");
    else
        fprintf(stderr, "child %d died of signal %d, not of our SIGKILL\n", (int)c->pid,
                WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return -1;
}

static void run_round(void *ctx, uint32_t round) {
    test_t *t = ctx;
    model_rebase(&t->model, t->first);
    cu_rng_t rng = cu_rng_for(t->run.seed, round, 2);
    round_cfg_t cfg = { t->run.dir, t->run.seed, 0, round, WAL_SYNC_ALWAYS, 100, 0 };
    cfg.segment_size = cu_range(&rng, 0, 2) ? 4096 : 65536;
    switch (cu_range(&rng, 0, 3)) {
    case 0: cfg.sync_mode = WAL_SYNC_NONE; break;
    case 1: cfg.sync_mode = WAL_SYNC_EVERY; cfg.sync_every = (uint32_t)cu_range(&rng, 1, 8); break;
    default: cfg.sync_mode = WAL_SYNC_ALWAYS; break;
    }
    cfg.preallocate = (uint32_t)cu_range(&rng, 0, 1);
    kill_plan_t plan = { 0, 0 };
    char what[32];
    if (cu_range(&rng, 0, 3) == 0) {
        plan.delay_us = cu_kill_delay_us(&t->run, round);
        snprintf(what, sizeof what, "(at random)");
    } else {
        plan.at_cut = (int)cu_range(&rng, 1, 3);
        /* From at once to past the end of a typical cut. */
        plan.delay_us = cu_range(&rng, 0, 5) == 0 ? 0
                        : (unsigned)cu_range(&rng, 0, (uint64_t)(1.5e6 * t->cut_s) + 1);
        snprintf(what, sizeof what, "(cut %d+%uus)", plan.at_cut, plan.delay_us);
    }
    cu_child_t child;
    if (crash_child(t, &cfg, plan, &child) == 0)
        recover_and_check(t, round, &cfg, &child, what);
    cu_child_free(&child);
}

int main(void) {
    static test_t t;
    t.run = cu_run_settings("crash_cut", 30, 5);
    t.first = 1;
    t.model.base = 1;
    t.cut_s = 0.0005;
    /* The log lives in a directory of its own under the run's, created
     * empty here, so that a kill during the first open leaves a log too. */
    char *top = t.run.dir;
    t.run.dir = malloc(4096);
    REQUIRE(t.run.dir != NULL);
    snprintf(t.run.dir, 4096, "%s/log", top);
    wal_t *w = NULL;
    REQUIRE(wal_open(t.run.dir, NULL, &w) == WAL_OK);
    REQUIRE(wal_close(w) == WAL_OK);
    cu_run_rounds(&t.run, run_round, &t); /* removes and frees run.dir, kept on failure */
    if (tu_failures == 0) tu_rmtree(top);
    free(top);
    printf("crash_cut: %llu cuts completed; %d kills inside a cut (%d came back cut, %d as "
           "before), %d inside a truncate, %d while opening; %llu records checked; cuts took "
           "%.3f ms lately\n", (unsigned long long)t.cuts_done, t.killed_in_cut, t.came_back_cut,
           t.came_back_old, t.killed_in_truncate, t.killed_opening,
           (unsigned long long)t.records_checked, t.cut_s * 1e3);
    free(t.model.ids);
    return tu_finish(t.run.name);
}
