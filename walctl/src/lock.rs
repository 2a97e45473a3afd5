//! Is a writer holding the log? libwal's writer holds an exclusive `flock`
//! on the log directory itself (from 0.2, so that removing LOCK does not
//! break the exclusion; LOCK now only holds the clean-close mark), or, in
//! 0.1, on the directory's LOCK file. Trying that lock,
//! even for an instant, could make a writer's open fail with
//! WAL_E_LOCKED, so walctl only reads the kernel's table of locks,
//! /proc/locks, and takes none. It looks for both, so that it reads logs
//! of either kind of writer.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use wal::inspect::LOCK_FILE;

pub enum Writer {
    Free,
    /// Held by this process id.
    Held(String),
}

pub fn writer(dir: &Path) -> wal::Result<Writer> {
    let dir_meta = fs::metadata(dir).map_err(|e| wal::Error::io("stat", dir, e))?;
    let mut files = vec![file_id(&dir_meta)];
    let lock_file = dir.join(LOCK_FILE);
    match fs::metadata(&lock_file) {
        Ok(meta) => files.push(file_id(&meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(wal::Error::io("stat", &lock_file, e)),
    }
    let table = Path::new("/proc/locks");
    // The kernel hands the table out a page at a time: while other locks
    // come and go, one read can skip a line. A holder missed once is
    // looked for again.
    for _ in 0..3 {
        let locks = fs::read_to_string(table).map_err(|e| wal::Error::io("read", table, e))?;
        if let Some(pid) = holder(&locks, &files) {
            return Ok(Writer::Held(pid));
        }
    }
    Ok(Writer::Free)
}

/// How /proc/locks names a file: device and inode, "fe:00:5333189".
fn file_id(meta: &fs::Metadata) -> String {
    format!("{:02x}:{:02x}:{}", libc::major(meta.dev()), libc::minor(meta.dev()), meta.ino())
}

/// The process holding an exclusive flock on one of `files`.
fn holder(locks: &str, files: &[String]) -> Option<String> {
    for line in locks.lines() {
        // "1: FLOCK  ADVISORY  WRITE 4463 fe:00:5333189 0 EOF"; a waiter's
        // line has "->" after the number and holds nothing.
        let fields: Vec<&str> = line.split_whitespace().collect();
        if let Some(["FLOCK", _, "WRITE", pid, id, ..]) = fields.get(1..) {
            if files.iter().any(|f| f == id) {
                return Some(pid.to_string());
            }
        }
    }
    None
}
