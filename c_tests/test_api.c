/* The C API contract (wal-api.md) function by function: argument checks and
 * error codes, seq numbering, batches, checkpoints, truncation, iteration and
 * replay, options, wal_version and wal_strerror. Damage and recovery are in
 * test_recovery.c, concurrency in test_threads.c. */
#include <sys/mman.h>

#include "wal_suite.h"

enum { SMALL_SEGMENT = 4096 };

/* A log in a fresh directory with the given options (NULL: defaults). */
typedef struct {
    su_dir_t dir;
    wal_options_t opts;
    wal_t *w;
} fixture_t;

static fixture_t fixture_open(const char *tag, const wal_options_t *opts) {
    fixture_t f;
    f.dir = su_dir(tag);
    f.opts = opts ? *opts : su_opts(0);
    f.w = su_open(f.dir.path, &f.opts);
    return f;
}

static void fixture_reopen(fixture_t *f) {
    su_close(f->w);
    f->w = su_open(f->dir.path, &f->opts);
}

static void fixture_done(fixture_t *f) {
    su_close(f->w);
    su_dir_done(&f->dir);
}

static uint64_t append_str(wal_t *w, uint8_t op, const char *key, const char *value) {
    return wal_append(w, op, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0);
}

static wal_entry_t entry_str(uint8_t op, const char *key, const char *value) {
    wal_entry_t e = { op, key, key ? strlen(key) : 0, value, value ? strlen(value) : 0 };
    return e;
}

/* The log holds exactly the given records: n of them, keys[i]/values[i] at
 * seq first + i, all with op WAL_OP_PUT. */
static void expect_strings(wal_t *w, uint64_t first, const char *const *keys,
                           const char *const *values, size_t n) {
    su_recs_t rs = { 0 };
    CHECK_RC(su_collect(w, 0, &rs), WAL_OK);
    CHECK_EQ_U64(rs.n, n);
    for (size_t i = 0; i < rs.n && i < n; i++)
        CHECK(su_rec_is(&rs.v[i], first + i, WAL_OP_PUT, keys[i], values[i]));
    su_recs_free(&rs);
}

/* An inaccessible page: any read of it crashes the process. */
static void *no_access_page(size_t *size) {
    *size = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, *size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    return p;
}

/* ---- wal_version, wal_strerror, wal_options_init ---- */

static void test_version_is_major_minor_patch(void) {
    const char *v = wal_version();
    REQUIRE(v != NULL);
    unsigned major, minor, patch;
    int end = -1;
    CHECK(sscanf(v, "%u.%u.%u%n", &major, &minor, &patch, &end) == 3);
    CHECK(end == (int)strlen(v));
    CHECK(v[0] >= '0' && v[0] <= '9');
    if (end != (int)strlen(v)) fprintf(stderr, "  wal_version() = \"%s\"\n", v);
    /* The library linked in is the one this header describes. */
    CHECK(major == WAL_VERSION_MAJOR && minor == WAL_VERSION_MINOR && patch == WAL_VERSION_PATCH);
}

static void test_strerror_names_every_code(void) {
    static const int codes[] = { WAL_OK, WAL_E_INVALID, WAL_E_IO, WAL_E_CORRUPT,
                                 WAL_E_LOCKED, WAL_E_POISONED, WAL_E_RANGE,
                                 WAL_E_READONLY, WAL_E_INTERNAL };
    enum { N = sizeof codes / sizeof codes[0] };
    CHECK(WAL_OK == 0 && WAL_E_INVALID == -1 && WAL_E_IO == -2 && WAL_E_CORRUPT == -3 &&
          WAL_E_LOCKED == -4 && WAL_E_POISONED == -5 && WAL_E_RANGE == -6 &&
          WAL_E_READONLY == -7 && WAL_E_INTERNAL == -8);
    for (int i = 0; i < N; i++) {
        const char *s = wal_strerror(codes[i]);
        CHECK(s != NULL && s[0] != '\0');
        for (int j = 0; j < i && s; j++) {
            const char *t = wal_strerror(codes[j]);
            if (t && !strcmp(s, t)) {
                fprintf(stderr, "  codes %d and %d share the text \"%s\"\n", codes[i],
                        codes[j], s);
                tu_failures++;
            }
        }
    }
    /* Codes the contract does not define still get some text. */
    static const int unknown[] = { 1, -9, -1000, 12345 };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *s = wal_strerror(unknown[i]);
        CHECK(s != NULL && s[0] != '\0');
    }
}

static void test_options_init_fills_in_the_defaults(void) {
    wal_options_t o;
    memset(&o, 0xa5, sizeof o);
    wal_options_init(&o);
    CHECK_EQ_U64(o.segment_size, 64u << 20);
    CHECK_EQ_U64(o.sync_mode, WAL_SYNC_ALWAYS);
    CHECK_EQ_U64(o.sync_every, 100);
    CHECK_EQ_U64(o.recovery_mode, WAL_RECOVER_TAIL);
    CHECK_EQ_U64(o.read_only, 0);
    CHECK(o.preallocate != 0);
    CHECK(o.create_if_missing != 0);
    wal_options_init(NULL); /* must not crash */
}

/* ---- opening ---- */

static void test_open_with_null_options_creates_the_directory(void) {
    su_dir_t d = su_dir_below("api-create", "log");
    CHECK(!su_exists(d.path));
    wal_t *w = su_open(d.path, NULL);
    struct stat st;
    CHECK(stat(d.path, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK_EQ_U64(wal_last_seq(w), 0);
    CHECK_EQ_U64(wal_first_seq(w), 1);
    su_expect_derived(w, 0, 1, 0);
    su_close(w);
    su_dir_done(&d);
}

static void test_open_rejects_null_dir_and_out(void) {
    su_dir_t d = su_dir("api-open-null");
    wal_options_t o = su_opts(0);
    CHECK_FAILS_RC(su_open_status(NULL, &o), WAL_E_INVALID);
    CHECK_FAILS_RC(su_open_status(NULL, NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_open(d.path, &o, NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_open(d.path, NULL, NULL), WAL_E_INVALID);
    /* The directory is still free to open. */
    su_close(su_open(d.path, &o));
    su_dir_done(&d);
}

/* Each way of getting an option out of range: WAL_E_INVALID, and the
 * directory is not created. */
static void test_invalid_options_create_nothing(void) {
    static const char *const what[] = { "segment_size 4095", "segment_size 0",
                                        "sync_mode 3", "sync_mode UINT32_MAX",
                                        "recovery_mode 2", "sync_every 0 with SYNC_EVERY" };
    enum { N = sizeof what / sizeof what[0] };
    for (int i = 0; i < N; i++) {
        su_dir_t d = su_dir_below("api-badopt", "log");
        wal_options_t o = su_opts(0);
        switch (i) {
        case 0: o.segment_size = 4095; break;
        case 1: o.segment_size = 0; break;
        case 2: o.sync_mode = 3; break;
        case 3: o.sync_mode = UINT32_MAX; break;
        case 4: o.recovery_mode = 2; break;
        default: o.sync_mode = WAL_SYNC_EVERY; o.sync_every = 0; break;
        }
        int before = tu_failures;
        CHECK_FAILS_RC(su_open_status(d.path, &o), WAL_E_INVALID);
        CHECK(!su_exists(d.path));
        if (tu_failures != before) fprintf(stderr, "  ... with %s\n", what[i]);
        su_dir_done(&d);
    }
}

/* The edges of the valid ranges open fine. */
static void test_boundary_options_are_accepted(void) {
    for (int i = 0; i < 4; i++) {
        wal_options_t o = su_opts(4096);
        if (i == 1) { o.sync_mode = WAL_SYNC_ALWAYS; o.sync_every = 0; }
        if (i == 2) { o.sync_mode = WAL_SYNC_NONE; o.sync_every = 0; }
        if (i == 3) { o.sync_mode = WAL_SYNC_EVERY; o.sync_every = 1; o.recovery_mode = WAL_RECOVER_SALVAGE; }
        fixture_t f = fixture_open("api-edgeopt", &o);
        SU_AT(su_append_n(f.w, 3, 10));
        fixture_reopen(&f);
        SU_AT(su_expect_derived(f.w, 0, 1, 3));
        fixture_done(&f);
    }
}

/* A path below a regular file cannot be a directory: WAL_E_IO, with a
 * message naming the path and the OS error. */
static void test_open_below_a_regular_file_is_io_error_naming_it(void) {
    su_dir_t d = su_dir_below("api-notdir", "file");
    int fd = open(d.path, O_CREAT | O_WRONLY, 0644);
    REQUIRE(fd >= 0);
    close(fd);
    char below[4200];
    snprintf(below, sizeof below, "%s/log", d.path);
    for (int read_only = 0; read_only < 2; read_only++) {
        wal_options_t o = su_opts(0);
        o.read_only = (uint32_t)read_only;
        CHECK_FAILS_RC(su_open_status(below, &o), WAL_E_IO);
        const char *msg = wal_last_error_message();
        CHECK(msg && strstr(msg, d.path) != NULL);
        CHECK(msg && strstr(msg, strerror(ENOTDIR)) != NULL);
        if (msg && !strstr(msg, d.path)) fprintf(stderr, "  message: \"%s\"\n", msg);
        /* Opening the regular file itself as the log directory. */
        CHECK_FAILS_RC(su_open_status(d.path, &o), WAL_E_IO);
        msg = wal_last_error_message();
        CHECK(msg && strstr(msg, d.path) != NULL);
    }
    CHECK_EQ_U64(tu_file_size(d.path), 0);
    su_dir_done(&d);
}

/* create_if_missing = 0 and no directory: WAL_E_IO naming it, nothing made. */
static void test_missing_dir_without_create_is_io_error(void) {
    for (int read_only = 0; read_only < 2; read_only++) {
        su_dir_t d = su_dir_below("api-nodir", "log");
        wal_options_t o = su_opts(0);
        o.create_if_missing = 0;
        o.read_only = (uint32_t)read_only;
        CHECK_FAILS_RC(su_open_status(d.path, &o), WAL_E_IO);
        const char *msg = wal_last_error_message();
        CHECK(msg && strstr(msg, d.path) != NULL);
        CHECK(msg && strstr(msg, strerror(ENOENT)) != NULL);
        if (msg && !strstr(msg, d.path)) fprintf(stderr, "  message: \"%s\"\n", msg);
        CHECK(!su_exists(d.path));
        /* With the directory there, create_if_missing = 0 opens it. */
        REQUIRE(mkdir(d.path, 0755) == 0);
        if (read_only) {
            wal_options_t wo = su_opts(0);
            su_close(su_open(d.path, &wo));
        }
        su_close(su_open(d.path, &o));
        su_dir_done(&d);
    }
}

/* A read-only open changes no file, so it does not create a missing
 * directory even with create_if_missing: it fails, or opens an empty log. */
static void test_read_only_open_creates_no_directory(void) {
    su_dir_t d = su_dir_below("api-ronodir", "log");
    wal_options_t o = su_opts(0);
    o.read_only = 1;
    wal_t *w = NULL;
    int rc = wal_open(d.path, &o, &w);
    CHECK(rc == WAL_OK || rc == WAL_E_IO);
    if (rc == WAL_OK) {
        CHECK_EQ_U64(wal_last_seq(w), 0);
        su_close(w);
    }
    CHECK(!su_exists(d.path));
    su_dir_done(&d);
}

/* ---- NULL arguments ---- */

static int count_cb(void *ctx, const wal_record_t *r) {
    (void)r;
    ++*(int *)ctx;
    return 0;
}

static int ignore_ctx_cb(void *ctx, const wal_record_t *r) {
    (void)ctx;
    (void)r;
    return 0;
}

static void test_null_handle_is_invalid_everywhere(void) {
    wal_entry_t e = entry_str(WAL_OP_PUT, "k", "v");
    wal_iter_t *it = NULL;
    int calls = 0;
    CHECK_FAILS_SEQ(wal_append(NULL, WAL_OP_PUT, "k", 1, "v", 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append_batch(NULL, &e, 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_checkpoint(NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_truncate(NULL, 1), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_sync(NULL), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_last_seq(NULL), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_first_seq(NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_iter_open(NULL, 0, &it), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_replay(NULL, 0, count_cb, &calls), WAL_E_INVALID);
    wal_record_t r;
    CHECK_FAILS_RC(wal_iter_next(NULL, &r), WAL_E_INVALID);
    CHECK_EQ_U64(calls, 0);
    wal_iter_close(NULL);
    CHECK_RC(wal_close(NULL), WAL_OK);
}

static void test_null_out_pointers_are_invalid(void) {
    fixture_t f = fixture_open("api-nullout", NULL);
    SU_AT(su_append_n(f.w, 2, 5));
    CHECK_FAILS_RC(wal_iter_open(f.w, 0, NULL), WAL_E_INVALID);
    CHECK_FAILS_RC(wal_replay(f.w, 0, NULL, NULL), WAL_E_INVALID);
    wal_iter_t *it = NULL;
    REQUIRE(wal_iter_open(f.w, 0, &it) == WAL_OK && it != NULL);
    CHECK_FAILS_RC(wal_iter_next(it, NULL), WAL_E_INVALID);
    /* The iterator still works after the rejected call. */
    wal_record_t r;
    CHECK_RC(wal_iter_next(it, &r), 1);
    CHECK_EQ_U64(r.seq, 1);
    wal_iter_close(it);
    /* A NULL ctx is fine: ctx is only handed to the callback. */
    CHECK_RC(wal_replay(f.w, 1, ignore_ctx_cb, NULL), WAL_OK);
    fixture_done(&f);
}

/* The log holds exactly a=1 (seq 1) and b=2 (seq 2), before and after a
 * reopen: what is left after refused appends between the two. */
static void expect_only_a_and_b_then_done(fixture_t *f) {
    static const char *const keys[] = { "a", "b" }, *const values[] = { "1", "2" };
    expect_strings(f->w, 1, keys, values, 2);
    fixture_reopen(f);
    expect_strings(f->w, 1, keys, values, 2);
    fixture_done(f);
}

static void test_null_buffer_with_length_is_invalid(void) {
    fixture_t f = fixture_open("api-nullbuf", NULL);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
    CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_PUT, NULL, 3, "v", 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_PUT, "k", 1, NULL, 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_PUT, NULL, 1, NULL, 1), WAL_E_INVALID);
    CHECK_EQ_U64(wal_last_seq(f.w), 1);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "b", "2"), 2);
    expect_only_a_and_b_then_done(&f);
}

/* NULL with length 0 is an empty key or value, and so is a non-NULL pointer
 * with length 0. */
static void test_empty_key_and_value_round_trip(void) {
    fixture_t f = fixture_open("api-empty", NULL);
    CHECK_EQ_U64(wal_append(f.w, WAL_OP_PUT, NULL, 0, NULL, 0), 1);
    CHECK_EQ_U64(wal_append(f.w, WAL_OP_DELETE, "k", 1, NULL, 0), 2);
    CHECK_EQ_U64(wal_append(f.w, WAL_OP_PUT, NULL, 0, "v", 1), 3);
    CHECK_EQ_U64(wal_append(f.w, WAL_OP_PUT, "x", 0, "y", 0), 4);
    for (int pass = 0; pass < 2; pass++) {
        su_recs_t rs = { 0 };
        CHECK_RC(su_collect(f.w, 0, &rs), WAL_OK);
        REQUIRE(rs.n == 4);
        CHECK(su_rec_is(&rs.v[0], 1, WAL_OP_PUT, NULL, NULL));
        CHECK(su_rec_is(&rs.v[1], 2, WAL_OP_DELETE, "k", NULL));
        CHECK(su_rec_is(&rs.v[2], 3, WAL_OP_PUT, NULL, "v"));
        CHECK(su_rec_is(&rs.v[3], 4, WAL_OP_PUT, NULL, NULL));
        su_recs_free(&rs);
        fixture_reopen(&f);
    }
    fixture_done(&f);
}

/* ---- op codes ---- */

static void test_reserved_ops_are_invalid(void) {
    fixture_t f = fixture_open("api-ops", NULL);
    CHECK_FAILS_SEQ(wal_append(f.w, 0, "k", 1, "v", 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_CHECKPOINT, "k", 1, "v", 1), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_CHECKPOINT, NULL, 0, NULL, 0), WAL_E_INVALID);
    CHECK_EQ_U64(wal_last_seq(f.w), 0);
    su_expect_derived(f.w, 0, 1, 0);
    fixture_done(&f);
}

/* Every caller op 1..254 is stored and read back as given. */
static void test_every_caller_op_round_trips(void) {
    wal_options_t o = su_opts(SMALL_SEGMENT);
    o.sync_mode = WAL_SYNC_NONE;
    fixture_t f = fixture_open("api-allops", &o);
    for (int op = 1; op <= 254; op++) {
        unsigned char b = (unsigned char)op;
        CHECK_EQ_U64(wal_append(f.w, (uint8_t)op, &b, 1, &b, 1), (uint64_t)op);
    }
    fixture_reopen(&f);
    su_recs_t rs = { 0 };
    CHECK_RC(su_collect(f.w, 0, &rs), WAL_OK);
    CHECK_EQ_U64(rs.n, 254);
    for (size_t i = 0; i < rs.n; i++) {
        const su_rec_t *r = &rs.v[i];
        CHECK(r->seq == i + 1 && r->op == i + 1 && r->key_len == 1 && r->value_len == 1 &&
              r->key[0] == r->op && r->value[0] == r->op);
    }
    su_recs_free(&rs);
    fixture_done(&f);
}

/* ---- seq numbering ---- */

static void test_seqs_are_contiguous_and_continue_after_reopen(void) {
    fixture_t f = fixture_open("api-seq", NULL);
    CHECK_EQ_U64(wal_last_seq(f.w), 0);
    CHECK_EQ_U64(wal_first_seq(f.w), 1);
    for (uint64_t i = 1; i <= 5; i++) {
        CHECK_EQ_U64(su_append_derived(f.w, (size_t)i * 3), i);
        CHECK_EQ_U64(wal_last_seq(f.w), i);
        CHECK_EQ_U64(wal_first_seq(f.w), 1);
    }
    fixture_reopen(&f);
    CHECK_EQ_U64(wal_last_seq(f.w), 5);
    CHECK_EQ_U64(wal_first_seq(f.w), 1);
    CHECK_EQ_U64(su_append_derived(f.w, 7), 6);
    fixture_reopen(&f);
    CHECK_EQ_U64(wal_last_seq(f.w), 6);
    su_expect_derived(f.w, 0, 1, 6);
    su_expect_derived(f.w, 4, 5, 6);
    fixture_done(&f);
}

/* ---- batches ---- */

static void test_batch_gets_consecutive_seqs(void) {
    fixture_t f = fixture_open("api-batch", NULL);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "b", "2"), 2);
    wal_entry_t batch[4] = { entry_str(WAL_OP_PUT, "c", "3"),
                             entry_str(WAL_OP_DELETE, "d", NULL),
                             entry_str(7, NULL, NULL),
                             entry_str(254, "f", "6") };
    CHECK_EQ_U64(wal_append_batch(f.w, batch, 4), 6);
    CHECK_EQ_U64(wal_last_seq(f.w), 6);
    CHECK_EQ_U64(wal_append_batch(f.w, batch, 1), 7); /* a batch of one */
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "h", "8"), 8);
    for (int pass = 0; pass < 2; pass++) {
        su_recs_t rs = { 0 };
        CHECK_RC(su_collect(f.w, 2, &rs), WAL_OK);
        REQUIRE(rs.n == 6);
        CHECK(su_rec_is(&rs.v[0], 3, WAL_OP_PUT, "c", "3"));
        CHECK(su_rec_is(&rs.v[1], 4, WAL_OP_DELETE, "d", NULL));
        CHECK(su_rec_is(&rs.v[2], 5, 7, NULL, NULL));
        CHECK(su_rec_is(&rs.v[3], 6, 254, "f", "6"));
        CHECK(su_rec_is(&rs.v[4], 7, WAL_OP_PUT, "c", "3"));
        CHECK(su_rec_is(&rs.v[5], 8, WAL_OP_PUT, "h", "8"));
        su_recs_free(&rs);
        /* Starting inside a batch returns the rest of it. */
        CHECK_RC(su_collect(f.w, 4, &rs), WAL_OK);
        CHECK(rs.n == 4 && su_rec_is(&rs.v[0], 5, 7, NULL, NULL) &&
              su_rec_is(&rs.v[1], 6, 254, "f", "6"));
        su_recs_free(&rs);
        fixture_reopen(&f);
    }
    fixture_done(&f);
}

/* One bad entry anywhere in a batch: WAL_E_INVALID, nothing written, not
 * even the good entries before it, and the counter does not move. */
static void test_batch_with_an_invalid_entry_writes_nothing(void) {
    static const char *const what[] = { "op 0", "op 255", "NULL key, key_len 2",
                                        "NULL value, value_len 1" };
    fixture_t f = fixture_open("api-badbatch", NULL);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
    for (int bad = 0; bad < 4; bad++) {
        for (int pos = 0; pos < 3; pos++) {
            wal_entry_t batch[3] = { entry_str(WAL_OP_PUT, "x", "1"),
                                     entry_str(WAL_OP_PUT, "y", "2"),
                                     entry_str(WAL_OP_PUT, "z", "3") };
            wal_entry_t *e = &batch[pos];
            switch (bad) {
            case 0: e->op = 0; break;
            case 1: e->op = WAL_OP_CHECKPOINT; break;
            case 2: e->key = NULL; e->key_len = 2; break;
            default: e->value = NULL; e->value_len = 1; break;
            }
            int before = tu_failures;
            CHECK_FAILS_SEQ(wal_append_batch(f.w, batch, 3), WAL_E_INVALID);
            CHECK_EQ_U64(wal_last_seq(f.w), 1);
            if (tu_failures != before)
                fprintf(stderr, "  ... with %s at entry %d\n", what[bad], pos);
        }
    }
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "b", "2"), 2);
    expect_only_a_and_b_then_done(&f);
}

static void test_batch_count_zero_or_null_entries_is_invalid(void) {
    fixture_t f = fixture_open("api-emptybatch", NULL);
    wal_entry_t e = entry_str(WAL_OP_PUT, "k", "v");
    CHECK_FAILS_SEQ(wal_append_batch(f.w, &e, 0), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append_batch(f.w, NULL, 0), WAL_E_INVALID);
    CHECK_FAILS_SEQ(wal_append_batch(f.w, NULL, 3), WAL_E_INVALID);
    CHECK_EQ_U64(wal_last_seq(f.w), 0);
    CHECK_EQ_U64(wal_append_batch(f.w, &e, 1), 1);
    fixture_done(&f);
}

/* ---- checkpoints ---- */

static void test_checkpoint_is_replayed_with_op_255_and_no_data(void) {
    static const uint32_t modes[] = { WAL_SYNC_ALWAYS, WAL_SYNC_EVERY, WAL_SYNC_NONE };
    for (int m = 0; m < 3; m++) {
        wal_options_t o = su_opts(0);
        o.sync_mode = modes[m];
        fixture_t f = fixture_open("api-ckpt", &o);
        CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
        CHECK_EQ_U64(wal_checkpoint(f.w), 2);
        CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "b", "2"), 3);
        CHECK_EQ_U64(wal_checkpoint(f.w), 4);
        CHECK_EQ_U64(wal_last_seq(f.w), 4);
        for (int pass = 0; pass < 2; pass++) {
            su_recs_t rs = { 0 };
            CHECK_RC(su_collect(f.w, 0, &rs), WAL_OK);
            REQUIRE(rs.n == 4);
            CHECK(su_rec_is(&rs.v[0], 1, WAL_OP_PUT, "a", "1"));
            CHECK(su_rec_is(&rs.v[1], 2, WAL_OP_CHECKPOINT, NULL, NULL));
            CHECK(su_rec_is(&rs.v[2], 3, WAL_OP_PUT, "b", "2"));
            CHECK(su_rec_is(&rs.v[3], 4, WAL_OP_CHECKPOINT, NULL, NULL));
            su_recs_free(&rs);
            fixture_reopen(&f);
        }
        fixture_done(&f);
    }
}

/* ---- truncation ---- */

/* The example of the issue: a, b, c; truncate(2); only c is left. */
static void test_seed_example_truncate_keeps_only_c(void) {
    fixture_t f = fixture_open("api-seed", NULL);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "b", "2"), 2);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "c", "3"), 3);
    CHECK_RC(wal_truncate(f.w, 2), WAL_OK);
    static const char *const keys[] = { "c" }, *const values[] = { "3" };
    for (int pass = 0; pass < 2; pass++) {
        CHECK_EQ_U64(wal_first_seq(f.w), 3);
        CHECK_EQ_U64(wal_last_seq(f.w), 3);
        expect_strings(f.w, 3, keys, values, 1);
        su_recs_t rs = { 0 };
        CHECK_RC(su_collect(f.w, 2, &rs), WAL_OK);
        CHECK(rs.n == 1 && su_rec_is(&rs.v[0], 3, WAL_OP_PUT, "c", "3"));
        su_recs_free(&rs);
        fixture_reopen(&f);
    }
    fixture_done(&f);
}

/* Truncating every record empties the log, but the counter goes on: after a
 * reopen, first_seq is last_seq + 1 and the next append gets last_seq + 1. */
static void test_truncate_everything_then_reopen_continues_the_counter(void) {
    static const uint32_t modes[] = { WAL_SYNC_ALWAYS, WAL_SYNC_NONE };
    for (int m = 0; m < 2; m++) {
        wal_options_t o = su_opts(SMALL_SEGMENT);
        o.sync_mode = modes[m];
        fixture_t f = fixture_open("api-truncall", &o);
        SU_AT(su_append_n(f.w, 60, 100)); /* a few segments */
        CHECK_RC(wal_truncate(f.w, 60), WAL_OK);
        CHECK_EQ_U64(wal_first_seq(f.w), 61);
        CHECK_EQ_U64(wal_last_seq(f.w), 60);
        SU_AT(su_expect_derived(f.w, 0, 61, 60));
        fixture_reopen(&f);
        CHECK_EQ_U64(wal_last_seq(f.w), 60);
        CHECK_EQ_U64(wal_first_seq(f.w), 61);
        SU_AT(su_expect_derived(f.w, 0, 61, 60));
        CHECK_EQ_U64(su_append_derived(f.w, 10), 61);
        CHECK_EQ_U64(wal_first_seq(f.w), 61);
        fixture_reopen(&f);
        CHECK_EQ_U64(wal_first_seq(f.w), 61);
        CHECK_EQ_U64(wal_last_seq(f.w), 61);
        SU_AT(su_expect_derived(f.w, 0, 61, 61));
        fixture_done(&f);
    }
}

static void test_truncate_bounds(void) {
    fixture_t f = fixture_open("api-truncrange", NULL);
    /* An empty log: 0 is below first_seq (a no-op), 1 is past last_seq. */
    CHECK_RC(wal_truncate(f.w, 0), WAL_OK);
    CHECK_FAILS_RC(wal_truncate(f.w, 1), WAL_E_RANGE);
    CHECK_EQ_U64(wal_first_seq(f.w), 1);
    SU_AT(su_append_n(f.w, 5, 20));
    CHECK_FAILS_RC(wal_truncate(f.w, 6), WAL_E_RANGE);
    CHECK_FAILS_RC(wal_truncate(f.w, UINT64_MAX), WAL_E_RANGE);
    CHECK_EQ_U64(wal_first_seq(f.w), 1);
    CHECK_RC(wal_truncate(f.w, 0), WAL_OK);
    CHECK_EQ_U64(wal_first_seq(f.w), 1);
    CHECK_RC(wal_truncate(f.w, 3), WAL_OK);
    CHECK_EQ_U64(wal_first_seq(f.w), 4);
    /* Below first_seq now: nothing to do, and nothing comes back. */
    CHECK_RC(wal_truncate(f.w, 2), WAL_OK);
    CHECK_RC(wal_truncate(f.w, 1), WAL_OK);
    CHECK_EQ_U64(wal_first_seq(f.w), 4);
    CHECK_RC(wal_truncate(f.w, 3), WAL_OK); /* again: first_seq - 1 */
    CHECK_EQ_U64(wal_first_seq(f.w), 4);
    SU_AT(su_expect_derived(f.w, 0, 4, 5));
    fixture_reopen(&f);
    CHECK_EQ_U64(wal_first_seq(f.w), 4);
    CHECK_FAILS_RC(wal_truncate(f.w, 6), WAL_E_RANGE);
    SU_AT(su_expect_derived(f.w, 0, 4, 5));
    fixture_done(&f);
}

/* Truncating up to a seq inside a batch keeps the batch's later entries. */
static void test_truncate_inside_a_batch(void) {
    fixture_t f = fixture_open("api-truncbatch", NULL);
    CHECK_EQ_U64(append_str(f.w, WAL_OP_PUT, "a", "1"), 1);
    wal_entry_t batch[3] = { entry_str(WAL_OP_PUT, "b", "2"), entry_str(WAL_OP_PUT, "c", "3"),
                             entry_str(WAL_OP_PUT, "d", "4") };
    CHECK_EQ_U64(wal_append_batch(f.w, batch, 3), 4);
    CHECK_RC(wal_truncate(f.w, 2), WAL_OK);
    static const char *const keys[] = { "c", "d" }, *const values[] = { "3", "4" };
    for (int pass = 0; pass < 2; pass++) {
        CHECK_EQ_U64(wal_first_seq(f.w), 3);
        expect_strings(f.w, 3, keys, values, 2);
        fixture_reopen(&f);
    }
    fixture_done(&f);
}

/* With 4 KiB segments, records spread over many files; truncating deletes
 * every file holding only truncated records and keeps the rest intact. */
static void test_rotation_and_truncate_reclaim_segments(void) {
    wal_options_t o = su_opts(SMALL_SEGMENT);
    fixture_t f = fixture_open("api-rotate", &o);
    SU_AT(su_append_n(f.w, 200, 100));
    int before = tu_segment_count(f.dir.path);
    CHECK(before >= 5);
    CHECK_EQ_U64(su_segment_first_seq(f.dir.path, 0), 1);
    CHECK_RC(wal_truncate(f.w, 150), WAL_OK);
    int after = tu_segment_count(f.dir.path);
    CHECK(after >= 1 && after < before);
    /* The first file left holds seq 151; every earlier file is gone. */
    uint64_t first0 = su_segment_first_seq(f.dir.path, 0);
    uint64_t first1 = su_segment_first_seq(f.dir.path, 1);
    CHECK(first0 >= 2 && first0 <= 151);
    CHECK(after == 1 || first1 > 151);
    CHECK_EQ_U64(wal_first_seq(f.w), 151);
    SU_AT(su_expect_derived(f.w, 0, 151, 200));
    SU_AT(su_append_n(f.w, 30, 100));
    fixture_reopen(&f);
    CHECK_EQ_U64(wal_first_seq(f.w), 151);
    CHECK_EQ_U64(wal_last_seq(f.w), 230);
    SU_AT(su_expect_derived(f.w, 0, 151, 230));
    SU_AT(su_expect_derived(f.w, 199, 200, 230));
    fixture_done(&f);
}

/* ---- after_seq ---- */

static void test_after_seq_below_first_seq_is_range(void) {
    fixture_t f = fixture_open("api-afterrange", NULL);
    SU_AT(su_append_n(f.w, 10, 8));
    CHECK_RC(wal_truncate(f.w, 5), WAL_OK);
    for (int pass = 0; pass < 2; pass++) {
        int calls = 0;
        wal_iter_t *it = NULL;
        CHECK_FAILS_RC(wal_replay(f.w, 4, count_cb, &calls), WAL_E_RANGE);
        CHECK_FAILS_RC(wal_replay(f.w, 1, count_cb, &calls), WAL_E_RANGE);
        CHECK_EQ_U64(calls, 0);
        CHECK_FAILS_RC(wal_iter_open(f.w, 4, &it), WAL_E_RANGE);
        SU_AT(su_expect_derived(f.w, 5, 6, 10)); /* first_seq - 1 is fine */
        SU_AT(su_expect_derived(f.w, 0, 6, 10)); /* 0: everything retained */
        SU_AT(su_expect_derived(f.w, 8, 9, 10));
        fixture_reopen(&f);
    }
    fixture_done(&f);
}

/* after_seq == last_seq reads nothing; past it is WAL_E_RANGE: an engine
 * whose stored N is ahead of its log (a mistyped directory that
 * create_if_missing made anew) must hear so rather than start over at 1. */
static void test_after_seq_at_last_seq_reads_nothing_and_past_it_is_range(void) {
    fixture_t f = fixture_open("api-afterend", NULL);
    SU_AT(su_expect_derived(f.w, 0, 1, 0)); /* empty log */
    SU_AT(su_append_n(f.w, 4, 8));
    SU_AT(su_expect_derived(f.w, 4, 1, 0));
    for (int i = 0; i < 3; i++) {
        uint64_t after = i == 0 ? 5 : i == 1 ? 500 : UINT64_MAX;
        int calls = 0;
        wal_iter_t *it = (wal_iter_t *)&calls;
        CHECK_FAILS_RC(wal_replay(f.w, after, count_cb, &calls), WAL_E_RANGE);
        CHECK_FAILS_RC(wal_iter_open(f.w, after, &it), WAL_E_RANGE);
        CHECK(it == NULL && calls == 0);
        CHECK(strstr(wal_last_error_message(), "the log ends at seq 4") != NULL);
    }
    CHECK_EQ_U64(wal_last_seq(f.w), 4);
    fixture_done(&f);
}

/* ---- replay and iteration ---- */

typedef struct {
    int calls, stop_at, stop_value;
} stopper_t;

static int stop_cb(void *ctx, const wal_record_t *r) {
    stopper_t *s = ctx;
    s->calls++;
    CHECK_EQ_U64(r->seq, (uint64_t)s->calls);
    return s->calls == s->stop_at ? s->stop_value : 0;
}

static void test_replay_stops_at_callback_value(void) {
    fixture_t f = fixture_open("api-stop", NULL);
    SU_AT(su_append_n(f.w, 10, 8));
    static const int values[] = { 42, -17, 1, WAL_E_CORRUPT };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        stopper_t s = { 0, 3, values[i] };
        CHECK_RC(wal_replay(f.w, 0, stop_cb, &s), values[i]);
        CHECK_EQ_U64(s.calls, 3);
    }
    stopper_t last = { 0, 10, 9 }; /* stopping at the last record */
    CHECK_RC(wal_replay(f.w, 0, stop_cb, &last), 9);
    stopper_t none = { 0, 0, 5 };  /* never stops */
    CHECK_RC(wal_replay(f.w, 0, stop_cb, &none), WAL_OK);
    CHECK_EQ_U64(none.calls, 10);
    fixture_done(&f);
}

static void test_iterator_reads_every_record_then_ends(void) {
    wal_options_t o = su_opts(SMALL_SEGMENT);
    fixture_t f = fixture_open("api-iter", &o);
    SU_AT(su_append_n(f.w, 80, 150));
    CHECK_EQ_U64(wal_checkpoint(f.w), 81);
    wal_iter_t *it = NULL;
    REQUIRE(wal_iter_open(f.w, 0, &it) == WAL_OK && it != NULL);
    wal_record_t r;
    for (uint64_t seq = 1; seq <= 80; seq++) {
        memset(&r, 0, sizeof r);
        CHECK_RC(wal_iter_next(it, &r), 1);
        CHECK_EQ_U64(r.seq, seq);
        CHECK(su_record_is_derived(&r));
    }
    CHECK_RC(wal_iter_next(it, &r), 1);
    CHECK(r.seq == 81 && r.op == WAL_OP_CHECKPOINT && r.key_len == 0 && r.value_len == 0);
    CHECK_RC(wal_iter_next(it, &r), 0);
    CHECK_RC(wal_iter_next(it, &r), 0); /* and stays at the end */
    wal_iter_close(it);
    /* Two iterators at once, at different places. */
    wal_iter_t *a = NULL, *b = NULL;
    REQUIRE(wal_iter_open(f.w, 10, &a) == WAL_OK);
    REQUIRE(wal_iter_open(f.w, 40, &b) == WAL_OK);
    wal_record_t ra, rb;
    CHECK(wal_iter_next(a, &ra) == 1 && ra.seq == 11 && su_record_is_derived(&ra));
    CHECK(wal_iter_next(b, &rb) == 1 && rb.seq == 41 && su_record_is_derived(&rb));
    CHECK(wal_iter_next(a, &ra) == 1 && ra.seq == 12 && su_record_is_derived(&ra));
    wal_iter_close(a);
    wal_iter_close(b);
    fixture_done(&f);
}

/* A record's pointers stay valid until the next call on its iterator,
 * whatever else happens meanwhile: other iterators, replays, appends that
 * rotate segments. */
static void test_record_pointers_stay_valid_until_the_next_call(void) {
    wal_options_t o = su_opts(SMALL_SEGMENT);
    fixture_t f = fixture_open("api-lifetime", &o);
    SU_AT(su_append_n(f.w, 50, 100));
    wal_iter_t *a = NULL;
    REQUIRE(wal_iter_open(f.w, 0, &a) == WAL_OK);
    wal_record_t ra;
    CHECK_RC(wal_iter_next(a, &ra), 1);
    SU_AT(su_expect_derived(f.w, 0, 1, 50));
    SU_AT(su_append_n(f.w, 50, 100));
    SU_AT(su_expect_derived(f.w, 0, 1, 100));
    CHECK(ra.seq == 1 && su_record_is_derived(&ra));
    CHECK_RC(wal_iter_next(a, &ra), 1);
    CHECK(ra.seq == 2 && su_record_is_derived(&ra));
    wal_iter_close(a);
    fixture_done(&f);
}

/* ---- record sizes ---- */

static void test_record_larger_than_a_segment_round_trips(void) {
    wal_options_t o = su_opts(SMALL_SEGMENT);
    fixture_t f = fixture_open("api-big", &o);
    CHECK_EQ_U64(su_append_derived(f.w, 10), 1);
    CHECK_EQ_U64(su_append_derived(f.w, 1u << 20), 2);
    CHECK_EQ_U64(su_append_derived(f.w, 10), 3);
    /* The big record has a file of its own. */
    CHECK_EQ_U64(tu_segment_count(f.dir.path), 3);
    SU_AT(su_expect_derived(f.w, 0, 1, 3));
    fixture_reopen(&f);
    SU_AT(su_expect_derived(f.w, 0, 1, 3));
    CHECK_EQ_U64(su_append_derived(f.w, SMALL_SEGMENT), 4); /* just over a segment */
    CHECK_EQ_U64(su_append_derived(f.w, 10), 5);
    fixture_reopen(&f);
    SU_AT(su_expect_derived(f.w, 0, 1, 5));
    fixture_done(&f);
}

/* key_len + value_len over WAL_MAX_RECORD_SIZE is refused before a byte of
 * the buffers is read: they point at a page that crashes on any read. */
static void test_too_large_record_is_refused_without_reading_it(void) {
    const size_t max = (size_t)WAL_MAX_RECORD_SIZE;
    CHECK(max >= (size_t)64 << 20);
    size_t page_size;
    void *page = no_access_page(&page_size);
    fixture_t f = fixture_open("api-toolarge", NULL);
    CHECK_EQ_U64(su_append_derived(f.w, 10), 1);
    static const struct { size_t key_len, value_len; } sizes[] = {
        { (size_t)WAL_MAX_RECORD_SIZE + 1, 0 },
        { 0, (size_t)WAL_MAX_RECORD_SIZE + 1 },
        { (size_t)WAL_MAX_RECORD_SIZE / 2, (size_t)WAL_MAX_RECORD_SIZE / 2 + 1 },
        { (size_t)WAL_MAX_RECORD_SIZE, 1 },
        { SIZE_MAX, 2 },          /* the sum wraps around to 1 */
        { 2, SIZE_MAX },
        { SIZE_MAX, SIZE_MAX },
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int before = tu_failures;
        CHECK_FAILS_SEQ(wal_append(f.w, WAL_OP_PUT, page, sizes[i].key_len, page,
                                   sizes[i].value_len), WAL_E_RANGE);
        CHECK_EQ_U64(wal_last_seq(f.w), 1);
        if (tu_failures != before)
            fprintf(stderr, "  ... with key_len %zu, value_len %zu\n", sizes[i].key_len,
                    sizes[i].value_len);
    }
    CHECK_EQ_U64(su_append_derived(f.w, 10), 2);
    fixture_reopen(&f);
    SU_AT(su_expect_derived(f.w, 0, 1, 2));
    fixture_done(&f);
    munmap(page, page_size);
}

/* A batch entry over the limit: the whole batch is refused, unread. */
static void test_too_large_batch_entry_writes_nothing(void) {
    size_t page_size;
    void *page = no_access_page(&page_size);
    fixture_t f = fixture_open("api-bigbatch", NULL);
    CHECK_EQ_U64(su_append_derived(f.w, 10), 1);
    wal_entry_t batch[3] = { entry_str(WAL_OP_PUT, "x", "1"),
                             { WAL_OP_PUT, page, 1, page, (size_t)WAL_MAX_RECORD_SIZE },
                             entry_str(WAL_OP_PUT, "z", "3") };
    for (int wrap = 0; wrap < 2; wrap++) {
        if (wrap) batch[1].key_len = SIZE_MAX; /* the sum wraps to the limit - 1 */
        uint64_t seq = wal_append_batch(f.w, batch, 3);
        int code = wal_last_error();
        CHECK_EQ_U64(seq, 0);
        /* wal-api.md: a record too large is WAL_E_RANGE; an invalid entry of
         * a batch is WAL_E_INVALID. Either tells the caller nothing was
         * written. */
        CHECK(code == WAL_E_RANGE || code == WAL_E_INVALID);
        CHECK_EQ_U64(wal_last_seq(f.w), 1);
    }
    fixture_reopen(&f);
    SU_AT(su_expect_derived(f.w, 0, 1, 1));
    fixture_done(&f);
    munmap(page, page_size);
}

/* The largest record the contract allows is accepted and read back. */
static void test_largest_record_round_trips(void) {
    const size_t max = (size_t)WAL_MAX_RECORD_SIZE;
    wal_options_t o = su_opts(SMALL_SEGMENT);
    o.sync_mode = WAL_SYNC_NONE;
    o.preallocate = 0;
    fixture_t f = fixture_open("api-maxrec", &o);
    unsigned char *value = malloc(max - 1);
    REQUIRE(value != NULL);
    su_value_for(7, value, max - 1);
    CHECK_EQ_U64(wal_append(f.w, WAL_OP_PUT, "K", 1, value, max - 1), 1);
    fixture_reopen(&f);
    wal_iter_t *it = NULL;
    REQUIRE(wal_iter_open(f.w, 0, &it) == WAL_OK);
    wal_record_t r;
    CHECK_RC(wal_iter_next(it, &r), 1);
    CHECK(r.seq == 1 && r.key_len == 1 && r.key[0] == 'K' && r.value_len == max - 1 &&
          memcmp(r.value, value, max - 1) == 0);
    CHECK_RC(wal_iter_next(it, &r), 0);
    wal_iter_close(it);
    free(value);
    fixture_done(&f);
}

/* ---- read-only handles and sync modes ---- */

static void test_read_only_handle_refuses_writes(void) {
    su_dir_t d = su_dir("api-ro");
    wal_options_t o = su_opts(0);
    wal_t *w = su_open(d.path, &o);
    SU_AT(su_append_n(w, 3, 8));
    su_close(w);
    o.read_only = 1;
    w = su_open(d.path, &o);
    wal_entry_t e = entry_str(WAL_OP_PUT, "k", "v");
    CHECK_FAILS_SEQ(wal_append(w, WAL_OP_PUT, "k", 1, "v", 1), WAL_E_READONLY);
    CHECK_FAILS_SEQ(wal_append_batch(w, &e, 1), WAL_E_READONLY);
    CHECK_FAILS_SEQ(wal_checkpoint(w), WAL_E_READONLY);
    CHECK_FAILS_RC(wal_truncate(w, 1), WAL_E_READONLY);
    int rc = wal_sync(w); /* nothing to make durable; either answer is fair */
    CHECK(rc == WAL_OK || rc == WAL_E_READONLY);
    CHECK_EQ_U64(wal_last_seq(w), 3);
    CHECK_EQ_U64(wal_first_seq(w), 1);
    SU_AT(su_expect_derived(w, 0, 1, 3));
    su_close(w);
    o.read_only = 0;
    SU_AT(su_expect_log(d.path, &o, 1, 3));
    su_dir_done(&d);
}

static void test_sync_modes_round_trip(void) {
    static const uint32_t modes[] = { WAL_SYNC_ALWAYS, WAL_SYNC_EVERY, WAL_SYNC_NONE };
    for (int m = 0; m < 3; m++) {
        wal_options_t o = su_opts(SMALL_SEGMENT);
        o.sync_mode = modes[m];
        o.sync_every = 3;
        fixture_t f = fixture_open("api-sync", &o);
        SU_AT(su_append_n(f.w, 10, 200));
        CHECK_RC(wal_sync(f.w), WAL_OK);
        CHECK_RC(wal_sync(f.w), WAL_OK);
        SU_AT(su_append_n(f.w, 10, 200));
        SU_AT(su_expect_derived(f.w, 0, 1, 20));
        fixture_reopen(&f);
        SU_AT(su_expect_derived(f.w, 0, 1, 20));
        fixture_done(&f);
    }
}

int main(void) {
    su_begin();
    SU_RUN(test_version_is_major_minor_patch);
    SU_RUN(test_strerror_names_every_code);
    SU_RUN(test_options_init_fills_in_the_defaults);
    SU_RUN(test_open_with_null_options_creates_the_directory);
    SU_RUN(test_open_rejects_null_dir_and_out);
    SU_RUN(test_invalid_options_create_nothing);
    SU_RUN(test_boundary_options_are_accepted);
    SU_RUN(test_open_below_a_regular_file_is_io_error_naming_it);
    SU_RUN(test_missing_dir_without_create_is_io_error);
    SU_RUN(test_read_only_open_creates_no_directory);
    SU_RUN(test_null_handle_is_invalid_everywhere);
    SU_RUN(test_null_out_pointers_are_invalid);
    SU_RUN(test_null_buffer_with_length_is_invalid);
    SU_RUN(test_empty_key_and_value_round_trip);
    SU_RUN(test_reserved_ops_are_invalid);
    SU_RUN(test_every_caller_op_round_trips);
    SU_RUN(test_seqs_are_contiguous_and_continue_after_reopen);
    SU_RUN(test_batch_gets_consecutive_seqs);
    SU_RUN(test_batch_with_an_invalid_entry_writes_nothing);
    SU_RUN(test_batch_count_zero_or_null_entries_is_invalid);
    SU_RUN(test_checkpoint_is_replayed_with_op_255_and_no_data);
    SU_RUN(test_seed_example_truncate_keeps_only_c);
    SU_RUN(test_truncate_everything_then_reopen_continues_the_counter);
    SU_RUN(test_truncate_bounds);
    SU_RUN(test_truncate_inside_a_batch);
    SU_RUN(test_rotation_and_truncate_reclaim_segments);
    SU_RUN(test_after_seq_below_first_seq_is_range);
    SU_RUN(test_after_seq_at_last_seq_reads_nothing_and_past_it_is_range);
    SU_RUN(test_replay_stops_at_callback_value);
    SU_RUN(test_iterator_reads_every_record_then_ends);
    SU_RUN(test_record_pointers_stay_valid_until_the_next_call);
    SU_RUN(test_record_larger_than_a_segment_round_trips);
    SU_RUN(test_too_large_record_is_refused_without_reading_it);
    SU_RUN(test_too_large_batch_entry_writes_nothing);
    SU_RUN(test_largest_record_round_trips);
    SU_RUN(test_read_only_handle_refuses_writes);
    SU_RUN(test_sync_modes_round_trip);
    return tu_finish("test_api");
}
