//! What `open` finds on disk, and what it repairs. The decision table
//! (docs/FORMAT.md "Recovery rules" has it in full):
//!
//! | found                                                  | TAIL                | SALVAGE            |
//! |--------------------------------------------------------|---------------------|--------------------|
//! | segments wholly at or below the truncation floor       | deleted (leftovers of an interrupted truncate) | same |
//! | newest segment empty, or header zeroed/short and nothing else in it | deleted (interrupted creation) | same |
//! | a segment whose header is damaged (zeroed with data after it too) | CORRUPT | dropped, with all later ones |
//! | a segment of another format version (sound header)     | CORRUPT             | CORRUPT, nothing deleted |
//! | first segment starts above floor + 1                   | CORRUPT (missing segment) | all dropped  |
//! | the clean-close mark names a newer segment than the newest | CORRUPT (the newest segment is missing) | ignored |
//! | newest segment: a frame fails at d, and the log proves d durable (a later header's synced_end > d, or the clean-close mark's end > d) | CORRUPT | cut at d |
//! | newest segment: a frame fails at d, nothing proves d durable, data after d | cut at d (a torn write) | cut at d |
//! | damage or a seq gap in an older segment                | found by replay: CORRUPT | cut there, later segments dropped |
//!
//! TAIL reads only the newest segment, so opening a long log costs one
//! segment; older segments are checked when a replay reads them. SALVAGE
//! reads everything, since it must find the first damaged record.

use crate::error::{Error, Result};
use crate::format::CleanMark;
use crate::io::{Fs, OpenMode};
use crate::meta;
use crate::options::{Options, RecoveryMode};
use crate::segment::{self, HeaderState, SegmentInfo, SegmentReader, Stop};
use std::path::Path;

/// What an open found and did, for `wal_open_report`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The last writer closed the log cleanly (its clean-close mark matched).
    pub clean_close: bool,
    /// The open cut the newest segment (a torn tail, or SALVAGE's cut); for
    /// a read-only open: a writable open would.
    pub tail_cut: bool,
    /// Where the cut was made in the newest segment's file.
    pub cut_offset: u64,
    /// Data bytes (not preallocated zeros) removed by the cut.
    pub bytes_cut: u64,
    /// SALVAGE: the first seq dropped (handed out again); 0 when none was.
    pub salvage_dropped_from: u64,
}

/// The newest segment as recovery found it.
#[derive(Debug, Clone, Copy)]
pub struct Newest {
    /// Where its valid frames end: the next frame goes here.
    pub end: u64,
    /// How far the log proves it durable: the highest synced_end among
    /// those frames, or the clean-close mark's end. The bytes after it may
    /// never have reached the disk, even if reads return them.
    pub proven: u64,
    /// Where the last frame holding records ends (a sync mark may follow).
    pub records_end: u64,
    /// How far the segment's own frames prove it durable (without the
    /// clean-close mark, which a writable open empties).
    pub frames_proven: u64,
    pub salt: u32,
}

/// The log as recovery found it, and the repairs a writable open applies.
pub struct Recovered {
    /// Every seq at or below this is truncated.
    pub floor: u64,
    /// The segments that hold the log, in order.
    pub segments: Vec<SegmentInfo>,
    /// The highest seq assigned so far.
    pub last_seq: u64,
    /// The newest segment (None: no segment).
    pub newest: Option<Newest>,
    pub report: OpenReport,
    repairs: Repairs,
}

/// Changes recovery decided on, applied only by a writable open.
#[derive(Default)]
struct Repairs {
    /// Segments before the log's start, oldest first.
    drop_front: Vec<SegmentInfo>,
    /// Segments after the log's end, oldest first.
    drop_back: Vec<SegmentInfo>,
    cut: Option<(SegmentInfo, u64)>,
    /// The file to cut, opened for writing by `prepare`.
    cut_file: Option<std::sync::Arc<dyn crate::io::FsFile>>,
}

/// Recovers the log in `dir` as its writer would, given the clean-close
/// mark its last writer left (if any). Nothing is changed: `apply` makes
/// the repairs. A read-only open beside a writer that truncates may find a
/// segment gone between listing and reading it, or a floor that moved:
/// such an attempt is made again on what the directory holds then.
pub fn recover(fs: &dyn Fs, dir: &Path, opts: &Options, mark: Option<CleanMark>) -> Result<Recovered> {
    if !opts.read_only {
        return recover_once(fs, dir, opts, mark);
    }
    for _ in 0..READ_ONLY_ATTEMPTS {
        let before = snapshot(fs, dir);
        let result = recover_once(fs, dir, opts, mark);
        let moved = result.is_err() && before.is_ok() && snapshot(fs, dir).ok() != before.ok();
        if !moved {
            return result;
        }
    }
    recover_once(fs, dir, opts, mark)
}

/// How often a read-only open starts again when the log moved under it.
const READ_ONLY_ATTEMPTS: usize = 100;

/// What a concurrent truncate or rotation changes: the floor and the names.
fn snapshot(fs: &dyn Fs, dir: &Path) -> Result<(u64, Vec<u64>)> {
    let floor = meta::read_floor(fs, dir)?;
    let names = segment::list_segments(fs, dir)?.iter().map(|s| s.first_seq).collect();
    Ok((floor, names))
}

fn recover_once(fs: &dyn Fs, dir: &Path, opts: &Options, mark: Option<CleanMark>) -> Result<Recovered> {
    let floor = meta::read_floor(fs, dir)?;
    if floor == u64::MAX {
        return Err(Error::corrupt(&dir.join(meta::META_FILE), "the truncation floor is out of range"));
    }
    let mut segments = segment::list_segments(fs, dir)?;
    let mut repairs = Repairs::default();
    let mut report = OpenReport::default();
    let tail = opts.recovery_mode == RecoveryMode::Tail;

    // Leftovers of a truncate that recorded its floor but died before deleting.
    let wholly_below = segments.iter().skip(1).take_while(|s| s.first_seq <= floor + 1).count();
    repairs.drop_front.extend(segments.drain(..wholly_below));
    if let Some(newest) = segments.last() {
        match segment::inspect_header(fs, newest)? {
            HeaderState::Unborn => repairs.drop_back.extend(segments.pop()),
            HeaderState::Damaged(why) if tail => return Err(Error::corrupt(&newest.path, why)),
            _ => {}
        }
    }
    if let Some(mark) = mark.filter(|_| tail) {
        // Against every segment there is (those the floor passed included),
        // but an interrupted creation.
        let present: Vec<SegmentInfo> = repairs.drop_front.iter().chain(&segments).cloned().collect();
        check_mark_names_the_newest(dir, &present, mark)?;
    }
    if let Some(first) = segments.first() {
        if first.first_seq > floor + 1 {
            let missing = format!(
                "records {} to {} are missing: the segment holding them is gone",
                floor + 1,
                first.first_seq - 1
            );
            if tail {
                return Err(Error::corrupt(&first.path, missing));
            }
            repairs.drop_back.append(&mut segments);
            report.salvage_dropped_from = floor + 1;
        }
    }
    let (last_seq, newest) = match opts.recovery_mode {
        _ if segments.is_empty() => (floor, None),
        RecoveryMode::Tail => {
            let newest = segments.last().unwrap_or_else(|| unreachable!("segments is not empty"));
            scan_newest(fs, opts, newest, mark, &mut repairs, &mut report)?
        }
        RecoveryMode::Salvage => scan_all(fs, &mut segments, &mut repairs, &mut report)?,
    };
    report.clean_close = match (mark, segments.last(), newest) {
        (Some(mark), Some(seg), Some(n)) => mark.segment.first_seq == seg.first_seq && mark.segment.salt == n.salt,
        _ => false,
    };
    if report.salvage_dropped_from != 0 {
        // Seqs at or below the floor are gone already, never handed out again.
        report.salvage_dropped_from = report.salvage_dropped_from.max(floor + 1);
    }
    let mut recovered = Recovered { floor, segments, last_seq: last_seq.max(floor), newest, report, repairs };
    if recovered.newest.is_some() && last_seq <= floor {
        // Every record left is truncated: a truncate died before deleting.
        recovered.repairs.drop_front.append(&mut recovered.segments);
        recovered.repairs.cut = None;
        recovered.newest = None;
    }
    Ok(recovered)
}

/// A clean-close mark names the newest segment the last writer left; a
/// writable open empties the mark before it changes anything. So the named
/// segment must be there, and be the newest: a missing one lost records, a
/// newer one does not belong to the log.
fn check_mark_names_the_newest(dir: &Path, segments: &[SegmentInfo], mark: CleanMark) -> Result<()> {
    let named = segments.iter().position(|s| s.first_seq == mark.segment.first_seq);
    match named {
        None => Err(Error::corrupt(
            &dir.join(segment::segment_name(mark.segment.first_seq)),
            "is missing: the last writer closed the log cleanly with it as the newest segment",
        )),
        Some(i) if i + 1 < segments.len() => Err(Error::corrupt(
            &segments[i + 1].path,
            format!(
                "does not belong to this log: the last writer closed it cleanly with {} as the newest segment",
                segments[i].path.display()
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// TAIL: the end of the log is where the newest segment's valid frames
/// stop, provided nothing the log proves durable lies there or after.
fn scan_newest(
    fs: &dyn Fs,
    opts: &Options,
    newest: &SegmentInfo,
    mark: Option<CleanMark>,
    repairs: &mut Repairs,
    report: &mut OpenReport,
) -> Result<(u64, Option<Newest>)> {
    let mut reader = SegmentReader::open(fs, newest, None)?;
    let marked_end = mark.filter(|m| m.segment.first_seq == newest.first_seq && m.segment.salt == reader.salt());
    let mut expected = reader.first_seq();
    loop {
        let stop = read_to_stop(&mut reader, &mut expected)?;
        let d = stop.offset;
        if let Some(mark) = marked_end.filter(|m| m.end > d) {
            return Err(damage_error(newest, stop, expected, format!(
                "the last writer closed the log cleanly when it was durable up to offset {}, so the damage is \
                 not an interrupted write",
                mark.end
            )));
        }
        let data_end = reader.data_end(d)?;
        if data_end > d {
            if let Some(witness) = reader.find_witness(d, expected, data_end)? {
                // Beside a read-only open a writer may be appending: the
                // frame that looked torn may have been half-written then and
                // whole now. Read again from there; only damage that stays
                // put is corruption.
                if opts.read_only {
                    reader.seek(d);
                    reader.refresh()?;
                    if let Ok(next) = reader.skip(expected)? {
                        expected = next;
                        continue;
                    }
                }
                return Err(damage_error(newest, stop, expected, format!(
                    "the frame at offset {} was written after the log was durable up to offset {}, so the damage \
                     is not an interrupted write",
                    witness.offset, witness.synced_end
                )));
            }
            repairs.cut = Some((newest.clone(), d));
            *report = OpenReport { tail_cut: true, cut_offset: d, bytes_cut: data_end - d, ..*report };
        }
        let proven = reader.proven().max(marked_end.map_or(0, |m| m.end)).min(d);
        let found = Newest {
            end: d,
            proven,
            records_end: reader.records_end(),
            frames_proven: reader.proven(),
            salt: reader.salt(),
        };
        return Ok((expected - 1, Some(found)));
    }
}

fn damage_error(segment: &SegmentInfo, stop: Stop, expected: u64, why: String) -> Error {
    Error::corrupt(
        &segment.path,
        format!(
            "damaged record at offset {} ({}), expected seq {expected}; {why}; WAL_RECOVER_SALVAGE keeps every \
             record before it",
            stop.offset, stop.reason
        ),
    )
}

/// Checks frames until the first one that is not whole and valid; leaves
/// in `expected` the seq expected there.
fn read_to_stop(reader: &mut SegmentReader, expected: &mut u64) -> Result<Stop> {
    loop {
        match reader.skip(*expected)? {
            Ok(next) => *expected = next,
            Err(stop) => return Ok(stop),
        }
    }
}

/// SALVAGE: read from the first segment; at the first damaged record, bad
/// header or gap, keep what came before and drop everything after.
fn scan_all(
    fs: &dyn Fs,
    segments: &mut Vec<SegmentInfo>,
    repairs: &mut Repairs,
    report: &mut OpenReport,
) -> Result<(u64, Option<Newest>)> {
    let mut expected = segments[0].first_seq;
    // The last segment read and where its valid frames stop.
    let mut kept: Option<(SegmentReader, Stop)> = None;
    let mut i = 0;
    while i < segments.len() {
        if !matches!(segment::inspect_header(fs, &segments[i])?, HeaderState::Sound(_)) {
            break; // a damaged header: the log ends before this segment
        }
        let mut reader = SegmentReader::open(fs, &segments[i], None)?;
        let stop = read_to_stop(&mut reader, &mut expected)?;
        kept = Some((reader, stop));
        i += 1;
        if segments.get(i).is_some_and(|s| s.first_seq != expected) {
            break; // damage or a missing segment: the log ends here
        }
    }
    let mut dropped = i < segments.len();
    repairs.drop_back.extend(segments.drain(i..));
    let Some((mut reader, stop)) = kept else {
        report.salvage_dropped_from = expected;
        return Ok((expected - 1, None));
    };
    let data_end = reader.data_end(stop.offset)?;
    if data_end > stop.offset {
        repairs.cut = Some((reader.info().clone(), stop.offset));
        *report = OpenReport { tail_cut: true, cut_offset: stop.offset, bytes_cut: data_end - stop.offset, ..*report };
        dropped = true;
    }
    if dropped {
        report.salvage_dropped_from = expected;
    }
    let found = Newest {
        end: stop.offset,
        proven: reader.proven(),
        records_end: reader.records_end(),
        frames_proven: reader.proven(),
        salt: reader.salt(),
    };
    Ok((expected - 1, Some(found)))
}

impl Recovered {
    /// Whether a writable open will change a file (cut or delete segments).
    pub fn has_repairs(&self) -> bool {
        let r = &self.repairs;
        r.cut.is_some() || !r.drop_back.is_empty() || !r.drop_front.is_empty()
    }
}

/// Opens the segment to cut for writing, before anything changes: a repair
/// the process may not make is refused with nothing changed on disk.
pub fn prepare(fs: &dyn Fs, recovered: &mut Recovered) -> Result<()> {
    if let Some((seg, _)) = &recovered.repairs.cut {
        let file = fs.open(&seg.path, OpenMode::WRITE).map_err(|e| Error::io("open segment", &seg.path, e))?;
        recovered.repairs.cut_file = Some(file);
    }
    Ok(())
}

/// Applies the repairs in an order that leaves a sound log if the process
/// dies half-way: the segments after the end go first, newest first (what
/// is left is a prefix of the log), then the cut, then the segments before
/// the start, oldest first (what is left is a suffix).
pub fn apply(fs: &dyn Fs, dir: &Path, recovered: &mut Recovered) -> Result<()> {
    let repairs = std::mem::take(&mut recovered.repairs);
    remove_segments(fs, dir, repairs.drop_back.iter().rev())?;
    if let Some((seg, at)) = &repairs.cut {
        // The segment cut becomes the one written to: its sidecar (if
        // SALVAGE cut a sealed one) goes, best effort (src/hint.rs).
        crate::hint::remove(fs, dir, [&*seg.path]);
        let file = match repairs.cut_file {
            Some(file) => file,
            None => fs.open(&seg.path, OpenMode::WRITE).map_err(|e| Error::io("open segment", &seg.path, e))?,
        };
        cut_segment(&*file, &seg.path, *at)?;
    }
    remove_segments(fs, dir, repairs.drop_front.iter())?;
    meta::remove_stale_tmp(fs, dir)
}

fn remove_segments<'a>(fs: &dyn Fs, dir: &Path, segments: impl Iterator<Item = &'a SegmentInfo> + Clone) -> Result<()> {
    // Their sidecars first, best effort: one left behind is deleted by the
    // open's trim (src/hint.rs), and a failure here fails nothing.
    if segments.clone().next().is_some() {
        crate::hint::remove(fs, dir, segments.clone().map(|s| &*s.path));
    }
    let mut removed = false;
    for seg in segments {
        fs.remove_file(&seg.path).map_err(|e| Error::io("remove segment", &seg.path, e))?;
        removed = true;
    }
    if removed {
        segment::sync_dir(fs, dir)?;
    }
    Ok(())
}

/// Cuts a segment at `at`: everything from there on is gone, so a later
/// append lands right after the last valid record (the writer reserves
/// space again as it appends).
fn cut_segment(file: &dyn crate::io::FsFile, path: &Path, at: u64) -> Result<()> {
    file.set_len(at).map_err(|e| Error::io("cut the damaged tail of", path, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}
