/* Two logs hold the same records: same first and last seq, and record by
 * record the same seq, op, key and value. Both are opened read-only. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "replicate.h"
#include "wal.h"
#include "wire.h"

static wal_t *open_read_only(const char *dir) {
    wal_options_t o;
    wal_options_init(&o);
    o.read_only = 1;
    o.create_if_missing = 0;
    wal_t *w = NULL;
    if (wal_open(dir, &o, &w) != WAL_OK) complain("cannot open %s: %s", dir, wal_last_error_message());
    return w;
}

static int same(const wal_record_t *x, const wal_record_t *y) {
    return x->seq == y->seq && x->op == y->op && x->key_len == y->key_len && x->value_len == y->value_len &&
           (x->key_len == 0 || memcmp(x->key, y->key, x->key_len) == 0) &&
           (x->value_len == 0 || memcmp(x->value, y->value, x->value_len) == 0);
}

/* Walks both logs in step; 0 when they match to the end. */
static int compare_records(wal_t *a, wal_t *b, const char *name_a, const char *name_b) {
    wal_iter_t *ia = NULL, *ib = NULL;
    int rc = 1;
    uint64_t records = 0, checkpoints = 0, bytes = 0;
    if (wal_iter_open(a, 0, &ia) != WAL_OK || wal_iter_open(b, 0, &ib) != WAL_OK) {
        complain("cannot read: %s", wal_last_error_message());
        goto out;
    }
    for (;;) {
        wal_record_t x, y;
        int got_a = wal_iter_next(ia, &x);
        if (got_a < 0) {
            complain("reading %s: %s", name_a, wal_last_error_message());
            goto out;
        }
        int got_b = wal_iter_next(ib, &y);
        if (got_b < 0) {
            complain("reading %s: %s", name_b, wal_last_error_message());
            goto out;
        }
        if (got_a == 0 && got_b == 0) break;
        if (got_a == 0 || got_b == 0) {
            complain("%s ends after %" PRIu64 " records, the other goes on", got_a == 0 ? name_a : name_b, records);
            goto out;
        }
        if (!same(&x, &y)) {
            complain("record %" PRIu64 " differs: seq %" PRIu64 " op %u key %zu B value %zu B in %s; seq %" PRIu64
                     " op %u key %zu B value %zu B in %s", records + 1, x.seq, x.op, x.key_len, x.value_len, name_a,
                     y.seq, y.op, y.key_len, y.value_len, name_b);
            goto out;
        }
        records++;
        checkpoints += x.op == WAL_OP_CHECKPOINT;
        bytes += x.key_len + x.value_len;
    }
    say("equal: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 " (%" PRIu64 " checkpoints, %.1f MiB of keys and values)",
        records, wal_first_seq(a), wal_last_seq(a), checkpoints, (double)bytes / (1 << 20));
    rc = 0;
out:
    wal_iter_close(ia);
    wal_iter_close(ib);
    return rc;
}

int compare_logs(const char *a, const char *b) {
    wal_t *wa = open_read_only(a), *wb = open_read_only(b);
    int rc = 1;
    if (wa == NULL || wb == NULL) goto out;
    if (wal_first_seq(wa) != wal_first_seq(wb) || wal_last_seq(wa) != wal_last_seq(wb)) {
        complain("%s holds seq %" PRIu64 "..%" PRIu64 ", %s seq %" PRIu64 "..%" PRIu64, a, wal_first_seq(wa),
                 wal_last_seq(wa), b, wal_first_seq(wb), wal_last_seq(wb));
        goto out;
    }
    if (wal_last_seq(wa) == 0) {
        complain("both logs are empty: nothing was replicated");
        goto out;
    }
    rc = compare_records(wa, wb, a, b);
out:
    wal_close(wa);
    wal_close(wb);
    return rc;
}
