//! Helpers shared by the integration tests: temporary directories, small
//! logs, and byte-level damage to segment files.
#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use wal::{Options, Wal};

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let path = std::env::temp_dir().join(format!("libwal-rs-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Small segments, no preallocation: the file ends where the data ends.
pub fn small(segment_size: u64) -> Options {
    Options { segment_size, preallocate: false, ..Options::default() }
}

pub fn key(i: u64) -> Vec<u8> {
    format!("key-{i}").into_bytes()
}

pub fn value(i: u64, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i as usize * 31 + j) as u8).collect()
}

/// Appends records 1..=n (key i, value of `len` bytes) to a fresh log.
pub fn fill(dir: &Path, opts: Options, n: u64, len: usize) -> Wal {
    let wal = Wal::open(dir, opts).unwrap();
    for i in 1..=n {
        assert_eq!(wal.append(1, &key(i), &value(i, len)).unwrap(), i);
    }
    wal
}

/// A record read back: (seq, op, key, value).
pub type Row = (u64, u8, Vec<u8>, Vec<u8>);

/// Every record after `after`.
pub fn collect(wal: &Wal, after: u64) -> wal::Result<Vec<Row>> {
    let mut iter = wal.iter(after)?;
    let mut out = Vec::new();
    while let Some(r) = iter.next()? {
        out.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec()));
    }
    Ok(out)
}

pub fn seqs(wal: &Wal, after: u64) -> Vec<u64> {
    collect(wal, after).unwrap().into_iter().map(|r| r.0).collect()
}

/// Segment files in log order.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    v.sort();
    v
}

pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// XORs one byte.
pub fn flip_byte(path: &Path, offset: u64) {
    let f = OpenOptions::new().read(true).write(true).open(path).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
}

/// Writes bytes at the end of a file.
pub fn append_bytes(path: &Path, bytes: &[u8]) {
    let f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all_at(bytes, file_len(path)).unwrap();
}

/// Cuts a file to `len` bytes.
pub fn shrink(path: &Path, len: u64) {
    OpenOptions::new().write(true).open(path).unwrap().set_len(len).unwrap();
}

/// Size of a one-record frame with these key and value lengths.
pub fn frame_len(key_len: usize, value_len: usize) -> u64 {
    (wal::format::FRAME_HEADER_LEN + 9 + key_len + value_len) as u64
}


/// Closes `wal` and takes away its clean-close mark (the LOCK file's
/// contents): the directory is then as a writer killed right after its
/// last sync leaves it, whose unsynced tail nothing proves durable.
pub fn close_as_if_killed(wal: Wal) {
    let lock = wal.dir().join("LOCK");
    wal.close().unwrap();
    fs::write(lock, b"").unwrap();
}
