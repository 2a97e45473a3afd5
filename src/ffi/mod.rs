//! The C API (`include/wal.h`): a thin adapter over the Rust core. It checks
//! arguments, translates errors into status codes plus a per-thread message,
//! and catches panics; it holds no logic of its own. The contract it
//! implements is `wal-api.md` (v1).
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod boundary;
mod handle;
mod iter;
mod stats;
mod status;

pub use handle::*;
pub use iter::*;
pub use stats::*;
pub use status::*;

use std::ffi::{c_int, c_void};

/// The version of this header; wal_version() returns the library's as
/// "MAJOR.MINOR.PATCH", so a program can compare the two at run time.
pub const WAL_VERSION_MAJOR: u32 = 0;
pub const WAL_VERSION_MINOR: u32 = 2;
pub const WAL_VERSION_PATCH: u32 = 0;

const fn parse_u32(s: &str) -> u32 {
    let (bytes, mut i, mut n) = (s.as_bytes(), 0, 0);
    while i < bytes.len() {
        n = n * 10 + (bytes[i] - b'0') as u32;
        i += 1;
    }
    n
}

// The header's version macros must be Cargo.toml's version: a mismatch does
// not compile.
const _: () = assert!(
    WAL_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR"))
        && WAL_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR"))
        && WAL_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH"))
);

/// Success.
pub const WAL_OK: c_int = 0;
/// A bad argument: NULL pointer, NULL buffer with a non-zero length,
/// a reserved op code, an option out of range.
pub const WAL_E_INVALID: c_int = -1;
/// The OS reported an error (ENOSPC, EIO, EACCES, ENOENT...).
pub const WAL_E_IO: c_int = -2;
/// Damage that the recovery mode does not repair.
pub const WAL_E_CORRUPT: c_int = -3;
/// Another handle (any process) has this directory open for writing.
pub const WAL_E_LOCKED: c_int = -4;
/// An earlier write or sync failed: no more writes on this handle; reopen.
pub const WAL_E_POISONED: c_int = -5;
/// A seq past the end of the log or below its start; a record too large.
pub const WAL_E_RANGE: c_int = -6;
/// A write on a read-only handle.
pub const WAL_E_READONLY: c_int = -7;
/// A bug inside the library (a caught panic).
pub const WAL_E_INTERNAL: c_int = -8;
/// wal_wait gave up before the seq arrived.
pub const WAL_E_TIMEOUT: c_int = -9;

/// Op codes 1..254 are the caller's; these two are named for convenience.
pub const WAL_OP_PUT: u8 = 1;
pub const WAL_OP_DELETE: u8 = 2;
/// Reserved: written only by wal_checkpoint. Op 0 is reserved and invalid.
pub const WAL_OP_CHECKPOINT: u8 = 255;

/// Default: a record is durable when its append returns.
pub const WAL_SYNC_ALWAYS: u32 = 0;
/// Durable after every sync_every records, and on sync/checkpoint/close.
pub const WAL_SYNC_EVERY: u32 = 1;
/// Durable only after wal_sync, wal_checkpoint or wal_close.
pub const WAL_SYNC_NONE: u32 = 2;

/// Default: cut off a torn or damaged tail of the newest segment; any other
/// damage is WAL_E_CORRUPT.
pub const WAL_RECOVER_TAIL: u32 = 0;
/// Keep every record before the first damaged one, drop the rest; last_seq
/// becomes the last kept record's seq.
pub const WAL_RECOVER_SALVAGE: u32 = 1;

/// The largest key_len + value_len of one record (64 MiB).
pub const WAL_MAX_RECORD_SIZE: usize = 64 << 20;
const _: () = assert!(WAL_MAX_RECORD_SIZE == crate::format::MAX_RECORD_SIZE);

/// The largest encoded size of one batch (128 MiB): the sum over its
/// entries of key_len + value_len + 9 (the per-entry header). A batch above
/// it is WAL_E_RANGE, checked before any buffer is read or memory reserved.
/// No frame read back from disk may claim more, so the memory held for one
/// frame is bounded by it.
pub const WAL_MAX_BATCH_SIZE: usize = 128 << 20;
const _: () = assert!(WAL_MAX_BATCH_SIZE == crate::format::MAX_BATCH_SIZE);

/// Options for wal_open. Fill in the defaults with wal_options_init, then
/// change what you need. Its size never changes within a major version:
/// later versions take new fields from `reserved`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_options_t {
    /// Bytes per segment file; default 64 MiB; minimum 4096.
    pub segment_size: u64,
    /// WAL_SYNC_*; default WAL_SYNC_ALWAYS.
    pub sync_mode: u32,
    /// For WAL_SYNC_EVERY: sync after this many records; default 100.
    pub sync_every: u32,
    /// WAL_RECOVER_*; default WAL_RECOVER_TAIL.
    pub recovery_mode: u32,
    /// Non-zero: no lock, no repair, no writes.
    pub read_only: u32,
    /// Non-zero (default): reserve each segment's space up front.
    pub preallocate: u32,
    /// Non-zero (default): create the directory if it does not exist.
    pub create_if_missing: u32,
    /// Reserved: zeroed by wal_options_init and must stay zero (a non-zero
    /// reserved word is WAL_E_INVALID). Later versions take new fields from
    /// it, so sizeof(wal_options_t) never changes again within a major
    /// version.
    pub reserved: [u64; 8],
}

/// What wal_open found and did (wal_open_report). For a read-only handle,
/// which changes nothing, the cut fields say what a writable open would cut.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wal_open_report_t {
    /// Non-zero: the last writer closed the log cleanly.
    pub clean_close: u32,
    /// Non-zero: open cut the newest segment (a torn tail, or SALVAGE).
    pub tail_cut: u32,
    /// Where the cut was made in the newest segment's file.
    pub cut_offset: u64,
    /// Data bytes (not preallocated zeros) removed by the cut.
    pub bytes_cut: u64,
    /// SALVAGE: the first seq dropped (handed out again); 0 when nothing was.
    pub salvage_dropped_from: u64,
    /// Reserved: zero; more facts may follow here.
    pub reserved: [u64; 4],
}

/// One entry of a batch (wal_append_batch). key and value may be NULL when
/// their length is 0.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_entry_t {
    /// 1..254.
    pub op: u8,
    pub key: *const c_void,
    pub key_len: usize,
    pub value: *const c_void,
    pub value_len: usize,
}

/// One record handed out by wal_iter_next or a wal_replay callback. The
/// pointers are borrowed: valid until the next wal_iter_next or
/// wal_iter_close on that iterator, or until the callback returns.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct wal_record_t {
    pub seq: u64,
    pub op: u8,
    pub key: *const u8,
    pub key_len: usize,
    pub value: *const u8,
    pub value_len: usize,
}

/// A wal_replay callback: return 0 to go on; any other value stops the
/// replay and becomes wal_replay's return value.
pub type wal_replay_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, record: *const wal_record_t) -> c_int>;
