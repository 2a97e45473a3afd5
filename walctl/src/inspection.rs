//! What `stat` and `verify` learn by reading a whole log read-only: the
//! recovery survey, every record, and the first damage, if any.

use crate::logdir::{open_read_only, open_readable, Readable};
use crate::report::SalvageView;
use std::path::Path;
use wal::inspect::{self, Survey};
use wal::segment::SegmentInfo;
use wal::{ErrorKind, OpenReport, RecoveryMode, Wal};

pub struct Inspection {
    /// What TAIL recovery finds; None when it refuses the log as damaged.
    pub survey: Option<Survey>,
    /// The log as opened to read it; None when neither TAIL nor SALVAGE
    /// recovery can open it.
    pub log: Option<Readable>,
    /// Records read (before the damage, if any) and the last checkpoint.
    pub records: u64,
    pub checkpoint: Option<u64>,
    /// The first damage: TAIL recovery's refusal, or where reading stopped.
    pub damage: Option<wal::Error>,
    /// The open report of the TAIL open (None when TAIL refuses the log).
    pub tail_report: Option<OpenReport>,
    /// What a SALVAGE open keeps and cuts, when there is damage.
    pub salvage: Option<SalvageView>,
}

/// Reads the log; `at` is called with each record's seq and the log's
/// first and last seq. Damage is not an error here but a finding; any
/// other failure is.
pub fn inspect(dir: &Path, mut at: impl FnMut(u64, u64, u64)) -> wal::Result<Inspection> {
    let mut damage = None;
    let survey = keep_damage(inspect::survey(dir), &mut damage)?;
    let log = keep_damage(open_readable(dir), &mut damage)?;
    let mut found =
        Inspection { survey, log: None, records: 0, checkpoint: None, damage: None, tail_report: None, salvage: None };
    if let Some(log) = &log {
        if let Some(refused) = &log.refused {
            damage.get_or_insert_with(|| refused.clone());
        }
        let (first, last) = (log.wal.first_seq(), log.wal.last_seq());
        let mut records = log.wal.iter(0)?;
        loop {
            match records.next() {
                Ok(Some(record)) => {
                    found.records += 1;
                    if record.op == wal::OP_CHECKPOINT {
                        found.checkpoint = Some(record.seq);
                    }
                    at(record.seq, first, last);
                }
                Ok(None) => break,
                Err(e) if e.kind() == ErrorKind::Corrupt => {
                    damage.get_or_insert(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    if let Some(log) = &log {
        match log.refused {
            None => found.tail_report = Some(log.wal.open_report()),
            Some(_) => found.salvage = Some(salvage_view(&log.wal)),
        }
    }
    if damage.is_some() && found.salvage.is_none() {
        found.salvage = keep_damage(open_read_only(dir, RecoveryMode::Salvage), &mut None)?.map(|w| salvage_view(&w));
    }
    found.log = log;
    found.damage = damage;
    Ok(found)
}

fn salvage_view(wal: &Wal) -> SalvageView {
    SalvageView { first_seq: wal.first_seq(), last_seq: wal.last_seq(), report: wal.open_report() }
}

/// Ok(None) for damage, remembered in `damage` if it is the first.
fn keep_damage<T>(result: wal::Result<T>, damage: &mut Option<wal::Error>) -> wal::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == ErrorKind::Corrupt => {
            damage.get_or_insert(e);
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

impl Inspection {
    /// Why the next writable open deletes `file`, if it does: it is not one
    /// of the segments that hold the log (unknown when TAIL refuses the log).
    pub fn leftover(&self, file: &SegmentInfo) -> Option<&'static str> {
        let survey = self.survey.as_ref()?;
        // By path: a SegmentInfo also carries an id of its listing.
        if survey.segments.iter().any(|s| s.path == file.path) {
            None
        } else if file.first_seq <= survey.floor {
            Some("holds only truncated records (an interrupted truncate)")
        } else {
            Some("holds no record (an interrupted segment creation)")
        }
    }

    /// first_seq and last_seq of the open that read the log.
    pub fn seqs(&self) -> Option<(u64, u64)> {
        self.log.as_ref().map(|log| (log.wal.first_seq(), log.wal.last_seq()))
    }

    /// The records were read with SALVAGE recovery, TAIL having refused the log.
    pub fn salvaged(&self) -> bool {
        self.log.as_ref().is_some_and(|log| log.refused.is_some())
    }
}
