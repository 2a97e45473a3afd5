//! `walctl dump DIR [--after SEQ | --from SEQ] [--to SEQ] [--limit N]
//! [--json] [--hex]`: the records, one per line.
//!
//! A log that TAIL recovery refuses (damage in its newest segment) is read
//! with a read-only SALVAGE open, which returns the records before the
//! first damage; they are printed, then TAIL's error. Damage in an older
//! segment stops the iterator there: the records before it are printed,
//! then the error.

use crate::cli::DumpArgs;
use crate::logdir::{open_readable, require_log};
use crate::{show, Failure, EXIT_USAGE};
use std::io::Write;

pub fn run(args: &DumpArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let after = match (args.after, args.from) {
        (Some(after), _) => after,
        (None, Some(from)) => from.saturating_sub(1),
        (None, None) => 0,
    };
    if let Some(to) = args.to.filter(|&to| to <= after) {
        let what = args.from.map_or(format!("--after {after}"), |from| format!("--from {from}"));
        return Err(Failure::Stop { status: EXIT_USAGE, message: format!("--to {to} with {what} selects no record") });
    }
    require_log(&args.dir)?;
    let log = open_readable(&args.dir)?;
    let mut records = log.wal.iter(after)?;
    let mut printed = 0u64;
    while args.limit.is_none_or(|limit| printed < limit) {
        let Some(record) = records.next()? else { break };
        if args.to.is_some_and(|to| record.seq > to) {
            break;
        }
        let line = if args.json { show::json_line(&record, args.hex) } else { show::text_line(&record, args.hex) };
        writeln!(out, "{line}")?;
        printed += 1;
    }
    match log.refused {
        // Even when --to or --limit stopped before the damage: no writable
        // open accepts this log as it is.
        Some(refused) => Err(refused.into()),
        None => Ok(()),
    }
}
