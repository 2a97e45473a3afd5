//! How a log is opened. Validated before anything touches the disk.

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// A record is durable when its append returns (group commit).
    Always,
    /// Durable after every `n` records, and on sync, checkpoint and close.
    Every(u32),
    /// Durable only after sync, checkpoint or close.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecoveryMode {
    /// Cut a torn tail of the newest segment; any other damage is an error.
    Tail,
    /// Keep every record before the first damaged one, drop the rest.
    Salvage,
}

pub const MIN_SEGMENT_SIZE: u64 = 4096;
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;
pub const DEFAULT_SYNC_EVERY: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub segment_size: u64,
    pub sync_mode: SyncMode,
    pub recovery_mode: RecoveryMode,
    pub read_only: bool,
    pub preallocate: bool,
    pub create_if_missing: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: DEFAULT_SEGMENT_SIZE,
            sync_mode: SyncMode::Always,
            recovery_mode: RecoveryMode::Tail,
            read_only: false,
            preallocate: true,
            create_if_missing: true,
        }
    }
}

impl Options {
    pub fn validate(&self) -> Result<()> {
        if self.segment_size < MIN_SEGMENT_SIZE {
            return Err(Error::invalid(format!(
                "segment_size {} is below the minimum of {MIN_SEGMENT_SIZE} bytes",
                self.segment_size
            )));
        }
        if self.segment_size > i64::MAX as u64 {
            return Err(Error::invalid(format!("segment_size {} is too large", self.segment_size)));
        }
        if self.sync_mode == SyncMode::Every(0) {
            return Err(Error::invalid("sync_every must be at least 1 with WAL_SYNC_EVERY"));
        }
        Ok(())
    }
}
