//! The metadata file `wal.meta` holds the truncation floor: every seq at or
//! below it is gone for good, and the seq counter never falls below it. It is
//! replaced atomically (temp file, fsync, rename, directory fsync), so a
//! truncation is durable in O(1) whatever the size of the log.

use crate::error::{Error, Result};
use crate::format;
use crate::sys;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub const META_FILE: &str = "wal.meta";
pub const META_TMP_FILE: &str = "wal.meta.tmp";

/// The floor recorded in `dir`, 0 when there is no metadata file yet.
pub fn read_floor(dir: &Path) -> Result<u64> {
    let path = dir.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => format::decode_meta(&bytes)
            .map_err(|why| Error::corrupt(&path, format!("bad metadata file: {why}"))),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

/// Durably records `floor` as the new truncation floor.
pub fn write_floor(dir: &Path, floor: u64) -> Result<()> {
    let tmp = dir.join(META_TMP_FILE);
    let mut file: File = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(&format::encode_meta(floor)).map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(file);
    let path = dir.join(META_FILE);
    fs::rename(&tmp, &path).map_err(|e| Error::io("rename to wal.meta", &tmp, e))?;
    sys::fsync_dir(dir)
}

/// Removes a temp file left by a crash in the middle of `write_floor`.
pub fn remove_stale_tmp(dir: &Path) -> Result<()> {
    let tmp = dir.join(META_TMP_FILE);
    match fs::remove_file(&tmp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &tmp, e)),
    }
}
