// Tests of include/wal.hpp's non-throwing overloads, built with
// -fno-exceptions (mk/cxx.mk): each operation with a std::error_code &,
// cleared on success and set on failure, the message and errno that go with
// it, iteration that ends at an error, and the open report.
#include "wal.hpp"

#if WAL_HPP_EXCEPTIONS
#error "build this test with -fno-exceptions: it checks that wal.hpp needs no exceptions"
#endif

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "hpp_testutil.h"

// An error_code holding something, to see that a success clears it.
static std::error_code stale() { return std::make_error_code(std::errc::interrupted); }

static bool message_has(const char *text) { return std::strstr(wal::last_error_message(), text) != nullptr; }

static void test_open_and_close(const TempDir &tmp) {
    std::error_code ec = stale();
    wal::Log log(tmp.sub("open"), wal::Options().segment_size(4096), ec);
    CHECK(!ec && log.is_open());

    // A second writer: WAL_E_LOCKED, and a closed Log.
    std::error_code second_ec;
    wal::Log second(tmp.sub("open"), second_ec);
    CHECK_EC(second_ec, WAL_E_LOCKED);
    CHECK(second_ec == wal::errc::locked && !second.is_open() && second.get() == nullptr);
    CHECK(wal::last_os_error() == 0);

    // An option out of range: WAL_E_INVALID, which is also invalid_argument.
    const std::string bad = tmp.sub("bad-options");
    wal::Log bad_log(bad, wal::Options().segment_size(100), ec);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(ec == std::errc::invalid_argument && !bad_log.is_open() && !fs::exists(bad));

    // The OS error behind a WAL_E_IO, and the message naming the path.
    const std::string missing = tmp.sub("missing");
    wal::Log missing_log(missing, wal::Options().create_if_missing(false), ec);
    CHECK_EC(ec, WAL_E_IO);
    CHECK(wal::last_os_error() == ENOENT && message_has(missing.c_str()) && !missing_log.is_open());
    CHECK(ec.message() == wal_strerror(WAL_E_IO));

    ec = stale();
    log.close(ec);
    CHECK(!ec && !log.is_open());
    ec = stale();
    log.close(ec);  // closing a closed log does nothing
    CHECK(!ec);

    // A closed Log answers WAL_E_INVALID, as the C calls do for NULL.
    uint64_t seq = log.append(WAL_OP_PUT, "k", ec);
    CHECK(seq == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(log.last_seq(ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    log.sync(ec);
    CHECK_EC(ec, WAL_E_INVALID);
    wal::Log moved_to(tmp.sub("open"), ec);  // the directory is free again
    CHECK(!ec && moved_to.is_open());
    wal::Log moved(std::move(moved_to));
    CHECK(!moved_to.is_open() && moved.is_open());
    CHECK(moved_to.first_seq(ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(moved.first_seq(ec) == 1 && !ec);
}

static void test_write_and_read(const TempDir &tmp) {
    std::error_code ec;
    wal::Log log(tmp.sub("rw"), wal::Options().segment_size(4096), ec);
    CHECK(!ec);
    ec = stale();
    CHECK(log.last_seq(ec) == 0 && !ec);  // 0 is an empty log's last seq, not a failure
    CHECK(log.first_seq(ec) == 1 && !ec);

    ec = stale();
    CHECK(log.append(WAL_OP_PUT, "k1", "v1", ec) == 1 && !ec);
    CHECK(log.append(WAL_OP_DELETE, "k1", ec) == 2 && !ec);
    const std::vector<uint8_t> bytes = {0, 1, 2, 255};
    CHECK(log.append(200, bytes, std::string(5000, 'z'), ec) == 3 && !ec);  // bigger than a segment

    CHECK(log.append(0, "k", ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(message_has("op 0"));
    CHECK(log.append(WAL_OP_PUT, wal::Bytes("", size_t(WAL_MAX_RECORD_SIZE) + 1), ec) == 0);
    CHECK_EC(ec, WAL_E_RANGE);

    ec = stale();
    CHECK(log.append_batch({{WAL_OP_PUT, "b1", "1"}, {WAL_OP_DELETE, "b2", {}}}, ec) == 5 && !ec);
    std::vector<wal::Entry> batch = {{WAL_OP_PUT, "b3", "3"}, {WAL_OP_PUT, "b4", bytes}};
    CHECK(log.append_batch(batch, ec) == 7 && !ec);
    CHECK(log.append_batch(batch.data(), 1, ec) == 8 && !ec);
    CHECK(log.append_batch({}, ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(log.append_batch({{WAL_OP_PUT, "a", "1"}, {0, "b", "2"}}, ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(log.last_seq(ec) == 8);

    ec = stale();
    uint64_t n = log.checkpoint(ec);
    CHECK(n == 9 && !ec);
    ec = stale();
    log.sync(ec);
    CHECK(!ec);
    CHECK(log.append(WAL_OP_PUT, "after", "n", ec) == 10);

    // Iteration: next(ec), then a range-for that ends at the end.
    std::error_code iec = stale();
    wal::Iterator it = log.iter(0, iec);
    CHECK(!iec && it.get() != nullptr);
    std::optional<wal::Record> r = it.next(iec);
    CHECK(r && !iec && r->seq == 1 && r->op == WAL_OP_PUT && r->key == "k1" && r->value == "v1");
    std::vector<uint64_t> seqs;
    std::string big;
    for (const wal::Record &rec : it.records(iec)) {
        seqs.push_back(rec.seq);
        if (rec.seq == 3) big = std::string(rec.value);
        CHECK(rec.is_checkpoint() == (rec.seq == n));
    }
    CHECK(!iec && seqs == std::vector<uint64_t>({2, 3, 4, 5, 6, 7, 8, 9, 10}) && big == std::string(5000, 'z'));
    iec = stale();
    CHECK(!it.next(iec) && !iec);  // the end, no error
    CHECK(log.append(WAL_OP_PUT, "later", ec) == 11);
    r = it.next(iec);
    CHECK(r && r->seq == 11 && !iec);  // tailing: a later next() sees it

    // Replay: void and bool callbacks, and the count.
    uint64_t sum = 0;
    ec = stale();
    CHECK(log.replay(0, [&](const wal::Record &rec) { sum += rec.seq; }, ec) == 11 && !ec && sum == 66);
    CHECK(log.replay(n - 1, [](const wal::Record &rec) { return !rec.is_checkpoint(); }, ec) == 1 && !ec);

    // Truncate, then what is gone is WAL_E_RANGE from iter and replay.
    ec = stale();
    log.truncate(n, ec);
    CHECK(!ec && log.first_seq(ec) == n + 1);
    log.truncate(100, ec);
    CHECK_EC(ec, WAL_E_RANGE);
    wal::Iterator gone = log.iter(2, iec);
    CHECK_EC(iec, WAL_E_RANGE);
    CHECK(gone.get() == nullptr && !gone.next(iec));
    CHECK_EC(iec, WAL_E_INVALID);  // an iterator that is not open
    CHECK(log.replay(2, [](const wal::Record &) {}, ec) == 0);
    CHECK_EC(ec, WAL_E_RANGE);
    log.close(ec);
    CHECK(!ec);
}

// A range-for over records(ec) stops at an error and leaves it in ec: here
// the records the iterator was at were truncated under it.
static void test_loop_ends_at_an_error(const TempDir &tmp) {
    std::error_code ec;
    wal::Log log(tmp.sub("loop"), wal::Options().segment_size(4096), ec);
    const std::string big(3000, 'x');  // one record per segment
    for (int i = 0; i < 6; i++) log.append(WAL_OP_PUT, "big", big, ec);
    CHECK(!ec && log.last_seq(ec) == 6);
    wal::Iterator it = log.iter(2, ec);
    log.truncate(5, ec);
    CHECK(!ec);
    int seen = 0;
    std::error_code loop_ec = stale();
    for (const wal::Record &r : it.records(loop_ec)) {
        (void)r;
        seen++;
    }
    CHECK(seen == 0);
    CHECK_EC(loop_ec, WAL_E_RANGE);

    // Read-only: writes are WAL_E_READONLY.
    log.close(ec);
    wal::Log ro(tmp.sub("loop"), wal::Options().read_only(), ec);
    CHECK(!ec && ro.last_seq(ec) == 6 && ro.first_seq(ec) == 6);
    CHECK(ro.append(WAL_OP_PUT, "k", ec) == 0);
    CHECK_EC(ec, WAL_E_READONLY);
    CHECK(ro.checkpoint(ec) == 0);
    CHECK_EC(ec, WAL_E_READONLY);
    ro.sync(ec);
    CHECK_EC(ec, WAL_E_READONLY);
}

// open_report(ec) after a writer died with a torn last write.
static void test_open_report(const TempDir &tmp) {
    const std::string dir = tmp.sub("report");
    const wal::Options opts = wal::Options().preallocate(false);
    CHECK(in_dying_child([&] {
        std::error_code ec;
        wal::Log log(dir, opts, ec);
        for (int i = 0; i < 5; i++) log.append(WAL_OP_PUT, "k", "v", ec);
        _exit(!ec && log.last_seq(ec) == 5 ? 0 : 1);
    }));
    std::vector<fs::path> files = segments(dir);
    CHECK(files.size() == 1);
    std::error_code ec;
    const uint64_t end = files.empty() ? 0 : fs::file_size(files.back(), ec);
    CHECK(!files.empty() && append_junk(files.back(), 64));

    ec = stale();
    wal::Log log(dir, opts, ec);
    CHECK(!ec);
    wal::OpenReport r = log.open_report(ec);
    CHECK(!ec && !r.clean_close && r.tail_cut && r.cut_offset == end && r.bytes_cut == 64);
    CHECK(r.salvage_dropped_from == 0 && log.last_seq(ec) == 5);
    log.close(ec);
    wal::Log again(dir, opts, ec);
    r = again.open_report(ec);
    CHECK(!ec && r.clean_close && !r.tail_cut && r.bytes_cut == 0);
    again.close(ec);
    r = again.open_report(ec);
    CHECK_EC(ec, WAL_E_INVALID);
}

// durable_seq(ec) and wait(..., ec): a timeout is false with ec set to
// wal::errc::timeout (std::errc::timed_out); success clears ec.
static void test_wait(const TempDir &tmp) {
    using std::chrono::milliseconds;
    std::error_code ec = stale();
    wal::Log log(tmp.sub("wait"), wal::Options().sync(wal::Sync::None), ec);
    CHECK(!ec);
    ec = stale();
    CHECK(log.durable_seq(ec) == 0 && !ec);  // nothing durable yet: 0, not a failure
    CHECK(log.append(WAL_OP_PUT, "k1", ec) == 1 && log.append(WAL_OP_PUT, "k2", ec) == 2 && !ec);

    ec = stale();
    CHECK(log.wait(2, false, milliseconds(0), ec) && !ec);
    CHECK(!log.wait(2, true, milliseconds(20), ec));
    CHECK_EC(ec, WAL_E_TIMEOUT);
    CHECK(ec == wal::errc::timeout && ec == std::errc::timed_out && message_has("durable"));
    CHECK(log.durable_seq(ec) == 0 && !ec);

    std::thread syncer([&] {
        std::this_thread::sleep_for(milliseconds(30));
        std::error_code sync_ec;
        log.sync(sync_ec);
    });
    ec = stale();
    log.wait(2, true, ec);  // no limit
    CHECK(!ec && log.durable_seq(ec) == 2);
    syncer.join();
    std::thread appender([&] {
        std::this_thread::sleep_for(milliseconds(30));
        std::error_code append_ec;
        log.append(WAL_OP_PUT, "k3", append_ec);
    });
    ec = stale();
    CHECK(log.wait(3, false, std::chrono::seconds(30), ec) && !ec && log.last_seq(ec) == 3);
    appender.join();

    log.close(ec);
    CHECK(log.durable_seq(ec) == 0);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(!log.wait(1, false, milliseconds(1), ec));
    CHECK_EC(ec, WAL_E_INVALID);
    ec = stale();
    log.wait(1, false, ec);
    CHECK_EC(ec, WAL_E_INVALID);
}

// truncate_after(seq, ec): cleared on success, WAL_E_RANGE past last_seq.
static void test_truncate_after(const TempDir &tmp) {
    std::error_code ec;
    wal::Log log(tmp.sub("cut"), ec);
    for (int i = 0; i < 5; i++) log.append(WAL_OP_PUT, "k", std::to_string(i), ec);
    CHECK(!ec && log.last_seq(ec) == 5);
    log.truncate_after(6, ec);
    CHECK_EC(ec, WAL_E_RANGE);
    CHECK(log.last_seq(ec) == 5);
    ec = stale();
    log.truncate_after(2, ec);
    CHECK(!ec && log.last_seq(ec) == 2 && log.append(WAL_OP_PUT, "k", ec) == 3);
    log.close(ec);
    log.truncate_after(1, ec);
    CHECK_EC(ec, WAL_E_INVALID);
// stats(ec): the counters, and WAL_E_INVALID once the Log is closed.
static void test_stats(const TempDir &tmp) {
    std::error_code ec = stale();
    wal::Log log(tmp.sub("stats"), wal::Options(), ec);
    CHECK(!ec);
    for (int i = 0; i < 3; i++) log.append(WAL_OP_PUT, "k", "vv", ec);
    ec = stale();
    wal::Stats s = log.stats(ec);
    CHECK(!ec && s.records_appended == 3 && s.bytes_appended == 9 && s.segments == 1 && s.syncs >= 3);
    log.close(ec);
    s = log.stats(ec);
    CHECK_EC(ec, WAL_E_INVALID);
    CHECK(s.records_appended == 0);
}

int main() {
    TempDir tmp;
    test_open_and_close(tmp);
    test_write_and_read(tmp);
    test_loop_ends_at_an_error(tmp);
    test_open_report(tmp);
    test_truncate_after(tmp);
    test_wait(tmp);
    test_stats(tmp);
    return finish("test_wal_hpp_noexcept");
}
