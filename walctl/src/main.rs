//! walctl: look at a libwal log from the command line, through the `wal`
//! crate's public API. `stat`, `dump` and `verify` open the log read-only
//! and change no file; `truncate` and `salvage` open it for writing.

mod cli;
mod docs;
mod dump;
mod inspection;
mod json;
mod lock;
mod logdir;
mod report;
mod salvage;
mod show;
mod stat;
mod truncate;
mod upgrade;
mod verify;

use clap::Parser;
use cli::{Cli, Command};
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;
use wal::ErrorKind;

/// Why a command stopped: the library's error, standard output failed, or
/// walctl's own reason with its exit status.
#[derive(Debug)]
pub enum Failure {
    Wal(wal::Error),
    Output(io::Error),
    Stop { status: u8, message: String },
}

/// Exit statuses of walctl's own, beside the library's (see EXIT_STATUS).
pub const EXIT_DAMAGE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_NOT_A_LOG: u8 = 7;

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
    let name = cli.command.name();
    let result = match cli.command {
        Command::Stat { dir, json } => stat::run(&dir, json, &mut out),
        Command::Dump(args) => dump::run(&args, &mut out),
        Command::Verify { dir, json } => verify::run(&dir, json, &mut out),
        Command::Truncate { dir, seq } => truncate::run(&dir, seq, &mut out),
        Command::Salvage { dir, yes } => salvage::run(&dir, yes, &mut out),
        Command::Upgrade { dir, yes } => upgrade::run(&dir, yes, &mut out),
        Command::Completions { shell } => docs::completions(shell, &mut out),
        Command::Man { out_dir } => docs::man(out_dir.as_deref(), &mut out),
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
        Err(Failure::Stop { status, message }) => {
            eprintln!("walctl {name}: {message}");
            ExitCode::from(status)
        }
    }
}

/// The exit status for a library error, as listed in EXIT_STATUS.
pub fn exit_status(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Corrupt => EXIT_DAMAGE,
        ErrorKind::Io => 3,
        ErrorKind::Locked => 4,
        ErrorKind::Range => 5,
        _ => 6,
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
