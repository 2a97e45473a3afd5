//! `walctl truncate DIR SEQ`: wal_truncate(w, SEQ) on a writable open.

use crate::logdir::{open_writable, require_log};
use crate::Failure;
use std::io::Write;
use std::path::Path;
use wal::RecoveryMode;

pub fn run(dir: &Path, seq: u64, out: &mut dyn Write) -> Result<(), Failure> {
    require_log(dir)?;
    let wal = open_writable(dir, RecoveryMode::Tail)?;
    let before = wal.first_seq();
    wal.truncate(seq)?;
    let (first, last) = (wal.first_seq(), wal.last_seq());
    wal.close()?;
    if first == before {
        // seq < first_seq: every record up to it was gone already.
        writeln!(out, "nothing to do: {} holds no record up to seq {seq}", dir.display())?;
    } else {
        writeln!(out, "truncated {}: records up to seq {seq} are gone", dir.display())?;
    }
    writeln!(out, "first seq {first}, last seq {last}")?;
    Ok(())
}
