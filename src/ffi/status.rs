//! Errors and version: wal_last_error, wal_last_error_message, wal_strerror,
//! wal_version.

use super::boundary;
use super::{WAL_E_CORRUPT, WAL_E_INTERNAL, WAL_E_INVALID, WAL_E_IO, WAL_E_LOCKED};
use super::{WAL_E_POISONED, WAL_E_RANGE, WAL_E_READONLY, WAL_E_TIMEOUT, WAL_OK};
use std::ffi::{c_int, c_char, CStr};

/// The status code of the calling thread's last failed call (WAL_OK if none
/// failed yet). Like errno, a successful call does not reset it.
#[unsafe(no_mangle)]
pub extern "C" fn wal_last_error() -> c_int {
    boundary::last_code()
}

/// A sentence describing the calling thread's last failure, naming the file
/// and the OS error where there is one ("" if none failed yet).
/// Memory: owned by the library; valid until the next failing call on this
/// thread.
#[unsafe(no_mangle)]
pub extern "C" fn wal_last_error_message() -> *const c_char {
    boundary::last_message()
}

/// The errno of the OS call behind the calling thread's last failed call
/// when it was WAL_E_IO (ENOSPC, EACCES, ENOENT...); 0 when that failure did
/// not come from the OS, or none failed yet. Per thread, like
/// wal_last_error, and valid until the next failing call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn wal_last_os_error() -> c_int {
    boundary::last_os_error()
}

/// A static description of a status code ("unknown status code" for a code
/// that is not one of WAL_OK / WAL_E_*). Never NULL; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn wal_strerror(code: c_int) -> *const c_char {
    let text: &'static CStr = match code {
        WAL_OK => c"success",
        WAL_E_INVALID => c"invalid argument",
        WAL_E_IO => c"I/O error reported by the operating system",
        WAL_E_CORRUPT => c"the log is damaged beyond what the recovery mode repairs",
        WAL_E_LOCKED => c"another handle has this log open for writing",
        WAL_E_POISONED => c"an earlier write or sync failed on this handle; reopen the log",
        WAL_E_RANGE => c"sequence number or record size out of range",
        WAL_E_READONLY => c"the log was opened read-only",
        WAL_E_INTERNAL => c"internal error in libwal",
        WAL_E_TIMEOUT => c"the wait timed out before the sequence number arrived",
        _ => c"unknown status code",
    };
    text.as_ptr()
}

/// The library's version, "MAJOR.MINOR.PATCH". Static; never freed.
#[unsafe(no_mangle)]
pub extern "C" fn wal_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
