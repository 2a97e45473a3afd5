//! The metadata file `wal.meta` holds the truncation floor: every seq at or
//! below it is gone for good, and the seq counter never falls below it. It is
//! replaced atomically (temp file, fsync, rename, directory fsync), so a
//! truncation is durable in O(1) whatever the size of the log.

use crate::error::{Error, Result};
use crate::format::{self, CutIntent, META_CUT_LEN};
use crate::io::{read_full_at, Fs, OpenMode};
use crate::segment::sync_dir;
use std::io::ErrorKind;
use std::path::Path;

pub const META_FILE: &str = "wal.meta";
pub const META_TMP_FILE: &str = "wal.meta.tmp";

/// The floor recorded in `dir`, 0 when there is no metadata file yet.
pub fn read_floor(fs: &dyn Fs, dir: &Path) -> Result<u64> {
    read_meta(fs, dir).map(|(floor, _)| floor)
}

/// The floor, and the cut of the newest records being made (recorded by
/// `wal_truncate_after` before it changes a segment), if any.
pub fn read_meta(fs: &dyn Fs, dir: &Path) -> Result<(u64, Option<CutIntent>)> {
    let path = dir.join(META_FILE);
    let file = match fs.open(&path, OpenMode::READ) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok((0, None)),
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let mut bytes = [0u8; META_CUT_LEN + 1];
    let n = read_full_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read", &path, e))?;
    format::decode_meta_cut(&bytes[..n]).map_err(|why| match format::meta_version(&bytes[..n]) {
        Some(version) if version != format::FORMAT_VERSION => {
            Error::corrupt(&path, crate::segment::format_version_message(version))
        }
        _ => Error::corrupt(&path, format!("bad metadata file: {why}")),
    })
}

/// Durably records `floor` as the new truncation floor.
pub fn write_floor(fs: &dyn Fs, dir: &Path, floor: u64) -> Result<()> {
    write_meta(fs, dir, floor, None)
}

/// Durably replaces the metadata file: the floor, and a cut being made.
pub fn write_meta(fs: &dyn Fs, dir: &Path, floor: u64, cut: Option<&CutIntent>) -> Result<()> {
    let tmp = dir.join(META_TMP_FILE);
    let file = fs.open(&tmp, OpenMode::CREATE_TRUNCATE).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all_at(&format::encode_meta_cut(floor, cut), 0).map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(file);
    let path = dir.join(META_FILE);
    fs.rename(&tmp, &path).map_err(|e| Error::io("rename to wal.meta", &tmp, e))?;
    sync_dir(fs, dir)
}

/// Removes a temp file left by a crash in the middle of `write_floor`.
pub fn remove_stale_tmp(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let tmp = dir.join(META_TMP_FILE);
    match fs.remove_file(&tmp) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", &tmp, e)),
    }
}
