//! The log: append (with group commit), checkpoint, sync, truncate, close.
//!
//! One `Wal` is shared by many threads. An append takes the state lock to
//! pick a seq and encode its frame straight into the writer's buffer (a
//! frame too big for it is encoded before the lock and written on its own).
//! The buffer goes to the file in one write when it is full, and before any
//! sync, rotation or iterator. Durability is a separate step (`sync_to`, in
//! `commit.rs`). Opening is in `open.rs`, the active segment in `active.rs`.

use crate::active::{Active, WRITE_BUFFER};
use crate::commit::SyncState;
use crate::error::{Error, Result};
use crate::format::{self, EncodedFrame, Entry, SegmentHeader, ENTRY_HEADER_LEN, FRAME_HEADER_LEN, MAX_BATCH_SIZE};
use crate::format::{MAX_RECORD_SIZE, OP_CHECKPOINT, SEGMENT_HEADER_LEN};
use crate::io::Fs;
use crate::meta;
use crate::active::PREALLOC_STEP;
use crate::open::{space, write_clean_mark};
use crate::options::{Options, SyncMode};
use crate::reader::WalIter;
use crate::recovery::OpenReport;
use crate::segment::{self, SegmentInfo};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The file that holds the clean-close mark (the writer's lock is an flock
/// on the directory).
pub const LOCK_FILE: &str = "LOCK";

/// Frames up to this size are encoded into the writer's buffer under the
/// state lock; bigger ones are encoded before it and written on their own.
const BUFFERED_FRAME_MAX: u64 = 64 << 10;

/// A write-ahead log open on one directory.
pub struct Wal {
    pub(crate) inner: Arc<Inner>,
    pub(crate) closed: bool,
}

/// What a `Wal` and its iterators share.
pub(crate) struct Inner {
    pub fs: Arc<dyn Fs>,
    pub dir: PathBuf,
    pub opts: Options,
    pub lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
    pub state: Mutex<State>,
    pub sync: Mutex<SyncState>,
    pub sync_done: crate::commit::SyncDone,
    pub poisoned: AtomicBool,
    /// Held around each fdatasync of the active segment; see `sync_segment`.
    pub fsync: Mutex<()>,
    pub truncating: Mutex<()>,
    /// What the open found and did.
    pub report: OpenReport,
    /// Threads in `wal_wait`.
    pub waiters: crate::wait::Waiters,
    /// The clean-close mark LOCK holds, while it is true (None: LOCK is
    /// empty). It proves the newest segment durable up to its end.
    pub clean_mark: Mutex<Option<format::CleanMark>>,
    /// Every seq at or below this is truncated. Changed only under the state
    /// lock; read without it by iterators, which check every record against
    /// it so that none is returned after a truncate removed it.
    pub floor: AtomicU64,
    /// The cuts of the newest records made through this handle.
    pub cuts: crate::cut::Cuts,
    /// Deletes freed segments beyond the spares, off the truncate's path.
    pub reaper: crate::recycle::Reaper,
    /// Read-only: wal.meta as the open found it. Every change the writer
    /// makes to it (a truncate, a cut) moves its generation.
    pub meta_at_open: Option<format::Meta>,
    /// What the segment files' writes and syncs and the group commits count.
    pub stats: Arc<crate::stats::Counters>,
}

/// Where the log stands. Guarded by `Inner::state`.
pub(crate) struct State {
    /// Every segment of the log, oldest first; the last one is the newest.
    pub segments: Vec<SegmentInfo>,
    /// The newest segment, open, and how far its data goes. None after a
    /// truncate removed every segment: the next append creates one.
    pub active: Option<Active>,
    pub next_seq: u64,
    /// Records written since the last sync (WAL_SYNC_EVERY).
    pub unsynced: u64,
    /// The newest checkpoint record appended through this handle (0: none).
    pub newest_checkpoint: u64,
    /// Records up to here were in the log when it was opened (and are not
    /// known to hold no checkpoint); a cut below lowers it.
    pub recovered_upto: u64,
    pub appended: crate::stats::Appended,
}

impl State {
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The lowest seq a replay can return, given the truncation floor;
    /// last_seq + 1 when there is none.
    pub fn first_seq(&self, floor: u64) -> u64 {
        let oldest = self.segments.first().map_or(self.next_seq, |s| s.first_seq);
        oldest.max(floor + 1).min(self.next_seq)
    }
}

impl Inner {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as consistent as
        // any failed write does; the poisoned flag guards against reuse.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn sync_state(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
        self.waiters.notify();
    }

    /// Empties LOCK before a change that would make its clean-close mark
    /// false (a segment newer than the one it names, the removal of that
    /// segment), or once it proves nothing more than the segment's frames
    /// do: `retire` says, of the mark, whether to.
    pub(crate) fn retire_clean_mark(&self, retire: impl Fn(&format::CleanMark) -> bool) -> Result<()> {
        let mut mark = self.clean_mark.lock().unwrap_or_else(|p| p.into_inner());
        match *mark {
            Some(m) if retire(&m) => {
                crate::open::clear_clean_mark(&*self.fs, &self.dir)?;
                *mark = None;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if self.opts.read_only {
            return Err(Error::read_only());
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::poisoned());
        }
        Ok(())
    }
}

/// Checks a batch before anything is written: at least one entry, ops in
/// 1..=254 (255 only for checkpoints), every record within MAX_RECORD_SIZE.
pub fn validate_entries(entries: &[Entry<'_>]) -> Result<()> {
    if entries.is_empty() {
        return Err(Error::invalid("a batch needs at least one entry"));
    }
    if entries.len() > u32::MAX as usize {
        return Err(Error::invalid("a batch holds at most 2^32-1 entries"));
    }
    for (i, e) in entries.iter().enumerate() {
        check_op(i, e.op)?;
        check_record_size(e.key.len(), e.value.len())?;
    }
    check_batch_size(entries.iter().map(|e| (e.key.len(), e.value.len())))
}

fn check_op(i: usize, op: u8) -> Result<()> {
    if op == 0 || op == OP_CHECKPOINT {
        return Err(Error::invalid(format!(
            "entry {i}: op {op} is reserved (use 1..254; 255 is written only by checkpoint)"
        )));
    }
    Ok(())
}

/// A batch's encoded size (key + value + the entry header, summed) must be
/// within MAX_BATCH_SIZE: checked from the lengths alone, before a buffer is
/// read or anything is reserved for the batch.
pub fn check_batch_size(lengths: impl Iterator<Item = (usize, usize)>) -> Result<()> {
    let mut total: usize = 0;
    for (key_len, value_len) in lengths {
        total = key_len
            .checked_add(value_len)
            .and_then(|n| n.checked_add(ENTRY_HEADER_LEN))
            .and_then(|n| n.checked_add(total))
            .filter(|&n| n <= MAX_BATCH_SIZE)
            .ok_or_else(|| {
                Error::range(format!(
                    "the batch is larger than WAL_MAX_BATCH_SIZE ({MAX_BATCH_SIZE} bytes of keys, values and \
                     {ENTRY_HEADER_LEN}-byte entry headers)"
                ))
            })?;
    }
    Ok(())
}

pub fn check_record_size(key_len: usize, value_len: usize) -> Result<()> {
    match key_len.checked_add(value_len) {
        Some(n) if n <= MAX_RECORD_SIZE => Ok(()),
        _ => Err(Error::range(format!(
            "record of {key_len} + {value_len} bytes is larger than WAL_MAX_RECORD_SIZE ({MAX_RECORD_SIZE})"
        ))),
    }
}

impl Wal {
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    /// The highest seq assigned; 0 for a new log.
    pub fn last_seq(&self) -> u64 {
        self.inner.state().last_seq()
    }

    /// The lowest seq a replay can return; last_seq + 1 when there is none.
    pub fn first_seq(&self) -> u64 {
        let st = self.inner.state();
        st.first_seq(self.inner.floor.load(Ordering::SeqCst))
    }

    /// What the open found and did: a clean close, a cut, what SALVAGE dropped.
    pub fn open_report(&self) -> OpenReport {
        self.inner.report
    }

    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::SeqCst)
    }

    /// Appends one record; returns its seq. The checks of `append_batch`
    /// for one entry: a record within MAX_RECORD_SIZE is a batch within
    /// MAX_BATCH_SIZE.
    pub fn append(&self, op: u8, key: &[u8], value: &[u8]) -> Result<u64> {
        self.inner.check_writable()?;
        check_op(0, op)?;
        check_record_size(key.len(), value.len())?;
        self.append_frame(&[Entry { op, key, value }], false)
    }

    /// Appends entries as one atomic frame; returns the last entry's seq.
    pub fn append_batch(&self, entries: &[Entry<'_>]) -> Result<u64> {
        self.inner.check_writable()?;
        validate_entries(entries)?;
        self.append_frame(entries, false)
    }

    /// Appends a checkpoint record and makes it and everything before it
    /// durable, whatever the sync mode; returns its seq.
    pub fn checkpoint(&self) -> Result<u64> {
        self.inner.check_writable()?;
        let entry = Entry { op: OP_CHECKPOINT, key: &[], value: &[] };
        self.append_frame(&[entry], true)
    }

    /// Makes every record appended so far durable.
    pub fn sync(&self) -> Result<()> {
        self.sync_everything()?;
        self.record_sync_point()
    }

    fn sync_everything(&self) -> Result<()> {
        self.inner.check_writable()?;
        let last = {
            let mut st = self.inner.state();
            st.unsynced = 0;
            st.last_seq()
        };
        self.inner.sync_to(last)
    }

    /// After a sync the caller asked for (wal_sync, a checkpoint, the
    /// periodic one of WAL_SYNC_EVERY): the segment records it, so that
    /// recovery can prove what it covered durable even if no record
    /// follows (see `Active::record_sync_point`). Group commits of
    /// WAL_SYNC_ALWAYS need none: the next frame records it.
    fn record_sync_point(&self) -> Result<()> {
        let mut st = self.inner.state();
        self.inner.check_writable()?;
        let next_seq = st.next_seq;
        match st.active.as_mut() {
            Some(active) => active.record_sync_point(next_seq).inspect_err(|_| self.inner.poison()),
            None => Ok(()),
        }
    }

    fn append_frame(&self, entries: &[Entry<'_>], force_sync: bool) -> Result<u64> {
        let frame_len = FRAME_HEADER_LEN as u64 + format::payload_len(entries);
        let mut big = (frame_len > BUFFERED_FRAME_MAX).then(|| EncodedFrame::new(entries));
        let count = entries.len() as u64;
        let (last, sync_due) = {
            let mut st = self.inner.state();
            self.inner.check_writable()?;
            let first = st.next_seq;
            if first.checked_add(count).is_none() {
                return Err(Error::range("sequence numbers are exhausted: the next would pass 2^64-1"));
            }
            if let Err(e) = self.write_locked(&mut st, entries, big.as_mut(), frame_len, first) {
                self.inner.poison();
                return Err(e);
            }
            st.next_seq += count;
            if entries.len() == 1 && entries[0].op == OP_CHECKPOINT {
                st.newest_checkpoint = first;
            }
            st.appended.add(count, frame_len - FRAME_HEADER_LEN as u64);
            let sync_due = match self.inner.opts.sync_mode {
                SyncMode::Always => true,
                SyncMode::None => false,
                SyncMode::Every(n) => {
                    st.unsynced += count;
                    let due = st.unsynced >= n as u64;
                    if due {
                        st.unsynced = 0;
                    }
                    due
                }
            };
            (first + count - 1, sync_due)
        };
        self.inner.waiters.notify();
        if sync_due || force_sync {
            self.inner.sync_to(last)?;
            if force_sync || self.inner.opts.sync_mode != SyncMode::Always {
                self.record_sync_point()?;
            }
        }
        Ok(last)
    }

    /// Puts a frame at the end of the active segment, rotating first when it
    /// would not fit (a frame larger than a segment gets one of its own):
    /// into the buffer, or, for a `big` one encoded beforehand, to the file.
    fn write_locked(
        &self,
        st: &mut State,
        entries: &[Entry<'_>],
        big: Option<&mut EncodedFrame>,
        frame_len: u64,
        first_seq: u64,
    ) -> Result<()> {
        let fits = st.active.as_ref().is_some_and(|a| {
            let end = a.append_end();
            end == SEGMENT_HEADER_LEN as u64 || end + frame_len <= self.inner.opts.segment_size
        });
        let active = match st.active.as_mut() {
            Some(active) if fits => active,
            _ => self.rotate(st, first_seq)?,
        };
        if big.is_none() && active.pending.len() + frame_len as usize > WRITE_BUFFER {
            let from = active.end;
            active.flush()?;
            // A full buffer will not be synced soon: let the disk start on it
            // while appends go on, rather than all at the next fdatasync.
            // A hint: its failure changes nothing the next fdatasync reports.
            let _ = active.file.start_writeback(from, active.end - from);
        }
        let (synced_end, salt) = (active.stamp(), active.salt);
        let (offset, id) = (active.append_end(), active.id);
        match big {
            Some(frame) => active.write(frame.seal(first_seq, synced_end, salt))?,
            None => format::push_frame(&mut active.pending, entries, first_seq, synced_end, salt),
        }
        // The seek index learns where the frame is (src/index.rs).
        if let Some(segment) = st.segments.last().filter(|s| s.id == id) {
            segment.index.note_written(salt, offset, first_seq);
        }
        Ok(())
    }

    /// Writes the buffered frames to the file, so that readers see them.
    fn flush(&self) -> Result<()> {
        let mut st = self.inner.state();
        match st.active.as_mut() {
            Some(active) if !self.is_poisoned() => active.flush().inspect_err(|_| self.inner.poison()),
            _ => Ok(()),
        }
    }

    /// Seals the active segment (making it durable, so that only the newest
    /// segment can ever have a torn tail) and starts a new one at `first_seq`.
    fn rotate<'a>(&self, st: &'a mut State, first_seq: u64) -> Result<&'a mut Active> {
        if let Some(mut old) = st.active.take() {
            old.flush()?;
            self.inner.sync_segment(&*old.file, &old.path)?;
            // Its seek index goes beside it, for the first seek into it
            // after a reopen (src/hint.rs): a hint, written best effort.
            if let Some(sealed) = st.segments.last().filter(|s| s.id == old.id) {
                let end = crate::index::Pos { offset: old.end, seq: first_seq };
                crate::hint::seal(&*self.inner.fs, sealed, old.salt, end);
            }
        }
        // A newer segment is about to exist: a clean-close mark naming an
        // older one would call it foreign.
        self.inner.retire_clean_mark(|_| true)?;
        let opts = &self.inner.opts;
        let (fs, dir) = (&*self.inner.fs, &self.inner.dir);
        let recycled = match opts.preallocate {
            true => crate::recycle::reuse(fs, dir, first_seq, opts.segment_size)?,
            false => None,
        };
        let created = match recycled {
            Some(created) => created,
            None => {
                let prealloc = opts.preallocate.then_some(opts.segment_size.min(PREALLOC_STEP));
                segment::create_segment(fs, dir, first_seq, prealloc)?
            }
        };
        let info = created.info;
        // Both made the header durable.
        let space = space(opts, &*created.file, &info.path)?;
        let ids = (first_seq, info.id, created.salt);
        let header_end = SEGMENT_HEADER_LEN as u64;
        let active = Active::new(created.file, info.path.clone(), ids, header_end, header_end, space);
        st.segments.push(info);
        Ok(st.active.insert(active))
    }

    /// Discards every record with seq <= `upto_seq`: records the floor
    /// durably (O(1), no record rewritten), then deletes the segments that
    /// hold only such records.
    pub fn truncate(&self, upto_seq: u64) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let _one_at_a_time = inner.truncating.lock().unwrap_or_else(|p| p.into_inner());
        let (first, last) = {
            let st = inner.state();
            (st.first_seq(inner.floor.load(Ordering::SeqCst)), st.last_seq())
        };
        if upto_seq > last {
            return Err(Error::range(format!(
                "cannot truncate up to seq {upto_seq}: the last seq is {last}"
            )));
        }
        if upto_seq < first {
            return Ok(());
        }
        if inner.opts.sync_mode != SyncMode::None {
            inner.sync_to(last)?;
        }
        // A failed write, sync, rename or removal leaves the floor on disk
        // unknown: poison, as for any failed write, and let a reopen decide.
        self.cut_below(upto_seq).inspect_err(|_| inner.poison())
    }

    /// Records the floor durably, then deletes the segments under it.
    fn cut_below(&self, upto_seq: u64) -> Result<()> {
        let inner = &self.inner;
        meta::write_floor(&*inner.fs, &inner.dir, upto_seq)?;
        let doomed = {
            let mut st = inner.state();
            inner.floor.fetch_max(upto_seq, Ordering::SeqCst);
            let keep_from = st.segments.partition_point(|s| s.first_seq <= upto_seq + 1).saturating_sub(1);
            let mut doomed: Vec<SegmentInfo> = st.segments.drain(..keep_from).collect();
            if st.last_seq() <= upto_seq && !st.segments.is_empty() {
                doomed.append(&mut st.segments);
                st.active = None;
            }
            doomed
        };
        inner.retire_clean_mark(|m| doomed.iter().any(|s| s.first_seq == m.segment.first_seq))?;
        // Recycled or deleted, with no directory fsync: the floor is
        // durable, and a segment a crash brings back lies below it.
        let (fs, dir) = (&inner.fs, &inner.dir);
        if !inner.opts.preallocate {
            // Their seek hints first, best effort: one a failed delete or a
            // crash leaves is ignored, and deleted by the next open.
            crate::hint::remove(&**fs, dir, doomed.iter().map(|seg| &*seg.path));
            return doomed.iter().try_for_each(|seg| crate::recycle::delete(&**fs, seg));
        }
        // Seek hints (src/hint.rs) stay off the truncate's path: deleting
        // one costs up to a millisecond (an unlink that frees blocks, on a
        // file system mounted with discard), and 80 of them made W7 on the
        // 10 GiB log 13.5 ms. A spare's hint goes when a rotation reuses
        // the spare, a trashed segment's with it (`recycle::retire`).
        let mut spares = crate::recycle::list_spares(&**fs, dir)?.len();
        for seg in &doomed {
            crate::recycle::retire(fs, dir, seg, &mut spares, &inner.reaper)?;
        }
        Ok(())
    }

    /// An iterator over the records with seq > `after_seq` (0: everything
    /// retained). Asking for records that were truncated is `Range`.
    pub fn iter(&self, after_seq: u64) -> Result<WalIter> {
        self.flush()?;
        let (first, last) = {
            let st = self.inner.state();
            (st.first_seq(self.inner.floor.load(Ordering::SeqCst)), st.last_seq())
        };
        if after_seq != 0 && after_seq < first - 1 {
            return Err(Error::range(format!(
                "records after seq {after_seq} are gone: the log was truncated, its first seq is {first}"
            )));
        }
        if after_seq > last {
            // An engine whose stored N is ahead of its log has the wrong
            // directory or lost its log: it must hear so, not start over.
            return Err(Error::range(format!(
                "records after seq {after_seq} were asked for, but the log ends at seq {last}: \
                 it is not the log that state was taken from, or it lost records"
            )));
        }
        Ok(WalIter::new(self.inner.clone(), after_seq.max(first - 1)))
    }

    /// Syncs (for a writable, healthy handle) and releases the directory
    /// lock. Iterators still open keep reading what they can.
    pub fn close(mut self) -> Result<()> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        // The clean-close mark, not a sync mark, records the final sync.
        let result = match self.inner.opts.read_only {
            true => Ok(()),
            false => self.sync_everything(),
        };
        let result = result.and_then(|()| match self.inner.opts.read_only {
            true => Ok(()),
            false => self.mark_clean(),
        });
        self.inner.reaper.finish();
        self.inner.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        result
    }
}

impl Wal {
    /// After the final sync: leaves the clean mark that lets the next open
    /// prove the newest segment durable and spares it from writing that
    /// segment's tail again. Its failure says the disk refuses writes; the
    /// records are durable all the same.
    fn mark_clean(&self) -> Result<()> {
        // Up to synced_end, every byte was durable (a sync mark written after
        // the last fdatasync may follow, unsynced).
        let active =
            self.inner.state().active.as_ref().map(|a| (SegmentHeader { first_seq: a.first_seq, salt: a.salt }, a.synced_end));
        match active {
            Some((segment, end)) => write_clean_mark(&*self.inner.fs, &self.inner.dir, segment, end),
            None => Ok(()),
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}
