//! The seek index: where a segment's frames lie, so that an iterator opened
//! at any seq starts reading at most `SPACING` bytes (plus the frame holding
//! the seq) before it, instead of at the start of its segment.
//!
//! One `SegmentIndex` per segment, held by its `SegmentInfo` (so it goes
//! when the segment leaves the log's list, and a new file, even at the same
//! name, starts with an empty one). It is kept in memory only and fed by
//! what the library does anyway:
//!
//! - the writer notes each frame it appends (`note_written`): the *written*
//!   region, from the first frame it noted to the end;
//! - every `SegmentReader` that reads frames in order from the index's
//!   *walked* frontier notes them (`Walk`): recovery's scan of the newest
//!   segment at open, SALVAGE's scan of every segment, an iterator's first
//!   read of a sealed segment. The walked region runs from the segment's
//!   start to the frontier.
//!
//! An entry is `(offset, seq)`: a frame holding records starts at `offset`
//! and its first record is `seq`. Entries are at least `SPACING` bytes
//! apart within each region, so the index holds at most one entry per
//! `SPACING` bytes of segment (16 bytes each). A seek to a seq the two
//! regions do not cover (a sealed segment written by an earlier process,
//! not read yet) starts at the walked frontier, and its read extends it.
//!
//! The index is a hint, never a source of truth. The reader checks the
//! frame it seeks to like any other (salted header checksum, the expected
//! seq, payload checksum), and every frame after it. Seeking to a wrong
//! offset (a stale entry) therefore fails that check and never yields a
//! wrong record; the iterator then reads the segment from its start, as it
//! would without an index, and `reset` forgets the index (`misses` counts
//! it). What the index decides is only where reading starts: at or before
//! the frame holding the wanted seq. Frames before that point are not read,
//! so damage there is not reported by this iterator (it is by any reader
//! that reads those records: the index never makes a reader skip a record
//! it returns or a frame between two records it returns).
//!
//! A sealed segment written by an earlier process has no in-memory index,
//! but it may have a sidecar (`src/hint.rs`): the index the writer held
//! when it sealed the segment, stored beside it. The first lookup that the
//! index cannot answer (`wants_sidecar`) loads it, once per segment, and
//! `install` makes its entries the index, its end the walked frontier:
//! entries like any other, checked on use, and forgotten on a miss.
//! `covering` is what the writer stores: the entries, when the two regions
//! together cover the whole segment.
//!
//! Operations that change a segment's frames must tell its index:
//! `cut_after` when the newest records are cut (`Wal::truncate_after`).
//! Segments that leave the log (truncate, SALVAGE, a cut that deletes the
//! newer segments) take their index with them; a recycled file is a new
//! `SegmentInfo` (new id, new salt, new name) with a new, empty index.

use crate::format::{FrameHeader, SEGMENT_HEADER_LEN};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Entries of one region are at least this many bytes apart: a seek reads
/// at most this much before the frame holding its seq. 16 bytes per
/// SPACING of segment: 1 MiB of memory per GiB of log.
pub(crate) const SPACING: u64 = 16 << 10;

/// Walked entries handed to the index at once (and at every stop).
const WALK_BATCH: usize = 64;

const START: u64 = SEGMENT_HEADER_LEN as u64;

/// A frame boundary: a frame starts at `offset` and carries `seq` as its
/// first seq (a sync mark: the seq of the frame after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub offset: u64,
    pub seq: u64,
}

/// Where a segment's frames lie; see the module's documentation.
pub struct SegmentIndex {
    first_seq: u64,
    /// The writer notes a frame (under the lock) only at or past this
    /// offset: most appends look at this and nothing else. 0: the next
    /// frame is the first the writer notes.
    writer_due: AtomicU64,
    state: Mutex<Entries>,
}

#[derive(Debug)]
struct Entries {
    /// The salt of the file the entries describe: a reader of another file
    /// under the same `SegmentInfo` (which the library never does) resets
    /// the index rather than seek by it.
    salt: Option<u32>,
    /// Bumped by every change that invalidates positions (a cut, a reset):
    /// a walk that began before it hands nothing in.
    generation: u64,
    /// Frames holding records: offsets and seqs both strictly increase.
    entries: Vec<Pos>,
    /// The end of the walked region: every frame from the segment's start to
    /// here was read in order and lies less than SPACING after an entry (or
    /// the start).
    walked: Pos,
    /// The first frame the writer noted: from here on every frame is the
    /// writer's, each less than SPACING after one of its entries.
    written_from: Option<Pos>,
    /// How often a seek by this index did not check out.
    misses: u64,
    /// The segment's sidecar was looked for (success or not): it is loaded
    /// at most once, whatever happens to the index later.
    sidecar_tried: bool,
}

impl std::fmt::Debug for SegmentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        let n = st.entries.len();
        write!(f, "SegmentIndex({n} entries, walked {:?}, written from {:?})", st.walked, st.written_from)
    }
}

impl SegmentIndex {
    pub fn new(first_seq: u64) -> SegmentIndex {
        SegmentIndex {
            first_seq,
            writer_due: AtomicU64::new(0),
            state: Mutex::new(Entries {
                salt: None,
                generation: 0,
                entries: Vec::new(),
                walked: Pos { offset: START, seq: first_seq },
                written_from: None,
                misses: 0,
                sidecar_tried: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The segment's first frame.
    pub fn start(&self) -> Pos {
        Pos { offset: START, seq: self.first_seq }
    }

    /// Where a reader of the file with `salt` starts to reach `want`: a
    /// frame boundary below `limit` (the end of what it may read) at or
    /// before the frame holding `want`; the segment's start when the index
    /// knows no better. O(log n) in the entries.
    pub fn lookup(&self, salt: u32, want: u64, limit: u64) -> Pos {
        let start = self.start();
        let mut st = self.lock();
        if !st.adopt(salt, self) {
            return start;
        }
        let below = st.entries.partition_point(|e| e.seq <= want);
        let best = st.entries[..below].iter().rev().find(|e| e.offset < limit).copied();
        let covered = st.covers(want);
        match best {
            _ if !covered && st.walked.offset < limit && st.walked.seq <= want => st.walked,
            Some(e) => e,
            None => start,
        }
    }

    /// Whether a lookup of `want` in the file with `salt` should first load
    /// the segment's sidecar: the index does not cover `want`, and the
    /// sidecar was not tried yet (it is marked tried now). The generation
    /// to hand to `install`.
    pub fn wants_sidecar(&self, salt: u32, want: u64) -> Option<u64> {
        let mut st = self.lock();
        // (The segment's first record needs none: it is at the start.)
        if want <= self.first_seq || st.sidecar_tried || !st.adopt(salt, self) || st.covers(want) {
            return None;
        }
        st.sidecar_tried = true;
        Some(st.generation)
    }

    /// Takes a sidecar's entries (strictly increasing, checked by its
    /// decoder) as the index of the file with `salt`, and `end` (where the
    /// frames end, and the seq after the last record) as the walked
    /// frontier, unless the index changed since `wants_sidecar` gave
    /// `generation`, the writer writes to the segment, or the walks went as
    /// far already. Whether it took them. The entries are as bounded as the
    /// index's own: one per SPACING of the segment file (see `hint`).
    pub fn install(&self, salt: u32, generation: u64, entries: Vec<Pos>, end: Pos) -> bool {
        let mut st = self.lock();
        let changed = st.salt != Some(salt) || st.generation != generation;
        if changed || st.written_from.is_some() || end.offset <= st.walked.offset || end.seq <= st.walked.seq {
            return false;
        }
        // Walks under way hand nothing in: their frontier is gone.
        st.generation += 1;
        st.entries = entries;
        st.walked = end;
        true
    }

    /// The entries, if the index of the file with `salt` covers every frame
    /// of the segment, which is sealed: its frames end at `end.offset`, its
    /// last record is `end.seq - 1`. The writer wrote it from its start, or
    /// walks joined the writer's frames, or walks read every record.
    pub fn covering(&self, salt: u32, end: Pos) -> Option<Vec<Pos>> {
        let st = self.lock();
        if st.salt != Some(salt) {
            return None;
        }
        // The written region starts where the walked one ends, or after
        // sync marks only (the seq did not move: the open's sync mark).
        let joined = st.written_from.is_some_and(|w| w.seq <= st.walked.seq && w.offset >= st.walked.offset);
        let whole = joined || st.walked.seq >= end.seq;
        whole.then(|| st.entries.iter().copied().filter(|e| e.offset < end.offset && e.seq < end.seq).collect())
    }

    /// The writer appended a frame holding records at `offset`, first seq
    /// `seq`, to the file with `salt` (it may still be in the writer's
    /// buffer: `lookup` never returns a position at or past a reader's
    /// limit). Called for every frame, in order, under the log's lock.
    pub fn note_written(&self, salt: u32, offset: u64, seq: u64) {
        let due = self.writer_due.load(Ordering::Relaxed);
        if due != 0 && offset < due {
            return;
        }
        let mut st = self.lock();
        if !st.adopt(salt, self) {
            return;
        }
        let at = Pos { offset, seq };
        if st.entries.last().is_some_and(|e| e.offset >= offset || e.seq >= seq) {
            // Not after what the index holds: a frame the index already
            // knows, or one it cannot place. Never unsorted.
            return;
        }
        if st.written_from.is_none() {
            st.written_from = Some(at);
        }
        if offset > START {
            // (The segment's start needs no entry: it is where a lookup
            // that finds none starts.)
            push(&mut st.entries, at);
        }
        self.writer_due.store(offset + SPACING, Ordering::Relaxed);
    }

    /// The records after `seq` were cut from this segment, whose data now
    /// ends at `end` (the end of the frame holding `seq`, rewritten if the
    /// cut fell inside it; the segment's start if `seq` is below its first
    /// seq). Entries past `seq` go; the regions end at `end`. Call it under
    /// the log's lock, before the writer appends after the cut.
    pub fn cut_after(&self, seq: u64, end: u64) {
        let mut st = self.lock();
        if seq < self.first_seq || st.walked.seq <= seq && st.walked.offset > end {
            // Nothing of the segment is left, or the index contradicts the
            // cut: start over.
            st.clear(self);
            return;
        }
        st.generation += 1;
        st.entries.retain(|e| e.seq <= seq && e.offset < end);
        if st.walked.seq > seq {
            // The walked region reached the cut; the frames up to the one
            // holding `seq` are unchanged (that one may be shorter).
            st.walked = Pos { offset: end, seq: seq + 1 };
        }
        if st.written_from.is_some_and(|w| w.seq > seq) {
            st.written_from = None;
        }
        let due = match st.written_from {
            Some(_) => st.entries.last().map_or(0, |e| e.offset + SPACING),
            None => 0,
        };
        self.writer_due.store(due, Ordering::Relaxed);
    }

    /// Forgets everything: a seek by the index did not check out.
    pub fn reset(&self) {
        let mut st = self.lock();
        st.misses += 1;
        st.clear(self);
    }

    #[cfg(test)]
    /// How often a seek by this index did not check out (tests).
    pub fn misses(&self) -> u64 {
        self.lock().misses
    }

    #[cfg(test)]
    /// (entries, walked frontier, first written frame), for tests and
    /// memory figures.
    pub fn snapshot(&self) -> (Vec<Pos>, Pos, Option<Pos>) {
        let st = self.lock();
        (st.entries.clone(), st.walked, st.written_from)
    }

    /// Replaces the entries (tests: a deliberately wrong index).
    #[cfg(test)]
    pub(crate) fn force(&self, entries: Vec<Pos>, walked: Pos, written_from: Option<Pos>) {
        let mut st = self.lock();
        st.entries = entries;
        st.walked = walked;
        st.written_from = written_from;
    }

    #[cfg(test)]
    /// Bytes of memory the entries take (their capacity).
    pub fn memory(&self) -> usize {
        self.lock().entries.capacity() * std::mem::size_of::<Pos>()
    }

    /// A walk's view of the frontier: (walked, the last entry's offset
    /// before it, generation), or None if the index describes another file.
    fn frontier(&self, salt: u32) -> Option<(Pos, u64, u64)> {
        let mut st = self.lock();
        if !st.adopt(salt, self) {
            return None;
        }
        let walked = st.walked;
        let below = st.entries.partition_point(|e| e.offset < walked.offset);
        let last = below.checked_sub(1).map_or(START, |i| st.entries[i].offset);
        Some((walked, last, st.generation))
    }

    /// Takes in what a walk read from `from` to `to` (entries in between),
    /// if the frontier is still at `from`. Returns the frontier as it is
    /// now (None when the index describes another file).
    fn extend(&self, salt: u32, generation: u64, from: Pos, to: Pos, found: &[Pos]) -> Option<(Pos, u64, u64)> {
        {
            let mut st = self.lock();
            if st.salt != Some(salt) {
                return None;
            }
            if st.generation == generation && st.walked == from {
                // The written region starts where the writer's first frame
                // is; the walk stops there (both are the same chain).
                let until = st.written_from.map_or(u64::MAX, |w| w.offset);
                let at = st.entries.partition_point(|e| e.offset < from.offset);
                let take = found.iter().copied().filter(|e| e.offset < until && e.offset >= from.offset);
                let tail = st.entries.split_off(at);
                take.chain(tail).for_each(|e| push(&mut st.entries, e));
                st.walked = match st.written_from {
                    Some(w) if to.offset >= w.offset => w,
                    _ => to,
                };
            }
        }
        self.frontier(salt)
    }
}

/// Appends, growing the Vec by a quarter when full (not doubling): an
/// index holds at most a quarter more than its entries (and a segment
/// smaller than SPACING, none).
fn push(entries: &mut Vec<Pos>, at: Pos) {
    if entries.len() == entries.capacity() {
        entries.reserve_exact(entries.len() / 4 + 4);
    }
    entries.push(at);
}

impl Entries {
    /// Whether the regions cover `want`: walked past it, or written from
    /// at or before it.
    fn covers(&self, want: u64) -> bool {
        want < self.walked.seq || self.written_from.is_some_and(|w| want >= w.seq)
    }

    /// Whether the index describes the file with `salt` (taking it if it
    /// describes none yet); if it described another one, it is cleared.
    fn adopt(&mut self, salt: u32, index: &SegmentIndex) -> bool {
        match self.salt {
            Some(s) if s == salt => true,
            None => {
                self.salt = Some(salt);
                true
            }
            Some(_) => {
                self.clear(index);
                self.salt = Some(salt);
                false
            }
        }
    }

    fn clear(&mut self, index: &SegmentIndex) {
        self.generation += 1;
        self.entries = Vec::new();
        self.walked = index.start();
        self.written_from = None;
        index.writer_due.store(0, Ordering::Relaxed);
    }
}

/// What a `SegmentReader` tells the index as it reads frames in order: once
/// it reads the frame at the walked frontier, every frame after it, in
/// batches, until its chain leaves the frontier (a seek) or another walk
/// got there first.
pub(crate) struct Walk {
    index: Arc<SegmentIndex>,
    salt: u32,
    generation: u64,
    /// The frontier this walk continues (None: the reader is elsewhere).
    from: Option<Pos>,
    /// The boundary after the last frame noted.
    at: Pos,
    found: Vec<Pos>,
    /// Offset of the last entry, known or found: the next is SPACING after.
    last_entry: u64,
    /// The frontier as last seen: the walk starts when the reader gets there.
    frontier: Option<Pos>,
}

impl Walk {
    pub fn new(index: Arc<SegmentIndex>, salt: u32) -> Walk {
        let start = index.start();
        let mut walk = Walk {
            index,
            salt,
            generation: 0,
            from: None,
            at: start,
            found: Vec::new(),
            last_entry: START,
            frontier: None,
        };
        let seen = walk.index.frontier(salt);
        walk.see(seen);
        walk
    }

    fn see(&mut self, frontier: Option<(Pos, u64, u64)>) {
        match frontier {
            Some((walked, last_entry, generation)) => {
                self.frontier = Some(walked);
                self.last_entry = last_entry;
                self.generation = generation;
            }
            None => self.frontier = None,
        }
    }

    /// The reader read and checked the frame (or sync mark) `header` at
    /// `offset`.
    pub fn note(&mut self, offset: u64, header: &FrameHeader) {
        let here = Pos { offset, seq: header.first_seq };
        if self.from.is_some() && here != self.at {
            self.commit(); // the reader moved: what was walked so far counts
            self.from = None;
        }
        if self.from.is_none() {
            if self.frontier != Some(here) {
                return;
            }
            self.from = Some(here);
            self.at = here;
        }
        if !header.is_sync_mark() && offset >= self.last_entry + SPACING {
            self.found.push(here);
            self.last_entry = offset;
        }
        self.at = Pos { offset: offset + header.frame_len(), seq: header.next_seq() };
        if self.found.len() >= WALK_BATCH {
            self.commit();
        }
    }

    /// The reader moved (a seek): hand in what was walked, and look at the
    /// frontier again (the index may have been reset).
    pub fn moved(&mut self) {
        self.commit();
        self.from = None;
        let seen = self.index.frontier(self.salt);
        self.see(seen);
    }

    /// Hands in what was walked since the last commit. Called at every
    /// stop of the reader, and when it goes.
    pub fn commit(&mut self) {
        let Some(from) = self.from else { return };
        if from == self.at {
            return;
        }
        let now = self.index.extend(self.salt, self.generation, from, self.at, &self.found);
        self.found.clear();
        self.see(now);
        // Still the frontier: go on from here; otherwise wait to reach it.
        self.from = (self.frontier == Some(self.at)).then_some(self.at);
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        self.commit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64, seq: u64) -> Pos {
        Pos { offset, seq }
    }

    fn header(seq: u64, count: u32, payload_len: u32) -> FrameHeader {
        FrameHeader { header_crc: 0, payload_crc: 0, count, payload_len, first_seq: seq, synced_end: START }
    }

    /// Frames of `len` bytes holding one record each, from the start.
    fn walk_frames(walk: &mut Walk, n: u64, len: u32) -> Pos {
        let mut at = pos(START, 1);
        for _ in 0..n {
            walk.note(at.offset, &header(at.seq, 1, len - 32));
            at = pos(at.offset + len as u64, at.seq + 1);
        }
        at
    }

    #[test]
    fn the_writer_notes_one_frame_per_spacing_and_lookups_land_at_or_before_the_frame() {
        let index = SegmentIndex::new(1);
        for i in 0..10_000u64 {
            index.note_written(7, START + i * 100, 1 + i);
        }
        let (entries, _, from) = index.snapshot();
        assert_eq!(from, Some(pos(START, 1)));
        assert!(entries.windows(2).all(|w| w[1].offset >= w[0].offset + SPACING));
        let bytes = 10_000 * 100;
        assert!((bytes / (SPACING + 100)..=bytes / SPACING + 1).contains(&(entries.len() as u64)));
        for want in [1, 2, 164, 165, 166, 5000, 9999, 10_000] {
            let at = index.lookup(7, want, u64::MAX);
            assert!(at.seq <= want && want - at.seq < SPACING / 100 + 1, "{want} -> {at:?}");
            assert_eq!(at.offset, START + (at.seq - 1) * 100);
        }
        // Only what the reader may read: the limit.
        let at = index.lookup(7, 10_000, START + 5000 * 100);
        assert!(at.offset < START + 5000 * 100);
    }

    #[test]
    fn a_walk_from_the_start_indexes_and_joins_the_written_region() {
        let index = Arc::new(SegmentIndex::new(1));
        // Frames 1..=1000 (100 bytes each) written by an earlier process;
        // this one appends from seq 1001 on.
        let first_written = START + 1000 * 100;
        for i in 0..500u64 {
            index.note_written(7, first_written + i * 100, 1001 + i);
        }
        // Unwalked: a seq below the written region starts at the frontier.
        assert_eq!(index.lookup(7, 900, u64::MAX), pos(START, 1));
        let mut walk = Walk::new(index.clone(), 7);
        let end = walk_frames(&mut walk, 1500, 100);
        drop(walk);
        let (entries, walked, from) = index.snapshot();
        assert_eq!(walked, pos(first_written, 1001), "the walk stops where the writer's frames begin");
        assert_eq!(from, Some(walked));
        assert!(entries.windows(2).all(|w| w[0].offset < w[1].offset && w[0].seq < w[1].seq));
        let at = index.lookup(7, 900, end.offset);
        assert!(at.seq <= 900 && 900 - at.seq <= SPACING / 100, "{at:?}");
    }

    #[test]
    fn an_unwalked_seq_starts_at_the_frontier_and_a_walk_that_lost_it_hands_nothing_in() {
        let index = Arc::new(SegmentIndex::new(1));
        let mut a = Walk::new(index.clone(), 7);
        walk_frames(&mut a, 300, 100); // commits at its batch size
        a.commit();
        let (_, walked, _) = index.snapshot();
        assert_eq!(walked, pos(START + 300 * 100, 301));
        assert_eq!(index.lookup(7, 1000, u64::MAX), walked, "past the frontier: start there");
        // A walk started before a cut must not hand in positions after it.
        let mut b = Walk::new(index.clone(), 7);
        for i in 300..400u64 {
            b.note(START + i * 100, &header(1 + i, 1, 68));
        }
        index.cut_after(320, START + 320 * 100);
        b.commit();
        let (entries, walked, _) = index.snapshot();
        assert_eq!(walked, pos(START + 300 * 100, 301), "b walked 301..400, but before the cut");
        assert!(entries.iter().all(|e| e.seq <= 300));
        // A walked region that reached the cut ends at it.
        let mut c = Walk::new(index.clone(), 7);
        for i in 300..320u64 {
            c.note(START + i * 100, &header(1 + i, 1, 68));
        }
        c.commit();
        index.cut_after(310, START + 310 * 100);
        assert_eq!(index.snapshot().1, pos(START + 310 * 100, 311));
    }

    #[test]
    fn cut_after_keeps_the_frame_holding_the_seq_and_lets_the_writer_go_on() {
        let index = SegmentIndex::new(1);
        // Batches of 10 records, 2000 bytes each.
        for i in 0..100u64 {
            index.note_written(7, START + i * 2000, 1 + i * 10);
        }
        index.cut_after(555, START + 55 * 2000 + 1000); // inside the batch 551..560
        let (entries, walked, from) = index.snapshot();
        assert!(entries.iter().all(|e| e.seq <= 551));
        assert!(entries.last().unwrap().seq <= 551);
        assert_eq!(from, Some(pos(START, 1)));
        assert_eq!(walked, pos(START, 1), "nothing was walked");
        index.note_written(7, START + 55 * 2000 + 1000, 556);
        let at = index.lookup(7, 556, u64::MAX);
        assert!(at.seq <= 556);
        // A cut below the segment's first seq empties it.
        index.cut_after(0, START);
        assert_eq!(index.snapshot().0, vec![]);
        assert_eq!(index.lookup(7, 556, u64::MAX), pos(START, 1));
    }

    #[test]
    fn covering_and_install_keep_the_regions_and_refuse_a_changed_index() {
        let index = Arc::new(SegmentIndex::new(1));
        // An earlier process wrote 1000 frames; the open walked them and
        // wrote a sync mark (32 bytes) after them; this one appends.
        let mut walk = Walk::new(index.clone(), 7);
        let walked = walk_frames(&mut walk, 1000, 100);
        drop(walk);
        let end = pos(walked.offset + 32 + 200 * 100, 1201);
        assert_eq!(index.covering(7, end), None, "the segment's end is not known yet");
        for i in 0..200u64 {
            index.note_written(7, walked.offset + 32 + i * 100, 1001 + i);
        }
        let entries = index.covering(7, end).expect("walked, a sync mark, then written: the whole segment");
        assert_eq!(entries, index.snapshot().0);
        assert_eq!(index.covering(8, end), None, "another file");
        // Installed in a fresh index: lookups of every seq use it.
        let fresh = SegmentIndex::new(1);
        let generation = fresh.wants_sidecar(7, 900).unwrap();
        assert_eq!(fresh.wants_sidecar(7, 900), None, "tried once only");
        assert!(fresh.install(7, generation, entries.clone(), end));
        let at = fresh.lookup(7, 1100, u64::MAX);
        assert!(at.seq <= 1100 && 1100 - at.seq <= SPACING / 100 + 1, "{at:?}");
        assert_eq!(fresh.snapshot().1, end);
        fresh.reset();
        assert_eq!(fresh.wants_sidecar(7, 900), None, "not again after a miss");
        // Not over an index that changed since, or is written to.
        let changed = SegmentIndex::new(1);
        let generation = changed.wants_sidecar(7, 900).unwrap();
        changed.cut_after(500, START + 500 * 100);
        assert!(!changed.install(7, generation, entries.clone(), end));
        let written = SegmentIndex::new(1);
        let generation = written.wants_sidecar(7, 900).unwrap();
        written.note_written(7, START, 1);
        assert!(!written.install(7, generation, entries, end));
        assert_eq!(SegmentIndex::new(1).wants_sidecar(7, 1), None, "the first seq is at the start");
    }

    #[test]
    fn another_salt_resets_the_index() {
        let index = SegmentIndex::new(1);
        index.note_written(7, START, 1);
        index.note_written(7, START + SPACING, 100);
        assert_eq!(index.lookup(8, 150, u64::MAX), pos(START, 1));
        assert_eq!(index.snapshot().0, vec![]);
    }
}
