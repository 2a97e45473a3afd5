//! Read-only facts about a log that a `Wal` handle does not expose, for
//! tools such as `walctl`: the truncation floor, every segment file, and what
//! the recovery of a writable open would repair. Nothing here changes a file.

use crate::error::Result;
use crate::io::RealFs;
use crate::options::{Options, RecoveryMode};
use crate::recovery;
use crate::segment::{self, SegmentInfo};
use std::path::{Path, PathBuf};

/// The file that holds the clean-close mark. (The writer holds an exclusive
/// `flock` on the log directory itself while the log is open.)
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
    /// What a writable open would find and do (clean close, cut).
    pub report: crate::recovery::OpenReport,
}

/// Bytes after the newest segment's last valid record that are not all zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the valid records end: the file is cut here.
    pub offset: u64,
    /// How many bytes of data (not zeros) follow `offset`.
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
    let mark = crate::open::read_clean_mark(&fs, dir)?.and_then(|lock| lock.mark);
    let recovered = recovery::recover(&fs, dir, &opts, mark)?;
    let report = recovered.report;
    let torn_tail = match recovered.segments.last() {
        Some(newest) if report.tail_cut => {
            Some(TornTail { path: newest.path.clone(), offset: report.cut_offset, len: report.bytes_cut })
        }
        _ => None,
    };
    Ok(Survey {
        floor: recovered.floor,
        files,
        segments: recovered.segments,
        last_seq: recovered.last_seq,
        torn_tail,
        report,
    })
}

/// Starts a new, empty log in `dir` whose next record gets seq `floor + 1`
/// (its truncation floor is `floor`): for tools that rewrite a log
/// elsewhere and must keep its seqs, such as `walctl upgrade`. `dir` must
/// exist and hold no log yet (no segment, no `wal.meta`).
pub fn create_log_with_floor(dir: &Path, floor: u64) -> Result<()> {
    let fs = RealFs;
    if !segment::list_segments(&fs, dir)?.is_empty() || crate::meta::read_floor(&fs, dir)? != 0 {
        return Err(crate::error::Error::invalid(format!("{} already holds a log", dir.display())));
    }
    if floor == u64::MAX {
        return Err(crate::error::Error::range("a floor of 2^64-1 leaves no seq to append"));
    }
    crate::meta::write_floor(&fs, dir, floor)
}
