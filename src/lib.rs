//! libwal: a crash-safe write-ahead log for storage engines.
//!
//! The core (`format`, `segment`, `recovery`, `log`, `reader`) is plain safe
//! Rust and knows nothing about C; `ffi` is the thin `extern "C"` adapter that
//! becomes `libwal.so`, `libwal.a` and `include/wal.h`. The on-disk format is
//! described byte by byte in `docs/FORMAT.md`.

mod active;
mod commit;
mod cut;
mod error;
mod hint;
mod index;
pub mod format;
pub mod inspect;
pub mod io;
mod log;
mod meta;
mod open;
mod options;
mod reader;
mod recycle;
mod recovery;
pub mod segment;
mod stats;
mod wait;

pub mod ffi;

pub use error::{Error, ErrorKind, Result};
pub use format::{Entry, MAX_BATCH_SIZE, MAX_RECORD_SIZE, OP_CHECKPOINT};
pub use log::Wal;
pub use options::{Options, RecoveryMode, SyncMode, DEFAULT_SEGMENT_SIZE, DEFAULT_SYNC_EVERY, MIN_SEGMENT_SIZE};
pub use reader::{Record, WalIter};
pub use recovery::OpenReport;
pub use stats::Stats;
