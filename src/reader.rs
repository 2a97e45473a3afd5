//! Reading the log back: an iterator over records in seq order.
//!
//! It reads segment files directly, while appends go on. In the active
//! segment it reads only up to the end the writer has published, so it never
//! sees half a frame; in a sealed segment it reads to the first frame that is
//! not valid and then requires the next segment to start exactly at the next
//! seq, so damage or a missing segment is an error, never a skipped record.

use crate::error::{Error, Result};
use crate::format;
use crate::io::OpenMode;
use crate::log::Inner;
use crate::format::FrameHeader;
use crate::segment::{SegmentInfo, SegmentReader, Step, Stop};
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// One record, borrowed from the iterator until its next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub seq: u64,
    pub op: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// Where the next record lies in the current frame's payload, which the
/// segment reader holds.
struct Cursor {
    header: FrameHeader,
    index: u32,
    at: usize,
}

/// A located record: its seq, op and where its key and value are.
struct Found {
    seq: u64,
    op: u8,
    key: Range<usize>,
    value: Range<usize>,
}

pub struct WalIter {
    inner: Arc<Inner>,
    /// Records at or below this seq are not returned.
    skip_upto: u64,
    /// The seq the next frame must carry.
    expected: u64,
    reader: Option<SegmentReader>,
    cursor: Option<Cursor>,
    /// An error is final: the iterator returns it from then on.
    failed: Option<Error>,
    /// The handle's cut epoch when this iterator last looked (see `cut_since`).
    epoch: u64,
}

impl WalIter {
    pub(crate) fn new(inner: Arc<Inner>, skip_upto: u64) -> WalIter {
        let epoch = inner.cuts.epoch();
        WalIter { inner, skip_upto, expected: 0, reader: None, cursor: None, failed: None, epoch }
    }

    /// The next record, None at the end of the log (as far as it is
    /// written now: a later call may find records appended since). Not an
    /// `Iterator`: each record borrows the iterator's buffer.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Record<'_>>> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(Some(found)) => {
                // `advance` returns a record only from the current frame,
                // whose payload the reader holds.
                let Some(reader) = self.reader.as_ref() else { return Ok(None) };
                let payload = reader.payload();
                Ok(Some(Record {
                    seq: found.seq,
                    op: found.op,
                    key: &payload[found.key],
                    value: &payload[found.value],
                }))
            }
            Ok(None) => Ok(None),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    fn advance(&mut self) -> Result<Option<Found>> {
        loop {
            match self.step() {
                Ok(Some(found)) if self.cut_since(found.seq)? => continue,
                Ok(None) if self.cut_since(self.next_wanted())? => continue,
                Err(_) if self.cut_since(self.next_wanted())? => continue,
                other => return other,
            }
        }
    }

    /// The seq of the next record this iterator would return.
    fn next_wanted(&self) -> u64 {
        match (&self.cursor, &self.reader) {
            (Some(c), _) => c.header.first_seq + c.index as u64,
            (None, Some(_)) => self.expected.max(self.skip_upto + 1),
            (None, None) => self.skip_upto + 1,
        }
    }

    /// After reading: whether a cut (`truncate_after`) was made since this
    /// iterator last looked, which may have changed what it read. If the
    /// record it wants next, `next`, lies above what the cut kept, it is
    /// gone (and a record appended later under its seq is another one):
    /// `Range`. Otherwise it starts again from `next`, on the files as cut.
    #[inline]
    fn cut_since(&mut self, next: u64) -> Result<bool> {
        // Checked after every record: the common answer, inline.
        match self.inner.cuts.epoch() {
            now if now == self.epoch => Ok(false),
            now => self.restart_after_cut(next, now),
        }
    }

    #[inline(never)]
    fn restart_after_cut(&mut self, next: u64, now: u64) -> Result<bool> {
        if let Some(kept) = self.inner.cuts.lowest_since(self.epoch).filter(|&kept| next > kept) {
            return Err(Error::range(format!(
                "record {next} was discarded by a cut after seq {kept} (truncate_after) while the iterator was open"
            )));
        }
        self.epoch = now;
        self.skip_upto = next - 1;
        self.reader = None;
        self.cursor = None;
        self.expected = 0;
        Ok(true)
    }

    fn step(&mut self) -> Result<Option<Found>> {
        loop {
            if let Some(found) = self.next_in_frame() {
                if found.seq <= self.skip_upto {
                    continue;
                }
                if found.seq <= self.inner.floor.load(Ordering::SeqCst) {
                    return Err(truncated_while_reading(found.seq));
                }
                return Ok(Some(found));
            }
            if self.reader.is_none() && !self.start()? {
                return Ok(None);
            }
            let Some(reader) = self.reader.as_mut() else { return Ok(None) };
            match reader.next(self.expected)? {
                Step::Frame(frame) => {
                    self.expected = frame.header.last_seq() + 1;
                    if frame.header.last_seq() > self.skip_upto {
                        self.cursor = Some(Cursor { header: frame.header, index: 0, at: 0 });
                    }
                }
                Step::Stop(stop) => {
                    if !self.after_stop(stop)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    fn next_in_frame(&mut self) -> Option<Found> {
        let cursor = self.cursor.as_mut()?;
        if cursor.index >= cursor.header.count {
            self.cursor = None;
            return None;
        }
        // The frame's entries were checked to fill its payload when it was
        // read; a failure here would be a bug, and ends the frame.
        let payload = self.reader.as_ref().map_or(&[][..], |r| r.payload());
        let Some((entry, next)) = format::next_entry(payload, cursor.at) else {
            self.cursor = None;
            return None;
        };
        let key_at = cursor.at + format::ENTRY_HEADER_LEN;
        let found = Found {
            seq: cursor.header.first_seq + cursor.index as u64,
            op: entry.op,
            key: key_at..key_at + entry.key.len(),
            value: key_at + entry.key.len()..next,
        };
        cursor.index += 1;
        cursor.at = next;
        Some(found)
    }

    /// Opens the segment holding the first wanted record; false when there
    /// is nothing to read yet.
    fn start(&mut self) -> Result<bool> {
        let (segment, limit) = {
            let st = self.inner.state();
            if self.skip_upto >= st.last_seq() {
                return self.at_end(&st).map(|()| false);
            }
            let want = self.skip_upto + 1;
            let holding = st.segments.partition_point(|s| s.first_seq <= want);
            let Some(segment) = holding.checked_sub(1).map(|i| st.segments[i].clone()) else {
                return Err(truncated_while_reading(want));
            };
            let limit = active_end(&st, segment.id);
            (segment, limit)
        };
        self.open_reader(&segment, limit)?;
        Ok(true)
    }

    /// Reading the current segment stopped: more data may have been
    /// published since, or the log goes on in the next segment, or the
    /// stop is damage. Returns false at the end of the log.
    fn after_stop(&mut self, stop: Stop) -> Result<bool> {
        let Some(reader) = self.reader.as_mut() else { return Ok(false) };
        let mut st = self.inner.state();
        // At the end of what is written of the active segment: frames
        // appended since may wait in the writer's buffer (WAL_SYNC_NONE and
        // EVERY); write them out so that this iterator returns them too.
        if let Some(active) = st.active.as_mut().filter(|a| a.id == reader.info().id && stop.offset >= a.end) {
            if !active.pending.is_empty() && !self.inner.poisoned.load(Ordering::SeqCst) {
                active.flush().inspect_err(|_| self.inner.poison())?;
            }
        }
        if let Some(end) = active_end(&st, reader.info().id) {
            if end > reader.limit() {
                reader.extend_limit(end);
                return Ok(true);
            }
            if stop.offset < reader.limit() {
                return Err(damage(reader, stop, self.expected));
            }
            return self.at_end(&st).map(|()| false);
        }
        // A sealed segment: it may have grown after this reader's limit was
        // taken (it was active then); read all of it.
        let still_listed = st.segments.iter().any(|s| s.id == reader.info().id);
        let file_len = reader.file_len()?;
        if still_listed && file_len > reader.limit() && stop.offset == reader.limit() {
            reader.extend_limit(file_len);
            return Ok(true);
        }
        let expected = self.expected;
        // The log goes on in the next segment, which must be named after the
        // next seq (never this one's file again, even if a new file took its
        // name after a truncate).
        let (first_seq, id) = (reader.first_seq(), reader.info().id);
        let next = st.segments.iter().find(|s| s.first_seq >= first_seq && s.id != id);
        if let Some(next) = next.filter(|s| s.first_seq == expected) {
            let next = next.clone();
            let limit = active_end(&st, next.id);
            drop(st);
            self.open_reader(&next, limit)?;
            return Ok(true);
        }
        // A truncate removed this segment while it was read: the records
        // it held are gone, not damaged. (A segment still listed that stops
        // below the floor stops at damage: its frame may hold live records.)
        if expected <= self.inner.floor.load(Ordering::SeqCst) && !still_listed {
            return Err(truncated_while_reading(expected));
        }
        if expected > st.last_seq() && next.is_none_or(|s| s.first_seq > expected) {
            return self.at_end(&st).map(|()| false);
        }
        Err(match next {
            Some(next) if next.first_seq < expected => Error::corrupt(
                &next.path,
                format!(
                    "overlaps {}, which holds seqs {first_seq} to {}: a segment file that does not belong here",
                    reader.path().display(),
                    expected - 1
                ),
            ),
            Some(next) if stop.at_end() => Error::corrupt(
                &next.path,
                format!(
                    "records {expected} to {} are missing: no segment holds them ({} ends at seq {}, this one \
                     starts at seq {})",
                    next.first_seq - 1,
                    reader.path().display(),
                    expected - 1,
                    next.first_seq
                ),
            ),
            Some(next) => Error::corrupt(
                reader.path(),
                format!(
                    "the log breaks off at offset {} ({}) after seq {}, but the next segment starts at seq {}",
                    stop.offset,
                    stop.reason,
                    expected - 1,
                    next.first_seq
                ),
            ),
            None => damage(reader, stop, expected),
        })
    }

    /// At the end of what is written: fine, unless the handle was poisoned
    /// with records assigned that never reached the file.
    fn at_end(&self, st: &crate::log::State) -> Result<()> {
        let behind = self.expected.max(self.skip_upto + 1) <= st.last_seq();
        if behind && self.inner.poisoned.load(Ordering::SeqCst) {
            return Err(Error::poisoned());
        }
        Ok(())
    }

    fn open_reader(&mut self, segment: &SegmentInfo, limit: Option<u64>) -> Result<()> {
        let fs = &*self.inner.fs;
        let reader = SegmentReader::open(fs, segment, limit).map_err(|e| {
            match fs.open(&segment.path, OpenMode::READ) {
                Err(gone) if gone.kind() == std::io::ErrorKind::NotFound => {
                    truncated_while_reading(segment.first_seq)
                }
                _ => e,
            }
        })?;
        self.expected = reader.first_seq();
        self.reader = Some(reader);
        Ok(())
    }
}

/// The published end of the segment with this id if it is the active one.
fn active_end(st: &crate::log::State, id: u64) -> Option<u64> {
    st.active.as_ref().filter(|a| a.id == id).map(|a| a.end)
}

fn damage(reader: &SegmentReader, stop: Stop, expected: u64) -> Error {
    Error::corrupt(
        reader.path(),
        format!("damaged record at offset {} ({}), expected seq {expected}", stop.offset, stop.reason),
    )
}

fn truncated_while_reading(seq: u64) -> Error {
    Error::range(format!("record {seq} was truncated while the iterator was reading"))
}
