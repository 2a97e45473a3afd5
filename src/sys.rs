//! The few OS calls std does not offer: directory fsync, fallocate, flock.
//! Each returns the error with the path it concerns.

use crate::error::{Error, ErrorKind, Result};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Makes a directory's entries (files created, renamed, deleted) durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let d = File::open(dir).map_err(|e| Error::io("open directory", dir, e))?;
    d.sync_all().map_err(|e| Error::io("fsync directory", dir, e))
}

/// Reserves `len` bytes for `file` so that later writes need no allocation
/// and a sync need not also write the file size. File systems without
/// fallocate just skip it: preallocation is an optimisation, not a guarantee.
pub fn preallocate(file: &File, path: &Path, len: u64) -> Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| Error::invalid(format!("segment size {len} is too large")))?;
    // SAFETY: fallocate on a valid descriptor with in-range arguments.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Ok(()),
        _ => Err(Error::io("preallocate", path, err)),
    }
}

/// An exclusive lock on a file in the log directory, held until dropped.
/// flock locks belong to the open file description, so a second open in the
/// same process conflicts just as one from another process does.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(path: &Path) -> Result<DirLock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_CLOEXEC)
            .mode(0o644)
            .open(path)
            .map_err(|e| Error::io("open lock file", path, e))?;
        loop {
            // SAFETY: flock on a valid descriptor.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                return Ok(DirLock { _file: file });
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EWOULDBLOCK) => {
                    return Err(Error::new(
                        ErrorKind::Locked,
                        format!(
                            "{} is held: another handle has this log open for writing",
                            path.display()
                        ),
                    ));
                }
                _ => return Err(Error::io("lock", path, err)),
            }
        }
    }
}
