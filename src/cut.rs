//! Cutting the newest records (`wal_truncate_after`): a follower whose log
//! conflicts with a new leader's discards its suffix.
//!
//! A cut is made durable the way a truncate's floor is: before any segment
//! changes, `wal.meta` records what the cut will do (a `CutIntent`: which
//! segment is cut to which length, and the header that replaces a batch's
//! own when the cut falls inside it); then the newer segments are deleted,
//! the frame header rewritten, the segment cut to its new length and
//! synced; then `wal.meta` drops the intent. A crash before the intent is
//! durable leaves the old log; after it, the next writable open finishes
//! the cut before it reads anything (every step can be done again), and a
//! read-only open sees the log through the intent (`CutView`) without
//! changing a file. So a crash leaves either the old log or the new one.

use crate::active::Active;
use crate::error::{Error, Result};
use crate::format::{self, CutIntent, FrameHeader, SegmentHeader, FRAME_HEADER_LEN, OP_CHECKPOINT};
use crate::io::{read_full_at, Fs, FsFile, OpenMode};
use crate::log::{State, Wal};
use crate::meta;
use crate::open::space;
use crate::segment::{self, SegmentInfo, SegmentReader, Step};
use std::any::Any;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The cuts made through a handle, for its iterators: one that was open
/// across a cut and whose next record lies above the cut's seq must not
/// return the records appended after it as if they followed.
#[derive(Default)]
pub(crate) struct Cuts {
    epoch: AtomicU64,
    /// The seq each cut kept, in order: cut `i` moved the epoch to `i + 1`.
    seqs: Mutex<Vec<u64>>,
}

impl Cuts {
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Bumped before the cut changes any file, so that a reader who checks
    /// the epoch after reading knows whether what it read may be changed.
    fn record(&self, seq: u64) {
        let mut seqs = self.seqs.lock().unwrap_or_else(|p| p.into_inner());
        seqs.push(seq);
        self.epoch.store(seqs.len() as u64, Ordering::SeqCst);
    }

    /// The lowest seq kept by the cuts made after `epoch` (None: none was).
    pub fn lowest_since(&self, epoch: u64) -> Option<u64> {
        let seqs = self.seqs.lock().unwrap_or_else(|p| p.into_inner());
        seqs.get(epoch as usize..).and_then(|s| s.iter().min().copied())
    }
}

/// Blocks group commits while a cut runs (a leader that started before it
/// would mark seqs durable that the cut discards), and lets them go again.
/// The durable watermark is lowered to the cut's seq while they are held,
/// before the cut takes effect: once the state lock is released after the
/// cut, an append gets seq + 1, and a watermark still above it would let
/// that append (and `wal_wait`) call it durable before any fdatasync.
struct SyncsHeld<'a> {
    inner: &'a crate::log::Inner,
    /// The watermark when the cut began: restored if it is refused.
    before: u64,
    /// The watermark when syncs are let go.
    release_to: u64,
}

impl Drop for SyncsHeld<'_> {
    fn drop(&mut self) {
        self.inner.release_commits(self.release_to);
    }
}

impl Wal {
    /// Discards every record with seq > `seq`, durably; the next append
    /// gets `seq` + 1. A crash at any instant leaves the log as it was or as
    /// it is on return. `seq` must lie between first_seq - 1 and last_seq,
    /// and not below the newest checkpoint record: `Range` otherwise.
    pub fn truncate_after(&self, seq: u64) -> Result<()> {
        let inner = &self.inner;
        inner.check_writable()?;
        let _one_at_a_time = inner.truncating.lock().unwrap_or_else(|p| p.into_inner());
        let (first, last, recovered_upto) = {
            let st = inner.state();
            (st.first_seq(inner.floor.load(Ordering::SeqCst)), st.last_seq(), st.recovered_upto)
        };
        if seq > last {
            return Err(Error::range(format!("cannot cut after seq {seq}: the last seq is {last}")));
        }
        if seq == last {
            return Ok(());
        }
        if seq + 1 < first {
            return Err(Error::range(format!(
                "cannot cut after seq {seq}: records up to seq {} were truncated",
                first - 1
            )));
        }
        // Records appended since the open are known; older ones are read
        // (only those the cut would discard).
        if recovered_upto > seq {
            self.refuse_checkpoints_between(seq, recovered_upto)?;
        }
        // Checked again below, once appends are held out: refused here, the
        // cut leaves even the durable watermark alone.
        refuse_checkpoint_above(&inner.state(), seq)?;
        let mut held = self.hold_syncs(seq);
        let mut st = inner.state();
        inner.check_writable()?;
        refuse_checkpoint_above(&st, seq)?;
        // A failure part-way leaves the log on disk unknown to this handle
        // (the intent, once recorded, is finished by the next open); it is
        // poisoned, and vouches for nothing above seq.
        held.release_to = held.before.min(seq);
        self.cut_locked(&mut st, seq).inspect_err(|_| inner.poison())?;
        // The cut synced what it kept (older segments were when sealed).
        held.release_to = seq;
        Ok(())
    }

    fn refuse_checkpoints_between(&self, seq: u64, upto: u64) -> Result<()> {
        let mut it = self.iter(seq)?;
        while let Some(record) = it.next()? {
            if record.seq > upto {
                break;
            }
            if record.op == OP_CHECKPOINT {
                return Err(Error::range(format!(
                    "cannot cut after seq {seq}: checkpoint record {} lies above it (an engine stored that seq \
                     with its state)",
                    record.seq
                )));
            }
        }
        Ok(())
    }

    /// Waits for a running group commit to finish, keeps new ones out, and
    /// lowers the durable watermark to `seq` meanwhile.
    fn hold_syncs(&self, seq: u64) -> SyncsHeld<'_> {
        let inner = &*self.inner;
        let before = inner.hold_commits(seq);
        SyncsHeld { inner, before, release_to: before }
    }

    fn cut_locked(&self, st: &mut State, seq: u64) -> Result<()> {
        let inner = &*self.inner;
        let (fs, dir) = (&*inner.fs, &inner.dir);
        // What the cut keeps must be durable before the intent refers to it.
        if let Some(active) = st.active.as_mut() {
            active.flush()?;
            inner.sync_segment(&*active.file, &active.path)?;
            active.synced_end = active.end;
        }
        let k = st.segments.partition_point(|s| s.first_seq <= seq + 1).saturating_sub(1);
        let seg = st.segments[k].clone();
        let sealed = st.active.as_ref().is_none_or(|a| a.id != seg.id);
        let intent = plan(fs, &seg, seq, sealed.then_some(inner.opts.segment_size))?;
        let later: Vec<SegmentInfo> = st.segments[k + 1..].to_vec();
        // The segment the log goes on in, opened before anything changes.
        let file = match st.active.as_ref() {
            Some(active) if active.id == seg.id => active.file.clone(),
            _ => fs.open(&seg.path, OpenMode::WRITE).map_err(|e| Error::io("open segment", &seg.path, e))?,
        };
        let mut space = space(&inner.opts, &*file, &seg.path)?;
        space.allocated = space.allocated.min(intent.end);
        // LOCK's mark names the newest segment and its end: both change.
        inner.retire_clean_mark(|_| true)?;
        inner.cuts.record(seq);
        let floor = inner.floor.load(Ordering::SeqCst);
        meta::write_meta(fs, dir, floor, Some(&intent))?;
        apply(fs, dir, &seg, &intent, &later)?;
        // The seek index of the segment cut (the later ones go with their
        // SegmentInfo): nothing past the frame holding `seq`, which ends
        // at the new end.
        seg.index.cut_after(seq, intent.end);
        meta::write_meta(fs, dir, floor, None)?;

        st.segments.truncate(k + 1);
        let ids = (seg.first_seq, seg.id, intent.segment.salt);
        // Everything up to the new end is durable; no frame says so yet
        // (proof 0), so the next sync records it.
        st.active = Some(Active::new(file, seg.path.clone(), ids, intent.end, 0, space));
        st.next_seq = seq + 1;
        st.unsynced = 0;
        st.recovered_upto = st.recovered_upto.min(seq);
        Ok(())
    }
}

/// `Range` if a checkpoint record appended through this handle lies above
/// `seq`.
fn refuse_checkpoint_above(st: &State, seq: u64) -> Result<()> {
    if st.newest_checkpoint > seq {
        return Err(Error::range(format!(
            "cannot cut after seq {seq}: checkpoint record {} lies above it (an engine stored that seq with its \
             state)",
            st.newest_checkpoint
        )));
    }
    Ok(())
}

/// Where the cut goes in `seg`, the segment holding seq + 1: at the start of
/// the frame holding it, or, inside a batch, after the batch's entries up
/// to `seq` (that frame's header is rewritten to hold only them).
fn plan(fs: &dyn Fs, seg: &SegmentInfo, seq: u64, sealed: Option<u64>) -> Result<CutIntent> {
    let mut reader = SegmentReader::open(fs, seg, None)?;
    let segment = SegmentHeader { first_seq: seg.first_seq, salt: reader.salt() };
    // A sealed segment's index may be stored beside it (src/hint.rs);
    // `sealed`: the options' segment_size, for a sealed one.
    if let Some(segment_size) = sealed {
        crate::hint::consult(fs, seg, reader.salt(), seq + 1, reader.limit(), segment_size);
    }
    // From the frame the seek index says is at or before the one holding
    // seq + 1: the cost does not grow with the bytes kept. A frame there
    // that does not check out (a wrong entry) sends the reader back to the
    // segment's start, as without an index.
    let from = seg.index.lookup(reader.salt(), seq + 1, u64::MAX);
    reader.seek(from.offset);
    let mut expected = from.seq;
    let mut seeked = from != seg.index.start();
    loop {
        let at = reader.position();
        match reader.skip(expected)? {
            Ok(next) if next <= seq + 1 => {
                expected = next;
                seeked = false;
            }
            Ok(_) => {
                reader.seek(at);
                let Step::Frame(frame) = reader.next(expected)? else {
                    return Err(Error::corrupt(&seg.path, format!("the frame at offset {at} changed while read")));
                };
                let first = frame.header.first_seq;
                if first == seq + 1 {
                    return Ok(CutIntent { seq, segment, offset: frame.offset, end: frame.offset, header: None });
                }
                let keep = (seq + 1 - first) as u32;
                let Some((header, len)) = format::shortened_frame_header(&frame.header, reader.payload(), keep, segment.salt)
                else {
                    return Err(Error::corrupt(&seg.path, format!("the batch at offset {} lost its entries", frame.offset)));
                };
                let end = frame.offset + FRAME_HEADER_LEN as u64 + len;
                return Ok(CutIntent { seq, segment, offset: frame.offset, end, header: Some(header) });
            }
            Err(_) if std::mem::take(&mut seeked) => {
                seg.index.reset();
                reader.seek(format::SEGMENT_HEADER_LEN as u64);
                expected = seg.first_seq;
            }
            Err(stop) => {
                return Err(Error::corrupt(
                    &seg.path,
                    format!(
                        "damaged record at offset {} ({}), expected seq {expected}, before seq {}, where the cut goes",
                        stop.offset,
                        stop.reason,
                        seq + 1
                    ),
                ));
            }
        }
    }
}

/// Makes the files what `intent` says: the segments after `seg` deleted
/// (newest first), the shortened batch's header written, `seg` cut to its
/// new end, all durable. Each step can be done again after a crash.
fn apply(fs: &dyn Fs, dir: &Path, seg: &SegmentInfo, intent: &CutIntent, later: &[SegmentInfo]) -> Result<()> {
    // The sidecars of the segments deleted and of the one cut (which is
    // written again), best effort: a failure never fails the cut, and one
    // left behind is refused or caught on use (src/hint.rs).
    crate::hint::remove(fs, dir, later.iter().rev().chain([seg]).map(|s| &*s.path));
    for doomed in later.iter().rev() {
        match fs.remove_file(&doomed.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove segment", &doomed.path, e)),
        }
    }
    let file = fs.open(&seg.path, OpenMode::WRITE).map_err(|e| Error::io("open segment", &seg.path, e))?;
    if let Some(header) = &intent.header {
        file.write_all_at(header, intent.offset).map_err(|e| Error::io("write to", &seg.path, e))?;
    }
    file.set_len(intent.end).map_err(|e| Error::io("cut", &seg.path, e))?;
    file.sync_all().map_err(|e| Error::io("fsync", &seg.path, e))?;
    if !later.is_empty() {
        segment::sync_dir(fs, dir)?;
    }
    Ok(())
}

/// An open that finds a cut recorded in `wal.meta` (its writer died during
/// `truncate_after`): checks the intent against the segment it cuts (see
/// `check`), then finishes the cut and drops the intent.
pub(crate) fn finish(fs: &dyn Fs, dir: &Path, floor: u64, intent: &CutIntent) -> Result<()> {
    let (seg, later) = check(fs, dir, floor, intent)?;
    apply(fs, dir, &seg, intent, &later)?;
    // The writer that died (or an open that died finishing the cut) may
    // have deleted the newer segments and not lived to fsync the directory:
    // those deletions must be durable before the intent goes, even when
    // none is left to delete now (wal.meta is rewritten in place, with no
    // directory fsync of its own).
    if later.is_empty() {
        segment::sync_dir(fs, dir)?;
    }
    meta::write_meta(fs, dir, floor, None)
}

/// The segment the intent cuts and the newer ones it deletes, once the
/// intent is known to describe a cut of that segment as `plan` makes it:
/// the segment is there, the same one (its salt), at least `end` bytes
/// long; its frames run unbroken from its start to `offset`, where the
/// record seq + 1 starts (no header) or the frame the intent's header
/// describes (that header checks out with the salt, holds the entries up
/// to seq, ends at `end`, and the payload in the file is its own); and seq
/// is not below the floor. Whatever a crash left of the cut (the old frame
/// header, the new one or a mix; the old length or `end`; the newer
/// segments or some of them) passes: the cut changes nothing before
/// `offset` or in the payload up to `end`. Anything else (a damaged or
/// hostile wal.meta whose checksum holds) is Corrupt, with no file changed.
fn check(fs: &dyn Fs, dir: &Path, floor: u64, intent: &CutIntent) -> Result<(SegmentInfo, Vec<SegmentInfo>)> {
    let segments = segment::list_segments(fs, dir)?;
    let first_seq = intent.segment.first_seq;
    let meta_path = dir.join(meta::META_FILE);
    let bad = |why: String| Error::corrupt(&meta_path, format!("records a cut after seq {} that {why}", intent.seq));
    if intent.seq < floor {
        return Err(bad(format!("lies below the truncation floor {floor}")));
    }
    let Some(seg) = segments.iter().find(|s| s.first_seq == first_seq).cloned() else {
        return Err(bad(format!("cannot be finished: its segment {} is missing", segment::segment_name(first_seq))));
    };
    let file = fs.open(&seg.path, OpenMode::READ).map_err(|e| Error::io("open segment", &seg.path, e))?;
    let mut head = [0u8; format::SEGMENT_HEADER_LEN];
    let n = read_full_at(&*file, &mut head, 0).map_err(|e| Error::io("read", &seg.path, e))?;
    match format::decode_segment_header(&head[..n]) {
        Ok(h) if h == intent.segment => {}
        _ => return Err(bad(format!("does not match the header of {}", seg.path.display()))),
    }
    let len = file.size().map_err(|e| Error::io("stat", &seg.path, e))?;
    if len < intent.end {
        return Err(bad(format!("ends at offset {}, but {} is only {len} bytes long", intent.end, seg.path.display())));
    }
    // The frames before the cut, which it does not change.
    let mut reader = SegmentReader::open(fs, &seg, Some(intent.offset))?;
    let mut expected = seg.first_seq;
    let stop = loop {
        match reader.skip(expected)? {
            Ok(next) => expected = next,
            Err(stop) => break stop,
        }
    };
    if stop.offset != intent.offset {
        return Err(bad(format!(
            "starts at offset {}, but the frames of {} stop at offset {} ({})",
            intent.offset,
            seg.path.display(),
            stop.offset,
            stop.reason
        )));
    }
    match &intent.header {
        None if intent.seq.checked_add(1) == Some(expected) && intent.end == intent.offset => {}
        None => {
            return Err(bad(format!(
                "ends at offset {} of {}, where seq {expected} starts",
                intent.end,
                seg.path.display()
            )))
        }
        Some(header) => {
            // The frame header the cut writes may be in the file, or the old
            // one, or a mix (a power cut during its write): the intent's own
            // is checked against the payload, which the cut leaves alone.
            let fits = FrameHeader::checked(header, intent.segment.salt).filter(|h| {
                h.well_formed()
                    && !h.is_sync_mark()
                    && h.first_seq == expected
                    && h.last_seq() == intent.seq
                    && intent.offset.checked_add(h.frame_len()) == Some(intent.end)
            });
            let payload_fits = match fits {
                Some(h) => {
                    reader.extend_limit(intent.end);
                    reader.payload_fits(intent.offset, &h)?
                }
                None => false,
            };
            if !payload_fits {
                return Err(bad(format!(
                    "keeps seqs {expected} to {} of the frame at offset {} of {} with a header that does not \
                     describe them",
                    intent.seq,
                    intent.offset,
                    seg.path.display()
                )));
            }
        }
    }
    let later = segments.into_iter().filter(|s| s.first_seq > first_seq).collect();
    Ok((seg, later))
}

/// The file system as a finished cut leaves it, for a read-only open that
/// finds a cut recorded (it changes no file): the segments after the cut's
/// are not listed, and the cut segment reads as cut, its shortened batch's
/// header in place.
pub(crate) struct CutView {
    fs: Arc<dyn Fs>,
    dir: PathBuf,
    intent: CutIntent,
}

impl CutView {
    /// The view of the log in `dir` once the cut `intent` is finished,
    /// after the same checks of the intent a writable open makes (Corrupt
    /// for an intent that does not describe a cut of its segment).
    pub fn new(fs: Arc<dyn Fs>, dir: &Path, floor: u64, intent: CutIntent) -> Result<CutView> {
        check(&*fs, dir, floor, &intent)?;
        Ok(CutView { fs, dir: dir.to_path_buf(), intent })
    }

    fn is_cut_segment(&self, path: &Path) -> bool {
        path.parent() == Some(&self.dir)
            && path.file_name().is_some_and(|n| *n == *segment::segment_name(self.intent.segment.first_seq))
    }
}

impl Fs for CutView {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let file = self.fs.open(path, mode)?;
        if !self.is_cut_segment(path) {
            return Ok(file);
        }
        Ok(Arc::new(CutFile { file, intent: self.intent }))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        self.fs.is_dir(path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.fs.create_dir_all(path)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let names = self.fs.list(dir)?;
        let cut_name = segment::segment_name(self.intent.segment.first_seq);
        // Segment names sort in log order: those after the cut's are gone.
        Ok(names
            .into_iter()
            .filter(|n| !(n.len() == cut_name.len() && n.to_str().is_some_and(|s| s.ends_with(".wal") && *s > *cut_name)))
            .collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.fs.remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.fs.rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.fs.sync_dir(dir)
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        self.fs.lock(path)
    }

    fn deletes_in_background(&self) -> bool {
        self.fs.deletes_in_background()
    }

    fn disk_usage(&self, path: &Path) -> io::Result<u64> {
        self.fs.disk_usage(path)
    }
}

/// The cut segment as the cut leaves it.
struct CutFile {
    file: Arc<dyn FsFile>,
    intent: CutIntent,
}

impl FsFile for CutFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let end = self.intent.end;
        if offset >= end {
            return Ok(0);
        }
        let len = buf.len().min((end - offset) as usize);
        let n = self.file.read_at(&mut buf[..len], offset)?;
        if let Some(header) = &self.intent.header {
            // The part of [offset, offset + n) that the new header covers.
            let (h0, h1) = (self.intent.offset, self.intent.offset + FRAME_HEADER_LEN as u64);
            let (from, to) = (offset.max(h0), (offset + n as u64).min(h1));
            if from < to {
                let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
                dst.copy_from_slice(&header[(from - h0) as usize..(to - h0) as usize]);
            }
        }
        Ok(n)
    }

    fn write_all_at(&self, _: &[u8], _: u64) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EROFS))
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&self, _: u64) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EROFS))
    }

    fn allocate(&self, _: u64) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(libc::EROFS))
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.file.size()?.min(self.intent.end))
    }

    fn data_after(&self, offset: u64) -> io::Result<Option<(u64, u64)>> {
        if offset >= self.intent.end {
            return Ok(None);
        }
        Ok(self.file.data_after(offset)?.filter(|&(start, _)| start < self.intent.end).map(|(s, e)| (s, e.min(self.intent.end))))
    }
}
