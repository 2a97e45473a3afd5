// Helpers shared by the tests of include/wal.hpp: a CHECK that counts
// failures, a temporary directory, the files of a log, and a writer that
// dies without closing. Nothing here throws, so that the -fno-exceptions
// test can use it too.
#ifndef LIBWAL_HPP_TESTUTIL_H
#define LIBWAL_HPP_TESTUTIL_H

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace fs = std::filesystem;

static int failures = 0;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

// ec holds `code` of wal::category().
#define CHECK_EC(ec, code)                                                                           \
    do {                                                                                             \
        if (!((ec).value() == (code) && (ec).category() == wal::category())) {                       \
            std::fprintf(stderr, "%s:%d: %s is %s:%d \"%s\", expected libwal:%d\n", __FILE__, __LINE__, \
                         #ec, (ec).category().name(), (ec).value(), (ec).message().c_str(), (code));  \
            failures++;                                                                              \
        }                                                                                            \
    } while (0)

struct TempDir {
    fs::path path;
    TempDir() {
        const char *base = std::getenv("TMPDIR");
        std::string tmpl = std::string(base && *base ? base : "/tmp") + "/libwal-hpp-XXXXXX";
        if (mkdtemp(tmpl.data()) == nullptr) {
            std::perror(tmpl.c_str());
            std::exit(1);
        }
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    std::string sub(const char *name) const { return (path / name).string(); }
};

// The segment files of the log in `dir`, oldest first.
[[maybe_unused]] static std::vector<fs::path> segments(const std::string &dir) {
    std::vector<fs::path> out;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
        if (it->path().extension() == ".wal") out.push_back(it->path());
    std::sort(out.begin(), out.end());
    return out;
}

// Flips the byte at `offset` of `file`.
[[maybe_unused]] static bool flip_byte(const fs::path &file, off_t offset) {
    int fd = open(file.c_str(), O_RDWR);
    if (fd < 0) return false;
    unsigned char b = 0;
    bool ok = pread(fd, &b, 1, offset) == 1;
    b ^= 0x5a;
    ok = ok && pwrite(fd, &b, 1, offset) == 1;
    return close(fd) == 0 && ok;
}

// Appends `n` bytes of junk (not zeros) at the end of `file`: a torn write.
[[maybe_unused]] static bool append_junk(const fs::path &file, size_t n) {
    int fd = open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0) return false;
    std::string junk(n, '\xab');
    bool ok = write(fd, junk.data(), n) == static_cast<ssize_t>(n);
    return close(fd) == 0 && ok;
}

// Runs `body` in a child process, as a writer that dies: body ends in
// _exit(0) while its log is open (no destructor runs, nothing is closed),
// or _exit(1) when something failed first. True when the child got to
// _exit(0).
template <class F>
static bool in_dying_child(F &&body) {
    std::fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
        body();
        _exit(2);  // body returned: its log was closed, no writer died
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static int finish(const char *name) {
    if (failures) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", name, failures);
        return 1;
    }
    std::printf("%s: all checks passed\n", name);
    return 0;
}

#endif
