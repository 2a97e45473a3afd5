/* A real write failure poisons the handle: every later write is refused with
 * WAL_E_POISONED, and reopening recovers exactly what was acknowledged.
 * The failure is produced by the kernel itself: RLIMIT_FSIZE makes a write
 * past the limit fail with EFBIG (SIGXFSZ ignored), in a child process so
 * the limit does not leak into the rest of the suite. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "testutil.h"

#define LIMIT_BYTES (64 * 1024)
#define VALUE_LEN 1000

static void fill_value(char *buf, uint64_t n) {
    for (int i = 0; i < VALUE_LEN; i++) buf[i] = (char)(n * 7 + (uint64_t)i);
}

static wal_options_t poison_opts(void) {
    wal_options_t o;
    wal_options_init(&o);
    o.segment_size = 1 << 20; /* one segment: the limit is hit inside it */
    o.preallocate = 0;        /* so that the file grows with each write */
    return o;
}

/* In the child: append until the kernel refuses, then check every write
 * path is poisoned. Exits with the number of acknowledged records, or 255. */
static void child_hits_the_limit(const char *dir) {
    signal(SIGXFSZ, SIG_IGN);
    wal_options_t o = poison_opts();
    wal_t *w;
    REQUIRE(wal_open(dir, &o, &w) == WAL_OK);
    struct rlimit lim = {LIMIT_BYTES, RLIM_INFINITY};
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lim) == 0);

    char value[VALUE_LEN];
    uint64_t acked = 0;
    for (;;) {
        fill_value(value, acked + 1);
        uint64_t seq = wal_append(w, WAL_OP_PUT, "k", 1, value, VALUE_LEN);
        if (seq == 0) break;
        REQUIRE(seq == acked + 1);
        acked = seq;
        REQUIRE(acked < 1000);
    }
    CHECK(wal_last_error() == WAL_E_IO);
    CHECK(strstr(wal_last_error_message(), ".wal") != NULL);
    CHECK(strstr(wal_last_error_message(), "too large") != NULL);

    CHECK(wal_append(w, WAL_OP_PUT, "k", 1, "v", 1) == 0);
    CHECK(wal_last_error() == WAL_E_POISONED);
    wal_entry_t e = {WAL_OP_PUT, "k", 1, "v", 1};
    CHECK(wal_append_batch(w, &e, 1) == 0);
    CHECK(wal_last_error() == WAL_E_POISONED);
    CHECK(wal_checkpoint(w) == 0);
    CHECK(wal_last_error() == WAL_E_POISONED);
    CHECK(wal_sync(w) == WAL_E_POISONED);
    CHECK(wal_truncate(w, 1) == WAL_E_POISONED);
    /* The failed append had taken its seq before its write failed; it was
     * never acknowledged, and the reopen below finds the log ends at acked. */
    CHECK(wal_last_seq(w) == acked || wal_last_seq(w) == acked + 1);
    CHECK(wal_close(w) == WAL_E_POISONED);
    _exit(tu_failures ? 255 : (int)acked);
}

static int check_record(void *ctx, const wal_record_t *r) {
    uint64_t *seen = ctx;
    char value[VALUE_LEN];
    fill_value(value, r->seq);
    CHECK_EQ_U64(r->seq, *seen + 1);
    CHECK(r->value_len == VALUE_LEN && memcmp(r->value, value, VALUE_LEN) == 0);
    *seen = r->seq;
    return 0;
}

static void test_write_failure_poisons_and_reopen_recovers(void) {
    char *dir = tu_tmpdir("poison");
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) child_hits_the_limit(dir);
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status) && WEXITSTATUS(status) != 255 && WEXITSTATUS(status) > 0);
    uint64_t acked = (uint64_t)WEXITSTATUS(status);

    /* The failed write left part of a frame behind: recovery cuts it. */
    wal_options_t o = poison_opts();
    wal_t *w;
    REQUIRE(wal_open(dir, &o, &w) == WAL_OK);
    CHECK_EQ_U64(wal_last_seq(w), acked);
    uint64_t seen = 0;
    CHECK(wal_replay(w, 0, check_record, &seen) == WAL_OK);
    CHECK_EQ_U64(seen, acked);
    CHECK_EQ_U64(wal_append(w, WAL_OP_PUT, "k", 1, "v", 1), acked + 1);
    CHECK(wal_close(w) == WAL_OK);
    tu_rmtree(dir);
    free(dir);
}

int main(void) {
    test_write_failure_poisons_and_reopen_recovers();
    return tu_finish("test_poison");
}
