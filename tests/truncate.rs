//! Truncation: the seq floor, deleted segments, and crashes in the middle.

mod common;
use common::*;
use wal::{ErrorKind, Options, SyncMode, Wal};

#[test]
fn the_seed_example_append_a_b_c_truncate_2_replays_only_c() {
    let dir = TempDir::new("seed");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    for k in [b"a", b"b", b"c"] {
        wal.append(1, k, b"").unwrap();
    }
    wal.truncate(2).unwrap();
    assert_eq!(wal.first_seq(), 3);
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].0, all[0].2.as_slice()), (3, &b"c"[..]));
    assert_eq!(wal.iter(1).err().unwrap().kind(), ErrorKind::Range, "record 2 is gone");
    assert!(collect(&wal, 2).unwrap().len() == 1);
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (3, 3));
}

#[test]
fn truncating_everything_keeps_the_counter_across_reopen() {
    let dir = TempDir::new("all");
    let wal = fill(dir.path(), small(4096), 50, 100);
    wal.truncate(50).unwrap();
    assert_eq!(segments(dir.path()).len(), 0, "every segment held only truncated records");
    assert_eq!((wal.first_seq(), wal.last_seq()), (51, 50));
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (51, 50));
    assert_eq!(wal.append(1, b"next", b"").unwrap(), 51);
    assert_eq!(seqs(&wal, 0), vec![51]);
}

#[test]
fn truncate_deletes_whole_segments_and_keeps_every_later_record() {
    let dir = TempDir::new("reclaim");
    let wal = fill(dir.path(), small(4096), 200, 100);
    let before = segments(dir.path()).len();
    wal.truncate(150).unwrap();
    let after = segments(dir.path()).len();
    assert!(after < before, "{after} segments left of {before}");
    assert_eq!(seqs(&wal, 0), (151..=200).collect::<Vec<_>>());
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.len(), 50);
    for (seq, _, k, v) in all {
        assert_eq!((k, v), (key(seq), value(seq, 100)));
    }
}

#[test]
fn truncate_bounds() {
    let dir = TempDir::new("bounds");
    let wal = fill(dir.path(), small(4096), 10, 1);
    assert_eq!(wal.truncate(11).err().unwrap().kind(), ErrorKind::Range);
    wal.truncate(5).unwrap();
    wal.truncate(3).unwrap(); // below first_seq: nothing to do
    assert_eq!(wal.first_seq(), 6);
    assert_eq!(wal.iter(4).err().unwrap().kind(), ErrorKind::Range);
    assert_eq!(seqs(&wal, 5), (6..=10).collect::<Vec<_>>());
    assert_eq!(seqs(&wal, 10), Vec::<u64>::new());
    assert_eq!(wal.iter(99).err().unwrap().kind(), ErrorKind::Range, "past the last seq");
}

#[test]
fn a_truncate_that_died_before_deleting_is_finished_by_open() {
    let dir = TempDir::new("interrupted");
    fill(dir.path(), small(4096), 200, 100).close().unwrap();
    let segs = segments(dir.path());
    // The floor reached the disk; the deletions did not.
    std::fs::write(dir.path().join("wal.meta"), wal::format::encode_meta(150)).unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.first_seq(), 151);
    assert_eq!(seqs(&wal, 0), (151..=200).collect::<Vec<_>>());
    assert!(segments(dir.path()).len() < segs.len());
}

#[test]
fn a_truncate_of_everything_that_died_before_deleting() {
    let dir = TempDir::new("interrupted-all");
    fill(dir.path(), small(4096), 20, 100).close().unwrap();
    std::fs::write(dir.path().join("wal.meta"), wal::format::encode_meta(20)).unwrap();
    std::fs::write(dir.path().join("wal.meta.tmp"), b"half").unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (21, 20));
    assert_eq!(segments(dir.path()).len(), 0);
    assert!(!dir.path().join("wal.meta.tmp").exists());
    assert_eq!(wal.append(1, b"k", b"v").unwrap(), 21);
}

#[test]
fn a_damaged_metadata_file_is_corrupt() {
    let dir = TempDir::new("meta");
    let wal = fill(dir.path(), small(4096), 5, 1);
    wal.truncate(2).unwrap();
    drop(wal);
    // Both slots: one alone leaves the other (tests/hostile.rs).
    flip_byte(&dir.path().join("wal.meta"), 17);
    flip_byte(&dir.path().join("wal.meta"), 512 + 17);
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Corrupt);
}

#[test]
fn truncate_in_sync_none_keeps_the_counter() {
    let dir = TempDir::new("none");
    let opts = Options { sync_mode: SyncMode::None, ..small(4096) };
    let wal = fill(dir.path(), opts, 30, 100);
    wal.truncate(30).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts).unwrap();
    assert_eq!(wal.last_seq(), 30);
}

#[test]
fn an_iterator_open_across_a_truncate_never_returns_a_truncated_record() {
    let dir = TempDir::new("iter-trunc");
    let wal = fill(dir.path(), small(1 << 20), 10, 10);
    let mut iter = wal.iter(0).unwrap();
    assert_eq!(iter.next().unwrap().unwrap().seq, 1);
    wal.truncate(5).unwrap(); // the segment stays: it also holds 6..10
    let err = iter.next().expect_err("record 2 is gone");
    assert_eq!(err.kind(), ErrorKind::Range);
    // An iterator already past the cut is unaffected.
    let mut later = wal.iter(5).unwrap();
    wal.truncate(6).unwrap();
    assert_eq!(later.next().err().unwrap().kind(), ErrorKind::Range);
    let mut after = wal.iter(6).unwrap();
    assert_eq!(after.next().unwrap().unwrap().seq, 7);
}

/// A wal.meta whose floor is u64::MAX (with a valid CRC) is out of range:
/// refused, rather than wrapping the counter to hand out seq 0.
#[test]
fn a_floor_at_the_largest_seq_is_refused() {
    let dir = TempDir::new("maxfloor");
    std::fs::create_dir_all(dir.path()).unwrap();
    std::fs::write(dir.path().join("wal.meta"), wal::format::encode_meta(u64::MAX)).unwrap();
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Corrupt);
    std::fs::write(dir.path().join("wal.meta"), wal::format::encode_meta(u64::MAX - 1)).unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.last_seq(), u64::MAX - 1);
    assert_eq!(wal.append(1, b"k", b"v").err().unwrap().kind(), ErrorKind::Range, "no seq is left");
}

/// The contract: truncation "does not grow with the bytes kept: no record
/// is rewritten". Measured on the simulated file system, which counts calls
/// and bytes: cutting the same two segments off a log that keeps 5 or 60
/// segments costs the same, and writes only the floor: both 512-byte slots
/// of wal.meta, in place.
#[test]
fn truncate_costs_the_same_whatever_is_kept() {
    use std::sync::Arc;
    use wal::io::SimFs;
    let cost = |segments_kept: u64| {
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), "/sim/wal", small(4096)).unwrap();
        // 10 records of ~300 bytes per 4 KiB segment.
        for i in 1..=(2 + segments_kept) * 10 {
            wal.append(1, &key(i), &value(i, 300)).unwrap();
        }
        let (calls, bytes) = (fs.calls(), fs.bytes_written());
        wal.truncate(20).unwrap();
        assert_eq!(wal.first_seq(), 21);
        (fs.calls() - calls, fs.bytes_written() - bytes)
    };
    let small_log = cost(5);
    assert_eq!(small_log, cost(60));
    assert_eq!(small_log.1, 2 * 512, "only the floor is written");
}
