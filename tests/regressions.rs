//! One test per case listed at the top of issue 9 ("Trust under damage")
//! that no other test proves on its own; each failed on the 0.1 code.
//! Covered elsewhere: a cleanly closed log whose last record rots and zeros
//! over a segment header (c_tests/test_recovery.c), a frame claiming a huge
//! payload (tests/hostile.rs), a batch too large to hold and a call from a
//! thread-exit destructor (c_tests/test_misuse.c), LOCK removed under a
//! writer (c_tests/test_recovery.c), replay past last_seq (tests/log.rs,
//! c_tests/test_api.c).

mod common;
use common::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use wal::io::sim::{OpKind, SimFs};
use wal::{Entry, ErrorKind, Options, RecoveryMode, SyncMode, Wal};

fn tail_opens(dir: &std::path::Path, opts: Options) -> wal::Result<Vec<u64>> {
    Ok(collect(&Wal::open(dir, opts)?, 0)?.into_iter().map(|r| r.0).collect())
}

/// A flipped byte inside a batch of small entries, with a record after it
/// written once a sync had covered the batch: the batch was durable, so
/// TAIL refuses with WAL_E_CORRUPT (0.1 cut the batch and the synced record:
/// its witness search assumed 41 bytes per seq, a batch spends 9).
#[test]
fn damage_inside_a_batch_with_a_synced_record_after_it_is_corrupt() {
    for entries in [5usize, 100, 5000] {
        let dir = TempDir::new("batch-flip");
        let opts = small(1 << 20);
        let wal = Wal::open(dir.path(), opts).unwrap();
        let empty: Vec<Entry> = (0..entries).map(|_| Entry { op: 1, key: b"", value: b"" }).collect();
        assert_eq!(wal.append_batch(&empty).unwrap(), entries as u64);
        wal.append(1, b"after", b"the batch was synced").unwrap();
        close_as_if_killed(wal);
        // The batch's payload starts after the segment and frame headers.
        flip_byte(&segments(dir.path())[0], 32 + 32 + 9 * (entries as u64 / 2));
        let err = tail_opens(dir.path(), opts).err().unwrap_or_else(|| panic!("{entries} entries: opened"));
        assert_eq!(err.kind(), ErrorKind::Corrupt, "{entries} entries: {err}");
        let salvage = Options { recovery_mode: RecoveryMode::Salvage, ..opts };
        assert_eq!(tail_opens(dir.path(), salvage).unwrap(), Vec::<u64>::new());
    }
}

/// SYNC_NONE and SYNC_EVERY: 10 appends, a checkpoint (durable), a clean
/// close, one flipped byte in the first record. Ten valid frames follow it,
/// all written before any sync, so none of them proves it; the checkpoint's
/// sync mark and the clean-close mark do: WAL_E_CORRUPT, after a crash too
/// (0.1 cut all 11 records). SALVAGE keeps what comes before the damage.
#[test]
fn damage_before_a_checkpoint_in_sync_none_and_every_is_corrupt() {
    for sync_mode in [SyncMode::None, SyncMode::Every(100)] {
        for killed in [false, true] {
            let dir = TempDir::new("ckpt-flip");
            let opts = Options { sync_mode, ..small(1 << 20) };
            let wal = fill(dir.path(), opts, 10, 20);
            assert_eq!(wal.checkpoint().unwrap(), 11);
            if killed {
                close_as_if_killed(wal);
            } else {
                wal.close().unwrap();
            }
            flip_byte(&segments(dir.path())[0], 32 + 40);
            let err = tail_opens(dir.path(), opts).err().unwrap_or_else(|| panic!("{sync_mode:?}: opened"));
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{sync_mode:?} killed {killed}: {err}");
        }
    }
}

/// Read-only opens while a writer appends, rotates and truncates: a segment
/// a concurrent truncate removed is not damage (0.1 failed about 1 in
/// 4,000 with "the segment holding them is gone" or an I/O error).
#[test]
fn read_only_opens_beside_a_writer_that_truncates_always_succeed() {
    let dir = TempDir::new("ro-truncating");
    // Records of 1,000 bytes in 4 KiB segments: a truncate removes a
    // segment every few appends.
    let opts = Options { segment_size: 4096, preallocate: false, sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open(dir.path(), opts).unwrap();
    wal.append(1, b"first", b"").unwrap();
    let done = AtomicBool::new(false);
    let opens = std::thread::scope(|s| {
        s.spawn(|| {
            let value = vec![0xabu8; 1000];
            for _ in 0..200_000u64 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                let seq = wal.append(1, b"k", &value).unwrap();
                if seq > 3 {
                    wal.truncate(seq - 3).unwrap();
                }
            }
            done.store(true, Ordering::Relaxed);
        });
        let mut opens = 0;
        while !done.load(Ordering::Relaxed) && opens < 20_000 {
            let ro = Wal::open(dir.path(), Options { read_only: true, ..opts })
                .unwrap_or_else(|e| panic!("read-only open {opens} beside a truncating writer: {e}"));
            assert!(ro.first_seq() <= ro.last_seq() + 1);
            opens += 1;
        }
        done.store(true, Ordering::Relaxed);
        opens
    });
    assert!(opens > 1_000, "only {opens} read-only opens ran");
}

/// An iterator behind a truncate that crosses a segment boundary gets
/// WAL_E_RANGE, not WAL_E_CORRUPT.
#[test]
fn an_iterator_behind_a_truncate_across_segments_gets_range() {
    let dir = TempDir::new("iter-truncated");
    let wal = fill(dir.path(), small(4096), 40, 400);
    assert!(segments(dir.path()).len() >= 4);
    // Read every record of the first segment, so that the iterator's next
    // step is to the next segment, which the truncate removes.
    let second = segments(dir.path())[1].clone();
    let second_first: u64 = second.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let mut it = wal.iter(0).unwrap();
    for seq in 1..second_first {
        assert_eq!(it.next().unwrap().unwrap().seq, seq);
    }
    wal.truncate(30).unwrap();
    let err = loop {
        match it.next() {
            Ok(Some(r)) => assert!(r.seq <= 30, "record {} after the truncate", r.seq),
            Ok(None) => panic!("the iterator ended without an error"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Range, "{err}");
}

/// A segment name reused after a truncate removed every segment: an
/// iterator opened before it does not read the new file with the old one's
/// limit (0.1 reported damage); it goes on into the new records.
#[test]
fn a_segment_name_reused_after_truncate_all_does_not_confuse_an_iterator() {
    let fs = SimFs::new();
    let opts = small(1 << 20);
    let wal = Wal::open_in(Arc::new(fs.clone()), "/log", opts).unwrap();
    for i in 1..=3 {
        wal.append(1, &key(i), b"v").unwrap();
    }
    wal.close().unwrap();
    // A newest segment holding only its header, named after the next seq
    // (a creation interrupted after its header reached the disk).
    let header = &fs.read_file(std::path::Path::new("/log/00000000000000000001.wal")).unwrap()[..32];
    let mut next = header.to_vec();
    next[16..24].copy_from_slice(&4u64.to_le_bytes());
    let crc = crc32fast::hash(&next[..28]);
    next[28..32].copy_from_slice(&crc.to_le_bytes());
    fs.write_file(std::path::Path::new("/log/00000000000000000004.wal"), &next).unwrap();
    fs.write_file(std::path::Path::new("/log/LOCK"), b"").unwrap();
    let wal = Wal::open_in(Arc::new(fs.clone()), "/log", opts).unwrap();
    let mut it = wal.iter(0).unwrap();
    for seq in 1..=3 {
        assert_eq!(it.next().unwrap().unwrap().seq, seq);
    }
    assert!(it.next().unwrap().is_none());
    wal.truncate(3).unwrap(); // removes both files, 00..04.wal included
    for i in 4..=6 {
        assert_eq!(wal.append(1, &key(i), b"new").unwrap(), i); // a new 00..04.wal
    }
    for seq in 4..=6 {
        let r = it.next().unwrap_or_else(|e| panic!("seq {seq}: {e}")).unwrap();
        assert_eq!((r.seq, r.value), (seq, &b"new"[..]));
    }
}

/// An iterator of a poisoned handle returns WAL_E_POISONED where records
/// the handle assigned never reached the file, rather than a short log.
#[test]
fn an_iterator_of_a_poisoned_handle_says_so() {
    let fs = SimFs::new();
    let opts = Options { sync_mode: SyncMode::None, ..small(1 << 20) };
    let wal = Wal::open_in(Arc::new(fs.clone()), "/log", opts).unwrap();
    wal.append(1, b"k", b"written").unwrap();
    drop(wal.iter(0).unwrap()); // record 1 reaches the file
    wal.append(1, b"k", b"buffered").unwrap(); // record 2 waits in the buffer
    fs.fail_next(OpKind::Write, libc::EIO);
    assert!(wal.sync().is_err(), "the write of the buffer fails and poisons");
    assert!(wal.is_poisoned());
    let err = collect(&wal, 0).err().expect("a short log without an error");
    assert_eq!(err.kind(), ErrorKind::Poisoned, "{err}");
}

/// Replay after a seq past last_seq (a mistyped directory that
/// create_if_missing made anew, whose engine stored N = 500) is
/// WAL_E_RANGE, and the log is not taken for one to append to at seq 1.
#[test]
fn replay_after_a_stored_n_ahead_of_a_new_log_is_range() {
    let dir = TempDir::new("mistyped");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.last_seq(), 0);
    assert_eq!(wal.iter(500).err().unwrap().kind(), ErrorKind::Range);
}
