//! Errors are values: every failure carries a kind (which becomes a C status
//! code) and a sentence naming the file and the OS error where there is one.

use std::fmt;
use std::io;
use std::path::Path;

/// What went wrong, in the terms of the C contract's status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A bad argument or option.
    Invalid,
    /// The OS reported an error.
    Io,
    /// Damage that the recovery mode does not repair.
    Corrupt,
    /// Another handle has the directory open for writing.
    Locked,
    /// An earlier write or sync failed on this handle.
    Poisoned,
    /// A sequence number past the end or below the start; a record too large.
    Range,
    /// A write on a read-only handle.
    ReadOnly,
    /// A bug inside the library.
    Internal,
    /// A wait gave up before what it waited for arrived.
    Timeout,
}

/// An error: its kind and a human-readable sentence.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// The errno of the OS call behind an `Io` error; 0 for any other.
    os_error: i32,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), os_error: 0 }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }

    pub fn range(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Range, message)
    }

    pub fn corrupt(path: &Path, message: impl fmt::Display) -> Self {
        Error::new(ErrorKind::Corrupt, format!("{}: {message}", path.display()))
    }

    /// An OS error while doing `what` on `path`: "cannot fsync /d/x.wal: Input/output error (os error 5)".
    pub fn io(what: &str, path: &Path, err: io::Error) -> Self {
        let os_error = err.raw_os_error().unwrap_or(0);
        Error { os_error, ..Error::new(ErrorKind::Io, format!("cannot {what} {}: {err}", path.display())) }
    }

    pub fn poisoned() -> Self {
        Error::new(
            ErrorKind::Poisoned,
            "an earlier write or sync failed on this handle; no more writes: reopen the log",
        )
    }

    pub fn read_only() -> Self {
        Error::new(ErrorKind::ReadOnly, "the log was opened read-only")
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The errno of the OS call behind an `Io` error (ENOSPC, EACCES...);
    /// 0 when the failure did not come from the OS.
    pub fn os_error(&self) -> i32 {
        self.os_error
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
