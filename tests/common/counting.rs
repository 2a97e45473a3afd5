//! A file system that counts the bytes read from every file (tests of the
//! seek index and of seek hints: what a seek costs in bytes read).
#![allow(dead_code)]

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use wal::io::{Fs, FsFile, OpenMode, RealFs};
use wal::Wal;

/// Counts the bytes read from every file.
pub struct CountingFs {
    pub inner: RealFs,
    pub read: Arc<AtomicU64>,
}

struct CountingFile {
    inner: Arc<dyn FsFile>,
    read: Arc<AtomicU64>,
}

/// Every method of `FsFile` is passed on, the default ones too.
impl FsFile for CountingFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.inner.write_all_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.inner.sync_all()
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        self.inner.allocate(len)
    }
    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.start_writeback(offset, len)
    }
    fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.zero_range(offset, len)
    }
    fn data_after(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        self.inner.data_after(offset)
    }
}

/// Every method of `Fs` is passed on, the default ones too.
impl Fs for CountingFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(CountingFile { inner, read: self.read.clone() }))
    }
    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        self.inner.is_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
        self.inner.list(dir)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        self.inner.lock(path)
    }
    fn deletes_in_background(&self) -> bool {
        self.inner.deletes_in_background()
    }
    fn disk_usage(&self, path: &Path) -> io::Result<u64> {
        self.inner.disk_usage(path)
    }
}

/// Bytes read by opening an iterator after `after` and reading its first
/// record.
pub fn bytes_read_by_seek(wal: &Wal, read: &AtomicU64, after: u64) -> u64 {
    let before = read.load(Ordering::Relaxed);
    let mut it = wal.iter(after).unwrap();
    assert_eq!(it.next().unwrap().map(|r| r.seq), Some(after + 1));
    read.load(Ordering::Relaxed) - before
}
