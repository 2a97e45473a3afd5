/* Recovery and locking: logs damaged byte by byte (torn tails, garbage,
 * zeros, flipped bytes, a missing segment) reopened in each recovery mode;
 * the directory lock within one process and across processes; read-only
 * opens next to a writer, which must not change a file.
 *
 * The damage relies on the on-disk format 3 (little-endian, docs/FORMAT.md):
 *   segment = 32-byte header (salt u32 at 12, first seq u64 at 16), then
 *             frames back to back;
 *   frame   = header crc32 u32 (over bytes 4..32, started from the salt),
 *             payload crc32 u32, entry count u32 (0: a sync mark), payload
 *             length u32, first seq u64, synced end u64, then the payload;
 *   entry   = op u8, key_len u32, value_len u32, key, value.
 * The logs they damage end as a writer killed right after its last sync
 * leaves them (no clean-close mark in LOCK), unless a test says otherwise:
 * a clean close proves every byte durable, and damage to it is corruption. */
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "wal_suite.h"

enum {
    SEGMENT_HEADER = 32,
    FRAME_HEADER = 32,
    ENTRY_HEADER = 9,
    SMALL_SEGMENT = 4096,
    MAX_FRAMES = 1024,
};

/* ---- the format, as far as the damage needs it ---- */

static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The salt of a segment file: it starts every frame header's CRC. */
static uint32_t segment_salt(const char *path) {
    unsigned char h[SEGMENT_HEADER];
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0 && pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h);
    close(fd);
    return (uint32_t)get_le(h + 12, 4);
}

/* Sets a frame header's CRC after its fields (bytes 4..32) were written. */
static void seal_header(unsigned char *h, uint32_t salt) {
    put_le(h, crc32_update(salt, h + 4, FRAME_HEADER - 4), 4);
}

/* A valid one-entry frame for the segment with this salt holding the
 * derived record of seq (as su_append_derived writes it), claiming the
 * segment was durable up to synced_end when it was written; returns its
 * length. out holds 512 bytes. */
static size_t derived_frame_synced(uint32_t salt, uint64_t seq, size_t value_len, uint64_t synced_end,
                                   unsigned char *out) {
    char key[SU_KEY_CAP];
    size_t key_len = su_key_for(seq, value_len, key);
    size_t payload = ENTRY_HEADER + key_len + value_len;
    REQUIRE(FRAME_HEADER + payload <= 512);
    unsigned char *e = out + FRAME_HEADER;
    e[0] = su_op_for(seq);
    put_le(e + 1, key_len, 4);
    put_le(e + 5, value_len, 4);
    memcpy(e + ENTRY_HEADER, key, key_len);
    su_value_for(seq, e + ENTRY_HEADER + key_len, value_len);
    put_le(out + 4, crc32_update(0, e, payload), 4);
    put_le(out + 8, 1, 4);
    put_le(out + 12, payload, 4);
    put_le(out + 16, seq, 8);
    put_le(out + 24, synced_end, 8);
    seal_header(out, salt);
    return FRAME_HEADER + payload;
}

/* The same, claiming nothing beyond the segment header was durable. */
static size_t derived_frame(uint32_t salt, uint64_t seq, size_t value_len, unsigned char *out) {
    return derived_frame_synced(salt, seq, value_len, SEGMENT_HEADER, out);
}

/* One frame of a segment file, found by walking the length fields. */
typedef struct {
    off_t offset;
    uint64_t len;   /* header and payload */
    uint64_t seq;   /* of its first entry */
    uint32_t count;
} frame_t;

/* The frames (sync marks included, with count 0) of a segment, up to
 * zeros, a torn frame or the end of the file. */
static int read_frames(const char *path, frame_t *frames, int max) {
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    off_t size = tu_file_size(path), off = SEGMENT_HEADER;
    int n = 0;
    unsigned char h[FRAME_HEADER];
    while (n < max && off + FRAME_HEADER <= size &&
           pread(fd, h, FRAME_HEADER, off) == FRAME_HEADER) {
        frame_t f = { off, FRAME_HEADER + get_le(h + 12, 4), get_le(h + 16, 8),
                      (uint32_t)get_le(h + 8, 4) };
        if (f.seq == 0 || f.len > (uint64_t)(size - off)) break;
        frames[n++] = f;
        off += (off_t)f.len;
    }
    close(fd);
    return n;
}

/* Where the last frame of a segment ends. */
static off_t data_end(const char *path) {
    static frame_t frames[MAX_FRAMES];
    int n = read_frames(path, frames, MAX_FRAMES);
    return n ? frames[n - 1].offset + (off_t)frames[n - 1].len : SEGMENT_HEADER;
}

/* The n-th frame of a segment. */
static frame_t nth_frame(const char *path, int n) {
    static frame_t frames[MAX_FRAMES];
    REQUIRE(read_frames(path, frames, MAX_FRAMES) > n);
    return frames[n];
}

/* Offset of the value's third byte in a one-entry frame. */
static off_t value_byte(const char *path, frame_t f) {
    unsigned char e[ENTRY_HEADER];
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0 && pread(fd, e, ENTRY_HEADER, f.offset + FRAME_HEADER) == ENTRY_HEADER);
    close(fd);
    REQUIRE(get_le(e + 5, 4) >= 3);
    return f.offset + FRAME_HEADER + ENTRY_HEADER + (off_t)get_le(e + 1, 4) + 2;
}

static void segment_path(const char *dir, int n, char *path) {
    REQUIRE(tu_segment_path(dir, n, path, 4096) == 0);
}

static void newest_segment(const char *dir, char *path) {
    segment_path(dir, tu_segment_count(dir) - 1, path);
}

static void append_bytes(const char *path, const void *buf, size_t len) {
    tu_write_at(path, tu_file_size(path), buf, len);
}

/* ---- logs to damage ---- */

typedef struct {
    su_dir_t dir;
    wal_options_t opts;
    uint64_t last;  /* records 1..last hold derived content */
    size_t value_len;
} log_t;

static void forget_clean_close(const log_t *l);

/* A closed log of n derived records written with the given options, as a
 * writer killed right after its last sync leaves it. */
static log_t make_log(const char *tag, uint64_t segment_size, uint32_t preallocate, int n,
                      size_t value_len) {
    log_t l;
    l.dir = su_dir(tag);
    l.opts = su_opts(segment_size);
    l.opts.preallocate = preallocate;
    l.value_len = value_len;
    wal_t *w = su_open(l.dir.path, &l.opts);
    l.last = su_append_n(w, n, value_len);
    su_close(w);
    forget_clean_close(&l);
    return l;
}

/* Empties LOCK: no clean-close mark, as after a writer that was killed. */
static void forget_clean_close(const log_t *l) {
    char lock[4200];
    snprintf(lock, sizeof lock, "%s/LOCK", l->dir.path);
    int fd = open(lock, O_WRONLY | O_TRUNC | O_CREAT, 0644);
    REQUIRE(fd >= 0);
    close(fd);
}

/* The same log, closed cleanly: LOCK holds the clean-close mark. */
static log_t make_clean_log(const char *tag, uint64_t segment_size, uint32_t preallocate, int n,
                            size_t value_len) {
    log_t l = make_log(tag, segment_size, preallocate, 0, value_len);
    wal_t *w = su_open(l.dir.path, &l.opts);
    l.last = su_append_n(w, n, value_len);
    su_close(w);
    return l;
}

static wal_options_t with_recovery(const log_t *l, uint32_t mode) {
    wal_options_t o = l->opts;
    o.recovery_mode = mode;
    return o;
}

/* 1 when every byte of path from offset on is zero (or there is none). */
static int zeros_from(const char *path, off_t offset) {
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    unsigned char buf[4096];
    ssize_t n;
    int zero = 1;
    while (zero && (n = pread(fd, buf, sizeof buf, offset)) > 0) {
        for (ssize_t i = 0; i < n; i++) zero &= buf[i] == 0;
        offset += n;
    }
    close(fd);
    return zero;
}

/* The log opens with opts holding 1..last, takes the next record right
 * after it, and still holds everything after a reopen. The newest file then
 * holds nothing but zeros after that record: the damage was cut off, not
 * skipped. */
static void expect_recovers_to(const log_t *l, const wal_options_t *opts, uint64_t last) {
    wal_t *w = su_open_checked(l->dir.path, opts);
    if (!w) return;
    CHECK_EQ_U64(wal_last_seq(w), last);
    CHECK_EQ_U64(wal_first_seq(w), 1);
    su_expect_derived(w, 0, 1, last);
    CHECK_EQ_U64(su_append_derived(w, l->value_len), last + 1);
    su_close(w);
    su_expect_log(l->dir.path, opts, 1, last + 1);
    char path[4096];
    newest_segment(l->dir.path, path);
    CHECK(zeros_from(path, data_end(path)));
}

static void log_done(log_t *l) { su_dir_done(&l->dir); }

/* ---- directory snapshots ---- */

typedef struct {
    char name[256];
    off_t size;
    struct timespec mtime;
    uint64_t hash;
} file_state_t;

typedef struct {
    file_state_t files[64];
    int n;
} dir_state_t;

static uint64_t file_hash(const char *path) {
    uint64_t h = 0xcbf29ce484222325ULL;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c;
    while ((c = getc(f)) != EOF) h = (h ^ (unsigned char)c) * 0x100000001b3ULL;
    fclose(f);
    return h;
}

/* Name, size, mtime and content of every entry of dir ("." included, so an
 * entry created and removed again shows in its mtime). */
static void dir_state(const char *dir, dir_state_t *s) {
    struct dirent **list;
    int count = scandir(dir, &list, NULL, alphasort);
    REQUIRE(count >= 0 && count <= 64);
    s->n = 0;
    for (int i = 0; i < count; i++) {
        if (strcmp(list[i]->d_name, "..") != 0) {
            file_state_t *f = &s->files[s->n++];
            char path[4096];
            struct stat st;
            snprintf(f->name, sizeof f->name, "%s", list[i]->d_name);
            snprintf(path, sizeof path, "%s/%s", dir, list[i]->d_name);
            REQUIRE(stat(path, &st) == 0);
            f->size = S_ISDIR(st.st_mode) ? 0 : st.st_size;
            f->mtime = st.st_mtim;
            f->hash = S_ISDIR(st.st_mode) ? 0 : file_hash(path);
        }
        free(list[i]);
    }
    free(list);
}

static void expect_same_state(const dir_state_t *a, const dir_state_t *b) {
    CHECK_EQ_U64(a->n, b->n);
    for (int i = 0; i < a->n && i < b->n; i++) {
        const file_state_t *x = &a->files[i], *y = &b->files[i];
        if (strcmp(x->name, y->name) || x->size != y->size || x->hash != y->hash ||
            x->mtime.tv_sec != y->mtime.tv_sec || x->mtime.tv_nsec != y->mtime.tv_nsec) {
            fprintf(stderr, "  %s (size %lld) became %s (size %lld), or its content or "
                    "mtime changed\n", x->name, (long long)x->size, y->name,
                    (long long)y->size);
            tu_failures++;
        }
    }
}

/* ---- the format as the tests assume it ---- */

/* Without preallocation a segment is its header and its frames, nothing
 * more; a frame built by hand is read like one the library wrote. The other
 * tests damage files according to this knowledge. */
static void test_format_matches_what_the_tests_assume(void) {
    log_t l = make_log("rec-format", 0, 0, 3, 2);
    char path[4096];
    newest_segment(l.dir.path, path);
    static frame_t frames[MAX_FRAMES];
    REQUIRE(read_frames(path, frames, MAX_FRAMES) == 3);
    CHECK_EQ_U64(tu_file_size(path), data_end(path));
    for (int i = 0; i < 3; i++) {
        char key[SU_KEY_CAP];
        CHECK_EQ_U64(frames[i].seq, i + 1);
        CHECK_EQ_U64(frames[i].count, 1);
        CHECK_EQ_U64(frames[i].len, FRAME_HEADER + ENTRY_HEADER +
                     su_key_for((uint64_t)i + 1, 2, key) + 2);
    }
    /* The last frame is byte for byte what derived_frame builds; with
     * WAL_SYNC_ALWAYS it was written once the frames before it were synced. */
    unsigned char frame[512], written[512];
    uint32_t salt = segment_salt(path);
    size_t len = derived_frame_synced(salt, 3, 2, (uint64_t)frames[2].offset, frame);
    CHECK_EQ_U64(len, frames[2].len);
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0 && pread(fd, written, len, frames[2].offset) == (ssize_t)len);
    close(fd);
    CHECK(memcmp(written, frame, len) == 0);
    /* A frame appended by hand is a record. */
    append_bytes(path, frame, derived_frame(salt, 4, 2, frame));
    SU_AT(su_expect_log(l.dir.path, &l.opts, 1, 4));
    log_done(&l);
}

/* ---- torn tails (WAL_RECOVER_TAIL) ---- */

enum { TAIL_RECORDS = 5, TAIL_VALUE = 20 };

/* A log of TAIL_RECORDS records with len bytes written right after its
 * last record (into preallocated space, or at the end of the file): opening
 * in recovery mode `mode` cuts them off and the records survive. what names
 * the case. With `seal`, the bytes are a frame whose header (when all of it
 * is there) gets its checksum from the log's own salt, as the writer would
 * have written it. */
static void expect_tail_cut_seal(uint32_t mode, const char *what, uint32_t preallocate,
                                 const void *bytes, size_t len, int seal) {
    int before = tu_failures;
    log_t l = make_log("rec-tail", preallocate ? 1 << 20 : 0, preallocate, TAIL_RECORDS,
                       TAIL_VALUE);
    char path[4096];
    newest_segment(l.dir.path, path);
    unsigned char *copy = malloc(len + 1);
    REQUIRE(copy != NULL);
    memcpy(copy, bytes, len);
    if (seal && len >= FRAME_HEADER) seal_header(copy, segment_salt(path));
    tu_write_at(path, data_end(path), copy, len);
    free(copy);
    wal_options_t o = with_recovery(&l, mode);
    expect_recovers_to(&l, &o, TAIL_RECORDS);
    if (tu_failures != before)
        fprintf(stderr, "  ... with %s (%zu bytes%s) after the last record\n", what, len,
                preallocate ? ", preallocated" : "");
    log_done(&l);
}

static void expect_tail_cut_in(uint32_t mode, const char *what, uint32_t preallocate,
                               const void *bytes, size_t len) {
    expect_tail_cut_seal(mode, what, preallocate, bytes, len, 0);
}

static void expect_tail_cut(const char *what, uint32_t preallocate, const void *bytes,
                            size_t len) {
    expect_tail_cut_in(WAL_RECOVER_TAIL, what, preallocate, bytes, len);
}

/* The same for the first len bytes of a frame (sealed with the log's salt). */
static void expect_frame_cut(uint32_t mode, const char *what, uint32_t preallocate,
                             const unsigned char *frame, size_t len) {
    expect_tail_cut_seal(mode, what, preallocate, frame, len, 1);
}

/* The frame that would come next: seq TAIL_RECORDS + 1 (its header is
 * sealed once the log and its salt exist). */
static size_t next_tail_frame(unsigned char *frame) {
    return derived_frame(0, TAIL_RECORDS + 1, TAIL_VALUE, frame);
}

static void test_garbage_after_last_record_is_cut(void) {
    static const size_t sizes[] = { 1, 7, 100, 3000 };
    unsigned char junk[3000];
    for (size_t j = 0; j < sizeof junk; j++) junk[j] = (unsigned char)(0xa5 ^ (j * 37));
    for (uint32_t prealloc = 0; prealloc < 2; prealloc++)
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
            expect_tail_cut("garbage", prealloc, junk, sizes[i]);
}

/* The first bytes of a frame whose write was interrupted: part of its
 * header, a whole header with part of the payload, all but its last byte. */
static void test_half_written_record_is_cut(void) {
    static const size_t cuts[] = { 1, 4, 20, 31, 32, 32 + 5, 32 + 9 + 3 };
    unsigned char frame[512];
    size_t len = next_tail_frame(frame);
    for (uint32_t prealloc = 0; prealloc < 2; prealloc++) {
        for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
            expect_frame_cut(WAL_RECOVER_TAIL, "the start of the next record", prealloc, frame, cuts[i]);
        expect_frame_cut(WAL_RECOVER_TAIL, "the next record but its last byte", prealloc, frame, len - 1);
    }
}

/* A whole next record whose checksum fails. */
static void test_whole_record_with_bad_crc_at_end_is_cut(void) {
    unsigned char frame[512];
    size_t len = next_tail_frame(frame);
    frame[FRAME_HEADER + 3] ^= 0x40;
    for (uint32_t prealloc = 0; prealloc < 2; prealloc++)
        expect_frame_cut(WAL_RECOVER_TAIL, "a whole record with a bad checksum", prealloc, frame, len);
}

/* The first 20 bytes of the last frame written again after it. */
static void test_copy_of_last_frame_start_is_cut(void) {
    log_t l = make_log("rec-copy", 0, 0, TAIL_RECORDS, TAIL_VALUE);
    char path[4096];
    newest_segment(l.dir.path, path);
    frame_t last = nth_frame(path, TAIL_RECORDS - 1);
    unsigned char head[20];
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0 && pread(fd, head, sizeof head, last.offset) == (ssize_t)sizeof head);
    close(fd);
    log_done(&l);
    expect_tail_cut("the start of the last record again", 0, head, sizeof head);
}

/* A header, with a checksum that matches, whose length points far past the
 * end of the file or past WAL_MAX_BATCH_SIZE: cut, without trying to read
 * or allocate that much. */
static void test_header_claiming_a_huge_payload_is_cut(void) {
    static const uint64_t lens[] = { UINT32_MAX, WAL_MAX_BATCH_SIZE, WAL_MAX_BATCH_SIZE + 1,
                                     (uint64_t)64 << 20, UINT32_MAX - FRAME_HEADER + 1 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char frame[512];
        size_t len = next_tail_frame(frame);
        put_le(frame + 12, lens[i], 4);
        expect_frame_cut(WAL_RECOVER_TAIL, "a header with a huge length", 0, frame, len);
    }
}

static void test_zeros_after_last_record_are_cut(void) {
    static const size_t sizes[] = { 1, 24, 4096 };
    static const unsigned char zeros[4096];
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        expect_tail_cut("zeros", 0, zeros, sizes[i]);
}

/* Flipped bytes in the last record, with nothing valid after it. */
static void test_damaged_last_record_is_cut(void) {
    for (int where = 0; where < 3; where++) {
        log_t l = make_log("rec-lastflip", 0, 0, TAIL_RECORDS, TAIL_VALUE);
        char path[4096];
        newest_segment(l.dir.path, path);
        frame_t f = nth_frame(path, TAIL_RECORDS - 1);
        off_t at = where == 0 ? value_byte(path, f) : where == 1 ? f.offset : f.offset + 16;
        tu_flip_byte(path, at, 0x10);
        SU_AT(expect_recovers_to(&l, &l.opts, TAIL_RECORDS - 1));
        log_done(&l);
    }
}

/* With preallocation the newest file is longer than its data: the zeros
 * after the last record never parse as one, and each reopen appends right
 * after the last record. */
static void test_preallocated_space_is_never_a_record(void) {
    log_t l = make_log("rec-prealloc", 1 << 20, 1, 10, 20);
    char path[4096];
    newest_segment(l.dir.path, path);
    CHECK(tu_file_size(path) > data_end(path));
    for (uint64_t round = 0; round < 3; round++)
        SU_AT(expect_recovers_to(&l, &l.opts, 10 + round));
    log_done(&l);
    /* Several preallocated segments, each reopened. */
    l = make_log("rec-prealloc-rot", SMALL_SEGMENT, 1, 120, 100);
    CHECK(tu_segment_count(l.dir.path) >= 3);
    SU_AT(expect_recovers_to(&l, &l.opts, 120));
    log_done(&l);
}

/* A crash while a new segment was being created leaves a newest file with
 * no records: empty, zeros only (preallocated), or just its header. The log
 * ends in the segment before it. */
static void test_unfinished_new_segment_is_ignored(void) {
    static const char *const kinds[] = { "an empty file", "zeros only", "a header only" };
    for (int kind = 0; kind < 3; kind++) {
        int before = tu_failures;
        log_t l = make_log("rec-unborn", SMALL_SEGMENT, 1, 60, 100);
        char first[4096], path[4200];
        segment_path(l.dir.path, 0, first);
        snprintf(path, sizeof path, "%s/%020" PRIu64 ".wal", l.dir.path, l.last + 1);
        unsigned char header[SEGMENT_HEADER];
        int fd = open(first, O_RDONLY);
        REQUIRE(fd >= 0 && pread(fd, header, sizeof header, 0) == (ssize_t)sizeof header);
        close(fd);
        put_le(header + 16, l.last + 1, 8);
        put_le(header + 28, crc32_update(0, header, 28), 4);
        fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644);
        REQUIRE(fd >= 0);
        if (kind > 0) REQUIRE(ftruncate(fd, SMALL_SEGMENT) == 0);
        if (kind == 2) REQUIRE(pwrite(fd, header, sizeof header, 0) == (ssize_t)sizeof header);
        close(fd);
        SU_AT(expect_recovers_to(&l, &l.opts, 60));
        if (tu_failures != before) fprintf(stderr, "  ... with %s\n", kinds[kind]);
        log_done(&l);
    }
}

/* ---- damage to bytes the log proves durable ---- */

/* A log closed cleanly says every byte of its newest segment was durable:
 * damage to its last record (a flipped byte, a lost end) is corruption,
 * never a cut that silently loses an acknowledged record. SALVAGE keeps
 * the records before it. */
static void expect_corrupt_unless_salvaged(const log_t *l, uint64_t last);

static void test_damage_to_a_cleanly_closed_log_is_corrupt(void) {
    static const char *const how[] = { "a flipped value byte", "a flipped header byte", "its last 10 bytes gone" };
    for (int where = 0; where < 3; where++) {
        int before = tu_failures;
        log_t l = make_clean_log("rec-cleanflip", 0, 0, TAIL_RECORDS, TAIL_VALUE);
        char path[4096];
        newest_segment(l.dir.path, path);
        frame_t f = nth_frame(path, TAIL_RECORDS - 1);
        if (where == 0) tu_flip_byte(path, value_byte(path, f), 0x10);
        if (where == 1) tu_flip_byte(path, f.offset + 16, 0x01);
        if (where == 2) REQUIRE(truncate(path, f.offset + (off_t)f.len - 10) == 0);
        SU_AT(expect_corrupt_unless_salvaged(&l, TAIL_RECORDS - 1));
        if (tu_failures != before) fprintf(stderr, "  ... with the last record of a cleanly closed log: %s\n", how[where]);
        log_done(&l);
    }
}

/* Zeros over the newest segment's header, its records intact: damage, not
 * an interrupted creation (that segment would hold no record). */
static void test_a_zeroed_header_over_records_is_corrupt(void) {
    log_t l = make_log("rec-zerohdr", SMALL_SEGMENT, 1, 100, 100);
    int count = tu_segment_count(l.dir.path);
    REQUIRE(count >= 3);
    char path[4096];
    newest_segment(l.dir.path, path);
    uint64_t newest_first = su_segment_first_seq(l.dir.path, count - 1);
    static const unsigned char zeros[SEGMENT_HEADER];
    tu_write_at(path, 0, zeros, sizeof zeros);
    SU_AT(expect_corrupt_unless_salvaged(&l, newest_first - 1));
    log_done(&l);
}

/* ---- damage with valid records after it ---- */

static const char *const damage_names[] = { "a value byte", "the header crc", "the entry count",
                                            "the payload length", "the seq" };
enum { DAMAGE_KINDS = 5 };

/* Flips one byte of the n-th frame of path; what says which. */
static void damage_frame(const char *path, int n, int what) {
    frame_t f = nth_frame(path, n);
    switch (what) {
    case 0: tu_flip_byte(path, value_byte(path, f), 0x01); break;
    case 1: tu_flip_byte(path, f.offset + 2, 0x80); break;
    case 2: tu_flip_byte(path, f.offset + 8, 0x02); break;
    case 3: tu_flip_byte(path, f.offset + 12, 0x01); break;
    default: tu_flip_byte(path, f.offset + 16, 0x04); break;
    }
}

/* WAL_RECOVER_SALVAGE keeps the records 1..last before the first damage,
 * drops the rest, and appends go on from there (a later reopen in TAIL mode
 * finds a clean log). */
static void expect_salvaged_to(const log_t *l, uint64_t last) {
    wal_options_t salvage = with_recovery(l, WAL_RECOVER_SALVAGE);
    wal_t *w = su_open_checked(l->dir.path, &salvage);
    if (!w) return;
    CHECK_EQ_U64(wal_last_seq(w), last);
    su_expect_derived(w, 0, 1, last);
    CHECK_EQ_U64(su_append_derived(w, l->value_len), last + 1);
    su_close(w);
    su_expect_log(l->dir.path, &l->opts, 1, last + 1);
}

/* TAIL refuses to open the log (WAL_E_CORRUPT) and changes no file;
 * SALVAGE keeps 1..last. */
static void expect_corrupt_unless_salvaged(const log_t *l, uint64_t last) {
    dir_state_t s0, s1;
    dir_state(l->dir.path, &s0);
    wal_options_t tail = with_recovery(l, WAL_RECOVER_TAIL);
    CHECK_FAILS_RC(su_open_status(l->dir.path, &tail), WAL_E_CORRUPT);
    dir_state(l->dir.path, &s1);
    expect_same_state(&s0, &s1);
    expect_salvaged_to(l, last);
}

/* Record 5 of 10 in the newest segment damaged: WAL_RECOVER_TAIL refuses to
 * open (and changes nothing), WAL_RECOVER_SALVAGE keeps 1..4 and goes on
 * from there. */
static void test_damage_before_valid_records_needs_salvage(void) {
    for (uint32_t prealloc = 0; prealloc < 2; prealloc++) {
        for (int what = 0; what < DAMAGE_KINDS; what++) {
            int before = tu_failures;
            log_t l = make_log("rec-midflip", 1 << 20, prealloc, 10, 20);
            char path[4096];
            newest_segment(l.dir.path, path);
            damage_frame(path, 4, what);
            expect_corrupt_unless_salvaged(&l, 4);
            if (tu_failures != before)
                fprintf(stderr, "  ... with %s of record 5 damaged, preallocate %u\n",
                        damage_names[what], prealloc);
            log_done(&l);
        }
    }
}

/* The newest segment's header damaged, its records intact: TAIL refuses to
 * open, SALVAGE keeps the segments before it. */
static void test_damaged_header_of_newest_segment_needs_salvage(void) {
    log_t l = make_log("rec-newesthdr", SMALL_SEGMENT, 1, 100, 100);
    int count = tu_segment_count(l.dir.path);
    REQUIRE(count >= 3);
    char path[4096];
    newest_segment(l.dir.path, path);
    uint64_t newest_first = su_segment_first_seq(l.dir.path, count - 1);
    REQUIRE(newest_first < 100);
    tu_flip_byte(path, 2, 0x01);
    SU_AT(expect_corrupt_unless_salvaged(&l, newest_first - 1));
    log_done(&l);
}

/* A read from after_seq 0 that must fail with WAL_E_CORRUPT at bad_seq:
 * every record it delivers first is one of 1..bad_seq-1, in order. */
static void expect_corrupt_read(wal_t *w, uint64_t bad_seq) {
    for (int pass = 0; pass < 2; pass++) {
        su_scan_t s;
        int rc = pass == 0 ? su_scan_replay(w, 0, &s) : su_scan_iter(w, 0, &s);
        CHECK_RC(rc, WAL_E_CORRUPT);
        CHECK(s.bad == 0);
        CHECK(s.count == 0 || (s.first == 1 && s.last < bad_seq));
        if (s.count && s.last >= bad_seq)
            fprintf(stderr, "  %s read up to %" PRIu64 " past the damage at %" PRIu64 "\n",
                    pass == 0 ? "wal_replay" : "iteration", s.last, bad_seq);
    }
}

/* Damage in an older segment: wal_open may not notice it (it does not read
 * old segments), but a read reaching it fails with WAL_E_CORRUPT instead of
 * skipping a record. Reads starting past it work, and so do appends. */
static void test_damage_in_older_segment_fails_the_read(void) {
    for (int seg = 0; seg < 2; seg++) {
        for (int what = -1; what < DAMAGE_KINDS; what++) {
            int before = tu_failures;
            log_t l = make_log("rec-oldflip", SMALL_SEGMENT, 1, 150, 100);
            REQUIRE(tu_segment_count(l.dir.path) >= 5);
            char path[4096];
            segment_path(l.dir.path, seg, path);
            /* The damaged record: the segment's first (a damaged header
             * loses them all) or its third. */
            uint64_t bad_seq = su_segment_first_seq(l.dir.path, seg) + (what < 0 ? 0 : 2);
            if (what < 0) tu_flip_byte(path, 3, 0x20); /* the magic */
            else damage_frame(path, 2, what);
            wal_t *w = NULL;
            int rc = wal_open(l.dir.path, &l.opts, &w);
            CHECK(rc == WAL_OK || rc == WAL_E_CORRUPT);
            if (rc == WAL_OK) {
                CHECK_EQ_U64(wal_last_seq(w), 150);
                SU_AT(expect_corrupt_read(w, bad_seq));
                SU_AT(su_expect_derived(w, 140, 141, 150));
                CHECK_EQ_U64(su_append_derived(w, 100), 151);
                SU_AT(su_expect_derived(w, 140, 141, 151));
                su_close(w);
            }
            SU_AT(expect_salvaged_to(&l, bad_seq - 1));
            if (tu_failures != before)
                fprintf(stderr, "  ... with %s damaged in segment %d\n",
                        what < 0 ? "the header" : damage_names[what], seg);
            log_done(&l);
        }
    }
}

/* A segment deleted: a gap in the seqs (or records missing before the
 * first segment), which open or the read that meets it reports as
 * WAL_E_CORRUPT. SALVAGE keeps what comes before the gap. */
static void test_missing_segment_is_corrupt(void) {
    for (int victim = 0; victim <= 2; victim++) {
        log_t l = make_log("rec-missing", SMALL_SEGMENT, 1, 150, 100);
        REQUIRE(tu_segment_count(l.dir.path) >= 5);
        char path[4096];
        segment_path(l.dir.path, victim, path);
        uint64_t gap = su_segment_first_seq(l.dir.path, victim);
        REQUIRE(unlink(path) == 0);
        wal_t *w = NULL;
        int rc = wal_open(l.dir.path, &l.opts, &w);
        CHECK(rc == WAL_OK || rc == WAL_E_CORRUPT);
        if (rc == WAL_OK) {
            SU_AT(expect_corrupt_read(w, gap));
            su_close(w);
        }
        if (victim > 0) SU_AT(expect_salvaged_to(&l, gap - 1));
        log_done(&l);
    }
}

/* ---- WAL_RECOVER_SALVAGE on logs that need no salvage ---- */

static void test_salvage_keeps_an_intact_log_whole(void) {
    log_t l = make_log("rec-salvage-ok", SMALL_SEGMENT, 1, 120, 100);
    wal_options_t o = with_recovery(&l, WAL_RECOVER_SALVAGE);
    SU_AT(expect_recovers_to(&l, &o, 120));
    log_done(&l);
}

static void test_salvage_cuts_a_torn_tail(void) {
    unsigned char frame[512];
    size_t len = next_tail_frame(frame);
    for (uint32_t prealloc = 0; prealloc < 2; prealloc++) {
        expect_frame_cut(WAL_RECOVER_SALVAGE, "a torn record", prealloc, frame, len - 3);
        expect_tail_cut_in(WAL_RECOVER_SALVAGE, "garbage", prealloc, "garbage!", 8);
    }
}

/* ---- the directory lock ---- */

static void test_second_writable_open_in_same_process_is_locked(void) {
    log_t l = make_log("rec-lock", 0, 1, 3, 10);
    wal_t *w = su_open(l.dir.path, &l.opts);
    for (int attempt = 0; attempt < 2; attempt++)
        CHECK_FAILS_RC(su_open_status(l.dir.path, &l.opts), WAL_E_LOCKED);
    /* The failed opens did not release or break the first handle's lock. */
    CHECK_EQ_U64(su_append_derived(w, 10), 4);
    CHECK_FAILS_RC(su_open_status(l.dir.path, &l.opts), WAL_E_LOCKED);
    su_close(w);
    w = su_open(l.dir.path, &l.opts);
    CHECK_EQ_U64(wal_last_seq(w), 4);
    su_close(w);
    log_done(&l);
}

/* wal_open's status in a child process (its exit status carries it). */
static int open_status_in_child(const char *dir, const wal_options_t *o) {
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(-su_open_status(dir, o));
    int status;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (!WIFEXITED(status)) {
        fprintf(stderr, "  child wal_open died of signal %d\n",
                WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return 1000;
    }
    return -WEXITSTATUS(status);
}

/* The lock holds even if LOCK is removed or replaced while a writer holds
 * the log (it is an flock on the directory): a second writer would hand out
 * the same seqs. */
static void test_removing_or_replacing_lock_lets_no_second_writer_in(void) {
    for (int replace = 0; replace < 2; replace++) {
        log_t l = make_log("rec-rmlock", 0, 1, 3, 10);
        wal_t *w = su_open(l.dir.path, &l.opts);
        char lock[4200], other[4300];
        snprintf(lock, sizeof lock, "%s/LOCK", l.dir.path);
        snprintf(other, sizeof other, "%s/LOCK.new", l.dir.path);
        if (replace) {
            int fd = open(other, O_CREAT | O_WRONLY, 0644);
            REQUIRE(fd >= 0);
            close(fd);
            REQUIRE(rename(other, lock) == 0);
        } else {
            unlink(lock);
        }
        CHECK_FAILS_RC(su_open_status(l.dir.path, &l.opts), WAL_E_LOCKED);
        CHECK_EQ_U64(su_append_derived(w, 10), 4);
        su_close(w);
        SU_AT(su_expect_log(l.dir.path, &l.opts, 1, 4));
        log_done(&l);
    }
}

static void test_writable_open_in_forked_child_is_locked(void) {
    log_t l = make_log("rec-forklock", 0, 1, 3, 10);
    wal_t *w = su_open(l.dir.path, &l.opts);
    CHECK_RC(open_status_in_child(l.dir.path, &l.opts), WAL_E_LOCKED);
    wal_options_t ro = l.opts;
    ro.read_only = 1;
    CHECK_RC(open_status_in_child(l.dir.path, &ro), WAL_OK);
    CHECK_EQ_U64(su_append_derived(w, 10), 4);
    su_close(w);
    CHECK_RC(open_status_in_child(l.dir.path, &l.opts), WAL_OK);
    su_expect_log(l.dir.path, &l.opts, 1, 4);
    log_done(&l);
}

/* A child holds the log open for writing until it is killed; the lock goes
 * with it. */
static void test_lock_of_a_killed_process_is_released(void) {
    log_t l = make_log("rec-killlock", 0, 1, 3, 10);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        wal_t *w = NULL;
        char ok = wal_open(l.dir.path, &l.opts, &w) == WAL_OK &&
                  wal_append(w, WAL_OP_PUT, "child", 5, NULL, 0) == 4;
        if (write(fds[1], &ok, 1) != 1) _exit(1);
        for (;;) pause();
    }
    close(fds[1]);
    char ok = 0;
    CHECK(read(fds[0], &ok, 1) == 1 && ok);
    close(fds[0]);
    CHECK_FAILS_RC(su_open_status(l.dir.path, &l.opts), WAL_E_LOCKED);
    kill(pid, SIGKILL);
    REQUIRE(waitpid(pid, NULL, 0) == pid);
    wal_t *w = su_open(l.dir.path, &l.opts);
    CHECK_EQ_U64(wal_last_seq(w), 4);
    su_recs_t rs = { 0 };
    CHECK_RC(su_collect(w, 3, &rs), WAL_OK);
    CHECK(rs.n == 1 && su_rec_is(&rs.v[0], 4, WAL_OP_PUT, "child", NULL));
    su_recs_free(&rs);
    su_close(w);
    log_done(&l);
}

/* ---- read-only opens ---- */

static wal_options_t read_only(const log_t *l) {
    wal_options_t o = l->opts;
    o.read_only = 1;
    return o;
}

/* A read-only open next to an open writer: it sees what was written before
 * it opened, refuses writes, and takes no lock (the writer can reopen). */
static void test_read_only_open_while_a_writer_runs(void) {
    log_t l = make_log("rec-rowriter", SMALL_SEGMENT, 1, 0, 50);
    wal_t *w = su_open(l.dir.path, &l.opts);
    SU_AT(su_append_n(w, 100, 50));
    wal_options_t ro = read_only(&l);
    wal_t *r = su_open(l.dir.path, &ro);
    CHECK_EQ_U64(wal_last_seq(r), 100);
    CHECK_EQ_U64(wal_first_seq(r), 1);
    SU_AT(su_expect_derived(r, 0, 1, 100));
    CHECK_FAILS_SEQ(wal_append(r, WAL_OP_PUT, "k", 1, "v", 1), WAL_E_READONLY);
    CHECK_FAILS_SEQ(wal_checkpoint(r), WAL_E_READONLY);
    CHECK_FAILS_RC(wal_truncate(r, 10), WAL_E_READONLY);
    /* The writer goes on; what the reader saw stays readable. */
    SU_AT(su_append_n(w, 50, 50));
    su_scan_t s;
    CHECK_RC(su_scan_replay(r, 0, &s), WAL_OK);
    CHECK(s.bad == 0 && s.first == 1 && s.last >= 100 && s.last <= 150);
    /* A second read-only handle sees the new records too. */
    wal_t *r2 = su_open(l.dir.path, &ro);
    CHECK_EQ_U64(wal_last_seq(r2), 150);
    SU_AT(su_expect_derived(r2, 0, 1, 150));
    su_close(r2);
    su_close(w);
    /* The read-only handle holds no lock. */
    w = su_open(l.dir.path, &l.opts);
    CHECK_EQ_U64(su_append_derived(w, 50), 151);
    su_close(w);
    su_close(r);
    log_done(&l);
}

/* A read-only open, a full read and a close change no file, on an intact log
 * and on logs a writable open would repair. expect: its status. */
static void expect_read_only_changes_nothing(const log_t *l, int expect, uint64_t last) {
    dir_state_t before, after;
    dir_state(l->dir.path, &before);
    wal_options_t ro = read_only(l);
    wal_t *w = NULL;
    int rc = wal_open(l->dir.path, &ro, &w);
    CHECK_RC(rc, expect);
    if (rc == WAL_OK) {
        CHECK_EQ_U64(wal_last_seq(w), last);
        su_expect_derived(w, 0, 1, last);
        CHECK_FAILS_SEQ(wal_append(w, WAL_OP_PUT, "k", 1, "v", 1), WAL_E_READONLY);
        su_close(w);
    }
    dir_state(l->dir.path, &after);
    expect_same_state(&before, &after);
}

enum { RO_INTACT, RO_INTACT_PREALLOCATED, RO_TORN_TAIL, RO_GARBAGE_TAIL,
       RO_TORN_IN_PREALLOCATED, RO_DAMAGE_BEFORE_VALID, RO_CASES };

static const char *const ro_case_names[] = { "intact", "intact, preallocated", "torn tail",
                                             "garbage tail", "torn tail, preallocated",
                                             "damage before valid records" };

static void test_read_only_open_changes_no_file(void) {
    for (int c = 0; c < RO_CASES; c++) {
        int prealloc = c == RO_INTACT_PREALLOCATED || c == RO_TORN_IN_PREALLOCATED;
        log_t l = make_log("rec-ro", SMALL_SEGMENT, (uint32_t)prealloc, 60, 100);
        char path[4096];
        newest_segment(l.dir.path, path);
        unsigned char frame[512];
        size_t len = derived_frame(segment_salt(path), 61, 100, frame);
        switch (c) {
        case RO_TORN_TAIL: append_bytes(path, frame, len / 2); break;
        case RO_GARBAGE_TAIL: append_bytes(path, "garbage!", 8); break;
        case RO_TORN_IN_PREALLOCATED: tu_write_at(path, data_end(path), frame, len - 1); break;
        case RO_DAMAGE_BEFORE_VALID: damage_frame(path, 0, 0); break;
        default: break;
        }
        int before = tu_failures;
        SU_AT(expect_read_only_changes_nothing(
            &l, c == RO_DAMAGE_BEFORE_VALID ? WAL_E_CORRUPT : WAL_OK, 60));
        if (tu_failures != before) fprintf(stderr, "  ... on a log %s\n", ro_case_names[c]);
        log_done(&l);
    }
}

int main(void) {
    su_begin();
    SU_RUN(test_format_matches_what_the_tests_assume);
    SU_RUN(test_garbage_after_last_record_is_cut);
    SU_RUN(test_half_written_record_is_cut);
    SU_RUN(test_whole_record_with_bad_crc_at_end_is_cut);
    SU_RUN(test_damage_to_a_cleanly_closed_log_is_corrupt);
    SU_RUN(test_a_zeroed_header_over_records_is_corrupt);
    SU_RUN(test_copy_of_last_frame_start_is_cut);
    SU_RUN(test_header_claiming_a_huge_payload_is_cut);
    SU_RUN(test_zeros_after_last_record_are_cut);
    SU_RUN(test_damaged_last_record_is_cut);
    SU_RUN(test_preallocated_space_is_never_a_record);
    SU_RUN(test_unfinished_new_segment_is_ignored);
    SU_RUN(test_damage_before_valid_records_needs_salvage);
    SU_RUN(test_damaged_header_of_newest_segment_needs_salvage);
    SU_RUN(test_damage_in_older_segment_fails_the_read);
    SU_RUN(test_missing_segment_is_corrupt);
    SU_RUN(test_salvage_keeps_an_intact_log_whole);
    SU_RUN(test_salvage_cuts_a_torn_tail);
    SU_RUN(test_second_writable_open_in_same_process_is_locked);
    SU_RUN(test_removing_or_replacing_lock_lets_no_second_writer_in);
    SU_RUN(test_writable_open_in_forked_child_is_locked);
    SU_RUN(test_lock_of_a_killed_process_is_released);
    SU_RUN(test_read_only_open_while_a_writer_runs);
    SU_RUN(test_read_only_open_changes_no_file);
    return tu_finish("test_recovery");
}
