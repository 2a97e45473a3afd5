/* Crash test of appends. In each round a child opens the log with
 * WAL_SYNC_ALWAYS and 64 KiB segments and appends single records and batches
 * of 2..8 entries, from one thread or from four at once (group commit),
 * reporting every acknowledged append through a pipe. The parent kills it
 * with SIGKILL at a random instant, reopens the log with the defaults and
 * checks:
 *   - replay from 0 yields seqs first_seq..last_seq without a gap;
 *   - every record holds exactly the op and value its key implies;
 *   - no batch is split, and each thread's appends are all there up to its
 *     last one (a thread starts an append only once the previous returned);
 *   - every acknowledged append is there, under the key the child gave it;
 *   - the next append gets last_seq + 1 and is still there after a reopen.
 * Every round uses the same directory, so each also recovers what the
 * previous rounds (and their recoveries) left. */
#include <pthread.h>
#include <stdarg.h>

#include "crash_util.h"

enum {
    SEGMENT_SIZE = 64 * 1024,
    MAX_THREADS = 4,
    MAX_BATCH = 8,
    MAX_VALUE = 2000,
    KEY_CAP = 64,
};

/* What a key says about its record. A child's key names its round, thread,
 * the thread's append counter, the batch size and the entry's index; the
 * record the parent appends after checking a round names that round only. */
typedef struct {
    uint32_t by_parent;
    uint32_t round, thread, counter, count, index;
} rec_id_t;

/* One acknowledged append as the child reports it; seq is the last entry's.
 * A message with count 0 says the child has opened the log. */
typedef struct {
    uint64_t seq;
    uint32_t round, thread, counter, count;
} ack_t;

/* The op and value a key implies. */
typedef struct {
    uint8_t op;
    size_t value_len;
    unsigned char value[MAX_VALUE];
} content_t;

static size_t format_key(const rec_id_t *id, char *key) {
    if (id->by_parent) return (size_t)snprintf(key, KEY_CAP, "p%u", id->round);
    return (size_t)snprintf(key, KEY_CAP, "r%u-t%u-c%u-n%u-i%u", id->round, id->thread,
                            id->counter, id->count, id->index);
}

/* Decodes a key; 0 unless it is exactly what format_key makes. */
static int parse_key(const uint8_t *key, size_t len, rec_id_t *id) {
    char buf[KEY_CAP], again[KEY_CAP];
    if (len == 0 || len >= KEY_CAP) return 0;
    memcpy(buf, key, len);
    buf[len] = '\0';
    memset(id, 0, sizeof *id);
    id->by_parent = buf[0] == 'p';
    int fields = id->by_parent
        ? sscanf(buf, "p%u", &id->round)
        : sscanf(buf, "r%u-t%u-c%u-n%u-i%u", &id->round, &id->thread, &id->counter,
                 &id->count, &id->index);
    if (fields != (id->by_parent ? 1 : 5)) return 0;
    return format_key(id, again) == len && memcmp(again, buf, len) == 0;
}

static void content_for(const char *key, size_t key_len, content_t *c) {
    uint64_t h = cu_hash(key, key_len);
    c->op = (uint8_t)(1 + h % 254);
    c->value_len = (size_t)((h >> 16) % (MAX_VALUE + 1));
    cu_fill(h, c->value, c->value_len);
}

/* The entry of a record named id; key and content are its storage. */
static wal_entry_t entry_for(const rec_id_t *id, char *key, content_t *content) {
    size_t key_len = format_key(id, key);
    content_for(key, key_len, content);
    wal_entry_t e = { .op = content->op, .key = key, .key_len = key_len,
                      .value = content->value_len ? content->value : NULL,
                      .value_len = content->value_len };
    return e;
}

/* ---- the child ---- */

typedef struct {
    const char *dir;
    uint64_t seed;
    uint32_t round, threads, preallocate;
} round_cfg_t;

typedef struct {
    wal_t *w;
    int fd;
    const round_cfg_t *cfg;
    uint32_t thread;
} worker_t;

static void *append_forever(void *arg) {
    const worker_t *wk = arg;
    cu_rng_t rng = cu_rng_for(wk->cfg->seed, wk->cfg->round, 1 + wk->thread);
    char keys[MAX_BATCH][KEY_CAP];
    content_t contents[MAX_BATCH];
    wal_entry_t entries[MAX_BATCH];
    for (uint32_t counter = 0;; counter++) {
        uint32_t count = cu_range(&rng, 0, 1) ? 1 : (uint32_t)cu_range(&rng, 2, MAX_BATCH);
        for (uint32_t i = 0; i < count; i++) {
            rec_id_t id = { 0, wk->cfg->round, wk->thread, counter, count, i };
            entries[i] = entry_for(&id, keys[i], &contents[i]);
        }
        const wal_entry_t *e = &entries[0];
        uint64_t seq = count == 1
            ? wal_append(wk->w, e->op, e->key, e->key_len, e->value, e->value_len)
            : wal_append_batch(wk->w, entries, count);
        if (seq == 0) cu_child_fail(count == 1 ? "wal_append" : "wal_append_batch");
        ack_t ack = { seq, wk->cfg->round, wk->thread, counter, count };
        cu_send(wk->fd, &ack, sizeof ack);
    }
    return NULL;
}

static void child_main(void *ctx, int fd) {
    const round_cfg_t *cfg = ctx;
    wal_t *w = cu_child_open(cfg->dir, SEGMENT_SIZE, cfg->preallocate);
    ack_t opened = { 0, cfg->round, 0, 0, 0 };
    cu_send(fd, &opened, sizeof opened);

    worker_t workers[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    for (uint32_t t = 0; t < cfg->threads; t++) {
        worker_t wk = { w, fd, cfg, t };
        workers[t] = wk;
        if (t > 0 && pthread_create(&tids[t], NULL, append_forever, &workers[t]) != 0)
            cu_child_fail("pthread_create");
    }
    append_forever(&workers[0]);
}

/* ---- the parent's check of a replay ---- */

typedef struct {
    uint32_t round;          /* the round being checked */
    uint64_t first, last;    /* wal_first_seq, wal_last_seq after reopening */
    uint64_t next_seq;       /* the seq the next record must have */
    rec_id_t *ids;           /* ids[seq - first] */
    rec_id_t prev;           /* the previous record */
    int have_prev;
    uint32_t parent_records; /* records appended by the parent seen so far */
    uint32_t next_counter[MAX_THREADS]; /* per thread, in prev's round */
} replay_check_t;

static int bad(const replay_check_t *rc, uint64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports a failed check about seq; returns 1 to stop the replay. */
static int bad(const replay_check_t *rc, uint64_t seq, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "round %u, seq %llu: ", rc->round, (unsigned long long)seq);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    tu_failures++;
    return 1;
}

/* Child records of round r come before the parent's record of round r,
 * which comes before round r + 1's. */
static uint64_t rank(const rec_id_t *id) { return 2 * (uint64_t)id->round + id->by_parent; }

static int check_content(const replay_check_t *rc, const wal_record_t *rec) {
    content_t want;
    content_for((const char *)rec->key, rec->key_len, &want);
    if (rec->op != want.op)
        return bad(rc, rec->seq, "key %.*s: op %u, expected %u", (int)rec->key_len,
                   (const char *)rec->key, rec->op, want.op);
    if (rec->value_len != want.value_len ||
        (want.value_len && memcmp(rec->value, want.value, want.value_len) != 0))
        return bad(rc, rec->seq, "key %.*s: value of %zu bytes differs from the %zu expected",
                   (int)rec->key_len, (const char *)rec->key, rec->value_len, want.value_len);
    return 0;
}

/* Batches whole, order of rounds, each thread's appends without a gap. */
static int check_place(replay_check_t *rc, uint64_t seq, const rec_id_t *id) {
    const rec_id_t *p = &rc->prev;
    int in_batch = rc->have_prev && !p->by_parent && p->index + 1 < p->count;
    if (in_batch) {
        if (id->by_parent || id->round != p->round || id->thread != p->thread ||
            id->counter != p->counter || id->count != p->count || id->index != p->index + 1)
            return bad(rc, seq, "batch r%u-t%u-c%u of %u entries is split: entry %u is "
                       "followed by another record", p->round, p->thread, p->counter,
                       p->count, p->index);
        return 0;
    }
    if (rc->have_prev && rank(id) < rank(p))
        return bad(rc, seq, "a record of round %u follows one of round %u", id->round, p->round);
    if (id->by_parent) {
        if (id->round != rc->parent_records)
            return bad(rc, seq, "parent record of round %u where round %u's was expected",
                       id->round, rc->parent_records);
        rc->parent_records++;
        return 0;
    }
    if (id->round > rc->round || id->thread >= MAX_THREADS || id->count == 0 ||
        id->count > MAX_BATCH || id->index != 0)
        return bad(rc, seq, "record r%u-t%u-c%u-n%u-i%u cannot start an append here",
                   id->round, id->thread, id->counter, id->count, id->index);
    if (!rc->have_prev || rank(id) != rank(p)) memset(rc->next_counter, 0, sizeof rc->next_counter);
    if (id->counter != rc->next_counter[id->thread])
        return bad(rc, seq, "thread %u of round %u: append %u where %u was expected (lost "
                   "appends)", id->thread, id->round, id->counter, rc->next_counter[id->thread]);
    rc->next_counter[id->thread]++;
    return 0;
}

static int check_record(void *ctx, const wal_record_t *rec) {
    replay_check_t *rc = ctx;
    rec_id_t id;
    if (rec->seq != rc->next_seq)
        return bad(rc, rec->seq, "replayed where seq %llu was expected",
                   (unsigned long long)rc->next_seq);
    if (rec->seq > rc->last)
        return bad(rc, rec->seq, "replayed beyond wal_last_seq %llu",
                   (unsigned long long)rc->last);
    if (!parse_key(rec->key, rec->key_len, &id))
        return bad(rc, rec->seq, "unexpected key '%.*s' (op %u)", (int)rec->key_len,
                   (const char *)rec->key, rec->op);
    if (check_content(rc, rec) || check_place(rc, rec->seq, &id)) return 1;
    rc->ids[rec->seq - rc->first] = id;
    rc->prev = id;
    rc->have_prev = 1;
    rc->next_seq++;
    return 0;
}

/* Every acknowledged append is in the log under the key the child gave it. */
static int check_acks(const replay_check_t *rc, const ack_t *acks, size_t n) {
    for (size_t a = 0; a < n; a++) {
        const ack_t *k = &acks[a];
        if (k->round == rc->round && k->count == 0) continue; /* "opened" */
        if (k->round != rc->round || k->count > MAX_BATCH)
            return bad(rc, k->seq, "malformed acknowledgment (round %u, count %u)", k->round,
                       k->count);
        uint64_t start = k->seq - (k->count - 1);
        if (k->seq > rc->last || k->count > k->seq || start < rc->first)
            return bad(rc, k->seq, "acknowledged append r%u-t%u-c%u of %u entries is not in "
                       "the log (first_seq %llu, last_seq %llu)", k->round, k->thread,
                       k->counter, k->count, (unsigned long long)rc->first,
                       (unsigned long long)rc->last);
        for (uint32_t i = 0; i < k->count; i++) {
            rec_id_t want = { 0, k->round, k->thread, k->counter, k->count, i };
            const rec_id_t *got = &rc->ids[start + i - rc->first];
            if (memcmp(got, &want, sizeof want) != 0)
                return bad(rc, start + i, "acknowledged entry r%u-t%u-c%u-n%u-i%u holds "
                           "another record (%s r%u-t%u-c%u-n%u-i%u)", want.round, want.thread,
                           want.counter, want.count, want.index,
                           got->by_parent ? "parent's" : "child's", got->round, got->thread,
                           got->counter, got->count, got->index);
        }
    }
    return 0;
}

/* Appends the parent's record of the round: it must get last_seq + 1 and
 * survive a close and a reopen. */
static void append_and_reopen(const char *dir, wal_t *w, uint32_t round, uint64_t last) {
    rec_id_t id = { 1, round, 0, 0, 0, 0 };
    char key[KEY_CAP];
    content_t content;
    wal_entry_t e = entry_for(&id, key, &content);
    uint64_t seq = wal_append(w, e.op, e.key, e.key_len, e.value, e.value_len);
    CHECK_EQ_U64(seq, last + 1);
    CHECK(wal_close(w) == WAL_OK);

    REQUIRE(wal_open(dir, NULL, &w) == WAL_OK);
    CHECK_EQ_U64(wal_last_seq(w), last + 1);
    wal_iter_t *it = NULL;
    wal_record_t rec;
    REQUIRE(wal_iter_open(w, last, &it) == WAL_OK);
    CHECK(wal_iter_next(it, &rec) == 1);
    CHECK_EQ_U64(rec.seq, last + 1);
    CHECK(rec.op == e.op && rec.key_len == e.key_len && memcmp(rec.key, key, e.key_len) == 0);
    CHECK(rec.value_len == e.value_len &&
          (e.value_len == 0 || memcmp(rec.value, e.value, e.value_len) == 0));
    CHECK(wal_iter_next(it, &rec) == 0);
    wal_iter_close(it);
    CHECK(wal_close(w) == WAL_OK);
}

/* Replays the whole log through check_record; then no batch may be left
 * open and every earlier round must have its parent record. */
static int check_replay(replay_check_t *rc, wal_t *w) {
    if (rc->first == 0 || rc->first > rc->last + 1)
        return bad(rc, rc->first, "wal_first_seq out of range (wal_last_seq %llu)",
                   (unsigned long long)rc->last);
    rc->next_seq = rc->first;
    rc->ids = calloc(rc->last - rc->first + 1, sizeof *rc->ids);
    REQUIRE(rc->ids != NULL);
    int r = wal_replay(w, 0, check_record, rc);
    const rec_id_t *p = &rc->prev;
    if (r > 0) return 1; /* check_record has reported it */
    if (r < 0)
        return bad(rc, rc->next_seq, "wal_replay failed: %d (%s)", r, wal_last_error_message());
    if (rc->next_seq != rc->last + 1)
        return bad(rc, rc->next_seq, "replay ended before wal_last_seq %llu",
                   (unsigned long long)rc->last);
    if (rc->have_prev && !p->by_parent && p->index + 1 < p->count)
        return bad(rc, rc->last, "the log ends in the middle of batch r%u-t%u-c%u of %u "
                   "entries", p->round, p->thread, p->counter, p->count);
    if (rc->parent_records != rc->round)
        return bad(rc, rc->last, "%u parent records in the log, expected %u",
                   rc->parent_records, rc->round);
    return 0;
}

/* Reopens the log after the child's death and checks it against the acks. */
static void check_log(const round_cfg_t *cfg, unsigned delay_us, const ack_t *acks,
                      size_t n_acks) {
    wal_t *w = NULL;
    int r = wal_open(cfg->dir, NULL, &w);
    if (r != WAL_OK) {
        fprintf(stderr, "round %u: reopening the log failed: %d (%s)\n", cfg->round, r,
                wal_last_error_message());
        tu_failures++;
        return;
    }
    replay_check_t rc;
    memset(&rc, 0, sizeof rc);
    rc.round = cfg->round;
    rc.first = wal_first_seq(w);
    rc.last = wal_last_seq(w);
    int failed = check_replay(&rc, w) || check_acks(&rc, acks, n_acks);
    free(rc.ids);

    uint64_t acked = 0;
    for (size_t a = 0; a < n_acks; a++)
        if (acks[a].seq > acked) acked = acks[a].seq;
    printf("round %2u: %u thread(s), preallocate %u, killed after %7.3f ms while %-9s: %5zu "
           "appends acknowledged (highest seq %6llu), log %llu..%llu in %d segments\n",
           cfg->round, cfg->threads, cfg->preallocate, delay_us / 1000.0,
           n_acks ? "appending" : "opening", n_acks ? n_acks - 1 : 0, (unsigned long long)acked,
           (unsigned long long)rc.first, (unsigned long long)rc.last, tu_segment_count(cfg->dir));
    if (failed) wal_close(w);
    else append_and_reopen(cfg->dir, w, cfg->round, rc.last);
}

static void run_round(void *ctx, uint32_t round) {
    cu_run_t *run = ctx;
    round_cfg_t cfg = { run->dir, run->seed, round, (round / 2) % 2 ? MAX_THREADS : 1, round % 2 };
    cu_child_t child;
    if (cu_crash_child(run, round, child_main, &cfg, &child) == 0) {
        size_t n_acks;
        const ack_t *acks = cu_messages(&child, sizeof(ack_t), &n_acks);
        check_log(&cfg, child.delay_us, acks, n_acks);
    }
    cu_child_free(&child);
}

int main(void) {
    cu_run_t run = cu_run_settings("crash_append", 40, 25);
    cu_run_rounds(&run, run_round, &run);
    return tu_finish(run.name);
}
