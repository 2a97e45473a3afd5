//! Finding the log in a directory and opening it the ways walctl does.

use crate::{Failure, EXIT_NOT_A_LOG};
use std::io;
use std::path::Path;
use wal::inspect::LOCK_FILE;
use wal::io::RealFs;
use wal::{ErrorKind, Options, RecoveryMode, Wal};

/// The file that holds the truncation floor. `wal::inspect` names LOCK but
/// not this one; it is documented in docs/FORMAT.md.
const META_FILE: &str = "wal.meta";

/// Fails (exit 7) unless `dir` holds a log, or what is left of one: a
/// segment file, wal.meta or LOCK. A read-only open of any empty directory
/// succeeds as an empty log, and a writable one would make it one, so a
/// mistyped path would otherwise read as "ok: no damage in 0 records".
pub fn require_log(dir: &Path) -> Result<(), Failure> {
    if !wal::segment::list_segments(&RealFs, dir)?.is_empty() {
        return Ok(());
    }
    for name in [META_FILE, LOCK_FILE] {
        let path = dir.join(name);
        match path.symlink_metadata() {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Present, or unknown: the open that follows says which.
            _ => return Ok(()),
        }
    }
    Err(Failure::Stop {
        status: EXIT_NOT_A_LOG,
        message: format!("{}: no libwal log here: no segment file, no {META_FILE}, no {LOCK_FILE}", dir.display()),
    })
}

/// Opens an existing log without taking its lock or changing a file.
pub fn open_read_only(dir: &Path, recovery_mode: RecoveryMode) -> wal::Result<Wal> {
    let opts = Options { read_only: true, create_if_missing: false, recovery_mode, ..Options::default() };
    Wal::open(dir, opts)
}

/// Opens an existing log for writing. No preallocation: walctl appends
/// nothing, and a cut made at open must not grow the segment to the
/// default segment size.
pub fn open_writable(dir: &Path, recovery_mode: RecoveryMode) -> wal::Result<Wal> {
    let opts = Options { create_if_missing: false, preallocate: false, recovery_mode, ..Options::default() };
    Wal::open(dir, opts)
}

/// The log read-only, as far as it can be read: in TAIL mode, as every
/// writable open would recover it; if TAIL recovery refuses it as damaged,
/// in SALVAGE mode, which reads the records before the first damage.
pub struct Readable {
    pub wal: Wal,
    /// Why TAIL recovery refused the log (`wal` is then a SALVAGE open).
    pub refused: Option<wal::Error>,
}

pub fn open_readable(dir: &Path) -> wal::Result<Readable> {
    match open_read_only(dir, RecoveryMode::Tail) {
        Ok(wal) => Ok(Readable { wal, refused: None }),
        Err(tail) if tail.kind() == ErrorKind::Corrupt => match open_read_only(dir, RecoveryMode::Salvage) {
            Ok(wal) => Ok(Readable { wal, refused: Some(tail) }),
            // SALVAGE cannot read it either (a segment of another format
            // version, say): TAIL's error says what is wrong.
            Err(_) => Err(tail),
        },
        Err(e) => Err(e),
    }
}
