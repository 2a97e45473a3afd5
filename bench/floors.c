/* The raw floors: what the disk and the kernel allow with no log library at
 * all, measured in the same run as libwal. A record is stored as a minimal
 * frame: an 8-byte header (u32 key length, u32 value length), key, value.
 *
 *   prewritten  pwrite + fdatasync into blocks written and synced beforehand
 *               (no allocation, no size change: the durable floor)
 *   growing     pwrite + fdatasync at the end of a file that grows
 *   buffered    frames gathered in a 1 MiB user buffer, pwrite when full, one
 *               fdatasync at the end; read back with plain sequential read();
 *               "truncated" the naive way, by rewriting the kept half. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define FRAME_HEADER 8
#define PREWRITTEN_BYTES (4u << 20) /* reused round-robin: always pre-written */
#define BUFFER_BYTES (1u << 20)

static volatile unsigned sink; /* keeps the compiler from skipping the reads */

typedef struct {
    char *dir, *path;
    int fd;
    atomic_uint_least64_t next; /* bytes handed out to writers */
    int prewritten;             /* writes wrap around the pre-written area */
    char *buf;                  /* buffered: the user buffer */
    size_t used;
    off_t end; /* buffered: where the buffer goes in the file */
} floor_t;

static size_t frame_len(const rec_t *r) { return FRAME_HEADER + r->key_len + r->value_len; }

static size_t put_frame(char *dst, const rec_t *r) {
    uint32_t h[2] = {(uint32_t)r->key_len, (uint32_t)r->value_len};
    memcpy(dst, h, FRAME_HEADER);
    memcpy(dst + FRAME_HEADER, r->key, r->key_len);
    memcpy(dst + FRAME_HEADER + r->key_len, r->value, r->value_len);
    return frame_len(r);
}

/* The frames of n records in one per-thread buffer. */
static const char *frames(const rec_t *recs, size_t n, size_t *len) {
    static __thread char *buf;
    static __thread size_t cap;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) need += frame_len(&recs[i]);
    if (need > cap) {
        free(buf);
        cap = need;
        buf = malloc(cap);
        if (!buf) die_os("malloc for frames of", "(memory)");
    }
    *len = 0;
    for (size_t i = 0; i < n; i++) *len += put_frame(buf + *len, &recs[i]);
    return buf;
}

static void write_all(floor_t *f, const void *p, size_t len, off_t off) {
    if (pwrite(f->fd, p, len, off) != (ssize_t)len) die_os("pwrite", f->path);
}

static void datasync(floor_t *f) {
    if (fdatasync(f->fd) != 0) die_os("fdatasync", f->path);
}

static floor_t *floor_open(const char *dir) {
    floor_t *f = calloc(1, sizeof *f);
    make_dir(dir);
    f->dir = strdup(dir);
    f->path = path_join(dir, "log");
    f->fd = open(f->path, O_CREAT | O_RDWR, 0644);
    if (f->fd < 0) die_os("open", f->path);
    off_t size = lseek(f->fd, 0, SEEK_END);
    if (size < 0) die_os("lseek", f->path);
    f->end = size;
    return f;
}

static void floor_close(void *h) {
    floor_t *f = h;
    if (close(f->fd) != 0) die_os("close", f->path);
    free(f->buf);
    free(f->path);
    free(f->dir);
    free(f);
}

/* ---- prewritten ---- */

static void *prewritten_open(const char *dir, int durable, int threads) {
    (void)durable, (void)threads;
    floor_t *f = floor_open(dir);
    char *zeros = calloc(1, BUFFER_BYTES);
    for (off_t off = 0; off < PREWRITTEN_BYTES; off += BUFFER_BYTES) write_all(f, zeros, BUFFER_BYTES, off);
    free(zeros);
    datasync(f);
    f->prewritten = 1;
    return f;
}

/* pwrite + fdatasync; the prewritten file is reused round-robin (every put
 * of one run has the same length, so slots never straddle its end). */
static void durable_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    floor_t *f = h;
    size_t len;
    const char *p = frames(recs, n, &len);
    uint64_t slot = atomic_fetch_add(&f->next, len);
    write_all(f, p, len, (off_t)(f->prewritten ? slot % (PREWRITTEN_BYTES / len * len) : slot));
    datasync(f);
}

const engine_t floor_prewritten_engine = {
    .name = "floor: pwrite+fdatasync, pre-written blocks",
    .open = prewritten_open,
    .put = durable_put,
    .close = floor_close,
};

/* ---- growing ---- */

static void *growing_open(const char *dir, int durable, int threads) {
    (void)durable, (void)threads;
    return floor_open(dir);
}

const engine_t floor_growing_engine = {
    .name = "floor: pwrite+fdatasync, growing file",
    .open = growing_open,
    .put = durable_put,
    .close = floor_close,
};

/* ---- buffered ---- */

static void *buffered_open(const char *dir, int durable, int threads) {
    (void)durable, (void)threads;
    floor_t *f = floor_open(dir);
    f->buf = malloc(BUFFER_BYTES);
    return f;
}

static void flush_buffer(floor_t *f) {
    write_all(f, f->buf, f->used, f->end);
    f->end += (off_t)f->used;
    f->used = 0;
}

static void buffered_put(void *h, int tid, const rec_t *recs, size_t n) {
    (void)tid;
    floor_t *f = h;
    for (size_t i = 0; i < n; i++) {
        if (f->used + frame_len(&recs[i]) > BUFFER_BYTES) flush_buffer(f);
        f->used += put_frame(f->buf + f->used, &recs[i]);
    }
}

static void buffered_sync(void *h) {
    floor_t *f = h;
    flush_buffer(f);
    datasync(f);
}

static void buffered_close(void *h) {
    floor_t *f = h;
    if (f->used) flush_buffer(f);
    floor_close(f);
}

/* Reads the file from the start with read() into the user buffer and walks
 * the frames, stopping after `stop` of them. Returns how many it walked and
 * stores the offset just past the last one in *end. */
static uint64_t scan(floor_t *f, uint64_t stop, off_t *end) {
    if (lseek(f->fd, 0, SEEK_SET) != 0) die_os("lseek", f->path);
    uint64_t count = 0;
    unsigned sum = 0; /* touches every value, as a replay callback would */
    size_t have = 0, pos = 0;
    off_t consumed = 0;
    for (;;) {
        ssize_t got = read(f->fd, f->buf + have, BUFFER_BYTES - have);
        if (got < 0) die_os("read", f->path);
        have += (size_t)got;
        while (count < stop && have - pos >= FRAME_HEADER) {
            uint32_t h[2];
            memcpy(h, f->buf + pos, FRAME_HEADER);
            size_t len = FRAME_HEADER + h[0] + h[1];
            if (have - pos < len) break;
            sum += (unsigned char)f->buf[pos + FRAME_HEADER + h[0]];
            pos += len;
            count++;
        }
        consumed += (off_t)pos;
        memmove(f->buf, f->buf + pos, have - pos);
        have -= pos;
        pos = 0;
        if (got == 0 || count == stop) break;
    }
    if (count < stop && have) die_msg("floor", "torn frame at the end of", f->path);
    sink += sum;
    *end = consumed;
    return count;
}

static uint64_t buffered_replay(void *h) {
    off_t end;
    return scan(h, UINT64_MAX, &end);
}

/* The naive truncation: copy what is kept to a new file, sync, rename. */
static void buffered_truncate_half(void *h, uint64_t n) {
    floor_t *f = h;
    off_t from;
    if (scan(f, n / 2, &from) != n / 2) die_msg("floor", "fewer records than written in", f->path);
    char *tmp = path_join(f->dir, "log.new");
    int out = open(tmp, O_CREAT | O_TRUNC | O_RDWR, 0644);
    if (out < 0) die_os("open", tmp);
    for (off_t off = from;;) {
        ssize_t got = pread(f->fd, f->buf, BUFFER_BYTES, off);
        if (got < 0) die_os("pread", f->path);
        if (got == 0) break;
        if (write(out, f->buf, (size_t)got) != got) die_os("write", tmp);
        off += got;
    }
    if (fdatasync(out) != 0) die_os("fdatasync", tmp);
    if (rename(tmp, f->path) != 0) die_os("rename", tmp);
    int d = open(f->dir, O_RDONLY | O_DIRECTORY);
    if (d < 0 || fsync(d) != 0) die_os("fsync", f->dir);
    close(d);
    close(f->fd);
    f->fd = out;
    free(tmp);
}

const engine_t floor_buffered_engine = {
    .name = "floor: 1 MiB user buffer + pwrite, read()",
    .open = buffered_open,
    .put = buffered_put,
    .sync = buffered_sync,
    .replay = buffered_replay,
    .truncate_half = buffered_truncate_half,
    .close = buffered_close,
};
