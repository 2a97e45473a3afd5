/* The replica: tells the primary where its log ends, then appends each
 * record it receives to its own log, checking that the seqs match, and
 * acknowledges what it has made durable. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "replicate.h"
#include "wal.h"
#include "wire.h"

enum {
    SEGMENT_SIZE = 1 << 20,
    ACK_EVERY = 256, /* records between two syncs and acks, at most */
    CONNECT_TIMEOUT_MS = 10000,
};

typedef struct {
    wal_t *w;
    conn_t *c;
    rep_shared_t *shared;
    uint64_t last;    /* the log's last seq */
    uint64_t pending; /* records appended since the last ack */
} replica_t;

/* Makes what was appended durable and says so to the primary. */
static int acknowledge(replica_t *r) {
    if (wal_sync(r->w) != WAL_OK) {
        complain("wal_sync: %s", wal_last_error_message());
        return -1;
    }
    uint64_t durable = wal_durable_seq(r->w);
    if (conn_put_u64_frame(r->c, FRAME_ACK, durable) != 0 || conn_flush(r->c) != 0) {
        complain("%s", r->c->why);
        return -1;
    }
    r->pending = 0;
    r->shared->replica_acked = durable;
    return 0;
}

/* Applies the RECORD frame at the front of the buffer (whole). */
static int apply_record(replica_t *r, uint64_t seq, uint8_t op, size_t key_len, size_t value_len) {
    const uint8_t *key = conn_peek(r->c) + RECORD_HEADER_SIZE, *value = key + key_len;
    if (seq != r->last + 1) {
        complain("the primary sent seq %" PRIu64 ", but this log ends at seq %" PRIu64, seq, r->last);
        return -1;
    }
    uint64_t got;
    if (op == WAL_OP_CHECKPOINT) { /* reserved for wal_checkpoint, which writes the same record */
        if (key_len != 0 || value_len != 0) {
            complain("the primary sent a checkpoint record with a key or value at seq %" PRIu64, seq);
            return -1;
        }
        got = wal_checkpoint(r->w);
    } else {
        got = wal_append(r->w, op, key, key_len, value, value_len);
    }
    if (got == 0) {
        complain("appending seq %" PRIu64 ": %s", seq, wal_last_error_message());
        return -1;
    }
    if (got != seq) {
        complain("the record the primary numbered %" PRIu64 " got seq %" PRIu64 " here", seq, got);
        return -1;
    }
    r->last = got;
    r->pending++;
    return 0;
}

/* Reads and applies one frame. 1: go on; 0: the primary is done; -1: failed. */
static int next_frame(replica_t *r) {
    conn_t *c = r->c;
    if (conn_need(c, 1) != 0) goto lost;
    switch (conn_peek(c)[0]) {
    case FRAME_RECORD: {
        if (conn_need(c, RECORD_HEADER_SIZE) != 0) goto lost;
        const uint8_t *h = conn_peek(c);
        uint64_t seq = get_be64(h + 1);
        uint8_t op = h[9];
        size_t key_len = get_be32(h + 10), value_len = get_be32(h + 14);
        if (key_len + value_len > WAL_MAX_RECORD_SIZE) { /* checked before reserving room for it */
            complain("the primary sent a record of %zu bytes at seq %" PRIu64 ", above WAL_MAX_RECORD_SIZE",
                     key_len + value_len, seq);
            return -1;
        }
        if (conn_need(c, RECORD_HEADER_SIZE + key_len + value_len) != 0) goto lost;
        if (apply_record(r, seq, op, key_len, value_len) != 0) return -1;
        conn_consume(c, RECORD_HEADER_SIZE + key_len + value_len);
        /* Acknowledge when the primary has nothing more queued for us, or
         * every ACK_EVERY records: one sync for many records. */
        if (conn_poll_in(c) != 0) goto lost;
        if ((conn_avail(c) == 0 || r->pending >= ACK_EVERY) && acknowledge(r) != 0) return -1;
        return 1;
    }
    case FRAME_BEAT:
        if (conn_need(c, BEAT_SIZE) != 0) goto lost;
        conn_consume(c, BEAT_SIZE);
        return r->pending > 0 && acknowledge(r) != 0 ? -1 : 1;
    case FRAME_END: {
        if (conn_need(c, END_SIZE) != 0) goto lost;
        uint64_t end = get_be64(conn_peek(c) + 1);
        conn_consume(c, END_SIZE);
        if (end != r->last) {
            complain("the primary's log ends at seq %" PRIu64 ", this one at %" PRIu64, end, r->last);
            return -1;
        }
        return acknowledge(r) != 0 ? -1 : 0;
    }
    case FRAME_REFUSE: {
        if (conn_need(c, 3) != 0) goto lost;
        size_t len = (size_t)conn_peek(c)[1] << 8 | conn_peek(c)[2];
        if (conn_need(c, 3 + len) != 0) goto lost;
        complain("the primary refused this replica: %.*s", (int)len, (const char *)conn_peek(c) + 3);
        return -1;
    }
    default:
        complain("the primary sent a frame of unknown type 0x%02x", conn_peek(c)[0]);
        return -1;
    }
lost:
    complain("%s", c->why);
    return -1;
}

static int follow(replica_t *r, uint16_t port) {
    int fd = connect_loopback(port, CONNECT_TIMEOUT_MS);
    if (fd < 0) return -1;
    conn_t c;
    r->c = &c;
    uint8_t hello[HELLO_SIZE];
    memcpy(hello, "WREP", 4);
    hello[4] = PROTOCOL_VERSION;
    put_be64(hello + 5, r->last); /* resume after what this log holds */
    int rc = conn_init(&c, fd, "the primary") == 0 && conn_put(&c, hello, sizeof hello) == 0 && conn_flush(&c) == 0
                 ? 1 : -1;
    if (rc < 0) complain("%s", c.why);
    while (rc == 1) rc = next_frame(r);
    conn_free(&c);
    return rc;
}

int replica_run(const char *dir, uint16_t port, rep_shared_t *shared) {
    rep_role = "replica";
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    o.sync_mode = WAL_SYNC_NONE; /* it syncs before each ack */
    replica_t r = {.shared = shared};
    if (wal_open(dir, &o, &r.w) != WAL_OK) {
        complain("cannot open the log: %s", wal_last_error_message());
        return 1;
    }
    wal_open_report_t report;
    if (wal_open_report(r.w, &report) != WAL_OK) memset(&report, 0, sizeof report);
    r.last = wal_last_seq(r.w);
    say("log %s: last seq %" PRIu64 "%s; resuming after it", dir, r.last,
        r.last == 0 ? " (a new log)"
        : report.clean_close ? " (closed cleanly)"
        : report.tail_cut ? " (not closed cleanly; open cut a torn tail)"
                          : " (not closed cleanly; nothing to cut)");
    shared->replica_resumed = r.last;
    shared->replica_started = 1;
    int rc = follow(&r, port);
    if (rc == 0) say("caught up at seq %" PRIu64 ", where the primary's log ends", r.last);
    if (wal_close(r.w) != WAL_OK) {
        complain("wal_close: %s", wal_last_error_message());
        rc = -1;
    }
    return rc != 0;
}
