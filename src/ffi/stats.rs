//! wal_stats: the counters of a handle, for monitoring.

use super::boundary::{arg, status};
use super::handle::wal_t;
use super::WAL_OK;
use crate::error::Error;
use std::ffi::c_int;

/// Counters since wal_open, for monitoring. Filled by wal_stats.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct wal_stats_t {
    /// Records appended (batch entries one each, checkpoints too).
    pub records_appended: u64,
    /// Key + value bytes of those records.
    pub bytes_appended: u64,
    /// Bytes written to segment files (headers, frames, zeros).
    pub bytes_written: u64,
    /// fdatasyncs of segment files.
    pub syncs: u64,
    /// fdatasync latency, microseconds, from a histogram (buckets at most
    /// 1/16 of their value wide; 0 before any sync).
    pub sync_us_p50: u64,
    pub sync_us_p99: u64,
    /// The slowest fdatasync, exactly.
    pub sync_us_max: u64,
    /// Most records made durable by one fdatasync.
    pub group_max: u64,
    /// Segment files in the log now.
    pub segments: u64,
    /// Bytes the segment files occupy on disk now (their blocks), the spares
    /// kept for recycling included.
    pub disk_bytes: u64,
    /// Reserved: zero; more counters may follow here.
    pub reserved: [u64; 6],
}

/// Fills `*out` with the handle's counters since wal_open (appends, bytes
/// written to and fdatasyncs of segment files, fdatasync latency p50, p99
/// and max, the largest group commit) and the segments now (how many, the
/// bytes they and the spares kept for recycling occupy on disk). Costs one
/// stat per segment file and a directory listing; any thread, at any time,
/// read-only handles too.
/// Returns WAL_OK; WAL_E_INVALID for a NULL argument; WAL_E_IO when a
/// segment file cannot be stat'ed or the directory listed (`*out` is then
/// left unchanged).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wal_stats(w: *mut wal_t, out: *mut wal_stats_t) -> c_int {
    status(|| {
        let wal = &arg(w, "the wal_t handle")?.wal;
        // SAFETY: the caller passes NULL or a valid, writable wal_stats_t.
        let out = unsafe { out.as_mut() }.ok_or_else(|| Error::invalid("out is NULL"))?;
        let s = wal.stats()?;
        *out = wal_stats_t {
            records_appended: s.records_appended,
            bytes_appended: s.bytes_appended,
            bytes_written: s.bytes_written,
            syncs: s.syncs,
            sync_us_p50: s.sync_us_p50,
            sync_us_p99: s.sync_us_p99,
            sync_us_max: s.sync_us_max,
            group_max: s.group_max,
            segments: s.segments,
            disk_bytes: s.disk_bytes,
            reserved: [0; 6],
        };
        Ok(WAL_OK)
    })
}
