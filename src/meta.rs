//! The metadata file `wal.meta` holds the truncation floor: every seq at or
//! below it is gone for good, and the seq counter never falls below it; and,
//! while `wal_truncate_after` runs, the cut it makes. It has two slots, each
//! a whole copy, rewritten in place one after the other (see `write_meta`),
//! so a truncation is durable in O(1) whatever the size of the log: two
//! small writes and two fdatasyncs.

use crate::error::{Error, Result};
use crate::format::{self, CutIntent, Meta, META_FILE_LEN, META_SLOT_LEN};
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
    read(fs, dir).map(|m| m.map_or((0, None), |m| (m.floor, m.cut)))
}

/// The metadata file (its generation moves with every change); None when
/// there is none.
pub fn read_full(fs: &dyn Fs, dir: &Path) -> Result<Option<Meta>> {
    read(fs, dir)
}

fn read(fs: &dyn Fs, dir: &Path) -> Result<Option<Meta>> {
    let path = dir.join(META_FILE);
    let file = match fs.open(&path, OpenMode::READ) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let mut bytes = [0u8; META_FILE_LEN + 1];
    let n = read_full_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read", &path, e))?;
    format::decode_meta_file(&bytes[..n]).map(Some).map_err(|why| match format::meta_file_version(&bytes[..n]) {
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

/// Durably records the floor and a cut being made (None: none is). The
/// file's two slots are rewritten in place, one after the other, each
/// synced: a crash during either write leaves the other whole (the older
/// content, or already the new), and damage to one slot afterwards leaves
/// the other, which says the same. Each is one write and one fdatasync of
/// a file whose size does not change, so no journal commit: a truncate
/// costs about two durable appends. A log without a slotted file gets one
/// whole, through a temp file.
pub fn write_meta(fs: &dyn Fs, dir: &Path, floor: u64, cut: Option<&CutIntent>) -> Result<()> {
    let current = read(fs, dir)?;
    let path = dir.join(META_FILE);
    match current {
        Some(meta) if meta.generation > 0 => {
            let file = fs.open(&path, OpenMode::WRITE).map_err(|e| Error::io("open", &path, e))?;
            for generation in [meta.generation + 1, meta.generation + 2] {
                let slot = format::encode_meta_slot(&Meta { floor, cut: cut.copied(), generation });
                let at = (generation % 2) * META_SLOT_LEN as u64;
                file.write_all_at(&slot, at).map_err(|e| Error::io("write", &path, e))?;
                file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
            }
            Ok(())
        }
        _ => create(fs, dir, floor, cut),
    }
}

/// Writes a whole new metadata file (both slots) through a temp file.
pub fn create(fs: &dyn Fs, dir: &Path, floor: u64, cut: Option<&CutIntent>) -> Result<()> {
    let mut bytes = vec![0u8; META_FILE_LEN];
    for generation in [1u64, 2] {
        let at = (generation % 2) as usize * META_SLOT_LEN;
        let slot = format::encode_meta_slot(&Meta { floor, cut: cut.copied(), generation });
        bytes[at..at + META_SLOT_LEN].copy_from_slice(&slot);
    }
    let tmp = dir.join(META_TMP_FILE);
    let file = fs.open(&tmp, OpenMode::CREATE_TRUNCATE).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all_at(&bytes, 0).map_err(|e| Error::io("write", &tmp, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &tmp, e))?;
    drop(file);
    let path = dir.join(META_FILE);
    fs.rename(&tmp, &path).map_err(|e| Error::io("rename to wal.meta", &tmp, e))?;
    sync_dir(fs, dir)
}

/// At a writable open: writes the slots again as they are and syncs them,
/// so that what the page cache shows (after a failed fdatasync it may
/// hold a slot the disk does not) is what the disk holds before anything
/// relies on it; the bytes do not change. A log without a slotted
/// wal.meta (new, or written before slots existed) gets one, holding
/// `floor`: truncates rewrite it in place.
pub fn rewrite(fs: &dyn Fs, dir: &Path, floor: u64) -> Result<()> {
    if read(fs, dir)?.is_none_or(|m| m.generation == 0) {
        return create(fs, dir, floor, None);
    }
    let path = dir.join(META_FILE);
    let file = fs.open(&path, OpenMode::WRITE).map_err(|e| Error::io("open", &path, e))?;
    let mut bytes = [0u8; META_FILE_LEN];
    let n = read_full_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read", &path, e))?;
    file.write_all_at(&bytes[..n], 0).map_err(|e| Error::io("write", &path, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))
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
