//! wal_iter_t and wal_replay: reading records back.

use super::boundary::{arg, status};
use super::handle::wal_t;
use super::{wal_record_t, wal_replay_fn, WAL_OK};
use crate::error::{Error, Result};
use crate::reader::Record;
use crate::WalIter;
use std::ffi::{c_int, c_void};

/// An open iterator. Opaque: create with wal_iter_open, free with
/// wal_iter_close.
pub struct wal_iter_t {
    iter: WalIter,
}

fn record_to_c(record: &Record<'_>) -> wal_record_t {
    wal_record_t {
        seq: record.seq,
        op: record.op,
        key: record.key.as_ptr(),
        key_len: record.key.len(),
        value: record.value.as_ptr(),
        value_len: record.value.len(),
    }
}

fn open_iter(w: *mut wal_t, after_seq: u64) -> Result<WalIter> {
    arg(w as *const wal_t, "the wal_t handle")?.wal.iter(after_seq)
}

/// Opens an iterator over the records with seq > `after_seq` (0: everything
/// retained), in seq order, checkpoint records included. Appends may go on
/// while it is open; it sees at least every record up to the last_seq of
/// its opening. It stays safe to use after wal_close of its handle.
/// Returns WAL_OK and stores the iterator in `*out` (NULL on failure);
/// WAL_E_RANGE when `after_seq` is not 0 and below first_seq - 1 (those
/// records are gone); WAL_E_INVALID for a NULL argument.
/// Memory: the iterator is owned by the caller until wal_iter_close.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_iter_open(w: *mut wal_t, after_seq: u64, out: *mut *mut wal_iter_t) -> c_int {
    status(|| {
        // SAFETY: the caller passes NULL or a valid, writable pointer.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Error::invalid("out is NULL"))?;
        *out = std::ptr::null_mut();
        let iter = open_iter(w, after_seq)?;
        *out = Box::into_raw(Box::new(wal_iter_t { iter }));
        Ok(WAL_OK)
    })
}

/// Reads the next record into `*out`.
/// Returns 1 with a record, 0 at the end of the log (a later call may find
/// records appended since), or an error: WAL_E_CORRUPT for damage the
/// recovery mode does not repair (never a skipped record), WAL_E_RANGE when
/// records were truncated under the iterator, WAL_E_IO, WAL_E_INVALID.
/// Memory: the record's pointers stay valid until the next wal_iter_next or
/// wal_iter_close on this iterator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_iter_next(it: *mut wal_iter_t, out: *mut wal_record_t) -> c_int {
    status(|| {
        // SAFETY: the caller passes NULL or an iterator from wal_iter_open.
        let it = unsafe { it.as_mut() }.ok_or_else(|| Error::invalid("the iterator is NULL"))?;
        // SAFETY: the caller passes NULL or a valid, writable record.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Error::invalid("out is NULL"))?;
        match it.iter.next()? {
            Some(record) => {
                *out = record_to_c(&record);
                Ok(1)
            }
            None => Ok(0),
        }
    })
}

/// Frees an iterator. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_iter_close(it: *mut wal_iter_t) {
    if !it.is_null() {
        // SAFETY: `it` came from wal_iter_open and is not used after this.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(unsafe { Box::from_raw(it) })));
    }
}

/// Calls `fn(ctx, record)` for each record with seq > `after_seq` (0:
/// everything retained), in seq order, checkpoint records included.
/// Returns WAL_OK after the last record; the callback's value if it returns
/// non-zero (the replay stops there); or an error: WAL_E_RANGE when
/// `after_seq` is not 0 and below first_seq - 1, WAL_E_CORRUPT, WAL_E_IO,
/// WAL_E_INVALID.
/// Memory: the record's pointers are valid until the callback returns.
/// The callback may append to the same handle; it must not close it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_replay(w: *mut wal_t, after_seq: u64, r#fn: wal_replay_fn, ctx: *mut c_void) -> c_int {
    status(|| {
        let callback = r#fn.ok_or_else(|| Error::invalid("fn is NULL"))?;
        let mut iter = open_iter(w, after_seq)?;
        while let Some(record) = iter.next()? {
            let record = record_to_c(&record);
            // SAFETY: a C callback with the documented signature.
            let rc = unsafe { callback(ctx, &record) };
            if rc != 0 {
                return Ok(rc);
            }
        }
        Ok(WAL_OK)
    })
}
