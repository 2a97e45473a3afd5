//! Recycling truncated segments. A truncate renames a segment it frees to
//! a *spare* (`NNNNNNNNNNNNNNNNNNNN.spare`) instead of deleting it, and a
//! later rotation takes a spare for the new segment. Deleting a 64 MiB file
//! frees its blocks, which on a file system mounted with `discard` costs a
//! discard of each extent when the deletion commits (about 15 ms here);
//! renaming it frees nothing.
//!
//! A spare is never read as part of the log: it does not end in `.wal`. Its
//! old frames can never be read as records of the segment it becomes: the
//! rotation zeroes its data (fallocate ZERO_RANGE, or PUNCH_HOLE: no data
//! written, the blocks stay allocated where the file system can) and gives
//! it a new header, with a new salt, and syncs both before the rename that
//! makes it a segment. So what a recycled segment holds past its frames
//! reads as zeros, like a new segment's preallocated space.

use crate::error::{Error, Result};
use crate::format;
use crate::io::{Fs, OpenMode};
use crate::segment::{self, Created, SegmentInfo};
use std::io::ErrorKind;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

const SUFFIX: &str = ".spare";
/// Spares a log keeps for later segments; segments a truncate frees beyond
/// these are deleted.
pub const MAX_SPARES: usize = 2;

fn spare_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SUFFIX}")
}

/// The spare files in `dir`, in name order.
pub fn list_spares(fs: &dyn Fs, dir: &Path) -> Result<Vec<PathBuf>> {
    let names = fs.list(dir).map_err(|e| Error::io("list directory", dir, e))?;
    let mut spares: Vec<PathBuf> = names.iter().filter(|n| numbered(n, SUFFIX)).map(|n| dir.join(n)).collect();
    spares.sort();
    Ok(spares)
}

/// Whether `name` is 20 digits and `suffix`, as the log names its files: a
/// file someone else named `*.spare` or `*.trash` is not the log's to zero,
/// reuse or delete.
fn numbered(name: &std::ffi::OsStr, suffix: &str) -> bool {
    let digits = name.as_bytes().strip_suffix(suffix.as_bytes());
    digits.is_some_and(|d| d.len() == 20 && d.iter().all(u8::is_ascii_digit))
}

const TRASH_SUFFIX: &str = ".trash";

/// Takes a segment a truncate freed out of the log before the truncate
/// returns: renamed to a spare while the log keeps fewer than MAX_SPARES
/// (`spares` counts them), else renamed to `NNNNNNNNNNNNNNNNNNNN.trash`,
/// which `reaper` deletes (deleting frees the blocks: a discard per extent
/// on a file system mounted with `discard`, which the truncate does not
/// wait for). Without `recycle` (no preallocation) it is deleted at once.
/// None of this needs to be durable: the floor is, and a crash that brings
/// the segment back under its own name leaves it below the floor, where
/// the next open deletes it (and any trash).
pub fn retire(fs: &Arc<dyn Fs>, dir: &Path, seg: &SegmentInfo, spares: &mut usize, reaper: &Reaper) -> Result<()> {
    if *spares >= MAX_SPARES {
        // Its seek hint first, best effort (a leftover is deleted by the
        // next open); inline only where deletions are. (First: a failure
        // there that is not ignored, a killed process, then fails the
        // rename, as the simulation expects.)
        if fs.deletes_in_background() {
            let _ = reaper.delete(fs, crate::hint::path_of(&seg.path));
        } else {
            crate::hint::remove(&**fs, dir, [&*seg.path]);
        }
        let trash = dir.join(format!("{:020}{TRASH_SUFFIX}", seg.first_seq));
        fs.rename(&seg.path, &trash).map_err(|e| Error::io("rename to trash", &seg.path, e))?;
        return reaper.delete(fs, trash);
    }
    let spare = dir.join(spare_name(seg.first_seq));
    fs.rename(&seg.path, &spare).map_err(|e| Error::io("rename to a spare", &seg.path, e))?;
    *spares += 1;
    Ok(())
}

/// Without recycling: the freed segment is deleted before the truncate
/// returns.
pub fn delete(fs: &dyn Fs, seg: &SegmentInfo) -> Result<()> {
    fs.remove_file(&seg.path).map_err(|e| Error::io("remove segment", &seg.path, e))
}

/// A new segment made of a spare, if there is one: its data zeroed, a new
/// header (a new salt) written and synced, then renamed to the segment's
/// name and the directory synced, so that a crash leaves either the spare
/// or a valid empty segment. None when there is no spare, or when the file
/// system cannot zero one without writing it (the spare is deleted then).
pub fn reuse(fs: &dyn Fs, dir: &Path, first_seq: u64, segment_size: u64) -> Result<Option<Created>> {
    let Some(spare) = list_spares(fs, dir)?.into_iter().next() else { return Ok(None) };
    let target = dir.join(segment::segment_name(first_seq));
    match fs.open(&target, OpenMode::READ) {
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Ok(_) => return Err(Error::io("create segment", &target, std::io::Error::from_raw_os_error(libc::EEXIST))),
        Err(e) => return Err(Error::io("open", &target, e)),
    }
    // The truncate that made the spare did not sync the directory: until
    // it is, a crash may bring the file back under its segment name, and
    // with a new header it would be a segment named for other seqs.
    segment::sync_dir(fs, dir)?;
    // The seek hint the spare had as a segment (same number), best effort:
    // left, it is an orphan the next open deletes.
    crate::hint::remove(fs, dir, [&*spare.with_extension("wal")]);
    let file = fs.open(&spare, OpenMode::WRITE).map_err(|e| Error::io("open spare", &spare, e))?;
    let mut len = file.size().map_err(|e| Error::io("stat", &spare, e))?;
    if len > segment_size {
        // The spare held a record larger than a segment.
        file.set_len(segment_size).map_err(|e| Error::io("shrink spare", &spare, e))?;
        len = segment_size;
    }
    let header_len = format::SEGMENT_HEADER_LEN as u64;
    if len > header_len {
        match file.zero_range(header_len, len - header_len) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::Unsupported => {
                drop(file);
                fs.remove_file(&spare).map_err(|e| Error::io("remove spare", &spare, e))?;
                return Ok(None);
            }
            Err(e) => return Err(Error::io("zero spare", &spare, e)),
        }
    }
    let salt = segment::new_salt();
    let header = format::encode_segment_header(first_seq, salt);
    file.write_all_at(&header, 0).map_err(|e| Error::io("write segment header of", &spare, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &spare, e))?;
    fs.rename(&spare, &target).map_err(|e| Error::io("rename spare to", &target, e))?;
    segment::sync_dir(fs, dir)?;
    Ok(Some(Created { file, info: SegmentInfo::new(first_seq, target), salt }))
}

/// Deletes spares beyond MAX_SPARES and trash a reaper did not live to
/// delete, at open.
pub fn trim(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let spares = list_spares(fs, dir)?;
    for extra in spares.iter().skip(MAX_SPARES) {
        fs.remove_file(extra).map_err(|e| Error::io("remove spare", extra, e))?;
    }
    let names = fs.list(dir).map_err(|e| Error::io("list directory", dir, e))?;
    for name in names.iter().filter(|n| numbered(n, TRASH_SUFFIX)) {
        let path = dir.join(name);
        fs.remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    }
    Ok(())
}

/// Deletes, on a thread of its own, the segments a truncate freed beyond
/// the spares it keeps (and those segments' seek hints, src/hint.rs): each deletion frees a segment's blocks, which costs
/// a discard of every extent on a file system mounted with `discard`, and a
/// truncate must not wait for that. Nothing waits for the deletions to be
/// durable: the files lie below the floor, and an open deletes any that a
/// crash leaves. Closing the handle waits for the thread. On a file system
/// that is not the OS's (the simulated one), the deletions are made inline,
/// so that a test's calls follow from its seed.
#[derive(Default)]
pub(crate) struct Reaper {
    worker: Mutex<Option<(mpsc::Sender<PathBuf>, std::thread::JoinHandle<()>)>>,
}

impl Reaper {
    pub fn delete(&self, fs: &Arc<dyn Fs>, path: PathBuf) -> Result<()> {
        if !fs.deletes_in_background() {
            return fs.remove_file(&path).map_err(|e| Error::io("remove", &path, e));
        }
        let mut worker = self.worker.lock().unwrap_or_else(|p| p.into_inner());
        if worker.is_none() {
            let (tx, rx) = mpsc::channel::<PathBuf>();
            let worker_fs = fs.clone();
            let spawned = std::thread::Builder::new().name("libwal-reaper".into()).spawn(move || {
                for path in rx {
                    // A failure leaves a file below the floor: the next
                    // open deletes it.
                    let _ = worker_fs.remove_file(&path);
                }
            });
            match spawned {
                Ok(handle) => *worker = Some((tx, handle)),
                Err(_) => return fs.remove_file(&path).map_err(|e| Error::io("remove segment", &path, e)),
            }
        }
        match worker.as_ref().map(|(tx, _)| tx.send(path)) {
            Some(Ok(())) => Ok(()),
            Some(Err(mpsc::SendError(path))) => fs.remove_file(&path).map_err(|e| Error::io("remove segment", &path, e)),
            None => Ok(()),
        }
    }

    /// Waits for the deletions handed over so far.
    pub fn finish(&self) {
        let worker = self.worker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((tx, handle)) = worker {
            drop(tx);
            let _ = handle.join();
        }
    }
}
