//! openraft's `RaftLogStorage` and `RaftLogReader` on a libwal log: one
//! record per entry, `index = seq + offset` (see the crate's doc).

use crate::error::{storage, violation};
use crate::meta::MetaLog;
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    ErrorSubject, ErrorVerb, LogId, OptionalSend, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, Vote,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use wal::io::{Fs, RealFs};
use wal::{Entry, ErrorKind, Options, SyncMode, Wal};

type NodeIdOf<C> = <C as RaftTypeConfig>::NodeId;
type Result<T, C> = std::result::Result<T, StorageError<NodeIdOf<C>>>;

/// The op of an entry record.
pub const OP_ENTRY: u8 = 1;

/// How the Raft log's libwal log is opened.
#[derive(Debug, Clone, Copy)]
pub struct StoreConfig {
    /// libwal's segment size (`wal::Options::segment_size`).
    pub segment_size: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { segment_size: wal::DEFAULT_SEGMENT_SIZE }
    }
}

/// What a store did since it was opened: tests read it to prove that a path
/// ran (a conflict cut, a purge), not only that nothing failed.
#[derive(Debug, Default)]
pub struct LogStats {
    /// Entries appended.
    pub appended: AtomicU64,
    /// `Wal::truncate_after` calls that cut at least one entry (conflicts).
    pub conflict_cuts: AtomicU64,
    /// Entries those cuts removed.
    pub entries_cut: AtomicU64,
    /// `purge` calls that moved the last purged log id.
    pub purges: AtomicU64,
    /// Syncs made by the flusher (each acknowledges one or more appends).
    pub syncs: AtomicU64,
}

impl LogStats {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::SeqCst)
    }
}

/// Where the entries are. Shared by the store and its readers, under a lock
/// held only to read or change it (and by the writer across a write).
#[derive(Debug, Clone)]
struct Bounds<NID: openraft::NodeId> {
    /// index = seq + offset for every record of the log; None while the log
    /// holds no entry (the next append chooses it).
    offset: Option<i128>,
    /// The first entry's index, when there is one.
    first_index: u64,
    /// The last entry's id, or the last purged one when no entry is left.
    last_log_id: Option<LogId<NID>>,
    last_purged: Option<LogId<NID>>,
}

impl<NID: openraft::NodeId> Bounds<NID> {
    /// The indexes held, as [first, last]; None when there are none.
    fn held(&self) -> Option<(i128, u64, u64)> {
        let offset = self.offset?;
        let last = self.last_log_id.as_ref()?.index;
        Some((offset, self.first_index, last))
    }
}

fn seq_of(offset: i128, index: u64) -> u64 {
    // Callers pass indexes of entries the log holds, whose seqs are >= 1.
    (index as i128 - offset) as u64
}

/// The Raft log of one node: DIR/log (the entries) and DIR/meta (vote,
/// committed, last purged).
pub struct LogStore<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    bounds: Arc<Mutex<Bounds<C::NodeId>>>,
    meta: MetaLog<C::NodeId>,
    flusher: Flusher<C>,
    stats: Arc<LogStats>,
}

/// A reader of the entries, for openraft's replication and apply tasks.
/// It holds the log weakly: once its store is dropped (the node stopped),
/// reads fail and the directory's lock is released.
pub struct LogReader<C: RaftTypeConfig> {
    wal: Weak<Wal>,
    bounds: Arc<Mutex<Bounds<C::NodeId>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<C> LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    /// Opens (or creates) the store in `dir`: `dir/log` and `dir/meta`.
    pub fn open(dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self, C> {
        Self::open_in(Arc::new(RealFs), dir, config)
    }

    /// The same on the file system `fs` (libwal's `SimFs` in the tests
    /// that cut the power).
    pub fn open_in(fs: Arc<dyn Fs>, dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self, C> {
        let dir = dir.as_ref();
        let meta = MetaLog::open_in(fs.clone(), &dir.join("meta"))?;
        let opts = Options { segment_size: config.segment_size, sync_mode: SyncMode::None, ..Options::default() };
        let wal =
            Wal::open_in(fs, dir.join("log"), opts).map_err(|e| storage(ErrorSubject::Logs, ErrorVerb::Read, &e))?;
        let wal = Arc::new(wal);
        let last_purged = meta.state().last_purged.clone();
        let bounds = recover::<C>(&wal, last_purged)?;
        let stats = Arc::new(LogStats::default());
        let flusher = Flusher::start(wal.clone(), stats.clone())
            .map_err(|e| storage(ErrorSubject::Store, ErrorVerb::Write, &e))?;
        Ok(LogStore { wal, bounds: Arc::new(Mutex::new(bounds)), meta, flusher, stats })
    }

    /// The counters of this store (they live as long as the Arc).
    pub fn stats(&self) -> Arc<LogStats> {
        self.stats.clone()
    }

    fn reader(&self) -> LogReader<C> {
        LogReader { wal: Arc::downgrade(&self.wal), bounds: self.bounds.clone() }
    }
}

/// The bounds of the log as found at open. The first and last records give
/// the offset and the last log id; records at or below the last purged
/// index (a purge interrupted between saving it and truncating) are
/// truncated now.
fn recover<C>(wal: &Wal, last_purged: Option<LogId<C::NodeId>>) -> Result<Bounds<C::NodeId>, C>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let empty =
        Bounds { offset: None, first_index: 0, last_log_id: last_purged.clone(), last_purged: last_purged.clone() };
    let (first_seq, last_seq) = (wal.first_seq(), wal.last_seq());
    if last_seq < first_seq {
        return Ok(empty);
    }
    let first = read_one::<C>(wal, first_seq)?;
    let offset = first.get_log_id().index as i128 - first_seq as i128;
    let last = read_one::<C>(wal, last_seq)?;
    if last.get_log_id().index as i128 - last_seq as i128 != offset {
        return Err(violation(
            ErrorSubject::Logs,
            ErrorVerb::Read,
            format!(
                "{}: seq {first_seq} holds index {} but seq {last_seq} holds index {}: the indexes are not contiguous",
                wal.dir().display(),
                first.get_log_id().index,
                last.get_log_id().index
            ),
        ));
    }
    let mut bounds = Bounds {
        offset: Some(offset),
        first_index: first.get_log_id().index,
        last_log_id: Some(last.get_log_id().clone()),
        last_purged: last_purged.clone(),
    };
    if let Some(p) = &last_purged {
        if p.index >= bounds.first_index {
            let upto = seq_of(offset, p.index.min(last.get_log_id().index));
            wal.truncate(upto).map_err(|e| storage(ErrorSubject::Logs, ErrorVerb::Delete, &e))?;
            if p.index >= last.get_log_id().index {
                return Ok(empty);
            }
            bounds.first_index = p.index + 1;
        }
    }
    Ok(bounds)
}

/// The entry at `seq`, which the log holds.
fn read_one<C>(wal: &Wal, seq: u64) -> Result<C::Entry, C>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let err = |e: &wal::Error| storage(ErrorSubject::Logs, ErrorVerb::Read, e);
    let mut it = wal.iter(seq - 1).map_err(|e| err(&e))?;
    match it.next().map_err(|e| err(&e))? {
        Some(rec) if rec.seq == seq => decode::<C>(wal, &rec, None),
        _ => Err(violation(
            ErrorSubject::Logs,
            ErrorVerb::Read,
            format!("{}: no record at seq {seq}", wal.dir().display()),
        )),
    }
}

/// A record's entry, checked: an entry record whose key is the entry's
/// index, and that index is `expected` when given.
fn decode<C>(wal: &Wal, rec: &wal::Record<'_>, expected: Option<u64>) -> Result<C::Entry, C>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
{
    let bad = |what: String| {
        violation(ErrorSubject::Logs, ErrorVerb::Read, format!("{}: seq {}: {what}", wal.dir().display(), rec.seq))
    };
    let key: [u8; 8] =
        rec.key.try_into().map_err(|_| bad(format!("a key of {} bytes, not an index", rec.key.len())))?;
    let key_index = u64::from_be_bytes(key);
    if rec.op != OP_ENTRY {
        return Err(bad(format!("op {} is not an entry", rec.op)));
    }
    let entry: C::Entry =
        serde_json::from_slice(rec.value).map_err(|e| bad(format!("the entry does not decode: {e}")))?;
    let index = entry.get_log_id().index;
    if index != key_index {
        return Err(bad(format!("the key says index {key_index}, the entry {index}")));
    }
    if let Some(want) = expected.filter(|&w| w != index) {
        return Err(bad(format!("index {index} where index {want} belongs")));
    }
    Ok(entry)
}

/// The entries of `range` that the log holds, in order. Ones that are not
/// there (purged, past the end, cut meanwhile) are left out, as openraft
/// allows; damage or an I/O error is an error.
fn read_range<C, RB>(wal: &Wal, bounds: &Mutex<Bounds<C::NodeId>>, range: RB) -> Result<Vec<C::Entry>, C>
where
    C: RaftTypeConfig,
    C::Entry: DeserializeOwned,
    RB: RangeBounds<u64>,
{
    let Some((offset, first, last)) = lock(bounds).held() else { return Ok(Vec::new()) };
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    // The last index wanted, inclusive.
    let end = match range.end_bound() {
        Bound::Included(&e) => Some(e),
        Bound::Excluded(&0) => None,
        Bound::Excluded(&e) => Some(e - 1),
        Bound::Unbounded => Some(u64::MAX),
    };
    let (lo, hi) = (
        start.max(first),
        match end {
            Some(e) => e.min(last),
            None => return Ok(Vec::new()),
        },
    );
    if lo > hi {
        return Ok(Vec::new());
    }
    let err = |e: &wal::Error| storage(ErrorSubject::Logs, ErrorVerb::Read, e);
    let mut it = match wal.iter(seq_of(offset, lo) - 1) {
        Ok(it) => it,
        // Purged or cut since the bounds were read.
        Err(e) if e.kind() == ErrorKind::Range => return Ok(Vec::new()),
        Err(e) => return Err(err(&e)),
    };
    let mut entries = Vec::with_capacity((hi - lo + 1).min(4096) as usize);
    for index in lo..=hi {
        match it.next() {
            Ok(Some(rec)) => {
                if (rec.seq as i128 + offset) as u64 != index {
                    return Err(violation(
                        ErrorSubject::LogIndex(index),
                        ErrorVerb::Read,
                        format!("{}: seq {} where index {index} belongs", wal.dir().display(), rec.seq),
                    ));
                }
                entries.push(decode::<C>(wal, &rec, Some(index))?);
            }
            // The end: the entries after were cut meanwhile.
            Ok(None) => break,
            Err(e) if e.kind() == ErrorKind::Range => break,
            Err(e) => return Err(err(&e)),
        }
    }
    Ok(entries)
}

impl<C> RaftLogReader<C> for LogReader<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, C> {
        let Some(wal) = self.wal.upgrade() else {
            return Err(violation(ErrorSubject::Logs, ErrorVerb::Read, "the log store was closed"));
        };
        read_range::<C, RB>(&wal, &self.bounds, range)
    }
}

impl<C> RaftLogReader<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, C> {
        read_range::<C, RB>(&self.wal, &self.bounds, range)
    }
}

impl<C> RaftLogStorage<C> for LogStore<C>
where
    C: RaftTypeConfig,
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, C> {
        let b = lock(&self.bounds);
        Ok(LogState { last_purged_log_id: b.last_purged.clone(), last_log_id: b.last_log_id.clone() })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), C> {
        self.meta.update(ErrorSubject::Vote, |s| s.vote = Some(vote.clone()))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, C> {
        Ok(self.meta.state().vote.clone())
    }

    async fn save_committed(&mut self, committed: Option<LogId<C::NodeId>>) -> Result<(), C> {
        self.meta.update(ErrorSubject::Store, |s| s.committed = committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<C::NodeId>>, C> {
        Ok(self.meta.state().committed.clone())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<C>) -> Result<(), C>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records: Vec<Encoded<C::NodeId>> = Vec::new();
        for entry in entries {
            let log_id = entry.get_log_id().clone();
            let value = serde_json::to_vec(&entry)
                .map_err(|e| storage(ErrorSubject::Log(log_id.clone()), ErrorVerb::Write, &e))?;
            records.push((log_id.clone(), log_id.index.to_be_bytes(), value));
        }
        let mut b = lock(&self.bounds);
        // An entry at or below the last purged index is purged as soon as
        // it is written (a purge may take effect at any time), so it is not
        // written. openraft's suite appends such entries after a purge that
        // went past the end of the log; a cluster never does.
        if let Some(p) = &b.last_purged {
            records.retain(|(log_id, _, _)| log_id.index > p.index);
        }
        if let Some((first, _, _)) = records.first() {
            // Entries follow the log (or the last purged entry) with no gap.
            let next = b.last_log_id.as_ref().map(|l| l.index + 1).unwrap_or(first.index);
            for (want, (log_id, _, _)) in (next..).zip(&records) {
                if log_id.index != want {
                    return Err(violation(
                        ErrorSubject::Log(log_id.clone()),
                        ErrorVerb::Write,
                        format!(
                            "{}: index {} appended where index {want} comes next",
                            self.wal.dir().display(),
                            log_id.index
                        ),
                    ));
                }
            }
            if b.offset.is_none() {
                b.offset = Some(first.index as i128 - (self.wal.last_seq() as i128 + 1));
                b.first_index = first.index;
            }
        }
        let offset = b.offset.unwrap_or(0);
        for chunk in batches(&records) {
            let batch: Vec<Entry<'_>> =
                chunk.iter().map(|(_, key, value)| Entry { op: OP_ENTRY, key, value }).collect();
            let (last_id, _, _) = &chunk[chunk.len() - 1];
            let seq = self
                .wal
                .append_batch(&batch)
                .map_err(|e| storage(ErrorSubject::Log(last_id.clone()), ErrorVerb::Write, &e))?;
            if seq != seq_of(offset, last_id.index) {
                return Err(violation(
                    ErrorSubject::Log(last_id.clone()),
                    ErrorVerb::Write,
                    format!(
                        "{}: index {} was given seq {seq}, not {}",
                        self.wal.dir().display(),
                        last_id.index,
                        seq_of(offset, last_id.index)
                    ),
                ));
            }
            b.last_log_id = Some(last_id.clone());
            self.stats.appended.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        }
        let seq = self.wal.last_seq();
        drop(b);
        self.flusher.submit(seq, callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), C> {
        let mut b = lock(&self.bounds);
        let Some((offset, first, last)) = b.held() else { return Ok(()) };
        if log_id.index > last {
            return Ok(());
        }
        if let Some(p) = b.last_purged.as_ref().filter(|p| log_id.index <= p.index) {
            return Err(violation(
                ErrorSubject::Log(log_id.clone()),
                ErrorVerb::Delete,
                format!(
                    "cannot cut the log from index {}: entries up to {} are purged (committed)",
                    log_id.index, p.index
                ),
            ));
        }
        // No callback may wait for a record the cut removes.
        self.flusher.flush_now();
        let from = log_id.index.max(first);
        self.wal
            .truncate_after(seq_of(offset, from) - 1)
            .map_err(|e| storage(ErrorSubject::Log(log_id.clone()), ErrorVerb::Delete, &e))?;
        self.stats.conflict_cuts.fetch_add(1, Ordering::SeqCst);
        self.stats.entries_cut.fetch_add(last - from + 1, Ordering::SeqCst);
        if from == first {
            b.offset = None;
            b.last_log_id = b.last_purged.clone();
        } else {
            let prev = read_one::<C>(&self.wal, seq_of(offset, from - 1))?;
            b.last_log_id = Some(prev.get_log_id().clone());
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), C> {
        let mut b = lock(&self.bounds);
        if b.last_purged.as_ref().is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        // Durable first: a crash before the truncate leaves records that
        // the next open hides and truncates.
        self.meta.update(ErrorSubject::Log(log_id.clone()), |s| s.last_purged = Some(log_id.clone()))?;
        b.last_purged = Some(log_id.clone());
        self.stats.purges.fetch_add(1, Ordering::SeqCst);
        match b.held() {
            Some((offset, first, last)) => {
                if log_id.index >= first {
                    self.wal
                        .truncate(seq_of(offset, log_id.index.min(last)))
                        .map_err(|e| storage(ErrorSubject::Log(log_id.clone()), ErrorVerb::Delete, &e))?;
                }
                if log_id.index >= last {
                    b.offset = None;
                    b.last_log_id = Some(log_id);
                } else {
                    b.first_index = first.max(log_id.index + 1);
                }
            }
            None => {
                if b.last_log_id.as_ref().is_none_or(|l| l.index < log_id.index) {
                    b.last_log_id = Some(log_id);
                }
            }
        }
        Ok(())
    }
}

/// An entry ready to write: its id, its key (the index) and its value.
type Encoded<NID> = (LogId<NID>, [u8; 8], Vec<u8>);

/// Splits records into runs that each fit in one libwal batch.
fn batches<NID: openraft::NodeId>(records: &[Encoded<NID>]) -> Vec<&[Encoded<NID>]> {
    let mut out = Vec::new();
    let (mut start, mut size) = (0, 0usize);
    for (i, (_, key, value)) in records.iter().enumerate() {
        let len = wal::format::ENTRY_HEADER_LEN + key.len() + value.len();
        if i > start && size + len > wal::MAX_BATCH_SIZE {
            out.push(&records[start..i]);
            (start, size) = (i, 0);
        }
        size += len;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// Syncs the log on a thread of its own and calls openraft's callbacks once
/// `durable_seq` covers their appends. One sync serves every append queued
/// while the previous one ran.
struct Flusher<C: RaftTypeConfig> {
    queue: Arc<FlushQueue<C>>,
    thread: Option<JoinHandle<()>>,
}

struct FlushQueue<C: RaftTypeConfig> {
    wal: Arc<Wal>,
    stats: Arc<LogStats>,
    pending: Mutex<Pending<C>>,
    wake: Condvar,
    /// Held from taking callbacks to calling them, so that they are called
    /// in order whoever flushes (the thread, or `truncate` before a cut).
    flushing: Mutex<()>,
}

struct Pending<C: RaftTypeConfig> {
    callbacks: VecDeque<(u64, LogFlushed<C>)>,
    stop: bool,
}

impl<C: RaftTypeConfig> Flusher<C> {
    fn start(wal: Arc<Wal>, stats: Arc<LogStats>) -> io::Result<Self> {
        let queue = Arc::new(FlushQueue {
            wal,
            stats,
            pending: Mutex::new(Pending { callbacks: VecDeque::new(), stop: false }),
            wake: Condvar::new(),
            flushing: Mutex::new(()),
        });
        let q = queue.clone();
        let thread = std::thread::Builder::new().name("libwal-raft-flush".into()).spawn(move || q.run())?;
        Ok(Flusher { queue, thread: Some(thread) })
    }

    /// `callback` is called once every seq up to `seq` is durable.
    fn submit(&self, seq: u64, callback: LogFlushed<C>) {
        lock(&self.queue.pending).callbacks.push_back((seq, callback));
        self.queue.wake.notify_one();
    }

    /// Syncs and calls every callback queued so far, on this thread.
    fn flush_now(&self) {
        self.queue.flush();
    }
}

impl<C: RaftTypeConfig> FlushQueue<C> {
    fn run(&self) {
        loop {
            {
                let mut p = lock(&self.pending);
                while p.callbacks.is_empty() && !p.stop {
                    p = self.wake.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.callbacks.is_empty() && p.stop {
                    return;
                }
            }
            self.flush();
        }
    }

    fn flush(&self) {
        let _order = lock(&self.flushing);
        let batch: Vec<(u64, LogFlushed<C>)> = lock(&self.pending).callbacks.drain(..).collect();
        if batch.is_empty() {
            return;
        }
        let synced = self.wal.sync();
        self.stats.syncs.fetch_add(1, Ordering::SeqCst);
        let durable = self.wal.durable_seq();
        for (seq, callback) in batch {
            let result = match &synced {
                Err(e) => Err(io::Error::other(e.to_string())),
                Ok(()) if durable < seq => Err(io::Error::other(format!(
                    "{}: after a sync, libwal's durable seq is {durable}, below the append's seq {seq}",
                    self.wal.dir().display()
                ))),
                Ok(()) => Ok(()),
            };
            callback.log_io_completed(result);
        }
    }
}

impl<C: RaftTypeConfig> Drop for Flusher<C> {
    fn drop(&mut self) {
        lock(&self.queue.pending).stop = true;
        self.queue.wake.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
