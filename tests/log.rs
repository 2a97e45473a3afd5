//! The log's behaviour through the Rust API: seqs, batches, checkpoints,
//! rotation, sizes, locking, iteration while writing, threads.

mod common;
use common::*;
use std::sync::Arc;
use wal::{Entry, ErrorKind, Options, SyncMode, Wal, MAX_RECORD_SIZE, OP_CHECKPOINT};

#[test]
fn seqs_start_at_one_and_continue_across_reopen() {
    let dir = TempDir::new("seq");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (1, 0));
    assert_eq!(wal.append(1, b"", b"").unwrap(), 1);
    assert_eq!(wal.append(2, b"k", b"").unwrap(), 2);
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.last_seq(), 2);
    assert_eq!(wal.append(1, b"", b"v").unwrap(), 3);
}

#[test]
fn a_batch_takes_consecutive_seqs_and_an_invalid_entry_rejects_it_all() {
    let dir = TempDir::new("batch");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    let e = |op, k: &'static [u8]| Entry { op, key: k, value: b"v" };
    assert_eq!(wal.append_batch(&[e(1, b"a"), e(2, b"b"), e(3, b"c")]).unwrap(), 3);
    for bad in [vec![e(1, b"x"), e(0, b"y")], vec![e(255, b"x")], vec![]] {
        assert_eq!(wal.append_batch(&bad).err().unwrap().kind(), ErrorKind::Invalid);
    }
    assert_eq!(wal.last_seq(), 3);
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), vec![(1, 1), (2, 2), (3, 3)]);
}

#[test]
fn checkpoint_records_are_replayed_with_op_255() {
    let dir = TempDir::new("ckpt");
    let wal = Wal::open(dir.path(), Options { sync_mode: SyncMode::None, ..small(4096) }).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    assert_eq!(wal.checkpoint().unwrap(), 2);
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all[1], (2, OP_CHECKPOINT, vec![], vec![]));
}

#[test]
fn rotation_keeps_every_record_in_order() {
    let dir = TempDir::new("rotate");
    let wal = fill(dir.path(), small(4096), 300, 100);
    assert!(segments(dir.path()).len() > 5);
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.len(), 300);
    for (seq, _, k, v) in all {
        assert_eq!((k, v), (key(seq), value(seq, 100)));
    }
    assert_eq!(seqs(&wal, 123), (124..=300).collect::<Vec<_>>());
}

#[test]
fn a_record_larger_than_a_segment_gets_its_own() {
    let dir = TempDir::new("large");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    wal.append(1, b"small", b"x").unwrap();
    let big = value(7, 1 << 20);
    assert_eq!(wal.append(1, b"big", &big).unwrap(), 2);
    wal.append(1, b"after", b"y").unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all[1].3, big);
    assert_eq!(all[2].2, b"after");
    assert_eq!(segments(dir.path()).len(), 3);
}

#[test]
fn records_above_the_size_limit_are_refused() {
    let dir = TempDir::new("limit");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    let exactly = vec![0u8; MAX_RECORD_SIZE];
    assert_eq!(wal.append(1, b"", &exactly).unwrap(), 1);
    let over = vec![0u8; MAX_RECORD_SIZE + 1];
    assert_eq!(wal.append(1, b"", &over).err().unwrap().kind(), ErrorKind::Range);
    assert_eq!(wal.last_seq(), 1);
}

#[test]
fn invalid_options_create_nothing() {
    let dir = TempDir::new("opts");
    for opts in [
        Options { segment_size: 4095, ..Options::default() },
        Options { sync_mode: SyncMode::Every(0), ..Options::default() },
    ] {
        assert_eq!(Wal::open(dir.path(), opts).err().unwrap().kind(), ErrorKind::Invalid);
        assert!(!dir.path().exists());
    }
}

#[test]
fn a_second_writer_is_locked_out_until_the_first_closes() {
    let dir = TempDir::new("lock");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Locked);
    let ro = Wal::open(dir.path(), Options { read_only: true, ..small(4096) }).unwrap();
    drop(ro);
    wal.close().unwrap();
    Wal::open(dir.path(), small(4096)).unwrap();
}

#[test]
fn an_iterator_sees_appends_made_while_it_is_open() {
    let dir = TempDir::new("live");
    let wal = fill(dir.path(), small(4096), 10, 100);
    let mut iter = wal.iter(0).unwrap();
    for expect in 1..=5 {
        assert_eq!(iter.next().unwrap().unwrap().seq, expect);
    }
    for i in 11..=100 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    let mut next = 6;
    while let Some(r) = iter.next().unwrap() {
        assert_eq!((r.seq, r.key), (next, key(next).as_slice()));
        next += 1;
    }
    assert_eq!(next, 101);
}

#[test]
fn an_iterator_outlives_its_handle() {
    let dir = TempDir::new("outlive");
    let wal = fill(dir.path(), small(4096), 50, 100);
    let mut iter = wal.iter(0).unwrap();
    wal.close().unwrap();
    let mut n = 0;
    while let Some(r) = iter.next().unwrap() {
        n += 1;
        assert_eq!(r.seq, n);
    }
    assert_eq!(n, 50);
    Wal::open(dir.path(), small(4096)).expect("the lock was released by close");
}

fn hammer(mode: SyncMode, threads: u64, per_thread: u64) {
    let dir = TempDir::new("threads");
    let wal = Arc::new(Wal::open(dir.path(), Options { sync_mode: mode, ..small(16384) }).unwrap());
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                (0..per_thread)
                    .map(|i| {
                        let k = format!("t{t}-{i}");
                        (wal.append(1, k.as_bytes(), &value(t * 1000 + i, 50)).unwrap(), k)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(u64, String)> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    acked.sort();
    assert_eq!(acked.iter().map(|a| a.0).collect::<Vec<_>>(), (1..=threads * per_thread).collect::<Vec<_>>());
    let wal = Arc::into_inner(wal).unwrap();
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), small(16384)).unwrap();
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.len(), acked.len());
    for ((seq, _, k, _), (aseq, ak)) in all.iter().zip(&acked) {
        assert_eq!((seq, k.as_slice()), (aseq, ak.as_bytes()));
    }
}

#[test]
fn eight_threads_sync_always() {
    hammer(SyncMode::Always, 8, 100);
}

#[test]
fn eight_threads_sync_every() {
    hammer(SyncMode::Every(10), 8, 300);
}

#[test]
fn eight_threads_sync_none() {
    hammer(SyncMode::None, 8, 1000);
}

#[test]
fn reading_after_the_last_seq_finds_nothing_and_past_it_is_a_range_error() {
    let dir = TempDir::new("after-max");
    let wal = fill(dir.path(), small(4096), 3, 1);
    assert_eq!(seqs(&wal, 3), Vec::<u64>::new());
    // A stored N ahead of the log: the wrong directory, or a lost log.
    for after in [4, 500, u64::MAX] {
        let err = wal.iter(after).err().unwrap();
        assert_eq!(err.kind(), wal::ErrorKind::Range, "after {after}: {err}");
        assert!(err.message().contains("the log ends at seq 3"), "{err}");
    }
}

/// In WAL_SYNC_NONE small records are gathered in the writer's buffer and
/// reach the file in few large writes; an iterator still sees every record
/// appended before it opened, and a record too big for the buffer is
/// written in its place in the order.
#[test]
fn buffered_appends_are_written_in_few_writes_and_in_order() {
    let fs = Arc::new(wal::io::sim::SimFs::new());
    let opts = Options { sync_mode: SyncMode::None, segment_size: 64 << 20, ..Options::default() };
    let wal = Wal::open_in(fs.clone(), "/log", opts).unwrap();
    wal.append(1, &key(1), &value(1, 100)).unwrap(); // creates the segment
    let calls_before = fs.calls();
    for i in 2..=1000u64 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    assert_eq!(fs.calls() - calls_before, 0, "999 appends of 100 bytes fit in the buffer");
    let big = vec![7u8; 200 << 10];
    assert_eq!(wal.append(1, b"big", &big).unwrap(), 1001);
    assert_eq!(wal.append(1, b"after", b"big").unwrap(), 1002);
    let rows = collect(&wal, 998).unwrap();
    let keys: Vec<&[u8]> = rows.iter().map(|r| &r.2[..]).collect();
    assert_eq!(keys, [&key(999)[..], &key(1000)[..], b"big", b"after"]);
    assert_eq!(rows[2].3, big);
    wal.close().unwrap();
    let wal = Wal::open_in(fs, "/log", opts).unwrap();
    assert_eq!(seqs(&wal, 0), (1..=1002).collect::<Vec<_>>());
}

/// Each time the writer's buffer fills, the frames it held go to the file in
/// one write and the kernel is asked to start writing exactly those bytes
/// to the disk (a hint, sync_file_range): the one sync of a bulk load then
/// finds little left to write.
#[test]
fn a_full_write_buffer_is_handed_to_the_disk_as_it_is_written() {
    let fs = Arc::new(wal::io::sim::SimFs::new());
    let opts = Options { sync_mode: SyncMode::None, segment_size: 64 << 20, ..Options::default() };
    let wal = Wal::open_in(fs.clone(), "/log", opts).unwrap();
    for i in 1..=2500u64 {
        wal.append(1, &key(i), &value(i, 1000)).unwrap();
    }
    let hints = fs.writeback_hints();
    assert_eq!(hints.len(), 2, "2.6 MB of frames fill the 1 MiB buffer twice: {hints:?}");
    let mut at = 32; // after the segment header
    for (offset, len) in hints {
        assert_eq!(offset, at, "each hint starts where the last one ended");
        assert!(len > (1 << 20) - 1100 && len <= 1 << 20, "a hint covers one full buffer: {len}");
        at += len;
    }
    wal.sync().unwrap();
    assert_eq!(fs.writeback_hints().len(), 2, "a sync hints nothing: its fdatasync follows at once");
}

/// A writable open writes again the newest segment's bytes that its last
/// writer had not seen synced (a failed fsync may have left them in pages
/// no fsync writes). After a clean close the LOCK file says they were all
/// synced, and the open writes nothing; after a killed writer it does.
#[test]
fn a_clean_close_spares_the_next_open_from_writing_the_tail_again() {
    let fs = Arc::new(wal::io::sim::SimFs::new());
    let opts = Options { sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open_in(fs.clone(), "/log", opts).unwrap();
    for i in 1..=1000u64 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    wal.close().unwrap();
    let written = fs.bytes_written();
    let wal = Wal::open_in(fs.clone(), "/log", opts).unwrap();
    // Nothing is written but wal.meta's two slots, as they were (every
    // writable open syncs them again): not the segment, not LOCK, whose
    // mark stays true.
    assert_eq!(fs.bytes_written(), written + 1024, "a clean close left nothing to write again");
    for i in 1001..=2000u64 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    // Written to the file (an iterator writes the buffer out), not synced.
    drop(wal.iter(0).unwrap());
    // Killed here: a new process finds the page cache as it is, and no mark.
    let killed = Arc::new(fs.fork());
    drop(wal);
    let written = killed.bytes_written();
    let wal = Wal::open_in(killed.clone(), "/log", opts).unwrap();
    assert!(killed.bytes_written() - written > 1000 * 100, "the records appended since the open were written again");
    assert_eq!(wal.last_seq(), 2000);
}

/// With records synced as they come, a preallocated segment gets zeros
/// written ahead of its data, so that an fdatasync does not also have to
/// convert a fallocated extent; in WAL_SYNC_NONE, and without
/// preallocation, nothing but records is written.
#[test]
fn zeros_are_written_ahead_only_where_appends_are_synced_one_by_one() {
    for (sync_mode, preallocate, zeros_ahead) in
        [(SyncMode::Always, true, true), (SyncMode::Every(2), true, true), (SyncMode::None, true, false), (SyncMode::Always, false, false)]
    {
        let fs = Arc::new(wal::io::sim::SimFs::new());
        let opts = Options { sync_mode, preallocate, segment_size: 4 << 20, ..Options::default() };
        let wal = Wal::open_in(fs.clone(), "/log", opts).unwrap();
        let before = fs.bytes_written();
        for i in 1..=4u64 {
            wal.append(1, &key(i), &value(i, 100)).unwrap();
        }
        wal.sync().unwrap();
        let written = fs.bytes_written() - before;
        assert_eq!(written >= 512 << 10, zeros_ahead, "{sync_mode:?}, preallocate {preallocate}: {written} bytes");
        wal.close().unwrap();
        let wal = Wal::open_in(fs, "/log", opts).unwrap();
        assert_eq!(seqs(&wal, 0), vec![1, 2, 3, 4]);
    }
}

/// A preallocated segment reserves its space in 4 MiB steps ahead of its
/// data, not all of segment_size at creation: a new log holds 4 MiB on
/// disk, and the file grows as records come, up to segment_size.
#[test]
fn a_new_log_reserves_its_space_in_steps() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new("steps");
    let opts = Options { segment_size: 64 << 20, ..Options::default() };
    let wal = Wal::open(dir.path(), opts).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    let seg = &segments(dir.path())[0];
    let meta = std::fs::metadata(seg).unwrap();
    assert_eq!(meta.len(), 4 << 20, "the first step");
    assert!(meta.blocks() * 512 <= (4 << 20) + 4096, "{} bytes on disk", meta.blocks() * 512);
    let value = vec![7u8; 64 << 10];
    for i in 0..100u64 {
        wal.append(1, &key(i), &value).unwrap();
    }
    let len = std::fs::metadata(seg).unwrap().len();
    assert!(len > 6 << 20 && len <= 12 << 20, "reserved {len} bytes for 6.4 MiB of records");
    for i in 0..1000u64 {
        wal.append(1, &key(i), &value).unwrap();
    }
    assert_eq!(std::fs::metadata(seg).unwrap().len(), 64 << 20, "never past segment_size");
    wal.close().unwrap();
    assert_eq!(Wal::open(dir.path(), opts).unwrap().last_seq(), 1101);
}
