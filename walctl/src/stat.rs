//! `walctl stat DIR [--json]`: what the log holds, and whether a writer
//! has it open. Of a damaged log it shows what it can read (the records
//! before the damage, through a read-only SALVAGE open when TAIL recovery
//! refuses the log), then the damage: exit 1.

use crate::inspection::{inspect, Inspection};
use crate::lock::{self, Writer};
use crate::logdir::require_log;
use crate::{count, json, report, seq_range, Failure};
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use wal::format::{segment_header_version, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use wal::io::RealFs;
use wal::segment::SegmentInfo;

/// One segment file and its size.
struct FileFacts {
    info: SegmentInfo,
    bytes: u64,
}

pub fn run(dir: &Path, as_json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    require_log(dir)?;
    let files = segment_files(dir)?;
    let found = inspect(dir, |_, _, _| {})?;
    let version = match files.first() {
        Some(first) => Some(format_version(&first.info)?),
        None => None,
    };
    let writer = lock::writer(dir);
    if as_json {
        writeln!(out, "{}", to_json(dir, &files, version, &found, &writer))?;
    } else {
        write_text(dir, &files, version, &found, &writer, out)?;
    }
    match found.damage {
        Some(damage) => Err(damage.into()),
        None => Ok(()),
    }
}

fn segment_files(dir: &Path) -> wal::Result<Vec<FileFacts>> {
    let mut files = Vec::new();
    for info in wal::segment::list_segments(&RealFs, dir)? {
        let meta = std::fs::metadata(&info.path).map_err(|e| wal::Error::io("stat", &info.path, e))?;
        files.push(FileFacts { info, bytes: meta.len() });
    }
    Ok(files)
}

/// The version in a segment's header; None when the header is unreadable.
fn format_version(segment: &SegmentInfo) -> wal::Result<Option<u32>> {
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    match File::open(&segment.path).and_then(|mut file| file.read_exact(&mut header)) {
        Ok(()) => Ok(segment_header_version(&header)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(wal::Error::io("read the header of", &segment.path, e)),
    }
}

fn write_text(
    dir: &Path,
    files: &[FileFacts],
    version: Option<Option<u32>>,
    found: &Inspection,
    writer: &wal::Result<Writer>,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    writeln!(out, "log:              {}", dir.display())?;
    let version = match version {
        None => format!("no segment yet (walctl reads version {FORMAT_VERSION})"),
        Some(None) => "unreadable".to_string(),
        Some(Some(v)) => v.to_string(),
    };
    writeln!(out, "format version:   {version}")?;
    let total: u64 = files.iter().map(|f| f.bytes).sum();
    writeln!(out, "segments:         {}, {total} bytes", count(files.len() as u64, "file"))?;
    for file in files {
        let name = file.info.path.file_name().unwrap_or_default().to_string_lossy();
        let note =
            found.leftover(&file.info).map_or(String::new(), |why| format!(" (deleted by a writable open: {why})"));
        writeln!(out, "  {name}  first seq {}  {} bytes{note}", file.info.first_seq, file.bytes)?;
    }
    let partial = match (found.salvaged(), &found.damage) {
        (true, _) => " (read with SALVAGE recovery: the records before the damage)",
        (false, Some(_)) => " (before the damage)",
        (false, None) => "",
    };
    match found.seqs() {
        Some((first, last)) => writeln!(out, "seq range:        {}{partial}", seq_range(first, last))?,
        None => writeln!(out, "seq range:        unknown (no recovery mode can open the log)")?,
    }
    let records_note = if found.damage.is_some() { " before the damage" } else { "" };
    writeln!(out, "records:          {}{records_note}", found.records)?;
    match found.checkpoint {
        Some(seq) => writeln!(out, "last checkpoint:  {seq}")?,
        None => writeln!(out, "last checkpoint:  none")?,
    }
    match &found.survey {
        Some(survey) => writeln!(out, "truncation floor: {}", survey.floor)?,
        None => writeln!(out, "truncation floor: unknown (TAIL recovery refuses the log)")?,
    }
    writeln!(out, "writer lock:      {}", describe(writer))?;
    for (name, text) in report::lines(found) {
        writeln!(out, "{name:<18}{text}")?;
    }
    Ok(())
}

fn describe(writer: &wal::Result<Writer>) -> String {
    match writer {
        Ok(Writer::Free) => "free".to_string(),
        Ok(Writer::Held(pid)) => format!("held by process {pid}"),
        Err(e) => format!("unknown ({e})"),
    }
}

fn to_json(
    dir: &Path,
    files: &[FileFacts],
    version: Option<Option<u32>>,
    found: &Inspection,
    writer: &wal::Result<Writer>,
) -> String {
    let segments = files.iter().map(|file| {
        json::Object::new()
            .str("path", &file.info.path.to_string_lossy())
            .num("first_seq", file.info.first_seq)
            .num("bytes", file.bytes)
            .opt_str("deleted_by_writable_open", found.leftover(&file.info))
            .finish()
    });
    let (state, pid, error) = match writer {
        Ok(Writer::Free) => ("free", None, None),
        Ok(Writer::Held(pid)) => ("held", pid.parse().ok(), None),
        Err(e) => ("unknown", None, Some(e.to_string())),
    };
    let writer = json::Object::new().str("state", state).opt_num("pid", pid).opt_str("error", error.as_deref());
    let (first, last) = found.seqs().unzip();
    json::Object::new()
        .str("log", &dir.to_string_lossy())
        .opt_num("format_version", version.flatten().map(u64::from))
        .raw("segments", &json::array(segments))
        .num("segment_bytes", files.iter().map(|f| f.bytes).sum())
        .opt_num("first_seq", first)
        .opt_num("last_seq", last)
        .num("records", found.records)
        .opt_num("last_checkpoint", found.checkpoint)
        .opt_num("truncation_floor", found.survey.as_ref().map(|s| s.floor))
        .raw("writer_lock", &writer.finish())
        .raw("open_report", &found.tail_report.as_ref().map_or("null".to_string(), report::to_json))
        .raw("salvage", &found.salvage.as_ref().map_or("null".to_string(), report::salvage_json))
        .str("read_with", if found.salvaged() { "salvage" } else { "tail" })
        .opt_str("damage", found.damage.as_ref().map(|e| e.to_string()).as_deref())
        .finish()
}
