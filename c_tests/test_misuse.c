/* Misuse of the C API: NULL in every pointer argument, lengths and counts
 * that overflow, iterators used after their handle closed and its segments
 * were deleted, garbage in every option, and a thousand open/close and
 * iterator cycles that must not leak a file descriptor. Every misuse gets a
 * status code and a message, never a crash. WAL_MISUSE_CYCLES sets the
 * number of cycles (default 1000), for slow runs under valgrind. */
#include <pthread.h>
#include <sys/mman.h>

#include "wal_suite.h"

enum { SMALL_SEGMENT = 4096, VALUE_LEN = 300 };

static int cycles(void) {
    const char *s = getenv("WAL_MISUSE_CYCLES");
    return s && *s ? atoi(s) : 1000;
}

/* Entries in /proc/self/fd: the process's open file descriptors. */
static int open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    REQUIRE(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The last error's message mentions `what` (an argument's name). */
#define CHECK_MESSAGE_NAMES(what) CHECK(strstr(wal_last_error_message(), (what)) != NULL)

/* ---- NULL in every pointer argument ---- */

static int never_called(void *ctx, const wal_record_t *r) {
    (void)ctx;
    (void)r;
    tu_failures++;
    return 1;
}

/* Each pointer argument NULL in turn, the others valid: WAL_E_INVALID, a
 * message naming the argument, and an out-pointer reset to NULL. */
static void test_null_in_every_pointer_argument(void) {
    su_dir_t d = su_dir("misuse-null");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = (wal_t *)&o; /* garbage a failed open must overwrite */
    CHECK_FAILS_RC(wal_open(NULL, &o, &w), WAL_E_INVALID);
    CHECK(w == NULL);
    CHECK_MESSAGE_NAMES("dir");
    CHECK_FAILS_RC(wal_open(d.path, &o, NULL), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("out");
    wal_options_init(NULL);

    w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 3, 10));
    CHECK_FAILS_SEQ(wal_append(w, WAL_OP_PUT, NULL, 1, "v", 1), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("key");
    CHECK_FAILS_SEQ(wal_append(w, WAL_OP_PUT, "k", 1, NULL, 1), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("value");
    CHECK_FAILS_SEQ(wal_append_batch(w, NULL, 1), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("entries");
    wal_entry_t batch[2] = { { WAL_OP_PUT, "k", 1, "v", 1 }, { WAL_OP_PUT, NULL, 2, NULL, 0 } };
    CHECK_FAILS_SEQ(wal_append_batch(w, batch, 2), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("entry 1");

    wal_iter_t *it = (wal_iter_t *)&o;
    CHECK_FAILS_RC(wal_iter_open(NULL, 0, &it), WAL_E_INVALID);
    CHECK(it == NULL);
    CHECK_MESSAGE_NAMES("handle");
    REQUIRE(wal_iter_open(w, 0, &it) == WAL_OK);
    wal_record_t r;
    CHECK_FAILS_RC(wal_iter_next(it, NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_iter_next(NULL, &r), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("iterator");
    CHECK_RC(wal_iter_next(it, &r), 1); /* the failed calls moved nothing */
    CHECK_EQ_U64(r.seq, 1);
    wal_iter_close(it);
    wal_iter_close(NULL);
    CHECK_FAILS_RC(wal_replay(w, 0, NULL, NULL), WAL_E_INVALID);
    CHECK_MESSAGE_NAMES("fn");
    CHECK_FAILS_RC(wal_replay(NULL, 0, never_called, NULL), WAL_E_INVALID);

    CHECK_EQ_U64(wal_last_seq(w), 3);
    su_close(w);
    CHECK_RC(wal_close(NULL), WAL_OK);
    su_expect_log(d.path, &o, 1, 3);
    su_dir_done(&d);
}

/* ---- lengths and counts that overflow ---- */

static void test_lengths_and_counts_that_overflow(void) {
    su_dir_t d = su_dir("misuse-overflow");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 2, 10));
    /* count * sizeof(wal_entry_t) wraps size_t, or passes 2^32: refused
     * before anything is read. */
    const size_t counts[] = { SIZE_MAX, SIZE_MAX / sizeof(wal_entry_t) + 1, (size_t)UINT32_MAX + 1 };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        CHECK_FAILS_SEQ(wal_append_batch(w, NULL, counts[i]), WAL_E_INVALID);
    /* NULL buffers with lengths whose sum wraps to a small number: refused
     * (too large, or NULL with a length) without a byte read. */
    const size_t lens[][2] = { { SIZE_MAX, 1 }, { 1, SIZE_MAX }, { SIZE_MAX, SIZE_MAX },
                               { SIZE_MAX / 2 + 1, SIZE_MAX / 2 + 1 } };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        CHECK_EQ_U64(wal_append(w, WAL_OP_PUT, NULL, lens[i][0], NULL, lens[i][1]), 0);
        CHECK(wal_last_error() == WAL_E_RANGE || wal_last_error() == WAL_E_INVALID);
        wal_entry_t e = { WAL_OP_PUT, NULL, lens[i][0], NULL, lens[i][1] };
        CHECK_EQ_U64(wal_append_batch(w, &e, 1), 0);
        CHECK(wal_last_error() == WAL_E_RANGE || wal_last_error() == WAL_E_INVALID);
    }
    /* Seqs at the top of the range. */
    CHECK_FAILS_RC(wal_truncate(w, UINT64_MAX), WAL_E_RANGE);
    su_scan_t s;
    CHECK_RC(su_scan_replay(w, UINT64_MAX, &s), WAL_E_RANGE);
    CHECK_EQ_U64(s.count, 0);
    CHECK_RC(su_scan_iter(w, UINT64_MAX - 1, &s), WAL_E_RANGE);
    CHECK_EQ_U64(s.count, 0);
    CHECK_EQ_U64(wal_last_seq(w), 2);
    su_close(w);
    su_expect_log(d.path, &o, 1, 2);
    su_dir_done(&d);
}

/* ---- batches too large to hold, the 0.2 options, the OS error ---- */

/* 600 entries of WAL_MAX_RECORD_SIZE each (37.5 GiB encoded) whose buffers
 * are not even readable: WAL_E_RANGE from the lengths alone, before a byte
 * is read or the batch's memory reserved (it used to abort the process
 * trying to allocate it). A count of entries past what WAL_MAX_BATCH_SIZE
 * holds is refused before the array is read. */
static void test_a_batch_too_large_to_hold_is_refused_before_anything_is_reserved(void) {
    su_dir_t d = su_dir("misuse-bigbatch");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 1, 10));
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *none = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(none != MAP_FAILED);
    enum { N = 600 };
    static wal_entry_t big[N];
    for (int i = 0; i < N; i++)
        big[i] = (wal_entry_t){ WAL_OP_PUT, none, 16, none, WAL_MAX_RECORD_SIZE - 16 };
    CHECK_FAILS_SEQ(wal_append_batch(w, big, N), WAL_E_RANGE);
    CHECK(strstr(wal_last_error_message(), "WAL_MAX_BATCH_SIZE") != NULL);
    /* Just over the limit, in many small entries. */
    size_t each = 9 + 1000, count = WAL_MAX_BATCH_SIZE / each + 1;
    wal_entry_t *many = calloc(count, sizeof *many);
    REQUIRE(many != NULL);
    for (size_t i = 0; i < count; i++) many[i] = (wal_entry_t){ WAL_OP_PUT, none, 500, none, 500 };
    CHECK_FAILS_SEQ(wal_append_batch(w, many, count), WAL_E_RANGE);
    free(many);
    /* More entries than WAL_MAX_BATCH_SIZE has room for entry headers: the
     * one-entry array is never read past its end. */
    wal_entry_t one = { WAL_OP_PUT, "k", 1, "v", 1 };
    CHECK_FAILS_SEQ(wal_append_batch(w, &one, WAL_MAX_BATCH_SIZE / 9 + 1), WAL_E_RANGE);
    munmap(none, page);
    CHECK_EQ_U64(wal_last_seq(w), 1);
    su_close(w);
    su_expect_log(d.path, &o, 1, 1);
    su_dir_done(&d);
}

/* A non-zero word in wal_options_t.reserved is WAL_E_INVALID and creates
 * nothing: a program built for a newer libwal must not have its new
 * options silently ignored. */
static void test_a_non_zero_reserved_option_word_is_refused(void) {
    for (int i = 0; i < 8; i++) {
        su_dir_t d = su_dir_below("misuse-reserved", "log");
        wal_options_t o = su_opts(SMALL_SEGMENT);
        for (int j = 0; j < 8; j++) CHECK_EQ_U64(o.reserved[j], 0);
        o.reserved[i] = 1;
        wal_t *w = (wal_t *)&o;
        CHECK_RC(wal_open(d.path, &o, &w), WAL_E_INVALID);
        CHECK(w == NULL && !su_exists(d.path));
        CHECK(strstr(wal_last_error_message(), "reserved") != NULL);
        su_dir_done(&d);
    }
}

/* wal_last_os_error: the errno behind a WAL_E_IO, 0 after any other error. */
static void test_the_os_error_behind_an_io_error(void) {
    su_dir_t d = su_dir_below("misuse-errno", "missing");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    o.create_if_missing = 0;
    wal_t *w;
    CHECK_RC(wal_open(d.path, &o, &w), WAL_E_IO);
    CHECK_EQ_U64(wal_last_os_error(), ENOENT);
    CHECK_EQ_U64(wal_append(NULL, WAL_OP_PUT, "k", 1, NULL, 0), 0);
    CHECK_EQ_U64(wal_last_error(), WAL_E_INVALID);
    CHECK_EQ_U64(wal_last_os_error(), 0);
    /* A file where the directory should be. */
    o.create_if_missing = 1;
    FILE *f = fopen(d.path, "w");
    REQUIRE(f != NULL);
    fclose(f);
    CHECK_RC(wal_open(d.path, &o, &w), WAL_E_IO);
    CHECK_EQ_U64(wal_last_os_error(), ENOTDIR);
    su_dir_done(&d);
}

/* A failing call from a thread-exit destructor (a pthread key's, which
 * runs after the thread's Rust storage is gone) returns its code rather
 * than aborting the process. */
static pthread_key_t dtor_key;
static volatile int dtor_ran, dtor_returned;

static void failing_call_in_destructor(void *arg) {
    (void)arg;
    dtor_ran = 1;
    uint64_t seq = wal_append(NULL, WAL_OP_PUT, "k", 1, NULL, 0);
    const char *msg = wal_last_error_message();
    int code = wal_last_error();
    (void)wal_last_os_error();
    if (seq == 0 && msg != NULL && (code == WAL_E_INVALID || code == WAL_OK)) dtor_returned = 1;
}

static void *thread_with_destructor(void *arg) {
    (void)arg;
    /* Fill this thread's error slot first, so that it has one to lose. */
    (void)wal_append(NULL, WAL_OP_PUT, "k", 1, NULL, 0);
    pthread_setspecific(dtor_key, (void *)1);
    return NULL;
}

static void test_a_failing_call_from_a_thread_exit_destructor_does_not_abort(void) {
    REQUIRE(pthread_key_create(&dtor_key, failing_call_in_destructor) == 0);
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, thread_with_destructor, NULL) == 0);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(dtor_ran && dtor_returned);
    pthread_key_delete(dtor_key);
}

/* ---- iterators that outlive their handle and its files ---- */

/* Reads what an orphaned iterator still gives: records in order and as
 * written, then the end or an error that stays. Returns the records read. */
static uint64_t drain_orphan(wal_iter_t *it, uint64_t next) {
    wal_record_t r;
    uint64_t read = 0;
    int rc;
    while ((rc = wal_iter_next(it, &r)) == 1) {
        CHECK_EQ_U64(r.seq, next);
        CHECK(su_record_is_derived(&r));
        next = r.seq + 1;
        read++;
    }
    if (rc < 0) {
        /* The segments it needed were deleted under it: a clear error,
         * given again by every later call. */
        CHECK(rc == WAL_E_RANGE || rc == WAL_E_IO || rc == WAL_E_CORRUPT);
        CHECK(wal_last_error_message()[0] != '\0');
        CHECK_RC(wal_iter_next(it, &r), rc);
    } else {
        CHECK_RC(wal_iter_next(it, &r), 0);
    }
    return read;
}

/* Iterators of a closed handle while a new handle truncates the log,
 * deleting the segments they read, and appends: records or a clear error,
 * never a crash or a wrong record. */
static void test_iterators_after_close_and_truncate_by_another_handle(void) {
    su_dir_t d = su_dir("misuse-orphan");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 40, VALUE_LEN));
    wal_iter_t *fresh = NULL, *started = NULL, *late = NULL;
    REQUIRE(wal_iter_open(w, 0, &fresh) == WAL_OK);
    REQUIRE(wal_iter_open(w, 0, &started) == WAL_OK);
    REQUIRE(wal_iter_open(w, 35, &late) == WAL_OK);
    wal_record_t r;
    for (int i = 0; i < 5; i++) CHECK_RC(wal_iter_next(started, &r), 1);
    su_close(w);

    w = su_open(d.path, &o);
    CHECK_RC(wal_truncate(w, 30), WAL_OK);
    SU_AT(su_append_n(w, 5, VALUE_LEN));
    CHECK(drain_orphan(fresh, 1) <= 40);
    CHECK(drain_orphan(started, 6) <= 35);
    CHECK(drain_orphan(late, 36) <= 5);
    wal_iter_close(fresh);
    wal_iter_close(started);
    wal_iter_close(late);
    su_close(w);
    su_expect_log(d.path, &o, 31, 45);
    su_dir_done(&d);
}

/* A replay callback that truncates everything up to the record it is
 * given: the replay still delivers every later record. */
static int truncating_cb(void *ctx, const wal_record_t *r) {
    wal_t *w = ctx;
    if (!su_record_is_derived(r) || wal_truncate(w, r->seq) != WAL_OK) return 1;
    return 0;
}

static void test_a_callback_that_truncates_behind_the_replay(void) {
    su_dir_t d = su_dir("misuse-cbtrunc");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 40, VALUE_LEN));
    CHECK_RC(wal_replay(w, 0, truncating_cb, w), WAL_OK);
    CHECK_EQ_U64(wal_first_seq(w), 41);
    SU_AT(su_append_n(w, 1, VALUE_LEN));
    su_close(w);
    su_expect_log(d.path, &o, 41, 41);
    su_dir_done(&d);
}

/* ---- garbage options ---- */

/* Values a careless caller leaves in a field. */
static const uint64_t garbage[] = { 0, 1, 2, 3, 4095, 4096, 100, 0x7fffffff, 0x80000000,
                                    UINT32_MAX, (uint64_t)1 << 62, (uint64_t)1 << 63,
                                    UINT64_MAX, 0xa5a5a5a5a5a5a5a5u };

static void set_field(wal_options_t *o, int field, uint64_t v) {
    switch (field) {
    case 0: o->segment_size = v; break;
    case 1: o->sync_mode = (uint32_t)v; break;
    case 2: o->sync_every = (uint32_t)v; break;
    case 3: o->recovery_mode = (uint32_t)v; break;
    case 4: o->read_only = (uint32_t)v; break;
    case 5: o->preallocate = (uint32_t)v; break;
    default: o->create_if_missing = (uint32_t)v; break;
    }
}

/* With garbage in one field (and sync_mode WAL_SYNC_EVERY, so that
 * sync_every matters; no preallocation, so that a garbage segment size
 * reserves no disk), wal_open either refuses with WAL_E_INVALID and
 * creates nothing, fails with WAL_E_IO because the directory is missing
 * and may not be created, or gives a handle that works. */
static void test_garbage_in_each_option_field(void) {
    for (int field = 0; field < 7; field++) {
        for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
            su_dir_t d = su_dir_below("misuse-opts", "log");
            wal_options_t o = su_opts(SMALL_SEGMENT);
            o.sync_mode = WAL_SYNC_EVERY;
            o.preallocate = 0;
            set_field(&o, field, garbage[g]);
            int before = tu_failures;
            wal_t *w = NULL;
            int rc = wal_open(d.path, &o, &w);
            if (rc == WAL_E_INVALID) {
                CHECK(w == NULL && !su_exists(d.path));
            } else if (rc == WAL_E_IO) {
                CHECK(o.read_only || !o.create_if_missing);
                CHECK(strstr(wal_last_error_message(), d.path) != NULL);
            } else {
                CHECK_RC(rc, WAL_OK);
                uint64_t seq = wal_append(w, WAL_OP_PUT, "k", 1, "v", 1);
                CHECK(seq == 1 || (o.read_only && wal_last_error() == WAL_E_READONLY));
                CHECK_RC(wal_close(w), WAL_OK);
            }
            if (tu_failures != before)
                fprintf(stderr, "  ... with field %d = %#llx: wal_open %d\n", field,
                        (unsigned long long)garbage[g], rc);
            su_dir_done(&d);
        }
    }
}

/* A segment size no disk can reserve (4 EiB): the first append fails with
 * WAL_E_IO naming the segment (or works where the file system does not
 * preallocate), and the handle is poisoned. */
static void test_a_segment_size_no_disk_can_reserve(void) {
    su_dir_t d = su_dir("misuse-huge");
    wal_options_t o = su_opts((uint64_t)1 << 62);
    wal_t *w = su_open(d.path, &o);
    if (wal_append(w, WAL_OP_PUT, "k", 1, "v", 1) == 0) {
        CHECK_LAST_ERROR(WAL_E_IO);
        CHECK(strstr(wal_last_error_message(), d.path) != NULL);
        CHECK_FAILS_RC(wal_close(w), WAL_E_POISONED);
    } else {
        su_close(w);
    }
    su_dir_done(&d);
}

/* ---- no descriptor leaks ---- */

/* Opens and closes writable and read-only handles, a second writer that
 * is refused, and a damaged log that is refused: none leaves a
 * descriptor behind. */
static void test_open_close_cycles_leak_no_descriptor(void) {
    su_dir_t d = su_dir("misuse-fds");
    su_dir_t bad = su_dir("misuse-fds-bad");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_options_t ro = o;
    ro.read_only = 1;
    su_close(su_open(bad.path, &o));
    char stray[sizeof bad.path + 16];
    snprintf(stray, sizeof stray, "%s/stray.wal", bad.path);
    FILE *f = fopen(stray, "w");
    REQUIRE(f != NULL);
    fclose(f);
    su_close(su_open(d.path, &o));
    int before = open_fds();
    for (int i = 0; i < cycles(); i++) {
        wal_t *w = su_open(d.path, &o);
        if (i % 10 == 0) su_append_derived(w, 10);
        if (i % 10 == 1) CHECK_FAILS_RC(su_open_status(d.path, &o), WAL_E_LOCKED);
        su_close(w);
        if (i % 10 == 2) su_close(su_open(d.path, &ro));
        if (i % 10 == 3) CHECK_FAILS_RC(su_open_status(bad.path, &o), WAL_E_CORRUPT);
    }
    CHECK_EQ_U64(open_fds(), before);
    su_dir_done(&d);
    su_dir_done(&bad);
}

static int stop_at_second(void *ctx, const wal_record_t *r) {
    (void)ctx;
    return r->seq % 2 == 0;
}

/* Iterators opened at every point of a log of several segments, read a
 * little or to the end, then closed; replays stopped by their callback. */
static void test_iterator_cycles_leak_no_descriptor(void) {
    su_dir_t d = su_dir("misuse-iterfds");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    wal_t *w = su_open(d.path, &o);
    uint64_t last = su_append_n(w, 60, VALUE_LEN);
    int before = open_fds();
    for (int i = 0; i < cycles(); i++) {
        uint64_t after = (uint64_t)i % (last + 1);
        wal_iter_t *it = NULL;
        REQUIRE(wal_iter_open(w, after, &it) == WAL_OK);
        wal_record_t r;
        for (int n = 0; n < i % 7 && wal_iter_next(it, &r) == 1; n++) CHECK_EQ_U64(r.seq, after + 1 + n);
        wal_iter_close(it);
        if (after < last) CHECK_RC(wal_replay(w, after, stop_at_second, NULL), 1);
    }
    CHECK_EQ_U64(open_fds(), before);
    su_close(w);
    su_dir_done(&d);
}

int main(void) {
    su_begin();
    SU_RUN(test_null_in_every_pointer_argument);
    SU_RUN(test_lengths_and_counts_that_overflow);
    SU_RUN(test_a_batch_too_large_to_hold_is_refused_before_anything_is_reserved);
    SU_RUN(test_a_non_zero_reserved_option_word_is_refused);
    SU_RUN(test_the_os_error_behind_an_io_error);
    SU_RUN(test_a_failing_call_from_a_thread_exit_destructor_does_not_abort);
    SU_RUN(test_iterators_after_close_and_truncate_by_another_handle);
    SU_RUN(test_a_callback_that_truncates_behind_the_replay);
    SU_RUN(test_garbage_in_each_option_field);
    SU_RUN(test_a_segment_size_no_disk_can_reserve);
    SU_RUN(test_open_close_cycles_leak_no_descriptor);
    SU_RUN(test_iterator_cycles_leak_no_descriptor);
    return tu_finish("test_misuse");
}
