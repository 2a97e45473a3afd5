//! The log: open, append (with group commit), checkpoint, sync, truncate.
//!
//! One `Wal` is shared by many threads. An append takes the state lock to
//! pick a seq and encode its frame straight into the writer's buffer (a
//! frame too big for it is encoded before the lock and written on its own).
//! The buffer goes to the file in one write when it is full, and before any
//! sync, rotation or iterator. Durability is a separate step (`sync_to`): one
//! thread at a time is the leader; it writes out the buffer and runs
//! fdatasync for everyone who appended before it started, so concurrent
//! appenders share writes and fsyncs.

use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, EncodedFrame, Entry, ENTRY_HEADER_LEN, FRAME_HEADER_LEN, MAX_BATCH_SIZE, MAX_RECORD_SIZE};
use crate::format::{OP_CHECKPOINT, SEGMENT_HEADER_LEN};
use crate::io::{read_full_at, Fs, FsFile, OpenMode, RealFs};
use crate::meta;
use crate::options::{Options, SyncMode};
use crate::reader::WalIter;
use crate::recovery;
use crate::segment::{self, SegmentInfo};
use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

pub const LOCK_FILE: &str = "LOCK";

/// Frames up to this size are encoded into the writer's buffer under the
/// state lock; bigger ones are encoded before it and written on their own.
const BUFFERED_FRAME_MAX: u64 = 64 << 10;
/// The writer's buffer is written out before it would grow past this.
const WRITE_BUFFER: usize = 1 << 20;
/// How far ahead of its data a preallocated segment is filled with zeros
/// when records are synced as they come (see `Active::zero_ahead`).
const ZERO_AHEAD: u64 = 1 << 20;
static ZEROS: [u8; ZERO_AHEAD as usize] = [0; ZERO_AHEAD as usize];

/// A write-ahead log open on one directory.
pub struct Wal {
    inner: Arc<Inner>,
    closed: bool,
}

/// What a `Wal` and its iterators share.
pub(crate) struct Inner {
    pub fs: Arc<dyn Fs>,
    dir: PathBuf,
    opts: Options,
    lock: Mutex<Option<Box<dyn Any + Send + Sync>>>,
    state: Mutex<State>,
    sync: Mutex<SyncState>,
    sync_done: Condvar,
    poisoned: AtomicBool,
    /// Held around each fdatasync of the active segment; see `sync_segment`.
    fsync: Mutex<()>,
    truncating: Mutex<()>,
    /// What the open found and did.
    report: crate::recovery::OpenReport,
    /// Every seq at or below this is truncated. Changed only under the state
    /// lock; read without it by iterators, which check every record against
    /// it so that none is returned after a truncate removed it.
    pub floor: AtomicU64,
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
    unsynced: u64,
}

pub(crate) struct Active {
    pub file: Arc<dyn FsFile>,
    /// Shared, not copied, with each group commit that syncs the file.
    path: Arc<Path>,
    pub first_seq: u64,
    /// End of the data written to the file: readers may read up to here.
    pub end: u64,
    /// Frames appended but not yet written; they belong at `end`.
    pending: Vec<u8>,
    /// End of the data a successful fdatasync covered: stamped into every
    /// frame so that recovery can tell a power loss from damage.
    pub synced_end: u64,
    /// The file holds written bytes (data or zeros) up to here...
    zeroed: u64,
    /// ...and zeros are written ahead of the data up to here at most: the
    /// preallocated length, or 0 when zeros are not written ahead.
    zero_limit: u64,
}

struct SyncState {
    /// Every seq at or below this is durable.
    synced: u64,
    /// A leader is running fdatasync.
    syncing: bool,
}

impl Active {
    /// `zero_limit`: see the field; 0 turns writing zeros ahead off.
    fn new(file: Arc<dyn FsFile>, path: PathBuf, first_seq: u64, end: u64, zero_limit: u64) -> Active {
        // What lies in the file when the segment becomes active is durable:
        // the header of a new segment, or what a writable open synced.
        let path = Arc::from(path);
        Active { file, path, first_seq, end, pending: Vec::new(), synced_end: end, zeroed: end, zero_limit }
    }

    /// Keeps at least half of ZERO_AHEAD of written zeros ahead of the data,
    /// up to the preallocated length. fallocate leaves unwritten extents, and
    /// an fdatasync after a write into one must also commit the extent's
    /// conversion to the file system journal: every durable append would
    /// pay for it. Written once ahead, zeros turn that into one conversion
    /// per half MiB; the appends then overwrite blocks already written.
    fn zero_ahead(&mut self) -> Result<()> {
        self.zeroed = self.zeroed.max(self.end);
        if self.zeroed >= self.zero_limit || self.zeroed - self.end >= ZERO_AHEAD / 2 {
            return Ok(());
        }
        let upto = (self.end + ZERO_AHEAD).min(self.zero_limit);
        let zeros = &ZEROS[..(upto - self.zeroed) as usize];
        self.file.write_all_at(zeros, self.zeroed).map_err(|e| Error::io("write zeros to", &self.path, e))?;
        self.zeroed = upto;
        Ok(())
    }

    /// Where the next frame goes.
    fn append_end(&self) -> u64 {
        self.end + self.pending.len() as u64
    }

    /// Writes the buffered frames to the file.
    fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        let result = self.put(&pending);
        if result.is_ok() {
            pending.clear();
        }
        self.pending = pending; // keeps its capacity for the next frames
        result
    }

    /// Writes a frame after the buffered ones.
    fn write(&mut self, frame: &[u8]) -> Result<()> {
        self.flush()?;
        self.put(frame)
    }

    /// Writes `bytes` at the end of the data.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.file.write_all_at(bytes, self.end).map_err(|e| Error::io("write to", &self.path, e))?;
        self.end += bytes.len() as u64;
        self.zero_ahead()
    }
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

    fn sync_state(&self) -> MutexGuard<'_, SyncState> {
        self.sync.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::SeqCst);
    }

    /// fdatasync of a segment being written. Linux reports a failed
    /// writeback once per open file: a second fdatasync, from another
    /// thread, returns success for the pages that were lost. So a failure
    /// poisons the handle before any other fdatasync can start, and none
    /// starts on a poisoned handle.
    fn sync_segment(&self, file: &dyn FsFile, path: &Path) -> Result<()> {
        let _one_at_a_time = self.fsync.lock().unwrap_or_else(|p| p.into_inner());
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::poisoned());
        }
        file.sync_data().map_err(|e| {
            self.poison();
            Error::io("fdatasync", path, e)
        })
    }

    fn check_writable(&self) -> Result<()> {
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
        if e.op == 0 || e.op == OP_CHECKPOINT {
            return Err(Error::invalid(format!(
                "entry {i}: op {} is reserved (use 1..254; 255 is written only by checkpoint)",
                e.op
            )));
        }
        check_record_size(e.key.len(), e.value.len())?;
    }
    check_batch_size(entries.iter().map(|e| (e.key.len(), e.value.len())))
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
    /// Opens (creating if allowed) the log in `dir` and recovers it.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Wal> {
        Wal::open_in(Arc::new(RealFs), dir, opts)
    }

    /// Opens the log through a given file system (the simulated one in tests).
    pub fn open_in(fs: Arc<dyn Fs>, dir: impl AsRef<Path>, opts: Options) -> Result<Wal> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&*fs, &dir, &opts)?;
        let lock = match opts.read_only {
            true => None,
            false => Some(lock_dir(&*fs, &dir)?),
        };
        let recovered = recovery::recover(&*fs, &dir, &opts)?;
        let clean = match opts.read_only {
            true => None,
            false => take_clean_mark(&*fs, &dir)?,
        };
        if !opts.read_only {
            // A segment or wal.meta that a writer created or renamed but did
            // not live to fsync the directory for must not vanish in a power
            // loss after records were appended to it.
            segment::sync_dir(&*fs, &dir)?;
        }
        let mode = if opts.read_only { OpenMode::READ } else { OpenMode::WRITE };
        let active = match (recovered.newest_end, recovered.segments.last()) {
            (Some(end), Some(newest)) => {
                let file = fs.open(&newest.path, mode).map_err(|e| Error::io("open segment", &newest.path, e))?;
                // What a crashed process left in the page cache becomes
                // durable before anything is written after it, so that the
                // records recovery found stay below every later synced_end
                // (written again first: a failed fsync may have left them
                // in pages no fsync will write; after a clean close, whose
                // last fdatasync succeeded, there is nothing to write again).
                if !opts.read_only {
                    let unsure_from = match clean {
                        Some(mark) if mark == (newest.first_seq, end) => end,
                        _ => recovered.newest_synced,
                    };
                    rewrite(&*file, &newest.path, unsure_from, end)?;
                    file.sync_data().map_err(|e| Error::io("fdatasync", &newest.path, e))?;
                }
                let zero_limit = zero_limit(&opts, &*file, &newest.path)?;
                Some(Active::new(file, newest.path.clone(), newest.first_seq, end, zero_limit))
            }
            _ => None,
        };
        let last_seq = recovered.last_seq;
        let mut report = recovered.report;
        report.clean_close =
            matches!((clean, recovered.segments.last(), recovered.newest_end), (Some(mark), Some(s), Some(end)) if mark == (s.first_seq, end));
        let floor = AtomicU64::new(recovered.floor);
        let state = State {
            segments: recovered.segments,
            active,
            next_seq: last_seq + 1,
            unsynced: 0,
        };
        Ok(Wal {
            inner: Arc::new(Inner {
                fs,
                dir,
                opts,
                lock: Mutex::new(lock),
                state: Mutex::new(state),
                sync: Mutex::new(SyncState { synced: last_seq, syncing: false }),
                sync_done: Condvar::new(),
                poisoned: AtomicBool::new(false),
                fsync: Mutex::new(()),
                truncating: Mutex::new(()),
                report,
                floor,
            }),
            closed: false,
        })
    }

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
    pub fn open_report(&self) -> crate::recovery::OpenReport {
        self.inner.report
    }

    pub fn is_poisoned(&self) -> bool {
        self.inner.poisoned.load(Ordering::SeqCst)
    }

    /// Appends one record; returns its seq.
    pub fn append(&self, op: u8, key: &[u8], value: &[u8]) -> Result<u64> {
        self.append_batch(&[Entry { op, key, value }])
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
        self.inner.check_writable()?;
        let last = {
            let mut st = self.inner.state();
            st.unsynced = 0;
            st.last_seq()
        };
        self.sync_to(last)
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
        if sync_due || force_sync {
            self.sync_to(last)?;
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
        if !fits {
            self.rotate(st, first_seq)?;
        }
        let active = st.active.as_mut().expect("rotate leaves an active segment");
        let synced_end = active.synced_end;
        match big {
            Some(frame) => active.write(frame.seal(first_seq, synced_end)),
            None => {
                if active.pending.len() + frame_len as usize > WRITE_BUFFER {
                    active.flush()?;
                }
                format::push_frame(&mut active.pending, entries, first_seq, synced_end);
                Ok(())
            }
        }
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
    fn rotate(&self, st: &mut State, first_seq: u64) -> Result<()> {
        if let Some(mut old) = st.active.take() {
            old.flush()?;
            self.inner.sync_segment(&*old.file, &old.path)?;
        }
        let opts = &self.inner.opts;
        let prealloc = opts.preallocate.then_some(opts.segment_size);
        let (file, path) = segment::create_segment(&*self.inner.fs, &self.inner.dir, first_seq, prealloc)?;
        st.segments.push(SegmentInfo { first_seq, path: path.clone() });
        // create_segment made the header durable.
        let zero_limit = zero_limit(opts, &*file, &path)?;
        st.active = Some(Active::new(file, path, first_seq, SEGMENT_HEADER_LEN as u64, zero_limit));
        Ok(())
    }

    /// Returns once every seq up to `target` is durable. Group commit: the
    /// first thread to find no sync running becomes the leader and syncs all
    /// that has been written so far; the others wait for its result.
    fn sync_to(&self, target: u64) -> Result<()> {
        let inner = &self.inner;
        let mut s = inner.sync_state();
        loop {
            if s.synced >= target {
                return Ok(());
            }
            if inner.poisoned.load(Ordering::SeqCst) {
                return Err(Error::poisoned());
            }
            if !s.syncing {
                break;
            }
            s = inner.sync_done.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.syncing = true;
        drop(s);
        // Let appenders that are runnable now write before the snapshot, so
        // this fdatasync covers them too (measured: 8 threads went from about
        // 3.1x to 3.6x one thread's throughput; one thread is unaffected).
        std::thread::yield_now();

        // Everything appended so far goes to the file; older segments were
        // synced when they were sealed, and with no active segment every
        // record is in a sealed or deleted one.
        let (upto, written) = {
            let mut st = inner.state();
            let upto = st.last_seq();
            // A failed write poisons at once, under the state lock, so that
            // no append slips in behind it.
            let written = match st.active.as_mut() {
                Some(a) => a
                    .flush()
                    .inspect_err(|_| inner.poison())
                    .map(|()| Some((a.file.clone(), a.path.clone(), a.first_seq, a.end))),
                None => Ok(None),
            };
            (upto, written)
        };
        let result = written.and_then(|written| match &written {
            Some((file, path, ..)) => inner.sync_segment(&**file, path).map(|()| written),
            None => Ok(None),
        });
        // A seal (rotation) that failed while this sync ran may hold records
        // at or below `upto`, and a later fdatasync of the same file can
        // succeed for pages the kernel dropped: a poisoned handle vouches for
        // nothing more. Rotation poisons under the state lock, so taking it
        // here orders the check after any seal that overlapped this sync.
        let result = result.and_then(|written| {
            let mut st = inner.state();
            if inner.poisoned.load(Ordering::SeqCst) {
                return Err(Error::poisoned());
            }
            if let (Some(active), Some((_, _, first_seq, end))) = (st.active.as_mut(), written) {
                if active.first_seq == first_seq {
                    active.synced_end = active.synced_end.max(end);
                }
            }
            Ok(())
        });

        let mut s = inner.sync_state();
        s.syncing = false;
        match &result {
            Ok(()) => s.synced = s.synced.max(upto),
            // Never retry: after a failed fdatasync the kernel may have
            // dropped the dirty pages and a second call can report success.
            Err(_) => inner.poison(),
        }
        inner.sync_done.notify_all();
        drop(s);
        result?;
        // `target` was written before this leader read `upto`.
        debug_assert!(upto >= target);
        Ok(())
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
            self.sync_to(last)?;
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
        for seg in &doomed {
            inner.fs.remove_file(&seg.path).map_err(|e| Error::io("remove segment", &seg.path, e))?;
        }
        if !doomed.is_empty() {
            segment::sync_dir(&*inner.fs, &inner.dir)?;
        }
        Ok(())
    }

    /// An iterator over the records with seq > `after_seq` (0: everything
    /// retained). Asking for records that were truncated is `Range`.
    pub fn iter(&self, after_seq: u64) -> Result<WalIter> {
        self.flush()?;
        let first = self.first_seq();
        if after_seq != 0 && after_seq < first - 1 {
            return Err(Error::range(format!(
                "records after seq {after_seq} are gone: the log was truncated, its first seq is {first}"
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
        let result = match self.inner.opts.read_only {
            true => Ok(()),
            false => self.sync(),
        };
        let result = result.and_then(|()| match self.inner.opts.read_only {
            true => Ok(()),
            false => self.mark_clean(),
        });
        self.inner.lock.lock().unwrap_or_else(|p| p.into_inner()).take();
        result
    }
}

impl Wal {
    /// After the final sync: leaves the clean mark that spares the next
    /// open from writing the newest segment's tail again. Its failure says
    /// the disk refuses writes; the records are durable all the same.
    fn mark_clean(&self) -> Result<()> {
        let Some((first_seq, end)) = self.inner.state().active.as_ref().map(|a| (a.first_seq, a.end)) else {
            return Ok(());
        };
        let path = self.inner.dir.join(LOCK_FILE);
        let file = self.inner.fs.open(&path, OpenMode::WRITE).map_err(|e| Error::io("open", &path, e))?;
        file.write_all_at(&format::encode_clean_mark(first_seq, end), 0)
            .map_err(|e| Error::io("write the clean-close mark to", &path, e))
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Writes again the newest segment's bytes from `from` (the last frame's
/// synced_end; the whole segment when it has no frame) to `end`. After a
/// failed fsync the kernel may keep unwritten pages but mark them clean:
/// reads return them, yet no later fsync writes them. Written again, they
/// are dirty, and the fsync that follows makes them durable.
fn rewrite(file: &dyn FsFile, path: &Path, from: u64, end: u64) -> Result<()> {
    let mut at = if from < SEGMENT_HEADER_LEN as u64 { 0 } else { from.min(end) };
    let mut buf = vec![0u8; (end - at).min(WRITE_BUFFER as u64) as usize];
    while at < end {
        let len = buf.len().min((end - at) as usize);
        let n = read_full_at(file, &mut buf[..len], at).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        file.write_all_at(&buf[..n], at).map_err(|e| Error::io("write to", path, e))?;
        at += n as u64;
    }
    Ok(())
}

/// Reads and clears the clean mark a clean close left in the LOCK file: the
/// newest segment's first seq and the end of its data, all of it durable.
/// Cleared before anything is written, so a mark never outlives the state it
/// describes. A missing or damaged mark is no mark.
fn take_clean_mark(fs: &dyn Fs, dir: &Path) -> Result<Option<(u64, u64)>> {
    let path = dir.join(LOCK_FILE);
    let file = fs.open(&path, OpenMode::WRITE).map_err(|e| Error::io("open", &path, e))?;
    let mut buf = [0u8; 33];
    let n = read_full_at(&*file, &mut buf, 0).map_err(|e| Error::io("read", &path, e))?;
    if n == 0 {
        return Ok(None);
    }
    file.set_len(0).map_err(|e| Error::io("clear", &path, e))?;
    Ok(format::decode_clean_mark(&buf[..n]))
}


/// How far zeros may be written ahead in an active segment: its
/// preallocated length when records are synced as they come (in
/// WAL_SYNC_NONE the rare syncs amortise the extent conversions, and the
/// zeros would only cost a copy), else 0.
fn zero_limit(opts: &Options, file: &dyn FsFile, path: &Path) -> Result<u64> {
    if !opts.preallocate || opts.read_only || opts.sync_mode == SyncMode::None {
        return Ok(0);
    }
    file.size().map_err(|e| Error::io("stat", path, e))
}

fn ensure_dir(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<()> {
    match fs.is_dir(dir) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::io("open log directory", dir, std::io::Error::from_raw_os_error(libc::ENOTDIR))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create_if_missing && !opts.read_only => {
            // The directories that do not exist yet, outermost first: each
            // one's entry must be made durable in its parent.
            let mut created: Vec<&Path> = dir.ancestors().take_while(|d| fs.is_dir(d).is_err()).collect();
            created.reverse();
            fs.create_dir_all(dir).map_err(|e| Error::io("create log directory", dir, e))?;
            for new_dir in created {
                match new_dir.parent() {
                    Some(parent) if parent.as_os_str().is_empty() => segment::sync_dir(fs, Path::new("."))?,
                    Some(parent) => segment::sync_dir(fs, parent)?,
                    None => {} // the root: it has no entry to make durable
                }
            }
            Ok(())
        }
        Err(e) => Err(Error::io("open log directory", dir, e)),
    }
}

/// Takes the directory's writer lock, held until the handle closes.
fn lock_dir(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn Any + Send + Sync>> {
    let path = dir.join(LOCK_FILE);
    fs.lock(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::new(
            ErrorKind::Locked,
            format!("{} is held: another handle has this log open for writing", path.display()),
        ),
        _ => Error::io("lock", &path, e),
    })
}
