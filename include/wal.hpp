// libwal for C++17: a header-only RAII wrapper over wal.h.
//
//   wal::Log log("db/wal");                          // wal_open, defaults
//   uint64_t seq = log.append(WAL_OP_PUT, "k", "v");  // durable on return
//   log.append_batch({{WAL_OP_PUT, "a", "1"}, {WAL_OP_DELETE, "b", {}}});
//   uint64_t n = log.checkpoint();                    // ... store n with the state
//   log.truncate(n);
//   for (const wal::Record &r : log.iter(n)) use(r.key, r.value);
//   log.wait(seq + 1, true, std::chrono::seconds(1)); // a shipper: until seq+1 is durable
//   log.close();                                      // or let the destructor do it
//
// Errors come two ways; both carry a std::error_code of wal::category(),
// whose values are the WAL_E_* codes (wal::errc::locked == WAL_E_LOCKED...):
// - Throwing (when exceptions are on): every failure throws wal::Error, a
//   std::system_error whose code() is that error_code, status() the WAL_E_*
//   int, os_error() the errno behind a WAL_E_IO (0 otherwise), and what()
//   the C call's name and the library's message (naming the file and the OS
//   error where there is one), read on the same thread right after the call.
// - Non-throwing: every operation has an overload whose last parameter is a
//   std::error_code &, which is cleared on success and set on failure (seq
//   0, an empty optional, a closed Log...); wal::last_error_message() and
//   wal::last_os_error() then give the message and the errno, on the same
//   thread, until the next failing libwal call. These overloads are all there
//   is under -fno-exceptions (or with WAL_HPP_EXCEPTIONS defined to 0).
// The handle rules of wal.h hold: one Log may be used from many threads at
// once, except close(), move and destruction; an Iterator by one thread at a
// time. Ops are WAL_OP_PUT, WAL_OP_DELETE or any of your own in 1..254.
#ifndef LIBWAL_WAL_HPP
#define LIBWAL_WAL_HPP

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 201703L
#error "wal.hpp needs C++17 or later (compile with -std=c++17); from C++11 or C++14, use wal.h"
#else

#ifndef WAL_HPP_EXCEPTIONS
#if defined(__cpp_exceptions) || defined(_CPPUNWIND)
#define WAL_HPP_EXCEPTIONS 1
#else
#define WAL_HPP_EXCEPTIONS 0
#endif
#endif

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>
#if WAL_HPP_EXCEPTIONS
#include <exception>
#endif

#include "wal.h"

namespace wal {

// The status codes of wal.h as an error_code enum: std::error_code ec =
// wal::errc::locked; ec == wal::errc::locked; ec.value() == WAL_E_LOCKED.
enum class errc : int {
    invalid = WAL_E_INVALID,    // a bad argument
    io = WAL_E_IO,              // the OS reported an error: see os_error()
    corrupt = WAL_E_CORRUPT,    // damage the recovery mode does not repair
    locked = WAL_E_LOCKED,      // another handle has the directory open for writing
    poisoned = WAL_E_POISONED,  // an earlier write or sync failed; reopen
    range = WAL_E_RANGE,        // a seq past the end or gone, a record or batch too large
    readonly = WAL_E_READONLY,  // a write on a read-only handle
    internal = WAL_E_INTERNAL,  // a bug inside libwal (a caught panic)
    timeout = WAL_E_TIMEOUT,    // a wait gave up before the seq arrived
};

namespace detail {
class Category final : public std::error_category {
public:
    const char *name() const noexcept override { return "libwal"; }
    std::string message(int code) const override { return wal_strerror(code); }
    // So that ec == std::errc::invalid_argument and std::errc::timed_out
    // hold for the libwal codes that mean just that.
    std::error_condition default_error_condition(int code) const noexcept override {
        if (code == WAL_E_INVALID) return std::errc::invalid_argument;
        if (code == WAL_E_TIMEOUT) return std::errc::timed_out;
        return std::error_condition(code, *this);
    }
};
}  // namespace detail

// The error category of libwal's status codes; its message() is wal_strerror.
inline const std::error_category &category() noexcept {
    static const detail::Category instance;
    return instance;
}

inline std::error_code make_error_code(errc e) noexcept { return std::error_code(static_cast<int>(e), category()); }

}  // namespace wal

namespace std {
template <>
struct is_error_code_enum<wal::errc> : true_type {};
}  // namespace std

namespace wal {

// The calling thread's last failure, for the non-throwing overloads: the
// library's message and the errno behind a WAL_E_IO (0 otherwise). Valid
// until the next failing libwal call on this thread.
inline const char *last_error_message() noexcept { return wal_last_error_message(); }
inline int last_os_error() noexcept { return wal_last_os_error(); }

// A failed libwal call: code() is its std::error_code (wal::category()),
// status() the WAL_E_* int, os_error() the errno behind a WAL_E_IO.
class Error : public std::system_error {
public:
    Error(int status, const std::string &message, int os_error = 0)
        : std::system_error(std::error_code(status, category()), message), os_error_(os_error) {}
    int status() const noexcept { return code().value(); }
    // The errno of the OS call behind a WAL_E_IO (ENOSPC, EACCES, ENOENT...),
    // 0 when the failure did not come from the OS; os_error_code() is the
    // same as a std::error_code (== std::errc::no_space_on_device...).
    int os_error() const noexcept { return os_error_; }
    std::error_code os_error_code() const noexcept {
        return os_error_ != 0 ? std::error_code(os_error_, std::system_category()) : std::error_code();
    }

private:
    int os_error_;
};

namespace detail {

// ec from a status: cleared for WAL_OK, else the code in wal::category().
inline bool set_status(int status, std::error_code &ec) noexcept {
    if (status >= WAL_OK) {
        ec.clear();
        return true;
    }
    ec = std::error_code(status, category());
    return false;
}

// A seq is 0 on failure, and the code is then the thread's last error.
inline uint64_t set_seq(uint64_t seq, std::error_code &ec) noexcept {
    if (seq != 0) ec.clear();
    else set_status(wal_last_error(), ec);
    return seq;
}

#if WAL_HPP_EXCEPTIONS
// Throws the calling thread's last error; call it right after the call that
// failed. `code` is that call's status, or 0 to take wal_last_error().
[[noreturn]] inline void throw_last_error(const char *call, int code = 0) {
    if (code == 0) code = wal_last_error();
    int os_error = wal_last_os_error();
    const char *message = wal_last_error_message();
    if (message == nullptr || *message == '\0') throw Error(code, call, os_error);
    throw Error(code, std::string(call) + ": " + message, os_error);
}

inline void check(int status, const char *call) {
    if (status < WAL_OK) throw_last_error(call, status);
}

inline uint64_t check_seq(uint64_t seq, const char *call) {
    if (seq == 0) throw_last_error(call);
    return seq;
}
#endif

// wal_wait's timeout_ms for a std::chrono duration: rounded up to whole
// milliseconds (so that 100 us waits rather than only checks), 0 (only
// check) for a duration that is not positive, saturated at INT64_MAX ms.
template <class Rep, class Period>
inline int64_t timeout_ms(const std::chrono::duration<Rep, Period> &timeout) noexcept {
    if (!(timeout > std::chrono::duration<Rep, Period>::zero())) return 0;  // NaN too
    const long double ms = std::chrono::duration<long double, std::milli>(timeout).count();
    if (!(ms < static_cast<long double>(INT64_MAX))) return INT64_MAX;
    return static_cast<int64_t>(std::ceil(ms));
}

template <class T>
inline constexpr bool is_byte_v = std::is_same_v<T, char> || std::is_same_v<T, unsigned char> ||
                                  std::is_same_v<T, signed char> || std::is_same_v<T, std::byte>;

// A contiguous container of bytes: std::string, std::string_view,
// std::vector<uint8_t>, std::array<std::byte, N>, std::span (C++20)...
template <class C, class = void>
struct is_byte_range : std::false_type {};
template <class C>
struct is_byte_range<C, std::void_t<decltype(std::data(std::declval<const C &>())),
                                    decltype(std::size(std::declval<const C &>()))>>
    : std::bool_constant<!std::is_array_v<C> &&
                         is_byte_v<std::remove_cv_t<std::remove_pointer_t<decltype(std::data(std::declval<const C &>()))>>>> {};

}  // namespace detail

// A borrowed key or value: a C string, any contiguous container of bytes
// (std::string, std::string_view, std::vector<uint8_t>, std::array<std::byte,
// N>, std::span...) or a pointer and a length. It does not copy: the bytes
// must outlive the call it is passed to.
class Bytes {
public:
    Bytes() noexcept = default;
    Bytes(const void *data, size_t size) noexcept : data_(data), size_(size) {}
    Bytes(const char *c_string) noexcept
        : data_(c_string), size_(c_string != nullptr ? std::strlen(c_string) : 0) {}
    template <class C, std::enable_if_t<detail::is_byte_range<C>::value, int> = 0>
    Bytes(const C &range) noexcept : data_(std::data(range)), size_(std::size(range)) {}

    const void *data() const noexcept { return data_; }
    size_t size() const noexcept { return size_; }

private:
    const void *data_ = nullptr;
    size_t size_ = 0;
};

// One entry of a batch: {WAL_OP_PUT, key, value} or {WAL_OP_DELETE, key, {}}.
struct Entry {
    uint8_t op;
    Bytes key;
    Bytes value;
};

// A record read back. key and value borrow libwal's buffer: they are valid
// until the iterator moves on (or the replay callback returns); copy them
// (std::string(r.key)) to keep them longer.
struct Record {
    uint64_t seq = 0;
    uint8_t op = 0;
    std::string_view key;
    std::string_view value;

    bool is_checkpoint() const noexcept { return op == WAL_OP_CHECKPOINT; }
};

// What the open of a Log found and did (wal_open_report). For a read-only
// Log, which changes nothing, the cut fields say what a writable open would
// cut.
struct OpenReport {
    bool clean_close = false;           // the last writer closed the log cleanly
    bool tail_cut = false;              // the open cut the newest segment (a torn tail, or SALVAGE)
    uint64_t cut_offset = 0;            // where, in the newest segment's file
    uint64_t bytes_cut = 0;             // data bytes (not preallocated zeros) the cut removed
    uint64_t salvage_dropped_from = 0;  // SALVAGE: the first seq dropped (handed out again); 0: none
};

// A log's counters since its open (wal_stats), for monitoring, and its
// segment files now. records_appended / syncs is how many records group
// commit made durable per fdatasync.
struct Stats {
    uint64_t records_appended = 0;  // records appended (batch entries one each, checkpoints too)
    uint64_t bytes_appended = 0;    // key + value bytes of those records
    uint64_t bytes_written = 0;     // bytes written to segment files (headers, frames, zeros)
    uint64_t syncs = 0;             // fdatasyncs of segment files
    uint64_t sync_us_p50 = 0;       // fdatasync latency in microseconds, from a histogram
    uint64_t sync_us_p99 = 0;
    uint64_t sync_us_max = 0;       // the slowest fdatasync, exactly
    uint64_t group_max = 0;         // most records made durable by one fdatasync
    uint64_t segments = 0;          // segment files in the log now
    uint64_t disk_bytes = 0;        // bytes the segment files occupy on disk now
};

namespace detail {
inline std::string_view view(const uint8_t *data, size_t size) noexcept {
    return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(data), size);
}
inline Record to_record(const wal_record_t &r) noexcept {
    return Record{r.seq, r.op, view(r.key, r.key_len), view(r.value, r.value_len)};
}
}  // namespace detail

enum class Sync : uint32_t { Always = WAL_SYNC_ALWAYS, Every = WAL_SYNC_EVERY, None = WAL_SYNC_NONE };
enum class Recover : uint32_t { Tail = WAL_RECOVER_TAIL, Salvage = WAL_RECOVER_SALVAGE };

// wal_options_t with the defaults of wal_options_init, set by chained calls:
//   wal::Options().sync(wal::Sync::Every, 64).segment_size(1 << 20)
class Options {
public:
    Options() noexcept { wal_options_init(&raw_); }

    Options &segment_size(uint64_t bytes) noexcept { raw_.segment_size = bytes; return *this; }
    // `every` is wal_options_t.sync_every, used by Sync::Every.
    Options &sync(Sync mode, uint32_t every = 100) noexcept {
        raw_.sync_mode = static_cast<uint32_t>(mode);
        raw_.sync_every = every;
        return *this;
    }
    Options &recovery(Recover mode) noexcept { raw_.recovery_mode = static_cast<uint32_t>(mode); return *this; }
    Options &read_only(bool on = true) noexcept { raw_.read_only = on; return *this; }
    Options &preallocate(bool on) noexcept { raw_.preallocate = on; return *this; }
    Options &create_if_missing(bool on) noexcept { raw_.create_if_missing = on; return *this; }

    // The C struct, for fields this class does not name yet.
    const wal_options_t &raw() const noexcept { return raw_; }
    wal_options_t &raw() noexcept { return raw_; }

private:
    wal_options_t raw_;
};

// An open iterator over the records after some seq (Log::iter). Move-only;
// closed by its destructor. Either pull records one by one:
//   while (std::optional<wal::Record> r = it.next()) ...
//   while (std::optional<wal::Record> r = it.next(ec)) ...  // then check ec
// or loop over it once:
//   for (const wal::Record &r : it) ...                     // throws
//   for (const wal::Record &r : it.records(ec)) ...         // stops at an error in ec
// The end means "nothing more for now": records appended later show up on a
// later next() (or a later loop, which goes on where the last one stopped).
class Iterator {
    class Loop;

public:
    // An iterator that is not open: next() fails with WAL_E_INVALID.
    Iterator() noexcept = default;
    Iterator(Iterator &&other) noexcept : it_(std::exchange(other.it_, nullptr)) {}
    Iterator &operator=(Iterator &&other) noexcept {
        if (this != &other) {
            wal_iter_close(it_);
            it_ = std::exchange(other.it_, nullptr);
            current_.reset();
        }
        return *this;
    }
    Iterator(const Iterator &) = delete;
    Iterator &operator=(const Iterator &) = delete;
    ~Iterator() { wal_iter_close(it_); }

    // The next record, or nothing at the end (ec cleared) or on an error (ec
    // set: WAL_E_CORRUPT, WAL_E_RANGE when records were truncated under it,
    // WAL_E_IO, WAL_E_INVALID for an iterator that is not open...).
    std::optional<Record> next(std::error_code &ec) noexcept {
        wal_record_t rec{};
        int got = wal_iter_next(it_, &rec);
        if (!detail::set_status(got, ec) || got == 0) return std::nullopt;
        return detail::to_record(rec);
    }

#if WAL_HPP_EXCEPTIONS
    // The next record, or nothing at the end. Throws Error (WAL_E_CORRUPT,
    // WAL_E_RANGE when records were truncated under it, WAL_E_IO...).
    std::optional<Record> next() {
        if (it_ == nullptr) throw Error(WAL_E_INVALID, "wal::Iterator: used after a move");
        wal_record_t rec{};
        int got = wal_iter_next(it_, &rec);
        if (got < 0) detail::throw_last_error("wal_iter_next", got);
        if (got == 0) return std::nullopt;
        return detail::to_record(rec);
    }
#endif

    // Range-for support: begin() reads the first record. Each step throws
    // (begin()/end()), or stores an error in ec and ends (records(ec)).
    struct end_t {};
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Record;
        using difference_type = std::ptrdiff_t;
        using pointer = const Record *;
        using reference = const Record &;

        const Record &operator*() const noexcept { return *owner_->current_; }
        const Record *operator->() const noexcept { return &*owner_->current_; }
        iterator &operator++() {
#if WAL_HPP_EXCEPTIONS
            owner_->current_ = ec_ != nullptr ? owner_->next(*ec_) : owner_->next();
#else
            owner_->current_ = owner_->next(*ec_);
#endif
            return *this;
        }
        bool operator!=(end_t) const noexcept { return owner_->current_.has_value(); }
        bool operator==(end_t e) const noexcept { return !(*this != e); }

    private:
        friend class Iterator;
        friend class Iterator::Loop;
        iterator(Iterator *owner, std::error_code *ec) : owner_(owner), ec_(ec) { ++*this; }

        Iterator *owner_;
        std::error_code *ec_;
    };
#if WAL_HPP_EXCEPTIONS
    iterator begin() { return iterator(this, nullptr); }
    end_t end() const noexcept { return {}; }
#endif
    // A range over the records that ends at the end or at an error, left in
    // ec (cleared when the loop ends at the end). Only on a named Iterator:
    // a temporary one would be gone before the loop starts.
    Loop records(std::error_code &ec) & noexcept { return Loop(this, &ec); }

    wal_iter_t *get() const noexcept { return it_; }

private:
    friend class Log;
    explicit Iterator(wal_iter_t *it) noexcept : it_(it) {}

    class Loop {
    public:
        iterator begin() noexcept { return iterator(owner_, ec_); }
        end_t end() const noexcept { return {}; }

    private:
        friend class Iterator;
        Loop(Iterator *owner, std::error_code *ec) noexcept : owner_(owner), ec_(ec) {}
        Iterator *owner_;
        std::error_code *ec_;
    };

    wal_iter_t *it_ = nullptr;
    std::optional<Record> current_;
};

// An open log. Move-only; the destructor closes it but cannot report an
// error: call close() to learn whether the final sync succeeded.
//
// Each operation comes in two forms: the one that throws wal::Error, and the
// overload whose last parameter is a std::error_code &, which does not
// throw: it clears ec on success; on failure it sets ec and returns 0 for a
// seq, nothing for an optional. On a closed (or moved-from) Log, the
// non-throwing forms fail with WAL_E_INVALID as the C calls do for a NULL
// handle.
class Log {
public:
    // A closed log, to open later by assigning an open one.
    Log() noexcept = default;
#if WAL_HPP_EXCEPTIONS
    explicit Log(const std::string &dir, const Options &options = Options()) {
        detail::check(wal_open(dir.c_str(), &options.raw(), &w_), "wal_open");
    }
#endif
    // On failure, ec is set and the Log is closed (is_open() is false).
    Log(const std::string &dir, const Options &options, std::error_code &ec) noexcept {
        detail::set_status(wal_open(dir.c_str(), &options.raw(), &w_), ec);
    }
    Log(const std::string &dir, std::error_code &ec) noexcept : Log(dir, Options(), ec) {}

    Log(Log &&other) noexcept : w_(std::exchange(other.w_, nullptr)) {}
    Log &operator=(Log &&other) noexcept {
        if (this != &other) {
            wal_close(w_);
            w_ = std::exchange(other.w_, nullptr);
        }
        return *this;
    }
    Log(const Log &) = delete;
    Log &operator=(const Log &) = delete;
    ~Log() { wal_close(w_); }

    // Syncs and releases the log. The handle is released even when this
    // fails (the final sync's error, or WAL_E_POISONED); closing a closed
    // log does nothing.
#if WAL_HPP_EXCEPTIONS
    void close() {
        if (w_ != nullptr) detail::check(wal_close(std::exchange(w_, nullptr)), "wal_close");
    }
#endif
    void close(std::error_code &ec) noexcept {
        ec.clear();
        if (w_ != nullptr) detail::set_status(wal_close(std::exchange(w_, nullptr)), ec);
    }
    bool is_open() const noexcept { return w_ != nullptr; }

    // Appends one record; returns its seq (durable on return in Sync::Always).
#if WAL_HPP_EXCEPTIONS
    uint64_t append(uint8_t op, Bytes key, Bytes value = {}) {
        return detail::check_seq(wal_append(handle(), op, key.data(), key.size(), value.data(), value.size()),
                                 "wal_append");
    }
#endif
    uint64_t append(uint8_t op, Bytes key, Bytes value, std::error_code &ec) noexcept {
        return detail::set_seq(wal_append(w_, op, key.data(), key.size(), value.data(), value.size()), ec);
    }
    uint64_t append(uint8_t op, Bytes key, std::error_code &ec) noexcept { return append(op, key, {}, ec); }

    // Appends the entries atomically (all or none after a crash); returns
    // the last one's seq. The non-throwing form reports a failure to allocate
    // the C array of entries as std::errc::not_enough_memory.
#if WAL_HPP_EXCEPTIONS
    uint64_t append_batch(const Entry *entries, size_t count) {
        std::vector<wal_entry_t> raw(count);
        for (size_t i = 0; i < count; i++) raw[i] = to_c(entries[i]);
        return detail::check_seq(wal_append_batch(handle(), raw.data(), count), "wal_append_batch");
    }
    uint64_t append_batch(std::initializer_list<Entry> entries) {
        return append_batch(entries.begin(), entries.size());
    }
    uint64_t append_batch(const std::vector<Entry> &entries) { return append_batch(entries.data(), entries.size()); }
#endif
    uint64_t append_batch(const Entry *entries, size_t count, std::error_code &ec) noexcept {
        std::unique_ptr<wal_entry_t[]> raw;
        if (count > 0) {
            raw.reset(new (std::nothrow) wal_entry_t[count]);
            if (raw == nullptr) {
                ec = std::make_error_code(std::errc::not_enough_memory);
                return 0;
            }
            for (size_t i = 0; i < count; i++) raw[i] = to_c(entries[i]);
        }
        return detail::set_seq(wal_append_batch(w_, raw.get(), count), ec);
    }
    uint64_t append_batch(std::initializer_list<Entry> entries, std::error_code &ec) noexcept {
        return append_batch(entries.begin(), entries.size(), ec);
    }
    uint64_t append_batch(const std::vector<Entry> &entries, std::error_code &ec) noexcept {
        return append_batch(entries.data(), entries.size(), ec);
    }

    // Appends a checkpoint record and makes everything durable; returns its
    // seq N, to store with the engine's frozen state.
#if WAL_HPP_EXCEPTIONS
    uint64_t checkpoint() { return detail::check_seq(wal_checkpoint(handle()), "wal_checkpoint"); }
    void truncate(uint64_t upto_seq) { detail::check(wal_truncate(handle(), upto_seq), "wal_truncate"); }
    void sync() { detail::check(wal_sync(handle()), "wal_sync"); }
#endif
    uint64_t checkpoint(std::error_code &ec) noexcept { return detail::set_seq(wal_checkpoint(w_), ec); }
    void truncate(uint64_t upto_seq, std::error_code &ec) noexcept {
        detail::set_status(wal_truncate(w_, upto_seq), ec);
    }
    void sync(std::error_code &ec) noexcept { detail::set_status(wal_sync(w_), ec); }

    // Cuts the newest records: discards every record with seq > `seq`,
    // durably (a crash during the call leaves the log as it was or as it is
    // on return); the next append gets seq + 1. `seq` > last_seq() is
    // WAL_E_RANGE, `seq` == last_seq() does nothing; so is (WAL_E_RANGE) a
    // `seq` below first_seq() - 1 or below the newest checkpoint record.
    // An iterator whose next record was cut fails with WAL_E_RANGE.
#if WAL_HPP_EXCEPTIONS
    void truncate_after(uint64_t seq) { detail::check(wal_truncate_after(handle(), seq), "wal_truncate_after"); }
#endif
    void truncate_after(uint64_t seq, std::error_code &ec) noexcept {
        detail::set_status(wal_truncate_after(w_, seq), ec);
    }

    // The durable watermark: every seq at or below it is on disk, synced; 0
    // when none is. A writable open starts it at the recovered last_seq.
#if WAL_HPP_EXCEPTIONS
    uint64_t durable_seq() const { return wal_durable_seq(handle()); }
#endif
    uint64_t durable_seq(std::error_code &ec) const noexcept {
        if (w_ == nullptr) return detail::set_seq(wal_durable_seq(w_), ec);  // WAL_E_INVALID
        ec.clear();  // 0 means nothing durable yet, not a failure
        return wal_durable_seq(w_);
    }

    // Waits until last_seq() >= seq (durable false) or durable_seq() >= seq
    // (durable true); appends and syncs through this Log wake it, and any
    // number of threads may wait at once. With a timeout it returns true
    // when the seq arrived and false when the time ran out (the ec form then
    // sets ec to wal::errc::timeout, which == std::errc::timed_out); the
    // timeout is rounded up to whole milliseconds, and one that is not
    // positive only checks. Without one it waits as long as it takes. A
    // handle poisoned before the seq arrived is WAL_E_POISONED. close()
    // must not race a wait.
#if WAL_HPP_EXCEPTIONS
    template <class Rep, class Period>
    bool wait(uint64_t seq, bool durable, const std::chrono::duration<Rep, Period> &timeout) const {
        int status = wal_wait(handle(), seq, durable, detail::timeout_ms(timeout));
        if (status == WAL_E_TIMEOUT) return false;
        detail::check(status, "wal_wait");
        return true;
    }
    void wait(uint64_t seq, bool durable = false) const { detail::check(wal_wait(handle(), seq, durable, -1), "wal_wait"); }
#endif
    template <class Rep, class Period>
    bool wait(uint64_t seq, bool durable, const std::chrono::duration<Rep, Period> &timeout,
              std::error_code &ec) const noexcept {
        return detail::set_status(wal_wait(w_, seq, durable, detail::timeout_ms(timeout)), ec);
    }
    void wait(uint64_t seq, bool durable, std::error_code &ec) const noexcept {
        detail::set_status(wal_wait(w_, seq, durable, -1), ec);
    }

    // The highest seq assigned (0 for a new log); the lowest a replay can
    // return (last_seq() + 1 when there is none).
#if WAL_HPP_EXCEPTIONS
    uint64_t last_seq() const { return wal_last_seq(handle()); }
    uint64_t first_seq() const { return wal_first_seq(handle()); }
#endif
    uint64_t last_seq(std::error_code &ec) const noexcept {
        if (w_ == nullptr) return detail::set_seq(wal_last_seq(w_), ec);  // WAL_E_INVALID
        ec.clear();  // 0 is the last seq of an empty log, not a failure
        return wal_last_seq(w_);
    }
    uint64_t first_seq(std::error_code &ec) const noexcept { return detail::set_seq(wal_first_seq(w_), ec); }

    // What the open found and did: a clean close or not, what it cut.
#if WAL_HPP_EXCEPTIONS
    OpenReport open_report() const {
        wal_open_report_t raw{};
        detail::check(wal_open_report(handle(), &raw), "wal_open_report");
        return to_report(raw);
    }
#endif
    OpenReport open_report(std::error_code &ec) const noexcept {
        wal_open_report_t raw{};
        if (!detail::set_status(wal_open_report(w_, &raw), ec)) return OpenReport{};
        return to_report(raw);
    }

    // The counters since the open and the segment files now (one stat per
    // segment file).
#if WAL_HPP_EXCEPTIONS
    Stats stats() const {
        wal_stats_t raw{};
        detail::check(wal_stats(handle(), &raw), "wal_stats");
        return to_stats(raw);
    }
#endif
    Stats stats(std::error_code &ec) const noexcept {
        wal_stats_t raw{};
        if (!detail::set_status(wal_stats(w_, &raw), ec)) return Stats{};
        return to_stats(raw);
    }

    // Records with seq > after (0: every record kept), in seq order,
    // checkpoints included. The iterator may outlive the Log.
#if WAL_HPP_EXCEPTIONS
    Iterator iter(uint64_t after = 0) {
        wal_iter_t *it = nullptr;
        detail::check(wal_iter_open(handle(), after, &it), "wal_iter_open");
        return Iterator(it);
    }
#endif
    // On failure, ec is set and the Iterator is not open.
    Iterator iter(uint64_t after, std::error_code &ec) noexcept {
        wal_iter_t *it = nullptr;
        detail::set_status(wal_iter_open(w_, after, &it), ec);
        return Iterator(it);
    }

    // Calls fn(const wal::Record &) for each record with seq > after, in
    // order. fn returns void, or bool: false stops the replay. Returns how
    // many records fn was given. An exception thrown by fn stops the replay
    // and is rethrown here, by either form (it never crosses libwal's C
    // frames); the non-throwing form puts only libwal's errors in ec.
#if WAL_HPP_EXCEPTIONS
    template <class F>
    uint64_t replay(uint64_t after, F &&fn) {
        Replay<std::remove_reference_t<F>> ctx(&fn);
        int status = wal_replay(handle(), after, &Replay<std::remove_reference_t<F>>::call, &ctx);
        if (ctx.error) std::rethrow_exception(ctx.error);
        if (status < 0) detail::throw_last_error("wal_replay", status);
        return ctx.count;
    }
#endif
    template <class F>
    uint64_t replay(uint64_t after, F &&fn, std::error_code &ec) {
        Replay<std::remove_reference_t<F>> ctx(&fn);
        int status = wal_replay(w_, after, &Replay<std::remove_reference_t<F>>::call, &ctx);
#if WAL_HPP_EXCEPTIONS
        if (ctx.error) std::rethrow_exception(ctx.error);
#endif
        detail::set_status(status, ec);
        return ctx.count;
    }

    wal_t *get() const noexcept { return w_; }

private:
    template <class F>
    struct Replay {
        explicit Replay(F *f) noexcept : fn(f) {}

        F *fn;
        uint64_t count = 0;
#if WAL_HPP_EXCEPTIONS
        std::exception_ptr error;
#endif

        static int call(void *p, const wal_record_t *rec) noexcept {
            Replay *self = static_cast<Replay *>(p);
#if WAL_HPP_EXCEPTIONS
            try {
                return self->step(*rec);
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
#else
            return self->step(*rec);
#endif
        }

        int step(const wal_record_t &rec) {
            count++;
            Record r = detail::to_record(rec);
            if constexpr (std::is_same_v<decltype((*fn)(r)), bool>) {
                return (*fn)(r) ? 0 : 1;
            } else {
                (*fn)(r);
                return 0;
            }
        }
    };

    static wal_entry_t to_c(const Entry &e) noexcept {
        return wal_entry_t{e.op, e.key.data(), e.key.size(), e.value.data(), e.value.size()};
    }
    static OpenReport to_report(const wal_open_report_t &r) noexcept {
        return OpenReport{r.clean_close != 0, r.tail_cut != 0, r.cut_offset, r.bytes_cut, r.salvage_dropped_from};
    }

    static Stats to_stats(const wal_stats_t &s) noexcept {
        return Stats{s.records_appended, s.bytes_appended, s.bytes_written, s.syncs,      s.sync_us_p50,
                     s.sync_us_p99,      s.sync_us_max,    s.group_max,     s.segments, s.disk_bytes};
    }

#if WAL_HPP_EXCEPTIONS
    wal_t *handle() const {
        if (w_ == nullptr) throw Error(WAL_E_INVALID, "wal::Log: the log is closed (or was moved from)");
        return w_;
    }
#endif

    wal_t *w_ = nullptr;
};

// The library's version, "MAJOR.MINOR.PATCH" (the header's is WAL_VERSION_*).
inline const char *version() noexcept { return wal_version(); }

}  // namespace wal

#endif  // C++17
#endif  // LIBWAL_WAL_HPP
