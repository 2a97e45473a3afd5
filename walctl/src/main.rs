//! walctl: look at a libwal log from the command line, through the `wal`
//! crate's public API. Every command but `truncate` opens the log read-only
//! and changes no file.

mod dump;
mod lock;
mod show;
mod stat;
mod upgrade;
mod verify;

use clap::{Parser, Subcommand};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use wal::inspect::Survey;
use wal::segment::SegmentInfo;
use wal::{ErrorKind, Options, Wal};

const EXIT_STATUS: &str = "\
Exit status:
  0  success (verify: no damage; a torn tail is only a warning)
  1  the log is damaged: verify found damage, or damage stopped the command
  2  bad arguments
  3  an I/O error: no such directory, permission denied, ...
  4  the log is locked: another process has it open for writing (truncate)
  5  a seq out of range: dump --after below the first record, truncate past the last
  6  any other error";

#[derive(Parser)]
#[command(name = "walctl", version, about = "Inspect, dump, verify and truncate a libwal log.", after_help = EXIT_STATUS)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show segments, seq range, records, last checkpoint, floor, writer lock
    ///
    /// Reads every record, to count them and find the last checkpoint.
    Stat {
        /// The log's directory
        dir: PathBuf,
    },
    /// Print every record, one per line
    ///
    /// Each line holds the seq, the op (PUT, DELETE, CHECKPOINT or its
    /// number), the key and the value: in quotes, escaped, when they are
    /// printable UTF-8; as 0x-prefixed hex otherwise.
    Dump {
        /// The log's directory
        dir: PathBuf,
        /// Only the records after this seq
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: u64,
        /// One JSON object per line: seq, op, op_name (for PUT, DELETE,
        /// CHECKPOINT), key and value, or key_hex / value_hex for bytes that
        /// are not printable UTF-8
        #[arg(long)]
        json: bool,
    },
    /// Read every record of every segment; exit 1 at the first damage
    ///
    /// Names the file and the offset of the first damage and what is wrong.
    /// A torn tail at the end of the newest segment, which recovery cuts
    /// off, is a warning, not damage.
    Verify {
        /// The log's directory
        dir: PathBuf,
    },
    /// Remove every record with seq <= SEQ
    ///
    /// Opens the log for writing, so recovery first repairs what any
    /// writable open repairs (it cuts a torn tail).
    Truncate {
        /// The log's directory
        dir: PathBuf,
        seq: u64,
    },
    /// Convert a libwal 0.1 log (format version 2) to format version 3
    ///
    /// Reads the whole version 2 log and refuses damage other than a torn
    /// tail; says what it will convert and asks (--yes skips the question);
    /// writes the same records with the same seqs as a version 3 log in
    /// DIR.upgrade-tmp and checks it record by record; then renames DIR to
    /// DIR.format2 (the version 2 files, unchanged) and DIR.upgrade-tmp to
    /// DIR. After a crash, run it again: it starts over or finishes.
    #[command(after_help = upgrade::EXIT_STATUS)]
    Upgrade {
        /// The log's directory
        dir: PathBuf,
        /// Convert without asking
        #[arg(long)]
        yes: bool,
    },
}

/// Why a command stopped: the library's error, or standard output failed.
#[derive(Debug)]
pub enum Failure {
    Wal(wal::Error),
    Output(io::Error),
}

impl From<wal::Error> for Failure {
    fn from(e: wal::Error) -> Self {
        Failure::Wal(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Failure::Output(e)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = BufWriter::new(io::stdout().lock());
    let (name, result) = match &cli.command {
        Command::Stat { dir } => ("stat", stat::run(dir, &mut out)),
        Command::Dump { dir, after, json } => ("dump", dump::run(dir, *after, *json, &mut out)),
        Command::Verify { dir } => ("verify", verify::run(dir, &mut out)),
        Command::Truncate { dir, seq } => ("truncate", truncate(dir, *seq, &mut out)),
        Command::Upgrade { dir, yes } => return upgrade::run(dir, *yes, &mut out),
    };
    // What was printed before a failure still goes out, before the error.
    let flushed = out.flush();
    match result.and(flushed.map_err(Failure::Output)) {
        Ok(()) => ExitCode::SUCCESS,
        // `walctl dump DIR | head`: the reader has all it wants.
        Err(Failure::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Failure::Output(e)) => {
            eprintln!("walctl {name}: cannot write to standard output: {e}");
            ExitCode::from(3)
        }
        Err(Failure::Wal(e)) => {
            eprintln!("walctl {name}: {e}");
            ExitCode::from(exit_status(e.kind()))
        }
    }
}

/// The exit status for a library error, as listed in EXIT_STATUS.
fn exit_status(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Corrupt => 1,
        ErrorKind::Io => 3,
        ErrorKind::Locked => 4,
        ErrorKind::Range => 5,
        _ => 6,
    }
}

/// Opens an existing log without taking its lock or changing a file.
pub fn open_read_only(dir: &Path) -> wal::Result<Wal> {
    Wal::open(dir, Options { read_only: true, create_if_missing: false, ..Options::default() })
}

/// Why the next writable open deletes `file`, if it does: it is not one of
/// the segments that hold the log.
pub fn leftover(survey: &Survey, file: &SegmentInfo) -> Option<&'static str> {
    if survey.segments.contains(file) {
        None
    } else if file.first_seq <= survey.floor {
        Some("holds only truncated records (an interrupted truncate)")
    } else {
        Some("holds no record (an interrupted segment creation)")
    }
}

/// "3 records", "1 segment".
pub fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

/// "1..100", or what an empty log's next record gets.
pub fn seq_range(first: u64, last: u64) -> String {
    match first <= last {
        true => format!("{first}..{last}"),
        false => format!("empty (the next record gets seq {first})"),
    }
}

/// Opens the log for writing and truncates it. No preallocation: walctl
/// appends nothing, and a torn tail cut at open must not grow the segment to
/// the default segment size.
fn truncate(dir: &Path, seq: u64, out: &mut dyn Write) -> Result<(), Failure> {
    let opts = Options { create_if_missing: false, preallocate: false, ..Options::default() };
    let wal = Wal::open(dir, opts)?;
    wal.truncate(seq)?;
    let (first, last) = (wal.first_seq(), wal.last_seq());
    wal.close()?;
    writeln!(out, "truncated {}: records up to seq {seq} are gone", dir.display())?;
    writeln!(out, "first seq {first}, last seq {last}")?;
    Ok(())
}
