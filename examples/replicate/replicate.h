/* Shipping a libwal log to a replica over TCP: what the pieces share.
 *
 * primary.c  appends to its log; a shipper thread tails the same handle
 *            (wal_wait on the durable watermark, a tailing iterator) and
 *            sends each durable record to the replica.
 * replica.c  appends each record it receives to its own log, checks that
 *            the seqs match, syncs and acknowledges; after a restart it
 *            tells the primary its last_seq, and the primary resumes after
 *            it.
 * compare.c  checks that two logs hold the same records.
 * wire.c     the connection: buffered, non-blocking, every wait bounded.
 * main.c     the command line, and `demo`, which runs both processes and
 *            kills the replica once in the middle. */
#ifndef REPLICATE_H
#define REPLICATE_H

#include <stdatomic.h>
#include <stdint.h>

/* What the demo's driver and the two processes tell one another (a shared
 * page in `demo`; the process's own memory when a role is run by hand).
 * Only the driver reads it: the primary and the replica talk over TCP. */
typedef struct {
    _Atomic uint64_t port;            /* the primary's port, once it listens (0 before) */
    _Atomic uint64_t primary_last;    /* the primary's last_seq */
    _Atomic uint64_t primary_acked;   /* the highest seq the replica acknowledged to it */
    _Atomic uint64_t replica_started; /* non-zero once the replica has opened its log */
    _Atomic uint64_t replica_resumed; /* the replica's last_seq when it opened its log */
    _Atomic uint64_t replica_acked;   /* the highest seq the replica made durable and acked */
    _Atomic int stop;                 /* set by the driver: the primary stops appending */
} rep_shared_t;

/* Both return 0 on success, 1 on failure (after saying why on stderr). */
int primary_run(const char *dir, uint64_t max_records, rep_shared_t *shared);
int replica_run(const char *dir, uint16_t port, rep_shared_t *shared);

/* 0 when the logs in a and b hold the same records (seq, op, key, value)
 * and the same first and last seq; says what it found on stdout. */
int compare_logs(const char *a, const char *b);

#endif
