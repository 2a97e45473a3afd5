/* LevelDB (Debian's libleveldb-dev, C API leveldb/c.h) as a peer. As with
 * RocksDB, the memtable is made large so that writes measure its log: 1 GiB,
 * LevelDB's maximum (a larger value wraps in its int clamp and becomes the
 * 64 KiB minimum).
 * Durable: sync writes (LevelDB groups concurrent writers into one log
 * record); bulk: sync=false, then one synced empty batch, which syncs the log.
 * Replay is a reopen plus a full scan; LevelDB has no range delete, so the
 * first half goes as one synced batch of deletes. */
#include <stdlib.h>

#include <leveldb/c.h>

#include "bench.h"

typedef struct {
    leveldb_options_t *opts;
    leveldb_writeoptions_t *wo, *wo_sync;
    leveldb_t *db;
} level_t;

static void check(char *err, const char *what) {
    if (err) die_msg("leveldb", what, err);
}

static void *level_open(const char *dir, int durable, int threads) {
    (void)threads;
    level_t *l = calloc(1, sizeof *l);
    l->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(l->opts, 1);
    leveldb_options_set_write_buffer_size(l->opts, (size_t)1 << 30);
    l->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo, (uint8_t)durable);
    l->wo_sync = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(l->wo_sync, 1);
    char *err = NULL;
    l->db = leveldb_open(l->opts, dir, &err);
    check(err, dir);
    return l;
}

static void write_batch(level_t *l, leveldb_writebatch_t *b, const leveldb_writeoptions_t *wo) {
    char *err = NULL;
    leveldb_write(l->db, wo, b, &err);
    check(err, "write batch");
    leveldb_writebatch_destroy(b);
}

static void level_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    level_t *l = h;
    if (n == 1) {
        char *err = NULL;
        leveldb_put(l->db, l->wo, recs->key, recs->key_len, recs->value, recs->value_len, &err);
        check(err, "put");
        return;
    }
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    for (size_t i = 0; i < n; i++)
        leveldb_writebatch_put(b, recs[i].key, recs[i].key_len, recs[i].value, recs[i].value_len);
    write_batch(l, b, l->wo);
}

static void level_sync(void *h) {
    level_t *l = h;
    write_batch(l, leveldb_writebatch_create(), l->wo_sync);
}

static uint64_t level_replay(void *h) {
    leveldb_readoptions_t *ro = leveldb_readoptions_create();
    leveldb_iterator_t *it = leveldb_create_iterator(((level_t *)h)->db, ro);
    uint64_t n = 0;
    for (leveldb_iter_seek_to_first(it); leveldb_iter_valid(it); leveldb_iter_next(it)) {
        size_t len;
        leveldb_iter_value(it, &len);
        n++;
    }
    char *err = NULL;
    leveldb_iter_get_error(it, &err);
    check(err, "iterate");
    leveldb_iter_destroy(it);
    leveldb_readoptions_destroy(ro);
    return n;
}

static void level_truncate_half(void *h, uint64_t n) {
    level_t *l = h;
    leveldb_writebatch_t *b = leveldb_writebatch_create();
    char key[KEY_LEN];
    for (uint64_t i = 0; i < n / 2; i++) {
        make_key(key, 0, i);
        leveldb_writebatch_delete(b, key, KEY_LEN);
    }
    write_batch(l, b, l->wo_sync);
}

static void level_close(void *h) {
    level_t *l = h;
    leveldb_close(l->db);
    leveldb_writeoptions_destroy(l->wo);
    leveldb_writeoptions_destroy(l->wo_sync);
    leveldb_options_destroy(l->opts);
    free(l);
}

const engine_t leveldb_engine = {
    .name = "LevelDB",
    .open = level_open,
    .put = level_put,
    .sync = level_sync,
    .replay = level_replay,
    .truncate_half = level_truncate_half,
    .close = level_close,
};
