/* SQLite (Debian's libsqlite3-dev) in WAL mode as a peer: one table
 * log(k BLOB, v BLOB), one INSERT per record through a prepared statement,
 * each its own transaction (a batch: BEGIN IMMEDIATE .. COMMIT). Durable:
 * synchronous=FULL; bulk: synchronous=OFF, then synchronous=FULL and one
 * wal_checkpoint(FULL), which syncs the WAL and the database file. Threads
 * share one connection and take turns (SQLite has one writer at a time; a
 * connection per thread was much slower here, as writers waiting for the
 * lock sleep in the busy handler). */
#include <pthread.h>
#include <stdlib.h>

#include <sqlite3.h>

#include "bench.h"

typedef struct {
    char *path;
    sqlite3 *db;
    sqlite3_stmt *insert;
    pthread_mutex_t lock; /* one statement, one transaction at a time */
} lite_t;

static void check(sqlite3 *db, int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) die_msg("sqlite", what, sqlite3_errmsg(db));
}

static void exec(sqlite3 *db, const char *sql) { check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql); }

static void *lite_open(const char *dir, int durable, int threads) {
    (void)threads;
    lite_t *l = calloc(1, sizeof *l);
    make_dir(dir);
    l->path = path_join(dir, "db");
    pthread_mutex_init(&l->lock, NULL);
    if (sqlite3_open(l->path, &l->db) != SQLITE_OK) die_msg("sqlite", l->path, sqlite3_errmsg(l->db));
    exec(l->db, "PRAGMA journal_mode=WAL");
    exec(l->db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
    exec(l->db, "CREATE TABLE IF NOT EXISTS log(k BLOB, v BLOB)");
    check(l->db, sqlite3_prepare_v2(l->db, "INSERT INTO log VALUES (?, ?)", -1, &l->insert, NULL), "prepare");
    return l;
}

static void insert(lite_t *l, const rec_t *r) {
    sqlite3_bind_blob(l->insert, 1, r->key, (int)r->key_len, SQLITE_STATIC);
    sqlite3_bind_blob(l->insert, 2, r->value, (int)r->value_len, SQLITE_STATIC);
    check(l->db, sqlite3_step(l->insert), "insert");
    sqlite3_reset(l->insert);
}

static void lite_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    lite_t *l = h;
    pthread_mutex_lock(&l->lock);
    if (n > 1) exec(l->db, "BEGIN IMMEDIATE");
    for (size_t i = 0; i < n; i++) insert(l, &recs[i]);
    if (n > 1) exec(l->db, "COMMIT");
    pthread_mutex_unlock(&l->lock);
}

static void lite_sync(void *h) {
    lite_t *l = h;
    exec(l->db, "PRAGMA synchronous=FULL");
    exec(l->db, "PRAGMA wal_checkpoint(FULL)");
}

static uint64_t lite_replay(void *h) {
    lite_t *l = h;
    sqlite3_stmt *st;
    check(l->db, sqlite3_prepare_v2(l->db, "SELECT k, v FROM log ORDER BY rowid", -1, &st, NULL), "select");
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_column_blob(st, 1);
        n++;
    }
    check(l->db, rc, "select");
    sqlite3_finalize(st);
    return n;
}

static void lite_truncate_half(void *h, uint64_t n) {
    lite_t *l = h;
    sqlite3_stmt *st;
    check(l->db, sqlite3_prepare_v2(l->db,
        "DELETE FROM log WHERE rowid < (SELECT MIN(rowid) FROM log) + ?", -1, &st, NULL), "prepare delete");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(n / 2));
    check(l->db, sqlite3_step(st), "delete");
    sqlite3_finalize(st);
}

static void lite_close(void *h) {
    lite_t *l = h;
    sqlite3_finalize(l->insert);
    check(l->db, sqlite3_close(l->db), "close");
    pthread_mutex_destroy(&l->lock);
    free(l->path);
    free(l);
}

const engine_t sqlite_engine = {
    .name = "SQLite",
    .open = lite_open,
    .put = lite_put,
    .sync = lite_sync,
    .replay = lite_replay,
    .truncate_half = lite_truncate_half,
    .close = lite_close,
};
