//! `walctl dump DIR [--after SEQ] [--json]`: every record, one per line.

use crate::{open_read_only, show, Failure};
use std::io::Write;
use std::path::Path;

pub fn run(dir: &Path, after: u64, json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let wal = open_read_only(dir)?;
    let mut records = wal.iter(after)?;
    while let Some(record) = records.next()? {
        let line = if json { show::json_line(&record) } else { show::text_line(&record) };
        writeln!(out, "{line}")?;
    }
    Ok(())
}
