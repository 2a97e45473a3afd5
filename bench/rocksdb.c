/* RocksDB (Debian's librocksdb-dev) as a peer. Only its write-ahead log should
 * matter, so the memtable is made large enough (2 GiB) that no workload
 * flushes it and compactions are off. Durable: WriteOptions sync=true (its
 * group commit shares the syncs); bulk: sync=false, then FlushWAL(sync).
 * Replay is a reopen (which recovers the WAL) plus a full scan; truncating
 * the first half is one DeleteRange, synced. */
#include <stdlib.h>

#include <rocksdb/c.h>

#include "bench.h"

typedef struct {
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo, *wo_sync;
    rocksdb_t *db;
} rocks_t;

static void check(char *err, const char *what) {
    if (err) die_msg("rocksdb", what, err);
}

static void *rocks_open(const char *dir, int durable, int threads) {
    (void)threads;
    rocks_t *r = calloc(1, sizeof *r);
    r->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(r->opts, 1);
    rocksdb_options_set_write_buffer_size(r->opts, (size_t)2 << 30);
    rocksdb_options_set_disable_auto_compactions(r->opts, 1);
    r->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo, (unsigned char)durable);
    r->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(r->wo_sync, 1);
    char *err = NULL;
    r->db = rocksdb_open(r->opts, dir, &err);
    check(err, dir);
    return r;
}

static void rocks_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    rocks_t *r = h;
    char *err = NULL;
    if (n == 1) {
        rocksdb_put(r->db, r->wo, recs->key, recs->key_len, recs->value, recs->value_len, &err);
        check(err, "put");
        return;
    }
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    for (size_t i = 0; i < n; i++)
        rocksdb_writebatch_put(b, recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len);
    rocksdb_write(r->db, r->wo, b, &err);
    check(err, "write batch");
    rocksdb_writebatch_destroy(b);
}

static void rocks_sync(void *h) {
    char *err = NULL;
    rocksdb_flush_wal(((rocks_t *)h)->db, 1, &err);
    check(err, "flush_wal");
}

static uint64_t rocks_replay(void *h) {
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_iterator_t *it = rocksdb_create_iterator(((rocks_t *)h)->db, ro);
    uint64_t n = 0;
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t len;
        rocksdb_iter_value(it, &len);
        n++;
    }
    char *err = NULL;
    rocksdb_iter_get_error(it, &err);
    check(err, "iterate");
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return n;
}

static void rocks_truncate_half(void *h, uint64_t n) {
    rocks_t *r = h;
    char from[KEY_LEN], to[KEY_LEN];
    make_key(from, 0, 0);
    make_key(to, 0, n / 2);
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    rocksdb_writebatch_delete_range(b, from, KEY_LEN, to, KEY_LEN);
    char *err = NULL;
    rocksdb_write(r->db, r->wo_sync, b, &err);
    check(err, "delete range");
    rocksdb_writebatch_destroy(b);
}

static void rocks_close(void *h) {
    rocks_t *r = h;
    rocksdb_close(r->db);
    rocksdb_writeoptions_destroy(r->wo);
    rocksdb_writeoptions_destroy(r->wo_sync);
    rocksdb_options_destroy(r->opts);
    free(r);
}

const engine_t rocksdb_engine = {
    .name = "RocksDB",
    .open = rocks_open,
    .put = rocks_put,
    .sync = rocks_sync,
    .replay = rocks_replay,
    .truncate_half = rocks_truncate_half,
    .close = rocks_close,
};
