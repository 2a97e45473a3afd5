/* The connection: buffered, non-blocking I/O on a loopback TCP socket
 * where every wait for the peer ends after PEER_TIMEOUT_MS. */
#define _GNU_SOURCE
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { IN_CAP = 64 << 10, OUT_CAP = 256 << 10 };

const char *rep_role = "replicate";

static void vsay(FILE *to, const char *fmt, va_list ap) {
    char line[1024];
    vsnprintf(line, sizeof line, fmt, ap);
    fprintf(to, "%s: %s\n", rep_role, line);
    fflush(to);
}

void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(stdout, fmt, ap);
    va_end(ap);
}

void complain(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsay(stderr, fmt, ap);
    va_end(ap);
}

int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct sockaddr_in loopback(uint16_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int set_nonblocking(int fd) {
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

int listen_loopback(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        complain("cannot create a socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_in a = loopback(0); /* port 0: the OS picks a free one */
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0 || set_nonblocking(fd) != 0) {
        complain("cannot listen on 127.0.0.1: %s", strerror(errno));
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

int accept_within(int listen_fd, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) return fd;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED) {
            complain("accept: %s", strerror(errno));
            return -1;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0) return -2;
        struct pollfd p = {listen_fd, POLLIN, 0};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
            complain("poll: %s", strerror(errno));
            return -1;
        }
    }
}

int connect_loopback(uint16_t port, int timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || set_nonblocking(fd) != 0) {
        complain("cannot create a socket: %s", strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    struct sockaddr_in a = loopback(port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        complain("cannot connect to 127.0.0.1:%u: %s", port, strerror(errno));
        close(fd);
        return -1;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int n;
    do n = poll(&p, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    int err = 0;
    socklen_t len = sizeof err;
    if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        complain("cannot connect to 127.0.0.1:%u: %s", port,
                 n == 0 ? "timed out" : strerror(err != 0 ? err : errno));
        close(fd);
        return -1;
    }
    return fd;
}

int conn_init(conn_t *c, int fd, const char *peer) {
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->peer = peer;
    c->in = malloc(IN_CAP);
    c->out = malloc(OUT_CAP);
    c->in_cap = IN_CAP;
    c->out_cap = OUT_CAP;
    c->sent_ms = now_ms();
    int one = 1;
    /* Records and acks are small and latency matters: no Nagle delay. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (c->in == NULL || c->out == NULL || set_nonblocking(fd) != 0) {
        snprintf(c->why, sizeof c->why, "out of memory for the connection's buffers");
        return -1;
    }
    return 0;
}

void conn_free(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    free(c->in);
    free(c->out);
    c->fd = -1;
    c->in = c->out = NULL;
}

/* Leaves the sentence `what` (whose %s is the peer) and the OS error's in
 * c->why; returns -1. */
static int failed(conn_t *c, const char *what, int err) {
    char line[128];
    snprintf(line, sizeof line, what, c->peer);
    if (err == 0)
        snprintf(c->why, sizeof c->why, "%s", line);
    else
        snprintf(c->why, sizeof c->why, "%s: %s", line, strerror(err));
    return -1;
}

/* One recv into the buffer: 1 data or nothing yet, -1 closed or failed. */
static int fill_once(conn_t *c) {
    if (c->in_pos > 0) { /* keep the unconsumed bytes at the front */
        memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
        c->in_len -= c->in_pos;
        c->in_pos = 0;
    }
    if (c->in_len == c->in_cap) return 1; /* full: the caller consumes first */
    ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n > 0) {
        c->in_len += (size_t)n;
        return 1;
    }
    if (n == 0) return failed(c, "%s closed the connection", 0);
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 1;
    return failed(c, "the connection to %s failed", errno);
}

/* poll() on the connection for at most until `deadline`; 0 on timeout. */
static int wait_for(conn_t *c, short events, int64_t deadline, short *revents) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {c->fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return failed(c, "poll (%s)", errno);
        if (n > 0) {
            *revents = p.revents;
            return 1;
        }
    }
}

int conn_flush(conn_t *c) {
    size_t sent = 0;
    int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
    while (sent < c->out_len) {
        ssize_t n = send(c->fd, c->out + sent, c->out_len - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return failed(c, "the connection to %s failed", errno);
        /* The socket is full: wait until it drains, reading meanwhile so
         * that a peer blocked on sending to us can go on. */
        short revents = 0;
        int ready = wait_for(c, POLLOUT | (c->in_len < c->in_cap ? POLLIN : 0), deadline, &revents);
        if (ready < 0) return -1;
        if (ready == 0) {
            snprintf(c->why, sizeof c->why, "%s took nothing for %d s", c->peer, PEER_TIMEOUT_MS / 1000);
            return -1;
        }
        if ((revents & POLLIN) && fill_once(c) < 0) return -1;
    }
    c->out_len = 0;
    c->sent_ms = now_ms();
    return 0;
}

int conn_put(conn_t *c, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        if (c->out_len == c->out_cap && conn_flush(c) != 0) return -1;
        size_t n = c->out_cap - c->out_len < len ? c->out_cap - c->out_len : len;
        memcpy(c->out + c->out_len, p, n);
        c->out_len += n;
        p += n;
        len -= n;
    }
    return 0;
}

int conn_poll_in(conn_t *c) {
    struct pollfd p = {c->fd, POLLIN, 0};
    while (poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
        size_t before = c->in_len - c->in_pos;
        if (fill_once(c) < 0) return -1;
        if (c->in_len - c->in_pos == before) break; /* full, or nothing after all */
    }
    return 0;
}

int conn_need(conn_t *c, size_t n) {
    if (n > c->in_cap) { /* a large record: room for all of it (the caller bounds n) */
        memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
        c->in_len -= c->in_pos;
        c->in_pos = 0;
        uint8_t *bigger = realloc(c->in, n);
        if (bigger == NULL) {
            snprintf(c->why, sizeof c->why, "out of memory for a record of %zu bytes", n);
            return -1;
        }
        c->in = bigger;
        c->in_cap = n;
    }
    int64_t deadline = now_ms() + PEER_TIMEOUT_MS;
    while (conn_avail(c) < n) {
        if (c->in_pos + n > c->in_cap) { /* make room at the end */
            memmove(c->in, c->in + c->in_pos, c->in_len - c->in_pos);
            c->in_len -= c->in_pos;
            c->in_pos = 0;
        }
        short revents = 0;
        int ready = wait_for(c, POLLIN, deadline, &revents);
        if (ready < 0) return -1;
        if (ready == 0) {
            snprintf(c->why, sizeof c->why, "%s sent nothing for %d s", c->peer, PEER_TIMEOUT_MS / 1000);
            return -1;
        }
        if (fill_once(c) < 0) return -1;
    }
    return 0;
}

void put_be32(uint8_t *p, uint32_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

void put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8) p[i] = (uint8_t)v;
}

uint32_t get_be32(const uint8_t *p) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v = v << 8 | p[i];
    return v;
}

uint64_t get_be64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | p[i];
    return v;
}

int conn_put_u64_frame(conn_t *c, char type, uint64_t value) {
    uint8_t frame[9];
    frame[0] = (uint8_t)type;
    put_be64(frame + 1, value);
    return conn_put(c, frame, sizeof frame);
}
