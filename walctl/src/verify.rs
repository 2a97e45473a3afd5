//! `walctl verify DIR`: reads every record of every segment.
//!
//! Damage is whatever the library refuses: the newest segment is judged by
//! TAIL recovery (a read-only survey), older ones by reading every record.
//! A torn tail, which recovery cuts without complaint, is only a warning.

use crate::{count, leftover, open_read_only, seq_range, Failure};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use wal::inspect;

pub fn run(dir: &Path, out: &mut dyn Write) -> Result<(), Failure> {
    let survey = inspect::survey(dir)?;
    let wal = open_read_only(dir)?;
    let (first, last) = (wal.first_seq(), wal.last_seq());
    let mut progress = Progress::new(first, last);
    let mut iter = wal.iter(0)?;
    let mut records = 0u64;
    while let Some(record) = iter.next()? {
        records += 1;
        progress.at(record.seq);
    }
    drop(progress);

    for file in &survey.files {
        if let Some(why) = leftover(&survey, file) {
            eprintln!("walctl verify: warning: {}: {why}; a writable open deletes it", file.path.display());
        }
    }
    if let Some(torn) = &survey.torn_tail {
        eprintln!(
            "walctl verify: warning: {}: torn tail: a writable open cuts the {} bytes from offset {} \
             (an interrupted write, not damage)",
            torn.path.display(),
            torn.len,
            torn.offset
        );
    }
    let (records, segments) = (count(records, "record"), count(survey.segments.len() as u64, "segment"));
    writeln!(out, "ok: no damage in {records} and {segments}; seq range {}", seq_range(first, last))?;
    Ok(())
}

/// "verify:  42% (record 420 of 1000)" on stderr, redrawn in place. Drawn
/// only when stderr is a terminal and only once the work has taken a
/// moment, so a small log never shows it. A dozen lines, where a progress
/// crate would bring several more crates to build for one line of output.
struct Progress {
    first: u64,
    last: u64,
    terminal: bool,
    started: Instant,
    drawn: Option<Instant>,
}

const FIRST_DRAW: Duration = Duration::from_millis(300);
const REDRAW: Duration = Duration::from_millis(100);

impl Progress {
    fn new(first: u64, last: u64) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Progress { first, last, terminal, started: Instant::now(), drawn: None }
    }

    fn at(&mut self, seq: u64) {
        if !self.terminal {
            return;
        }
        let now = Instant::now();
        let due = match self.drawn {
            None => now - self.started >= FIRST_DRAW,
            Some(drawn) => now - drawn >= REDRAW,
        };
        if due {
            let percent = (seq - self.first + 1) as u128 * 100 / (self.last - self.first + 1) as u128;
            eprint!("\rverify: {percent:3}% (record {seq} of {})", self.last);
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
