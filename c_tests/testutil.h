/* Small helpers shared by the C tests: checks that report file:line and the
 * library's last error, temporary directories, and file-level corruption. */
#ifndef LIBWAL_TESTUTIL_H
#define LIBWAL_TESTUTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

static int tu_failures = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: CHECK failed: %s (last error %d: %s)\n", \
                    __FILE__, __LINE__, #cond, wal_last_error(),             \
                    wal_last_error_message());                               \
            tu_failures++;                                                   \
        }                                                                    \
    } while (0)

/* A check whose failure makes the rest of the test meaningless. */
#define REQUIRE(cond)                                                        \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s (last error %d: %s)\n",\
                    __FILE__, __LINE__, #cond, wal_last_error(),             \
                    wal_last_error_message());                               \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                   \
    do {                                                                     \
        uint64_t tu_a = (uint64_t)(a), tu_b = (uint64_t)(b);                 \
        if (tu_a != tu_b) {                                                  \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu "          \
                    "(last error %d: %s)\n", __FILE__, __LINE__, #a, #b,     \
                    (unsigned long long)tu_a, (unsigned long long)tu_b,      \
                    wal_last_error(), wal_last_error_message());             \
            tu_failures++;                                                   \
        }                                                                    \
    } while (0)

/* Removes a directory tree (files and one level of subdirectories deep is
 * all the tests create, but this recurses anyway). */
static inline void tu_rmtree(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char sub[4096];
            if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int)sizeof sub) continue;
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) tu_rmtree(sub);
            else unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

/* A fresh, empty temporary directory; the returned string is static per call
 * site only if copied by the caller, so copy it. */
static inline char *tu_tmpdir(const char *tag) {
    const char *base = getenv("TMPDIR");
    if (!base || !*base) base = "/tmp";
    char *buf = malloc(4096);
    snprintf(buf, 4096, "%s/libwal-%s-XXXXXX", base, tag);
    if (!mkdtemp(buf)) { perror("mkdtemp"); exit(1); }
    return buf;
}

/* Path of the n-th (0-based) segment file in name order, or -1. */
static inline int tu_segment_path(const char *dir, int n, char *out, size_t out_len) {
    struct dirent **list;
    int count = scandir(dir, &list, NULL, alphasort);
    if (count < 0) return -1;
    int seen = 0, found = -1;
    for (int i = 0; i < count; i++) {
        size_t len = strlen(list[i]->d_name);
        if (found < 0 && len > 4 && !strcmp(list[i]->d_name + len - 4, ".wal")) {
            if (seen == n) {
                snprintf(out, out_len, "%s/%s", dir, list[i]->d_name);
                found = 0;
            }
            seen++;
        }
        free(list[i]);
    }
    free(list);
    return found;
}

/* Number of segment files (*.wal) in dir. */
static inline int tu_segment_count(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && !strcmp(e->d_name + len - 4, ".wal")) n++;
    }
    closedir(d);
    return n;
}

static inline off_t tu_file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* XORs one byte of a file with mask (0xff flips every bit). */
static inline void tu_flip_byte(const char *path, off_t offset, unsigned char mask) {
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    unsigned char b;
    REQUIRE(pread(fd, &b, 1, offset) == 1);
    b ^= mask;
    REQUIRE(pwrite(fd, &b, 1, offset) == 1);
    close(fd);
}

/* Writes len bytes at offset (extending the file if needed). */
static inline void tu_write_at(const char *path, off_t offset, const void *buf, size_t len) {
    int fd = open(path, O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, buf, len, offset) == (ssize_t)len);
    close(fd);
}

/* Ends a test program: prints a summary and returns the exit code. */
static inline int tu_finish(const char *name) {
    if (tu_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tu_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}

#endif
