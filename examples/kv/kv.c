/* kv.c: the example storage engine (see kv.h), built on libwal.
 *
 * Files in the store's directory:
 *   wal/          the log; WAL_SYNC_ALWAYS: an append is durable on return
 *   snapshot      every live key at checkpoint N, with N and a checksum
 *   snapshot.tmp  the next snapshot while it is being written
 *
 * In memory, three hash tables, newest first:
 *   active  writes since the last checkpoint froze the table
 *   frozen  the writes a checkpoint is folding into base (empty otherwise)
 *   base    everything older
 * A lookup asks them in that order and the first that knows the key
 * answers; a deleted key is a slot whose value is NULL (a tombstone).
 *
 * Locks, the heart of the protocol (README: "Concurrent writers: the safe
 * order"):
 *   order       writers hold it shared around "append to the log, insert
 *               into active"; kv_checkpoint holds it exclusively while it
 *               freezes active and takes N = wal_checkpoint(). So every
 *               record <= N is in the frozen table, every later one in the
 *               new active table, and none is half-done in between.
 *   tables      guards the tables' contents (lookups, inserts, the merge).
 *   checkpoint  one checkpoint at a time; only a checkpoint changes base.
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np, asprintf */
#include "kv.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

#define SNAPSHOT_MAGIC "kvsnap1\n" /* then N, count, entries, checksum */
#define FNV_INIT 0xcbf29ce484222325ULL

/* ---- errors: say what failed, on which file, and why ---- */

static int fail_os(const char *what, const char *path) {
    fprintf(stderr, "kv: %s %s: %s\n", what, path, strerror(errno));
    return -1;
}

static int fail_wal(const char *call) {
    fprintf(stderr, "kv: %s: %s\n", call, wal_last_error_message());
    return -1;
}

static void *xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "kv: out of memory\n");
        abort();
    }
    return p;
}

/* A NUL-terminated copy of n bytes. */
static char *copy(const void *p, size_t n) {
    char *s = xmalloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* ---- a hash table of strings: open addressing, linear probing ---- */

typedef struct {
    char *key, *value; /* value NULL: the key was deleted */
    size_t key_len;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap, used; /* cap is 0 or a power of two */
} table_t;

/* The slot holding key, or the empty slot where it belongs (cap > 0). */
static slot_t *table_slot(const table_t *t, const char *key, size_t len) {
    size_t i = fnv1a(FNV_INIT, key, len) & (t->cap - 1);
    while (t->slots[i].key && (t->slots[i].key_len != len || memcmp(t->slots[i].key, key, len)))
        i = (i + 1) & (t->cap - 1);
    return &t->slots[i];
}

/* 1 if the table knows key, with *value its value (NULL: deleted). */
static int table_get(const table_t *t, const char *key, size_t len, const char **value) {
    if (t->cap == 0) return 0;
    const slot_t *s = table_slot(t, key, len);
    if (s->key) *value = s->value;
    return s->key != NULL;
}

static void table_grow(table_t *t) {
    table_t bigger = { NULL, t->cap ? 2 * t->cap : 64, t->used };
    bigger.slots = xmalloc(bigger.cap * sizeof(slot_t));
    memset(bigger.slots, 0, bigger.cap * sizeof(slot_t));
    for (size_t i = 0; i < t->cap; i++)
        if (t->slots[i].key) *table_slot(&bigger, t->slots[i].key, t->slots[i].key_len) = t->slots[i];
    free(t->slots);
    *t = bigger;
}

/* Sets key to a copy of value, or marks it deleted when value is NULL. */
static void table_set(table_t *t, const char *key, size_t key_len, const char *value, size_t value_len) {
    if (4 * (t->used + 1) > 3 * t->cap) table_grow(t); /* keep it at most 3/4 full */
    slot_t *s = table_slot(t, key, key_len);
    if (!s->key) {
        s->key = copy(key, key_len);
        s->key_len = key_len;
        t->used++;
    }
    free(s->value);
    s->value = value ? copy(value, value_len) : NULL;
}

static void table_free(table_t *t) {
    for (size_t i = 0; i < t->cap; i++) {
        free(t->slots[i].key);
        free(t->slots[i].value);
    }
    free(t->slots);
    memset(t, 0, sizeof *t);
}

/* Live keys in tables[0..n), newest table first: a key counts once, if its
 * newest version is not a tombstone. */
static size_t count_live(const table_t *const *tables, int n) {
    size_t live = 0;
    const char *v;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < tables[i]->cap; j++) {
            const slot_t *s = &tables[i]->slots[j];
            if (!s->key || !s->value) continue;
            int shadowed = 0;
            for (int k = 0; k < i && !shadowed; k++) shadowed = table_get(tables[k], s->key, s->key_len, &v);
            live += !shadowed;
        }
    return live;
}

/* ---- the store ---- */

struct kv {
    wal_t *wal;
    char *dir, *snapshot_path, *tmp_path;
    pthread_rwlock_t order;
    pthread_mutex_t tables, checkpoint;
    table_t active, frozen, base;
    uint64_t snapshot_n, replayed, checkpoints;
};

/* Makes a rename in dir durable. */
static int sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0 || fsync(fd) != 0) {
        int rc = fail_os("cannot fsync the directory", dir);
        if (fd >= 0) close(fd);
        return rc;
    }
    close(fd);
    return 0;
}

/* Writes bytes to the snapshot and adds them to its checksum. */
static void emit(FILE *f, uint64_t *sum, const void *p, size_t n) {
    fwrite(p, 1, n, f);
    *sum = fnv1a(*sum, p, n);
}

/* Writes base and n to snapshot.tmp, makes that durable, renames it over
 * snapshot and syncs the directory: after a crash there is either the old
 * snapshot or the new one, whole. (Numbers are in the machine's byte order.) */
static int write_snapshot(kv_t *kv, uint64_t n) {
    FILE *f = fopen(kv->tmp_path, "wb");
    if (!f) return fail_os("cannot create", kv->tmp_path);
    const table_t *base = &kv->base;
    uint64_t sum = FNV_INIT, count = count_live(&base, 1);
    emit(f, &sum, SNAPSHOT_MAGIC, 8);
    emit(f, &sum, &n, sizeof n);
    emit(f, &sum, &count, sizeof count);
    for (size_t i = 0; i < base->cap; i++) {
        const slot_t *s = &base->slots[i];
        if (!s->key || !s->value) continue;
        uint32_t len[2] = { (uint32_t)s->key_len, (uint32_t)strlen(s->value) };
        emit(f, &sum, len, sizeof len);
        emit(f, &sum, s->key, len[0]);
        emit(f, &sum, s->value, len[1]);
    }
    fwrite(&sum, sizeof sum, 1, f);
    int ok = fflush(f) == 0 && !ferror(f) && fsync(fileno(f)) == 0;
    if (fclose(f) != 0 || !ok) return fail_os("cannot write", kv->tmp_path);
    if (rename(kv->tmp_path, kv->snapshot_path) != 0) return fail_os("cannot rename to", kv->snapshot_path);
    return sync_dir(kv->dir);
}

/* A cursor over the snapshot's bytes: take n of them, or NULL if fewer remain. */
typedef struct {
    const unsigned char *p, *end;
} cursor_t;

static const void *take(cursor_t *c, size_t n) {
    if ((size_t)(c->end - c->p) < n) return NULL;
    c->p += n;
    return c->p - n;
}

/* Fills base from the snapshot's bytes; 0 if they hold what write_snapshot writes. */
static int parse_snapshot(kv_t *kv, const unsigned char *buf, size_t size) {
    uint64_t sum, count;
    if (size < 32 || memcmp(buf, SNAPSHOT_MAGIC, 8) != 0) return -1;
    memcpy(&sum, buf + size - 8, 8);
    if (sum != fnv1a(FNV_INIT, buf, size - 8)) return -1;
    memcpy(&kv->snapshot_n, buf + 8, 8);
    memcpy(&count, buf + 16, 8);
    cursor_t c = { buf + 24, buf + size - 8 };
    for (uint64_t i = 0; i < count; i++) {
        const void *lens = take(&c, 8), *key, *value;
        uint32_t len[2];
        if (!lens) return -1;
        memcpy(len, lens, sizeof len);
        if (!(key = take(&c, len[0])) || !(value = take(&c, len[1]))) return -1;
        table_set(&kv->base, key, len[0], value, len[1]);
    }
    return c.p == c.end ? 0 : -1;
}

/* Loads the snapshot into base and its N. No snapshot yet: empty, N = 0. */
static int load_snapshot(kv_t *kv) {
    FILE *f = fopen(kv->snapshot_path, "rb");
    if (!f) return errno == ENOENT ? 0 : fail_os("cannot open", kv->snapshot_path);
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return fail_os("cannot stat", kv->snapshot_path);
    }
    unsigned char *buf = xmalloc((size_t)st.st_size);
    errno = EIO; /* what to report if the file shrank under us (no OS error) */
    int rc = fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size ? 0 : fail_os("cannot read", kv->snapshot_path);
    fclose(f);
    if (rc == 0 && parse_snapshot(kv, buf, (size_t)st.st_size) != 0) {
        fprintf(stderr, "kv: %s is damaged (bad magic, length or checksum)\n", kv->snapshot_path);
        rc = -1;
    }
    free(buf);
    return rc;
}

/* The replay callback: re-applies a logged write to the active table. */
static int apply_record(void *ctx, const wal_record_t *r) {
    kv_t *kv = ctx;
    if (r->op == WAL_OP_CHECKPOINT) return 0;
    if (r->op != WAL_OP_PUT && r->op != WAL_OP_DELETE) {
        fprintf(stderr, "kv: log record %llu has op %u, which kv never writes\n", (unsigned long long)r->seq, r->op);
        return 1;
    }
    const char *value = r->op == WAL_OP_DELETE ? NULL : r->value ? (const char *)r->value : "";
    table_set(&kv->active, (const char *)r->key, r->key_len, value, r->value_len);
    kv->replayed++;
    return 0;
}

static void kv_free(kv_t *kv) {
    table_free(&kv->active);
    table_free(&kv->frozen);
    table_free(&kv->base);
    pthread_rwlock_destroy(&kv->order);
    pthread_mutex_destroy(&kv->tables);
    pthread_mutex_destroy(&kv->checkpoint);
    free(kv->dir);
    free(kv->snapshot_path);
    free(kv->tmp_path);
    free(kv);
}

/* Says at startup what the log's recovery found and did: an engine's
 * operator wants to know that the last run ended cleanly, or what a torn
 * write cost. */
static void log_open_report(wal_t *w, const char *log_dir) {
    wal_open_report_t rep;
    if (wal_open_report(w, &rep) != WAL_OK) {
        fail_wal("wal_open_report");
        return;
    }
    if (rep.tail_cut)
        fprintf(stderr, "kv: %s: recovery cut %llu bytes of an interrupted write at offset %llu of the newest segment\n",
                log_dir, (unsigned long long)rep.bytes_cut, (unsigned long long)rep.cut_offset);
    if (rep.salvage_dropped_from)
        fprintf(stderr, "kv: %s: salvage dropped the records from seq %llu on\n", log_dir,
                (unsigned long long)rep.salvage_dropped_from);
    if (getenv("KV_VERBOSE"))
        fprintf(stderr, "kv: %s: opened; the last writer %s\n", log_dir,
                rep.clean_close ? "closed it cleanly" : "did not close it (a crash, or a new log)");
}

/* Recovery: the snapshot holds every write up to its N, the log every
 * write after N. */
kv_t *kv_open(const char *dir) {
    kv_t *kv = xmalloc(sizeof *kv);
    memset(kv, 0, sizeof *kv);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    /* Writers hold `order` shared all the time: prefer the checkpoint's
     * exclusive request, or it could wait forever. */
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&kv->order, &attr);
    pthread_rwlockattr_destroy(&attr);
    pthread_mutex_init(&kv->tables, NULL);
    pthread_mutex_init(&kv->checkpoint, NULL);
    kv->dir = copy(dir, strlen(dir));
    char *log_dir = NULL;
    if (asprintf(&kv->snapshot_path, "%s/snapshot", dir) < 0 || asprintf(&kv->tmp_path, "%s/snapshot.tmp", dir) < 0 ||
        asprintf(&log_dir, "%s/wal", dir) < 0) {
        fprintf(stderr, "kv: out of memory\n");
        abort();
    }

    wal_options_t opts;
    wal_options_init(&opts);      /* WAL_SYNC_ALWAYS: durable when wal_append returns */
    opts.segment_size = 256 << 10; /* small segments: truncation frees space sooner */
    int rc = mkdir(dir, 0755) != 0 && errno != EEXIST ? fail_os("cannot create", dir) : load_snapshot(kv);
    if (rc == 0 && wal_open(log_dir, &opts, &kv->wal) != WAL_OK) rc = fail_wal("wal_open");
    if (rc == 0) log_open_report(kv->wal, log_dir);
    if (rc == 0) {
        int r = wal_replay(kv->wal, kv->snapshot_n, apply_record, kv);
        if (r == WAL_E_RANGE && wal_last_seq(kv->wal) < kv->snapshot_n) {
            /* The snapshot covers records the log does not have: this is
             * not the log the snapshot was taken with, or it lost them.
             * Going on would hand out seqs the snapshot already holds. */
            fprintf(stderr, "kv: the snapshot holds records up to %llu but %s ends at %llu: wrong or lost log\n",
                    (unsigned long long)kv->snapshot_n, log_dir, (unsigned long long)wal_last_seq(kv->wal));
            rc = -1;
        } else if (r < 0) rc = fail_wal("wal_replay");
        else if (r > 0) rc = -1; /* apply_record said why */
    }
    free(log_dir);
    if (rc != 0) {
        wal_close(kv->wal);
        kv_free(kv);
        return NULL;
    }
    return kv;
}

/* A write: log it, then apply it, as one step under the shared order lock. */
static int write_record(kv_t *kv, uint8_t op, const char *key, const char *value) {
    size_t key_len = strlen(key), value_len = value ? strlen(value) : 0;
    pthread_rwlock_rdlock(&kv->order);
    uint64_t seq = wal_append(kv->wal, op, key, key_len, value, value_len);
    if (seq != 0) {
        pthread_mutex_lock(&kv->tables);
        table_set(&kv->active, key, key_len, value, value_len);
        pthread_mutex_unlock(&kv->tables);
    }
    pthread_rwlock_unlock(&kv->order);
    return seq != 0 ? 0 : fail_wal("wal_append");
}

int kv_put(kv_t *kv, const char *key, const char *value) { return write_record(kv, WAL_OP_PUT, key, value); }

int kv_delete(kv_t *kv, const char *key) { return write_record(kv, WAL_OP_DELETE, key, NULL); }

char *kv_get(kv_t *kv, const char *key) {
    size_t len = strlen(key);
    const char *value = NULL;
    pthread_mutex_lock(&kv->tables);
    if (!table_get(&kv->active, key, len, &value) && !table_get(&kv->frozen, key, len, &value))
        table_get(&kv->base, key, len, &value);
    char *result = value ? copy(value, strlen(value)) : NULL;
    pthread_mutex_unlock(&kv->tables);
    return result;
}

int kv_checkpoint(kv_t *kv) {
    pthread_mutex_lock(&kv->checkpoint);
    /* 1. Freeze the active table and take N at the same point. */
    pthread_rwlock_wrlock(&kv->order);
    pthread_mutex_lock(&kv->tables);
    kv->frozen = kv->active;
    memset(&kv->active, 0, sizeof kv->active);
    pthread_mutex_unlock(&kv->tables);
    uint64_t n = wal_checkpoint(kv->wal);
    pthread_rwlock_unlock(&kv->order);
    int rc = n != 0 ? 0 : fail_wal("wal_checkpoint");

    /* 2. Fold the frozen writes into base, which then holds the state at N.
     *    (Writers go on meanwhile, into the new active table.) */
    pthread_mutex_lock(&kv->tables);
    for (size_t i = 0; i < kv->frozen.cap; i++) {
        const slot_t *s = &kv->frozen.slots[i];
        if (s->key) table_set(&kv->base, s->key, s->key_len, s->value, s->value ? strlen(s->value) : 0);
    }
    table_free(&kv->frozen);
    pthread_mutex_unlock(&kv->tables);

    /* 3. Store base with N durably; 4. only then drop the log up to N. */
    if (rc == 0) rc = write_snapshot(kv, n);
    if (rc == 0 && wal_truncate(kv->wal, n) != WAL_OK) rc = fail_wal("wal_truncate");
    if (rc == 0) {
        kv->snapshot_n = n;
        kv->checkpoints++;
    }
    pthread_mutex_unlock(&kv->checkpoint);
    return rc;
}

void kv_stats(kv_t *kv, kv_stats_t *out) {
    pthread_mutex_lock(&kv->checkpoint);
    pthread_mutex_lock(&kv->tables);
    const table_t *tables[3] = { &kv->active, &kv->frozen, &kv->base };
    out->keys = count_live(tables, 3);
    pthread_mutex_unlock(&kv->tables);
    out->snapshot_n = kv->snapshot_n;
    out->replayed = kv->replayed;
    out->checkpoints = kv->checkpoints;
    out->first_seq = wal_first_seq(kv->wal);
    out->last_seq = wal_last_seq(kv->wal);
    pthread_mutex_unlock(&kv->checkpoint);
}

int kv_close(kv_t *kv) {
    int rc = wal_close(kv->wal) == WAL_OK ? 0 : fail_wal("wal_close");
    kv_free(kv);
    return rc;
}
