/* wal_stats (wal-api.md 0.2): its argument checks, and its counters against
 * what the test can see for itself: the records it appended, the segment
 * files' sizes and blocks, the seven appends that waited behind one held
 * group. */
#include <pthread.h>

#include "wal_suite.h"

enum { SMALL_SEGMENT = 4096 };

/* The segment files of dir: how many, their lengths and their blocks. */
typedef struct {
    uint64_t count, length, disk_bytes;
} files_t;

static files_t segment_files(const char *dir) {
    files_t f = { 0, 0, 0 };
    char path[4096];
    for (int i = 0; tu_segment_path(dir, i, path, sizeof path) == 0; i++) {
        struct stat st;
        REQUIRE(stat(path, &st) == 0);
        f.count++;
        f.length += (uint64_t)st.st_size;
        f.disk_bytes += (uint64_t)st.st_blocks * 512;
    }
    return f;
}

/* wal_stats, which must succeed; the reserved words must come back zero. */
static wal_stats_t stats_of(wal_t *w) {
    wal_stats_t s;
    memset(&s, 0xa5, sizeof s);
    CHECK_RC(wal_stats(w, &s), WAL_OK);
    for (size_t i = 0; i < sizeof s.reserved / sizeof s.reserved[0]; i++) CHECK_EQ_U64(s.reserved[i], 0);
    return s;
}

static void test_null_handle_and_null_out_are_invalid(void) {
    su_dir_t d = su_dir("stats-null");
    wal_t *w = su_open(d.path, NULL);
    wal_stats_t s;
    CHECK_FAILS_RC(wal_stats(NULL, &s), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_stats(w, NULL), WAL_E_INVALID);
    su_close(w);
    su_dir_done(&d);
}

/* Durable appends, no preallocation: every byte written is in a segment
 * file, once, so bytes_written is the files' lengths; each append took an
 * fdatasync of its own. */
static void test_counters_match_the_records_and_the_files(void) {
    su_dir_t d = su_dir("stats-files");
    wal_options_t o = su_opts(SMALL_SEGMENT);
    o.preallocate = 0;
    wal_t *w = su_open(d.path, &o);
    wal_stats_t s = stats_of(w);
    CHECK_EQ_U64(s.records_appended, 0);
    CHECK_EQ_U64(s.segments, 0);
    CHECK_EQ_U64(s.syncs, 0);
    uint64_t bytes = 0;
    for (uint64_t seq = 1; seq <= 60; seq++) {
        char key[SU_KEY_CAP];
        bytes += su_key_for(seq, 100, key) + 100;
        SU_AT(su_append_derived(w, 100));
    }
    wal_entry_t batch[2] = { { 1, "ab", 2, "cde", 3 }, { 1, NULL, 0, NULL, 0 } };
    CHECK_EQ_U64(wal_append_batch(w, batch, 2), 62);
    CHECK_EQ_U64(wal_checkpoint(w), 63);
    bytes += 5;
    s = stats_of(w);
    files_t f = segment_files(d.path);
    CHECK_EQ_U64(s.records_appended, 63);
    CHECK_EQ_U64(s.bytes_appended, bytes);
    CHECK(f.count > 2);
    CHECK_EQ_U64(s.segments, f.count);
    CHECK_EQ_U64(s.disk_bytes, f.disk_bytes);
    CHECK_EQ_U64(s.bytes_written, f.length);
    CHECK(s.syncs >= 62);
    CHECK_EQ_U64(s.group_max, 2); /* one thread: one append per fdatasync, the batch of two */
    CHECK(s.sync_us_p50 <= s.sync_us_p99 && s.sync_us_p99 <= s.sync_us_max);
    CHECK_RC(wal_truncate(w, 50), WAL_OK);
    wal_stats_t t = stats_of(w);
    /* The files a truncate frees go to a thread that deletes them. */
    for (int i = 0; i < 2000 && segment_files(d.path).count != t.segments; i++) usleep(5000);
    f = segment_files(d.path);
    CHECK(t.segments < s.segments);
    CHECK_EQ_U64(t.segments, f.count);
    CHECK_EQ_U64(t.disk_bytes, f.disk_bytes);
    su_close(w);
    su_dir_done(&d);
}

/* A preallocated segment occupies its reserved space; a read-only handle
 * has appended, written and synced nothing. */
static void test_disk_bytes_count_the_reserved_space(void) {
    su_dir_t d = su_dir("stats-prealloc");
    wal_options_t o = su_opts(0);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_derived(w, 100));
    wal_stats_t s = stats_of(w);
    files_t f = segment_files(d.path);
    CHECK_EQ_U64(s.segments, 1);
    CHECK_EQ_U64(s.disk_bytes, f.disk_bytes);
    CHECK(s.bytes_written > 4096); /* the zeros written ahead of the data */
    o.read_only = 1;
    wal_t *ro = su_open(d.path, &o);
    wal_stats_t r = stats_of(ro);
    CHECK_EQ_U64(r.records_appended, 0);
    CHECK_EQ_U64(r.bytes_written, 0);
    CHECK_EQ_U64(r.syncs, 0);
    CHECK_EQ_U64(r.segments, 1);
    CHECK_EQ_U64(r.disk_bytes, f.disk_bytes);
    su_close(ro);
    su_close(w);
    su_dir_done(&d);
}

typedef struct {
    wal_t *w;
    uint64_t appended;
} appender_t;

static void *append_100(void *arg) {
    appender_t *a = arg;
    for (int i = 0; i < 100; i++)
        if (wal_append(a->w, 1, "k", 1, "v", 1) != 0) a->appended++;
    return NULL;
}

/* Eight threads of durable appends: every record counted once, and no
 * group larger than what was appended. */
static void test_threads_count_every_record(void) {
    su_dir_t d = su_dir("stats-threads");
    wal_t *w = su_open(d.path, NULL);
    pthread_t t[8];
    appender_t a[8];
    for (int i = 0; i < 8; i++) {
        a[i] = (appender_t){ w, 0 };
        REQUIRE(pthread_create(&t[i], NULL, append_100, &a[i]) == 0);
    }
    for (int i = 0; i < 8; i++) REQUIRE(pthread_join(t[i], NULL) == 0);
    for (int i = 0; i < 8; i++) CHECK_EQ_U64(a[i].appended, 100);
    wal_stats_t s = stats_of(w);
    CHECK_EQ_U64(s.records_appended, 800);
    CHECK_EQ_U64(s.bytes_appended, 1600);
    CHECK(s.group_max >= 1 && s.group_max <= 800);
    CHECK(s.syncs >= 800 / s.group_max);
    su_close(w);
    su_dir_done(&d);
}

int main(void) {
    su_begin();
    SU_RUN(test_null_handle_and_null_out_are_invalid);
    SU_RUN(test_counters_match_the_records_and_the_files);
    SU_RUN(test_disk_bytes_count_the_reserved_space);
    SU_RUN(test_threads_count_every_record);
    return tu_finish("test_stats");
}
