//! wal_t: opening, writing, truncating and closing a log.

use super::boundary::{arg, bytes, call, status};
use super::{wal_entry_t, wal_open_report_t, wal_options_t, WAL_OK, WAL_OP_CHECKPOINT};
use super::{WAL_RECOVER_SALVAGE, WAL_RECOVER_TAIL, WAL_SYNC_ALWAYS, WAL_SYNC_EVERY, WAL_SYNC_NONE};
use crate::error::{Error, Result};
use crate::format::Entry;
use crate::format::{ENTRY_HEADER_LEN, MAX_BATCH_SIZE};
use crate::log::{check_batch_size, check_record_size};
use crate::options::{Options, RecoveryMode, SyncMode, DEFAULT_SEGMENT_SIZE, DEFAULT_SYNC_EVERY};
use crate::Wal;
use std::ffi::{c_int, c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open log. Opaque: create with wal_open, free with wal_close.
pub struct wal_t {
    pub(crate) wal: Wal,
}

/// Fills `opts` with the defaults: 64 MiB segments, WAL_SYNC_ALWAYS,
/// sync_every 100, WAL_RECOVER_TAIL, writable, preallocate, create_if_missing.
/// A NULL `opts` is ignored.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_options_init(opts: *mut wal_options_t) {
    // SAFETY: the caller passes NULL or a valid, writable wal_options_t.
    if let Some(opts) = unsafe { opts.as_mut() } {
        *opts = wal_options_t {
            segment_size: DEFAULT_SEGMENT_SIZE,
            sync_mode: WAL_SYNC_ALWAYS,
            sync_every: DEFAULT_SYNC_EVERY,
            recovery_mode: WAL_RECOVER_TAIL,
            read_only: 0,
            preallocate: 1,
            create_if_missing: 1,
            reserved: [0; 8],
        };
    }
}

fn options_from_c(opts: &wal_options_t) -> Result<Options> {
    if let Some(i) = opts.reserved.iter().position(|&word| word != 0) {
        return Err(Error::invalid(format!(
            "wal_options_t.reserved[{i}] is not zero: start from wal_options_init, which zeroes it \
             (a program built for a newer libwal may be running with an older one)"
        )));
    }
    let sync_mode = match opts.sync_mode {
        WAL_SYNC_ALWAYS => SyncMode::Always,
        WAL_SYNC_EVERY => SyncMode::Every(opts.sync_every),
        WAL_SYNC_NONE => SyncMode::None,
        other => return Err(Error::invalid(format!("unknown sync_mode {other}"))),
    };
    let recovery_mode = match opts.recovery_mode {
        WAL_RECOVER_TAIL => RecoveryMode::Tail,
        WAL_RECOVER_SALVAGE => RecoveryMode::Salvage,
        other => return Err(Error::invalid(format!("unknown recovery_mode {other}"))),
    };
    Ok(Options {
        segment_size: opts.segment_size,
        sync_mode,
        recovery_mode,
        read_only: opts.read_only != 0,
        preallocate: opts.preallocate != 0,
        create_if_missing: opts.create_if_missing != 0,
    })
}

/// Opens the log in directory `dir`, recovering it (see the recovery modes),
/// and stores a new handle in `*out`.
///
/// Parameters: `dir` a NUL-terminated path; `opts` NULL for the defaults;
/// `out` receives the handle (NULL on failure).
/// Returns WAL_OK; WAL_E_INVALID for a NULL argument or an option out of
/// range (nothing is created); WAL_E_LOCKED when another handle has the
/// directory open for writing; WAL_E_CORRUPT for damage the recovery mode
/// does not repair; WAL_E_IO.
/// Memory: the handle is owned by the caller until wal_close.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_open(
    dir: *const c_char,
    opts: *const wal_options_t,
    out: *mut *mut wal_t,
) -> c_int {
    status(|| {
        // SAFETY: the caller passes NULL or a valid, writable pointer.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Error::invalid("out is NULL"))?;
        *out = std::ptr::null_mut();
        let dir = arg(dir, "dir")?;
        // SAFETY: `dir` is a NUL-terminated string, as the contract requires.
        let dir = unsafe { CStr::from_ptr(dir) }.to_bytes();
        if dir.is_empty() {
            return Err(Error::invalid("dir is an empty path"));
        }
        let options = match opts.is_null() {
            true => Options::default(),
            false => options_from_c(arg(opts, "opts")?)?,
        };
        let wal = Wal::open(Path::new(OsStr::from_bytes(dir)), options)?;
        *out = Box::into_raw(Box::new(wal_t { wal }));
        Ok(WAL_OK)
    })
}

/// Syncs everything written, releases the directory lock and frees the
/// handle. NULL is fine. Must not race other calls on the same handle;
/// iterators still open stay safe to use and to close.
/// Returns WAL_OK, the final sync's error, or WAL_E_POISONED for a poisoned
/// handle. The handle is freed in every case.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_close(w: *mut wal_t) -> c_int {
    if w.is_null() {
        return WAL_OK;
    }
    status(|| {
        // SAFETY: `w` came from wal_open and is not used after this call.
        let handle = unsafe { Box::from_raw(w) };
        // A poisoned handle's final sync refuses with WAL_E_POISONED; the
        // lock is released either way.
        handle.wal.close().map(|()| WAL_OK)
    })
}

fn handle<'a>(w: *const wal_t) -> Result<&'a Wal> {
    Ok(&arg(w, "the wal_t handle")?.wal)
}

/// Appends one record and returns its seq (durable on return in
/// WAL_SYNC_ALWAYS).
///
/// Parameters: `op` 1..254; `key`/`value` may be NULL when their length is 0.
/// Returns the seq, or 0 on failure: WAL_E_INVALID (NULL handle, op 0 or 255,
/// NULL buffer with a non-zero length), WAL_E_RANGE (key_len + value_len >
/// WAL_MAX_RECORD_SIZE, checked before a byte is read), WAL_E_READONLY,
/// WAL_E_POISONED, WAL_E_IO (the handle is then poisoned).
/// Memory: the buffers are only read during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_append(
    w: *mut wal_t,
    op: u8,
    key: *const std::ffi::c_void,
    key_len: usize,
    value: *const std::ffi::c_void,
    value_len: usize,
) -> u64 {
    call(0, || {
        let wal = handle(w)?;
        let entry = entry_from_c(op, key, key_len, value, value_len)?;
        wal.append(entry.op, entry.key, entry.value)
    })
}

/// A caller's record as an entry: op checked, and the size checked before
/// the buffers become slices (so an oversize length is never dereferenced).
fn entry_from_c<'a>(
    op: u8,
    key: *const std::ffi::c_void,
    key_len: usize,
    value: *const std::ffi::c_void,
    value_len: usize,
) -> Result<Entry<'a>> {
    if op == 0 || op == WAL_OP_CHECKPOINT {
        return Err(Error::invalid(format!(
            "op {op} is reserved (use 1..254; 255 is written only by wal_checkpoint)"
        )));
    }
    check_record_size(key_len, value_len)?;
    Ok(Entry { op, key: bytes(key, key_len, "key")?, value: bytes(value, value_len, "value")? })
}

/// Appends `count` entries as one atomic batch: after a crash, replay shows
/// all of them or none. They get consecutive seqs; returns the last one.
///
/// Returns 0 on failure: WAL_E_INVALID (NULL handle or entries, count 0, any
/// invalid entry: nothing is written and last_seq is unchanged), WAL_E_RANGE
/// (an entry larger than WAL_MAX_RECORD_SIZE, or the batch's encoded size
/// above WAL_MAX_BATCH_SIZE: checked from the lengths before any buffer is
/// read or memory reserved), WAL_E_READONLY,
/// WAL_E_POISONED, WAL_E_IO.
/// Memory: the entries and their buffers are only read during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_append_batch(w: *mut wal_t, entries: *const wal_entry_t, count: usize) -> u64 {
    call(0, || {
        let wal = handle(w)?;
        if count == 0 {
            return Err(Error::invalid("a batch needs at least one entry (count is 0)"));
        }
        let entries = arg(entries, "entries")?;
        // Every entry takes at least its header in the frame: a count past
        // what fits WAL_MAX_BATCH_SIZE is refused before the array is touched.
        if count > MAX_BATCH_SIZE / ENTRY_HEADER_LEN {
            return Err(Error::range(format!(
                "a batch of {count} entries is larger than WAL_MAX_BATCH_SIZE ({MAX_BATCH_SIZE} bytes, \
                 {ENTRY_HEADER_LEN} of them per entry at least)"
            )));
        }
        // SAFETY: the caller promises `count` valid entries at `entries`;
        // count * size_of::<wal_entry_t>() fits isize (count is bounded above).
        let entries = unsafe { std::slice::from_raw_parts(entries as *const wal_entry_t, count) };
        // The sizes, from the lengths alone, before a buffer is read or the
        // batch's memory reserved.
        check_batch_size(entries.iter().map(|e| (e.key_len, e.value_len)))?;
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                entry_from_c(e.op, e.key, e.key_len, e.value, e.value_len)
                    .map_err(|err| Error::new(err.kind(), format!("entry {i}: {err}")))
            })
            .collect::<Result<Vec<_>>>()?;
        wal.append_batch(&entries)
    })
}

/// Describes what wal_open found and did: whether the last writer closed
/// the log cleanly, what the open cut from the newest segment (a torn tail,
/// or SALVAGE's cut) and, for SALVAGE, the first seq it dropped. For a
/// read-only handle, which changes nothing, the cut fields say what a
/// writable open would cut.
/// Returns WAL_OK and fills `*out`; WAL_E_INVALID for a NULL argument.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_open_report(w: *mut wal_t, out: *mut wal_open_report_t) -> c_int {
    status(|| {
        let wal = handle(w)?;
        // SAFETY: the caller passes NULL or a valid, writable report.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Error::invalid("out is NULL"))?;
        let report = wal.open_report();
        *out = wal_open_report_t {
            clean_close: report.clean_close as u32,
            tail_cut: report.tail_cut as u32,
            cut_offset: report.cut_offset,
            bytes_cut: report.bytes_cut,
            salvage_dropped_from: report.salvage_dropped_from,
            reserved: [0; 4],
        };
        Ok(WAL_OK)
    })
}

/// Appends a checkpoint record (op WAL_OP_CHECKPOINT, no key or value),
/// makes it and everything before it durable whatever the sync mode, and
/// returns its seq; 0 on failure (WAL_E_INVALID, WAL_E_READONLY,
/// WAL_E_POISONED, WAL_E_IO).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_checkpoint(w: *mut wal_t) -> u64 {
    call(0, || handle(w)?.checkpoint())
}

/// Discards every record with seq <= `upto_seq`, durably: they are never
/// replayed again, even after a crash; wal_first_seq becomes upto_seq + 1;
/// every record above upto_seq stays intact even if the process dies in the
/// middle. Segment files holding only such records are deleted before it
/// returns. The cost does not grow with the records kept.
/// Returns WAL_OK (also when upto_seq < first_seq: nothing to do);
/// WAL_E_RANGE when upto_seq > last_seq; WAL_E_INVALID, WAL_E_READONLY,
/// WAL_E_POISONED, WAL_E_IO.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_truncate(w: *mut wal_t, upto_seq: u64) -> c_int {
    status(|| handle(w)?.truncate(upto_seq).map(|()| WAL_OK))
}

/// Discards every record with seq > `seq`, durably: on return no record
/// above it is ever replayed again, every record at or below it is intact,
/// and the next append gets `seq` + 1. A crash at any instant leaves the log
/// as it was or as it is on return. It may cut inside a batch (the entries
/// up to `seq` stay, as one batch). `seq` == last_seq: nothing to do.
/// Returns WAL_OK; WAL_E_RANGE for `seq` > last_seq, `seq` < first_seq - 1,
/// or `seq` below the newest checkpoint record; WAL_E_INVALID,
/// WAL_E_READONLY, WAL_E_POISONED, WAL_E_CORRUPT, or WAL_E_IO (the handle
/// is then poisoned; reopening finishes or undoes the cut). An iterator
/// whose next record lies above `seq` returns WAL_E_RANGE from then on.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_truncate_after(w: *mut wal_t, seq: u64) -> c_int {
    status(|| handle(w)?.truncate_after(seq).map(|()| WAL_OK))
}

/// Makes every record appended so far durable.
/// Returns WAL_OK, WAL_E_INVALID, WAL_E_READONLY, WAL_E_POISONED or
/// WAL_E_IO (the handle is then poisoned: never retry a failed sync).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_sync(w: *mut wal_t) -> c_int {
    status(|| handle(w)?.sync().map(|()| WAL_OK))
}

/// The highest seq assigned so far; 0 for a new log (or a NULL handle,
/// with WAL_E_INVALID).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_last_seq(w: *mut wal_t) -> u64 {
    call(0, || Ok(handle(w)?.last_seq()))
}

/// The lowest seq a replay can return; last_seq + 1 when there is none.
/// 0 (with WAL_E_INVALID) for a NULL handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_first_seq(w: *mut wal_t) -> u64 {
    call(0, || Ok(handle(w)?.first_seq()))
}

/// The highest seq such that it and every seq below it are durable (on
/// disk, synced); 0 for a new log or one whose records are not yet synced.
/// A writable open makes what it recovered durable, so it starts at the
/// recovered last_seq; a read-only handle reports the last_seq it found.
/// 0 (with WAL_E_INVALID) for a NULL handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_durable_seq(w: *mut wal_t) -> u64 {
    call(0, || Ok(handle(w)?.durable_seq()))
}

/// Blocks until last_seq >= `seq` (`durable` 0) or durable_seq >= `seq`
/// (`durable` non-zero), then returns WAL_OK. `timeout_ms` < 0 waits
/// without limit; 0 only checks. Returns WAL_E_TIMEOUT when the time runs
/// out, WAL_E_POISONED if the handle is poisoned before the condition
/// holds, WAL_E_INVALID for a NULL handle. Any number of threads may wait
/// at once; appends through this handle wake them, with no system call
/// when nobody waits. wal_close must not race a wal_wait on the same handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_wait(w: *mut wal_t, seq: u64, durable: u32, timeout_ms: i64) -> c_int {
    status(|| {
        let wal = handle(w)?;
        let timeout = u64::try_from(timeout_ms).ok().map(std::time::Duration::from_millis);
        wal.wait(seq, durable != 0, timeout).map(|()| WAL_OK)
    })
}
