//! What `open` finds on disk, and what it repairs. The decision table:
//!
//! | found                                                  | TAIL                | SALVAGE            |
//! |--------------------------------------------------------|---------------------|--------------------|
//! | segments wholly at or below the truncation floor       | deleted (leftovers of an interrupted truncate) | same |
//! | newest segment with an all-zero header, or shorter than one | deleted (interrupted creation) | same |
//! | a segment of another format version (sound header)     | CORRUPT             | CORRUPT, nothing deleted |
//! | first segment starts above floor + 1                   | CORRUPT (missing segment) | all dropped  |
//! | newest segment ends in a damaged frame, nothing valid after it | cut off (torn tail) | cut off  |
//! | damaged frame, newest segment, valid frames after it but none written after a sync that reached the damage | cut off (a power loss tore unsynced writes) | cut off |
//! | damaged frame, newest segment, a valid frame after it written after a sync that reached the damage | CORRUPT | cut there |
//! | damage or a seq gap in an older segment                | found by replay: CORRUPT | cut there, later segments dropped |
//!
//! TAIL reads only the newest segment, so opening a long log costs one
//! segment; older segments are checked when a replay reads them. SALVAGE
//! reads everything, since it must find the first damaged record.

use crate::error::{Error, ErrorKind, Result};
use crate::io::{Fs, OpenMode};
use crate::meta;
use crate::options::{Options, RecoveryMode};
use crate::segment::{self, SegmentInfo, SegmentReader, Step, Stop};
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

/// The log as recovery left it.
#[derive(Debug)]
pub struct Recovered {
    /// Every seq at or below this is truncated.
    pub floor: u64,
    /// The segments that hold the log, in order.
    pub segments: Vec<SegmentInfo>,
    /// The highest seq assigned so far.
    pub last_seq: u64,
    /// Where the newest segment's valid data ends (None: no segment).
    pub newest_end: Option<u64>,
    /// How far the newest segment was durable when its last valid frame was
    /// written (that frame's synced_end; 0 when it has none). The bytes
    /// after it may never have reached the disk, even if reads return them.
    pub newest_synced: u64,
    /// Where a torn write at the end of the newest segment starts: the
    /// bytes from there on are not all zeros and a writable open cuts them.
    pub torn_at: Option<u64>,
    /// What was found and cut (clean_close is filled in by the caller).
    pub report: OpenReport,
}

/// Changes recovery decided on, applied only by a writable open.
#[derive(Debug, Default)]
struct Repairs {
    /// Segments before the log's start, oldest first.
    drop_front: Vec<SegmentInfo>,
    /// Segments after the log's end, oldest first.
    drop_back: Vec<SegmentInfo>,
    cut: Option<(SegmentInfo, u64)>,
}

pub fn recover(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<Recovered> {
    let floor = meta::read_floor(fs, dir)?;
    if floor == u64::MAX {
        return Err(Error::corrupt(&dir.join(meta::META_FILE), "the truncation floor is out of range"));
    }
    let mut segments = segment::list_segments(fs, dir)?;
    let mut repairs = Repairs::default();

    // Leftovers of a truncate that recorded its floor but died before deleting.
    let wholly_below = segments.iter().skip(1).take_while(|s| s.first_seq <= floor + 1).count();
    repairs.drop_front.extend(segments.drain(..wholly_below));
    if let Some(newest) = segments.last() {
        if segment::is_unborn(fs, &newest.path)? {
            repairs.drop_back.push(segments.pop().unwrap());
        }
    }
    if let Some(first) = segments.first() {
        if first.first_seq > floor + 1 {
            let missing = format!(
                "records {} to {} are missing: the segment holding them is gone",
                floor + 1,
                first.first_seq - 1
            );
            match opts.recovery_mode {
                RecoveryMode::Tail => return Err(Error::corrupt(&first.path, missing)),
                RecoveryMode::Salvage => repairs.drop_back.append(&mut segments),
            }
        }
    }

    let (last_seq, newest_end, newest_synced) = match opts.recovery_mode {
        _ if segments.is_empty() => (floor, None, 0),
        RecoveryMode::Tail => scan_newest(fs, opts, &segments, &mut repairs)?,
        RecoveryMode::Salvage => scan_all(fs, &mut segments, &mut repairs)?,
    };
    let mut recovered =
        Recovered {
        floor,
        segments,
        last_seq: last_seq.max(floor),
        newest_end,
        newest_synced,
        torn_at: None,
        report: OpenReport::default(),
    };
    if newest_end.is_some() && last_seq <= floor {
        // Every record left is truncated: a truncate died before deleting.
        repairs.drop_front.append(&mut recovered.segments);
        repairs.cut = None;
        recovered.newest_end = None;
    }
    recovered.torn_at = repairs.cut.as_ref().map(|(_, at)| *at);
    if let Some((seg, at)) = &repairs.cut {
        let len = fs.open(&seg.path, OpenMode::READ).and_then(|f| f.size()).map_err(|e| Error::io("stat", &seg.path, e))?;
        recovered.report = OpenReport { tail_cut: true, cut_offset: *at, bytes_cut: len.saturating_sub(*at), ..recovered.report };
    }
    if !opts.read_only {
        apply(fs, dir, opts, repairs)?;
    }
    Ok(recovered)
}

/// Reads frames until the first one that is not whole and valid; returns
/// the seq expected there, the stop, and the last frame's synced_end (0: none).
fn read_to_stop(reader: &mut SegmentReader, mut expected: u64) -> Result<(u64, Stop, u64)> {
    let mut synced = 0;
    loop {
        match reader.next(expected)? {
            Step::Frame(frame) => {
                expected = frame.header.last_seq() + 1;
                synced = frame.header.synced_end;
                reader.recycle(frame.payload);
            }
            Step::Stop(stop) => return Ok((expected, stop, synced)),
        }
    }
}

/// TAIL: the end of the log is the end of the newest segment's valid frames,
/// provided nothing valid follows the point where they stop.
fn scan_newest(
    fs: &dyn Fs,
    opts: &Options,
    segments: &[SegmentInfo],
    repairs: &mut Repairs,
) -> Result<(u64, Option<u64>, u64)> {
    let newest = segments.last().unwrap();
    let mut reader = SegmentReader::open(fs, newest, None)?;
    let mut expected = reader.first_seq();
    let mut synced = 0;
    loop {
        let (next, stop, last_synced) = read_to_stop(&mut reader, expected)?;
        expected = next;
        synced = synced.max(last_synced);
        let (witness, has_data) = durable_witness(&mut reader, stop.offset, expected)?;
        let Some((at, synced_end)) = witness else {
            if has_data {
                repairs.cut = Some((newest.clone(), stop.offset));
            }
            return Ok((expected - 1, Some(stop.offset), synced));
        };
        // Beside a read-only open a writer may be appending: the frame that
        // looked torn may have been half-written then and whole now. Read
        // again from there; only damage that stays put is corruption.
        reader.seek(stop.offset);
        if opts.read_only {
            reader.refresh()?;
            if let Step::Frame(frame) = reader.next(expected)? {
                expected = frame.header.last_seq() + 1;
                continue;
            }
        }
        return Err(Error::corrupt(
            &newest.path,
            format!(
                "damaged record at offset {} ({}), expected seq {expected}; the record at offset {at} was written \
                 after the log was durable up to offset {synced_end}, so the damage is not an interrupted write; \
                 WAL_RECOVER_SALVAGE keeps every record before it",
                stop.offset, stop.reason
            ),
        ));
    }
}

/// Looks at the valid frames after `damage`, a point where reading stopped,
/// for one that proves the bytes there had been made durable: a frame whose
/// synced_end lies past `damage` was written after an fdatasync covered
/// them, so a power loss cannot have lost them. Returns that frame's offset
/// and synced_end, or None: every byte from `damage` on may have been in
/// flight when the power went, a torn write, not damage. Also says whether
/// any byte from `damage` on is not zero.
fn durable_witness(reader: &mut SegmentReader, damage: u64, min_seq: u64) -> Result<(Option<(u64, u64)>, bool)> {
    let first = reader.scan_tail(damage, min_seq)?;
    let mut found = first.valid_frame_at;
    while let Some((at, header)) = found {
        // Follow the run of frames that starts there.
        reader.seek(at);
        let mut expected = header.first_seq;
        loop {
            let offset = reader.position();
            match reader.next(expected)? {
                Step::Frame(frame) if frame.header.synced_end > damage => {
                    return Ok((Some((offset, frame.header.synced_end)), first.has_data));
                }
                Step::Frame(frame) => expected = frame.header.last_seq() + 1,
                Step::Stop(stop) => {
                    found = reader.scan_tail(stop.offset, expected)?.valid_frame_at;
                    break;
                }
            }
        }
    }
    Ok((None, first.has_data))
}

/// SALVAGE: read from the first segment; at the first damaged record or gap,
/// keep what came before and drop everything after.
fn scan_all(fs: &dyn Fs, segments: &mut Vec<SegmentInfo>, repairs: &mut Repairs) -> Result<(u64, Option<u64>, u64)> {
    let mut expected = segments[0].first_seq;
    // The last segment read, where its valid frames stop, and the last one's synced_end.
    let mut kept: Option<(SegmentReader, Stop, u64)> = None;
    let mut i = 0;
    while i < segments.len() {
        let Some(mut reader) = open_for_salvage(fs, &segments[i])? else { break };
        let (next, stop, synced) = read_to_stop(&mut reader, expected)?;
        expected = next;
        kept = Some((reader, stop, synced));
        i += 1;
        if segments.get(i).is_some_and(|s| s.first_seq != expected) {
            break; // damage or a missing segment: the log ends here
        }
    }
    repairs.drop_back.extend(segments.drain(i..));
    let Some((mut reader, stop, synced)) = kept else {
        return Ok((expected - 1, None, 0));
    };
    if reader.scan_tail(stop.offset, 0)?.has_data {
        repairs.cut = Some((segments.last().unwrap().clone(), stop.offset));
    }
    Ok((expected - 1, Some(stop.offset), synced))
}

/// A segment's reader, or None when its header is damaged (the log ends
/// before it). A segment of another format version is not damage: it is
/// refused, never "repaired".
fn open_for_salvage(fs: &dyn Fs, segment: &SegmentInfo) -> Result<Option<SegmentReader>> {
    match SegmentReader::open(fs, segment, None) {
        Ok(reader) => Ok(Some(reader)),
        Err(e) if e.kind() == ErrorKind::Corrupt => match segment::foreign_version(fs, &segment.path)? {
            Some(version) => Err(segment::foreign_version_error(&segment.path, version)),
            None => Ok(None),
        },
        Err(e) => Err(e),
    }
}

/// Applies the repairs in an order that leaves a sound log if the process
/// dies half-way: the segments after the end go first, newest first (what
/// is left is a prefix of the log), then the cut, then the segments before
/// the start, oldest first (what is left is a suffix).
fn apply(fs: &dyn Fs, dir: &Path, opts: &Options, repairs: Repairs) -> Result<()> {
    remove_segments(fs, dir, repairs.drop_back.iter().rev())?;
    if let Some((seg, at)) = &repairs.cut {
        cut_segment(fs, &seg.path, *at, opts.preallocate.then_some(opts.segment_size))?;
    }
    remove_segments(fs, dir, repairs.drop_front.iter())?;
    meta::remove_stale_tmp(fs, dir)
}

fn remove_segments<'a>(fs: &dyn Fs, dir: &Path, segments: impl Iterator<Item = &'a SegmentInfo>) -> Result<()> {
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

/// Cuts a segment at `at`: everything from there on becomes zeros (or is gone),
/// so a later append lands right after the last valid record.
fn cut_segment(fs: &dyn Fs, path: &Path, at: u64, preallocate: Option<u64>) -> Result<()> {
    let file = fs.open(path, OpenMode::WRITE).map_err(|e| Error::io("open segment", path, e))?;
    file.set_len(at).map_err(|e| Error::io("cut the damaged tail of", path, e))?;
    if let Some(len) = preallocate {
        file.allocate(len).map_err(|e| Error::io("preallocate", path, e))?;
    }
    file.sync_all().map_err(|e| Error::io("fsync", path, e))
}
