//! Read-only facts about a log that a `Wal` handle does not expose, for
//! tools such as `walctl`: the truncation floor, every segment file, and what
//! the recovery of a writable open would repair. Nothing here changes a file.

use crate::error::{Error, Result};
use crate::io::{Fs, OpenMode, RealFs};
use crate::options::{Options, RecoveryMode};
use crate::recovery;
use crate::segment::{self, SegmentInfo};
use std::path::{Path, PathBuf};

/// The file a writer holds with an exclusive `flock` while the log is open.
pub use crate::log::LOCK_FILE;

/// The log in a directory as `WAL_RECOVER_TAIL` recovery finds it.
#[derive(Debug)]
pub struct Survey {
    /// Every seq at or below this is truncated (0 without a `wal.meta`).
    pub floor: u64,
    /// Every segment file in the directory, in log order.
    pub files: Vec<SegmentInfo>,
    /// The files that hold the log; a writable open deletes the others
    /// (leftovers of an interrupted truncate or segment creation).
    pub segments: Vec<SegmentInfo>,
    /// The highest seq recovery found.
    pub last_seq: u64,
    /// A torn write at the end of the newest segment, which a writable open
    /// cuts off.
    pub torn_tail: Option<TornTail>,
}

/// Bytes after the newest segment's last valid record that are not all zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the valid records end: the file is cut here.
    pub offset: u64,
    /// How many bytes follow `offset`.
    pub len: u64,
}

/// Runs recovery read-only on `dir`. Damage that TAIL recovery refuses
/// (in the newest segment, a missing segment, a bad `wal.meta`) is the
/// `Corrupt` error a writable open would return; older segments are not
/// read here: iterate the records for that.
pub fn survey(dir: &Path) -> Result<Survey> {
    let fs = RealFs;
    let opts = Options { read_only: true, recovery_mode: RecoveryMode::Tail, ..Options::default() };
    let files = segment::list_segments(&fs, dir)?;
    let recovered = recovery::recover(&fs, dir, &opts)?;
    let torn_tail = match (recovered.segments.last(), recovered.torn_at) {
        (Some(newest), Some(offset)) => Some(torn_tail(&fs, &newest.path, offset)?),
        _ => None,
    };
    Ok(Survey {
        floor: recovered.floor,
        files,
        segments: recovered.segments,
        last_seq: recovered.last_seq,
        torn_tail,
    })
}

/// The torn tail recovery found at `offset` in `path`, and its length.
fn torn_tail(fs: &dyn Fs, path: &Path, offset: u64) -> Result<TornTail> {
    let file = fs.open(path, OpenMode::READ).map_err(|e| Error::io("open segment", path, e))?;
    let len = file.size().map_err(|e| Error::io("stat", path, e))?;
    Ok(TornTail { path: path.to_path_buf(), offset, len: len.saturating_sub(offset) })
}
