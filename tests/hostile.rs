//! Hostile inputs: damaged and foreign files, seeded random damage, a
//! directory libwal may not write, a full disk. Every refusal must be a
//! clear error naming the file, and must change nothing on disk.

mod common;

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod open_dir;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use wal::io::sim::Rng;

/// Counts the largest single allocation made by the current thread, so a
/// test can prove that no length read from a file is trusted for an
/// allocation larger than the file.
struct Counting;

thread_local! {
    static LARGEST_ALLOC: Cell<usize> = const { Cell::new(0) };
}

fn note_alloc(size: usize) {
    let _ = LARGEST_ALLOC.try_with(|c| c.set(c.get().max(size)));
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_alloc_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOC.with(|c| c.set(0));
    let out = f();
    (out, LARGEST_ALLOC.with(|c| c.get()))
}

/// The fuzz target's checks (fuzz/src/lib.rs) on seeded inputs: real logs
/// written by random scripts, then damaged by random edits (flips, cuts,
/// overwritten lengths and seqs, spliced and renamed segments, stray
/// files). A failing input is saved for `cargo fuzz run open_dir FILE`.
#[test]
fn seeded_damage_opens_cleanly_or_fails_cleanly() {
    let rounds: u64 = std::env::var("HOSTILE_ROUNDS").map_or(1500, |s| s.parse().unwrap());
    for seed in 0..rounds {
        let mut rng = Rng::new(seed);
        let input: Vec<u8> = (0..rng.below(600)).map(|_| rng.next_u64() as u8).collect();
        let (opts, files) = open_dir::build(&input);
        let checked = std::panic::catch_unwind(|| largest_alloc_during(|| open_dir::check(opts, &files)));
        let largest_file = files.values().map(Vec::len).max().unwrap_or(0);
        let bound = 2 * (largest_file + opts.segment_size as usize) + 64 * 1024;
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

use common::{append_bytes, fill, flip_byte, segments, small, TempDir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wal::{ErrorKind, Options, RecoveryMode, Wal};

/// Every file of a directory (and every directory in it, as None).
type Snapshot = BTreeMap<PathBuf, Option<Vec<u8>>>;

fn snapshot(dir: &Path) -> Snapshot {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(&p).ok().filter(|_| p.is_file())))
        .collect()
}

/// The four ways to open a log: TAIL and SALVAGE, writable and read-only.
fn every_mode(opts: Options) -> [Options; 4] {
    let with = |recovery_mode, read_only| Options { recovery_mode, read_only, ..opts };
    [
        with(RecoveryMode::Tail, false),
        with(RecoveryMode::Salvage, false),
        with(RecoveryMode::Tail, true),
        with(RecoveryMode::Salvage, true),
    ]
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

/// Every way of opening `dir` fails with `kind`, at the open or at the
/// replay that meets the damage, naming `culprit`; no file changes.
fn assert_refused(dir: &Path, kind: ErrorKind, culprit: &Path) {
    for opts in every_mode(small(4096)) {
        let before = snapshot(dir);
        let result = open_and_replay(dir, opts);
        let err = result.err().unwrap_or_else(|| panic!("{opts:?} read {}", dir.display()));
        assert_eq!(err.kind(), kind, "{opts:?}: {err}");
        assert!(
            err.message().contains(&*culprit.to_string_lossy()),
            "{opts:?}: the error does not name {}: {err}",
            culprit.display()
        );
        assert!(snapshot(dir) == before, "{opts:?}: a refused open changed the directory");
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
        assert_refused(dir.path(), ErrorKind::Corrupt, segment);
    }
}

#[test]
fn a_segment_with_a_foreign_magic_is_refused_and_kept() {
    for which in [0, 3] {
        let dir = log_of_four_segments("magic");
        let segment = &segments(dir.path())[which];
        rewrite_header(segment, |h| h[..8].copy_from_slice(b"OTHERLOG"));
        assert_refused(dir.path(), ErrorKind::Corrupt, segment);
    }
}
