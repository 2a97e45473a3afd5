/* The C side of the Go bindings: one wrapper per libwal call that can fail.
 *
 * libwal keeps the last error per OS thread, and a goroutine may move to
 * another thread between two cgo calls, so each wrapper reads the error
 * (code, message and errno) in the same C call as the function that failed
 * and returns it with the result. */
#ifndef GOWAL_SHIM_H
#define GOWAL_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include "wal.h"

typedef struct gowal_result {
    uint64_t value; /* the seq, or wal_iter_next's 1 (a record) / 0 (the end) */
    int code;       /* WAL_OK, or the WAL_E_* code of the failure */
    int os_error;   /* on failure, wal_last_os_error(): the errno, or 0 */
    char *message;  /* on failure, a malloc'd copy of wal_last_error_message()
                       (NULL if out of memory); the caller frees it */
} gowal_result;

gowal_result gowal_open(const char *dir, const wal_options_t *opts, wal_t **out);
gowal_result gowal_close(wal_t *w);
gowal_result gowal_append(wal_t *w, uint8_t op, const void *key, size_t key_len,
                          const void *value, size_t value_len);
gowal_result gowal_append_batch(wal_t *w, const wal_entry_t *entries, size_t count);
gowal_result gowal_checkpoint(wal_t *w);
gowal_result gowal_truncate(wal_t *w, uint64_t upto_seq);
gowal_result gowal_truncate_after(wal_t *w, uint64_t seq);
gowal_result gowal_sync(wal_t *w);
gowal_result gowal_iter_open(wal_t *w, uint64_t after_seq, wal_iter_t **out);
gowal_result gowal_iter_next(wal_iter_t *it, wal_record_t *out);
gowal_result gowal_open_report(wal_t *w, wal_open_report_t *out);
gowal_result gowal_wait(wal_t *w, uint64_t seq, uint32_t durable, int64_t timeout_ms);
gowal_result gowal_stats(wal_t *w, wal_stats_t *out);

#endif
