/* The replication protocol and the connection it runs on.
 *
 * Frames (integers big-endian):
 *   replica -> primary
 *     HELLO   "WREP" version:u8 last_seq:u64   first, once: resume after last_seq
 *     ACK     'A' seq:u64                        every seq <= seq is durable here
 *   primary -> replica
 *     RECORD  'R' seq:u64 op:u8 key_len:u32 value_len:u32 key value
 *     BEAT    'H' durable_seq:u64                when there was nothing to send for a while
 *     END     'E' last_seq:u64                   the primary is done: its log ends there
 *     REFUSE  'X' len:u16 message                the primary will not ship to this replica
 *
 * A connection is non-blocking; each wait for the peer is bounded by
 * PEER_TIMEOUT_MS, so a peer that hangs or vanishes is an error, not a
 * hang. Failures leave a sentence in conn_t.why. */
#ifndef REPLICATE_WIRE_H
#define REPLICATE_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
    PEER_TIMEOUT_MS = 20000, /* the longest a peer may stay silent or stalled */
    BEAT_MS = 500,           /* the primary's heartbeat when idle */
    PROTOCOL_VERSION = 1,
    HELLO_SIZE = 13,
    ACK_SIZE = 9,
    RECORD_HEADER_SIZE = 18,
    BEAT_SIZE = 9,
    END_SIZE = 9,
};

#define FRAME_ACK 'A'
#define FRAME_RECORD 'R'
#define FRAME_BEAT 'H'
#define FRAME_END 'E'
#define FRAME_REFUSE 'X'

typedef struct {
    int fd;
    const char *peer;   /* "the primary", "the replica": for messages */
    uint8_t *in;        /* received, not yet consumed: in[in_pos..in_len) */
    size_t in_pos, in_len, in_cap;
    uint8_t *out;       /* queued, not yet sent: out[0..out_len) */
    size_t out_len, out_cap;
    int64_t sent_ms;    /* when the last flush finished */
    char why[256];      /* what went wrong, after a failure */
} conn_t;

/* The process's name in messages ("primary", "replica", "demo"). */
extern const char *rep_role;
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));      /* stdout */
void complain(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* stderr */

int64_t now_ms(void);

/* A listening socket on 127.0.0.1 at a port the OS chooses (stored in
 * *port); -1 with a message on failure. */
int listen_loopback(uint16_t *port);
/* The next connection on listen_fd within timeout_ms; -2 (silently) when
 * none came, -1 with a message on failure. */
int accept_within(int listen_fd, int timeout_ms);
/* A connection to 127.0.0.1:port within timeout_ms; -1 with a message. */
int connect_loopback(uint16_t port, int timeout_ms);

/* Takes fd (made non-blocking); -1 if out of memory. */
int conn_init(conn_t *c, int fd, const char *peer);
void conn_free(conn_t *c); /* closes fd */

/* Queues bytes, sending when the buffer is full. */
int conn_put(conn_t *c, const void *data, size_t len);
/* Sends what is queued; reads what arrives meanwhile (no deadlock when
 * both sides send). */
int conn_flush(conn_t *c);
/* Reads what has arrived, without waiting: 0 (even if nothing came), or
 * -1 when the peer closed the connection or it failed. */
int conn_poll_in(conn_t *c);
/* Waits until n bytes are buffered (n bounded by the caller). */
int conn_need(conn_t *c, size_t n);
static inline size_t conn_avail(const conn_t *c) { return c->in_len - c->in_pos; }
static inline const uint8_t *conn_peek(const conn_t *c) { return c->in + c->in_pos; }
static inline void conn_consume(conn_t *c, size_t n) { c->in_pos += n; }

void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);
uint32_t get_be32(const uint8_t *p);
uint64_t get_be64(const uint8_t *p);

/* Queues a frame of one type byte and a u64 (ACK, BEAT, END). */
int conn_put_u64_frame(conn_t *c, char type, uint64_t value);

#endif
