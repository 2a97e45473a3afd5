/* Shared plumbing of the crash tests: a seeded PRNG, content derived from a
 * hash, the run's settings, and a child process that reports fixed-size
 * messages through a pipe until the parent kills it with SIGKILL.
 *
 * Environment: CRASH_SEED (reproduce a run), CRASH_ROUNDS (rounds to run),
 * CRASH_SECONDS (time budget; no new round starts once it is spent). */
#ifndef LIBWAL_CRASH_UTIL_H
#define LIBWAL_CRASH_UTIL_H

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Exit code of a child that hit an error it could not go on from. */
#define CU_CHILD_FAILED 70
/* A child that is still running after this long is killed by SIGALRM, which
 * the parent reports as a child that was not killed by the test. */
#define CU_CHILD_LIFETIME_S 60

/* ---- random numbers and derived content ---- */

typedef struct { uint64_t state; } cu_rng_t;

static inline uint64_t cu_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64: tiny, seedable with any value, good enough for tests. */
static inline uint64_t cu_next(cu_rng_t *rng) {
    rng->state += 0x9e3779b97f4a7c15ULL;
    return cu_mix64(rng->state);
}

/* Uniform in [lo, hi]. */
static inline uint64_t cu_range(cu_rng_t *rng, uint64_t lo, uint64_t hi) {
    return lo + cu_next(rng) % (hi - lo + 1);
}

/* A generator for one purpose of one round: the same (seed, a, b) gives the
 * same stream, different ones independent streams. */
static inline cu_rng_t cu_rng_for(uint64_t seed, uint64_t a, uint64_t b) {
    cu_rng_t rng = { cu_mix64(seed ^ cu_mix64(a * 0x100000001b3ULL + b)) };
    return rng;
}

static inline uint64_t cu_hash(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a, then mixed */
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
    return cu_mix64(h);
}

/* len bytes determined by h alone. */
static inline void cu_fill(uint64_t h, unsigned char *out, size_t len) {
    cu_rng_t rng = { h };
    for (size_t i = 0; i < len; i += 8) {
        uint64_t x = cu_next(&rng);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(out + i, &x, n);
    }
}

/* ---- settings of a run ---- */

typedef struct {
    const char *name;
    uint64_t seed;
    int rounds;
    double seconds;   /* time budget */
    char *dir;        /* the test's own temporary directory */
    double open_s;    /* how long a child takes to open the log, lately */
} cu_run_t;

static inline double cu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline cu_run_t cu_run_settings(const char *name, int rounds, double seconds) {
    cu_run_t run = { name, 0, rounds, seconds, tu_tmpdir(name), 0.001 };
    setvbuf(stdout, NULL, _IOLBF, 0); /* keep stdout in order with stderr */
    const char *s = getenv("CRASH_SEED");
    run.seed = s && *s ? strtoull(s, NULL, 0)
                       : cu_mix64((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
    if ((s = getenv("CRASH_ROUNDS")) && *s) run.rounds = atoi(s);
    if ((s = getenv("CRASH_SECONDS")) && *s) run.seconds = atof(s);
    printf("%s: seed %llu (rerun with CRASH_SEED=%llu), %d rounds, %.0f s budget\n", name,
           (unsigned long long)run.seed, (unsigned long long)run.seed, run.rounds, run.seconds);
    return run;
}

/* ---- a child reporting through a pipe ---- */

/* Sends one message; a write of at most PIPE_BUF bytes is atomic, so
 * messages of concurrent threads never interleave. */
static inline void cu_send(int fd, const void *msg, size_t size) {
    if (size > PIPE_BUF) _exit(CU_CHILD_FAILED);
    ssize_t n;
    do n = write(fd, msg, size);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)size) _exit(CU_CHILD_FAILED);
}

/* In the child: reports a failed libwal call and exits with CU_CHILD_FAILED. */
static inline void cu_child_fail(const char *what) {
    fprintf(stderr, "child %d: %s failed (last error %d: %s)\n", (int)getpid(), what,
            wal_last_error(), wal_last_error_message());
    _exit(CU_CHILD_FAILED);
}

/* In the child: reports a failed system call and exits with CU_CHILD_FAILED. */
static inline void cu_child_fail_errno(const char *what) {
    fprintf(stderr, "child %d: %s failed: %s\n", (int)getpid(), what, strerror(errno));
    _exit(CU_CHILD_FAILED);
}

/* Opens the log as every crash child does: WAL_SYNC_ALWAYS, the given
 * segment size and preallocation. Exits the child if the open fails. */
static inline wal_t *cu_child_open(const char *dir, uint64_t segment_size, uint32_t preallocate) {
    wal_options_t opts;
    wal_options_init(&opts);
    opts.segment_size = segment_size;
    opts.sync_mode = WAL_SYNC_ALWAYS;
    opts.preallocate = preallocate;
    wal_t *w = NULL;
    if (wal_open(dir, &opts, &w) != WAL_OK) cu_child_fail("wal_open");
    return w;
}

/* A child of one round, as the parent sees it. */
typedef struct {
    pid_t pid;
    int fd;               /* read end of the pipe */
    unsigned delay_us;    /* when it is killed, after its start */
    double start;         /* cu_now() at the fork */
    double first_message; /* seconds from the start to the first message; 0: none */
    unsigned char *data;  /* every byte received */
    size_t len, cap;
} cu_child_t;

/* Reads what is available; returns 0 at end of file. */
static inline int cu_read_some(cu_child_t *c) {
    if (c->cap - c->len < 4096) {
        c->cap = c->cap ? 2 * c->cap : 65536;
        c->data = realloc(c->data, c->cap);
        REQUIRE(c->data != NULL);
    }
    ssize_t n = read(c->fd, c->data + c->len, c->cap - c->len);
    if (n < 0 && errno == EINTR) return 1;
    REQUIRE(n >= 0);
    if (n > 0 && c->len == 0) c->first_message = cu_now() - c->start;
    c->len += (size_t)n;
    return n > 0;
}

/* Collects messages until the child's delay is over, kills it with
 * SIGKILL, reads the rest and reaps it. Returns 0 when our SIGKILL is what
 * ended the child; otherwise prints how it ended, counts a failure and
 * returns -1. */
static inline int cu_kill_later(cu_child_t *c) {
    double deadline = c->start + c->delay_us / 1e6;
    for (;;) {
        double left = deadline - cu_now();
        if (left <= 0) break;
        struct pollfd p = { c->fd, POLLIN, 0 };
        struct timespec ts = { (time_t)left, (long)((left - (double)(time_t)left) * 1e9) };
        if (ppoll(&p, 1, &ts, NULL) > 0 && !cu_read_some(c)) break; /* the child is gone */
    }
    kill(c->pid, SIGKILL);
    while (cu_read_some(c)) {}
    close(c->fd);
    int status;
    pid_t r;
    do r = waitpid(c->pid, &status, 0);
    while (r < 0 && errno == EINTR);
    REQUIRE(r == c->pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) return 0;
    tu_failures++;
    if (WIFEXITED(status))
        fprintf(stderr, "child %d exited by itself with status %d%s\n", (int)c->pid,
                WEXITSTATUS(status),
                WEXITSTATUS(status) == CU_CHILD_FAILED ? " (see its message above)" : "");
    else
        fprintf(stderr, "child %d died of signal %d, not of our SIGKILL\n", (int)c->pid,
                WIFSIGNALED(status) ? WTERMSIG(status) : -1);
    return -1;
}

/* When to kill the child of a round: a quarter of the kills land within
 * twice the time children lately took to open the log (so about half of
 * those hit the open and its recovery), a quarter within 30 ms, the rest
 * up to 300 ms. */
static inline unsigned cu_kill_delay_us(const cu_run_t *run, uint32_t round) {
    cu_rng_t rng = cu_rng_for(run->seed, round, 0);
    unsigned open_us = run->open_s < 0.015 ? (unsigned)(2e6 * run->open_s) : 30000;
    switch (cu_range(&rng, 0, 3)) {
    case 0: return (unsigned)cu_range(&rng, 0, open_us);
    case 1: return (unsigned)cu_range(&rng, open_us, 30000);
    default: return (unsigned)cu_range(&rng, 30000, 300000);
    }
}

/* Runs body(ctx, fd) in a child, fd the write end of a pipe, and kills it
 * at a random instant. body never returns; its first message says it has
 * opened the log. Returns 0 when our SIGKILL ended the child: then c holds
 * its messages (cu_messages) until cu_child_free. */
static inline int cu_crash_child(cu_run_t *run, uint32_t round,
                                 void (*body)(void *ctx, int fd), void *ctx, cu_child_t *c) {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    memset(c, 0, sizeof *c);
    c->fd = fds[0];
    c->delay_us = cu_kill_delay_us(run, round);
    fflush(NULL);
    c->start = cu_now();
    c->pid = fork();
    REQUIRE(c->pid >= 0);
    if (c->pid == 0) {
        close(fds[0]);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        alarm(CU_CHILD_LIFETIME_S);
        body(ctx, fds[1]);
        _exit(CU_CHILD_FAILED);
    }
    close(fds[1]);
    int r = cu_kill_later(c);
    if (c->first_message > 0) run->open_s = 0.75 * run->open_s + 0.25 * c->first_message;
    return r;
}

/* The messages received, as an array of count elements of size bytes. */
static inline const void *cu_messages(const cu_child_t *c, size_t size, size_t *count) {
    if (c->len % size != 0) {
        fprintf(stderr, "pipe holds %zu bytes, not a whole number of %zu-byte messages\n",
                c->len, size);
        tu_failures++;
    }
    *count = c->len / size;
    return c->data;
}

static inline void cu_child_free(cu_child_t *c) {
    free(c->data);
    c->data = NULL;
}

/* ---- the rounds ---- */

/* Runs round(ctx, r) for r = 0, 1, ... until run->rounds are done, the time
 * budget is spent or a check failed. run->dir is removed after a success and
 * kept for inspection after a failure. */
static inline void cu_run_rounds(cu_run_t *run, void (*round)(void *ctx, uint32_t r), void *ctx) {
    const char *name = run->name;
    double start = cu_now();
    int r = 0;
    for (; r < run->rounds && tu_failures == 0; r++) {
        if (cu_now() - start > run->seconds) {
            printf("%s: time budget spent after %d rounds\n", name, r);
            break;
        }
        round(ctx, (uint32_t)r);
    }
    if (tu_failures) {
        fprintf(stderr, "%s: failed in round %d, seed %llu; files kept in %s\n", name, r - 1,
                (unsigned long long)run->seed, run->dir);
    } else {
        printf("%s: %d rounds in %.1f s\n", name, r, cu_now() - start);
        tu_rmtree(run->dir);
    }
    free(run->dir);
    run->dir = NULL;
}

#endif
