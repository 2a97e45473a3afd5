//! The vote, the committed log id and the last purged log id, saved durably
//! as the records of a libwal log of their own (DIR/meta): each record holds
//! all three, so the newest record is the state. See the crate's doc for why
//! not a file and not records of the Raft log.

use crate::error::{storage, violation};
use openraft::{ErrorSubject, ErrorVerb, LogId, NodeId, StorageError, Vote};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use wal::io::Fs;
use wal::{Options, SyncMode, Wal};

/// The op of a state record.
const OP_STATE: u8 = 1;
const KEY_STATE: &[u8] = b"raft-state";

/// Saves between two truncations of the older records: the log keeps at
/// most this many records (a few KiB).
pub const META_KEEP: u64 = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) struct HardState<NID: NodeId> {
    pub vote: Option<Vote<NID>>,
    pub committed: Option<LogId<NID>>,
    pub last_purged: Option<LogId<NID>>,
}

impl<NID: NodeId> Default for HardState<NID> {
    fn default() -> Self {
        HardState { vote: None, committed: None, last_purged: None }
    }
}

pub(crate) struct MetaLog<NID: NodeId> {
    wal: Wal,
    state: HardState<NID>,
}

impl<NID: NodeId> MetaLog<NID> {
    pub fn open_in(fs: Arc<dyn Fs>, dir: &Path) -> Result<Self, StorageError<NID>> {
        let opts =
            Options { segment_size: 64 << 10, sync_mode: SyncMode::Always, preallocate: false, ..Options::default() };
        let wal = Wal::open_in(fs, dir, opts).map_err(|e| storage(ErrorSubject::Vote, ErrorVerb::Read, &e))?;
        let state = Self::newest(&wal)?;
        Ok(MetaLog { wal, state })
    }

    /// The newest record's state, or the default for a log with none.
    fn newest(wal: &Wal) -> Result<HardState<NID>, StorageError<NID>> {
        let last = wal.last_seq();
        if last < wal.first_seq() {
            return Ok(HardState::default());
        }
        let read_err = |e: &wal::Error| storage(ErrorSubject::Vote, ErrorVerb::Read, e);
        let mut it = wal.iter(last - 1).map_err(|e| read_err(&e))?;
        let Some(rec) = it.next().map_err(|e| read_err(&e))? else {
            return Err(violation(
                ErrorSubject::Vote,
                ErrorVerb::Read,
                format!("{}: no record at its last seq {last}", wal.dir().display()),
            ));
        };
        if rec.op != OP_STATE || rec.key != KEY_STATE {
            return Err(violation(
                ErrorSubject::Vote,
                ErrorVerb::Read,
                format!("{}: seq {} is not a state record (op {})", wal.dir().display(), rec.seq, rec.op),
            ));
        }
        serde_json::from_slice(rec.value).map_err(|e| {
            violation(
                ErrorSubject::Vote,
                ErrorVerb::Read,
                format!("{}: the state record at seq {} does not decode: {e}", wal.dir().display(), rec.seq),
            )
        })
    }

    pub fn state(&self) -> &HardState<NID> {
        &self.state
    }

    /// Saves the state `change` makes; durable when it returns.
    pub fn update(
        &mut self,
        subject: ErrorSubject<NID>,
        change: impl FnOnce(&mut HardState<NID>),
    ) -> Result<(), StorageError<NID>> {
        let mut next = self.state.clone();
        change(&mut next);
        if next == self.state {
            return Ok(());
        }
        let value = serde_json::to_vec(&next).map_err(|e| storage(subject.clone(), ErrorVerb::Write, &e))?;
        let seq =
            self.wal.append(OP_STATE, KEY_STATE, &value).map_err(|e| storage(subject.clone(), ErrorVerb::Write, &e))?;
        self.state = next;
        // Keep the newest record only, now and then: truncate removes whole
        // segments below it and records the floor (an fsync of wal.meta).
        if seq - self.wal.first_seq() >= META_KEEP {
            self.wal.truncate(seq - 1).map_err(|e| storage(subject, ErrorVerb::Delete, &e))?;
        }
        Ok(())
    }
}
