/* replicate: ship a libwal log to a replica over loopback TCP.
 *
 *   replicate demo WORKDIR         runs a primary and a replica (two
 *                                  processes), kills the replica with SIGKILL
 *                                  in the middle of the stream, restarts it,
 *                                  stops the primary and checks that both
 *                                  logs end equal; `make demo` runs it
 *   replicate primary DIR [COUNT]  appends COUNT records (default 20000),
 *                                  shipping them to whichever replica
 *                                  connects; prints its port; ends once the
 *                                  replica acknowledged the last one
 *   replicate replica DIR PORT     follows the primary at 127.0.0.1:PORT
 *                                  until it ends
 *   replicate compare DIR DIR      checks that two logs hold the same records
 *
 * Exit status 0 on success; on failure each process says why on stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "replicate.h"
#include "wire.h"

enum {
    DEMO_MAX_RECORDS = 200000, /* the primary stops by itself here: bounds the disk used */
    KILL_AT = 2500,            /* the replica is killed soon after it has acknowledged this seq */
    KILL_JITTER_MS = 16,       /* up to this much later: at whatever it is doing then */
    AFTER_RESTART = 5000,      /* records it acknowledges after its restart before the primary stops */
    STEP_TIMEOUT_MS = 60000,   /* the longest any step of the demo may take */
};

/* ---- the demo's driver ---- */

typedef struct {
    rep_shared_t *shared;
    const char *primary_dir, *replica_dir;
    pid_t primary, replica;
} demo_t;

/* A child process running one role; it dies with the driver. */
static pid_t spawn(demo_t *d, int is_primary) {
    fflush(NULL);
    pid_t parent = getpid(), pid = fork();
    if (pid < 0) {
        complain("fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    _exit(is_primary ? primary_run(d->primary_dir, DEMO_MAX_RECORDS, d->shared)
                     : replica_run(d->replica_dir, (uint16_t)d->shared->port, d->shared));
}

static void kill_children(demo_t *d) {
    if (d->primary > 0) kill(d->primary, SIGKILL), waitpid(d->primary, NULL, 0);
    if (d->replica > 0) kill(d->replica, SIGKILL), waitpid(d->replica, NULL, 0);
    d->primary = d->replica = 0;
}

/* Whether a child exited by itself; reaps it and says how it ended. */
static int exited(pid_t *pid, const char *name, int *status_out) {
    int status;
    if (*pid <= 0 || waitpid(*pid, &status, WNOHANG) != *pid) return 0;
    *pid = 0;
    *status_out = status;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFSIGNALED(status))
            complain("the %s was killed by signal %d", name, WTERMSIG(status));
        else
            complain("the %s failed (exit status %d)", name, WEXITSTATUS(status));
    }
    return 1;
}

static int child_died(demo_t *d) {
    int status;
    return exited(&d->primary, "primary", &status) || exited(&d->replica, "replica", &status);
}

static void pause_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

/* Waits until *value >= target, failing if a child ends first or the step
 * takes longer than STEP_TIMEOUT_MS. */
static int wait_until(demo_t *d, _Atomic uint64_t *value, uint64_t target, const char *what) {
    int64_t deadline = now_ms() + STEP_TIMEOUT_MS;
    while (*value < target) {
        if (child_died(d)) {
            complain("a process ended while waiting for %s", what);
            return -1;
        }
        if (now_ms() > deadline) {
            complain("timed out after %d s waiting for %s (at %" PRIu64 ")", STEP_TIMEOUT_MS / 1000, what,
                     (uint64_t)*value);
            return -1;
        }
        pause_ms(2);
    }
    return 0;
}

/* Waits for both children to exit by themselves, successfully. */
static int both_finish(demo_t *d) {
    int64_t deadline = now_ms() + STEP_TIMEOUT_MS;
    int ok = 1, status;
    while (d->primary > 0 || d->replica > 0) {
        if (exited(&d->primary, "primary", &status)) ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (exited(&d->replica, "replica", &status)) ok &= WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (now_ms() > deadline) {
            complain("the primary and the replica did not finish within %d s", STEP_TIMEOUT_MS / 1000);
            return -1;
        }
        pause_ms(2);
    }
    return ok ? 0 : -1;
}

static int demo_steps(demo_t *d) {
    rep_shared_t *s = d->shared;
    if ((d->primary = spawn(d, 1)) < 0 || wait_until(d, &s->port, 1, "the primary to listen") != 0) return -1;
    if ((d->replica = spawn(d, 0)) < 0 || wait_until(d, &s->replica_acked, KILL_AT, "the replica's acks") != 0)
        return -1;

    pause_ms(now_ms() % KILL_JITTER_MS);
    uint64_t acked = s->replica_acked;
    kill(d->replica, SIGKILL);
    waitpid(d->replica, NULL, 0);
    d->replica = 0;
    say("killed the replica (SIGKILL) when it had acknowledged seq %" PRIu64 "; the primary had appended %" PRIu64,
        acked, (uint64_t)s->primary_last);

    s->replica_started = 0;
    if ((d->replica = spawn(d, 0)) < 0 || wait_until(d, &s->replica_started, 1, "the replica to restart") != 0)
        return -1;
    uint64_t resumed = s->replica_resumed;
    if (resumed < acked) {
        complain("the restarted replica's log ends at seq %" PRIu64 ", below the seq %" PRIu64
                 " it had acknowledged", resumed, acked);
        return -1;
    }
    say("restarted the replica: its log ends at seq %" PRIu64 " (%" PRIu64 " records past its last ack)", resumed,
        resumed - acked);
    if (wait_until(d, &s->replica_acked, resumed + AFTER_RESTART, "the restarted replica's acks") != 0) return -1;
    say("the restarted replica acknowledged seq %" PRIu64 "; stopping the primary", (uint64_t)s->replica_acked);
    s->stop = 1;
    if (both_finish(d) != 0) return -1;
    return compare_logs(d->primary_dir, d->replica_dir) == 0 ? 0 : -1;
}

static char *join(const char *dir, const char *name) {
    char *path = malloc(strlen(dir) + strlen(name) + 2);
    if (path != NULL) sprintf(path, "%s/%s", dir, name);
    return path;
}

static int demo(const char *workdir) {
    rep_role = "demo";
    if (mkdir(workdir, 0755) != 0) {
        complain("cannot create %s: %s (it must not exist yet)", workdir, strerror(errno));
        return 1;
    }
    demo_t d = {0};
    d.shared = mmap(NULL, sizeof(rep_shared_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    d.primary_dir = join(workdir, "primary");
    d.replica_dir = join(workdir, "replica");
    if (d.shared == MAP_FAILED || d.primary_dir == NULL || d.replica_dir == NULL) {
        complain("out of memory");
        return 1;
    }
    memset(d.shared, 0, sizeof *d.shared);
    int64_t start = now_ms();
    int rc = demo_steps(&d);
    kill_children(&d); /* none left on success */
    if (rc == 0) say("passed in %.1f s", (double)(now_ms() - start) / 1000);
    else complain("FAILED");
    free((char *)d.primary_dir);
    free((char *)d.replica_dir);
    munmap(d.shared, sizeof *d.shared);
    return rc != 0;
}

/* ---- the command line ---- */

static int usage(void) {
    fprintf(stderr,
            "usage: replicate demo WORKDIR\n"
            "       replicate primary DIR [COUNT]\n"
            "       replicate replica DIR PORT\n"
            "       replicate compare DIR DIR\n");
    return 2;
}

static int number(const char *text, uint64_t max, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v > max) return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    rep_shared_t local;
    memset(&local, 0, sizeof local);
    uint64_t n = 20000;
    if (argc == 3 && strcmp(argv[1], "demo") == 0) return demo(argv[2]);
    if ((argc == 3 || argc == 4) && strcmp(argv[1], "primary") == 0) {
        if (argc == 4 && (number(argv[3], UINT64_MAX, &n) != 0 || n == 0)) return usage();
        return primary_run(argv[2], n, &local);
    }
    if (argc == 4 && strcmp(argv[1], "replica") == 0) {
        if (number(argv[3], 65535, &n) != 0 || n == 0) return usage();
        return replica_run(argv[2], (uint16_t)n, &local);
    }
    if (argc == 4 && strcmp(argv[1], "compare") == 0) return compare_logs(argv[2], argv[3]);
    return usage();
}
