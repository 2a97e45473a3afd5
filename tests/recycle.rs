//! Recycled segments: a truncate keeps up to two freed segments as spares
//! (and deletes the rest off its path), a rotation reuses one, zeroed, with
//! a new header, and nothing of its old life is ever read again.

mod common;
use common::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use wal::{Options, Wal};

fn recycling(segment_size: u64) -> Options {
    Options { segment_size, preallocate: true, ..Options::default() }
}

fn spares(dir: &Path) -> Vec<PathBuf> {
    let mut spares: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "spare"))
        .collect();
    spares.sort();
    spares
}

#[test]
fn a_truncate_keeps_two_spares_and_deletes_the_other_freed_segments() {
    let dir = TempDir::new("recycle-keep");
    let wal = fill(dir.path(), recycling(8192), 200, 500);
    let before = segments(dir.path()).len();
    assert!(before > 8, "{before} segments");
    wal.truncate(180).unwrap();
    wal.close().unwrap(); // waits for the deletions handed off
    assert_eq!(spares(dir.path()).len(), 2);
    // 14 records a segment: 169..=182, 183..=196, 197..=200 stay.
    assert_eq!(segments(dir.path()).len(), 3, "{:?}", segments(dir.path()));
    let trash = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "trash"));
    assert_eq!(trash.count(), 0, "the reaper deleted the rest before close returned");
    let wal = Wal::open(dir.path(), recycling(8192)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (181, 200));
}

#[test]
fn a_rotation_reuses_a_spare_zeroed_with_a_new_salt_and_its_old_records_never_come_back() {
    let dir = TempDir::new("recycle-reuse");
    let opts = recycling(8192);
    let wal = fill(dir.path(), opts, 40, 500);
    wal.truncate(30).unwrap();
    let spare = spares(dir.path())[0].clone();
    let (ino, old) = (std::fs::metadata(&spare).unwrap().ino(), std::fs::read(&spare).unwrap());
    // Appends until the log rotates into the spare.
    let mut seq = 40;
    while spares(dir.path()).contains(&spare) {
        seq += 1;
        assert_eq!(wal.append(1, format!("new{seq}").as_bytes(), &[7u8; 500]).unwrap(), seq);
    }
    let reused = segments(dir.path()).into_iter().find(|p| std::fs::metadata(p).unwrap().ino() == ino).unwrap();
    let bytes = std::fs::read(&reused).unwrap();
    assert_eq!(&bytes[0..8], b"LIBWALSG");
    assert_ne!(bytes[12..16], old[12..16], "a new salt");
    let first: u64 = reused.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert_eq!(u64::from_le_bytes(bytes[16..24].try_into().unwrap()), first);
    // Past what the new segment wrote, the file is zeros, whatever it held.
    let written = bytes.iter().rposition(|&b| b != 0).unwrap();
    assert!(old[written + 1..].iter().any(|&b| b != 0), "the old life had data past the new one's end");
    drop(wal);
    // Killed (no clean-close mark): recovery reads the new life only.
    let wal = Wal::open(dir.path(), opts).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (31, seq));
    let rows = collect(&wal, 0).unwrap();
    assert_eq!(rows.len() as u64, seq - 30);
    assert!(rows.iter().filter(|r| r.0 > 40).all(|r| r.2 == format!("new{}", r.0).into_bytes()));
    assert!(!wal.open_report().tail_cut);
}

#[test]
fn without_preallocation_freed_segments_are_deleted() {
    let dir = TempDir::new("recycle-off");
    let wal = fill(dir.path(), small(8192), 100, 500);
    wal.truncate(90).unwrap();
    wal.close().unwrap();
    assert!(spares(dir.path()).is_empty());
}

#[test]
fn an_open_deletes_spares_beyond_two() {
    let dir = TempDir::new("recycle-trim");
    let wal = fill(dir.path(), recycling(8192), 100, 500);
    wal.truncate(90).unwrap();
    wal.close().unwrap();
    for extra in ["00000000000000000777.spare", "00000000000000000778.spare"] {
        std::fs::write(dir.path().join(extra), b"not a segment").unwrap();
    }
    drop(Wal::open(dir.path(), recycling(8192)).unwrap());
    assert_eq!(spares(dir.path()).len(), 2);
}

#[test]
fn files_the_log_did_not_name_are_never_taken_as_spares_or_trash() {
    let dir = TempDir::new("recycle-foreign");
    let wal = fill(dir.path(), recycling(8192), 40, 500);
    let mine = [dir.path().join("notes.spare"), dir.path().join("1.spare"), dir.path().join("backup.trash")];
    for (i, path) in mine.iter().enumerate() {
        std::fs::write(path, format!("the user's file {i}")).unwrap();
    }
    wal.truncate(30).unwrap();
    // Rotations that take spares, then a reopen (which trims spares and
    // trash) and more rotations.
    for seq in 41..=80 {
        assert_eq!(wal.append(1, b"k", &[1u8; 500]).unwrap(), seq);
    }
    wal.close().unwrap();
    let wal = Wal::open(dir.path(), recycling(8192)).unwrap();
    wal.truncate(75).unwrap();
    for seq in 81..=120 {
        assert_eq!(wal.append(1, b"k", &[2u8; 500]).unwrap(), seq);
    }
    wal.close().unwrap();
    for (i, path) in mine.iter().enumerate() {
        assert_eq!(std::fs::read_to_string(path).unwrap(), format!("the user's file {i}"), "{}", path.display());
    }
}
