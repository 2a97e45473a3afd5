/* libwal as an engine, through include/wal.h as users call it: durable
 * stores open in WAL_SYNC_ALWAYS, bulk ones in WAL_SYNC_NONE (durable at
 * wal_sync); a batch is one wal_append_batch; the rotation run sets
 * segment_size; the group-commit counters come from wal_stats. */
#include <stdlib.h>

#include "bench.h"
#include "wal.h"

static volatile unsigned sink;

static void die_wal(const char *call) { die_msg("libwal", call, wal_last_error_message()); }

static void *open_with(const char *dir, int durable, uint64_t segment_bytes) {
    wal_options_t o;
    wal_options_init(&o);
    o.sync_mode = durable ? WAL_SYNC_ALWAYS : WAL_SYNC_NONE;
    if (segment_bytes) o.segment_size = segment_bytes;
    wal_t *w;
    if (wal_open(dir, &o, &w) != WAL_OK) die_wal("wal_open");
    return w;
}

static void *lw_open(const char *dir, int durable, int threads) {
    (void)threads;
    return open_with(dir, durable, 0);
}

static void *lw_open_segmented(const char *dir, int threads, uint64_t segment_bytes) {
    (void)threads;
    return open_with(dir, 1, segment_bytes);
}

static int lw_group_stats(void *h, group_stats_t *out) {
    wal_stats_t st;
    if (wal_stats(h, &st) != WAL_OK) die_wal("wal_stats");
    *out = (group_stats_t){st.records_appended, st.syncs, st.group_max, st.sync_us_p50, st.sync_us_p99, st.sync_us_max};
    return 0;
}

static void lw_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    if (n == 1) {
        if (wal_append(h, WAL_OP_PUT, recs->key, recs->key_len, recs->value, recs->value_len) == 0)
            die_wal("wal_append");
        return;
    }
    wal_entry_t e[256];
    if (n > 256) die_msg("libwal", "put", "batches larger than 256 entries are not measured");
    for (size_t i = 0; i < n; i++)
        e[i] = (wal_entry_t){WAL_OP_PUT, recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len};
    if (wal_append_batch(h, e, n) == 0) die_wal("wal_append_batch");
}

static void lw_sync(void *h) {
    if (wal_sync(h) != WAL_OK) die_wal("wal_sync");
}

static int count_record(void *ctx, const wal_record_t *r) {
    (*(uint64_t *)ctx)++;
    if (r->value_len) sink += r->value[0];
    return 0;
}

static uint64_t lw_replay(void *h) {
    uint64_t n = 0;
    if (wal_replay(h, 0, count_record, &n) != WAL_OK) die_wal("wal_replay");
    return n;
}

static void lw_truncate_half(void *h, uint64_t n) {
    if (wal_truncate(h, wal_first_seq(h) - 1 + n / 2) != WAL_OK) die_wal("wal_truncate");
}

static void lw_close(void *h) {
    if (wal_close(h) != WAL_OK) die_wal("wal_close");
}

const engine_t libwal_engine = {
    .name = "libwal",
    .open = lw_open,
    .put = lw_put,
    .sync = lw_sync,
    .replay = lw_replay,
    .truncate_half = lw_truncate_half,
    .close = lw_close,
    .open_segmented = lw_open_segmented,
    .group_stats = lw_group_stats,
};
