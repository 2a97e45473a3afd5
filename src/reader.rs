//! Reading the log back: an iterator over records in seq order.
//!
//! It reads segment files directly, while appends go on. In the active
//! segment it reads only up to the end the writer has published, so it never
//! sees half a frame; in a sealed segment it reads to the first frame that is
//! not valid and then requires the next segment to start exactly at the next
//! seq, so damage or a missing segment is an error, never a skipped record.

use crate::error::{Error, Result};
use crate::format::{self, SEGMENT_HEADER_LEN};
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
    /// The reader was moved by the seek index and has not read a frame
    /// since: a stop there means the index was wrong, not damage.
    seeked: bool,
    cursor: Option<Cursor>,
    /// An error is final: the iterator returns it from then on.
    failed: Option<Error>,
    /// The handle's cut epoch when this iterator last looked (see `cut_since`).
    epoch: u64,
}

impl WalIter {
    pub(crate) fn new(inner: Arc<Inner>, skip_upto: u64) -> WalIter {
        let epoch = inner.cuts.epoch();
        WalIter { inner, skip_upto, expected: 0, reader: None, seeked: false, cursor: None, failed: None, epoch }
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
                Err(e) if e.kind() == crate::error::ErrorKind::Corrupt && self.changed_by_its_writer() => {
                    return Err(Error::range(format!(
                        "the log's writer truncated or cut it since this read-only handle opened it, and the records \
                         from seq {} on are no longer what the handle found: open it again ({e})",
                        self.next_wanted()
                    )));
                }
                other => return other,
            }
        }
    }

    /// Read-only: whether another handle changed wal.meta (a truncate, a
    /// cut) since this one opened, so that a segment read now may not be
    /// the one the open found. Only asked after an error.
    fn changed_by_its_writer(&self) -> bool {
        self.inner.opts.read_only
            && crate::meta::read_full(&*self.inner.fs, &self.inner.dir).map_or(true, |now| now != self.inner.meta_at_open)
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
        self.seeked = false;
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
            // Frames before the first wanted record are checked without
            // copying their payload; the one holding it is read whole.
            match reader.next_from(&mut self.expected, self.skip_upto + 1)? {
                Step::Stop(_) if std::mem::take(&mut self.seeked) => self.index_missed(),
                Step::Frame(frame) => {
                    self.seeked = false;
                    self.cursor = Some(Cursor { header: frame.header, index: 0, at: 0 });
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

    /// Opens the segment holding the first wanted record, at the frame the
    /// seek index says is at or before that record's (binary searches of
    /// the segments, then of the segment's index); false when there is
    /// nothing to read yet.
    fn start(&mut self) -> Result<bool> {
        let (segment, limit, past_first) = {
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
            let log_first = st.first_seq(self.inner.floor.load(Ordering::SeqCst));
            (segment, limit, want > log_first)
        };
        self.open_reader(&segment, limit)?;
        let Some(reader) = self.reader.as_mut() else { return Ok(false) };
        let want = self.skip_upto + 1;
        // A sealed segment the index knows nothing of yet may have its
        // index stored beside it (src/hint.rs): loaded once, checked on use
        // (a sealed reader's limit is the file's length). Not for a replay
        // from the log's first record: it reads the first segment from its
        // start, the truncated frames before that record too, as SALVAGE
        // does, so that it meets any damage there as it did before hints.
        let hinted = limit.is_none()
            && past_first
            && crate::hint::consult(&*self.inner.fs, &segment, reader.salt(), want, reader.limit(), self.inner.opts.segment_size);
        let from = segment.index.lookup(reader.salt(), want, reader.limit());
        if hinted || from != segment.index.start() {
            // (Also tells the reader's walk where the frontier is now.)
            reader.seek(from.offset);
            self.expected = from.seq;
            self.seeked = from != segment.index.start();
        }
        Ok(true)
    }

    /// The frame the seek index pointed at did not check out (a stale or
    /// wrong entry: the writer's frames are always there): forget the
    /// index and read the segment from its start, as without one. Damage
    /// at that frame is then met, and reported, in order. (A cut made
    /// since the lookup explains it too; the iterator then starts again
    /// from its next record anyway, see `cut_since`.)
    fn index_missed(&mut self) {
        if let Some(reader) = self.reader.as_mut() {
            if self.inner.cuts.epoch() == self.epoch {
                reader.info().index.reset();
            }
            reader.seek(SEGMENT_HEADER_LEN as u64);
            self.expected = reader.first_seq();
        }
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

#[cfg(test)]
mod tests {
    //! A seek index that is wrong must never change what an iterator
    //! returns: each kind of wrong entry is caught by the frame checks at
    //! the offset sought, and the iterator reads the segment from its start.
    use crate::index::{Pos, SPACING};
    use crate::io::{Fs, SimFs};
    use crate::{Entry, Options, SyncMode, Wal};
    use std::path::Path;
    use std::sync::Arc;

    type Row = (u64, Vec<u8>, Vec<u8>);

    fn rows(wal: &Wal, after: u64, take: usize) -> Vec<Row> {
        let mut it = wal.iter(after).unwrap();
        let mut out = Vec::new();
        while out.len() < take {
            match it.next().unwrap() {
                Some(r) => out.push((r.seq, r.key.to_vec(), r.value.to_vec())),
                None => break,
            }
        }
        out
    }

    /// A log on an in-memory file system: a sealed 1 MiB segment of
    /// 100-byte records and batches of 5, and a second one being written.
    fn log() -> Wal {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/log")).unwrap();
        let opts = Options { segment_size: 1 << 20, sync_mode: SyncMode::None, ..Options::default() };
        let wal = Wal::open_in(Arc::new(fs), "/log", opts).unwrap();
        let mut i = 0u64;
        while wal.inner.state().segments.len() < 2 {
            i += 1;
            let value = vec![i as u8; 100];
            if i % 7 == 0 {
                let entries: Vec<Entry> = (0..5).map(|_| Entry { op: 2, key: b"batch", value: &value }).collect();
                wal.append_batch(&entries).unwrap();
            } else {
                wal.append(1, format!("k{i}").as_bytes(), &value).unwrap();
            }
        }
        wal.sync().unwrap();
        wal
    }

    /// The first segment's index, as the writer built it, and its last seq.
    fn first_segment(wal: &Wal) -> (Arc<crate::index::SegmentIndex>, u64) {
        let st = wal.inner.state();
        (st.segments[0].index.clone(), st.segments[1].first_seq - 1)
    }

    /// Seeks at seqs spread over the first segment give what a scan gives.
    fn check_seeks(wal: &Wal, all: &[Row], last: u64, what: &str) {
        for after in (0..last).step_by(97).chain([last - 2, last - 1]) {
            let want: Vec<Row> = all.iter().filter(|r| r.0 > after).take(12).cloned().collect();
            let got = rows(wal, after, 12);
            let seqs = |rows: &[Row]| rows.iter().map(|r| r.0).collect::<Vec<_>>();
            assert!(got == want, "{what}: iter({after}) gave seqs {:?}, a scan {:?}", seqs(&got), seqs(&want));
        }
    }

    #[test]
    fn wrong_index_entries_are_caught_and_never_change_what_is_read() {
        let wal = log();
        let all = rows(&wal, 0, usize::MAX);
        let (index, last) = first_segment(&wal);
        let (good, walked, written) = index.snapshot();
        assert!(good.len() > 30, "{} entries", good.len());
        check_seeks(&wal, &all, last, "the writer's index");
        assert_eq!(index.misses(), 0, "a right index never misses");
        let moved = |offset: u64, seq: i64| -> Vec<Pos> {
            let shift = |e: &Pos| Pos { offset: e.offset + offset, seq: e.seq.saturating_add_signed(seq).max(1) };
            good.iter().map(shift).collect()
        };
        // (what, the entries, whether a seek by them misses)
        let wrongs = [
            // Inside a frame: the header checksum fails.
            ("offsets 7 bytes off", moved(7, 0), true),
            // A frame's offset with another seq: the seq check fails (a
            // reader that took the frame's own seq would return records
            // after the wanted one, or before it).
            ("seqs 3 too high", moved(0, 3), true),
            ("seqs 3 too low", moved(0, -3), true),
            // Past the end of the file: the lookup never returns them.
            ("offsets past the file", moved(8 << 20, 0), false),
        ];
        for (what, wrong, missed) in wrongs {
            index.force(wrong, walked, written);
            let misses = index.misses();
            check_seeks(&wal, &all, last, what);
            assert_eq!(index.misses() > misses, missed, "{what}: misses {misses} -> {}", index.misses());
        }
        // A frontier past the data: the first seek starts there, misses,
        // and reads from the segment's start.
        index.force(Vec::new(), Pos { offset: 900_000, seq: 5 }, None);
        check_seeks(&wal, &all, last, "a wrong frontier");
        // After a reset the index is built again by the reads.
        let (rebuilt, _, _) = index.snapshot();
        assert!(!rebuilt.is_empty());
        assert!(rebuilt.windows(2).all(|w| w[1].offset >= w[0].offset + SPACING));
    }

    #[test]
    fn an_index_left_stale_by_a_cut_never_returns_a_discarded_record() {
        let wal = log();
        // The second segment, being written: cut inside it, append other
        // records under the discarded seqs, then put back the index as it
        // was before the cut (as if the cut had not told it).
        for _ in 0..3000 {
            wal.append(1, b"old", &[1u8; 60]).unwrap();
        }
        let (index, cut_seq) = {
            let st = wal.inner.state();
            (st.segments[1].index.clone(), st.segments[1].first_seq + 400)
        };
        check_seeks(&wal, &rows(&wal, 0, usize::MAX), wal.last_seq(), "before the cut");
        let stale = index.snapshot();
        wal.truncate_after(cut_seq).unwrap();
        for i in 0..3000u32 {
            let value = vec![2u8; 10 + (i % 90) as usize];
            wal.append(1, b"new", &value).unwrap();
        }
        index.force(stale.0, stale.1, stale.2);
        let all = rows(&wal, 0, usize::MAX);
        assert!(all.iter().filter(|r| r.0 > cut_seq).all(|r| r.1 == b"new"));
        for after in (cut_seq - 50..wal.last_seq()).step_by(31) {
            let want: Vec<Row> = all.iter().filter(|r| r.0 > after).take(12).cloned().collect();
            assert!(rows(&wal, after, 12) == want, "iter({after}) after a cut the index was not told of");
        }
    }

    /// `cargo test --release --lib -- --ignored --nocapture index_memory`:
    /// what the index of a full 64 MiB segment holds, for records of
    /// several sizes, written by this handle and walked after a reopen.
    #[test]
    #[ignore]
    fn index_memory_of_a_full_64_mib_segment() {
        for value_len in [0usize, 100, 1000] {
            let fs = SimFs::new();
            fs.create_dir_all(Path::new("/log")).unwrap();
            let opts = Options { sync_mode: SyncMode::None, ..Options::default() };
            let wal = Wal::open_in(Arc::new(fs.clone()), "/log", opts).unwrap();
            let value = vec![7u8; value_len];
            let mut i = 0u64;
            while wal.inner.state().segments.len() < 2 {
                i += 1;
                wal.append(1, format!("key-{i}").as_bytes(), &value).unwrap();
            }
            let (index, last) = first_segment(&wal);
            let written = (index.snapshot().0.len(), index.memory());
            drop(wal);
            let wal = Wal::open_in(Arc::new(fs), "/log", opts).unwrap();
            rows(&wal, last - 1, 1); // the first read walks the sealed segment
            let (index, _) = first_segment(&wal);
            let walked = (index.snapshot().0.len(), index.memory());
            println!(
                "index of a full 64 MiB segment, {last} records of {value_len}-byte values: written {} entries, \
                 {} bytes; walked after a reopen {} entries, {} bytes ({:.2} MiB per GiB of log)",
                written.0,
                written.1,
                walked.0,
                walked.1,
                written.1.max(walked.1) as f64 * 16.0 / (1 << 20) as f64
            );
        }
    }

    #[test]
    fn the_index_holds_one_entry_per_spacing_of_segment() {
        let wal = log();
        let (index, _) = first_segment(&wal);
        let entries = index.snapshot().0.len() as u64;
        let bound = (1 << 20) / SPACING + 1;
        assert!(entries <= bound, "{entries} entries for a 1 MiB segment");
        assert!(index.memory() as u64 <= bound * 16 * 5 / 4 + 16 * 16, "{} bytes", index.memory());
    }
}
