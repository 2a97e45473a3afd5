//! okaywal 0.3.1 as an engine of `make bench`, behind a small C ABI that
//! bench/okaywal.c calls (the engine table of bench/bench.h), so okaywal
//! runs under the same worker threads, timers, keys and values as libwal.
//!
//! What each operation does with okaywal's public API:
//!
//! - durable put (W1-W3, the sweep, the batches): `begin_entry`, one
//!   `begin_chunk` + write + `finish` per record (key then value in one
//!   chunk), `commit` (okaywal's fsync, shared by the writers that commit
//!   at the same time). A batch of n records is one entry of n chunks.
//! - bulk put (W4, W5): the chunks go into one open entry; okaywal has no
//!   commit without fsync, so the entry is committed when it reaches the
//!   segment size (`BENCH_OKAYWAL_SEGMENT_KB`, default 32 MiB), which also makes
//!   okaywal start a new segment; sync commits the entry in progress. A
//!   segment then holds one entry. 32 MiB: W4's log is 125 MB of okaywal
//!   chunks, so its first half holds one whole segment, as the first half of
//!   libwal's 140 MB holds one of libwal's 64 MiB segments (with 64 MiB,
//!   okaywal's W7 would drop nothing).
//! - replay (W6): okaywal replays in `WriteAheadLog::recover`, through the
//!   `LogManager::recover` of this crate, which reads every chunk into one
//!   buffer and checks its CRC; the count is kept for `okwb_recovered`.
//! - truncate the first half (W7): okaywal drops a whole segment when its
//!   checkpoint thread has called `LogManager::checkpoint_to` for it and the
//!   call returned Ok: it then renames the file `wal-N-cp`, resets it for
//!   reuse and fsyncs the directory. In the bulk runs the manager holds
//!   `checkpoint_to` (a store that has not flushed yet), so W6 replays the
//!   whole log; W7 lets it through for the segments whose entries all lie in
//!   the first half and waits until okaywal has finished them: until its
//!   checkpoint thread, which handles one segment after the other, calls
//!   `checkpoint_to` for the next (held) segment, or, when none is queued,
//!   until `WriteAheadLog::shutdown` has joined that thread. At close the
//!   segments still held are refused, so okaywal keeps them on disk.
//!
//! In the durable runs the manager lets every checkpoint through at once,
//! okaywal's steady state: a full segment (768 KiB by default) is recycled
//! for later writes. `BENCH_OKAYWAL_HOLD=1` holds them there too. The
//! rotation run passes its segment size to `okwb_open`, which makes it
//! okaywal's `checkpoint_after_bytes`.
//! Other knobs: `BENCH_OKAYWAL_PREALLOCATE_KB`, `BENCH_OKAYWAL_CHECKPOINT_KB`
//! (durable runs) and `BENCH_OKAYWAL_BUFFER_KB`; unset, okaywal's defaults.
//!
//! Errors are values: every function returns -1 (or NULL) and leaves a
//! message for `okwb_last_error`; a panic is caught at the boundary.
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use okaywal::{
    Configuration, Entry, EntryId, EntryWriter, LogManager, ReadChunkResult, RecoveredSegment,
    Recovery, SegmentReader, WriteAheadLog,
};

/// What bench.h calls `rec_t`: the same layout.
#[repr(C)]
pub struct Rec {
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
}

/// The error `checkpoint_to` returns for a segment it holds when the log
/// closes: okaywal's checkpoint thread stops on it and keeps the segment.
const HELD: &str = "okaywal-bench: segment held, not checkpointed";

/// When the LogManager lets okaywal drop a segment.
#[derive(Debug, Default)]
struct GateState {
    /// Hold checkpoints (bulk runs and reopened logs); else let all through.
    hold: bool,
    /// Let through the segments whose last entry is at most this one.
    allowed_through: Option<u64>,
    /// Refuse (with HELD) instead of waiting: the log is closing.
    closing: bool,
    /// How many segments were refused.
    refused: u64,
    /// The highest last-entry id checkpoint_to has been asked about.
    asked: u64,
}

#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the manager learns during recovery, read by the handle afterwards.
#[derive(Debug, Default)]
struct Recovered {
    /// Committed entries in order: (entry id, records in the log through it).
    entries: Vec<(u64, u64)>,
    records: u64,
    /// The recovered segments in order: the id of the last entry (committed
    /// or not) each holds, if any.
    segments: Vec<Option<u64>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Manager {
    gate: Arc<Gate>,
    recovered: Arc<Mutex<Recovered>>,
    buf: Vec<u8>,
}

impl LogManager for Manager {
    fn should_recover_segment(&mut self, _segment: &RecoveredSegment) -> io::Result<Recovery> {
        lock(&self.recovered).segments.push(None);
        Ok(Recovery::Recover)
    }

    fn recover(&mut self, entry: &mut Entry<'_>) -> io::Result<()> {
        let id = entry.id().0;
        if let Some(last) = lock(&self.recovered).segments.last_mut() {
            *last = Some(id);
        }
        let mut chunks = 0u64;
        let mut sum = 0u8;
        loop {
            match entry.read_chunk()? {
                ReadChunkResult::Chunk(mut chunk) => {
                    let len = usize::try_from(chunk.bytes_remaining()).map_err(io::Error::other)?;
                    if self.buf.len() < len {
                        self.buf.resize(len, 0);
                    }
                    chunk.read_exact(&mut self.buf[..len])?;
                    if !chunk.check_crc()? {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("okaywal-bench: chunk {chunks} of entry {id}: CRC mismatch"),
                        ));
                    }
                    // Touch the value, as libwal's replay callback does.
                    sum = sum.wrapping_add(self.buf[..len].last().copied().unwrap_or(0));
                    chunks += 1;
                }
                ReadChunkResult::EndOfEntry => break,
                // Not committed: okaywal says to ignore its chunks.
                ReadChunkResult::AbortedEntry => return Ok(()),
            }
        }
        black_box(sum);
        let mut r = lock(&self.recovered);
        r.records += chunks;
        let through = r.records;
        r.entries.push((id, through));
        Ok(())
    }

    fn checkpoint_to(
        &mut self,
        last_checkpointed_id: EntryId,
        _checkpointed_entries: &mut SegmentReader,
        _wal: &WriteAheadLog,
    ) -> io::Result<()> {
        let mut g = self.gate.lock();
        g.asked = g.asked.max(last_checkpointed_id.0);
        self.gate.changed.notify_all();
        loop {
            if !g.hold
                || g.allowed_through
                    .is_some_and(|through| last_checkpointed_id.0 <= through)
            {
                return Ok(());
            }
            if g.closing {
                g.refused += 1;
                return Err(io::Error::other(HELD));
            }
            g = self
                .gate
                .changed
                .wait(g)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }
}

/// One open log.
pub struct Bench {
    /// Bulk runs: the entry being written. It borrows `*wal` (the Box's heap
    /// value, which never moves); it is always taken before `wal` is (see
    /// `finish_entry`, `shut_down` and Drop).
    entry: Option<EntryWriter<'static>>,
    entry_bytes: u64,
    entry_records: u64,
    wal: Option<Box<WriteAheadLog>>,
    durable: bool,
    segment_bytes: u64,
    gate: Arc<Gate>,
    recovered: Arc<Mutex<Recovered>>,
    /// Records recovered by the open (W6's count).
    recovered_records: u64,
    /// The last entry ids of the segments handed to okaywal's checkpoint
    /// thread, in its order: the recovered ones but the newest (which okaywal
    /// keeps writing to), then the ones bulk puts filled.
    queued: Vec<u64>,
    /// Records truncate_half let okaywal drop.
    dropped: u64,
}

fn env_u64(name: &str) -> io::Result<Option<u64>> {
    match std::env::var(name) {
        Ok(s) if !s.is_empty() => {
            s.trim().parse::<u64>().map(Some).map_err(|e| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("{name}={s}: {e}"))
            })
        }
        _ => Ok(None),
    }
}

fn kib_u32(name: &str, v: u64) -> io::Result<u32> {
    v.checked_mul(1024)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{name}: {v} KiB does not fit in u32 bytes"),
            )
        })
}

/// okaywal's defaults, with the knobs of the environment applied.
fn configuration(
    dir: &Path,
    hold: bool,
    segment_bytes: u64,
    checkpoint_bytes: u64,
) -> io::Result<Configuration> {
    let mut c = Configuration::default_for(dir);
    if let Some(kb) = env_u64("BENCH_OKAYWAL_PREALLOCATE_KB")? {
        c = c.preallocate_bytes(kib_u32("BENCH_OKAYWAL_PREALLOCATE_KB", kb)?);
    }
    if let Some(kb) = env_u64("BENCH_OKAYWAL_BUFFER_KB")? {
        let bytes = usize::try_from(kb.saturating_mul(1024)).map_err(io::Error::other)?;
        c = c.buffer_bytes(bytes.max(1));
    }
    if hold {
        // One entry per segment: a segment is full when its entry is.
        c = c.checkpoint_after_bytes(segment_bytes);
    } else if checkpoint_bytes > 0 {
        // The rotation run: a new segment every checkpoint_bytes.
        c = c.checkpoint_after_bytes(checkpoint_bytes);
    } else if let Some(kb) = env_u64("BENCH_OKAYWAL_CHECKPOINT_KB")? {
        c = c.checkpoint_after_bytes(kb.saturating_mul(1024));
    }
    Ok(c)
}

/// Whether dir holds okaywal segment files already (a reopen).
fn has_segments(dir: &Path) -> io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for e in entries {
                if e?.file_name().to_string_lossy().starts_with("wal-") {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

impl Bench {
    fn open(
        dir: &Path,
        durable: bool,
        threads: c_int,
        checkpoint_bytes: u64,
    ) -> io::Result<Bench> {
        if !durable && threads != 1 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bulk (non-durable) runs take one thread",
            ));
        }
        let reopen = has_segments(dir)?;
        let hold = !durable || reopen || env_u64("BENCH_OKAYWAL_HOLD")?.is_some_and(|v| v != 0);
        let segment_bytes = env_u64("BENCH_OKAYWAL_SEGMENT_KB")?
            .unwrap_or(32 << 10)
            .max(1)
            .saturating_mul(1 << 10);
        let gate = Arc::new(Gate::default());
        gate.lock().hold = hold;
        let recovered = Arc::new(Mutex::new(Recovered::default()));
        let manager = Manager {
            gate: Arc::clone(&gate),
            recovered: Arc::clone(&recovered),
            buf: Vec::new(),
        };
        let wal = configuration(dir, hold, segment_bytes, checkpoint_bytes)?.open(manager)?;
        let (recovered_records, queued) = {
            let r = lock(&recovered);
            let older = &r.segments[..r.segments.len().saturating_sub(1)];
            (r.records, older.iter().flatten().copied().collect())
        };
        Ok(Bench {
            entry: None,
            entry_bytes: 0,
            entry_records: 0,
            wal: Some(Box::new(wal)),
            durable,
            segment_bytes,
            gate,
            recovered,
            recovered_records,
            queued,
            dropped: 0,
        })
    }

    fn wal(&self) -> io::Result<&WriteAheadLog> {
        self.wal
            .as_deref()
            .ok_or_else(|| io::Error::other("okaywal-bench: the log was shut down"))
    }

    fn put_durable(&self, recs: &[Rec]) -> io::Result<()> {
        let mut entry = self.wal()?.begin_entry()?;
        for r in recs {
            write_record(&mut entry, r)?;
        }
        entry.commit()?;
        Ok(())
    }

    fn put_bulk(&mut self, recs: &[Rec]) -> io::Result<()> {
        for r in recs {
            if self.entry.is_none() {
                let wal: *const WriteAheadLog = self.wal()?;
                // SAFETY: `wal` points into the Box in self.wal, whose heap
                // value stays put and alive as long as self.wal is Some; the
                // entry is taken (committed or dropped) before self.wal is
                // taken or dropped (finish_entry, shut_down, Drop).
                let wal: &'static WriteAheadLog = unsafe { &*wal };
                self.entry = Some(wal.begin_entry()?);
            }
            let entry = self
                .entry
                .as_mut()
                .ok_or_else(|| io::Error::other("no entry"))?;
            self.entry_bytes += write_record(entry, r)?;
            self.entry_records += 1;
            if self.entry_bytes >= self.segment_bytes {
                self.finish_entry()?;
            }
        }
        Ok(())
    }

    /// Commits the entry in progress (okaywal's fsync) and notes its records.
    fn finish_entry(&mut self) -> io::Result<()> {
        if let Some(entry) = self.entry.take() {
            let id = entry.commit()?;
            let mut r = lock(&self.recovered);
            r.records += self.entry_records;
            let through = r.records;
            r.entries.push((id.0, through));
            // The segment is past checkpoint_after_bytes: okaywal queued it.
            if self.entry_bytes >= self.segment_bytes {
                self.queued.push(id.0);
            }
            self.entry_bytes = 0;
            self.entry_records = 0;
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        // A durable run's entries are committed by put already.
        self.finish_entry()
    }

    /// Lets okaywal drop the segments whose entries all lie in the first n/2
    /// records and waits until it has.
    fn truncate_half(&mut self, n: u64) -> io::Result<()> {
        self.finish_entry()?;
        let last = {
            let r = lock(&self.recovered);
            r.entries
                .iter()
                .take_while(|(_, through)| *through <= n / 2)
                .last()
                .copied()
        };
        // Whole segments only: through the last queued one within the half.
        let Some(through) =
            last.and_then(|(id, _)| self.queued.iter().copied().take_while(|&q| q <= id).last())
        else {
            return Ok(()); // no segment lies wholly in the first half
        };
        self.dropped = lock(&self.recovered)
            .entries
            .iter()
            .take_while(|(id, _)| *id <= through)
            .last()
            .map_or(0, |e| e.1);
        let next_held = self.queued.iter().copied().find(|&q| q > through);
        let mut g = self.gate.lock();
        if !g.hold {
            return Err(io::Error::other(
                "okaywal-bench: truncate_half needs held checkpoints (a bulk run or a reopened log)",
            ));
        }
        g.allowed_through = Some(through);
        self.gate.changed.notify_all();
        if let Some(next) = next_held {
            // okaywal asks about a segment only once done with the one before.
            // (The deadline only keeps a dead checkpoint thread from hanging
            // the bench; it is not part of the measurement.)
            let deadline = Instant::now() + Duration::from_secs(60);
            while g.asked < next {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::other(format!(
                        "okaywal-bench: okaywal's checkpoint thread did not get past entry {through} in 60 s"
                    )));
                }
                g = self
                    .gate
                    .changed
                    .wait_timeout(g, left)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .0;
            }
            return Ok(());
        }
        drop(g);
        self.shut_down()
    }

    /// Stops okaywal's checkpoint thread after the checkpoints it may do,
    /// refusing the segments held; afterwards the handle only closes.
    fn shut_down(&mut self) -> io::Result<()> {
        self.finish_entry()?;
        let Some(wal) = self.wal.take() else {
            return Ok(());
        };
        {
            let mut g = self.gate.lock();
            g.closing = true;
            self.gate.changed.notify_all();
        }
        match (*wal).shutdown() {
            Ok(()) => Ok(()),
            // The thread stopped on a held segment (its error, or the pipe to
            // it closed before the shutdown command got there).
            Err(e) if e.to_string() == HELD => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe && self.gate.lock().refused > 0 => {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        // The entry borrows *self.wal: it goes first (rolled back if left).
        drop(self.entry.take());
        drop(self.wal.take());
    }
}

/// One record as one chunk: key, then value. Returns the bytes it took.
fn write_record(entry: &mut EntryWriter<'_>, r: &Rec) -> io::Result<u64> {
    // SAFETY: bench.c passes key_len and value_len readable bytes.
    let (key, value) = unsafe { (bytes(r.key, r.key_len), bytes(r.value, r.value_len)) };
    let len = key.len() + value.len();
    let mut chunk = entry.begin_chunk(u32::try_from(len).map_err(io::Error::other)?)?;
    chunk.write_all(key)?;
    chunk.write_all(value)?;
    chunk.finish()?;
    // A chunk is a marker byte, a 4-byte length, the data and a 4-byte CRC.
    Ok(len as u64 + 9)
}

/// # Safety
/// p must point to len readable bytes (or len be 0).
unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        unsafe { std::slice::from_raw_parts(p, len) }
    }
}

// ---- the C ABI ----
//
// # Safety (every function taking a pointer)
// `h` is NULL or a handle from okwb_open not yet closed; `dir` is a
// NUL-terminated string; `recs` points to `n` records whose key and value
// pointers are readable for their lengths. A handle is used by one thread at
// a time, except that durable handles take okwb_put from many at once.

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(msg: String) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = c);
}

/// Runs f, turning an error or a panic into -1 and a message.
fn guard(f: impl FnOnce() -> io::Result<()>) -> c_int {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            set_error(e.to_string());
            -1
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            set_error(format!("panic: {what}"));
            -1
        }
    }
}

fn handle<'a>(h: *mut Bench) -> io::Result<&'a mut Bench> {
    // SAFETY: h is NULL or a pointer from okwb_open not yet closed, used by
    // one thread at a time except for durable puts (see okwb_put).
    unsafe { h.as_mut() }.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "NULL handle"))
}

/// Opens (creating if missing) the log in dir. Returns NULL on error.
/// checkpoint_bytes (durable runs): okaywal's checkpoint_after_bytes, the
/// size at which it moves to a new segment; 0: okaywal's default or
/// BENCH_OKAYWAL_CHECKPOINT_KB.
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_open(
    dir: *const c_char,
    durable: c_int,
    threads: c_int,
    checkpoint_bytes: u64,
) -> *mut Bench {
    let mut out = std::ptr::null_mut();
    let rc = guard(|| {
        if dir.is_null() {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "NULL dir"));
        }
        // SAFETY: dir is a NUL-terminated string (checked non-NULL above).
        let dir = unsafe { CStr::from_ptr(dir) }
            .to_str()
            .map_err(io::Error::other)?;
        out = Box::into_raw(Box::new(Bench::open(
            Path::new(dir),
            durable != 0,
            threads,
            checkpoint_bytes,
        )?));
        Ok(())
    });
    if rc == 0 { out } else { std::ptr::null_mut() }
}

/// Writes n records as one atomic unit. Durable handles: many threads may
/// call this at once. Bulk handles: one thread.
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_put(h: *mut Bench, recs: *const Rec, n: usize) -> c_int {
    guard(|| {
        if recs.is_null() && n > 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "NULL records"));
        }
        // SAFETY: recs points to n records (bench.c's array).
        let recs = if n == 0 {
            &[][..]
        } else {
            unsafe { std::slice::from_raw_parts(recs, n) }
        };
        // SAFETY: as in handle(); durable puts only read the handle, so
        // concurrent callers share it.
        let durable = unsafe { h.as_ref() }
            .ok_or_else(|| io::Error::other("NULL handle"))?
            .durable;
        if durable {
            // SAFETY: as above; shared access only.
            unsafe { &*h }.put_durable(recs)
        } else {
            handle(h)?.put_bulk(recs)
        }
    })
}

/// Makes everything put so far durable.
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_sync(h: *mut Bench) -> c_int {
    guard(|| handle(h)?.sync())
}

/// How many records okwb_truncate_half let okaywal drop.
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_dropped(h: *mut Bench) -> u64 {
    handle(h).map(|b| b.dropped).unwrap_or(0)
}

/// How many records the recovery of okwb_open read back (W6).
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_recovered(h: *mut Bench) -> u64 {
    handle(h).map(|b| b.recovered_records).unwrap_or(0)
}

/// Drops the segments wholly within the first n/2 records, durably (the
/// handle may be shut down afterwards: then it can only be closed).
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_truncate_half(h: *mut Bench, n: u64) -> c_int {
    guard(|| handle(h)?.truncate_half(n))
}

/// Commits an entry in progress, stops okaywal and frees the handle.
///
/// # Safety
/// See "Safety" at the top of the C ABI section.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn okwb_close(h: *mut Bench) -> c_int {
    if h.is_null() {
        return 0;
    }
    let rc = guard(|| handle(h)?.shut_down());
    // SAFETY: h came from Box::into_raw in okwb_open and is not used again.
    let freed = guard(|| {
        drop(unsafe { Box::from_raw(h) });
        Ok(())
    });
    if rc == 0 { freed } else { rc }
}

/// The message of the last error on this thread ("" if none).
#[unsafe(no_mangle)]
pub extern "C" fn okwb_last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}
