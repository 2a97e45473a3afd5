//! Opening a log: the directory, the writer's lock, the clean-close mark,
//! recovery, and making what recovery found durable before anything is
//! written after it.

use crate::active::{Active, Space, WRITE_BUFFER};
use crate::commit::SyncState;
use crate::error::{Error, ErrorKind, Result};
use crate::format::{self, CleanMark, SegmentHeader, CLEAN_MARK_LEN, SEGMENT_HEADER_LEN};
use crate::io::{read_full_at, Fs, FsFile, OpenMode, RealFs};
use crate::log::{Inner, State, Wal, LOCK_FILE};
use crate::options::{Options, SyncMode};
use crate::recovery::{self, Newest};
use crate::segment::{self, SegmentInfo};
use std::any::Any;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

impl Wal {
    /// Opens (creating if allowed) the log in `dir` and recovers it.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Wal> {
        Wal::open_in(Arc::new(RealFs), dir, opts)
    }

    /// Opens the log through a given file system (the simulated one in tests).
    pub fn open_in(fs: Arc<dyn Fs>, dir: impl AsRef<Path>, opts: Options) -> Result<Wal> {
        opts.validate()?;
        let stats = Arc::default();
        let fs = crate::stats::counting(fs, &stats);
        let dir = dir.as_ref().to_path_buf();
        ensure_dir(&*fs, &dir, &opts)?;
        let lock = match opts.read_only {
            true => None,
            false => Some(lock_dir(&*fs, &dir)?),
        };
        let (fs, lock_file, mut recovered, reader_active, meta_at_open) = match opts.read_only {
            false => {
                // A cut of the newest records that its writer did not live
                // to finish is finished.
                if let (floor, Some(intent)) = crate::meta::read_meta(&*fs, &dir)? {
                    crate::cut::finish(&*fs, &dir, floor, &intent)?;
                }
                let lock_file = read_clean_mark(&*fs, &dir)?;
                let mark = lock_file.as_ref().and_then(|l| l.mark);
                let recovered = recovery::recover(&*fs, &dir, &opts, mark)?;
                (fs, lock_file, recovered, None, None)
            }
            true => read_only_view(fs, &dir, &opts)?,
        };
        let mark = lock_file.as_ref().and_then(|l| l.mark);
        // The clean-close mark stays as long as it is true: until this
        // handle changes what it describes (see `Inner::retire_clean_mark`).
        let mut live_mark = mark.filter(|_| recovered.report.clean_close && !opts.read_only);
        if !opts.read_only {
            recovery::prepare(&*fs, &mut recovered)?;
            // What wal.meta says is written again and synced before anything
            // relies on it (and made, for a log that has none): after a
            // failed fdatasync the page cache may hold a slot the disk does
            // not (a truncate that failed), and a repair that deleted
            // segments below that floor would lose records if the disk's
            // older floor came back. Not before recovery: an open it
            // refuses changes no file.
            // Even after a clean close: a clean-close mark can outlive a
            // handle whose truncate failed its fdatasync (the mark stays
            // while it is true of the segment it names, and a poisoned
            // handle writes no new one), and the page cache may then show
            // that truncate's floor.
            crate::meta::rewrite(&*fs, &dir, recovered.floor)?;
            // Emptied, durably, before a repair changes the log, and when it
            // says nothing true: a damaged or stale mark, or an empty LOCK
            // whose emptying an earlier failed fsync may have left in the
            // page cache only.
            if lock_file.is_some() && (live_mark.is_none() || recovered.has_repairs()) {
                clear_clean_mark(&*fs, &dir)?;
                live_mark = None;
            }
            recovery::apply(&*fs, &dir, &mut recovered)?;
            crate::recycle::trim(&*fs, &dir)?;
            // Sidecars of segments that are gone, and of the newest one,
            // which is written again: best effort (src/hint.rs).
            crate::hint::trim(&*fs, &dir, &recovered.segments);
            // A segment or wal.meta that a writer created or renamed but did
            // not live to fsync the directory for must not vanish in a power
            // loss after records were appended to it.
            segment::sync_dir(&*fs, &dir)?;
        }
        let active = match (reader_active, recovered.newest, recovered.segments.last()) {
            (Some(active), ..) => Some(active),
            (None, Some(newest), Some(info)) => {
                Some(open_active(&*fs, &opts, info, newest, recovered.last_seq + 1, live_mark.is_some())?)
            }
            _ => None,
        };
        let last_seq = recovered.last_seq;
        let state = State {
            segments: recovered.segments,
            active,
            next_seq: last_seq + 1,
            unsynced: 0,
            newest_checkpoint: 0,
            recovered_upto: last_seq,
            appended: Default::default(),
        };
        Ok(Wal {
            inner: Arc::new(Inner {
                fs,
                dir,
                opts,
                lock: Mutex::new(lock),
                state: Mutex::new(state),
                sync: Mutex::new(SyncState::new(last_seq)),
                sync_done: Default::default(),
                poisoned: AtomicBool::new(false),
                fsync: Mutex::new(()),
                truncating: Mutex::new(()),
                report: recovered.report,
                waiters: Default::default(),
                clean_mark: Mutex::new(live_mark),
                floor: AtomicU64::new(recovered.floor),
                cuts: Default::default(),
                reaper: Default::default(),
                meta_at_open,
                stats,
            }),
            closed: false,
        })
    }
}

/// How often a read-only open recovers again when the newest segment it
/// found was removed before it could open it.
const READ_ONLY_ATTEMPTS: usize = 100;

/// What a read-only open recovered, and the newest segment opened for
/// reading. Beside a writer, the log may change while it reads: a truncate
/// moves the floor and removes segments (`recovery::recover` starts again
/// when that makes it fail), the newest segment it found may be gone before
/// it opens it, and a cut (`truncate_after`) rewrites the newest segments.
/// Every change of wal.meta bumps its generation, so when the generation
/// moved while it read, it reads again; a cut whose intent wal.meta holds
/// is read through `CutView`, as the cut leaves the log.
type ReadOnly = (Arc<dyn Fs>, Option<LockContents>, recovery::Recovered, Option<Active>, Option<format::Meta>);

fn read_only_view(fs: Arc<dyn Fs>, dir: &Path, opts: &Options) -> Result<ReadOnly> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last_try = attempt >= READ_ONLY_ATTEMPTS;
        let before = crate::meta::read_full(&*fs, dir)?;
        let view: Arc<dyn Fs> = match before.and_then(|m| m.cut) {
            Some(intent) => Arc::new(crate::cut::CutView::new(fs.clone(), dir, before.map_or(0, |m| m.floor), intent)?),
            None => fs.clone(),
        };
        let lock_file = read_clean_mark(&*view, dir)?;
        let mark = lock_file.as_ref().and_then(|l| l.mark);
        let recovered = match recovery::recover(&*view, dir, opts, mark) {
            Err(_) if !last_try && crate::meta::read_full(&*fs, dir)? != before => continue,
            other => other?,
        };
        let active = match (recovered.newest, recovered.segments.last()) {
            (Some(newest), Some(info)) => match open_active(&*view, opts, info, newest, recovered.last_seq + 1, false) {
                Err(e) if e.os_error() == libc::ENOENT && !last_try => continue,
                other => Some(other?),
            },
            _ => None,
        };
        if !last_try && crate::meta::read_full(&*fs, dir)? != before {
            continue;
        }
        return Ok((view, lock_file, recovered, active, before));
    }
}

/// The newest segment, ready for appends (or reads, read-only). A writable
/// open makes what a crashed process left in the page cache durable before
/// anything is written after it, so that the records recovery found stay
/// below every later synced_end: written again first (a failed fsync may
/// have left them in pages no fsync will write; after a clean close, whose
/// last fdatasync succeeded, there is nothing to write again), fdatasynced,
/// and then vouched for by a sync mark, so that a later open can prove them
/// durable even if no record follows.
fn open_active(
    fs: &dyn Fs,
    opts: &Options,
    info: &SegmentInfo,
    newest: Newest,
    next_seq: u64,
    marked: bool,
) -> Result<Active> {
    let mode = if opts.read_only { OpenMode::READ } else { OpenMode::WRITE };
    let file = fs.open(&info.path, mode).map_err(|e| Error::io("open segment", &info.path, e))?;
    let space = space(opts, &*file, &info.path)?;
    let ids = (info.first_seq, info.id, newest.salt);
    let end = newest.end;
    // What the segment's frames record as durable (a live clean-close mark
    // may prove more).
    let recorded = newest.frames_proven;
    if opts.read_only {
        return Ok(Active::new(file, info.path.clone(), ids, end, recorded, space));
    }
    rewrite(&*file, &info.path, newest.proven, end)?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &info.path, e))?;
    let mut active = Active::new(file, info.path.clone(), ids, end, recorded, space);
    // The records recovered after a crash are durable now: say so in the
    // segment, for the next open, unless its own frames say so already (a
    // sync mark after the records proves only itself) or the clean-close
    // mark, which stays, does.
    if !marked && newest.records_end > recorded {
        active.record_sync_point(next_seq)?;
    }
    Ok(active)
}

/// Writes again the newest segment's bytes from `from` (the last frame's
/// synced_end; the whole segment when it has no frame) to `end`. After a
/// failed fsync the kernel may keep unwritten pages but mark them clean:
/// reads return them, yet no later fsync writes them. Written again, they
/// are dirty, and the fsync that follows makes them durable.
fn rewrite(file: &dyn FsFile, path: &Path, from: u64, end: u64) -> Result<()> {
    let mut at = if from < SEGMENT_HEADER_LEN as u64 { 0 } else { from.min(end) };
    let mut buf = vec![0u8; (end - at).min(WRITE_BUFFER as u64) as usize];
    while at < end {
        let len = buf.len().min((end - at) as usize);
        let n = read_full_at(file, &mut buf[..len], at).map_err(|e| Error::io("read", path, e))?;
        if n == 0 {
            break;
        }
        file.write_all_at(&buf[..n], at).map_err(|e| Error::io("write to", path, e))?;
        at += n as u64;
    }
    Ok(())
}

/// What the LOCK file holds: `mark`, a sound clean-close mark (None for an
/// empty, damaged or foreign one, which is no mark).
pub(crate) struct LockContents {
    pub mark: Option<CleanMark>,
}

/// Reads the clean-close mark a clean close left in the LOCK file: the
/// newest segment, and the end of its data, all of it durable. None when
/// there is no LOCK file.
pub(crate) fn read_clean_mark(fs: &dyn Fs, dir: &Path) -> Result<Option<LockContents>> {
    let path = dir.join(LOCK_FILE);
    let file = match fs.open(&path, OpenMode::READ) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open", &path, e)),
    };
    let mut buf = [0u8; CLEAN_MARK_LEN + 1];
    let n = read_full_at(&*file, &mut buf, 0).map_err(|e| Error::io("read", &path, e))?;
    Ok(Some(LockContents { mark: format::decode_clean_mark(&buf[..n]) }))
}

/// Empties LOCK, durably, so that a mark never outlives the state it
/// describes (a stale mark would claim bytes durable that a later cut
/// replaced, a newer segment foreign, or a truncated one missing). Done with
/// a write and a truncate even when LOCK reads as empty: after a failed
/// fsync, an earlier emptying may live in the page cache only, the mark
/// still on the disk; the write makes the file dirty again, so that this
/// fsync writes the empty file whatever the cache says.
pub(crate) fn clear_clean_mark(fs: &dyn Fs, dir: &Path) -> Result<()> {
    let path = dir.join(LOCK_FILE);
    let file = fs.open(&path, OpenMode::WRITE).map_err(|e| Error::io("open", &path, e))?;
    file.write_all_at(&[0u8; CLEAN_MARK_LEN], 0).map_err(|e| Error::io("clear", &path, e))?;
    file.set_len(0).map_err(|e| Error::io("clear", &path, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &path, e))
}

/// After the final sync of a clean close: the mark that lets the next open
/// prove the newest segment durable up to `end`, and spares it from writing
/// that segment's tail again. Not fsynced: if a power loss takes it, the
/// next open just proves less.
pub(crate) fn write_clean_mark(fs: &dyn Fs, dir: &Path, segment: SegmentHeader, end: u64) -> Result<()> {
    let path = dir.join(LOCK_FILE);
    let file = fs.open(&path, OpenMode::CREATE_TRUNCATE).map_err(|e| Error::io("open", &path, e))?;
    let mark = format::encode_clean_mark(&CleanMark { segment, end });
    file.write_all_at(&mark, 0).map_err(|e| Error::io("write the clean-close mark to", &path, e))
}

/// How the active segment `file` reserves space: in steps up to
/// segment_size with `preallocate`, and with zeros written ahead of the
/// data when records are synced as they come (in WAL_SYNC_NONE the rare
/// syncs amortise the extent conversions, and the zeros would only cost a
/// copy).
pub(crate) fn space(opts: &Options, file: &dyn FsFile, path: &Path) -> Result<Space> {
    let allocated = file.size().map_err(|e| Error::io("stat", path, e))?;
    let reserving = opts.preallocate && !opts.read_only;
    Ok(Space {
        allocated,
        reserve_to: if reserving { opts.segment_size } else { 0 },
        zeros: reserving && opts.sync_mode != SyncMode::None,
    })
}

fn ensure_dir(fs: &dyn Fs, dir: &Path, opts: &Options) -> Result<()> {
    match fs.is_dir(dir) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Error::io("open log directory", dir, std::io::Error::from_raw_os_error(libc::ENOTDIR))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && opts.create_if_missing && !opts.read_only => {
            // The directories that do not exist yet, outermost first: each
            // one's entry must be made durable in its parent.
            let mut created: Vec<&Path> = dir.ancestors().take_while(|d| fs.is_dir(d).is_err()).collect();
            created.reverse();
            fs.create_dir_all(dir).map_err(|e| Error::io("create log directory", dir, e))?;
            for new_dir in created {
                match new_dir.parent() {
                    Some(parent) if parent.as_os_str().is_empty() => segment::sync_dir(fs, Path::new("."))?,
                    Some(parent) => segment::sync_dir(fs, parent)?,
                    None => {} // the root: it has no entry to make durable
                }
            }
            Ok(())
        }
        Err(e) => Err(Error::io("open log directory", dir, e)),
    }
}

/// Takes the writer's lock, held until the handle closes: an flock on the
/// log directory itself, so that removing or replacing a file in it (LOCK
/// included) cannot let a second writer in.
fn lock_dir(fs: &dyn Fs, dir: &Path) -> Result<Box<dyn Any + Send + Sync>> {
    fs.lock(dir).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => Error::new(
            ErrorKind::Locked,
            format!(
                "{}: LOCK is held: another handle has this log open for writing (it holds an flock on the directory)",
                dir.display()
            ),
        ),
        _ => Error::io("lock", dir, e),
    })
}
