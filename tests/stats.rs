//! `Wal::stats` (wal_stats): what was appended, written and synced since the
//! open, the fdatasync latencies, the largest group commit, and the segment
//! files now.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::time::Duration;
use wal::io::sim::{OpKind, SimFs};
use wal::io::Fs;
use wal::{Entry, Options, Stats, SyncMode, Wal};

const DIR: &str = "/log";

fn none(segment_size: u64) -> Options {
    Options { sync_mode: SyncMode::None, ..small(segment_size) }
}

/// The bytes the log's segment files occupy on disk, as stat says.
fn disk_bytes(dir: &std::path::Path) -> u64 {
    segments(dir).iter().map(|p| std::fs::metadata(p).unwrap().blocks() * 512).sum()
}

#[test]
fn appends_count_records_and_their_key_and_value_bytes() {
    let dir = TempDir::new("stats-appends");
    let wal = Wal::open(dir.path(), none(1 << 20)).unwrap();
    assert_eq!(wal.stats().unwrap(), Stats::default(), "a new log, before any append");
    wal.append(1, b"key", b"value").unwrap(); // 3 + 5
    wal.append(2, b"", b"").unwrap();
    let batch = [Entry { op: 1, key: b"ab", value: b"cdef" }, Entry { op: 1, key: b"g", value: &[7; 100] }];
    wal.append_batch(&batch).unwrap(); // 6 + 101
    wal.checkpoint().unwrap(); // a record, with no bytes
    let s = wal.stats().unwrap();
    assert_eq!(s.records_appended, 5, "{s:?}");
    assert_eq!(s.bytes_appended, 8 + 6 + 101, "{s:?}");
    // A batch refused is not counted.
    let bad = [Entry { op: 1, key: b"k", value: b"v" }, Entry { op: 0, key: b"k", value: b"v" }];
    assert!(wal.append_batch(&bad).is_err());
    assert_eq!(wal.stats().unwrap().records_appended, 5);
    wal.close().unwrap();
    // Counters start again at every open.
    let wal = Wal::open(dir.path(), none(1 << 20)).unwrap();
    let s = wal.stats().unwrap();
    assert_eq!((s.records_appended, s.bytes_appended), (0, 0), "{s:?}");
    assert_eq!(s.segments, 1);
}

/// In a fresh directory, from the open on (which writes wal.meta, and no
/// segment yet), every write and every file sync before the close is one of
/// a segment file, so the simulated file system's own counts are the
/// oracle: headers, frames, sync marks and the zeros written ahead.
#[test]
fn bytes_written_and_syncs_are_every_write_and_sync_of_a_segment_file() {
    for (opts, what) in [
        (none(1 << 20), "no preallocation, one sync at the end"),
        (small(4096), "WAL_SYNC_ALWAYS, rotations"),
        (Options { segment_size: 2 << 20, preallocate: true, ..Options::default() }, "preallocated, zeros ahead"),
    ] {
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
        let at_open = wal.stats().unwrap();
        assert_eq!((at_open.bytes_written, at_open.syncs), (0, 0), "{what}: no segment yet");
        let (written_at_open, syncs_at_open) = (fs.bytes_written(), fs.count(OpKind::Sync));
        for i in 1..=100 {
            wal.append(1, &key(i), &value(i, 100)).unwrap();
        }
        wal.sync().unwrap();
        let s = wal.stats().unwrap();
        // The seek hints a rotation writes beside the segment it seals
        // (NNNN.idx, each written once, never synced) are not segment files.
        let hints: u64 = fs
            .list(std::path::Path::new(DIR))
            .unwrap()
            .into_iter()
            .filter(|n| n.to_str().is_some_and(|n| n.ends_with(".idx")))
            .map(|n| fs.read_file(&std::path::Path::new(DIR).join(n)).unwrap().len() as u64)
            .sum();
        assert_eq!(s.bytes_written, fs.bytes_written() - written_at_open - hints, "{what}: {s:?}");
        assert_eq!(s.syncs, fs.count(OpKind::Sync) - syncs_at_open, "{what}: {s:?}");
        if opts.preallocate {
            assert!(s.bytes_written > 512 << 10, "{what}: the zeros written ahead count: {s:?}");
        } else if opts.sync_mode == SyncMode::None {
            let len = fs.read_file(&std::path::Path::new(DIR).join("00000000000000000001.wal")).unwrap().len();
            assert_eq!(s.bytes_written, len as u64 * s.segments, "{what}: one segment, written once: {s:?}");
        } else {
            assert!(s.syncs > 100, "{what}: one fdatasync per durable append at least: {s:?}");
        }
    }
}

#[test]
fn segments_and_disk_bytes_are_the_segment_files_now() {
    let dir = TempDir::new("stats-disk");
    let wal = fill(dir.path(), small(4096), 200, 100);
    let s = wal.stats().unwrap();
    assert!(s.segments > 3, "{s:?}");
    assert_eq!(s.segments, segments(dir.path()).len() as u64);
    assert_eq!(s.disk_bytes, disk_bytes(dir.path()), "{s:?}");
    assert!(s.disk_bytes >= s.segments * 4096 / 2, "{s:?}");
    wal.truncate(150).unwrap();
    let after = wal.stats().unwrap();
    assert!(after.segments < s.segments, "{after:?}");
    // The files a truncate frees go to a thread that deletes them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while segments(dir.path()).len() as u64 != after.segments && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(after.segments, segments(dir.path()).len() as u64);
    assert_eq!(after.disk_bytes, disk_bytes(dir.path()), "{after:?}");
    wal.close().unwrap();
    // A preallocated segment counts the space it reserved, not its length.
    let dir = TempDir::new("stats-prealloc");
    let wal = Wal::open(dir.path(), Options { segment_size: 64 << 20, ..Options::default() }).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    let s = wal.stats().unwrap();
    assert_eq!((s.segments, s.disk_bytes), (1, disk_bytes(dir.path())), "{s:?}");
    // A read-only handle has appended and written nothing, and sees the files.
    let ro = Wal::open(dir.path(), Options { read_only: true, ..Options::default() }).unwrap();
    let r = ro.stats().unwrap();
    assert_eq!(r, Stats { segments: 1, disk_bytes: s.disk_bytes, ..Stats::default() });
}

/// The files of `dir` ending in `suffix`, as (how many, bytes on disk).
fn files_ending(dir: &std::path::Path, suffix: &str) -> (u64, u64) {
    let mut found = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().ends_with(suffix) {
            found.0 += 1;
            found.1 += entry.metadata().unwrap().blocks() * 512;
        }
    }
    found
}

/// A truncate keeps freed segments as spares for recycling: they occupy
/// disk, and disk_bytes says so. A rotation that takes one goes on counting
/// the writes and syncs of what is now the active segment.
#[test]
fn spares_count_on_disk_and_a_recycled_segment_counts_its_writes() {
    let dir = TempDir::new("stats-spares");
    let opts = Options { segment_size: 16 << 10, sync_mode: SyncMode::None, ..Options::default() };
    let wal = fill(dir.path(), opts, 1000, 100);
    wal.truncate(900).unwrap();
    let s = wal.stats().unwrap();
    let (spares, spare_bytes) = files_ending(dir.path(), ".spare");
    assert!(spares > 0, "the truncate kept no spare");
    // Segments beyond the spares go to a thread that deletes them.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while files_ending(dir.path(), ".wal").0 != s.segments && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let (segs, seg_bytes) = files_ending(dir.path(), ".wal");
    assert_eq!((s.segments, s.disk_bytes), (segs, seg_bytes + spare_bytes), "{s:?}");
    // Append until a rotation has taken a spare, then some more, and sync.
    let mut seq = 1000;
    while files_ending(dir.path(), ".spare").0 == spares {
        seq += 1;
        wal.append(1, &key(seq), &value(seq, 100)).unwrap();
        assert!(seq < 2000, "no rotation took a spare");
    }
    let before = wal.stats().unwrap();
    for i in 1..=50 {
        wal.append(1, &key(seq + i), &value(seq + i, 100)).unwrap();
    }
    wal.sync().unwrap();
    let after = wal.stats().unwrap();
    assert!(after.bytes_written - before.bytes_written >= 50 * frame_len(key(seq).len(), 100), "{before:?} {after:?}");
    assert!(after.syncs > before.syncs, "{before:?} {after:?}");
}

/// One fdatasync held for 200 ms among many fast ones: the maximum shows it,
/// the median and the 99th percentile do not.
#[test]
fn sync_latency_has_a_median_a_99th_percentile_and_an_exact_max() {
    let fs = SimFs::new();
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, small(1 << 20)).unwrap();
    for i in 1..=300 {
        wal.append(1, &key(i), b"v").unwrap();
    }
    let held = fs.pause_sync(1);
    std::thread::scope(|s| {
        let slow = s.spawn(|| wal.append(1, b"slow", b"v"));
        held.wait_held();
        std::thread::sleep(Duration::from_millis(200));
        held.release();
        slow.join().unwrap().unwrap();
    });
    let s = wal.stats().unwrap();
    assert!(s.syncs > 300, "{s:?}");
    assert!(s.sync_us_max >= 200_000, "the held fdatasync: {s:?}");
    assert!(s.sync_us_p50 <= s.sync_us_p99 && s.sync_us_p99 < 200_000, "one slow sync in 300: {s:?}");
}

/// While one fdatasync is held, seven threads append and wait: the next
/// group commit makes all seven durable with one fdatasync.
#[test]
fn group_max_is_the_largest_group_one_fdatasync_made_durable() {
    let fs = SimFs::new();
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, small(1 << 20)).unwrap();
    wal.append(1, b"first", b"v").unwrap();
    assert_eq!(wal.stats().unwrap().group_max, 1, "one thread: one record per fdatasync");
    let held = fs.pause_sync(1);
    let wal = &wal;
    std::thread::scope(|s| {
        let leader = s.spawn(|| wal.append(1, b"leader", b"v"));
        held.wait_held();
        let followers: Vec<_> = (0..7).map(|i| s.spawn(move || wal_append(wal, i))).collect();
        while wal.last_seq() < 9 {
            std::thread::sleep(Duration::from_millis(1));
        }
        held.release();
        leader.join().unwrap().unwrap();
        for f in followers {
            f.join().unwrap();
        }
    });
    let s = wal.stats().unwrap();
    assert!(s.group_max >= 7, "seven appends waited behind one fdatasync: {s:?}");
    assert!(s.group_max <= 9, "{s:?}");
    fn wal_append(wal: &Wal, i: u64) {
        wal.append(1, &key(i), b"v").unwrap();
    }
}
