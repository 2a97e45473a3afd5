//! libwal's and serde's errors as openraft's `StorageError`: the subject
//! (logs, vote, snapshot...), the verb, and the source's own sentence (which
//! for libwal names the file and the OS error).

use openraft::{AnyError, ErrorSubject, ErrorVerb, NodeId, StorageError, StorageIOError};
use std::fmt;

pub(crate) fn storage<NID: NodeId>(
    subject: ErrorSubject<NID>,
    verb: ErrorVerb,
    e: &(impl std::error::Error + 'static),
) -> StorageError<NID> {
    StorageIOError::new(subject, verb, AnyError::new(e)).into()
}

/// A failure found by the store itself (a record that is not what the
/// offset says, an append that does not follow the log...).
pub(crate) fn violation<NID: NodeId>(
    subject: ErrorSubject<NID>,
    verb: ErrorVerb,
    msg: impl fmt::Display,
) -> StorageError<NID> {
    StorageIOError::new(subject, verb, AnyError::error(msg)).into()
}
