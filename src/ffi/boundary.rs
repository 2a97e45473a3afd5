//! The panic and error boundary: every entry point runs its body through
//! `call` or `status`, which catch panics and record failures in the calling
//! thread's last-error slot.

use super::{WAL_E_CORRUPT, WAL_E_INTERNAL, WAL_E_INVALID, WAL_E_IO, WAL_E_LOCKED};
use super::{WAL_E_POISONED, WAL_E_RANGE, WAL_E_READONLY, WAL_E_TIMEOUT, WAL_OK};
use crate::error::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::ffi::{c_int, c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

struct LastError {
    code: c_int,
    message: CString,
    os_error: c_int,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> =
        RefCell::new(LastError { code: WAL_OK, message: CString::default(), os_error: 0 });
}

/// Runs `f` on this thread's last-error slot, if the thread still has one:
/// a call made from a thread-exit destructor, after the thread's storage is
/// gone, gets `None` (its error code is still returned) instead of an abort.
fn with_slot<R>(f: impl FnOnce(&mut LastError) -> R) -> Option<R> {
    LAST_ERROR.try_with(|slot| slot.try_borrow_mut().ok().map(|mut s| f(&mut s))).ok().flatten()
}

pub fn code_of(kind: ErrorKind) -> c_int {
    match kind {
        ErrorKind::Invalid => WAL_E_INVALID,
        ErrorKind::Io => WAL_E_IO,
        ErrorKind::Corrupt => WAL_E_CORRUPT,
        ErrorKind::Locked => WAL_E_LOCKED,
        ErrorKind::Poisoned => WAL_E_POISONED,
        ErrorKind::Range => WAL_E_RANGE,
        ErrorKind::ReadOnly => WAL_E_READONLY,
        ErrorKind::Internal => WAL_E_INTERNAL,
        ErrorKind::Timeout => WAL_E_TIMEOUT,
    }
}

/// Records `err` as this thread's last error and returns its code.
pub fn record(err: &Error) -> c_int {
    let code = code_of(err.kind());
    let message = CString::new(err.message().replace('\0', "\\0")).unwrap_or_default();
    let os_error = err.os_error();
    with_slot(|slot| *slot = LastError { code, message, os_error });
    code
}

pub fn last_code() -> c_int {
    with_slot(|slot| slot.code).unwrap_or(WAL_OK)
}

/// The errno behind this thread's last error, 0 if it did not come from the OS.
pub fn last_os_error() -> c_int {
    with_slot(|slot| slot.os_error).unwrap_or(0)
}

/// This thread's last message; valid until the next error on this thread.
/// A thread whose storage is gone gets "" (a static string).
pub fn last_message() -> *const c_char {
    with_slot(|slot| slot.message.as_ptr()).unwrap_or(c"".as_ptr())
}

/// Runs `body`, catching a panic; a failure is recorded as this thread's
/// last error and comes back as its status code.
fn guarded<T>(body: impl FnOnce() -> Result<T>) -> std::result::Result<T, c_int> {
    let outcome = catch_unwind(AssertUnwindSafe(|| match body() {
        Ok(value) => Ok(value),
        Err(err) => Err(record(&err)),
    }));
    // A panic payload is dropped here, inside another catch: its destructor
    // may panic too, and nothing may unwind into C.
    outcome.unwrap_or_else(|panic| {
        Err(catch_unwind(AssertUnwindSafe(|| record(&panic_error(panic)))).unwrap_or(WAL_E_INTERNAL))
    })
}

/// Runs `body`; on an error or a panic records it and returns `on_error`.
pub fn call<T>(on_error: T, body: impl FnOnce() -> Result<T>) -> T {
    guarded(body).unwrap_or(on_error)
}

/// Runs a body that returns a status: WAL_OK, or the error's code.
pub fn status(body: impl FnOnce() -> Result<c_int>) -> c_int {
    guarded(body).unwrap_or_else(|code| code)
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    Error::new(ErrorKind::Internal, format!("internal error in libwal (please report): {what}"))
}

/// A required pointer argument, as a reference.
pub fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T> {
    // SAFETY: the caller promises a non-NULL pointer is valid for the call.
    unsafe { ptr.as_ref() }.ok_or_else(|| Error::invalid(format!("{name} is NULL")))
}

/// A caller's buffer as a slice: NULL is fine when `len` is 0.
pub fn bytes<'a>(ptr: *const std::ffi::c_void, len: usize, name: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Error::invalid(format!("{name} is NULL but its length is {len}")));
    }
    // SAFETY: the caller promises `ptr` points to `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) })
}
