/* SQLite (Debian's libsqlite3-dev) in WAL mode as a peer: one table
 * log(k BLOB, v BLOB), one INSERT per record through a prepared statement,
 * each its own transaction (a batch: BEGIN IMMEDIATE .. COMMIT). Durable:
 * synchronous=FULL; bulk: synchronous=OFF, then synchronous=FULL and one
 * wal_checkpoint(FULL), which syncs the WAL and the database file. Every
 * thread has its own connection, as SQLite requires for concurrent writers
 * (they take turns on the write lock; busy_timeout makes them wait). */
#include <stdlib.h>

#include <sqlite3.h>

#include "bench.h"

typedef struct {
    char *path;
    int threads;
    sqlite3 *db[MAX_THREADS];
    sqlite3_stmt *insert[MAX_THREADS];
} lite_t;

static void check(sqlite3 *db, int rc, const char *what) {
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) die_msg("sqlite", what, sqlite3_errmsg(db));
}

static void exec(sqlite3 *db, const char *sql) { check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql); }

static void *lite_open(const char *dir, int durable, int threads) {
    lite_t *l = calloc(1, sizeof *l);
    make_dir(dir);
    l->path = path_join(dir, "db");
    l->threads = threads;
    for (int t = 0; t < threads; t++) {
        sqlite3 **db = &l->db[t];
        if (sqlite3_open(l->path, db) != SQLITE_OK) die_msg("sqlite", l->path, sqlite3_errmsg(*db));
        check(*db, sqlite3_busy_timeout(*db, 60000), "busy_timeout");
        exec(*db, "PRAGMA journal_mode=WAL");
        exec(*db, durable ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=OFF");
        exec(*db, "CREATE TABLE IF NOT EXISTS log(k BLOB, v BLOB)");
        check(*db, sqlite3_prepare_v2(*db, "INSERT INTO log VALUES (?, ?)", -1, &l->insert[t], NULL), "prepare");
    }
    return l;
}

static void insert(lite_t *l, int tid, const rec_t *r) {
    sqlite3_stmt *st = l->insert[tid];
    sqlite3_bind_blob(st, 1, r->key, (int)r->key_len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, r->value, (int)r->value_len, SQLITE_STATIC);
    check(l->db[tid], sqlite3_step(st), "insert");
    sqlite3_reset(st);
}

static void lite_put(void *h, int tid, const rec_t *recs, size_t n) {
    lite_t *l = h;
    if (n == 1) {
        insert(l, tid, recs);
        return;
    }
    exec(l->db[tid], "BEGIN IMMEDIATE");
    for (size_t i = 0; i < n; i++) insert(l, tid, &recs[i]);
    exec(l->db[tid], "COMMIT");
}

static void lite_sync(void *h) {
    lite_t *l = h;
    exec(l->db[0], "PRAGMA synchronous=FULL");
    exec(l->db[0], "PRAGMA wal_checkpoint(FULL)");
}

static uint64_t lite_replay(void *h) {
    lite_t *l = h;
    sqlite3_stmt *st;
    check(l->db[0], sqlite3_prepare_v2(l->db[0], "SELECT k, v FROM log ORDER BY rowid", -1, &st, NULL), "select");
    uint64_t n = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_column_blob(st, 1);
        n++;
    }
    check(l->db[0], rc, "select");
    sqlite3_finalize(st);
    return n;
}

static void lite_truncate_half(void *h, uint64_t n) {
    lite_t *l = h;
    sqlite3_stmt *st;
    check(l->db[0], sqlite3_prepare_v2(l->db[0],
        "DELETE FROM log WHERE rowid < (SELECT MIN(rowid) FROM log) + ?", -1, &st, NULL), "prepare delete");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)(n / 2));
    check(l->db[0], sqlite3_step(st), "delete");
    sqlite3_finalize(st);
}

static void lite_close(void *h) {
    lite_t *l = h;
    for (int t = 0; t < l->threads; t++) {
        sqlite3_finalize(l->insert[t]);
        check(l->db[t], sqlite3_close(l->db[t]), "close");
    }
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
