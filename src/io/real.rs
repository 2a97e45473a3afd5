//! The OS file system: std for what it offers, libc for fallocate and flock.

use super::{FsFile, Fs, OpenMode};
use std::any::Any;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl FsFile for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn sync_all(&self) -> io::Result<()> {
        File::sync_all(self)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
        loop {
            // SAFETY: fallocate on a valid descriptor with in-range arguments.
            if unsafe { libc::fallocate(self.as_raw_fd(), 0, 0, len) } == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                // Preallocation is an optimisation: skip it where unsupported.
                Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => return Ok(()),
                _ => return Err(err),
            }
        }
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        let (Ok(offset), Ok(len)) = (libc::off64_t::try_from(offset), libc::off64_t::try_from(len)) else {
            return Ok(()); // a hint: past what the call can name, none is given
        };
        // SAFETY: sync_file_range on a valid descriptor; WRITE alone starts
        // writeback and neither waits nor checks (so consumes) write errors.
        if unsafe { libc::sync_file_range(self.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            // A file system or kernel without it: no hint.
            Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::ESPIPE) => Ok(()),
            _ => Err(err),
        }
    }

    fn zero_range(&self, offset: u64, len: u64) -> io::Result<()> {
        let range = |v: u64| libc::off_t::try_from(v).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG));
        let (offset, len) = (range(offset)?, range(len)?);
        // ZERO_RANGE (ext4, xfs) marks the blocks unwritten; PUNCH_HOLE
        // (btrfs, tmpfs) frees them. Either way nothing is written.
        for mode in [libc::FALLOC_FL_ZERO_RANGE, libc::FALLOC_FL_PUNCH_HOLE] {
            loop {
                // SAFETY: fallocate on a valid descriptor with in-range arguments.
                if unsafe { libc::fallocate(self.as_raw_fd(), mode | libc::FALLOC_FL_KEEP_SIZE, offset, len) } == 0 {
                    return Ok(());
                }
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) => continue,
                    Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => break,
                    _ => return Err(err),
                }
            }
        }
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    fn data_after(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        let size = self.size()?;
        if offset >= size {
            return Ok(None);
        }
        let Ok(at) = libc::off_t::try_from(offset) else { return Ok(None) };
        // SAFETY: lseek on a valid descriptor; it moves only this file's
        // offset, which no other call here uses (reads are positioned).
        let start = unsafe { libc::lseek(self.as_raw_fd(), at, libc::SEEK_DATA) };
        if start < 0 {
            let err = io::Error::last_os_error();
            return match err.raw_os_error() {
                Some(libc::ENXIO) => Ok(None), // no data after `offset`
                // A file system without SEEK_DATA: all of it may be data.
                Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => Ok(Some((offset, size))),
                _ => Err(err),
            };
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(self.as_raw_fd(), start, libc::SEEK_HOLE) };
        if end < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Some((start as u64, (end as u64).min(size))))
    }
}

/// Holds an flock until dropped (closing the descriptor releases it).
struct FlockGuard(#[allow(dead_code)] File);

impl Fs for RealFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(mode.write)
            .create_new(mode.create_new)
            .create(mode.create_truncate)
            .truncate(mode.create_truncate)
            // O_NONBLOCK: a FIFO someone put at a log file's name (a
            // segment, wal.meta, a seek hint) would block the open until
            // its other end appeared; non-blocking, it opens and reads as
            // empty. Regular files ignore the flag.
            .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
            .mode(0o644)
            .open(path)?;
        Ok(Arc::new(file))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        Ok(fs::metadata(path)?.is_dir())
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        fs::create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        fs::read_dir(dir)?.map(|e| e.map(|e| e.file_name())).collect()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn disk_usage(&self, path: &Path) -> io::Result<u64> {
        Ok(fs::metadata(path)?.blocks().saturating_mul(512))
    }

    /// flock locks belong to the open file description, so a second open in
    /// the same process conflicts just as one from another process does.
    /// `path` is opened read-only (a directory can be), never created.
    fn deletes_in_background(&self) -> bool {
        true
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let file = OpenOptions::new().read(true).custom_flags(libc::O_CLOEXEC).open(path)?;
        loop {
            // SAFETY: flock on a valid descriptor.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Ok(Box::new(FlockGuard(file)));
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) {
                return Err(err);
            }
        }
    }
}
