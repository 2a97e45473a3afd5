/* okaywal (the Rust WAL crate, crates.io) as a peer, through the C ABI of
 * bench/okaywal/ (a cdylib built by cargo for `make bench`; its src/lib.rs
 * says which okaywal calls each operation makes):
 *
 *   durable put    one entry (begin_entry, a chunk per record, commit: fsync);
 *                  the rotation run sets checkpoint_after_bytes
 *   bulk put       chunks into an open entry, committed per 32 MiB segment
 *   sync           commit the entry in progress
 *   replay         okaywal replays in WriteAheadLog::recover, during open:
 *                  this returns the count that recovery read back
 *   truncate_half  let okaywal checkpoint the whole segments of the first
 *                  half and wait until it has (renamed -cp, directory fsynced)
 *
 * okaywal drops whole segments only, so after a truncate the close (not
 * timed) prints how many records went and reopens the log to check that
 * exactly the others are left. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* bench/okaywal/src/lib.rs (its Rec is rec_t). */
typedef struct okwb okwb_t;
okwb_t *okwb_open(const char *dir, int durable, int threads, uint64_t checkpoint_bytes);
int okwb_put(okwb_t *h, const rec_t *recs, size_t n);
int okwb_sync(okwb_t *h);
uint64_t okwb_recovered(okwb_t *h);
int okwb_truncate_half(okwb_t *h, uint64_t n);
uint64_t okwb_dropped(okwb_t *h);
int okwb_close(okwb_t *h);
const char *okwb_last_error(void);

typedef struct {
    okwb_t *h;
    char *dir;
    uint64_t truncated_of; /* n of truncate_half; 0: not truncated */
} okw_t;

static void die_okw(const char *call) { die_msg("okaywal", call, okwb_last_error()); }

static okwb_t *open_or_die(const char *dir, int durable, int threads, uint64_t checkpoint_bytes) {
    okwb_t *h = okwb_open(dir, durable, threads, checkpoint_bytes);
    if (!h) die_okw("open");
    return h;
}

static void close_or_die(okwb_t *h) {
    if (okwb_close(h) != 0) die_okw("close");
}

static void *open_okw(const char *dir, int durable, int threads, uint64_t checkpoint_bytes) {
    okw_t *o = calloc(1, sizeof *o);
    if (!o || !(o->dir = strdup(dir))) die_os("malloc for", dir);
    o->h = open_or_die(dir, durable, threads, checkpoint_bytes);
    return o;
}

static void *okw_open(const char *dir, int durable, int threads) { return open_okw(dir, durable, threads, 0); }

/* The rotation run: okaywal moves to a new segment (recycling a checkpointed
 * one) every segment_bytes, its checkpoint_after_bytes. */
static void *okw_open_segmented(const char *dir, int threads, uint64_t segment_bytes) {
    return open_okw(dir, 1, threads, segment_bytes);
}

static void okw_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    if (okwb_put(((okw_t *)h)->h, recs, n) != 0) die_okw("put");
}

static void okw_sync(void *h) {
    if (okwb_sync(((okw_t *)h)->h) != 0) die_okw("sync");
}

static uint64_t okw_replay(void *h) { return okwb_recovered(((okw_t *)h)->h); }

static void okw_truncate_half(void *h, uint64_t n) {
    okw_t *o = h;
    if (okwb_truncate_half(o->h, n) != 0) die_okw("truncate_half");
    o->truncated_of = n;
}

static void okw_close(void *h) {
    okw_t *o = h;
    uint64_t dropped = o->truncated_of ? okwb_dropped(o->h) : 0;
    close_or_die(o->h);
    if (o->truncated_of) {
        okwb_t *again = open_or_die(o->dir, 1, 1, 0);
        uint64_t left = okwb_recovered(again);
        close_or_die(again);
        printf("  note: okaywal's truncate dropped %" PRIu64 " of %" PRIu64
               " records (the whole segments in the first half); reopened, %" PRIu64 " left\n",
               dropped, o->truncated_of, left);
        if (left != o->truncated_of - dropped) die_msg("okaywal", "truncate_half left a different count in", o->dir);
    }
    free(o->dir);
    free(o);
}

const engine_t okaywal_engine = {
    .name = "okaywal",
    .open = okw_open,
    .put = okw_put,
    .sync = okw_sync,
    .replay = okw_replay,
    .truncate_half = okw_truncate_half,
    .close = okw_close,
    .open_segmented = okw_open_segmented,
};
