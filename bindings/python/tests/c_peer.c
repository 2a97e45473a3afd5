/* The C side of the Python interop tests: writes a known log for Python to
 * read, or verifies the one Python wrote. Both sides build the same records
 * (see expected_record in conftest.py):
 *   seqs 1..20    single appends, seqs 21..30 one batch, seq 31 a checkpoint;
 *   record i: op 1 + i % 3, key "key-<i>", value (i * 37) % 300 bytes with
 *   byte j = (i * 7 + j) & 0xff (so values hold NULs).
 * Usage: c_peer write DIR | c_peer verify DIR. Exit 0 on success. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wal.h"

#define SINGLES 20
#define BATCH 10
#define LAST (SINGLES + BATCH + 1)

typedef struct {
    unsigned char op;
    char key[32];
    size_t key_len;
    unsigned char value[300];
    size_t value_len;
} expected_t;

static expected_t expected(unsigned i) {
    expected_t e;
    e.op = (unsigned char)(1 + i % 3);
    e.key_len = (size_t)snprintf(e.key, sizeof e.key, "key-%u", i);
    e.value_len = (i * 37) % 300;
    for (size_t j = 0; j < e.value_len; j++) e.value[j] = (unsigned char)((i * 7 + j) & 0xff);
    return e;
}

static int fail(const char *what) {
    fprintf(stderr, "c_peer: %s: %s (%d): %s\n", what, wal_strerror(wal_last_error()),
            wal_last_error(), wal_last_error_message());
    return 1;
}

static int write_log(wal_t *w) {
    for (unsigned i = 1; i <= SINGLES; i++) {
        expected_t e = expected(i);
        if (wal_append(w, e.op, e.key, e.key_len, e.value, e.value_len) != i)
            return fail("wal_append");
    }
    expected_t es[BATCH];
    wal_entry_t batch[BATCH];
    for (unsigned k = 0; k < BATCH; k++) {
        es[k] = expected(SINGLES + 1 + k);
        batch[k] = (wal_entry_t){es[k].op, es[k].key, es[k].key_len, es[k].value, es[k].value_len};
    }
    if (wal_append_batch(w, batch, BATCH) != SINGLES + BATCH) return fail("wal_append_batch");
    if (wal_checkpoint(w) != LAST) return fail("wal_checkpoint");
    return 0;
}

static int same(const wal_record_t *r, unsigned char op, const void *key, size_t key_len,
                const void *value, size_t value_len) {
    return r->op == op && r->key_len == key_len && r->value_len == value_len &&
           (key_len == 0 || memcmp(r->key, key, key_len) == 0) &&
           (value_len == 0 || memcmp(r->value, value, value_len) == 0);
}

static int verify_log(wal_t *w) {
    wal_iter_t *it;
    if (wal_iter_open(w, 0, &it) != WAL_OK) return fail("wal_iter_open");
    wal_record_t r;
    unsigned seen = 0;
    int rc;
    while ((rc = wal_iter_next(it, &r)) == 1) {
        seen++;
        expected_t e = expected(seen);
        int ok = r.seq == seen && (seen == LAST
                     ? same(&r, WAL_OP_CHECKPOINT, NULL, 0, NULL, 0)
                     : same(&r, e.op, e.key, e.key_len, e.value, e.value_len));
        if (!ok) {
            fprintf(stderr, "c_peer: record %u (seq %llu, op %u) differs\n", seen,
                    (unsigned long long)r.seq, (unsigned)r.op);
            wal_iter_close(it);
            return 1;
        }
    }
    wal_iter_close(it);
    if (rc != 0) return fail("wal_iter_next");
    if (seen != LAST) {
        fprintf(stderr, "c_peer: %u records, expected %u\n", seen, LAST);
        return 1;
    }
    printf("verified %u records\n", seen);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "write") != 0 && strcmp(argv[1], "verify") != 0)) {
        fprintf(stderr, "usage: c_peer write|verify DIR\n");
        return 2;
    }
    int writing = strcmp(argv[1], "write") == 0;
    wal_options_t opts;
    wal_options_init(&opts);
    opts.segment_size = 4096; /* several segments */
    opts.read_only = !writing;
    opts.create_if_missing = writing;
    wal_t *w;
    if (wal_open(argv[2], &opts, &w) != WAL_OK) return fail("wal_open");
    int rc = writing ? write_log(w) : verify_log(w);
    if (wal_close(w) != WAL_OK && rc == 0) rc = fail("wal_close");
    return rc;
}
