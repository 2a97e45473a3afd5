//! The durable watermark (`durable_seq`), waiting for a seq (`wait`), and
//! iterators that return records appended after they reached the end.

mod common;
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wal::io::sim::{OpKind, SimFs};
use wal::{ErrorKind, Options, SyncMode, Wal};

fn none(segment_size: u64) -> Options {
    Options { sync_mode: SyncMode::None, ..small(segment_size) }
}

#[test]
fn the_durable_seq_follows_syncs_not_appends() {
    let dir = TempDir::new("durable");
    let wal = Wal::open(dir.path(), none(1 << 20)).unwrap();
    assert_eq!(wal.durable_seq(), 0, "a new log");
    for i in 1..=5 {
        wal.append(1, &key(i), b"v").unwrap();
    }
    assert_eq!(wal.durable_seq(), 0, "appended, not synced");
    wal.sync().unwrap();
    assert_eq!(wal.durable_seq(), 5);
    wal.append(1, b"k", b"v").unwrap();
    assert_eq!(wal.checkpoint().unwrap(), 7);
    assert_eq!(wal.durable_seq(), 7);
    wal.close().unwrap();
    // A writable open makes what it found durable; a read-only one reports it.
    let wal = Wal::open(dir.path(), none(1 << 20)).unwrap();
    assert_eq!(wal.durable_seq(), 7);
    let ro = Wal::open(dir.path(), Options { read_only: true, ..none(1 << 20) }).unwrap();
    assert_eq!(ro.durable_seq(), 7);
    drop(wal);
    let always = Wal::open(dir.path(), small(1 << 20)).unwrap();
    assert_eq!(always.append(1, b"k", b"v").unwrap(), 8);
    assert_eq!(always.durable_seq(), 8, "WAL_SYNC_ALWAYS: durable on return");
}

#[test]
fn a_wait_returns_when_the_seq_arrives_and_times_out_otherwise() {
    let dir = TempDir::new("wait");
    let wal = Arc::new(Wal::open(dir.path(), none(1 << 20)).unwrap());
    wal.append(1, b"k", b"v").unwrap();
    wal.wait(1, false, Some(Duration::ZERO)).unwrap();
    let err = wal.wait(2, false, Some(Duration::ZERO)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Timeout, "0 only checks: {err}");
    let started = Instant::now();
    let err = wal.wait(2, false, Some(Duration::from_millis(50))).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(started.elapsed() >= Duration::from_millis(50));
    // Several waiters, for appends and for durability, woken by another thread.
    let waiters: Vec<_> = (0..4)
        .map(|i| {
            let wal = wal.clone();
            std::thread::spawn(move || wal.wait(3, i % 2 == 1, None))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(30));
    wal.append(1, b"k", b"v").unwrap();
    wal.append(1, b"k", b"v").unwrap();
    std::thread::sleep(Duration::from_millis(30));
    // Nothing is durable yet (WAL_SYNC_NONE): those waiting for it still wait.
    for (i, w) in waiters.iter().enumerate() {
        assert!(i % 2 == 0 || !w.is_finished(), "waiter {i} returned before the sync");
    }
    wal.sync().unwrap(); // wakes those waiting for durability
    for w in waiters {
        w.join().unwrap().unwrap();
    }
    assert_eq!(wal.durable_seq(), 3);
}

#[test]
fn a_waiter_hears_that_the_handle_is_poisoned() {
    let fs = SimFs::new();
    let wal = Arc::new(Wal::open_in(Arc::new(fs.clone()), "/log", none(1 << 20)).unwrap());
    wal.append(1, b"k", b"v").unwrap();
    let waiter = {
        let wal = wal.clone();
        std::thread::spawn(move || wal.wait(1, true, Some(Duration::from_secs(30))))
    };
    std::thread::sleep(Duration::from_millis(20));
    fs.fail_next(OpKind::Sync, libc::EIO);
    assert!(wal.sync().is_err());
    assert_eq!(waiter.join().unwrap().err().unwrap().kind(), ErrorKind::Poisoned);
    assert_eq!(wal.wait(5, false, None).err().unwrap().kind(), ErrorKind::Poisoned);
}

#[test]
fn an_iterator_at_the_end_returns_records_appended_later_across_rotations() {
    for opts in [none(4096), small(4096)] {
        let dir = TempDir::new("tail");
        let wal = Wal::open(dir.path(), opts).unwrap();
        wal.append(1, &key(1), &value(1, 300)).unwrap();
        let mut it = wal.iter(0).unwrap();
        assert_eq!(it.next().unwrap().unwrap().seq, 1);
        assert!(it.next().unwrap().is_none(), "the end, for now");
        let mut next = 2;
        for round in 0..5 {
            // Enough to fill more than one 4 KiB segment each round.
            for _ in 0..20 {
                wal.append(1, &key(next), &value(next, 300)).unwrap();
                next += 1;
            }
            for seq in next - 20..next {
                let r = it.next().unwrap().unwrap_or_else(|| panic!("{opts:?} round {round}: seq {seq} missing"));
                assert_eq!((r.seq, r.key), (seq, &key(seq)[..]));
            }
            assert!(it.next().unwrap().is_none());
        }
        assert!(segments(dir.path()).len() > 5, "the records crossed rotations");
    }
}
