//! `walctl verify DIR`: reads every record of every segment.
//!
//! Damage is whatever the library refuses: the newest segment is judged by
//! TAIL recovery (a read-only survey), older ones by reading every record.
//! A torn tail, which recovery cuts without complaint, is only a warning.

use crate::inspection::inspect;
use crate::logdir::require_log;
use crate::{count, json, report, seq_range, Failure};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

pub fn run(dir: &Path, as_json: bool, out: &mut dyn Write) -> Result<(), Failure> {
    require_log(dir)?;
    let mut progress = Progress::new();
    let found = inspect(dir, |seq, first, last| progress.at(seq, first, last))?;
    drop(progress);

    let mut warnings = Vec::new();
    if let Some(survey) = &found.survey {
        for file in &survey.files {
            if let Some(why) = found.leftover(file) {
                warnings.push(format!("{}: {why}; a writable open deletes it", file.path.display()));
            }
        }
        if let Some(torn) = &survey.torn_tail {
            warnings.push(format!(
                "{}: torn tail: a writable open cuts the {} bytes from offset {} (an interrupted write, not damage)",
                torn.path.display(),
                torn.len,
                torn.offset
            ));
        }
    }
    let segments = found.survey.as_ref().map_or(0, |s| s.segments.len() as u64);
    let (first, last) = found.seqs().unwrap_or((1, 0));
    if as_json {
        let object = json::Object::new()
            .str("log", &dir.to_string_lossy())
            .bool("ok", found.damage.is_none())
            .num("records", found.records)
            .opt_num("segments", found.survey.as_ref().map(|s| s.segments.len() as u64))
            .opt_num("first_seq", found.seqs().map(|s| s.0))
            .opt_num("last_seq", found.seqs().map(|s| s.1))
            .raw("warnings", &json::array(warnings.iter().map(|w| json::string(w))))
            .raw("open_report", &found.tail_report.as_ref().map_or("null".to_string(), report::to_json))
            .raw("salvage", &found.salvage.as_ref().map_or("null".to_string(), report::salvage_json))
            .opt_str("damage", found.damage.as_ref().map(|e| e.to_string()).as_deref());
        writeln!(out, "{}", object.finish())?;
    } else {
        for warning in &warnings {
            eprintln!("walctl verify: warning: {warning}");
        }
        if found.damage.is_none() {
            let (records, segments) = (count(found.records, "record"), count(segments, "segment"));
            writeln!(out, "ok: no damage in {records} and {segments}; seq range {}", seq_range(first, last))?;
        }
        for (name, text) in report::lines(&found) {
            writeln!(out, "{name:<15}{text}")?;
        }
    }
    match found.damage {
        Some(damage) => Err(damage.into()),
        None => Ok(()),
    }
}

/// "verify:  42% (record 420 of 1000)" on stderr, redrawn in place. Drawn
/// only when stderr is a terminal and only once the work has taken a
/// moment, so a small log never shows it. A dozen lines, where a progress
/// crate would bring several more crates to build for one line of output.
struct Progress {
    terminal: bool,
    started: Instant,
    drawn: Option<Instant>,
}

const FIRST_DRAW: Duration = Duration::from_millis(300);
const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    fn new() -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress { terminal, started: Instant::now(), drawn: None }
    }

    fn at(&mut self, seq: u64, first: u64, last: u64) {
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        let due = match self.drawn {
            None => now - self.started >= FIRST_DRAW,
            Some(drawn) => now - drawn >= REDRAW,
        };
        if due {
            let percent = (seq - first + 1) as u128 * 100 / (last.max(seq) - first + 1) as u128;
            eprint!("\rverify: {percent:3}% (record {seq} of {last})");
            self.drawn = Some(now);
        }
    }
}

impl Drop for Progress {
    /// Clears the line, so that what follows starts on a clean one.
    fn drop(&mut self) {
        if self.drawn.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}
