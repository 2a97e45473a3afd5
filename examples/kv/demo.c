/* The example storage engine (kv.c), demonstrated; `make demo` runs it.
 *
 * 1. Four threads write into a fresh store while a fifth takes checkpoints
 *    (freeze, N = wal_checkpoint, write the snapshot, wal_truncate).
 * 2. A child process goes on writing the same way and is killed with
 *    SIGKILL in the middle. Every write that returned (was acknowledged)
 *    was reported to the parent through a pipe.
 * 3. The parent recovers the store (snapshot + replay of the log after N),
 *    says what it found and how long that took, and checks that every
 *    acknowledged write is there. The exit status is 0 only if it is.
 *
 * Usage: kv_demo DIR (DIR must not exist yet). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>

#include "kv.h"

enum {
    WRITERS = 4,
    FIRST_OPS = 1100,   /* per writer in part 1 */
    CHILD_OPS = 20000,  /* per writer in part 2, at most: bounds the disk used */
    CHECKPOINT_MS = 20, /* the checkpointer's pause between checkpoints */
};

/* ---- what each writer does: a script both processes know ---- */

/* Writer t's k-th operation: it puts keys 0, 1, 2... and after every tenth
 * put deletes the key it put five puts earlier. */
typedef struct {
    uint32_t index;
    int is_delete;
} op_t;

static op_t script_op(uint32_t k) {
    uint32_t round = k / 11, step = k % 11;
    op_t op = { round * 10 + (step < 10 ? step : 4), step == 10 };
    return op;
}

static void key_of(char part, int t, uint32_t index, char *key, char *value) {
    sprintf(key, "%c/%d/%u", part, t, index);
    sprintf(value, "value of %c/%d/%u", part, t, index);
}

typedef struct {
    kv_t *kv;
    char part; /* '1' or '2': each part writes its own keys */
    int t, ack_fd;
    uint32_t ops;
    int failed;
} writer_t;

static void *writer_main(void *arg) {
    writer_t *w = arg;
    char key[32], value[48], id = (char)w->t;
    for (uint32_t k = 0; k < w->ops && !w->failed; k++) {
        op_t op = script_op(k);
        key_of(w->part, w->t, op.index, key, value);
        w->failed = op.is_delete ? kv_delete(w->kv, key) : kv_put(w->kv, key, value);
        /* Acknowledged: one byte, "writer t did one more", to the parent. */
        if (!w->failed && w->ack_fd >= 0 && write(w->ack_fd, &id, 1) != 1) w->failed = 1;
    }
    return NULL;
}

typedef struct {
    kv_t *kv;
    atomic_int stop;
    int failed;
} checkpointer_t;

static void *checkpointer_main(void *arg) {
    checkpointer_t *c = arg;
    struct timespec pause = { 0, CHECKPOINT_MS * 1000000L };
    while (!atomic_load(&c->stop) && !c->failed) {
        nanosleep(&pause, NULL);
        c->failed = kv_checkpoint(c->kv);
    }
    return NULL;
}

/* Runs WRITERS writer threads of `ops` operations each, and the
 * checkpointer until they are done. 0 if every call succeeded. */
static int run_writers(kv_t *kv, char part, uint32_t ops, int ack_fd) {
    writer_t w[WRITERS];
    pthread_t threads[WRITERS + 1];
    checkpointer_t c = { kv, 0, 0 };
    pthread_create(&threads[WRITERS], NULL, checkpointer_main, &c);
    for (int t = 0; t < WRITERS; t++) {
        w[t] = (writer_t){ kv, part, t, ack_fd, ops, 0 };
        pthread_create(&threads[t], NULL, writer_main, &w[t]);
    }
    int failed = 0;
    for (int t = 0; t < WRITERS; t++) {
        pthread_join(threads[t], NULL);
        failed |= w[t].failed;
    }
    atomic_store(&c.stop, 1);
    pthread_join(threads[WRITERS], NULL);
    return failed | c.failed;
}

/* ---- checking what was recovered ---- */

/* Checks writer t's keys of `part` after `acked` of its operations were
 * acknowledged and, if in_flight, the next one may or may not have been
 * done. Returns how many keys are wrong. */
static int verify_writer(kv_t *kv, char part, int t, uint32_t acked, int in_flight) {
    char *present = calloc(acked + 1, 1), key[32], value[48];
    for (uint32_t k = 0; k < acked; k++) present[script_op(k).index] = !script_op(k).is_delete;
    op_t next = script_op(acked);
    int wrong = 0;
    for (uint32_t i = 0; i <= acked; i++) { /* index <= k: this covers every key touched */
        key_of(part, t, i, key, value);
        char *got = kv_get(kv, key);
        int ok = got ? present[i] && !strcmp(got, value) : !present[i];
        if (!ok && in_flight && i == next.index) /* the write in flight is either way */
            ok = got ? !next.is_delete && !strcmp(got, value) : next.is_delete;
        if (!ok && wrong++ < 5)
            fprintf(stderr, "WRONG: %s is %s, expected %s\n", key, got ? got : "absent",
                    present[i] ? value : "absent");
        free(got);
    }
    free(present);
    return wrong;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---- the three parts ---- */

static int part1(const char *dir) {
    kv_t *kv = kv_open(dir);
    if (!kv || run_writers(kv, '1', FIRST_OPS, -1) != 0) return -1;
    kv_stats_t s;
    kv_stats(kv, &s);
    printf("1. %d threads made %d writes while a fifth took %llu checkpoints (snapshot, then truncate);\n"
           "   now: %zu live keys, the last snapshot at N = %llu, %llu records in the log after it\n",
           WRITERS, WRITERS * FIRST_OPS, (unsigned long long)s.checkpoints, s.keys,
           (unsigned long long)s.snapshot_n, (unsigned long long)(s.last_seq + 1 - s.first_seq));
    return kv_close(kv);
}

/* Part 2: returns the child's pid; acked[t] counts writer t's acknowledged
 * operations. */
static pid_t part2(const char *dir, uint32_t acked[WRITERS]) {
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) { /* the child: recover, then write until killed */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        close(fds[0]);
        kv_t *kv = kv_open(dir);
        _exit(!kv || run_writers(kv, '2', CHILD_OPS, fds[1]) != 0 || kv_close(kv) != 0 ? 1 : 0);
    }
    close(fds[1]);
    srand((unsigned)getpid());
    uint32_t total = 0, kill_at = 1000 + (uint32_t)rand() % 3000;
    char ids[256];
    ssize_t n;
    while ((n = read(fds[0], ids, sizeof ids)) > 0) { /* until the pipe is closed: the child is gone */
        for (ssize_t i = 0; i < n; i++)
            if ((unsigned char)ids[i] < WRITERS) acked[(unsigned char)ids[i]]++;
        if (total < kill_at && (total += (uint32_t)n) >= kill_at) kill(pid, SIGKILL);
    }
    close(fds[0]);
    total = 0;
    for (int t = 0; t < WRITERS; t++) total += acked[t];
    printf("2. a child process wrote from %d threads, with checkpoints, and was killed with SIGKILL\n"
           "   after %u acknowledged writes\n", WRITERS, total);
    return pid;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR (a directory that does not exist yet)\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (part1(dir) != 0) return 1;

    uint32_t acked[WRITERS] = { 0 };
    pid_t pid = part2(dir, acked);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "FAILED: the child was not killed by the demo (wait status %d)\n", status);
        return 1;
    }

    double start = now_ms();
    kv_t *kv = kv_open(dir);
    double took = now_ms() - start;
    if (!kv) return 1;
    kv_stats_t s;
    kv_stats(kv, &s);
    printf("3. recovered in %.1f ms: %zu keys; the snapshot at N = %llu, then %llu records replayed from the log\n",
           took, s.keys, (unsigned long long)s.snapshot_n, (unsigned long long)s.replayed);

    int wrong = 0;
    uint32_t writes = 0;
    for (int t = 0; t < WRITERS; t++) {
        wrong += verify_writer(kv, '1', t, FIRST_OPS, 0) + verify_writer(kv, '2', t, acked[t], 1);
        writes += FIRST_OPS + acked[t];
    }
    if (kv_close(kv) != 0 || wrong) {
        fprintf(stderr, "FAILED: %d keys are not what the acknowledged writes made them\n", wrong);
        return 1;
    }
    printf("   verified: all %u acknowledged writes of parts 1 and 2 are there\n", writes);
    return 0;
}
