//! openraft 0.9 on libwal: a Raft log storage ([`LogStore`], openraft's
//! `RaftLogStorage` and `RaftLogReader`) whose entries are the records of a
//! libwal log, and a small key-value state machine with snapshots
//! ([`KvStateMachine`], `RaftStateMachine` and `RaftSnapshotBuilder`).
//!
//! # A node's directory
//!
//! ```text
//! DIR/log/       the Raft log: one libwal record per entry
//! DIR/meta/      the vote, the committed log id and the last purged log id:
//!                a second libwal log, each record the whole state
//! DIR/snapshot   the state machine's newest snapshot (JSON, replaced atomically)
//! ```
//!
//! # Raft index and libwal seq
//!
//! libwal hands out seqs 1, 2, 3... with no gaps; a Raft log's indexes are
//! contiguous too, but start where the log starts (openraft's first entry,
//! the membership written by `initialize`, has index 0; a log whose entries
//! were all purged goes on after the purged index). So the store keeps one
//! offset: `index = seq + offset` for every record in the log. It is not
//! stored: each record's key is its entry's index (8 bytes, big-endian), so
//! an open reads the first record and knows it. When the log holds no entry
//! (a new log, everything purged, or a conflict cut everything) there is no
//! offset, and the next append chooses it: its first index at libwal's next
//! seq (last_seq + 1). That is how a purge past the last entry (a snapshot
//! installed on a follower) is carried: libwal's log is emptied by
//! `truncate(last_seq)`, and entry last_purged + 1 goes at seq last_seq + 1.
//! Every record read back is checked: its key must be the index the offset
//! gives, and the entry inside must carry that index.
//!
//! # Operations
//!
//! - `append`: each entry is a record (op 1, key the index, value the entry
//!   as JSON), written with `append_batch` (several batches when one would
//!   pass `wal::MAX_BATCH_SIZE`). The raft log is opened in
//!   `SyncMode::None`; a flusher thread syncs it and calls openraft's
//!   callback once `durable_seq` covers the append, so that one fdatasync
//!   covers every append that arrived meanwhile and the Raft core goes on
//!   (replicating to followers) while the disk works.
//! - `truncate(log_id)` (a conflict with the leader): first every pending
//!   callback is flushed, then `Wal::truncate_after(seq of log_id.index - 1)`
//!   cuts the suffix durably.
//! - `purge(log_id)`: the new last purged log id is saved in `meta/` first,
//!   then `Wal::truncate(seq of log_id.index)` (clamped to the last seq).
//!   A crash between the two leaves records that the store hides and
//!   truncates at the next open.
//! - reads of `[start, end)` open an iterator at the seq of `start` (libwal
//!   seeks in O(log n)) and stop at `end`.
//!
//! The store never writes a checkpoint record (`Wal::checkpoint`) in the
//! Raft log: `truncate_after` refuses to cut below one, and a conflict may
//! cut any entry that is not committed.
//!
//! # Why a second log for the vote and the committed log id
//!
//! They cannot be records of the Raft log: a conflict cut
//! (`truncate_after`) would take a vote saved after the cut point with it
//! (a node could then vote twice in one term), a purge would remove them,
//! and a record that is not an entry would break `index = seq + offset`. A
//! small file replaced atomically (write, fsync, rename, fsync the
//! directory) costs two fsyncs and a rename for each save, and openraft
//! saves the committed log id each time it advances. An append to a libwal
//! log in `SyncMode::Always` is one frame and one fdatasync, and its crash
//! safety is libwal's own; each record holds the whole state, so the newest
//! record is the state, read at open with a seek to the last seq. Older
//! records are truncated every [`META_KEEP`] saves.
//!
//! # Why JSON for the records
//!
//! `serde_json` is already a dependency of openraft's `serde` feature, so it
//! adds nothing; it is self-describing, so a record written by another
//! version of the types fails to decode instead of decoding into something
//! else; and `walctl dump` shows the entries as text. bincode would make
//! records smaller and faster to encode, which does not matter next to the
//! fdatasync each append waits for.

// openraft's traits return its StorageError (about 190 bytes) by value.
#![allow(clippy::result_large_err)]

mod error;
mod log_store;
mod meta;
mod state_machine;

pub use log_store::{LogReader, LogStats, LogStore, StoreConfig};
pub use meta::META_KEEP;
pub use state_machine::{KvReader, KvSnapshotBuilder, KvStateMachine};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A write to the key-value state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    Set { key: String, value: String },
}

/// What a write returns: the key's previous value.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Response {
    pub previous: Option<String>,
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Set { key, value } => write!(f, "set {key}={value}"),
        }
    }
}

openraft::declare_raft_types!(
    /// The types of a cluster of key-value nodes on libwal.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = std::io::Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Node ids of [`TypeConfig`].
pub type NodeId = u64;
