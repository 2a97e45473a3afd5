//! The command line, as clap reads it. The help text, the shell
//! completions and the man pages are all generated from these definitions.

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};
use std::path::PathBuf;

/// Every exit status walctl has, for --help and the man page.
pub const EXIT_CODES: &[(u8, &str)] = &[
    (0, "success (verify: no damage; a torn tail is only a warning)"),
    (1, "the log is damaged: verify found damage, damage stopped the command, or salvage was declined"),
    (2, "bad arguments (salvage, upgrade: no terminal to ask on, and no --yes)"),
    (3, "an I/O error: no such directory, permission denied, ..."),
    (4, "the log is locked: another process has it open for writing (truncate, salvage)"),
    (5, "a seq out of range: dump --after below the first record, truncate past the last"),
    (6, "any other error"),
    (7, "no log in the directory: no segment file, no wal.meta and no LOCK (upgrade: no version 2 log)"),
    (8, "upgrade was declined: nothing changed"),
    (9, "upgrade: DIR.format2 or DIR.upgrade-tmp is in the way"),
];

fn exit_status_help() -> String {
    let lines: Vec<String> = EXIT_CODES.iter().map(|(code, what)| format!("  {code}  {what}")).collect();
    format!("Exit status:\n{}", lines.join("\n"))
}

#[derive(Parser)]
#[command(
    name = "walctl",
    version,
    about = "Inspect, dump, verify, truncate and salvage a libwal log.",
    after_help = exit_status_help()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Show segments, seq range, records, last checkpoint, floor, writer lock
    ///
    /// Reads every record, to count them and find the last checkpoint. Also
    /// shows what a writable open would find and do (the open report):
    /// whether the last writer closed the log cleanly, and what it would cut.
    /// Of a damaged log it shows what it can, then the damage (exit 1).
    Stat {
        /// The log's directory
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// One JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Print every record, one per line
    ///
    /// Each line holds the seq, the op (PUT, DELETE, CHECKPOINT or its
    /// number), the key and the value: in quotes, escaped, when they are
    /// printable UTF-8; as 0x-prefixed hex otherwise. If damage stops the
    /// log, every record before the damage is printed, then the error (exit 1).
    Dump(DumpArgs),
    /// Read every record of every segment; exit 1 at the first damage
    ///
    /// Names the file and the offset of the first damage and what is wrong.
    /// A torn tail at the end of the newest segment, which recovery cuts
    /// off, is a warning, not damage. Also shows the open report, as stat does.
    Verify {
        /// The log's directory
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// One JSON object instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove every record with seq <= SEQ
    ///
    /// Opens the log for writing, so recovery first repairs what any
    /// writable open repairs (it cuts a torn tail).
    Truncate {
        /// The log's directory
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        seq: u64,
    },
    /// Cut the log at its first damage, dropping every record from there on
    ///
    /// What WAL_RECOVER_SALVAGE does on open: keeps exactly the records
    /// before the first damaged one. First prints what it would keep and
    /// drop and asks for confirmation on the terminal. The seqs of the
    /// dropped records are handed out again by the next appends.
    Salvage {
        /// The log's directory
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// Cut without asking
        #[arg(long)]
        yes: bool,
    },
    /// Convert a libwal 0.1 log (format version 2) to format version 3
    ///
    /// Reads the whole version 2 log and refuses damage other than a torn
    /// tail; says what it will convert and asks (--yes skips the question);
    /// writes the same records with the same seqs as a version 3 log in
    /// DIR.upgrade-tmp and checks it record by record; then renames DIR to
    /// DIR.format2 (the version 2 files, unchanged) and DIR.upgrade-tmp to
    /// DIR. After a crash, run it again: it starts over or finishes.
    #[command(after_help = crate::upgrade::EXIT_STATUS)]
    Upgrade {
        /// The log's directory
        #[arg(value_hint = ValueHint::DirPath)]
        dir: PathBuf,
        /// Convert without asking
        #[arg(long)]
        yes: bool,
    },
    /// Print a shell completion script
    ///
    /// bash: `walctl completions bash > /etc/bash_completion.d/walctl`;
    /// zsh: into a directory of $fpath as _walctl; fish: into
    /// ~/.config/fish/completions/walctl.fish.
    Completions {
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page walctl(1), or write every page into a directory
    Man {
        /// Write walctl.1 and one page per command (walctl-stat.1, ...) here
        #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
        out_dir: Option<PathBuf>,
    },
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Command::Stat { .. } => "stat",
            Command::Dump(_) => "dump",
            Command::Verify { .. } => "verify",
            Command::Truncate { .. } => "truncate",
            Command::Salvage { .. } => "salvage",
            Command::Upgrade { .. } => "upgrade",
            Command::Completions { .. } => "completions",
            Command::Man { .. } => "man",
        }
    }
}

#[derive(Args)]
pub struct DumpArgs {
    /// The log's directory
    #[arg(value_hint = ValueHint::DirPath)]
    pub dir: PathBuf,
    /// Only the records after this seq
    #[arg(long, value_name = "SEQ", conflicts_with = "from")]
    pub after: Option<u64>,
    /// Only the records from this seq on (--from N is --after N-1)
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// Only the records up to this seq
    #[arg(long, value_name = "SEQ")]
    pub to: Option<u64>,
    /// At most this many records
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// One JSON object per line: seq, op, op_name (for PUT, DELETE,
    /// CHECKPOINT), key and value, or key_hex / value_hex for bytes that
    /// are not printable UTF-8
    #[arg(long)]
    pub json: bool,
    /// Keys and values as hex, always (key=0x6b31; in JSON key_hex)
    #[arg(long)]
    pub hex: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}
