/* Helpers shared by test_api.c, test_recovery.c and test_threads.c: checks of
 * status codes, opening and closing with checks, records whose content is
 * derived from their seq (so any read can be verified without a model),
 * reading a log back, and running the scenarios of a test program. */
#ifndef LIBWAL_WAL_SUITE_H
#define LIBWAL_WAL_SUITE_H

#include <inttypes.h>

/* testutil.h and this file define their helpers static: those a test program
 * does not call would trip -Wunused-function under -Werror. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "testutil.h"

/* A test program that runs longer than this is stuck (a deadlock): SIGALRM
 * kills it, which fails it. */
#define SU_TIME_LIMIT_S 120

/* ---- checks ---- */

/* A status code compared with the expected one, both shown by name. */
#define CHECK_RC(actual, expected)                                            \
    do {                                                                      \
        int su_a = (int)(actual), su_e = (int)(expected);                     \
        if (su_a != su_e) {                                                   \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s) "   \
                    "(last error %d: %s)\n", __FILE__, __LINE__, #actual,     \
                    su_a, wal_strerror(su_a), su_e, wal_strerror(su_e),       \
                    wal_last_error(), wal_last_error_message());              \
            tu_failures++;                                                    \
        }                                                                     \
    } while (0)

/* wal_last_error() is code, and wal_last_error_message() says something. */
#define CHECK_LAST_ERROR(code)                                                \
    do {                                                                      \
        CHECK_RC(wal_last_error(), (code));                                   \
        CHECK(wal_last_error_message() != NULL &&                             \
              wal_last_error_message()[0] != '\0');                           \
    } while (0)

/* A call that must fail with code: one returning a seq returns 0 ... */
#define CHECK_FAILS_SEQ(call, code)                                           \
    do {                                                                      \
        CHECK_EQ_U64((call), 0);                                              \
        CHECK_LAST_ERROR(code);                                               \
    } while (0)

/* ... one returning a status returns code. */
#define CHECK_FAILS_RC(call, code)                                            \
    do {                                                                      \
        CHECK_RC((call), (code));                                             \
        CHECK_LAST_ERROR(code);                                               \
    } while (0)

/* Runs a helper that makes checks; when one of them fails, also names the
 * line that called it. */
#define SU_AT(call)                                                           \
    do {                                                                      \
        int su_before = tu_failures;                                          \
        call;                                                                 \
        if (tu_failures != su_before)                                         \
            fprintf(stderr, "  ... in the helper called at %s:%d\n",          \
                    __FILE__, __LINE__);                                      \
    } while (0)

/* ---- running scenarios ---- */

static void su_begin(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    alarm(SU_TIME_LIMIT_S);
}

/* Runs one scenario and names it when one of its checks failed. */
#define SU_RUN(fn)                                                            \
    do {                                                                      \
        int su_before = tu_failures;                                          \
        fn();                                                                 \
        if (tu_failures != su_before)                                         \
            fprintf(stderr, "FAILED: %s (%d check(s))\n", #fn,                \
                    tu_failures - su_before);                                 \
    } while (0)

/* ---- directories and options ---- */

typedef struct {
    char *root;       /* from tu_tmpdir, removed by su_dir_done */
    char path[1024];  /* the log directory: root itself or a path below it */
} su_dir_t;

/* A fresh temporary directory; the log lives in it. */
static su_dir_t su_dir(const char *tag) {
    su_dir_t d;
    d.root = tu_tmpdir(tag);
    snprintf(d.path, sizeof d.path, "%s", d.root);
    return d;
}

/* A fresh temporary directory whose log directory (root/sub) does not exist
 * yet. */
static su_dir_t su_dir_below(const char *tag, const char *sub) {
    su_dir_t d = su_dir(tag);
    snprintf(d.path, sizeof d.path, "%s/%s", d.root, sub);
    return d;
}

static void su_dir_done(su_dir_t *d) {
    tu_rmtree(d->root);
    free(d->root);
    d->root = NULL;
}

static int su_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The first seq of the n-th segment, from its name; 0 when there is none. */
static uint64_t su_segment_first_seq(const char *dir, int n) {
    char path[4096];
    if (tu_segment_path(dir, n, path, sizeof path) != 0) return 0;
    const char *name = strrchr(path, '/');
    return strtoull(name ? name + 1 : path, NULL, 10);
}

/* The defaults, with segment_size when it is not 0. */
static wal_options_t su_opts(uint64_t segment_size) {
    wal_options_t o;
    wal_options_init(&o);
    if (segment_size) o.segment_size = segment_size;
    return o;
}

/* Opens dir; on failure counts a failed check and returns NULL. */
static wal_t *su_open_checked(const char *dir, const wal_options_t *opts) {
    wal_t *w = NULL;
    int rc = wal_open(dir, opts, &w);
    if (rc != WAL_OK || w == NULL) {
        fprintf(stderr, "wal_open(%s) returned %d (%s): %s\n", dir, rc, wal_strerror(rc),
                wal_last_error_message());
        tu_failures++;
        return NULL;
    }
    return w;
}

/* Opens dir; a test cannot go on without it. */
static wal_t *su_open(const char *dir, const wal_options_t *opts) {
    wal_t *w = su_open_checked(dir, opts);
    REQUIRE(w != NULL);
    return w;
}

static void su_close(wal_t *w) { CHECK_RC(wal_close(w), WAL_OK); }

/* wal_open's status, for opens that should fail: a handle it opens anyway
 * is closed again, so the test can go on. */
static int su_open_status(const char *dir, const wal_options_t *opts) {
    wal_t *w = NULL;
    int rc = wal_open(dir, opts, &w);
    if (rc == WAL_OK) wal_close(w);
    return rc;
}

/* ---- records whose content is derived from their seq ---- */

enum { SU_KEY_CAP = 64 };

static uint8_t su_op_for(uint64_t seq) { return (uint8_t)(1 + seq % 254); }

/* The key names the seq and the value's length, so a record can be checked
 * by itself. */
static size_t su_key_for(uint64_t seq, size_t value_len, char *key) {
    return (size_t)snprintf(key, SU_KEY_CAP, "seq=%" PRIu64 ",len=%zu", seq, value_len);
}

static unsigned char su_byte_for(uint64_t seq, size_t i) {
    return (unsigned char)((seq * 131u) ^ (i * 7u) ^ (i >> 8));
}

static void su_value_for(uint64_t seq, unsigned char *value, size_t len) {
    for (size_t i = 0; i < len; i++) value[i] = su_byte_for(seq, i);
}

/* 1 when r holds exactly what su_append_derived writes as r->seq. */
static int su_record_is_derived(const wal_record_t *r) {
    char key[SU_KEY_CAP];
    size_t key_len = su_key_for(r->seq, r->value_len, key);
    if (r->op != su_op_for(r->seq) || r->key_len != key_len || !r->key ||
        memcmp(r->key, key, key_len) != 0)
        return 0;
    if (r->value_len && !r->value) return 0;
    for (size_t i = 0; i < r->value_len; i++)
        if (r->value[i] != su_byte_for(r->seq, i)) return 0;
    return 1;
}

/* Appends the derived record for the next seq (last_seq + 1, stored in
 * *expect) without checking anything: safe in any thread, as long as it is
 * the only one appending. Returns what wal_append returned. */
static uint64_t su_try_append_derived(wal_t *w, size_t value_len, uint64_t *expect) {
    *expect = wal_last_seq(w) + 1;
    char key[SU_KEY_CAP];
    size_t key_len = su_key_for(*expect, value_len, key);
    unsigned char *value = malloc(value_len ? value_len : 1);
    if (!value) return 0;
    su_value_for(*expect, value, value_len);
    uint64_t seq = wal_append(w, su_op_for(*expect), key, key_len, value, value_len);
    free(value);
    return seq;
}

/* Appends the derived record for the next seq and checks it got that seq. */
static uint64_t su_append_derived(wal_t *w, size_t value_len) {
    uint64_t expect;
    uint64_t seq = su_try_append_derived(w, value_len, &expect);
    CHECK_EQ_U64(seq, expect);
    return seq;
}

/* Appends n derived records; returns the last seq. */
static uint64_t su_append_n(wal_t *w, int n, size_t value_len) {
    uint64_t seq = 0;
    for (int i = 0; i < n; i++) seq = su_append_derived(w, value_len);
    return seq;
}

/* ---- reading derived records back ---- */

/* What a read found: how many records, the first and last seq, and whether
 * any was out of order, after a gap, or not what su_append_derived wrote. */
typedef struct {
    uint64_t count, first, last;
    int bad;
} su_scan_t;

static void su_scan_add(su_scan_t *s, const wal_record_t *r) {
    if (s->count == 0) s->first = r->seq;
    else if (r->seq != s->last + 1) {
        if (s->bad++ < 3)
            fprintf(stderr, "  read seq %" PRIu64 " after %" PRIu64 "\n", r->seq, s->last);
    }
    if (!su_record_is_derived(r) && s->bad++ < 3)
        fprintf(stderr, "  record %" PRIu64 " does not hold what was appended\n", r->seq);
    s->last = r->seq;
    s->count++;
}

static int su_scan_cb(void *ctx, const wal_record_t *r) {
    su_scan_add(ctx, r);
    return 0;
}

static int su_scan_replay(wal_t *w, uint64_t after, su_scan_t *s) {
    memset(s, 0, sizeof *s);
    return wal_replay(w, after, su_scan_cb, s);
}

/* Like su_scan_replay through an iterator; returns the status that ended
 * the iteration (WAL_OK at the end, else the error). */
static int su_scan_iter(wal_t *w, uint64_t after, su_scan_t *s) {
    memset(s, 0, sizeof *s);
    wal_iter_t *it = NULL;
    int rc = wal_iter_open(w, after, &it);
    if (rc != WAL_OK) return rc;
    wal_record_t r;
    while ((rc = wal_iter_next(it, &r)) == 1) su_scan_add(s, &r);
    wal_iter_close(it);
    return rc;
}

/* Both a replay and an iteration after `after` return exactly the derived
 * records first..last (none when first > last). */
static void su_expect_derived(wal_t *w, uint64_t after, uint64_t first, uint64_t last) {
    uint64_t want = first <= last ? last - first + 1 : 0;
    for (int pass = 0; pass < 2; pass++) {
        su_scan_t s;
        int rc = pass == 0 ? su_scan_replay(w, after, &s) : su_scan_iter(w, after, &s);
        if (rc != WAL_OK || s.count != want || s.bad ||
            (want && (s.first != first || s.last != last))) {
            fprintf(stderr, "  %s after %" PRIu64 ": status %d (%s), %" PRIu64
                    " records %" PRIu64 "..%" PRIu64 ", %d bad; expected %" PRIu64
                    "..%" PRIu64 "\n", pass == 0 ? "wal_replay" : "iteration", after,
                    rc, wal_strerror(rc), s.count, s.first, s.last, s.bad, first, last);
            tu_failures++;
        }
    }
}

/* Opens dir, checks that it holds the derived records first..last and that
 * first_seq and last_seq say so, closes it. */
static void su_expect_log(const char *dir, const wal_options_t *opts, uint64_t first,
                          uint64_t last) {
    wal_t *w = su_open_checked(dir, opts);
    if (!w) return;
    CHECK_EQ_U64(wal_first_seq(w), first);
    CHECK_EQ_U64(wal_last_seq(w), last);
    su_expect_derived(w, 0, first, last);
    su_close(w);
}

/* ---- reading any records back ---- */

/* A record copied out of the library's buffers. */
typedef struct {
    uint64_t seq;
    uint8_t op;
    unsigned char *key, *value;
    size_t key_len, value_len;
} su_rec_t;

typedef struct {
    su_rec_t *v;
    size_t n, cap;
} su_recs_t;

static unsigned char *su_memdup(const void *p, size_t len) {
    unsigned char *c = malloc(len ? len : 1);
    REQUIRE(c != NULL);
    if (len) memcpy(c, p, len);
    return c;
}

static void su_recs_add(su_recs_t *rs, const wal_record_t *r) {
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? 2 * rs->cap : 16;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        REQUIRE(rs->v != NULL);
    }
    su_rec_t *c = &rs->v[rs->n++];
    c->seq = r->seq;
    c->op = r->op;
    c->key_len = r->key_len;
    c->value_len = r->value_len;
    CHECK(r->key_len == 0 || r->key != NULL);
    CHECK(r->value_len == 0 || r->value != NULL);
    c->key = su_memdup(r->key, r->key ? r->key_len : 0);
    c->value = su_memdup(r->value, r->value ? r->value_len : 0);
}

static void su_recs_free(su_recs_t *rs) {
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].key);
        free(rs->v[i].value);
    }
    free(rs->v);
    memset(rs, 0, sizeof *rs);
}

static int su_collect_cb(void *ctx, const wal_record_t *r) {
    su_recs_add(ctx, r);
    return 0;
}

/* Every record a replay after `after` returns; *out must be empty. */
static int su_collect(wal_t *w, uint64_t after, su_recs_t *out) {
    return wal_replay(w, after, su_collect_cb, out);
}

/* 1 when rec holds op, key and value (a string, or NULL for empty). */
static int su_rec_is(const su_rec_t *rec, uint64_t seq, uint8_t op, const char *key,
                     const char *value) {
    size_t kl = key ? strlen(key) : 0, vl = value ? strlen(value) : 0;
    return rec->seq == seq && rec->op == op && rec->key_len == kl &&
           rec->value_len == vl && memcmp(rec->key, key ? key : "", kl) == 0 &&
           memcmp(rec->value, value ? value : "", vl) == 0;
}

#pragma GCC diagnostic pop

#endif
