//! Hostile inputs: damaged and foreign files, seeded random damage, a
//! directory libwal may not write, a full disk. Every refusal must be a
//! clear error naming the file, and must change nothing on disk.

mod common;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod open_dir;

use common::{append_bytes, fill, flip_byte, segments, small, TempDir};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use wal::io::sim::Rng;
use wal::{ErrorKind, Options, RecoveryMode, Wal};

#[path = "common/alloc.rs"]
mod alloc;
use alloc::largest_alloc_during;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The fuzz target's checks (fuzz/src/lib.rs) on seeded inputs: real logs
/// written by random scripts, then damaged by random edits (flips, cuts,
/// overwritten lengths and seqs, spliced and renamed segments, stray
/// files). A failing input is saved for `cargo fuzz run open_dir FILE`.
#[test]
fn seeded_damage_opens_cleanly_or_fails_cleanly() {
    let rounds: u64 = std::env::var("HOSTILE_ROUNDS").map_or(10_000, |s| s.parse().unwrap());
    for seed in 0..rounds {
        let mut rng = Rng::new(seed);
        let input: Vec<u8> = (0..rng.below(600)).map(|_| rng.next_u64() as u8).collect();
        alloc::set_seed(seed);
        let (opts, files) = open_dir::build(&input);
        let checked = std::panic::catch_unwind(|| largest_alloc_during(|| open_dir::check(opts, &files)));
        let largest_file = files.values().map(Vec::len).max().unwrap_or(0);
        // The test's own copies of the files aside (SimFs), and in absolute
        // terms: a header may claim up to 4 GiB (fuzz/src/lib.rs
        // claim_a_huge_length), and nothing near it is ever reserved.
        let bound = (2 * (largest_file + opts.segment_size as usize) + 64 * 1024).min(4 << 20);
        match checked {
            Ok(((), largest)) if largest <= bound => {}
            outcome => {
                let saved = save_failing_input(seed, &input);
                match outcome {
                    Ok(((), largest)) => panic!(
                        "seed {seed}: an allocation of {largest} bytes for files of at most {largest_file}; input saved as {saved}"
                    ),
                    Err(_) => panic!("seed {seed} failed (see the panic above); input saved as {saved}"),
                }
            }
        }
    }
}

fn save_failing_input(seed: u64, input: &[u8]) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("hostile-failures");
    let path = dir.join(format!("seed-{seed}"));
    let _ = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input));
    path.display().to_string()
}

// ---- hostile files on the real file system ----

/// Every file of a directory (and every directory in it, as None).
type Snapshot = BTreeMap<PathBuf, Option<Vec<u8>>>;

fn snapshot(dir: &Path) -> Snapshot {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).ok().filter(|_| p.is_file())))
        .collect()
}

fn opts(recovery_mode: RecoveryMode, read_only: bool) -> Options {
    Options { recovery_mode, read_only, ..small(4096) }
}

/// The four ways to open a log: TAIL and SALVAGE, writable and read-only.
fn every_mode() -> [Options; 4] {
    [
        opts(RecoveryMode::Tail, false),
        opts(RecoveryMode::Salvage, false),
        opts(RecoveryMode::Tail, true),
        opts(RecoveryMode::Salvage, true),
    ]
}

fn tail_modes() -> [Options; 2] {
    [opts(RecoveryMode::Tail, false), opts(RecoveryMode::Tail, true)]
}

/// A log of 30 records (ids 1..30) in 4-KiB segments: four segments.
fn log_of_four_segments(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    fill(dir.path(), small(4096), 30, 400).close().unwrap();
    assert_eq!(segments(dir.path()).len(), 4);
    dir
}

/// Opens `dir` and replays every record; returns how many there were.
fn open_and_replay(dir: &Path, opts: Options) -> wal::Result<usize> {
    Ok(common::collect(&Wal::open(dir, opts)?, 0)?.len())
}

/// Opening `dir` in each of `modes` fails with `kind`, at the open or at
/// the replay that meets the damage, naming `culprit`; no file changes.
fn assert_refused(dir: &Path, modes: &[Options], kind: ErrorKind, culprit: &Path) {
    for &opts in modes {
        let before = snapshot(dir);
        let result = open_and_replay(dir, opts);
        let err = result.err().unwrap_or_else(|| panic!("{opts:?} read {}", dir.display()));
        assert_eq!(err.kind(), kind, "{opts:?}: {err}");
        assert!(
            err.message().contains(&*culprit.to_string_lossy()),
            "{opts:?}: the error does not name {}: {err}",
            culprit.display()
        );
        let after = snapshot(dir);
        let changed: Vec<_> = after.iter().filter(|(p, b)| before.get(*p) != Some(b)).map(|(p, _)| p.clone()).collect();
        assert!(after == before, "{opts:?}: a refused open changed the directory: {changed:?}");
    }
}

/// Replaces a segment header's magic, keeping its checksum valid (the
/// header is 32 bytes: magic 0..8, CRC-32 of 0..28 at 28..32; docs/FORMAT.md).
fn rewrite_header(segment: &Path, edit: impl FnOnce(&mut [u8])) {
    let mut bytes = std::fs::read(segment).unwrap();
    edit(&mut bytes[..32]);
    let crc = crc32fast::hash(&bytes[..28]);
    bytes[28..32].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(segment, bytes).unwrap();
}

#[test]
fn a_segment_of_another_format_version_is_refused_and_kept() {
    for which in [0, 3] {
        let dir = log_of_four_segments("version");
        let segment = &segments(dir.path())[which];
        rewrite_header(segment, |h| h[8..12].copy_from_slice(&9u32.to_le_bytes()));
        assert_refused(dir.path(), &every_mode(), ErrorKind::Corrupt, segment);
    }
}

#[test]
fn a_segment_with_a_foreign_magic_is_refused_and_kept() {
    for which in [0, 3] {
        let dir = log_of_four_segments("magic");
        let segment = &segments(dir.path())[which];
        rewrite_header(segment, |h| h[..8].copy_from_slice(b"OTHERLOG"));
        assert_refused(dir.path(), &every_mode(), ErrorKind::Corrupt, segment);
    }
}

/// docs/FORMAT.md: the directory holds segments (`*.wal`) and libwal's own
/// files. A file with any other name cannot hold records and is common
/// beside data (`lost+found` on a mount point, backups, NFS silly-renames,
/// editor files): it is ignored and never touched. A `*.wal` file that is
/// not a segment name may hold records (a renamed or copied segment): it is
/// refused rather than skipped.
#[test]
fn unrelated_files_are_ignored_and_left_alone() {
    let dir = log_of_four_segments("unrelated");
    std::fs::create_dir(dir.path().join("lost+found")).unwrap();
    let names = ["README", ".nfs000123", "wal.meta.bak", "00000000000000000001.wal.bak", "LOCK~"];
    for name in names {
        std::fs::write(dir.path().join(name), b"not a segment").unwrap();
    }
    let unrelated = |s: Snapshot| {
        let name_of = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        s.into_iter().filter(|(p, _)| names.contains(&&*name_of(p)) || name_of(p) == "lost+found").collect::<Snapshot>()
    };
    let before = unrelated(snapshot(dir.path()));
    for opts in every_mode() {
        let wal = Wal::open(dir.path(), opts).unwrap();
        assert_eq!(common::seqs(&wal, 0), (1..=30).collect::<Vec<_>>(), "{opts:?}");
    }
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    wal.truncate(10).unwrap();
    wal.close().unwrap();
    assert!(unrelated(snapshot(dir.path())) == before, "an unrelated file was changed");
}

#[test]
fn a_wal_file_that_is_not_a_segment_name_is_refused() {
    let names = ["notes.wal", "1.wal", "00000000000000000000.wal", "99999999999999999999.wal", " 0000000000000000031.wal"];
    for name in names {
        let dir = log_of_four_segments("stray");
        let stray = dir.path().join(name);
        std::fs::write(&stray, b"records, perhaps").unwrap();
        assert_refused(dir.path(), &every_mode(), ErrorKind::Corrupt, &stray);
    }
}

#[test]
fn a_directory_with_a_segment_name_is_an_io_error_naming_it() {
    let dir = log_of_four_segments("segment-dir");
    let odd = dir.path().join(wal::segment::segment_name(31));
    std::fs::create_dir(&odd).unwrap();
    assert_refused(dir.path(), &every_mode(), ErrorKind::Io, &odd);
}

#[test]
fn a_damaged_metadata_file_is_refused_in_every_mode() {
    type Damage = (&'static str, fn(&Path));
    let damage: [Damage; 5] = [
        ("a flipped byte in each slot", |meta| {
            flip_byte(meta, 17);
            flip_byte(meta, 512 + 17)
        }),
        ("cut short", |meta| common::shrink(meta, 31)),
        ("empty", |meta| common::shrink(meta, 0)),
        ("one byte too long", |meta| append_bytes(meta, b"x")),
        ("a segment header", |meta| std::fs::write(meta, wal::format::encode_segment_header(1, 0)).unwrap()),
    ];
    for (what, damage) in damage {
        let dir = log_of_four_segments("meta");
        let wal = Wal::open(dir.path(), small(4096)).unwrap();
        wal.truncate(12).unwrap();
        wal.close().unwrap();
        let meta = dir.path().join("wal.meta");
        damage(&meta);
        eprintln!("wal.meta: {what}");
        assert_refused(dir.path(), &every_mode(), ErrorKind::Corrupt, &meta);
    }
}

/// wal.meta holds two copies (slots) of the floor: damage to either one
/// leaves the other, so the floor holds and nothing is replayed again.
#[test]
fn a_damaged_slot_of_the_metadata_file_leaves_the_other() {
    for at in [17, 512 + 17, 3, 512 + 508, 40] {
        let dir = log_of_four_segments("meta-slot");
        let wal = Wal::open(dir.path(), small(4096)).unwrap();
        wal.truncate(12).unwrap();
        wal.truncate(14).unwrap();
        wal.close().unwrap();
        flip_byte(&dir.path().join("wal.meta"), at);
        let wal = Wal::open(dir.path(), small(4096)).unwrap();
        assert_eq!((wal.first_seq(), wal.last_seq()), (15, 30), "byte {at} flipped");
        assert_eq!(common::seqs(&wal, 0), (15..=30).collect::<Vec<_>>());
        wal.truncate(20).unwrap();
        drop(wal);
        let wal = Wal::open(dir.path(), small(4096)).unwrap();
        assert_eq!(wal.first_seq(), 21, "the next truncate rewrote both slots");
    }
}

/// A segment of records 1..30 written with 6-KiB segments: it starts at a
/// seq where none of the 4-KiB log's segments does.
fn segment_of_another_split(tag: &str, which: usize) -> (TempDir, PathBuf) {
    let other = TempDir::new(tag);
    fill(other.path(), small(6144), 30, 400).close().unwrap();
    let segment = segments(other.path())[which].clone();
    (other, segment)
}

#[test]
fn a_segment_whose_first_seq_does_not_follow_its_predecessor_is_refused_by_tail() {
    let dir = log_of_four_segments("gap");
    let (_other, stranger) = segment_of_another_split("gap-other", 1);
    let first_seqs = |d: &Path| segments(d).iter().map(|p| p.file_stem().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(!first_seqs(dir.path()).contains(&stranger.file_stem().unwrap().to_owned()));
    // The second segment replaced by one that starts elsewhere: a gap or an
    // overlap after the first segment's last record.
    let second = &segments(dir.path())[1];
    std::fs::remove_file(second).unwrap();
    // (With its seek hint: an orphaned one is deleted by a writable open.)
    std::fs::remove_file(second.with_extension("idx")).unwrap();
    std::fs::copy(&stranger, dir.path().join(stranger.file_name().unwrap())).unwrap();
    let first = &segments(dir.path())[0];
    assert_refused(dir.path(), &tail_modes(), ErrorKind::Corrupt, first);
    // SALVAGE keeps what comes before the break, and a read-only SALVAGE
    // open says so without deleting anything.
    let before = snapshot(dir.path());
    let kept = open_and_replay(dir.path(), opts(RecoveryMode::Salvage, true)).unwrap();
    assert!(snapshot(dir.path()) == before);
    assert_eq!(open_and_replay(dir.path(), opts(RecoveryMode::Salvage, false)).unwrap(), kept);
    assert_eq!(segments(dir.path()), vec![first.clone()], "SALVAGE drops the segments after the break");
}

#[test]
fn a_segment_whose_header_disagrees_with_its_name_is_refused_by_tail() {
    let dir = log_of_four_segments("renamed");
    let newest = segments(dir.path())[3].clone();
    let first_seq: u64 = newest.file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let renamed = dir.path().join(wal::segment::segment_name(first_seq + 1));
    std::fs::rename(&newest, &renamed).unwrap();
    assert_refused(dir.path(), &tail_modes(), ErrorKind::Corrupt, &renamed);
}

/// A frame header that claims a 4 GiB payload in a file of a few hundred
/// bytes, with its header checksum made right (as a hostile file would):
/// the length is checked against WAL_MAX_BATCH_SIZE and the file before
/// anything is allocated. The frame is the first after the segment header.
#[test]
fn a_frame_claiming_4_gib_allocates_nothing_of_that_size() {
    let dir = TempDir::new("huge");
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    wal.append(1, b"k", &[0xab; 100]).unwrap();
    wal.close().unwrap();
    std::fs::remove_file(dir.path().join("LOCK")).unwrap(); // no clean-close mark: the frame is not proven
    let segment = &segments(dir.path())[0];
    let mut bytes = std::fs::read(segment).unwrap();
    let payload_len = (wal::format::ENTRY_HEADER_LEN + 1 + 100) as u32;
    assert_eq!(bytes[32 + 12..32 + 16], payload_len.to_le_bytes(), "payload_len at offset 12 of the frame");
    for huge in [u32::MAX, wal::MAX_BATCH_SIZE as u32, wal::MAX_BATCH_SIZE as u32 + 1] {
        bytes[32 + 12..32 + 16].copy_from_slice(&huge.to_le_bytes());
        reseal_frame_header(&mut bytes, 32);
        std::fs::write(segment, &bytes).unwrap();
        for opts in every_mode() {
            let (outcome, largest) = largest_alloc_during(|| open_and_replay(dir.path(), opts));
            assert!(largest < 64 * 1024, "{opts:?}: an allocation of {largest} bytes for a {}-byte file", bytes.len());
            // The damaged frame is the last one: a torn write, cut off.
            assert_eq!(outcome.unwrap(), 0, "{opts:?}");
            if !opts.read_only {
                std::fs::write(segment, &bytes).unwrap();
            }
        }
    }
}

/// Hostile lengths in sparse files, on the real file system: a frame header
/// with a valid checksum claiming WAL_MAX_BATCH_SIZE (or just under 4 GiB)
/// in a segment extended sparsely past it, as the newest segment and as an
/// older one. Every open mode and the replay meet it, and an append goes on
/// where one may: no allocation anywhere is larger than 2 MiB, in absolute
/// terms, although the files claim gigabytes.
#[test]
fn hostile_lengths_in_sparse_files_allocate_nothing_of_their_size() {
    // All of WAL_MAX_BATCH_SIZE, and more than it may claim: open reads
    // only what the file holds (holes are skipped), so this is quick.
    let claims = [wal::MAX_BATCH_SIZE as u32, u32::MAX - 64];
    for (i, &claim) in claims.iter().enumerate() {
        for newest in [true, false] {
            let dir = TempDir::new("sparse");
            let wal = Wal::open(dir.path(), small(4096)).unwrap();
            for n in 0..30u64 {
                wal.append(1, &common::key(n), &[0xab; 400]).unwrap();
            }
            wal.close().unwrap();
            std::fs::remove_file(dir.path().join("LOCK")).unwrap();
            let segs = segments(dir.path());
            let segment = if newest { segs.last().unwrap().clone() } else { segs[0].clone() };
            let mut bytes = std::fs::read(&segment).unwrap();
            let at = 32; // the segment's first frame
            bytes[at + 12..at + 16].copy_from_slice(&claim.to_le_bytes());
            reseal_frame_header(&mut bytes, at);
            std::fs::write(&segment, &bytes).unwrap();
            // Sparse: the claimed payload lies within the file, as zeros.
            let file = std::fs::OpenOptions::new().write(true).open(&segment).unwrap();
            file.set_len(at as u64 + 32 + claim as u64 + 4096).unwrap();
            drop(file);
            // Read-only first: they change nothing; then a writable open.
            let modes = [opts(RecoveryMode::Tail, true), opts(RecoveryMode::Salvage, true), opts(RecoveryMode::Tail, false)];
            for opts in modes {
                let (outcome, largest) = largest_alloc_during(|| {
                    let wal = Wal::open(dir.path(), opts)?;
                    let replayed = common::collect(&wal, 0).map(|r| r.len());
                    if !opts.read_only && replayed.is_ok() {
                        wal.append(1, b"after", b"hostile")?;
                    }
                    replayed
                });
                assert!(largest <= 2 << 20, "claim {i}, newest {newest}, {opts:?}: an allocation of {largest} bytes");
                match outcome {
                    Ok(_) => {}
                    Err(e) => assert!(matches!(e.kind(), ErrorKind::Corrupt), "{opts:?}: {e}"),
                }
            }
        }
    }
}

// ---- a directory libwal may not write, a full disk ----

/// Runs `f` on a thread of its own and hands back its result or its panic.
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
}

/// Drops the calling thread (only it) to user and group `nobody` when it
/// runs as root, whom file modes do not stop. Linux keeps credentials per
/// thread; the raw system calls change this thread's only, where glibc's
/// wrappers would change every thread's.
fn drop_root_on_this_thread() {
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    const NOBODY: libc::c_long = 65534;
    // SAFETY: plain system calls on this thread's credentials.
    unsafe {
        assert_eq!(libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()), 0);
        assert_eq!(libc::syscall(libc::SYS_setresgid, NOBODY, NOBODY, NOBODY), 0);
        assert_eq!(libc::syscall(libc::SYS_setresuid, NOBODY, NOBODY, NOBODY), 0);
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A log whose newest segment ends in a torn write (a writable open must
/// cut it), in a directory whose files and entries may not be changed;
/// `lock_mode` is the LOCK file's mode.
fn unwritable_log(tag: &str, lock_mode: u32) -> TempDir {
    let dir = log_of_four_segments(tag);
    append_bytes(&segments(dir.path())[3], b"a torn write");
    for segment in segments(dir.path()) {
        set_mode(&segment, 0o444);
    }
    set_mode(&dir.path().join("LOCK"), lock_mode);
    set_mode(dir.path(), 0o555);
    dir
}

fn make_writable_again(dir: &Path) {
    set_mode(dir, 0o755); // so that a non-root run can remove it
}

#[test]
fn a_directory_that_may_not_be_written_is_refused_for_writing_and_read_only_works() {
    let dir = unwritable_log("ro-dir", 0o444);
    // The first file it may not write is named (the segment to cut, or LOCK).
    let path = dir.path().to_path_buf();
    assert_refused_on_own_thread(dir.path(), &path);
    make_writable_again(dir.path());
}

#[test]
fn a_repair_that_may_not_be_written_is_refused_naming_the_segment() {
    // The LOCK file may be opened for writing, the segment to cut may not.
    let dir = unwritable_log("ro-segment", 0o666);
    let newest = segments(dir.path())[3].clone();
    assert_refused_on_own_thread(dir.path(), &newest);
    make_writable_again(dir.path());
}

/// As an unprivileged user: writable opens fail with Io naming `culprit`,
/// read-only opens read every record, and nothing changes.
fn assert_refused_on_own_thread(dir: &Path, culprit: &Path) {
    let before = snapshot(dir);
    on_own_thread(|| {
        drop_root_on_this_thread();
        let writable = [opts(RecoveryMode::Tail, false), opts(RecoveryMode::Salvage, false)];
        assert_refused(dir, &writable, ErrorKind::Io, culprit);
        for opts in [opts(RecoveryMode::Tail, true), opts(RecoveryMode::Salvage, true)] {
            assert_eq!(open_and_replay(dir, opts).unwrap(), 30, "{opts:?}");
        }
    });
    assert!(snapshot(dir) == before);
}

/// Runs `f` on a thread of its own in a private mount namespace, with a
/// tmpfs of `bytes` mounted on `at`: the mount is gone when the thread
/// ends. None when this process may not mount (it is not root).
fn on_small_tmpfs<T: Send>(at: &Path, bytes: u64, f: impl FnOnce() -> T + Send) -> Option<T> {
    use std::os::unix::ffi::OsStrExt;
    let target = std::ffi::CString::new(at.as_os_str().as_bytes()).unwrap();
    let size = std::ffi::CString::new(format!("size={bytes}")).unwrap();
    on_own_thread(|| {
        // SAFETY: unshare and mount with valid C strings. CLONE_NEWNS gives
        // this thread (only) a copy of the mount table.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return None;
            }
            let private = libc::MS_REC | libc::MS_PRIVATE;
            assert_eq!(libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), private, std::ptr::null()), 0);
            let tmpfs = c"tmpfs".as_ptr();
            assert_eq!(libc::mount(tmpfs, target.as_ptr(), tmpfs, 0, size.as_ptr().cast()), 0);
        }
        Some(f())
    })
}

/// Fills the file system holding `dir` to the last byte with a file that
/// is not libwal's (an unrelated file, which libwal ignores).
fn fill_disk(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).unwrap();
    while filler.write_all(&[0xee; 4096]).is_ok() {}
    while filler.write_all(&[0xee]).is_ok() {}
}

#[test]
fn a_full_disk_fails_the_append_and_keeps_every_acknowledged_record() {
    let mount = TempDir::new("enospc");
    std::fs::create_dir(mount.path()).unwrap();
    let dir = mount.path().join("log");
    let opts = Options { segment_size: 64 << 10, ..small(4096) };
    let ran = on_small_tmpfs(mount.path(), 256 << 10, || {
        let wal = Wal::open(&dir, opts).unwrap();
        let mut acked = 0;
        let err = loop {
            match wal.append(1, &common::key(acked + 1), &common::value(acked + 1, 1000)) {
                Ok(seq) => acked = seq,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.message().contains(&*dir.to_string_lossy()) && err.message().contains("os error 28"), "{err}");
        assert_eq!(wal.append(1, b"k", b"v").unwrap_err().kind(), ErrorKind::Poisoned);
        assert_eq!(wal.close().unwrap_err().kind(), ErrorKind::Poisoned);

        // Reopened on the full disk: exactly the acknowledged records.
        fill_disk(mount.path());
        let wal = Wal::open(&dir, opts).unwrap();
        let rows = common::collect(&wal, 0).unwrap();
        let expected: Vec<common::Row> =
            (1..=acked).map(|i| (i, 1, common::key(i), common::value(i, 1000))).collect();
        assert!(rows == expected, "{} records read back, {acked} acknowledged", rows.len());

        // A truncate rewrites wal.meta in place (the open made it): it
        // needs no new block, so it works on the full disk, and frees space.
        wal.truncate(acked / 2).unwrap();
        drop(wal);
        let wal = Wal::open(&dir, opts).unwrap();
        assert_eq!((wal.first_seq(), wal.last_seq()), (acked / 2 + 1, acked));
        assert!(!dir.join("wal.meta.tmp").exists());
    });
    if ran.is_none() {
        eprintln!("skipped: mounting a small tmpfs needs root (CAP_SYS_ADMIN)");
    }
}

/// The salt of the segment file held in `bytes` (its header's bytes 12..16).
fn segment_salt(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[12..16].try_into().unwrap())
}

/// Recomputes the header checksum of the frame at `at` in the segment file
/// held in `bytes` after a test edited its fields, as a hostile writer
/// would (docs/FORMAT.md: CRC-32 of the header's bytes 4..32, started from
/// the segment's salt).
fn reseal_frame_header(bytes: &mut [u8], at: usize) {
    let mut crc = crc32fast::Hasher::new_with_initial(segment_salt(bytes));
    crc.update(&bytes[at + 4..at + 32]);
    let crc = crc.finalize();
    bytes[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}
