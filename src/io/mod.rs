//! The file-system interface the core writes through. `RealFs` is the OS;
//! `SimFs` is an in-memory file system that remembers what has been made
//! durable and what has not, so tests can cut the power at any I/O call and
//! inject write and sync failures (the okaywal pattern: every scenario can run
//! against both).

mod real;
pub mod sim;

pub use real::RealFs;
pub use sim::SimFs;

use std::any::Any;
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::Arc;

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenMode {
    pub write: bool,
    /// Create the file; fail if it exists.
    pub create_new: bool,
    /// Create the file if missing, empty it if present.
    pub create_truncate: bool,
}

impl OpenMode {
    pub const READ: OpenMode = OpenMode { write: false, create_new: false, create_truncate: false };
    pub const WRITE: OpenMode = OpenMode { write: true, create_new: false, create_truncate: false };
    pub const CREATE_NEW: OpenMode = OpenMode { write: true, create_new: true, create_truncate: false };
    pub const CREATE_TRUNCATE: OpenMode =
        OpenMode { write: true, create_new: false, create_truncate: true };
}

/// An open file.
pub trait FsFile: Send + Sync {
    /// Reads at `offset`; fewer bytes than asked only at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync: the data written so far, and the size needed to read it.
    fn sync_data(&self) -> io::Result<()>;
    /// fsync: data and metadata.
    fn sync_all(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves `len` bytes (fallocate); a file system that cannot just
    /// returns Ok.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// The file's size in bytes.
    fn size(&self) -> io::Result<u64>;
    /// Asks the OS to start writing `len` bytes at `offset` to the disk and
    /// returns without waiting (sync_file_range with SYNC_FILE_RANGE_WRITE):
    /// a hint that makes no byte durable and consumes no write error (the
    /// next fdatasync reports those), so that a later fdatasync finds less
    /// to write. A file system that cannot just returns Ok.
    fn start_writeback(&self, _offset: u64, _len: u64) -> io::Result<()> {
        Ok(())
    }
    /// Makes `offset..offset + len` read as zeros without changing the
    /// file's size, keeping its blocks where the file system can
    /// (fallocate ZERO_RANGE: no data is written). `Unsupported` where it
    /// cannot be done cheaply. The default writes the zeros.
    fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        const CHUNK: u64 = 1 << 20;
        let zeros = vec![0u8; len.min(CHUNK) as usize];
        let mut at = offset;
        while at < offset + len {
            let n = (offset + len - at).min(CHUNK) as usize;
            self.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }
    /// The first range of the file at or after `offset` that may hold data
    /// (`start..end`), skipping holes a sparse file has (SEEK_DATA and
    /// SEEK_HOLE); None past the last one. Holes read as zeros, so a reader
    /// looking for non-zero bytes need not read them: a header claiming
    /// gigabytes in a sparse file costs what the file really holds.
    fn data_after(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        let size = self.size()?;
        Ok((offset < size).then_some((offset, size)))
    }
}

/// A file system: the directory operations the log needs.
pub trait Fs: Send + Sync {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Ok(true) for a directory, Ok(false) for anything else, NotFound.
    fn is_dir(&self, path: &Path) -> io::Result<bool>;
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory.
    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>>;
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of a directory: its entries (creations, renames, removals).
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// An exclusive lock on `path` (an existing file or directory), held
    /// until the returned guard is dropped; `WouldBlock` when someone else
    /// holds it.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>>;
    /// Whether files the log no longer needs may be deleted by a thread of
    /// its own (the OS's file system); otherwise they are deleted inline,
    /// so that a simulated file system sees its calls in a fixed order.
    fn deletes_in_background(&self) -> bool {
        false
    }

    /// The bytes the file at `path` occupies on disk (its blocks, 512 bytes
    /// each in st_blocks on Linux). A file system that cannot tell reports
    /// the file's length.
    fn disk_usage(&self, path: &Path) -> io::Result<u64> {
        self.open(path, OpenMode::READ)?.size()
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub fn read_full_at(file: &dyn FsFile, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}
