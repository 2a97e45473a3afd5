#include <stdlib.h>
#include <string.h>
#include "shim.h"

/* Reads the calling thread's error slot right after the call that failed,
 * before anything else can run on this thread. */
static gowal_result failed(int code) {
    gowal_result r = {0, code, wal_last_os_error(), strdup(wal_last_error_message())};
    return r;
}

/* For the calls that return a seq: 0 means failure. */
static gowal_result seq_result(uint64_t seq) {
    if (seq == 0)
        return failed(wal_last_error());
    gowal_result r = {seq, WAL_OK, 0, NULL};
    return r;
}

/* For the calls that return a status: negative means failure. */
static gowal_result status_result(int rc) {
    if (rc < 0)
        return failed(rc);
    gowal_result r = {(uint64_t)rc, WAL_OK, 0, NULL};
    return r;
}

gowal_result gowal_open(const char *dir, const wal_options_t *opts, wal_t **out) {
    return status_result(wal_open(dir, opts, out));
}

gowal_result gowal_close(wal_t *w) {
    return status_result(wal_close(w));
}

gowal_result gowal_append(wal_t *w, uint8_t op, const void *key, size_t key_len,
                          const void *value, size_t value_len) {
    return seq_result(wal_append(w, op, key, key_len, value, value_len));
}

gowal_result gowal_append_batch(wal_t *w, const wal_entry_t *entries, size_t count) {
    return seq_result(wal_append_batch(w, entries, count));
}

gowal_result gowal_checkpoint(wal_t *w) {
    return seq_result(wal_checkpoint(w));
}

gowal_result gowal_truncate(wal_t *w, uint64_t upto_seq) {
    return status_result(wal_truncate(w, upto_seq));
}

gowal_result gowal_truncate_after(wal_t *w, uint64_t seq) {
    return status_result(wal_truncate_after(w, seq));
}

gowal_result gowal_sync(wal_t *w) {
    return status_result(wal_sync(w));
}

gowal_result gowal_iter_open(wal_t *w, uint64_t after_seq, wal_iter_t **out) {
    return status_result(wal_iter_open(w, after_seq, out));
}

gowal_result gowal_iter_next(wal_iter_t *it, wal_record_t *out) {
    return status_result(wal_iter_next(it, out));
}

gowal_result gowal_open_report(wal_t *w, wal_open_report_t *out) {
    return status_result(wal_open_report(w, out));
}

gowal_result gowal_wait(wal_t *w, uint64_t seq, uint32_t durable, int64_t timeout_ms) {
    return status_result(wal_wait(w, seq, durable, timeout_ms));
}

gowal_result gowal_stats(wal_t *w, wal_stats_t *out) {
    return status_result(wal_stats(w, out));
}
