/* The primary: an appender thread writes records to the log while a
 * shipper thread tails the same handle and sends every durable record to
 * the replica, resuming after whatever seq the replica says it has. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replicate.h"
#include "wal.h"
#include "wire.h"

enum {
    SEGMENT_SIZE = 1 << 20,  /* small segments: the stream crosses many rotations */
    SYNC_EVERY = 64,         /* durable lags appended: the shipper waits for durable */
    CHECKPOINT_EVERY = 1000, /* records between two checkpoint records */
    BIG_VALUE = 40 << 10,    /* every 211th record */
    ACCEPT_TIMEOUT_MS = 30000,
    WAIT_SLICE_MS = 100,     /* wal_wait in slices, to look at the connection between */
};

typedef struct {
    wal_t *w;
    rep_shared_t *shared;
    uint64_t max_records;
    int listen_fd;
    atomic_int appender_done; /* set once every record is appended and durable */
    atomic_int failed;
    uint64_t checkpoints;     /* the appender's */
    uint64_t connections;     /* the shipper's */
} primary_t;

/* ---- the appender ---- */

/* Record seq's value: its length and bytes follow from the seq. */
static size_t value_len_of(uint64_t seq) {
    return seq % 211 == 0 ? BIG_VALUE : (size_t)(seq * 2654435761u % 700);
}

static void fill_value(uint8_t *v, size_t len, uint64_t seq) {
    for (size_t i = 0; i < len; i++) v[i] = (uint8_t)(seq * 31 + i * 7);
}

static void pause_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* Appends `count` records as one batch (or one record), the first getting
 * `seq`; returns the last seq, 0 on failure. */
static uint64_t append_group(wal_t *w, uint64_t seq, int count, uint8_t *values) {
    wal_entry_t entries[8];
    char keys[8][32];
    uint8_t *v = values;
    for (int i = 0; i < count; i++) {
        size_t len = value_len_of(seq + (uint64_t)i);
        fill_value(v, len, seq + (uint64_t)i);
        int key_len = snprintf(keys[i], sizeof keys[i], "key-%" PRIu64, seq + (uint64_t)i);
        entries[i] = (wal_entry_t){(uint8_t)(i % 3 == 2 ? WAL_OP_DELETE : WAL_OP_PUT), keys[i], (size_t)key_len, v, len};
        v += len;
    }
    if (count == 1) return wal_append(w, entries[0].op, entries[0].key, entries[0].key_len, entries[0].value,
                                      entries[0].value_len);
    return wal_append_batch(w, entries, (size_t)count);
}

static void *appender_main(void *arg) {
    primary_t *p = arg;
    uint8_t *values = malloc(8 * (size_t)BIG_VALUE);
    uint64_t appended = 0;
    if (values == NULL) {
        complain("out of memory");
        p->failed = 1;
    }
    while (!p->failed && !p->shared->stop && appended < p->max_records) {
        uint64_t next = wal_last_seq(p->w) + 1; /* this thread is the only writer */
        uint64_t got;
        int count = 1;
        if (next % CHECKPOINT_EVERY == 0) {
            got = wal_checkpoint(p->w);
            p->checkpoints++;
        } else {
            count = next % 7 == 0 ? 2 + (int)(next % 5) : 1; /* some batches of 2..6 */
            if ((uint64_t)count > p->max_records - appended) count = (int)(p->max_records - appended);
            got = append_group(p->w, next, count, values);
        }
        if (got != next + (uint64_t)count - 1) {
            complain("append at seq %" PRIu64 ": %s", next,
                     got == 0 ? wal_last_error_message() : "got an unexpected seq");
            p->failed = 1;
            break;
        }
        appended += (uint64_t)count;
        p->shared->primary_last = got;
        if (appended % 8 < (uint64_t)count) pause_us(200); /* a steady stream, not a burst */
    }
    free(values);
    if (!p->failed && wal_sync(p->w) != WAL_OK) { /* the last records durable too */
        complain("wal_sync: %s", wal_last_error_message());
        p->failed = 1;
    }
    if (!p->failed)
        say("appended %" PRIu64 " records (seq 1..%" PRIu64 ", %" PRIu64 " checkpoints); all durable", appended,
            wal_last_seq(p->w), p->checkpoints);
    p->appender_done = 1;
    return NULL;
}

/* ---- the shipper ---- */

typedef enum { SHIP_DONE, SHIP_LOST, SHIP_FAILED } ship_t;

typedef struct {
    primary_t *p;
    conn_t *c;
    uint64_t next;  /* the next seq to send */
    uint64_t acked; /* the highest seq the replica acknowledged */
} session_t;

/* Reads the acknowledgements that have arrived: those that came before
 * the replica closed the connection too. */
static ship_t take_acks(session_t *s) {
    ship_t result = conn_poll_in(s->c) == 0 ? SHIP_DONE : SHIP_LOST;
    while (conn_avail(s->c) >= ACK_SIZE) {
        const uint8_t *f = conn_peek(s->c);
        uint64_t seq = get_be64(f + 1);
        if (f[0] != FRAME_ACK || seq < s->acked || seq >= s->next) {
            complain("bad acknowledgement from the replica (type 0x%02x, seq %" PRIu64 "; sent up to %" PRIu64 ")",
                     f[0], seq, s->next - 1);
            return SHIP_FAILED;
        }
        s->acked = seq;
        s->p->shared->primary_acked = seq;
        conn_consume(s->c, ACK_SIZE);
    }
    return result; /* SHIP_DONE here: nothing wrong */
}

/* Sends what is queued, then takes the acks; a heartbeat first when the
 * replica has heard nothing for BEAT_MS. */
static ship_t send_queued(session_t *s) {
    if (s->c->out_len == 0 && now_ms() - s->c->sent_ms >= BEAT_MS &&
        conn_put_u64_frame(s->c, FRAME_BEAT, wal_durable_seq(s->p->w)) != 0)
        return SHIP_LOST;
    if (s->c->out_len > 0 && conn_flush(s->c) != 0) return SHIP_LOST;
    return take_acks(s);
}

/* Waits up to one slice for `seq` to be durable: 1 it is, 0 not yet. */
static int wait_durable(session_t *s, uint64_t seq, ship_t *result) {
    int rc = wal_wait(s->p->w, seq, 1, WAIT_SLICE_MS);
    if (rc == WAL_OK) return 1;
    if (rc != WAL_E_TIMEOUT) {
        complain("wal_wait for seq %" PRIu64 ": %s", seq, wal_last_error_message());
        *result = SHIP_FAILED;
    }
    return 0;
}

static ship_t send_record(session_t *s, const wal_record_t *r) {
    uint8_t h[RECORD_HEADER_SIZE];
    h[0] = FRAME_RECORD;
    put_be64(h + 1, r->seq);
    h[9] = r->op;
    put_be32(h + 10, (uint32_t)r->key_len);
    put_be32(h + 14, (uint32_t)r->value_len);
    if (conn_put(s->c, h, sizeof h) != 0 || conn_put(s->c, r->key, r->key_len) != 0 ||
        conn_put(s->c, r->value, r->value_len) != 0)
        return SHIP_LOST;
    s->next = r->seq + 1;
    return r->seq % 64 == 0 ? take_acks(s) : SHIP_DONE; /* now and then, look at the acks */
}

/* The end: every record is shipped. Says so and waits for the last ack. */
static ship_t finish(session_t *s, uint64_t last) {
    if (conn_put_u64_frame(s->c, FRAME_END, last) != 0 || conn_flush(s->c) != 0) return SHIP_LOST;
    for (;;) {
        ship_t result = take_acks(s);
        if (result == SHIP_FAILED || s->acked == last) return result == SHIP_FAILED ? result : SHIP_DONE;
        if (result == SHIP_LOST || conn_need(s->c, ACK_SIZE) != 0) return SHIP_LOST;
    }
}

/* Tails the log from s->next on, sending each record once it is durable. */
static ship_t ship_from(session_t *s, wal_iter_t *it) {
    wal_t *w = s->p->w;
    for (;;) {
        if (s->p->failed) return SHIP_FAILED;
        wal_record_t r;
        int got = wal_iter_next(it, &r);
        if (got < 0) {
            complain("wal_iter_next at seq %" PRIu64 ": %s", s->next, wal_last_error_message());
            return SHIP_FAILED;
        }
        ship_t result = SHIP_DONE;
        if (got == 0) { /* the end of the log, for now */
            if (s->p->appender_done && s->next > wal_last_seq(w)) return finish(s, s->next - 1);
            if ((result = send_queued(s)) != SHIP_DONE) return result;
            wait_durable(s, s->next, &result); /* then the iterator has more */
            if (result != SHIP_DONE) return result;
            continue;
        }
        if (r.seq != s->next) {
            complain("the iterator returned seq %" PRIu64 " where %" PRIu64 " was due", r.seq, s->next);
            return SHIP_FAILED;
        }
        /* A replica must never hold a record the primary could lose in a
         * crash: ship it once it is durable here. (r stays valid: no
         * wal_iter_next meanwhile.) */
        while (wal_durable_seq(w) < r.seq) {
            if ((result = send_queued(s)) != SHIP_DONE) return result;
            if (!wait_durable(s, r.seq, &result) && result != SHIP_DONE) return result;
        }
        if ((result = send_record(s, &r)) != SHIP_DONE) return result;
    }
}

/* Tells the replica why it gets nothing; the connection ends. */
static void refuse(conn_t *c, const char *message) {
    uint8_t h[3];
    size_t len = strlen(message);
    h[0] = FRAME_REFUSE;
    h[1] = (uint8_t)(len >> 8);
    h[2] = (uint8_t)len;
    complain("refusing the replica: %s", message);
    if (conn_put(c, h, sizeof h) == 0 && conn_put(c, message, len) == 0) conn_flush(c);
    snprintf(c->why, sizeof c->why, "refused");
}

/* One connection: the replica's hello, then the stream. */
static ship_t serve(primary_t *p, conn_t *c) {
    if (conn_need(c, HELLO_SIZE) != 0) return SHIP_LOST;
    const uint8_t *hello = conn_peek(c);
    if (memcmp(hello, "WREP", 4) != 0 || hello[4] != PROTOCOL_VERSION) {
        complain("a connection that is not a replica (protocol version %d): ignored", PROTOCOL_VERSION);
        return SHIP_LOST;
    }
    uint64_t resume = get_be64(hello + 5), last = wal_last_seq(p->w);
    conn_consume(c, HELLO_SIZE);
    char why[200];
    if (resume > last) {
        snprintf(why, sizeof why, "its log ends at seq %" PRIu64 ", past the primary's (%" PRIu64
                 "): it is not a replica of this log", resume, last);
        refuse(c, why);
        return SHIP_LOST; /* another replica may come */
    }
    wal_iter_t *it;
    if (wal_iter_open(p->w, resume, &it) != WAL_OK) { /* e.g. WAL_E_RANGE: truncated away here */
        snprintf(why, sizeof why, "cannot read this log after seq %" PRIu64 ": %s", resume, wal_last_error_message());
        refuse(c, why);
        return SHIP_LOST;
    }
    p->connections++;
    say("the replica connected; shipping after seq %" PRIu64 " (appended so far: %" PRIu64 ")", resume, last);
    session_t s = {p, c, resume + 1, resume};
    ship_t result = ship_from(&s, it);
    wal_iter_close(it);
    if (result == SHIP_LOST)
        say("lost the replica (%s) after sending up to seq %" PRIu64 "; it acknowledged %" PRIu64, c->why,
            s.next - 1, s.acked);
    if (result == SHIP_DONE) say("the replica acknowledged seq %" PRIu64 ", the last one", s.acked);
    return result;
}

/* The next replica's connection, within ACCEPT_TIMEOUT_MS (or until the
 * appender fails); -1 without one. */
static int next_replica(primary_t *p) {
    int64_t deadline = now_ms() + ACCEPT_TIMEOUT_MS;
    while (!p->failed) {
        int fd = accept_within(p->listen_fd, WAIT_SLICE_MS);
        if (fd != -2) return fd;
        if (now_ms() > deadline) {
            complain("no replica connected within %d s", ACCEPT_TIMEOUT_MS / 1000);
            return -1;
        }
    }
    return -1;
}

static void *shipper_main(void *arg) {
    primary_t *p = arg;
    for (;;) {
        int fd = next_replica(p);
        if (fd < 0) break;
        conn_t c;
        ship_t result = SHIP_FAILED;
        if (conn_init(&c, fd, "the replica") != 0)
            complain("%s", c.why);
        else
            result = serve(p, &c);
        conn_free(&c);
        if (result == SHIP_DONE) return NULL;
        if (result == SHIP_FAILED) break;
        /* SHIP_LOST: the replica went away; it may come back. */
    }
    p->failed = 1;
    return NULL;
}

int primary_run(const char *dir, uint64_t max_records, rep_shared_t *shared) {
    rep_role = "primary";
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = SEGMENT_SIZE;
    o.sync_mode = WAL_SYNC_EVERY;
    o.sync_every = SYNC_EVERY;
    primary_t p = {.shared = shared, .max_records = max_records};
    if (wal_open(dir, &o, &p.w) != WAL_OK) {
        complain("cannot open the log: %s", wal_last_error_message());
        return 1;
    }
    uint16_t port;
    p.listen_fd = listen_loopback(&port);
    if (p.listen_fd < 0) {
        wal_close(p.w);
        return 1;
    }
    say("log %s (last seq %" PRIu64 "); listening on 127.0.0.1:%u", dir, wal_last_seq(p.w), port);
    shared->primary_last = wal_last_seq(p.w);
    shared->port = port;

    pthread_t appender, shipper;
    int started = 0;
    if (pthread_create(&appender, NULL, appender_main, &p) == 0) started |= 1;
    if (pthread_create(&shipper, NULL, shipper_main, &p) == 0) started |= 2;
    if (started != 3) {
        complain("cannot start a thread");
        p.failed = 1;
        shared->stop = 1;
    }
    if (started & 1) pthread_join(appender, NULL);
    if (started & 2) pthread_join(shipper, NULL);
    close(p.listen_fd);
    int rc = wal_close(p.w);
    if (rc != WAL_OK) complain("wal_close: %s", wal_last_error_message());
    if (!p.failed && rc == WAL_OK)
        say("shipped seq 1..%" PRIu64 " over %" PRIu64 " connection(s)", (uint64_t)shared->primary_acked,
            p.connections);
    return p.failed || rc != WAL_OK;
}
