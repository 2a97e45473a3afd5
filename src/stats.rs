//! Counters since the open, for monitoring (`wal_stats`): what was appended,
//! what went to the segment files, how long their fdatasyncs took, how many
//! records one fdatasync made durable, and what the segments hold on disk.
//!
//! The segment files' writes and syncs are counted where they happen, in a
//! file-system wrapper (`CountingFs`) that the open puts between the log and
//! its `Fs`: every write of a header, a frame or zeros and every fdatasync
//! passes through it, whichever part of the log makes it. Appends are
//! counted under the state lock the append holds anyway, in plain fields;
//! the write and sync counters are atomics touched once per system call,
//! never once per append.

use crate::error::{Error, Result};
use crate::format::ENTRY_HEADER_LEN;
use crate::io::{Fs, FsFile, OpenMode};
use crate::log::Wal;
use std::any::Any;
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

/// What `Wal::stats` reports: counters since the open, and the segments now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records appended (batch entries one each, checkpoints too).
    pub records_appended: u64,
    /// Key + value bytes of those records.
    pub bytes_appended: u64,
    /// Bytes written to segment files: headers, frames, zeros written ahead
    /// (the open's own writes, when it repairs the newest segment, too).
    pub bytes_written: u64,
    /// fdatasyncs (and fsyncs) of segment files.
    pub syncs: u64,
    /// fdatasync latency in microseconds, from a histogram whose buckets are
    /// at most 1/16 of their value wide: the top of the bucket holding the
    /// median, and the 99th percentile; 0 before any sync.
    pub sync_us_p50: u64,
    pub sync_us_p99: u64,
    /// The slowest fdatasync, exactly.
    pub sync_us_max: u64,
    /// The most records one group commit's fdatasync made durable.
    pub group_max: u64,
    /// Segment files in the log now.
    pub segments: u64,
    /// Bytes the segment files occupy on disk now (their blocks, not their
    /// length: a preallocated segment counts its reserved space), the spares
    /// kept for recycling included.
    pub disk_bytes: u64,
}

/// Counted by appends, under the state lock (a field of `State`): two
/// additions per append, nothing more.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Appended {
    records: u64,
    /// Frame payloads: the records' keys and values and their entry headers.
    payload: u64,
}

impl Appended {
    /// A frame of `records` records and `payload` bytes of payload.
    #[inline]
    pub fn add(&mut self, records: u64, payload: u64) {
        self.records += records;
        self.payload += payload;
    }

    /// Key + value bytes: the payloads without their entry headers.
    fn bytes(&self) -> u64 {
        self.payload - self.records * ENTRY_HEADER_LEN as u64
    }
}

/// The counters the segment files' writes and syncs and the group commits
/// update, from any thread.
#[derive(Default)]
pub(crate) struct Counters {
    bytes_written: AtomicU64,
    syncs: AtomicU64,
    group_max: AtomicU64,
    sync_us: Histogram,
}

impl Counters {
    /// A group commit's fdatasync made `records` records durable.
    pub fn group(&self, records: u64) {
        self.group_max.fetch_max(records, Relaxed);
    }

    fn synced(&self, started: Instant) {
        self.syncs.fetch_add(1, Relaxed);
        self.sync_us.record(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
    }
}

/// Sub-buckets per power of two: a bucket is at most 1/16 of its values wide.
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Values from 2^TOP_BITS µs (about 13 days) on share the last bucket.
const TOP_BITS: u32 = 40;
const BUCKETS: usize = ((TOP_BITS - SUB_BITS + 1) as u64 * SUB) as usize;

/// A log-linear histogram of microseconds: exact below 16, then 16 buckets
/// per power of two. Lock-free: one relaxed increment per value recorded.
pub(crate) struct Histogram {
    counts: [AtomicU64; BUCKETS],
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { counts: std::array::from_fn(|_| AtomicU64::new(0)), max: AtomicU64::new(0) }
    }
}

/// The bucket of `v`: v itself below SUB; above, the power of two's group
/// and the SUB_BITS bits that follow the leading one.
fn bucket(v: u64) -> usize {
    let v = v.min((1 << TOP_BITS) - 1);
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let group = (exp - SUB_BITS + 1) as u64;
    ((group << SUB_BITS) | ((v >> (exp - SUB_BITS)) & (SUB - 1))) as usize
}

/// The highest value that falls into bucket `i`.
fn bucket_top(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i >> SUB_BITS) as u32 + SUB_BITS - 1;
    let low = (1 << exp) | ((i & (SUB - 1)) << (exp - SUB_BITS));
    low + (1 << (exp - SUB_BITS)) - 1
}

impl Histogram {
    pub fn record(&self, v: u64) {
        self.counts[bucket(v)].fetch_add(1, Relaxed);
        self.max.fetch_max(v, Relaxed);
    }

    pub fn max(&self) -> u64 {
        self.max.load(Relaxed)
    }

    /// The value at or below which `per_mille`/1000 of the values fall, as
    /// the top of its bucket (never above the largest value recorded); 0
    /// when nothing was recorded.
    pub fn quantile(&self, per_mille: u64) -> u64 {
        let counts: [u64; BUCKETS] = std::array::from_fn(|i| self.counts[i].load(Relaxed));
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = (total as u128 * per_mille as u128).div_ceil(1000).max(1) as u64;
        let mut seen = 0;
        for (i, &n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return bucket_top(i).min(self.max());
            }
        }
        self.max()
    }
}

/// Puts `counters` between the log and `fs`: the segment files it opens for
/// writing count their writes and syncs.
pub(crate) fn counting(fs: Arc<dyn Fs>, counters: &Arc<Counters>) -> Arc<dyn Fs> {
    Arc::new(CountingFs { fs, counters: counters.clone() })
}

/// A segment file: `*.wal` (see `segment::segment_name`), or a spare kept
/// for recycling (`*.spare`, see `recycle`): a rotation makes the file it
/// opened as a spare the active segment.
fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == "wal" || ext == "spare")
}

struct CountingFs {
    fs: Arc<dyn Fs>,
    counters: Arc<Counters>,
}

/// Every method of `Fs` is passed on (none may fall back to a default: the
/// wrapped file system's own must run).
impl Fs for CountingFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let file = self.fs.open(path, mode)?;
        if !mode.write || !is_segment(path) {
            return Ok(file);
        }
        Ok(Arc::new(CountingFile { file, counters: self.counters.clone() }))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        self.fs.is_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.fs.create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        self.fs.list(dir)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.fs.remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fs.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.fs.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        self.fs.lock(path)
    }

    fn disk_usage(&self, path: &Path) -> io::Result<u64> {
        self.fs.disk_usage(path)
    }

    fn deletes_in_background(&self) -> bool {
        self.fs.deletes_in_background()
    }
}

struct CountingFile {
    file: Arc<dyn FsFile>,
    counters: Arc<Counters>,
}

/// Every method of `FsFile` is passed on, `data_after` included.
impl FsFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.file.read_at(buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.file.write_all_at(buf, offset)?;
        self.counters.bytes_written.fetch_add(buf.len() as u64, Relaxed);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let started = Instant::now();
        let result = self.file.sync_data();
        self.counters.synced(started);
        result
    }

    fn sync_all(&self) -> io::Result<()> {
        let started = Instant::now();
        let result = self.file.sync_all();
        self.counters.synced(started);
        result
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.file.allocate(len)
    }

    fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.file.zero_range(offset, len)
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.file.start_writeback(offset, len)
    }

    fn size(&self) -> io::Result<u64> {
        self.file.size()
    }

    fn data_after(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        self.file.data_after(offset)
    }
}

impl Wal {
    /// Counters since the open (what was appended, written and synced; the
    /// fdatasync latencies; the largest group commit) and the segments now:
    /// how many, and the bytes they occupy on disk. Cheap enough to call
    /// every second: one look at the state, one stat per segment file and a
    /// listing of the directory for the spares.
    /// `Io` when a segment file cannot be stat'ed (one that a truncate
    /// removes meanwhile is left out), or the directory listed for spares.
    pub fn stats(&self) -> Result<Stats> {
        let inner = &self.inner;
        let (appended, paths) = {
            let st = inner.state();
            (st.appended, st.segments.iter().map(|s| s.path.clone()).collect::<Vec<_>>())
        };
        let (mut segments, mut disk_bytes) = (0, 0);
        for path in &paths {
            if let Some(bytes) = self.disk_usage(path)? {
                segments += 1;
                disk_bytes += bytes;
            }
        }
        for spare in crate::recycle::list_spares(&*inner.fs, &inner.dir)? {
            disk_bytes += self.disk_usage(&spare)?.unwrap_or(0);
        }
        let c = &inner.stats;
        Ok(Stats {
            records_appended: appended.records,
            bytes_appended: appended.bytes(),
            bytes_written: c.bytes_written.load(Relaxed),
            syncs: c.syncs.load(Relaxed),
            sync_us_p50: c.sync_us.quantile(500),
            sync_us_p99: c.sync_us.quantile(990),
            sync_us_max: c.sync_us.max(),
            group_max: c.group_max.load(Relaxed),
            segments,
            disk_bytes,
        })
    }

    /// The bytes a file of the log occupies; None for one removed meanwhile
    /// (by a truncate, or a rotation that took a spare).
    fn disk_usage(&self, path: &Path) -> Result<Option<u64>> {
        match self.inner.fs.disk_usage(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("stat", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_exact_below_16_and_at_most_a_16th_wide() {
        for v in 0..SUB {
            assert_eq!(bucket(v), v as usize);
            assert_eq!(bucket_top(v as usize), v);
        }
        let mut v = 0u64;
        for i in 0..BUCKETS - 1 {
            let top = bucket_top(i);
            assert!(top >= v, "bucket {i} ends at {top}, below its first value {v}");
            assert_eq!(bucket(v), i, "value {v}");
            assert_eq!(bucket(top), i, "value {top}");
            assert_eq!(bucket(top + 1), i + 1, "value {}", top + 1);
            assert!((top - v + 1) * SUB <= v.max(SUB), "bucket {i}: {v}..={top} is wider than a 16th");
            v = top + 1;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_come_from_the_buckets_and_max_is_exact() {
        let h = Histogram::default();
        assert_eq!((h.quantile(500), h.quantile(990), h.max()), (0, 0, 0));
        for v in 1..=1000 {
            h.record(v);
        }
        h.record(1_000_000);
        let (p50, p99) = (h.quantile(500), h.quantile(990));
        // The 501st of 1001 values is 501, the 991st is 991: each reported
        // as its bucket's top, within a 16th above it.
        assert!((501..=501 + 501 / 16).contains(&p50), "p50 {p50}");
        assert!((991..=991 + 991 / 16).contains(&p99), "p99 {p99}");
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.quantile(1000), 1_000_000);
        let one = Histogram::default();
        one.record(40);
        assert_eq!((one.quantile(500), one.quantile(990), one.max()), (40, 40, 40));
    }
}
