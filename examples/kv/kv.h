/* kv: a small key-value store on top of libwal, the example storage engine.
 *
 * Every write is appended to the log (durable when it returns) and then
 * applied to an in-memory table. kv_checkpoint writes the whole table to a
 * snapshot file and truncates the log; kv_open loads the snapshot and
 * replays the log records after it. Any number of threads may call kv_put,
 * kv_delete, kv_get and kv_checkpoint at once.
 *
 * Functions that can fail return 0 on success and -1 on failure, after
 * printing to stderr what failed (the file and the OS error, or libwal's
 * message). */
#ifndef KV_H
#define KV_H

#include <stddef.h>
#include <stdint.h>

typedef struct kv kv_t;

typedef struct {
    size_t keys;         /* live keys now */
    uint64_t snapshot_n; /* the checkpoint seq N of the newest snapshot (0: none) */
    uint64_t replayed;   /* log records applied by kv_open's recovery */
    uint64_t checkpoints;/* kv_checkpoint calls that succeeded since kv_open */
    uint64_t first_seq;  /* the log's wal_first_seq and wal_last_seq */
    uint64_t last_seq;
} kv_stats_t;

/* Opens (creating it if needed) the store in directory `dir` and recovers
 * it. Returns NULL on failure. */
kv_t *kv_open(const char *dir);

/* Stores value under key, or removes key; durable when they return 0. */
int kv_put(kv_t *kv, const char *key, const char *value);
int kv_delete(kv_t *kv, const char *key);

/* A malloc'ed copy of key's value (free it), or NULL if key is absent. */
char *kv_get(kv_t *kv, const char *key);

/* Persists the table in a snapshot and drops the log records it covers. */
int kv_checkpoint(kv_t *kv);

void kv_stats(kv_t *kv, kv_stats_t *out);

/* Closes the log (syncing it) and frees the store; -1 if the sync failed. */
int kv_close(kv_t *kv);

#endif
