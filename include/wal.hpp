// libwal for C++17: a header-only RAII wrapper over wal.h.
//
//   wal::Log log("db/wal");                          // wal_open, defaults
//   uint64_t seq = log.append(WAL_OP_PUT, "k", "v");  // durable on return
//   log.append_batch({{WAL_OP_PUT, "a", "1"}, {WAL_OP_DELETE, "b", {}}});
//   uint64_t n = log.checkpoint();                    // ... store n with the state
//   log.truncate(n);
//   for (const wal::Record &r : log.iter(n)) use(r.key, r.value);
//   log.close();                                      // or let the destructor do it
//
// Every failure throws wal::Error, whose code() is the WAL_E_* status and
// whose what() is the library's message (naming the file and the OS error
// where there is one), read on the same thread right after the failing call.
// The handle rules of wal.h hold: one Log may be used from many threads at
// once, except close(), move and destruction; an Iterator by one thread at a
// time. Ops are WAL_OP_PUT, WAL_OP_DELETE or any of your own in 1..254.
#ifndef LIBWAL_WAL_HPP
#define LIBWAL_WAL_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "wal.h"

namespace wal {

// A failed libwal call: code() is WAL_E_INVALID, WAL_E_IO, ... WAL_E_INTERNAL.
class Error : public std::runtime_error {
public:
    Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

private:
    int code_;
};

namespace detail {

// Throws the calling thread's last error; call it right after the call that
// failed. `code` is that call's status, or 0 to take wal_last_error().
[[noreturn]] inline void throw_last_error(const char *call, int code = 0) {
    if (code == 0) code = wal_last_error();
    const char *message = wal_last_error_message();
    if (message == nullptr || *message == '\0') message = wal_strerror(code);
    throw Error(code, std::string(call) + ": " + message);
}

inline void check(int status, const char *call) {
    if (status != WAL_OK) throw_last_error(call, status);
}

inline uint64_t check_seq(uint64_t seq, const char *call) {
    if (seq == 0) throw_last_error(call);
    return seq;
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

namespace detail {
inline std::string_view view(const uint8_t *data, size_t size) {
    return size == 0 ? std::string_view() : std::string_view(reinterpret_cast<const char *>(data), size);
}
inline Record to_record(const wal_record_t &r) {
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
// or loop over it once: for (const wal::Record &r : it) ...
// The end means "nothing more for now": records appended later show up on a
// later next() (or a later loop, which goes on where the last one stopped).
class Iterator {
public:
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

    // Range-for support: begin() reads the first record.
    struct end_t {};
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = Record;
        using difference_type = std::ptrdiff_t;
        using pointer = const Record *;
        using reference = const Record &;

        explicit iterator(Iterator *owner) : owner_(owner) { ++*this; }
        const Record &operator*() const noexcept { return *owner_->current_; }
        const Record *operator->() const noexcept { return &*owner_->current_; }
        iterator &operator++() {
            owner_->current_ = owner_->next();
            return *this;
        }
        bool operator!=(end_t) const noexcept { return owner_->current_.has_value(); }
        bool operator==(end_t e) const noexcept { return !(*this != e); }

    private:
        Iterator *owner_;
    };
    iterator begin() { return iterator(this); }
    end_t end() const noexcept { return {}; }

    wal_iter_t *get() const noexcept { return it_; }

private:
    friend class Log;
    explicit Iterator(wal_iter_t *it) noexcept : it_(it) {}

    wal_iter_t *it_;
    std::optional<Record> current_;
};

// An open log. Move-only; the destructor closes it but cannot report an
// error: call close() to learn whether the final sync succeeded.
class Log {
public:
    explicit Log(const std::string &dir, const Options &options = Options()) {
        detail::check(wal_open(dir.c_str(), &options.raw(), &w_), "wal_open");
    }
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
    // throws (the final sync's error, or WAL_E_POISONED); closing a closed
    // log does nothing.
    void close() {
        if (w_ != nullptr) detail::check(wal_close(std::exchange(w_, nullptr)), "wal_close");
    }
    bool is_open() const noexcept { return w_ != nullptr; }

    // Appends one record; returns its seq (durable on return in Sync::Always).
    uint64_t append(uint8_t op, Bytes key, Bytes value = {}) {
        return detail::check_seq(wal_append(handle(), op, key.data(), key.size(), value.data(), value.size()),
                                 "wal_append");
    }

    // Appends the entries atomically (all or none after a crash); returns
    // the last one's seq.
    uint64_t append_batch(const Entry *entries, size_t count) {
        std::vector<wal_entry_t> raw(count);
        for (size_t i = 0; i < count; i++)
            raw[i] = wal_entry_t{entries[i].op, entries[i].key.data(), entries[i].key.size(),
                                 entries[i].value.data(), entries[i].value.size()};
        return detail::check_seq(wal_append_batch(handle(), raw.data(), count), "wal_append_batch");
    }
    uint64_t append_batch(std::initializer_list<Entry> entries) {
        return append_batch(entries.begin(), entries.size());
    }
    uint64_t append_batch(const std::vector<Entry> &entries) { return append_batch(entries.data(), entries.size()); }

    // Appends a checkpoint record and makes everything durable; returns its
    // seq N, to store with the engine's frozen state.
    uint64_t checkpoint() { return detail::check_seq(wal_checkpoint(handle()), "wal_checkpoint"); }
    void truncate(uint64_t upto_seq) { detail::check(wal_truncate(handle(), upto_seq), "wal_truncate"); }
    void sync() { detail::check(wal_sync(handle()), "wal_sync"); }

    // The highest seq assigned (0 for a new log); the lowest a replay can
    // return (last_seq() + 1 when there is none).
    uint64_t last_seq() const { return wal_last_seq(handle()); }
    uint64_t first_seq() const { return wal_first_seq(handle()); }

    // Records with seq > after (0: every record kept), in seq order,
    // checkpoints included. The iterator may outlive the Log.
    Iterator iter(uint64_t after = 0) {
        wal_iter_t *it = nullptr;
        detail::check(wal_iter_open(handle(), after, &it), "wal_iter_open");
        return Iterator(it);
    }

    // Calls fn(const wal::Record &) for each record with seq > after, in
    // order. fn returns void, or bool: false stops the replay. An exception
    // thrown by fn stops the replay and is rethrown here (it never crosses
    // libwal's C frames). Returns how many records fn was given.
    template <class F>
    uint64_t replay(uint64_t after, F &&fn) {
        Replay<std::remove_reference_t<F>> ctx{&fn, 0, nullptr};
        int status = wal_replay(handle(), after, &Replay<std::remove_reference_t<F>>::call, &ctx);
        if (ctx.error) std::rethrow_exception(ctx.error);
        if (status < 0) detail::throw_last_error("wal_replay", status);
        return ctx.count;
    }

    wal_t *get() const noexcept { return w_; }

private:
    template <class F>
    struct Replay {
        F *fn;
        uint64_t count;
        std::exception_ptr error;

        static int call(void *p, const wal_record_t *rec) noexcept {
            Replay *self = static_cast<Replay *>(p);
            try {
                self->count++;
                Record r = detail::to_record(*rec);
                if constexpr (std::is_same_v<decltype((*self->fn)(r)), bool>)
                    return (*self->fn)(r) ? 0 : 1;
                else
                    (*self->fn)(r);
                return 0;
            } catch (...) {
                self->error = std::current_exception();
                return 1;
            }
        }
    };

    wal_t *handle() const {
        if (w_ == nullptr) throw Error(WAL_E_INVALID, "wal::Log: the log is closed (or was moved from)");
        return w_;
    }

    wal_t *w_ = nullptr;
};

// The library's version, "MAJOR.MINOR.PATCH" (the header's is WAL_VERSION_*).
inline const char *version() noexcept { return wal_version(); }

}  // namespace wal

#endif  // LIBWAL_WAL_HPP
