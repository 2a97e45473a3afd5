//! `walctl stat DIR`: what the log holds, and whether a writer has it open.

use crate::lock::{self, Writer};
use crate::{count, leftover, open_read_only, seq_range, Failure};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use wal::format::{segment_header_version, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use wal::inspect::{self, Survey};
use wal::{Wal, OP_CHECKPOINT};

pub fn run(dir: &Path, out: &mut dyn Write) -> Result<(), Failure> {
    let survey = inspect::survey(dir)?;
    let wal = open_read_only(dir)?;
    let (records, checkpoint) = count_records(&wal)?;
    let (first, last) = (wal.first_seq(), wal.last_seq());

    writeln!(out, "log:              {}", dir.display())?;
    writeln!(out, "format version:   {}", format_version(&survey)?)?;
    write_segments(&survey, out)?;
    writeln!(out, "seq range:        {}", seq_range(first, last))?;
    writeln!(out, "records:          {records}")?;
    match checkpoint {
        Some(seq) => writeln!(out, "last checkpoint:  {seq}")?,
        None => writeln!(out, "last checkpoint:  none")?,
    }
    writeln!(out, "truncation floor: {}", survey.floor)?;
    writeln!(out, "writer lock:      {}", describe(lock::writer(dir)))?;
    if let Some(torn) = &survey.torn_tail {
        let (path, offset, len) = (torn.path.display(), torn.offset, torn.len);
        writeln!(out, "torn tail:        {len} bytes at offset {offset} of {path} (a writable open cuts them)")?;
    }
    Ok(())
}

/// How many records the log holds, and the seq of its last checkpoint.
fn count_records(wal: &Wal) -> wal::Result<(u64, Option<u64>)> {
    let (mut count, mut checkpoint) = (0, None);
    let mut records = wal.iter(0)?;
    while let Some(record) = records.next()? {
        count += 1;
        if record.op == OP_CHECKPOINT {
            checkpoint = Some(record.seq);
        }
    }
    Ok((count, checkpoint))
}

/// The version in the first segment's header.
fn format_version(survey: &Survey) -> wal::Result<String> {
    let Some(first) = survey.segments.first() else {
        return Ok(format!("no segment yet (walctl reads version {FORMAT_VERSION})"));
    };
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    File::open(&first.path)
        .and_then(|mut file| file.read_exact(&mut header))
        .map_err(|e| wal::Error::io("read the header of", &first.path, e))?;
    Ok(segment_header_version(&header).map_or("unreadable".to_string(), |v| v.to_string()))
}

fn write_segments(survey: &Survey, out: &mut dyn Write) -> Result<(), Failure> {
    let mut sizes = Vec::new();
    for file in &survey.files {
        let meta = std::fs::metadata(&file.path).map_err(|e| wal::Error::io("stat", &file.path, e))?;
        sizes.push(meta.len());
    }
    let total: u64 = sizes.iter().sum();
    writeln!(out, "segments:         {}, {total} bytes", count(survey.files.len() as u64, "file"))?;
    for (file, size) in survey.files.iter().zip(sizes) {
        let name = file.path.file_name().unwrap_or_default().to_string_lossy();
        let note = leftover(survey, file).map_or(String::new(), |why| format!(" (deleted by a writable open: {why})"));
        writeln!(out, "  {name}  first seq {}  {size} bytes{note}", file.first_seq)?;
    }
    Ok(())
}

fn describe(writer: wal::Result<Writer>) -> String {
    match writer {
        Ok(Writer::NoLockFile) => "free (no LOCK file: never opened for writing)".to_string(),
        Ok(Writer::Free) => "free".to_string(),
        Ok(Writer::Held(pid)) => format!("held by process {pid}"),
        Err(e) => format!("unknown ({e})"),
    }
}
