//! Seeking: an iterator opened at any seq returns exactly what a full scan
//! returns from there, and opening it costs O(log n), not a scan of its
//! segment (`src/index.rs`).

mod common;
use common::*;
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wal::io::RealFs;
use wal::{Entry, ErrorKind, Options, RecoveryMode, SyncMode, Wal};

/// What the log holds, read by one iterator from the start.
fn full_scan(wal: &Wal) -> Vec<Row> {
    collect(wal, 0).unwrap()
}

/// Every iterator opened after a seq the log holds (and after first-1)
/// returns what the full scan returns after that seq: the first records
/// of each, and every record for one seq in `every`.
fn check_every_seek(wal: &Wal, all: &[Row], every: usize, what: &str) {
    let Some(first) = all.first().map(|r| r.0) else { return };
    for (i, after) in (first - 1..=wal.last_seq()).enumerate() {
        let want: Vec<&Row> = all.iter().filter(|r| r.0 > after).collect();
        let mut it = wal.iter(after).unwrap_or_else(|e| panic!("{what}: iter({after}): {e}"));
        let take = if i % every == 0 { usize::MAX } else { 4 };
        let mut got = Vec::new();
        while got.len() < take {
            match it.next().unwrap_or_else(|e| panic!("{what}: iter({after}) record {}: {e}", got.len())) {
                Some(r) => got.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec())),
                None => break,
            }
        }
        let want: Vec<Row> = want.into_iter().take(take).cloned().collect();
        let (got_seqs, want_seqs) = (seqs_of(&got), seqs_of(&want));
        assert!(got == want, "{what}: iter({after}) returned seqs {got_seqs:?}, a full scan {want_seqs:?}");
    }
}

fn seqs_of(rows: &[Row]) -> Vec<u64> {
    rows.iter().map(|r| r.0).take(8).collect()
}

/// A log of singles of many sizes, batches of 2 to 12 entries, a record
/// bigger than the writer's buffer and one bigger than a segment, sync
/// marks (syncs) and checkpoints: every kind of frame, across rotations.
fn mixed_log(wal: &Wal, rounds: u64, tag: u8) {
    mixed(wal, rounds, tag, true)
}

/// The same without checkpoints, which a cut may not pass.
fn mixed(wal: &Wal, rounds: u64, tag: u8, checkpoints: bool) {
    let mut n = 0u64;
    for round in 0..rounds {
        for i in 0..40u64 {
            n += 1;
            let len = ((n * 37) % 300) as usize;
            wal.append(1 + (n % 3) as u8, &key(n), &tagged(n, len, tag)).unwrap();
            if i % 9 == 0 {
                let count = 2 + (n % 11);
                let vals: Vec<Vec<u8>> = (0..count).map(|j| tagged(n + j, 20 + j as usize, tag)).collect();
                let keys: Vec<Vec<u8>> = (0..count).map(|j| key(n + j)).collect();
                let entries: Vec<Entry> =
                    (0..count as usize).map(|j| Entry { op: 1, key: &keys[j], value: &vals[j] }).collect();
                wal.append_batch(&entries).unwrap();
            }
            if i % 17 == 0 {
                wal.sync().unwrap();
            }
        }
        match round % 4 {
            1 if checkpoints => {
                wal.checkpoint().unwrap();
            }
            2 => {
                wal.append(1, b"big", &tagged(round, 100 << 10, tag)).unwrap();
            }
            3 if round % 8 == 3 => {
                wal.append(1, b"huge", &tagged(round, 300 << 10, tag)).unwrap();
            }
            _ => {}
        }
    }
}

/// A value whose bytes say which write made it (`tag`) and which record.
fn tagged(i: u64, len: usize, tag: u8) -> Vec<u8> {
    let mut v = value(i, len);
    if let Some(b) = v.first_mut() {
        *b = tag;
    }
    v
}

/// 256 KiB segments: many index entries each, and many rotations.
fn opts() -> Options {
    Options { segment_size: 256 << 10, sync_mode: SyncMode::None, ..Options::default() }
}

#[test]
fn every_seek_returns_what_a_full_scan_returns_on_the_writing_handle_and_after_reopens() {
    let dir = TempDir::new("seekall");
    let wal = Wal::open(dir.path(), opts()).unwrap();
    mixed_log(&wal, 24, 1);
    let all = full_scan(&wal);
    assert!(segments(dir.path()).len() >= 6, "rotations: {}", segments(dir.path()).len());
    check_every_seek(&wal, &all, 61, "writing handle");
    // A second round reads through the index as the first one left it.
    check_every_seek(&wal, &all, 59, "writing handle, again");
    drop(wal);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    check_every_seek(&wal, &all, 53, "after a clean reopen");
    close_as_if_killed(wal);
    let ro = Wal::open(dir.path(), Options { read_only: true, ..opts() }).unwrap();
    check_every_seek(&ro, &all, 47, "read-only, beside nothing");
    drop(ro);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    check_every_seek(&wal, &all, 43, "after a kill");
    // And the log goes on: seeks into what is appended after the reopen.
    mixed_log(&wal, 6, 2);
    let all = full_scan(&wal);
    check_every_seek(&wal, &all, 41, "appended after the reopen");
}

#[test]
fn seeks_after_a_truncate_start_at_the_floor_and_never_below() {
    let dir = TempDir::new("seektrunc");
    let wal = Wal::open(dir.path(), opts()).unwrap();
    mixed_log(&wal, 16, 1);
    let last = wal.last_seq();
    // Into the middle of a segment: the segments before go (recycled as
    // spares), the one holding the floor stays and keeps its index.
    let floor = last / 2 + 7;
    wal.truncate(floor).unwrap();
    let all: Vec<Row> = full_scan(&wal);
    assert_eq!(all.first().map(|r| r.0), Some(floor + 1));
    check_every_seek(&wal, &all, 37, "after a truncate");
    assert_eq!(wal.iter(floor - 1).err().map(|e| e.kind()), Some(ErrorKind::Range));
    // Segments made from the spares are new files: their own index.
    mixed_log(&wal, 16, 2);
    let all = full_scan(&wal);
    check_every_seek(&wal, &all, 31, "appended into recycled segments");
    drop(wal);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    check_every_seek(&wal, &all, 29, "after a truncate and a reopen");
}

#[test]
fn seeks_after_a_torn_tail_was_cut_and_after_appends_behind_it() {
    let dir = TempDir::new("seektorn");
    let wal = Wal::open(dir.path(), opts()).unwrap();
    mixed_log(&wal, 10, 1);
    let all = full_scan(&wal);
    close_as_if_killed(wal);
    // Bytes of a write torn after the end of the newest segment's frames.
    let newest = segments(dir.path()).pop().unwrap();
    let end = data_end_at_least(&newest);
    let junk = vec![0x5au8; 40];
    let f = std::fs::OpenOptions::new().write(true).open(&newest).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &junk, end + 64).unwrap();
    drop(f);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert!(wal.open_report().tail_cut, "{:?}", wal.open_report());
    assert_eq!(full_scan(&wal), all);
    check_every_seek(&wal, &all, 23, "after the cut");
    mixed_log(&wal, 4, 2);
    let all = full_scan(&wal);
    check_every_seek(&wal, &all, 19, "appended after the cut");
}

/// Past the last non-zero byte of a segment: its frames end less than 64
/// bytes after it (a frame's last bytes may be zeros: a value's, or the
/// high bytes of a sync mark's synced_end).
fn data_end_at_least(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i as u64 + 1)
}

#[test]
fn seeks_after_cuts_never_return_a_discarded_record() {
    let dir = TempDir::new("seekcut");
    let wal = Wal::open(dir.path(), opts()).unwrap();
    mixed(&wal, 16, 1, false);
    // A batch of 10 with records after it: the third cut falls inside it.
    let keys: Vec<Vec<u8>> = (0..10).map(|j| format!("cut-{j}").into_bytes()).collect();
    let entries: Vec<Entry> = keys.iter().map(|k| Entry { op: 1, key: k, value: b"in a batch" }).collect();
    let batch_last = wal.append_batch(&entries).unwrap();
    mixed(&wal, 8, 1, false);
    let last = wal.last_seq();
    // Inside the newest segment; into an older one (the newer ones are
    // deleted); inside the batch (its header is rewritten).
    for (round, seq) in [last - 50, last * 2 / 3, batch_last - 5].into_iter().enumerate() {
        let tag = 10 + round as u8;
        // Seeks over what the cut discards first, so that the index holds it.
        check_every_seek(&wal, &full_scan(&wal), 97, "before the cut");
        wal.truncate_after(seq).unwrap();
        let kept = full_scan(&wal);
        assert_eq!(kept.last().map(|r| r.0), Some(seq));
        check_every_seek(&wal, &kept, 89, "after the cut");
        // New records take the discarded seqs: seeks must find them, and
        // never an old one.
        mixed(&wal, 6, tag, false);
        let all = full_scan(&wal);
        let new = all.iter().filter(|r| r.0 > seq);
        assert!(new.clone().all(|r| r.3.first().is_none_or(|&b| b == tag)), "a discarded record came back");
        assert!(new.count() > 100);
        check_every_seek(&wal, &all, 83, "appended after the cut");
    }
    let all = full_scan(&wal);
    drop(wal);
    let wal = Wal::open(dir.path(), opts()).unwrap();
    check_every_seek(&wal, &all, 79, "cut, appended and reopened");
}

#[path = "common/counting.rs"]
mod counting;
use counting::{bytes_read_by_seek, CountingFs};

/// The index is used: a seek deep in a 16 MiB segment reads about one read
/// buffer (256 KiB), not the segment; after a reopen, the newest segment
/// is indexed by the open's own scan, and an older one by its first read
/// when it has no seek hint (a log of an earlier build: the hints are
/// deleted here; tests/seek_hint.rs has the first seek through one).
#[test]
fn a_seek_reads_a_buffer_not_the_segment() {
    let dir = TempDir::new("seekread");
    let read = Arc::new(AtomicU64::new(0));
    let fs = || Arc::new(CountingFs { inner: RealFs, read: read.clone() });
    let opts = Options { segment_size: 16 << 20, sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
    let v = vec![3u8; 100];
    let mut n = 0;
    while segments(dir.path()).len() < 2 {
        n += 1;
        wal.append(1, &key(n), &v).unwrap();
    }
    for _ in 0..1000 {
        n += 1;
        wal.append(1, &key(n), &v).unwrap();
    }
    let sealed_last: u64 = segments(dir.path())[1].file_stem().unwrap().to_str().unwrap().parse::<u64>().unwrap() - 1;
    let bound = 300 << 10;
    for after in [sealed_last / 2, sealed_last - 1, n - 500, n - 1] {
        let bytes = bytes_read_by_seek(&wal, &read, after);
        assert!(bytes < bound, "a seek after {after} read {bytes} bytes");
    }
    drop(wal);
    for seg in segments(dir.path()) {
        let _ = std::fs::remove_file(seg.with_extension("idx"));
    }
    let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
    // The open's scan of the newest segment indexed it.
    assert!(bytes_read_by_seek(&wal, &read, n - 500) < bound);
    // The first seek into the older segment reads it (and indexes it)...
    let first = bytes_read_by_seek(&wal, &read, sealed_last - 1);
    assert!(first > 15 << 20, "the first seek read {first} bytes");
    // ...the next ones do not.
    for after in [sealed_last / 3, sealed_last - 2, 1] {
        let bytes = bytes_read_by_seek(&wal, &read, after);
        assert!(bytes < bound, "a seek after {after} read {bytes} bytes");
    }
}

/// After a cut, seeks into what it kept and into what was appended after
/// it still read a buffer: `truncate_after` told the index (an index left
/// as it was would miss on the new frames and read the segment whole).
#[test]
fn a_seek_after_a_cut_reads_a_buffer_not_the_segment() {
    let dir = TempDir::new("seekcutread");
    let read = Arc::new(AtomicU64::new(0));
    let fs = Arc::new(CountingFs { inner: RealFs, read: read.clone() });
    let opts = Options { segment_size: 16 << 20, sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open_in(fs, dir.path(), opts).unwrap();
    for i in 1..=100_000u64 {
        wal.append(1, &key(i), &[1u8; 100]).unwrap();
    }
    let bound = 300 << 10;
    assert!(bytes_read_by_seek(&wal, &read, 90_000) < bound);
    wal.truncate_after(50_000).unwrap();
    for i in 50_001..=100_000u64 {
        wal.append(1, &key(i), &[2u8; 60]).unwrap();
    }
    for after in [20_000, 49_999, 50_000, 75_000, 99_999] {
        let bytes = bytes_read_by_seek(&wal, &read, after);
        assert!(bytes < bound, "a seek after {after} read {bytes} bytes");
    }
}

/// RecoveryMode::Salvage reads every segment at open: all are indexed.
#[test]
fn a_salvage_open_indexes_every_segment() {
    let dir = TempDir::new("seeksalv");
    let read = Arc::new(AtomicU64::new(0));
    let fs = || Arc::new(CountingFs { inner: RealFs, read: read.clone() });
    let opts = Options { segment_size: 4 << 20, sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
    let v = vec![3u8; 100];
    let mut n = 0;
    while segments(dir.path()).len() < 3 {
        n += 1;
        wal.append(1, &key(n), &v).unwrap();
    }
    drop(wal);
    let wal = Wal::open_in(fs(), dir.path(), Options { recovery_mode: RecoveryMode::Salvage, ..opts }).unwrap();
    let second: u64 = segments(dir.path())[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    for after in [second / 2, second - 2, second + 100] {
        let bytes = bytes_read_by_seek(&wal, &read, after);
        assert!(bytes < 300 << 10, "a seek after {after} read {bytes} bytes");
    }
}

#[inline(never)]
fn open_and_first(wal: &Wal, after: u64) -> Duration {
    let t = Instant::now();
    let mut it = wal.iter(after).unwrap();
    let r = it.next().unwrap().unwrap();
    assert_eq!(r.seq, after + 1);
    t.elapsed()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `cargo test --release --test seek -- --ignored --nocapture`: iterator
/// open + first record at the start and at the end of a full 64 MiB
/// segment of 100-byte records, in one run (the ratio is what counts).
#[test]
#[ignore]
fn seek_cost_in_a_full_segment() {
    let dir = TempDir::new("seekcost");
    let opts = Options { sync_mode: SyncMode::None, ..Options::default() };
    let (wal, last_in_first) = full_segment(&dir, &opts);
    let rounds = 30;
    report(&wal, "same handle", last_in_first, rounds);
    drop(wal);
    // After a reopen: the first seek into the sealed segment, then the next ones.
    let wal = Wal::open(dir.path(), opts).unwrap();
    let first_after_reopen = open_and_first(&wal, last_in_first - 1);
    println!("seek after reopen: the first seek at the end of the sealed segment {first_after_reopen:?}");
    report(&wal, "after reopen", last_in_first, rounds);
}

/// Prints open + first record at the start, at the end, and over 1000
/// seqs spread over the segment (median and max), with the ratios.
fn report(wal: &Wal, label: &str, last: u64, rounds: usize) {
    let start = median((0..rounds).map(|_| open_and_first(wal, 0)).collect());
    let end = median((0..rounds).map(|_| open_and_first(wal, last - 1)).collect());
    let mut spread: Vec<Duration> = (0..1000u64).map(|k| open_and_first(wal, (k * 7919 + 13) % (last - 1))).collect();
    spread.sort();
    let (mid, p99, max) = (spread[500], spread[990], spread[999]);
    let r = |d: Duration| d.as_secs_f64() / start.as_secs_f64();
    println!(
        "seek {label} ({last} records in the segment, values of {} bytes, load {}): start {start:?}, end {end:?} \
         ({:.2}x), 1000 seqs: median {mid:?} ({:.2}x), p99 {p99:?} ({:.2}x), max {max:?}",
        value_len(),
        load(),
        r(end),
        r(mid),
        r(p99)
    );
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|l| l.split(' ').next().unwrap_or("?").to_string()).unwrap_or_default()
}

// One function per case, so that callgrind reports each one's cost.
#[inline(never)]
fn seek_start_writer(wal: &Wal) {
    std::hint::black_box(1); // keeps the five bodies distinct (no merging)
    open_and_first(wal, 0);
}
#[inline(never)]
fn seek_end_writer(wal: &Wal, after: u64) {
    std::hint::black_box(2); // keeps the five bodies distinct (no merging)
    open_and_first(wal, after);
}
#[inline(never)]
fn seek_end_reopened_first(wal: &Wal, after: u64) {
    std::hint::black_box(3); // keeps the five bodies distinct (no merging)
    open_and_first(wal, after);
}
#[inline(never)]
fn seek_start_reopened(wal: &Wal) {
    std::hint::black_box(4); // keeps the five bodies distinct (no merging)
    open_and_first(wal, 0);
}
#[inline(never)]
fn seek_end_reopened(wal: &Wal, after: u64) {
    std::hint::black_box(5); // keeps the five bodies distinct (no merging)
    open_and_first(wal, after);
}
#[inline(never)]
fn seek_spread_1000(wal: &Wal, last: u64) {
    std::hint::black_box(6);
    // 1000 seqs spread over the segment, none a multiple of the others' stride.
    for k in 0..1000u64 {
        open_and_first(wal, (k * 7919 * last / 1000 / 7919 + k * 13) % (last - 1));
    }
}

/// The value length of the records the cost tests write: SEEK_VALUE_LEN,
/// 100 bytes unless set (0 gives the most frames per byte).
fn value_len() -> usize {
    std::env::var("SEEK_VALUE_LEN").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

/// A full 64 MiB segment of records with `value_len()`-byte values, sealed, and a second one
/// started; returns the log and the last seq of the first segment.
fn full_segment(dir: &TempDir, opts: &Options) -> (Wal, u64) {
    let wal = Wal::open(dir.path(), *opts).unwrap();
    let v = vec![7u8; value_len()];
    let mut i = 0u64;
    loop {
        i += 1;
        wal.append(1, &key(i), &v).unwrap();
        if i % 4096 == 0 && segments(dir.path()).len() >= 2 {
            break;
        }
    }
    wal.sync().unwrap();
    let second: u64 = segments(dir.path())[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    (wal, second - 1)
}

/// For callgrind (`--toggle-collect='seek::seek_*'`, then the inclusive
/// cost of each function): a seek at the start and at the end of a full
/// segment on the writing handle, and after a reopen: the first seek at
/// the end, then one at the start and one at the end.
#[test]
#[ignore]
fn seek_instructions() {
    let dir = TempDir::new("seekinsn");
    let opts = Options { sync_mode: SyncMode::None, ..Options::default() };
    let (wal, last) = full_segment(&dir, &opts);
    seek_start_writer(&wal);
    seek_end_writer(&wal, last - 1);
    drop(wal);
    let wal = Wal::open(dir.path(), opts).unwrap();
    seek_end_reopened_first(&wal, last - 1);
    seek_start_reopened(&wal);
    seek_end_reopened(&wal, last - 1);
    seek_spread_1000(&wal, last);
}

#[inline(never)]
fn append_100k(wal: &Wal, v: &[u8]) {
    for i in 0..100_000u64 {
        wal.append(1, &key(i), v).unwrap();
    }
}

/// For callgrind (`--toggle-collect='seek::append_100k'`): what 100,000
/// appends of 100-byte records cost, the index's notes included.
#[test]
#[ignore]
fn append_instructions() {
    let dir = TempDir::new("appendinsn");
    let wal = Wal::open(dir.path(), Options { sync_mode: SyncMode::None, ..Options::default() }).unwrap();
    append_100k(&wal, &[7u8; 100]);
}
