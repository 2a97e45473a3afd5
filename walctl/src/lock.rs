//! Is a writer holding the log? libwal's writer holds an exclusive `flock`
//! on the directory's LOCK file. Trying that lock, even for an instant,
//! could make a writer's open fail with WAL_E_LOCKED, so walctl only reads
//! the kernel's table of locks, /proc/locks, and takes none.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use wal::inspect::LOCK_FILE;

pub enum Writer {
    /// No LOCK file: the log was never opened for writing.
    NoLockFile,
    Free,
    /// Held by this process id.
    Held(String),
}

pub fn writer(dir: &Path) -> wal::Result<Writer> {
    let lock_file = dir.join(LOCK_FILE);
    let meta = match fs::metadata(&lock_file) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Writer::NoLockFile),
        Err(e) => return Err(wal::Error::io("stat", &lock_file, e)),
    };
    // /proc/locks names a file by device and inode: "fe:00:5333189".
    let file_id = format!("{:02x}:{:02x}:{}", libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino());
    let table = Path::new("/proc/locks");
    let locks = fs::read_to_string(table).map_err(|e| wal::Error::io("read", table, e))?;
    for line in locks.lines() {
        // "1: FLOCK  ADVISORY  WRITE 4463 fe:00:5333189 0 EOF"; a waiter's
        // line has "->" after the number and holds nothing.
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(["FLOCK", _, "WRITE", pid, id, ..]) = fields.get(1..) {
            if *id == file_id {
                return Ok(Writer::Held(pid.to_string()));
            }
        }
    }
    Ok(Writer::Free)
}
