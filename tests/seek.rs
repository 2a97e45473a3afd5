//! Seeking: an iterator opened at any seq returns exactly what a full scan
//! returns from there, and opening it costs O(log n), not a scan of its
//! segment (`src/index.rs`).

mod common;
use common::*;
use std::time::{Duration, Instant};
use wal::{Options, SyncMode, Wal};

/// Opens an iterator after `after` and reads its first record: the cost a
/// seek pays before the caller gets a byte.
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
    let wal = Wal::open(dir.path(), opts.clone()).unwrap();
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
