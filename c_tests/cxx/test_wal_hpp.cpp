// Tests of include/wal.hpp's throwing API: every method of wal::Log,
// wal::Iterator and wal::Options, move semantics, the error codes, category,
// OS errors and messages, the open report, the lifetime of iterators and
// records, and exceptions thrown by a replay callback.
// (test_wal_hpp_noexcept.cpp tests the non-throwing overloads.)
#include "wal.hpp"

#include <sys/resource.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "hpp_testutil.h"

static_assert(!std::is_copy_constructible_v<wal::Log> && !std::is_copy_assignable_v<wal::Log>);
static_assert(std::is_nothrow_move_constructible_v<wal::Log> && std::is_nothrow_move_assignable_v<wal::Log>);
static_assert(!std::is_copy_constructible_v<wal::Iterator> && !std::is_copy_assignable_v<wal::Iterator>);
static_assert(std::is_nothrow_move_constructible_v<wal::Iterator> &&
              std::is_nothrow_move_assignable_v<wal::Iterator>);
static_assert(std::is_base_of_v<std::system_error, wal::Error> && std::is_base_of_v<std::runtime_error, wal::Error>);
static_assert(std::is_convertible_v<std::string, wal::Bytes> && std::is_convertible_v<const char *, wal::Bytes> &&
              std::is_convertible_v<std::vector<uint8_t>, wal::Bytes> &&
              std::is_convertible_v<std::array<std::byte, 4>, wal::Bytes>);
static_assert(!std::is_convertible_v<std::vector<int>, wal::Bytes> && !std::is_convertible_v<int, wal::Bytes>);
static_assert(std::is_error_code_enum_v<wal::errc>);

// Runs `body`, which must throw wal::Error with `code` (as status() and as
// code() in wal::category()), `os_error`, and a message that starts with
// the C call's name and contains `text`.
static void expect_error(const char *file, int line, const char *what, int code, int os_error, const char *call,
                         const char *text, const std::function<void()> &body) {
    try {
        body();
        std::fprintf(stderr, "%s:%d: %s did not throw\n", file, line, what);
    } catch (const wal::Error &e) {
        std::string msg = e.what();
        if (e.status() == code && e.code() == std::error_code(code, wal::category()) && e.os_error() == os_error &&
            msg.rfind(call, 0) == 0 && msg.find(text) != std::string::npos)
            return;
        std::fprintf(stderr, "%s:%d: %s threw code %d (%s:%d) os_error %d \"%s\"; expected code %d, os_error %d, \"%s...%s\"\n",
                     file, line, what, e.status(), e.code().category().name(), e.code().value(), e.os_error(),
                     e.what(), code, os_error, call, text);
    }
    failures++;
}
#define EXPECT_ERROR(code, call, text, ...) \
    expect_error(__FILE__, __LINE__, #__VA_ARGS__, code, 0, call, text, [&] { __VA_ARGS__; })
#define EXPECT_OS_ERROR(code, os_error, call, text, ...) \
    expect_error(__FILE__, __LINE__, #__VA_ARGS__, code, os_error, call, text, [&] { __VA_ARGS__; })

// A record copied out of the log, to outlive the iterator.
struct Owned {
    uint64_t seq;
    uint8_t op;
    std::string key, value;
    bool operator==(const Owned &o) const { return seq == o.seq && op == o.op && key == o.key && value == o.value; }
};

static std::vector<Owned> read_all(wal::Log &log, uint64_t after) {
    std::vector<Owned> out;
    for (const wal::Record &r : log.iter(after)) {
        CHECK(r.is_checkpoint() == (r.op == WAL_OP_CHECKPOINT));
        out.push_back({r.seq, r.op, std::string(r.key), std::string(r.value)});
    }
    return out;
}

static void test_options() {
    wal_options_t c;
    wal_options_init(&c);
    const wal::Options defaults;
    const wal_options_t &d = defaults.raw();
    CHECK(d.segment_size == c.segment_size && d.sync_mode == c.sync_mode && d.sync_every == c.sync_every &&
          d.recovery_mode == c.recovery_mode && d.read_only == c.read_only && d.preallocate == c.preallocate &&
          d.create_if_missing == c.create_if_missing);
    wal::Options o;
    o.segment_size(4096).sync(wal::Sync::Every, 7).recovery(wal::Recover::Salvage).read_only().preallocate(false)
        .create_if_missing(false);
    const wal_options_t &r = o.raw();
    CHECK(r.segment_size == 4096 && r.sync_mode == WAL_SYNC_EVERY && r.sync_every == 7 &&
          r.recovery_mode == WAL_RECOVER_SALVAGE && r.read_only == 1 && r.preallocate == 0 &&
          r.create_if_missing == 0);
    o.raw().read_only = 0;
    CHECK(o.raw().read_only == 0);
    CHECK(std::string(wal::version()) == std::to_string(WAL_VERSION_MAJOR) + "." +
                                             std::to_string(WAL_VERSION_MINOR) + "." +
                                             std::to_string(WAL_VERSION_PATCH));
}

// Every kind of key and value append takes, a batch, a checkpoint, sync,
// truncate, and what iteration and replay give back.
static void test_write_and_read(const TempDir &tmp) {
    wal::Log log(tmp.sub("rw"), wal::Options().segment_size(4096));
    CHECK(log.is_open() && log.get() != nullptr);
    CHECK(log.last_seq() == 0 && log.first_seq() == 1);

    const std::string s = "string";
    const std::vector<uint8_t> bytes = {0, 1, 2, 255};
    const std::array<std::byte, 2> arr = {std::byte{0x61}, std::byte{0x62}};
    const char raw[3] = {'x', '\0', 'y'};
    CHECK(log.append(WAL_OP_PUT, "k1", "v1") == 1);
    CHECK(log.append(WAL_OP_PUT, s, std::string_view("view")) == 2);
    CHECK(log.append(WAL_OP_PUT, bytes, arr) == 3);
    CHECK(log.append(WAL_OP_PUT, wal::Bytes(raw, sizeof raw), std::string()) == 4);
    CHECK(log.append(WAL_OP_DELETE, "k1") == 5);
    CHECK(log.append(200, "", nullptr) == 6);  // any op 1..254; empty key and value

    CHECK(log.append_batch({{WAL_OP_PUT, "b1", "1"}, {WAL_OP_DELETE, "b2", {}}}) == 8);
    std::vector<wal::Entry> batch = {{WAL_OP_PUT, bytes, s}, {WAL_OP_PUT, "b4", arr}, {WAL_OP_PUT, "b5", "5"}};
    CHECK(log.append_batch(batch) == 11);
    uint64_t n = log.checkpoint();
    CHECK(n == 12);
    log.sync();
    CHECK(log.append(WAL_OP_PUT, "after", std::string(5000, 'z')) == 13);  // bigger than a segment
    CHECK(log.last_seq() == 13);

    const std::string bytes_s(bytes.begin(), bytes.end());
    const std::vector<Owned> want = {
        {1, WAL_OP_PUT, "k1", "v1"}, {2, WAL_OP_PUT, "string", "view"}, {3, WAL_OP_PUT, bytes_s, "ab"},
        {4, WAL_OP_PUT, std::string(raw, 3), ""}, {5, WAL_OP_DELETE, "k1", ""}, {6, 200, "", ""},
        {7, WAL_OP_PUT, "b1", "1"}, {8, WAL_OP_DELETE, "b2", ""}, {9, WAL_OP_PUT, bytes_s, "string"},
        {10, WAL_OP_PUT, "b4", "ab"}, {11, WAL_OP_PUT, "b5", "5"}, {12, WAL_OP_CHECKPOINT, "", ""},
        {13, WAL_OP_PUT, "after", std::string(5000, 'z')}};
    CHECK(read_all(log, 0) == want);

    // replay gives the same records; a callback returning false stops it.
    size_t i = 0;
    uint64_t count = log.replay(0, [&](const wal::Record &r) {
        CHECK(i < want.size() && r.seq == want[i].seq && r.key == want[i].key && r.value == want[i].value);
        i++;
    });
    CHECK(count == want.size() && i == want.size());
    CHECK(log.replay(n - 1, [](const wal::Record &r) { return !r.is_checkpoint(); }) == 1);
    CHECK(log.replay(log.last_seq(), [](const wal::Record &) { return true; }) == 0);

    log.truncate(n);
    CHECK(log.first_seq() == n + 1 && log.last_seq() == 13);
    CHECK(read_all(log, 0) == std::vector<Owned>(want.end() - 1, want.end()));
    log.truncate(3);  // below first_seq: nothing to do
    CHECK(log.first_seq() == n + 1);
    log.close();
    CHECK(!log.is_open());
    log.close();  // closing twice does nothing

    wal::Log reopened(tmp.sub("rw"));
    CHECK(reopened.first_seq() == n + 1 && reopened.last_seq() == 13);
    CHECK(reopened.append(WAL_OP_PUT, "k", "v") == 14);
}

static void test_moves(const TempDir &tmp) {
    wal::Log a(tmp.sub("move-a"));
    a.append(WAL_OP_PUT, "a", "1");
    wal::Log b(std::move(a));
    CHECK(!a.is_open() && b.is_open());
    CHECK(b.append(WAL_OP_PUT, "a", "2") == 2);
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", a.append(WAL_OP_PUT, "x"));
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", a.last_seq());
    a.close();  // a moved-from log closes quietly

    // Move assignment closes the log it replaces: its directory is free again.
    wal::Log c(tmp.sub("move-c"));
    c = std::move(b);
    CHECK(c.last_seq() == 2);
    { wal::Log again(tmp.sub("move-c")); }  // no WAL_E_LOCKED
    { wal::Log scoped(tmp.sub("move-d")); scoped.append(WAL_OP_PUT, "d"); }
    wal::Log d(tmp.sub("move-d"));  // the destructor closed it
    CHECK(d.last_seq() == 1);

    // Moving an iterator is not a step: the record it handed out stays valid.
    for (int k = 0; k < 3; k++) c.append(WAL_OP_PUT, "key" + std::to_string(k), "value");
    wal::Iterator it = c.iter(2);
    std::optional<wal::Record> r = it.next();
    wal::Iterator moved = std::move(it);
    CHECK(r && r->key == "key0" && r->value == "value");
    r = moved.next();
    CHECK(r && r->key == "key1");
    EXPECT_ERROR(WAL_E_INVALID, "wal::Iterator", "move", it.next());
    it = std::move(moved);  // move assignment
    r = it.next();
    CHECK(r && r->key == "key2" && !it.next());
    CHECK(it.get() != nullptr && moved.get() == nullptr);
}

// An iterator sees records appended after it reached the end, outlives its
// Log, and reports records truncated under it.
static void test_iterator_lifetime(const TempDir &tmp) {
    wal::Log log(tmp.sub("iter"), wal::Options().segment_size(4096));
    log.append(WAL_OP_PUT, "k1", "v1");
    wal::Iterator it = log.iter();
    std::optional<wal::Record> r = it.next();
    CHECK(r && r->seq == 1 && r->key == "k1" && r->value == "v1");
    CHECK(!it.next());
    log.append(WAL_OP_PUT, "k2", "v2");
    int seen = 0;
    for (const wal::Record &rec : it) seen += rec.key == "k2";
    CHECK(seen == 1);

    wal::Iterator outliving = log.iter();
    log.close();
    r = outliving.next();
    CHECK(r && r->seq == 1);

    wal::Log again(tmp.sub("iter"), wal::Options().segment_size(4096));
    const std::string big(3000, 'x');  // one record per segment
    for (int i = 0; i < 6; i++) again.append(WAL_OP_PUT, "big", big);
    wal::Iterator stale = again.iter(2);
    again.truncate(6);
    EXPECT_ERROR(WAL_E_RANGE, "wal_iter_next", "", stale.next());
}

struct CallbackFailure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// An exception thrown by the callback stops the replay, crosses no C frame,
// and reaches the caller as it was thrown; the log stays usable.
static void test_replay_exception(const TempDir &tmp) {
    wal::Log log(tmp.sub("replay-throw"));
    for (int i = 0; i < 5; i++) log.append(WAL_OP_PUT, "k" + std::to_string(i), "v");
    int calls = 0;
    try {
        log.replay(0, [&](const wal::Record &r) {
            calls++;
            if (r.seq == 3) throw CallbackFailure("stop at 3");
        });
        std::fprintf(stderr, "%s:%d: the callback's exception was lost\n", __FILE__, __LINE__);
        failures++;
    } catch (const CallbackFailure &e) {
        CHECK(std::string(e.what()) == "stop at 3");
    }
    CHECK(calls == 3);
    // A wal::Error thrown by a call inside the callback is the one that comes out.
    EXPECT_ERROR(WAL_E_INVALID, "wal_append", "op 0",
                 log.replay(0, [&](const wal::Record &) { log.append(0, "bad op"); }));
    CHECK(log.append(WAL_OP_PUT, "after", "throw") == 6);
    CHECK(log.replay(5, [](const wal::Record &r) { CHECK(r.key == "after"); }) == 1);
}

static void test_errors(const TempDir &tmp) {
    const std::string dir = tmp.sub("errors");
    wal::Log log(dir, wal::Options().segment_size(4096));
    EXPECT_ERROR(WAL_E_INVALID, "wal_append", "op 0", log.append(0, "k"));
    EXPECT_ERROR(WAL_E_INVALID, "wal_append", "", log.append(WAL_OP_CHECKPOINT, "k"));
    EXPECT_ERROR(WAL_E_INVALID, "wal_append_batch", "", log.append_batch({}));
    EXPECT_ERROR(WAL_E_INVALID, "wal_append_batch", "", log.append_batch({{WAL_OP_PUT, "a", "1"}, {0, "b", "2"}}));
    CHECK(log.last_seq() == 0);
    EXPECT_ERROR(WAL_E_RANGE, "wal_append", "", log.append(WAL_OP_PUT, wal::Bytes("", size_t(WAL_MAX_RECORD_SIZE) + 1)));
    EXPECT_ERROR(WAL_E_RANGE, "wal_truncate", "", log.truncate(1));
    EXPECT_ERROR(WAL_E_LOCKED, "wal_open", "", wal::Log second(dir));
    const std::string big(3000, 'x');
    for (int i = 0; i < 6; i++) log.append(WAL_OP_PUT, "big", big);
    log.truncate(4);
    EXPECT_ERROR(WAL_E_RANGE, "wal_iter_open", "", log.iter(2));
    EXPECT_ERROR(WAL_E_RANGE, "wal_replay", "", log.replay(2, [](const wal::Record &) {}));
    log.close();

    wal::Log ro(dir, wal::Options().read_only());
    CHECK(ro.last_seq() == 6 && ro.first_seq() == 5);
    EXPECT_ERROR(WAL_E_READONLY, "wal_append", "", ro.append(WAL_OP_PUT, "k"));
    EXPECT_ERROR(WAL_E_READONLY, "wal_checkpoint", "", ro.checkpoint());
    EXPECT_ERROR(WAL_E_READONLY, "wal_sync", "", ro.sync());
    ro.close();

    const std::string bad = tmp.sub("bad-options");
    EXPECT_ERROR(WAL_E_INVALID, "wal_open", "", wal::Log l(bad, wal::Options().segment_size(100)));
    CHECK(!fs::exists(bad));
    const std::string missing = tmp.sub("missing");
    EXPECT_OS_ERROR(WAL_E_IO, ENOENT, "wal_open", missing.c_str(),
                    wal::Log l(missing, wal::Options().create_if_missing(false)));

    // A missing segment in the middle is damage TAIL recovery does not repair.
    const std::string gap = tmp.sub("gap");
    {
        wal::Log g(gap, wal::Options().segment_size(4096));
        for (int i = 0; i < 4; i++) g.append(WAL_OP_PUT, "big", big);
    }
    std::vector<fs::path> files = segments(gap);
    CHECK(files.size() >= 3);
    if (files.size() >= 3) fs::remove(files[1]);
    EXPECT_ERROR(WAL_E_CORRUPT, "wal_", "", {
        wal::Log g(gap);
        g.replay(0, [](const wal::Record &) {});
    });
}

// truncate_after cuts the newest records, inside a batch too, durably;
// the next append follows the cut; an iterator whose next record was cut
// fails with WAL_E_RANGE; what it refuses changes nothing.
static void test_truncate_after(const TempDir &tmp) {
    const std::string dir = tmp.sub("cut");
    const wal::Options opts = wal::Options().segment_size(4096);
    wal::Log log(dir, opts);
    for (int i = 1; i <= 4; i++) log.append(WAL_OP_PUT, "k" + std::to_string(i), std::string(1500, 'v'));
    CHECK(log.append_batch({{WAL_OP_PUT, "b5", "5"}, {WAL_OP_PUT, "b6", "6"}, {WAL_OP_PUT, "b7", "7"},
                            {WAL_OP_DELETE, "b8", {}}}) == 8);
    const std::vector<Owned> all = read_all(log, 0);
    CHECK(all.size() == 8);

    EXPECT_ERROR(WAL_E_RANGE, "wal_truncate_after", "", log.truncate_after(9));
    log.truncate_after(8);  // == last_seq: nothing to do
    CHECK(log.last_seq() == 8 && read_all(log, 0) == all);

    wal::Iterator ahead = log.iter(6);
    std::optional<wal::Record> r = ahead.next();
    CHECK(r && r->seq == 7);
    wal::Iterator behind = log.iter(2);
    log.truncate_after(6);  // inside the batch: 5 and 6 stay
    CHECK(log.last_seq() == 6 && log.first_seq() == 1);
    CHECK(log.append(WAL_OP_PUT, "new7", "n") == 7);
    EXPECT_ERROR(WAL_E_RANGE, "wal_iter_next", "", ahead.next());  // its next record, 8, was cut
    EXPECT_ERROR(WAL_E_RANGE, "wal_iter_next", "", ahead.next());  // from then on
    std::vector<uint64_t> seqs;
    for (const wal::Record &rec : behind) seqs.push_back(rec.seq);
    CHECK(seqs == std::vector<uint64_t>({3, 4, 5, 6, 7}));
    std::vector<Owned> want(all.begin(), all.begin() + 6);
    want.push_back({7, WAL_OP_PUT, "new7", "n"});
    CHECK(read_all(log, 0) == want);
    log.close();

    wal::Log reopened(dir, opts);  // the cut is durable: records above 6 never come back
    CHECK(reopened.last_seq() == 7 && read_all(reopened, 0) == want);
    uint64_t cp = reopened.checkpoint();
    reopened.append(WAL_OP_PUT, "after", "cp");
    EXPECT_ERROR(WAL_E_RANGE, "wal_truncate_after", "checkpoint", reopened.truncate_after(cp - 1));
    CHECK(reopened.last_seq() == cp + 1);
    reopened.truncate_after(cp);
    CHECK(reopened.last_seq() == cp);

    // Below first_seq - 1 is gone already; first_seq - 1 cuts every record left.
    wal::Log front(tmp.sub("cut-front"), opts);
    for (int i = 0; i < 6; i++) front.append(WAL_OP_PUT, "big", std::string(3000, 'x'));
    front.truncate(3);
    EXPECT_ERROR(WAL_E_RANGE, "wal_truncate_after", "", front.truncate_after(2));
    front.truncate_after(3);
    CHECK(front.last_seq() == 3 && front.first_seq() == 4 && read_all(front, 0).empty());
    CHECK(front.append(WAL_OP_PUT, "k", "v") == 4);
    front.close();
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", front.truncate_after(1));
    wal::Log ro(dir, wal::Options().read_only());
    EXPECT_ERROR(WAL_E_READONLY, "wal_truncate_after", "", ro.truncate_after(1));
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

static double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// durable_seq() follows the syncs; wait() returns when another thread's
// append or sync brings the seq, false when its timeout runs out first.
static void test_wait(const TempDir &tmp) {
    wal::Log log(tmp.sub("wait"), wal::Options().sync(wal::Sync::None).segment_size(4096));
    CHECK(log.durable_seq() == 0);
    for (int i = 0; i < 3; i++) log.append(WAL_OP_PUT, "k", std::string(1500, 'v'));  // across segments
    CHECK(log.last_seq() == 3 && log.durable_seq() == 0);
    CHECK(log.wait(3, false, milliseconds(0)));   // appended: only checks
    CHECK(!log.wait(3, true, milliseconds(0)));   // not durable yet
    CHECK(log.wait(2, false, std::chrono::hours::max()));  // saturates, no overflow
    CHECK(log.wait(1, false, milliseconds(-5)));  // not positive: only checks
    CHECK(log.wait(0, true, milliseconds(0)));    // seq 0 is always there

    Clock::time_point start = Clock::now();
    CHECK(!log.wait(3, true, milliseconds(80)));
    double waited = ms_since(start);
    CHECK(waited >= 80 && waited < 5000);
    start = Clock::now();
    CHECK(!log.wait(4, false, std::chrono::microseconds(300)));  // rounded up to 1 ms, not "only check"
    CHECK(ms_since(start) >= 1);
    start = Clock::now();
    CHECK(!log.wait(4, false, std::chrono::duration<double>(0.05)));
    CHECK(ms_since(start) >= 50);

    // A sync by another thread wakes a durable waiter that has no limit.
    std::thread syncer([&] {
        std::this_thread::sleep_for(milliseconds(50));
        log.sync();
    });
    start = Clock::now();
    log.wait(3, true);
    CHECK(ms_since(start) >= 40 && log.durable_seq() == 3);
    syncer.join();

    // Appends by other threads wake waiters of both kinds.
    std::atomic<int> woke{0};
    std::thread appended([&] { woke += log.wait(5, false, std::chrono::seconds(30)); });
    std::thread durable([&] { woke += log.wait(5, true, std::chrono::seconds(30)); });
    std::this_thread::sleep_for(milliseconds(30));
    CHECK(woke == 0);
    log.append(WAL_OP_PUT, "k4");
    log.append(WAL_OP_PUT, "k5");
    appended.join();
    CHECK(woke == 1 && log.durable_seq() == 3);
    log.checkpoint();  // seq 6, and everything durable
    durable.join();
    CHECK(woke == 2 && log.durable_seq() == 6);

    log.close();
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", log.durable_seq());
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", log.wait(1, false, milliseconds(1)));
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", log.wait(1));

    wal::Log ro(tmp.sub("wait"), wal::Options().read_only());
    CHECK(ro.durable_seq() == 6 && ro.wait(6, true, milliseconds(0)) && !ro.wait(7, false, milliseconds(0)));
}

// A write failure while a thread waits for a durable seq: the waiter gets
// WAL_E_POISONED. The failure is the kernel's (RLIMIT_FSIZE, as in
// c_tests/test_poison.c), in a child process that keeps the limit.
static void test_wait_poisoned(const TempDir &tmp) {
    const std::string dir = tmp.sub("wait-poisoned");
    CHECK(in_dying_child([&] {
        std::signal(SIGXFSZ, SIG_IGN);
        wal::Log log(dir, wal::Options().segment_size(1 << 20).preallocate(false));
        struct rlimit lim = {64 * 1024, RLIM_INFINITY};
        if (setrlimit(RLIMIT_FSIZE, &lim) != 0) _exit(1);
        int waiter_got = 1;  // WAL_E_* of the waiter's error; 1: none
        std::thread waiter([&] {
            try {
                if (!log.wait(1000000, true, std::chrono::seconds(30))) waiter_got = WAL_E_TIMEOUT;
            } catch (const wal::Error &e) {
                waiter_got = e.status();
            }
        });
        int append_got = 1;
        try {
            for (int i = 0; i < 1000; i++) log.append(WAL_OP_PUT, "k", std::string(1000, 'v'));
        } catch (const wal::Error &e) {
            append_got = e.status();
        }
        waiter.join();
        _exit(append_got == WAL_E_IO && waiter_got == WAL_E_POISONED ? 0 : 1);
    }));
}

// wal::errc and wal::category(): the codes of wal.h, their messages, and
// what a wal::Error carries.
static void test_error_category() {
    const std::error_category &cat = wal::category();
    CHECK(&cat == &wal::category() && std::string(cat.name()) == "libwal");
    const std::pair<wal::errc, int> codes[] = {
        {wal::errc::invalid, WAL_E_INVALID},   {wal::errc::io, WAL_E_IO},
        {wal::errc::corrupt, WAL_E_CORRUPT},   {wal::errc::locked, WAL_E_LOCKED},
        {wal::errc::poisoned, WAL_E_POISONED}, {wal::errc::range, WAL_E_RANGE},
        {wal::errc::readonly, WAL_E_READONLY}, {wal::errc::internal, WAL_E_INTERNAL},
        {wal::errc::timeout, WAL_E_TIMEOUT}};
    for (const auto &[e, code] : codes) {
        std::error_code ec = e;  // is_error_code_enum: converts implicitly
        CHECK_EC(ec, code);
        CHECK(ec == e && ec.message() == wal_strerror(code) && static_cast<bool>(ec));
        CHECK(ec != std::error_code(code, std::generic_category()));
    }
    CHECK(std::error_code(wal::errc::invalid) == std::errc::invalid_argument);
    CHECK(std::error_code(wal::errc::timeout) == std::errc::timed_out);
    CHECK(std::error_code(wal::errc::locked) != std::errc::invalid_argument);
    CHECK(std::error_code(wal::errc::io) != std::errc::io_error);  // the errno is os_error()'s

    wal::Error e(WAL_E_LOCKED, "wal_open: busy");
    const std::system_error &base = e;
    CHECK(base.code() == wal::errc::locked && e.status() == WAL_E_LOCKED && e.os_error() == 0 && !e.os_error_code());
    CHECK(std::string(e.what()).rfind("wal_open: busy", 0) == 0);
    wal::Error io(WAL_E_IO, "wal_sync", ENOSPC);
    CHECK(io.os_error() == ENOSPC && io.os_error_code() == std::errc::no_space_on_device);
}

// The errno behind a WAL_E_IO comes with the Error; other errors have 0.
static void test_os_errors(const TempDir &tmp) {
    const std::string file = tmp.sub("a-file");
    CHECK(append_junk(file, 1));  // creates it: a file where the directory should be
    try {
        wal::Log l(file);
        std::fprintf(stderr, "%s:%d: opening a file as a log did not throw\n", __FILE__, __LINE__);
        failures++;
    } catch (const wal::Error &e) {
        CHECK(e.code() == wal::errc::io && e.os_error() == ENOTDIR);
        CHECK(e.os_error_code() == std::errc::not_a_directory);
        CHECK(std::string(e.what()).find(file) != std::string::npos);
    }
    wal::Log log(tmp.sub("os-errors"));
    EXPECT_OS_ERROR(WAL_E_INVALID, 0, "wal_append", "op 0", log.append(0, "k"));
}

// Log::open_report() is wal_open_report, field by field: a clean reopen; a
// writer that died, whose last write tore; damage SALVAGE cut.
static void test_open_report(const TempDir &tmp) {
    const std::string dir = tmp.sub("report");
    const auto same_as_c = [](wal::Log &log) {
        wal_open_report_t c{};
        CHECK(wal_open_report(log.get(), &c) == WAL_OK);
        wal::OpenReport r = log.open_report();
        CHECK(r.clean_close == (c.clean_close != 0) && r.tail_cut == (c.tail_cut != 0) &&
              r.cut_offset == c.cut_offset && r.bytes_cut == c.bytes_cut &&
              r.salvage_dropped_from == c.salvage_dropped_from);
        return r;
    };
    const wal::Options opts = wal::Options().preallocate(false);
    {
        wal::Log log(dir, opts);
        for (int i = 0; i < 10; i++) log.append(WAL_OP_PUT, "key" + std::to_string(i), std::string(100, 'v'));
    }
    {
        wal::Log log(dir, opts);
        wal::OpenReport r = same_as_c(log);
        CHECK(r.clean_close && !r.tail_cut && r.bytes_cut == 0 && r.salvage_dropped_from == 0);
        CHECK(log.last_seq() == 10);
    }
    // A writer appends, dies; its last write tore (junk after the records).
    CHECK(in_dying_child([&] {
        wal::Log log(dir, opts);
        _exit(log.append(WAL_OP_PUT, "k", "v") == 11 ? 0 : 1);
    }));
    std::vector<fs::path> files = segments(dir);
    CHECK(files.size() == 1);
    const uint64_t end = files.empty() ? 0 : fs::file_size(files.back());
    CHECK(!files.empty() && append_junk(files.back(), 100));
    {
        wal::Log log(dir, opts);
        wal::OpenReport r = same_as_c(log);
        CHECK(!r.clean_close && r.tail_cut && r.cut_offset == end && r.bytes_cut == 100);
        CHECK(r.salvage_dropped_from == 0 && log.last_seq() == 11);
    }
    // A flipped byte in the middle of the file: SALVAGE keeps what came
    // before it and says from which seq it dropped.
    CHECK(!files.empty() && flip_byte(files.back(), static_cast<off_t>(end / 2)));
    {
        wal::Log log(dir, wal::Options(opts).recovery(wal::Recover::Salvage));
        wal::OpenReport r = same_as_c(log);
        CHECK(r.tail_cut && r.cut_offset > 0 && r.cut_offset < end && r.bytes_cut > 0);
        CHECK(log.last_seq() >= 1 && log.last_seq() < 11);
        // wal_open_report leaves salvage_dropped_from 0 until the recovery
        // rework fills it in: then it must be the first seq dropped.
        CHECK(r.salvage_dropped_from == 0 || r.salvage_dropped_from == log.last_seq() + 1);
    }
    wal::Log closed;
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", closed.open_report());
}

// Log::stats() is wal_stats, field by field; it counts what was appended.
static void test_stats(const TempDir &tmp) {
    wal::Log log(tmp.sub("stats"), wal::Options().preallocate(false));
    wal::Stats s = log.stats();
    CHECK(s.records_appended == 0 && s.segments == 0 && s.syncs == 0);
    for (int i = 0; i < 10; i++) log.append(WAL_OP_PUT, "key", std::string(100, 'v'));
    wal_stats_t c{};
    CHECK(wal_stats(log.get(), &c) == WAL_OK);
    s = log.stats();
    CHECK(s.records_appended == 10 && s.bytes_appended == 1030 && s.segments == 1 && s.group_max == 1);
    CHECK(s.records_appended == c.records_appended && s.bytes_appended == c.bytes_appended &&
          s.bytes_written == c.bytes_written && s.syncs == c.syncs && s.sync_us_p50 == c.sync_us_p50 &&
          s.sync_us_p99 == c.sync_us_p99 && s.sync_us_max == c.sync_us_max && s.group_max == c.group_max &&
          s.segments == c.segments && s.disk_bytes == c.disk_bytes);
    CHECK(s.syncs >= 10 && s.bytes_written > 1030 && s.disk_bytes >= s.bytes_written);
    wal::Log closed;
    EXPECT_ERROR(WAL_E_INVALID, "wal::Log", "closed", closed.stats());
}

int main() {
    TempDir tmp;
    test_options();
    test_write_and_read(tmp);
    test_moves(tmp);
    test_iterator_lifetime(tmp);
    test_replay_exception(tmp);
    test_errors(tmp);
    test_error_category();
    test_os_errors(tmp);
    test_open_report(tmp);
    test_truncate_after(tmp);
    test_wait(tmp);
    test_wait_poisoned(tmp);
    test_stats(tmp);
    return finish("test_wal_hpp");
}
