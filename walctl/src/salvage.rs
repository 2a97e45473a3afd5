//! `walctl salvage DIR [--yes]`: cut the log at its first damage, as a
//! WAL_RECOVER_SALVAGE open does.
//!
//! First the plan, from read-only opens that change nothing: what a
//! SALVAGE open keeps (its last_seq) and what it drops (the seqs after it,
//! up to TAIL recovery's last seq when TAIL still opens the log). Then a
//! question on the terminal (`--yes` skips it; with no terminal and no
//! `--yes`, nothing is cut), then the writable SALVAGE open that cuts.

use crate::lock::{self, Writer};
use crate::logdir::{open_read_only, open_writable, require_log};
use crate::{count, seq_range, Failure, EXIT_DAMAGE, EXIT_USAGE};
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use wal::io::RealFs;
use wal::{ErrorKind, OpenReport, RecoveryMode, Wal};

/// What a SALVAGE open would do, learnt without changing a file.
struct Plan {
    /// The last seq SALVAGE keeps.
    kept_last: u64,
    kept_first: u64,
    /// TAIL recovery's last seq, when it opens the log.
    tail_last: Option<u64>,
    /// The first damage: TAIL's refusal, or where reading TAIL's log stops.
    damage: Option<wal::Error>,
    /// Segment files that start after the first dropped seq: deleted.
    doomed_files: u64,
    /// The read-only SALVAGE open's report: the cut a writable one makes.
    report: OpenReport,
}

pub fn run(dir: &Path, yes: bool, out: &mut dyn Write) -> Result<(), Failure> {
    require_log(dir)?;
    if let Ok(Writer::Held(pid)) = lock::writer(dir) {
        return Err(wal::Error::new(
            ErrorKind::Locked,
            format!("{}: process {pid} has this log open for writing", dir.display()),
        )
        .into());
    }
    let plan = plan(dir)?;
    let Some(damage) = &plan.damage else {
        let range = seq_range(plan.kept_first, plan.kept_last);
        writeln!(out, "nothing to salvage: no damage in {}; seq range {range}", dir.display())?;
        return Ok(());
    };
    write_plan(dir, &plan, damage, out)?;
    out.flush()?;
    if !yes {
        confirm()?;
    }
    let wal = open_writable(dir, RecoveryMode::Salvage)?;
    let (first, last, done) = (wal.first_seq(), wal.last_seq(), wal.open_report());
    wal.close()?;
    writeln!(out, "salvaged {}: seq range {}", dir.display(), seq_range(first, last))?;
    if done.tail_cut {
        writeln!(out, "cut the {} bytes from offset {} of the newest segment", done.bytes_cut, done.cut_offset)?;
    }
    writeln!(out, "the next record gets seq {}", last + 1)?;
    Ok(())
}

fn plan(dir: &Path) -> Result<Plan, Failure> {
    let salvage = open_read_only(dir, RecoveryMode::Salvage)?;
    let (kept_first, kept_last, report) = (salvage.first_seq(), salvage.last_seq(), salvage.open_report());
    drop(salvage);
    let (tail_last, damage) = match open_read_only(dir, RecoveryMode::Tail) {
        Ok(tail) => (Some(tail.last_seq()), first_damage(&tail, kept_last)?),
        Err(e) if e.kind() == ErrorKind::Corrupt => (None, Some(e)),
        Err(e) => return Err(e.into()),
    };
    let doomed_files =
        wal::segment::list_segments(&RealFs, dir)?.iter().filter(|s| s.first_seq > kept_last + 1).count() as u64;
    Ok(Plan { kept_last, kept_first, tail_last, damage, doomed_files, report })
}

/// The damage that stops reading TAIL's log after `kept_last`, where
/// SALVAGE stopped; None when TAIL reads on to its end.
fn first_damage(tail: &Wal, kept_last: u64) -> wal::Result<Option<wal::Error>> {
    if kept_last >= tail.last_seq() {
        return Ok(None);
    }
    let mut records = tail.iter(kept_last)?;
    loop {
        match records.next() {
            Ok(Some(_)) => {}
            // SALVAGE stopped short of a log that reads to its end: the two
            // recoveries disagree, which is itself worth reporting.
            Ok(None) => {
                return Ok(Some(wal::Error::new(
                    ErrorKind::Corrupt,
                    format!("SALVAGE recovery stops after seq {kept_last}, but every record reads"),
                )))
            }
            Err(e) if e.kind() == ErrorKind::Corrupt => return Ok(Some(e)),
            Err(e) => return Err(e),
        }
    }
}

fn write_plan(dir: &Path, plan: &Plan, damage: &wal::Error, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "log:     {}", dir.display())?;
    writeln!(out, "damage:  {damage}")?;
    writeln!(out, "keeps:   seq range {}", seq_range(plan.kept_first, plan.kept_last))?;
    let from = plan.report.salvage_dropped_from;
    match plan.tail_last {
        _ if from == 0 => writeln!(out, "drops:   no record")?,
        Some(last) => writeln!(out, "drops:   seqs {from} to {last}")?,
        None => writeln!(
            out,
            "drops:   seq {from} and every later record (how far the log goes is not known: TAIL recovery refuses it)"
        )?,
    }
    if plan.report.tail_cut {
        let (bytes, offset) = (plan.report.bytes_cut, plan.report.cut_offset);
        writeln!(out, "cuts:    the {bytes} bytes from offset {offset} of the newest segment it keeps")?;
    }
    let next = plan.kept_last + 1;
    if plan.doomed_files > 0 {
        writeln!(out, "deletes: {} that start after seq {next}", count(plan.doomed_files, "segment file"))?;
    }
    writeln!(out, "then:    the next record gets seq {next}: the seqs of the dropped records are handed out again")?;
    Ok(())
}

/// Asks on the terminal; Ok only for a yes. The question goes to stderr,
/// so that stdout holds only the plan and the outcome.
fn confirm() -> Result<(), Failure> {
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Stop {
            status: EXIT_USAGE,
            message: "nothing changed: standard input is not a terminal to ask on; pass --yes to cut without asking"
                .to_string(),
        });
    }
    eprint!("Cut the log there and drop those records? [y/N] ");
    let mut answer = String::new();
    let read = stdin.lock().read_line(&mut answer);
    if !io::stderr().is_terminal() {
        // The terminal echoed the answer and its newline; stderr did not.
        eprintln!();
    }
    read.map_err(|e| Failure::Stop {
        status: 3,
        message: format!("nothing changed: cannot read the answer from standard input: {e}"),
    })?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => {
            Err(Failure::Stop { status: EXIT_DAMAGE, message: "nothing changed: the log is still damaged".to_string() })
        }
    }
}
