/* The README's example: open, append, batch, checkpoint, truncate, reopen,
 * replay, errors, close. `make check` builds and runs it, so it stays true. */
#include <stdio.h>
#include <stdlib.h>
#include "wal.h"

/* Report a failed call: its status code and the calling thread's message. */
static void die(const char *call) {
    fprintf(stderr, "%s failed: %s (%d): %s\n", call,
            wal_strerror(wal_last_error()), wal_last_error(),
            wal_last_error_message());
    exit(1);
}

/* Called for every record after the stored seq, in seq order. */
static int apply(void *ctx, const wal_record_t *r) {
    (void)ctx;
    if (r->op == WAL_OP_CHECKPOINT)
        return 0;                           /* a checkpoint carries no data */
    printf("replay seq %llu op %u %.*s=%.*s\n", (unsigned long long)r->seq,
           (unsigned)r->op, (int)r->key_len, (const char *)r->key,
           (int)r->value_len, (const char *)r->value);
    return 0;                               /* non-zero stops the replay */
}

int main(void) {
    wal_options_t opts;
    wal_options_init(&opts);                /* WAL_SYNC_ALWAYS, WAL_RECOVER_TAIL */
    wal_t *w;
    if (wal_open("demo-wal", &opts, &w) != WAL_OK)
        die("wal_open");

    /* One record: durable when wal_append returns its seq. */
    if (wal_append(w, WAL_OP_PUT, "k1", 2, "v1", 2) == 0)
        die("wal_append");

    /* A batch: after a crash, replay shows both entries or neither. */
    wal_entry_t batch[2] = {
        { WAL_OP_PUT,    "k2", 2, "v2", 2 },
        { WAL_OP_DELETE, "k1", 2, NULL, 0 },
    };
    if (wal_append_batch(w, batch, 2) == 0)
        die("wal_append_batch");

    /* The engine has frozen its state: take N, persist state + N, truncate. */
    uint64_t n = wal_checkpoint(w);
    if (n == 0)
        die("wal_checkpoint");
    /* ... write the frozen state and n durably here ... */
    if (wal_truncate(w, n) != WAL_OK)
        die("wal_truncate");

    if (wal_append(w, WAL_OP_PUT, "k3", 2, "v3", 2) == 0)
        die("wal_append");

    /* Errors: 0 (or a negative code) comes back, the reason is per thread. */
    if (wal_append(w, 0, "x", 1, NULL, 0) == 0)     /* op 0 is reserved */
        printf("refused: %s\n", wal_last_error_message());

    if (wal_close(w) != WAL_OK)
        die("wal_close");

    /* Restart: load the stored state, then replay what comes after n. */
    if (wal_open("demo-wal", &opts, &w) != WAL_OK)
        die("wal_open");
    int rc = wal_replay(w, n, apply, NULL);
    if (rc != WAL_OK)
        die("wal_replay");
    printf("next seq will be %llu\n", (unsigned long long)wal_last_seq(w) + 1);
    if (wal_close(w) != WAL_OK)
        die("wal_close");
    return 0;
}
