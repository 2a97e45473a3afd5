/* Crash test of the whole engine protocol. The child is a tiny key-value
 * store: a table of 64 counters kept in memory, each update a PUT of the
 * counter's next value appended with WAL_SYNC_ALWAYS. Every few updates it
 * takes a checkpoint the way an engine does:
 *   N = wal_checkpoint(); write the table and N to state.tmp, fsync, rename
 *   it to state, fsync the directory; wal_truncate(N).
 * It recovers the same way an engine does: load state (else an empty table
 * and N = 0), open the log, replay after N applying the PUTs.
 *
 * The parent kills the child with SIGKILL at a random instant, recovers, and
 * checks each counter against the acknowledgments it received: the child is
 * single-threaded, so at most one update (the one in flight) may be in the
 * log without its acknowledgment, and none acknowledged may be missing. It
 * also checks that the log still holds everything after the stored N and
 * nothing at or below a completed truncation. The next round's child goes on
 * from what it recovers itself, so its acknowledged values also prove that
 * it recovered what the parent did. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "crash_util.h"

enum {
    KEYS = 64,
    SEGMENT_SIZE = 4096, /* the minimum: truncation deletes segments often */
    MAX_PUTS_PER_CHECKPOINT = 50,
    KEY_LEN = 3,         /* "k00".."k63" */
    VALUE_LEN = 8,       /* little-endian int64 */
};

#define STATE_MAGIC 0x31455441545357ULL /* "WSTATE1" */

/* The store: the table reflects every PUT up to at least seq n, the
 * checkpoint it was saved at (0 before the first). */
typedef struct {
    uint64_t n;
    int64_t value[KEYS];
} store_t;

/* The state file: the store and a checksum of it. */
typedef struct {
    uint64_t magic;
    store_t store;
    uint64_t checksum;
} state_file_t;

/* What the child reports through the pipe. */
enum { MSG_OPENED, MSG_PUT, MSG_STATE_SAVED, MSG_TRUNCATED };
typedef struct {
    uint64_t seq;   /* of the PUT; N for a checkpoint's messages */
    int64_t value;
    uint32_t kind, key;
} msg_t;

typedef struct {
    char log[4096], state[4096], state_tmp[4096], state_dir[4096];
} paths_t;

/* ---- the store, shared by the child and the parent ---- */

static void encode_put(uint32_t key, int64_t value, char *k, unsigned char *v) {
    snprintf(k, KEY_LEN + 1, "k%02u", key);
    for (int i = 0; i < VALUE_LEN; i++) v[i] = (unsigned char)((uint64_t)value >> (8 * i));
}

/* Decodes a PUT; 0 unless it is exactly what encode_put makes. */
static int decode_put(const wal_record_t *rec, uint32_t *key, int64_t *value) {
    if (rec->key_len != KEY_LEN || rec->value_len != VALUE_LEN || rec->key[0] != 'k') return 0;
    unsigned tens = rec->key[1] - (unsigned)'0', ones = rec->key[2] - (unsigned)'0';
    if (tens > 9 || ones > 9 || tens * 10 + ones >= KEYS) return 0;
    uint64_t v = 0;
    for (int i = 0; i < VALUE_LEN; i++) v |= (uint64_t)rec->value[i] << (8 * i);
    *key = tens * 10 + ones;
    *value = (int64_t)v;
    return 1;
}

/* Loads the saved store; a missing file is an empty store. Returns 0, or -1
 * after printing why the file is unusable. */
static int load_state(const paths_t *p, store_t *store) {
    memset(store, 0, sizeof *store);
    FILE *f = fopen(p->state, "rb");
    if (!f) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, "%s: %s\n", p->state, strerror(errno));
        return -1;
    }
    state_file_t file;
    size_t got = fread(&file, 1, sizeof file, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != sizeof file || extra || file.magic != STATE_MAGIC ||
        file.checksum != cu_hash(&file.store, sizeof file.store)) {
        fprintf(stderr, "%s: damaged state file (%zu bytes)\n", p->state, got);
        return -1;
    }
    *store = file.store;
    return 0;
}

/* Writes the store to state.tmp, fsyncs it, renames it over state and
 * fsyncs the directory. Exits the child on any error. */
static void save_state(const paths_t *p, const store_t *store) {
    state_file_t file;
    memset(&file, 0, sizeof file);
    file.magic = STATE_MAGIC;
    file.store = *store;
    file.checksum = cu_hash(&file.store, sizeof file.store);
    int fd = open(p->state_tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) cu_child_fail_errno("open state.tmp");
    if (write(fd, &file, sizeof file) != (ssize_t)sizeof file) cu_child_fail_errno("write state.tmp");
    if (fsync(fd) != 0) cu_child_fail_errno("fsync state.tmp");
    close(fd);
    if (rename(p->state_tmp, p->state) != 0) cu_child_fail_errno("rename state.tmp");
    int dfd = open(p->state_dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0 || fsync(dfd) != 0) cu_child_fail_errno("fsync the state directory");
    close(dfd);
}

/* The PUT the replay met at one seq, kept by the parent. */
typedef struct {
    uint8_t op;
    uint32_t key;
    int64_t value;
} replayed_t;

typedef struct {
    store_t *store;
    uint64_t next_seq;    /* the seq the next record must have */
    uint64_t last_seq;    /* wal_last_seq: no record may come after it */
    replayed_t *seen;     /* NULL, or seen[seq - store->n - 1] for each record */
    char error[256];
} apply_t;

/* The replay callback: applies PUTs, skips checkpoints, refuses the rest. */
static int apply_record(void *ctx, const wal_record_t *rec) {
    apply_t *a = ctx;
    uint32_t key = 0;
    int64_t value = 0;
    if (rec->seq != a->next_seq || rec->seq > a->last_seq)
        snprintf(a->error, sizeof a->error, "seq %llu replayed where %llu was expected "
                 "(wal_last_seq %llu)", (unsigned long long)rec->seq,
                 (unsigned long long)a->next_seq, (unsigned long long)a->last_seq);
    else if (rec->op == WAL_OP_CHECKPOINT && (rec->key_len || rec->value_len))
        snprintf(a->error, sizeof a->error, "seq %llu: checkpoint record with a key or value",
                 (unsigned long long)rec->seq);
    else if (rec->op != WAL_OP_CHECKPOINT &&
             (rec->op != WAL_OP_PUT || !decode_put(rec, &key, &value)))
        snprintf(a->error, sizeof a->error, "seq %llu: unexpected record (op %u, key '%.*s', "
                 "%zu-byte value)", (unsigned long long)rec->seq, rec->op,
                 (int)(rec->key_len < 16 ? rec->key_len : 16), (const char *)rec->key,
                 rec->value_len);
    if (a->error[0]) return 1;
    if (rec->op == WAL_OP_PUT) a->store->value[key] = value;
    if (a->seen) {
        replayed_t r = { rec->op, key, value };
        a->seen[rec->seq - a->store->n - 1] = r;
    }
    a->next_seq++;
    return 0;
}

/* ---- the child ---- */

typedef struct {
    const paths_t *paths;
    uint64_t seed;
    uint32_t round, preallocate;
} round_cfg_t;

static void put(wal_t *w, store_t *store, uint32_t key, int fd) {
    char k[KEY_LEN + 1];
    unsigned char v[VALUE_LEN];
    int64_t value = store->value[key] + 1;
    encode_put(key, value, k, v);
    uint64_t seq = wal_append(w, WAL_OP_PUT, k, KEY_LEN, v, VALUE_LEN);
    if (seq == 0) cu_child_fail("wal_append");
    store->value[key] = value;
    msg_t m = { seq, value, MSG_PUT, key };
    cu_send(fd, &m, sizeof m);
}

static void checkpoint(wal_t *w, store_t *store, const paths_t *p, int fd) {
    uint64_t n = wal_checkpoint(w);
    if (n == 0) cu_child_fail("wal_checkpoint");
    store->n = n;
    save_state(p, store);
    msg_t saved = { n, 0, MSG_STATE_SAVED, 0 };
    cu_send(fd, &saved, sizeof saved);
    if (wal_truncate(w, n) != WAL_OK) cu_child_fail("wal_truncate");
    msg_t truncated = { n, 0, MSG_TRUNCATED, 0 };
    cu_send(fd, &truncated, sizeof truncated);
}

static void child_main(void *ctx, int fd) {
    const round_cfg_t *cfg = ctx;
    store_t store;
    if (load_state(cfg->paths, &store) != 0) _exit(CU_CHILD_FAILED);
    wal_t *w = cu_child_open(cfg->paths->log, SEGMENT_SIZE, cfg->preallocate);
    apply_t a = { &store, store.n ? store.n + 1 : wal_first_seq(w), wal_last_seq(w), NULL, "" };
    int r = wal_replay(w, store.n, apply_record, &a);
    if (a.error[0]) {
        fprintf(stderr, "child: recovery: %s\n", a.error);
        _exit(CU_CHILD_FAILED);
    }
    if (r != WAL_OK) cu_child_fail("wal_replay");
    msg_t opened = { 0, 0, MSG_OPENED, 0 };
    cu_send(fd, &opened, sizeof opened);

    cu_rng_t rng = cu_rng_for(cfg->seed, cfg->round, 1);
    for (;;) {
        for (uint64_t n = cu_range(&rng, 1, MAX_PUTS_PER_CHECKPOINT); n > 0; n--)
            put(w, &store, (uint32_t)cu_range(&rng, 0, KEYS - 1), fd);
        checkpoint(w, &store, cfg->paths, fd);
    }
}

/* ---- the parent ---- */

typedef struct {
    cu_run_t run;
    paths_t paths;
    int64_t acked[KEYS]; /* what the parent knows each counter holds */
    uint64_t last_seq;   /* wal_last_seq at the end of the previous round */
    uint64_t saved;      /* the highest N whose state was saved, in any round */
    uint64_t truncated;  /* the highest N truncated, in any round */
} test_t;

/* What the acknowledgments of one round say. */
typedef struct {
    size_t puts, checkpoints;
    const char *phase;  /* what the child was doing when it died */
    uint64_t put_seq;   /* the highest acknowledged PUT */
} acked_t;

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

/* Each acknowledged PUT takes its counter one up from the last one the
 * parent knows of (so the child recovered what the parent did), seqs go up.
 * Notes what was acknowledged in t and in out. */
static int read_acks(test_t *t, uint32_t round, const msg_t *m, size_t n, acked_t *out) {
    memset(out, 0, sizeof *out);
    out->phase = n == 0 ? "recovering" : m[n - 1].kind == MSG_STATE_SAVED ? "truncating" : "running";
    uint64_t prev_seq = t->last_seq;
    for (size_t i = 0; i < n; i++) {
        if (m[i].kind == MSG_OPENED) continue;
        if (m[i].kind == MSG_TRUNCATED) { /* right after the N it truncates at */
            if (i == 0 || m[i - 1].kind != MSG_STATE_SAVED || m[i].seq != m[i - 1].seq)
                return fail_round(round, "message %zu: truncation at %llu out of place", i,
                                  (unsigned long long)m[i].seq);
            t->truncated = m[i].seq;
            continue;
        }
        if (m[i].seq <= prev_seq)
            return fail_round(round, "message %zu (kind %u) has seq %llu, not above %llu", i,
                              m[i].kind, (unsigned long long)m[i].seq,
                              (unsigned long long)prev_seq);
        if (m[i].kind == MSG_PUT) {
            if (m[i].key >= KEYS || m[i].value != t->acked[m[i].key] + 1)
                return fail_round(round, "PUT at seq %llu set key %u to %lld, not to one past "
                                  "the %lld the parent knew of", (unsigned long long)m[i].seq,
                                  m[i].key, (long long)m[i].value,
                                  (long long)t->acked[m[i].key]);
            t->acked[m[i].key] = m[i].value;
            out->puts++;
            out->put_seq = prev_seq = m[i].seq;
        } else if (m[i].kind == MSG_STATE_SAVED) {
            t->saved = prev_seq = m[i].seq;
            out->checkpoints++;
        } else {
            return fail_round(round, "unexpected message %zu (kind %u, seq %llu)", i,
                              m[i].kind, (unsigned long long)m[i].seq);
        }
    }
    return 0;
}

/* The log bounds after recovery, against the stored N and the acks. */
static int check_bounds(const test_t *t, uint32_t round, wal_t *w, const store_t *s,
                        const acked_t *ack) {
    uint64_t first = wal_first_seq(w), last = wal_last_seq(w);
    if (s->n < t->saved)
        return fail_round(round, "state holds N = %llu, but the state of N = %llu was saved",
                          (unsigned long long)s->n, (unsigned long long)t->saved);
    if (last < s->n || last < ack->put_seq)
        return fail_round(round, "wal_last_seq %llu is below N = %llu or the acknowledged "
                          "seq %llu", (unsigned long long)last, (unsigned long long)s->n,
                          (unsigned long long)ack->put_seq);
    if (first > s->n + 1 || first <= t->truncated)
        return fail_round(round, "wal_first_seq %llu: the log must keep every record after "
                          "N = %llu and none up to the truncated %llu",
                          (unsigned long long)first, (unsigned long long)s->n,
                          (unsigned long long)t->truncated);
    if (first > last) return 0;
    /* A replay from 0 starts at first_seq. */
    wal_iter_t *it = NULL;
    wal_record_t rec;
    memset(&rec, 0, sizeof rec);
    int r = wal_iter_open(w, 0, &it);
    int got = r == WAL_OK ? wal_iter_next(it, &rec) : r;
    wal_iter_close(it);
    if (got != 1 || rec.seq != first)
        return fail_round(round, "iterating from 0 gave %d, seq %llu; wal_first_seq is %llu",
                          got, got == 1 ? (unsigned long long)rec.seq : 0ULL,
                          (unsigned long long)first);
    return 0;
}

/* Replays after N into the store; every acknowledged PUT after N must be
 * there as acknowledged. */
static int replay_after_n(uint32_t round, wal_t *w, store_t *s, const msg_t *m, size_t n) {
    uint64_t last = wal_last_seq(w);
    apply_t a = { s, s->n ? s->n + 1 : wal_first_seq(w), last, NULL, "" };
    a.seen = calloc(last > s->n ? last - s->n : 1, sizeof *a.seen);
    REQUIRE(a.seen != NULL);
    int r = wal_replay(w, s->n, apply_record, &a), bad = 0;
    if (r == WAL_E_RANGE)
        bad = fail_round(round, "wal_replay after N = %llu: WAL_E_RANGE (%s): records the "
                         "state needs are gone", (unsigned long long)s->n,
                         wal_last_error_message());
    else if (a.error[0])
        bad = fail_round(round, "replay after N = %llu: %s", (unsigned long long)s->n, a.error);
    else if (r != WAL_OK)
        bad = fail_round(round, "wal_replay after N = %llu: %d (%s)", (unsigned long long)s->n,
                         r, wal_last_error_message());
    else if (a.next_seq != last + 1)
        bad = fail_round(round, "replay after N = %llu ended at seq %llu, wal_last_seq is %llu",
                         (unsigned long long)s->n, (unsigned long long)a.next_seq - 1,
                         (unsigned long long)last);
    for (size_t i = 0; i < n && !bad; i++) {
        if (m[i].kind != MSG_PUT || m[i].seq <= s->n) continue;
        const replayed_t *got = &a.seen[m[i].seq - s->n - 1];
        if (got->op != WAL_OP_PUT || got->key != m[i].key || got->value != m[i].value)
            bad = fail_round(round, "acknowledged PUT at seq %llu (key %u = %lld) replays as "
                             "op %u, key %u = %lld", (unsigned long long)m[i].seq, m[i].key,
                             (long long)m[i].value, got->op, got->key, (long long)got->value);
    }
    free(a.seen);
    return bad;
}

/* Every counter holds its last acknowledged value, or one more for the one
 * update in flight when the child died. */
static int check_store(uint32_t round, const test_t *t, const store_t *s) {
    int ahead = 0;
    for (int k = 0; k < KEYS; k++) {
        int64_t diff = s->value[k] - t->acked[k];
        if (diff != 0 && diff != 1)
            return fail_round(round, "key %d recovered as %lld; last acknowledged %lld", k,
                              (long long)s->value[k], (long long)t->acked[k]);
        ahead += diff == 1;
    }
    if (ahead > 1)
        return fail_round(round, "%d keys are one past their acknowledged value; only one "
                          "update can be in flight", ahead);
    return 0;
}

/* Truncation deletes the segments it empties: the files stay few, whatever
 * the number of rounds. A crash in the middle of a truncation may leave the
 * segments of up to one checkpoint interval behind. */
static void check_segments(uint32_t round, int segments, uint64_t first, uint64_t last) {
    uint64_t records = last + 1 - first;
    if (segments < 0 || (uint64_t)segments > records + MAX_PUTS_PER_CHECKPOINT + 2)
        fail_round(round, "%d segment files for the %llu records kept: truncation does not "
                   "delete them", segments, (unsigned long long)records);
}

/* Recovers like an engine and checks the result against the acks. */
static void recover_and_check(test_t *t, uint32_t round, unsigned delay_us, const msg_t *m,
                              size_t n) {
    acked_t ack;
    store_t s;
    wal_t *w = NULL;
    if (read_acks(t, round, m, n, &ack) != 0) return;
    if (load_state(&t->paths, &s) != 0) {
        fail_round(round, "the state file cannot be loaded");
        return;
    }
    int r = wal_open(t->paths.log, NULL, &w);
    if (r != WAL_OK) {
        fail_round(round, "wal_open after the crash: %d (%s)", r, wal_last_error_message());
        return;
    }
    uint64_t stored_n = s.n, first = wal_first_seq(w);
    t->last_seq = wal_last_seq(w);
    int segments = tu_segment_count(t->paths.log);
    if (check_bounds(t, round, w, &s, &ack) == 0 && replay_after_n(round, w, &s, m, n) == 0 &&
        check_store(round, t, &s) == 0)
        check_segments(round, segments, first, t->last_seq);
    CHECK(wal_close(w) == WAL_OK);
    memcpy(t->acked, s.value, sizeof t->acked);
    printf("round %2u: preallocate %u, killed after %7.3f ms while %-10s: %4zu PUTs and %3zu "
           "checkpoints acknowledged; N = %6llu, log %llu..%llu in %d segment(s)\n", round,
           round % 2, delay_us / 1000.0, ack.phase,
           ack.puts, ack.checkpoints, (unsigned long long)stored_n, (unsigned long long)first,
           (unsigned long long)t->last_seq, segments);
}

static void run_round(void *ctx, uint32_t round) {
    test_t *t = ctx;
    round_cfg_t cfg = { &t->paths, t->run.seed, round, round % 2 };
    cu_child_t child;
    if (cu_crash_child(&t->run, round, child_main, &cfg, &child) == 0) {
        size_t n;
        const msg_t *m = cu_messages(&child, sizeof(msg_t), &n);
        recover_and_check(t, round, child.delay_us, m, n);
    }
    cu_child_free(&child);
}

int main(void) {
    static test_t t;
    t.run = cu_run_settings("crash_protocol", 40, 25);
    paths_t *p = &t.paths;
    snprintf(p->log, sizeof p->log, "%s/log", t.run.dir);
    snprintf(p->state_dir, sizeof p->state_dir, "%s/engine", t.run.dir);
    snprintf(p->state, sizeof p->state, "%s/engine/state", t.run.dir);
    snprintf(p->state_tmp, sizeof p->state_tmp, "%s/engine/state.tmp", t.run.dir);
    REQUIRE(mkdir(p->state_dir, 0755) == 0);
    cu_run_rounds(&t.run, run_round, &t);
    return tu_finish(t.run.name);
}
