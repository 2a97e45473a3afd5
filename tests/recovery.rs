//! Recovery on open: one test per row of the decision table in
//! src/recovery.rs, in both recovery modes where they differ.

mod common;
use common::*;
use wal::{ErrorKind, Options, RecoveryMode, Wal};

fn salvage(opts: Options) -> Options {
    Options { recovery_mode: RecoveryMode::Salvage, ..opts }
}

fn reopen_appends_after(dir: &std::path::Path, opts: Options, expect_last: u64) {
    let wal = Wal::open(dir, opts).unwrap();
    assert_eq!(wal.last_seq(), expect_last);
    assert_eq!(wal.append(1, b"after", b"recovery").unwrap(), expect_last + 1);
    wal.close().unwrap();
    let wal = Wal::open(dir, opts).unwrap();
    assert_eq!(wal.last_seq(), expect_last + 1, "the append after recovery survives a reopen");
    let all = collect(&wal, 0).unwrap();
    assert_eq!(all.len() as u64, expect_last + 1);
    assert_eq!(all.last().unwrap().2, b"after");
}

#[test]
fn garbage_after_the_last_record_is_cut_and_appends_survive_reopen() {
    let dir = TempDir::new("garbage");
    fill(dir.path(), small(1 << 20), 5, 10).close().unwrap();
    // Garbage after a clean close is not proven durable either: it is cut.
    append_bytes(&segments(dir.path())[0], b"\x13\x37garbage that is not a frame at all");
    reopen_appends_after(dir.path(), small(1 << 20), 5);
}

#[test]
fn half_written_record_is_cut() {
    let dir = TempDir::new("torn");
    close_as_if_killed(fill(dir.path(), small(1 << 20), 5, 100));
    let seg = &segments(dir.path())[0];
    shrink(seg, file_len(seg) - 50); // the last frame loses its end
    reopen_appends_after(dir.path(), small(1 << 20), 4);
}

#[test]
fn torn_frame_header_is_cut() {
    let dir = TempDir::new("tornhdr");
    close_as_if_killed(fill(dir.path(), small(1 << 20), 3, 10));
    let seg = &segments(dir.path())[0];
    shrink(seg, file_len(seg) - frame_len(5, 10) + 10); // 10 bytes of the header left
    reopen_appends_after(dir.path(), small(1 << 20), 2);
}

#[test]
fn preallocated_zeros_never_parse_as_records() {
    let dir = TempDir::new("zeros");
    let opts = Options { segment_size: 1 << 20, ..Options::default() };
    fill(dir.path(), opts, 7, 10).close().unwrap();
    assert_eq!(file_len(&segments(dir.path())[0]), 1 << 20, "preallocated");
    reopen_appends_after(dir.path(), opts, 7);
}

#[test]
fn a_torn_tail_in_a_preallocated_segment_is_zeroed() {
    let dir = TempDir::new("prealloc-torn");
    let opts = Options { segment_size: 1 << 20, ..Options::default() };
    close_as_if_killed(fill(dir.path(), opts, 3, 10));
    let seg = &segments(dir.path())[0];
    let end = 32 + 3 * frame_len(5, 10);
    flip_byte(seg, end - 3); // damage the last frame
    let wal = Wal::open(dir.path(), opts).unwrap();
    assert_eq!(wal.last_seq(), 2);
    assert_eq!(wal.append(1, b"x", b"").unwrap(), 3);
    wal.close().unwrap();
    reopen_appends_after(dir.path(), opts, 3);
}

#[test]
fn damage_with_valid_records_after_it_is_corrupt_in_tail_mode() {
    let dir = TempDir::new("mid");
    fill(dir.path(), small(1 << 20), 10, 10).close().unwrap();
    let seg = &segments(dir.path())[0];
    flip_byte(seg, 32 + 4 * frame_len(5, 10) + 30); // inside record 5
    let err = Wal::open(dir.path(), small(1 << 20)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.message().contains(".wal"), "names the file: {err}");
    // Nothing was changed on disk by the failed open.
    assert!(matches!(Wal::open(dir.path(), small(1 << 20)), Err(e) if e.kind() == ErrorKind::Corrupt));
}

/// A power loss may keep a later unsynced frame and lose an earlier one.
/// Frames written before any sync reached the damage prove nothing: the
/// damage is a torn write and is cut with everything after it. Once a later
/// frame was written after a sync that covered the damaged bytes, the same
/// damage is corruption.
#[test]
fn damage_is_corruption_only_below_what_a_later_frame_saw_synced() {
    let opts = Options { sync_mode: wal::SyncMode::None, ..small(1 << 20) };
    let record_5 = 32 + 4 * frame_len(5, 10) + 30;

    let torn = TempDir::new("unsynced-hole");
    let wal = fill(torn.path(), opts, 10, 10); // nothing synced after the header
    close_as_if_killed(wal); // the sync at close changes no frame already written
    flip_byte(&segments(torn.path())[0], record_5);
    reopen_appends_after(torn.path(), opts, 4);

    let synced = TempDir::new("synced-hole");
    let wal = fill(synced.path(), opts, 6, 10);
    wal.sync().unwrap(); // records 1..6 durable; 7..10 carry that
    for i in 7..=10 {
        wal.append(1, &key(i), &value(i, 10)).unwrap();
    }
    wal.close().unwrap(); // the sync at close changes no frame already written
    flip_byte(&segments(synced.path())[0], record_5);
    let err = Wal::open(synced.path(), opts).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
    assert!(err.message().contains("durable up to offset"), "{err}");
}

#[test]
fn damaged_length_field_is_caught_by_the_checksum() {
    let dir = TempDir::new("len");
    fill(dir.path(), small(1 << 20), 10, 10).close().unwrap();
    flip_byte(&segments(dir.path())[0], 32 + 2 * frame_len(5, 10) + 8); // record 3's payload length
    assert_eq!(Wal::open(dir.path(), small(1 << 20)).err().unwrap().kind(), ErrorKind::Corrupt);
}

#[test]
fn salvage_keeps_the_records_before_the_damage() {
    let dir = TempDir::new("salvage");
    fill(dir.path(), small(1 << 20), 10, 10).close().unwrap();
    flip_byte(&segments(dir.path())[0], 32 + 4 * frame_len(5, 10) + 30);
    let wal = Wal::open(dir.path(), salvage(small(1 << 20))).unwrap();
    assert_eq!(wal.last_seq(), 4);
    assert_eq!(seqs(&wal, 0), vec![1, 2, 3, 4]);
    drop(wal);
    reopen_appends_after(dir.path(), small(1 << 20), 4);
}

#[test]
fn damage_in_an_older_segment_is_found_by_replay_not_skipped() {
    let dir = TempDir::new("older");
    fill(dir.path(), small(4096), 100, 100).close().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    flip_byte(&segs[1], 32 + frame_len(6, 100) + 40); // the second record of segment 2
    let wal = Wal::open(dir.path(), small(4096)).expect("open reads only the newest segment");
    assert_eq!(wal.last_seq(), 100);
    let mut iter = wal.iter(0).unwrap();
    let mut last = 0;
    let err = loop {
        match iter.next() {
            Ok(Some(r)) => {
                assert_eq!(r.seq, last + 1, "no record is skipped");
                last = r.seq;
            }
            Ok(None) => panic!("damage went unnoticed"),
            Err(e) => break e,
        }
    };
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(iter.next().is_err(), "the error is final");
}

#[test]
fn salvage_cuts_at_damage_in_an_older_segment() {
    let dir = TempDir::new("salvage-older");
    fill(dir.path(), small(4096), 100, 100).close().unwrap();
    let segs = segments(dir.path());
    flip_byte(&segs[1], 32 + frame_len(6, 100) + 40);
    let wal = Wal::open(dir.path(), salvage(small(4096))).unwrap();
    let kept = seqs(&wal, 0);
    assert_eq!(kept, (1..=wal.last_seq()).collect::<Vec<_>>());
    assert!(wal.last_seq() < 100);
    assert_eq!(segments(dir.path()).len(), 2, "later segments are dropped");
    let last = wal.last_seq();
    drop(wal);
    reopen_appends_after(dir.path(), small(4096), last);
}

#[test]
fn a_missing_middle_segment_is_corrupt() {
    let dir = TempDir::new("missing");
    fill(dir.path(), small(4096), 100, 100).close().unwrap();
    std::fs::remove_file(&segments(dir.path())[1]).unwrap();
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    let err = collect(&wal, 0).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.message().contains("records 28 to 54 are missing"), "{err}");
}

#[test]
fn a_missing_first_segment_is_corrupt() {
    let dir = TempDir::new("missing-first");
    fill(dir.path(), small(4096), 100, 100).close().unwrap();
    std::fs::remove_file(&segments(dir.path())[0]).unwrap();
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Corrupt);
}

#[test]
fn an_interrupted_segment_creation_is_discarded() {
    let dir = TempDir::new("unborn");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    // A crash between creating the next segment and writing its header.
    std::fs::write(dir.path().join("00000000000000000004.wal"), vec![0u8; 4096]).unwrap();
    reopen_appends_after(dir.path(), small(4096), 3);
}

#[test]
fn a_damaged_segment_header_is_corrupt() {
    let dir = TempDir::new("header");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    flip_byte(&segments(dir.path())[0], 3);
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Corrupt);
}

#[test]
fn a_stray_wal_file_is_reported_not_ignored() {
    let dir = TempDir::new("stray");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    std::fs::write(dir.path().join("backup.wal"), b"x").unwrap();
    assert_eq!(Wal::open(dir.path(), small(4096)).err().unwrap().kind(), ErrorKind::Corrupt);
}

#[test]
fn read_only_open_repairs_nothing() {
    let dir = TempDir::new("ro");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    let seg = segments(dir.path())[0].clone();
    append_bytes(&seg, b"torn tail");
    let before = std::fs::read(&seg).unwrap();
    let meta_before = std::fs::read(dir.path().join("wal.meta")).unwrap();
    let ro = Wal::open(dir.path(), Options { read_only: true, ..small(4096) }).unwrap();
    assert_eq!(ro.last_seq(), 3);
    assert_eq!(seqs(&ro, 0), vec![1, 2, 3]);
    assert_eq!(ro.append(1, b"k", b"v").err().unwrap().kind(), ErrorKind::ReadOnly);
    drop(ro);
    assert_eq!(std::fs::read(&seg).unwrap(), before);
    assert_eq!(std::fs::read(dir.path().join("wal.meta")).unwrap(), meta_before);
}

#[test]
fn a_segment_of_another_format_version_is_refused_in_both_modes() {
    let dir = TempDir::new("version");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    let seg = segments(dir.path())[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[8] = 1; // version 1, with a checksum that matches
    let crc = crc32fast::hash(&bytes[0..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    for opts in [small(4096), salvage(small(4096))] {
        let err = Wal::open(dir.path(), opts).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::Corrupt);
        assert!(err.message().contains("version 1"), "{err}");
    }
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing was deleted or cut");
}

#[test]
fn a_metadata_file_of_another_format_version_is_refused_by_name() {
    let dir = TempDir::new("meta-version");
    let wal = fill(dir.path(), small(4096), 3, 10);
    wal.truncate(1).unwrap();
    wal.close().unwrap();
    let meta = dir.path().join("wal.meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    assert_eq!(bytes.len(), 1024, "two slots of 512 bytes");
    for slot in bytes.chunks_mut(512) {
        slot[8] = 1;
        let crc = crc32fast::hash(&slot[0..508]);
        slot[508..512].copy_from_slice(&crc.to_le_bytes());
    }
    std::fs::write(&meta, &bytes).unwrap();
    let err = Wal::open(dir.path(), small(4096)).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Corrupt);
    assert!(err.message().contains("wal.meta") && err.message().contains("format version 1"), "{err}");
    assert_eq!(std::fs::read(&meta).unwrap(), bytes, "nothing changed");
}

#[test]
fn a_newest_segment_shorter_than_its_header_is_an_interrupted_creation() {
    let dir = TempDir::new("short-header");
    fill(dir.path(), small(4096), 3, 10).close().unwrap();
    std::fs::write(dir.path().join("00000000000000000004.wal"), b"LIBWALSG\x01").unwrap();
    reopen_appends_after(dir.path(), small(4096), 3);
}

#[test]
fn read_only_opens_beside_a_busy_writer_always_succeed() {
    // A read-only open can meet a frame the writer is half-way through
    // writing, and a whole frame there a moment later.
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = TempDir::new("ro-busy");
    let opts = Options { sync_mode: wal::SyncMode::None, segment_size: 1 << 20, ..Options::default() };
    let wal = Wal::open(dir.path(), opts).unwrap();
    wal.append(1, b"first", b"").unwrap();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let value = vec![0xabu8; 100];
            for _ in 0..50_000 {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                wal.append(1, b"k", &value).unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        for _ in 0..200 {
            if done.load(Ordering::Relaxed) {
                break;
            }
            let ro = Wal::open(dir.path(), Options { read_only: true, ..opts })
                .unwrap_or_else(|e| panic!("read-only open beside a writer: {e}"));
            assert_eq!(ro.first_seq(), 1);
            assert_eq!(common::collect(&ro, 0).unwrap().len() as u64, ro.last_seq());
        }
        done.store(true, Ordering::Relaxed);
    });
}

/// FORMAT.md: a `*.wal` file whose name is not exactly 20 digits makes open
/// fail with WAL_E_CORRUPT. `str::parse::<u64>` accepts a leading '+', so
/// "+0000000000000000004.wal" is taken for segment 4 -- and deleted as an
/// "unborn" segment by a writable TAIL open.
#[test]
fn a_segment_name_with_a_plus_sign_is_refused_not_deleted() {
    let dir = TempDir::new("plus");
    let w = fill(dir.path(), small(4096), 3, 10);
    w.close().unwrap();
    let stray = dir.path().join("+0000000000000000004.wal");
    std::fs::write(&stray, b"user data").unwrap();
    let r = Wal::open(dir.path(), small(4096));
    let exists = stray.exists();
    assert!(matches!(&r, Err(e) if e.kind() == ErrorKind::Corrupt),
        "open returned {:?}; stray file still exists: {exists}", r.as_ref().map(|w| w.last_seq()));
    assert!(exists);
}

/// FORMAT.md: a *.wal file with a bad name is refused. A non-UTF-8 name
/// ending in .wal is silently ignored (list_segments `continue`s).
#[test]
fn a_non_utf8_wal_name_is_refused_not_ignored() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("nonutf8");
    let w = fill(dir.path(), small(4096), 3, 10);
    w.close().unwrap();
    std::fs::write(dir.path().join(std::ffi::OsStr::from_bytes(b"\xff\xfe.wal")), b"x").unwrap();
    let r = Wal::open(dir.path(), small(4096));
    assert!(matches!(&r, Err(e) if e.kind() == ErrorKind::Corrupt), "open: {:?}", r.map(|w| w.last_seq()));
}

/// Opening a long log reads its newest segment, not all of them (TAIL):
/// a log of 5 segments or of 60, an open reads less than two segments'
/// worth of bytes.
#[test]
fn opening_reads_the_newest_segment_not_the_whole_log() {
    use std::sync::Arc;
    use wal::io::SimFs;
    let bytes_read_by_open = |segments: u64| {
        let fs = SimFs::new();
        let opts = small(4096);
        let wal = Wal::open_in(Arc::new(fs.clone()), "/sim/wal", opts).unwrap();
        for i in 1..=segments * 10 {
            wal.append(1, &key(i), &value(i, 300)).unwrap();
        }
        drop(wal);
        let before = fs.bytes_read();
        let wal = Wal::open_in(Arc::new(fs.clone()), "/sim/wal", opts).unwrap();
        assert_eq!(wal.last_seq(), segments * 10);
        fs.bytes_read() - before
    };
    let (short, long) = (bytes_read_by_open(5), bytes_read_by_open(60));
    assert!(short < 2 * 4096 && long < 2 * 4096, "open read {short} and {long} bytes");
}
