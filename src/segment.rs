//! Segment files: naming, listing, creation, and reading frames back.
//!
//! A segment is named by the seq of its first record, zero-padded to 20
//! digits, so that name order is log order: `00000000000000000001.wal`.

use crate::error::{Error, Result};
use crate::format::{self, FrameHeader, SegmentHeader, ENTRY_HEADER_LEN, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN};
use crate::index::{SegmentIndex, Walk};
use crate::io::{read_full_at, Fs, FsFile, OpenMode};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const SUFFIX: &str = ".wal";
const DIGITS: usize = 20;
/// How much a reader fetches at a time; also the most it holds for any
/// check of a frame that it does not hand out.
pub(crate) const READ_CHUNK: usize = 256 << 10;

pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:0DIGITS$}{SUFFIX}")
}

/// A segment file in the directory, known by its name, and by an id that
/// no other file gets in this process: a file created later under the same
/// name (after a truncate removed the first) is another segment. Clones
/// share the segment's seek index (`src/index.rs`); a new file, a recycled
/// one too, gets a new `SegmentInfo` and so an empty index.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub first_seq: u64,
    pub path: PathBuf,
    pub id: u64,
    pub(crate) index: Arc<SegmentIndex>,
}

impl SegmentInfo {
    pub fn new(first_seq: u64, path: PathBuf) -> SegmentInfo {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let index = Arc::new(SegmentIndex::new(first_seq));
        SegmentInfo { first_seq, path, id: NEXT_ID.fetch_add(1, Ordering::Relaxed), index }
    }
}

/// The same file: the index is what was learnt about it.
impl PartialEq for SegmentInfo {
    fn eq(&self, other: &SegmentInfo) -> bool {
        (self.first_seq, &self.path, self.id) == (other.first_seq, &other.path, other.id)
    }
}

impl Eq for SegmentInfo {}

/// The segment files of `dir`, in log order. A `*.wal` file whose name is
/// not a segment name is reported rather than ignored: it may hold records.
pub fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<SegmentInfo>> {
    let names = fs.list(dir).map_err(|e| Error::io("list directory", dir, e))?;
    let mut segments = Vec::new();
    for name in names {
        let Some(stem) = name.as_bytes().strip_suffix(SUFFIX.as_bytes()) else { continue };
        let path = dir.join(&name);
        let digits = stem.len() == DIGITS && stem.iter().all(u8::is_ascii_digit);
        // 20 ASCII digits are valid UTF-8 and parse unless they pass u64::MAX.
        let first_seq = digits.then(|| std::str::from_utf8(stem).ok()?.parse::<u64>().ok()).flatten();
        match first_seq {
            Some(first_seq) if first_seq > 0 => segments.push(SegmentInfo::new(first_seq, path)),
            _ => return Err(Error::corrupt(&path, "is not a segment name (20 digits + .wal)")),
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// A new segment's salt: random, so that no frame of another segment (or
/// of an earlier file at the same name) checks out in this one.
pub fn new_salt() -> u32 {
    let mut salt = [0u8; 4];
    // SAFETY: getrandom writes at most 4 bytes into a 4-byte buffer.
    let n = unsafe { libc::getrandom(salt.as_mut_ptr().cast(), salt.len(), libc::GRND_NONBLOCK) };
    if n == 4 {
        return u32::from_le_bytes(salt);
    }
    // No entropy yet (early boot): the time, the process and a counter
    // still differ from any earlier segment's.
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mixed = (nanos as u64) ^ ((std::process::id() as u64) << 32) ^ COUNT.fetch_add(1, Ordering::Relaxed);
    (mixed ^ (mixed >> 32)) as u32
}

/// A segment just created.
pub struct Created {
    pub file: Arc<dyn FsFile>,
    pub info: SegmentInfo,
    pub salt: u32,
}

/// Creates a segment whose first record will be `first_seq`: reserves its
/// space, writes and syncs its header, and syncs the directory, so that a
/// crash leaves either no file, an all-zero one, or a valid empty segment.
pub fn create_segment(fs: &dyn Fs, dir: &Path, first_seq: u64, preallocate: Option<u64>) -> Result<Created> {
    let path = dir.join(segment_name(first_seq));
    let file = fs.open(&path, OpenMode::CREATE_NEW).map_err(|e| Error::io("create segment", &path, e))?;
    if let Some(len) = preallocate {
        file.allocate(len).map_err(|e| Error::io("preallocate", &path, e))?;
    }
    let salt = new_salt();
    let header = format::encode_segment_header(first_seq, salt);
    file.write_all_at(&header, 0).map_err(|e| Error::io("write segment header of", &path, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
    sync_dir(fs, dir)?;
    Ok(Created { file, info: SegmentInfo::new(first_seq, path), salt })
}

/// Makes a directory's entries (files created, renamed, deleted) durable.
pub fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))
}

/// What a segment's first 32 bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderState {
    Sound(SegmentHeader),
    /// Shorter than a header, or an all-zero header with nothing but zeros
    /// after it: a creation interrupted before its header was durable (the
    /// header is written in one call and synced before any frame).
    Unborn,
    /// Not a header this libwal can read: why.
    Damaged(String),
}

/// Reads and checks the header of `info`. A sound header of another format
/// version, or another program's (another magic), is refused here, never
/// reported as damage: it must not be "repaired".
pub fn inspect_header(fs: &dyn Fs, info: &SegmentInfo) -> Result<HeaderState> {
    let path = &info.path;
    let file = fs.open(path, OpenMode::READ).map_err(|e| Error::io("open segment", path, e))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    let n = read_full_at(&*file, &mut header, 0).map_err(|e| Error::io("read", path, e))?;
    let header = &header[..n];
    if n < SEGMENT_HEADER_LEN {
        // No room for a record: the header's one write did not finish.
        return Ok(HeaderState::Unborn);
    }
    if all_zero(header) {
        let len = file.size().map_err(|e| Error::io("stat", path, e))?;
        return Ok(match last_data_byte(&*file, path, n as u64, len)? {
            None => HeaderState::Unborn,
            Some(at) => HeaderState::Damaged(format!(
                "its header is zeroed but the file holds data (a non-zero byte at offset {at})"
            )),
        });
    }
    if let Some(version) = format::segment_header_version(header).filter(|&v| v != format::FORMAT_VERSION) {
        return Err(foreign_version_error(path, version));
    }
    match format::decode_segment_header(header) {
        Ok(sound) if sound.first_seq == info.first_seq => Ok(HeaderState::Sound(sound)),
        Ok(sound) => Ok(HeaderState::Damaged(format!(
            "segment header says its first seq is {}, its name says {}",
            sound.first_seq, info.first_seq
        ))),
        Err(why) => Ok(HeaderState::Damaged(format!("bad segment header: {why}"))),
    }
}

pub fn foreign_version_error(path: &Path, version: u32) -> Error {
    if version == format::NOT_A_SEGMENT {
        return Error::corrupt(path, "is not a libwal segment: its header has a valid checksum but another magic");
    }
    Error::corrupt(path, format_version_message(version))
}

/// What to say of a file written in another format version.
pub fn format_version_message(version: u32) -> String {
    let hint = if version == 2 {
        " (libwal 0.1): convert the log with `walctl upgrade DIR` (it keeps the version 2 files aside)"
    } else {
        ": open it with the libwal that wrote it"
    };
    format!("written in format version {version}; this libwal reads version {}{hint}", format::FORMAT_VERSION)
}

/// The offset of the last non-zero byte of `file` in `from..to`, if any.
/// Only the ranges that may hold data are read (holes of a sparse file
/// read as zeros), so the cost is what the file holds, not its length.
fn last_data_byte(file: &dyn FsFile, path: &Path, from: u64, to: u64) -> Result<Option<u64>> {
    let mut buf = vec![0u8; (to.saturating_sub(from) as usize).min(READ_CHUNK)];
    let mut last = None;
    let mut at = from;
    while at < to {
        let Some((start, end)) = file.data_after(at).map_err(|e| Error::io("seek in", path, e))? else { break };
        let (start, end) = (start.max(at), end.min(to));
        if start >= end {
            break;
        }
        let mut chunk_at = start;
        while chunk_at < end {
            let want = ((end - chunk_at) as usize).min(buf.len());
            let n = read_full_at(file, &mut buf[..want], chunk_at).map_err(|e| Error::io("read", path, e))?;
            if n == 0 {
                return Ok(last);
            }
            // Mostly zeros (the preallocated end of the newest segment): the
            // vectorised test first, the byte search only where there is data.
            if !all_zero(&buf[..n]) {
                last = buf[..n].iter().rposition(|&b| b != 0).map(|i| chunk_at + i as u64).or(last);
            }
            chunk_at += n as u64;
        }
        at = end;
    }
    Ok(last)
}

/// One frame read back, its payload checked: the reader holds the payload
/// (`SegmentReader::payload`) until it reads again.
#[derive(Debug)]
pub struct Frame {
    pub header: FrameHeader,
    pub offset: u64,
}

/// Where the payload of the frame `next` returned last is held.
#[derive(Debug, Clone)]
enum Held {
    None,
    /// In the read buffer, at this range.
    Buffered(std::ops::Range<usize>),
    /// In `SegmentReader::large`: a frame bigger than the read buffer.
    Large,
}

/// Where and why reading a segment stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    pub offset: u64,
    pub reason: &'static str,
}

const END_OF_DATA: &str = "end of data";
const ZEROS: &str = "zeros where a frame should start";

impl Stop {
    /// The data ends here (the end of the file or of what may be read, or
    /// zeros): nothing that was a frame failed its checks.
    pub fn at_end(&self) -> bool {
        self.reason == END_OF_DATA || self.reason == ZEROS
    }
}

#[derive(Debug)]
pub enum Step {
    Frame(Frame),
    Stop(Stop),
}

/// A frame's header that a later writer wrote after an fdatasync covered
/// the bytes at some earlier offset: where it is and what it says was durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witness {
    pub offset: u64,
    pub synced_end: u64,
}

/// Reads the frames of one segment in order, up to `limit` bytes. Sync
/// marks are read like frames and skipped; the highest `synced_end` of
/// everything read is kept (`proven`).
pub struct SegmentReader {
    file: Arc<dyn FsFile>,
    info: SegmentInfo,
    salt: u32,
    pos: u64,
    limit: u64,
    buf: Vec<u8>,
    buf_off: u64,
    /// The payload of the frame `next` returned last, read in place: no
    /// copy per frame.
    held: Held,
    /// The payload of a frame larger than the read buffer.
    large: Vec<u8>,
    /// The highest synced_end of the frames and marks read so far.
    proven: u64,
    /// Where the last frame holding records ends (sync marks not counted).
    records_end: u64,
    /// Tells the segment's seek index the frames read in order.
    walk: Walk,
}

impl SegmentReader {
    /// Opens a segment and checks its header against its name. `limit` is
    /// how far frames may be read (None: the file's length).
    pub fn open(fs: &dyn Fs, info: &SegmentInfo, limit: Option<u64>) -> Result<SegmentReader> {
        let path = &info.path;
        let file = fs.open(path, OpenMode::READ).map_err(|e| Error::io("open segment", path, e))?;
        let len = file.size().map_err(|e| Error::io("stat", path, e))?;
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        let n = read_full_at(&*file, &mut header, 0).map_err(|e| Error::io("read", path, e))?;
        let header = &header[..n];
        if let Some(version) = format::segment_header_version(header).filter(|&v| v != format::FORMAT_VERSION) {
            return Err(foreign_version_error(path, version));
        }
        let sound =
            format::decode_segment_header(header).map_err(|why| Error::corrupt(path, format!("bad segment header: {why}")))?;
        if sound.first_seq != info.first_seq {
            return Err(Error::corrupt(
                path,
                format!("segment header says its first seq is {}, its name says {}", sound.first_seq, info.first_seq),
            ));
        }
        Ok(SegmentReader {
            file,
            info: info.clone(),
            salt: sound.salt,
            pos: SEGMENT_HEADER_LEN as u64,
            limit: limit.unwrap_or(len).max(SEGMENT_HEADER_LEN as u64),
            buf: Vec::new(),
            buf_off: 0,
            held: Held::None,
            large: Vec::new(),
            proven: 0,
            records_end: SEGMENT_HEADER_LEN as u64,
            walk: Walk::new(info.index.clone(), sound.salt),
        })
    }

    pub fn info(&self) -> &SegmentInfo {
        &self.info
    }

    pub fn path(&self) -> &Path {
        &self.info.path
    }

    pub fn first_seq(&self) -> u64 {
        self.info.first_seq
    }

    pub fn salt(&self) -> u32 {
        self.salt
    }

    /// The highest synced_end of the frames and sync marks read so far.
    pub fn proven(&self) -> u64 {
        self.proven
    }

    /// Where the last frame holding records read so far ends.
    pub fn records_end(&self) -> u64 {
        self.records_end
    }

    /// Offset of the next frame.
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The segment file's current length.
    pub fn file_len(&self) -> Result<u64> {
        self.file.size().map_err(|e| Error::io("stat", self.path(), e))
    }

    /// Forgets what was read ahead and reads up to the file's current size:
    /// another process may have written since.
    pub fn refresh(&mut self) -> Result<()> {
        self.buf.clear();
        self.held = Held::None;
        let len = self.file_len()?;
        self.extend_limit(len);
        Ok(())
    }

    /// Moves the reader to the frame starting at `offset`.
    pub fn seek(&mut self, offset: u64) {
        self.pos = offset.clamp(SEGMENT_HEADER_LEN as u64, self.limit);
        self.walk.moved();
    }

    /// Lets the reader go further: the writer has published more data.
    pub fn extend_limit(&mut self, limit: u64) {
        self.limit = self.limit.max(limit);
    }

    /// The next frame if it is whole, checksummed and carries `expected_seq`
    /// (sync marks before it are skipped); otherwise where and why reading
    /// stops (the reader stays there).
    pub fn next(&mut self, expected_seq: u64) -> Result<Step> {
        self.next_from(&mut { expected_seq }, 0)
    }

    /// Like `next`, for a reader that wants the records from `wanted` on:
    /// frames whose records are all below it are checked as `skip` checks
    /// them, without holding their payload. `expected` follows the frames.
    pub fn next_from(&mut self, expected: &mut u64, wanted: u64) -> Result<Step> {
        self.held = Held::None;
        if self.large.capacity() > 0 {
            self.large = Vec::new(); // a large payload is not kept past its frame
        }
        loop {
            let header = match self.next_header(*expected)? {
                Ok(header) => header,
                Err(stop) => return Ok(Step::Stop(self.stopped(stop))),
            };
            if header.is_sync_mark() || header.last_seq() < wanted {
                if !header.is_sync_mark() && !self.checked_payload(self.pos, &header, false)? {
                    let stop = Stop { offset: self.pos, reason: "payload checksum mismatch" };
                    return Ok(Step::Stop(self.stopped(stop)));
                }
                self.advance(&header);
                *expected = header.next_seq();
                continue;
            }
            if !self.checked_payload(self.pos, &header, true)? {
                return Ok(Step::Stop(self.stopped(Stop { offset: self.pos, reason: "payload checksum mismatch" })));
            }
            let frame = Frame { header, offset: self.pos };
            self.advance(&header);
            *expected = header.next_seq();
            return Ok(Step::Frame(frame));
        }
    }

    /// Like `next`, but checks the frame without handing out its payload
    /// (a large one is checked in bounded chunks): the seq the frame after
    /// it must carry, or the stop.
    pub fn skip(&mut self, expected_seq: u64) -> Result<std::result::Result<u64, Stop>> {
        loop {
            let header = match self.next_header(expected_seq)? {
                Ok(header) => header,
                Err(stop) => return Ok(Err(self.stopped(stop))),
            };
            if !header.is_sync_mark() && !self.checked_payload(self.pos, &header, false)? {
                return Ok(Err(self.stopped(Stop { offset: self.pos, reason: "payload checksum mismatch" })));
            }
            self.advance(&header);
            if !header.is_sync_mark() {
                return Ok(Ok(header.next_seq()));
            }
        }
    }

    fn advance(&mut self, header: &FrameHeader) {
        self.walk.note(self.pos, header);
        self.proven = self.proven.max(header.synced_end);
        self.pos += header.frame_len();
        if !header.is_sync_mark() {
            self.records_end = self.pos;
        }
    }

    /// Reading stops here for now: the seek index learns what was walked.
    fn stopped(&mut self, stop: Stop) -> Stop {
        self.walk.commit();
        stop
    }

    /// The checked header of the frame at the reader's position, or the stop.
    fn next_header(&mut self, expected_seq: u64) -> Result<std::result::Result<FrameHeader, Stop>> {
        let (pos, room, salt) = (self.pos, self.limit - self.pos, self.salt);
        let stop = |reason| Ok(Err(Stop { offset: pos, reason }));
        if room == 0 {
            return stop(END_OF_DATA);
        }
        if room < FRAME_HEADER_LEN as u64 {
            return stop("incomplete frame header");
        }
        let bytes = self.fetch(pos, FRAME_HEADER_LEN)?;
        if bytes.len() < FRAME_HEADER_LEN {
            return stop("the file ends inside a frame header");
        }
        // All zeros never check out: look for them only when the CRC fails.
        let Some(header) = FrameHeader::checked(bytes, salt) else {
            return stop(if all_zero(bytes) { ZEROS } else { "frame header checksum mismatch" });
        };
        if header.first_seq != expected_seq {
            return stop("frame header with an unexpected seq");
        }
        if !header.well_formed() || header.frame_len() > room || header.synced_end > pos {
            return stop("frame header with an impossible count, length or synced end");
        }
        Ok(Ok(header))
    }

    /// Everything from `from` to the limit: the offset just past its last
    /// non-zero byte (`from` when it is all zeros).
    pub fn data_end(&mut self, from: u64) -> Result<u64> {
        Ok(last_data_byte(&*self.file, self.path(), from, self.limit)?.map_or(from, |at| at + 1))
    }

    /// Looks at every offset after `damage` (a point where reading stopped,
    /// expecting `min_seq`) up to `data_end` for the header of a frame or
    /// sync mark whose synced_end lies past `damage`: the writer wrote it
    /// after an fdatasync had made the bytes at `damage` durable, so what
    /// is wrong there is damage, not a write a power loss tore. Only the
    /// header is needed: its salted checksum says this segment's writer
    /// wrote it, whatever became of its payload.
    pub fn find_witness(&mut self, damage: u64, min_seq: u64, data_end: u64) -> Result<Option<Witness>> {
        // A header may end in zero bytes (the high bytes of its synced_end):
        // it can start up to a header's length before the data's end.
        let end = data_end.saturating_add(FRAME_HEADER_LEN as u64).min(self.limit);
        let salt = self.salt;
        let mut at = damage + 1;
        while at + FRAME_HEADER_LEN as u64 <= end {
            let want = ((end - at) as usize).min(READ_CHUNK);
            let chunk = self.fetch(at, want)?;
            if chunk.len() < FRAME_HEADER_LEN {
                break;
            }
            let starts = chunk.len() - FRAME_HEADER_LEN + 1;
            for i in 0..starts {
                let offset = at + i as u64;
                let bytes = &chunk[i..i + FRAME_HEADER_LEN];
                // Cheap filters first: the synced_end a witness must carry.
                let mut synced = [0u8; 8];
                synced.copy_from_slice(&bytes[24..32]);
                let synced_end = u64::from_le_bytes(synced);
                if synced_end <= damage || synced_end > offset {
                    continue;
                }
                let Some(header) = FrameHeader::checked(bytes, salt) else { continue };
                // Each seq takes at least an entry header between the two.
                let max_seq = min_seq.saturating_add((offset - damage) / ENTRY_HEADER_LEN as u64 + 1);
                if header.well_formed() && header.first_seq >= min_seq && header.first_seq <= max_seq {
                    return Ok(Some(Witness { offset, synced_end }));
                }
            }
            at += starts as u64;
        }
        Ok(None)
    }

    /// Up to `len` bytes at `offset`, fewer at the limit or end of file.
    #[inline]
    fn fetch(&mut self, offset: u64, len: usize) -> Result<&[u8]> {
        // Most calls ask for bytes the buffer holds, below the limit.
        let start = offset.wrapping_sub(self.buf_off) as usize;
        let end = start.wrapping_add(len);
        if offset >= self.buf_off && start <= end && end <= self.buf.len() && len as u64 <= self.limit.saturating_sub(offset) {
            return Ok(&self.buf[start..end]);
        }
        self.fetch_slow(offset, len)
    }

    #[inline(never)]
    fn fetch_slow(&mut self, offset: u64, len: usize) -> Result<&[u8]> {
        let want = len.min(self.limit.saturating_sub(offset) as usize);
        let buf_end = self.buf_off + self.buf.len() as u64;
        if offset < self.buf_off || offset + want as u64 > buf_end {
            let size = want.max(READ_CHUNK).min(self.limit.saturating_sub(offset) as usize);
            self.buf.resize(size, 0);
            let n = read_full_at(&*self.file, &mut self.buf, offset)
                .map_err(|e| Error::io("read", &self.info.path, e))?;
            self.buf.truncate(n);
            self.buf_off = offset;
            self.held = Held::None;
        }
        let start = (offset - self.buf_off) as usize;
        let end = (start + want).min(self.buf.len());
        Ok(&self.buf[start..end])
    }

    /// The payload of the frame `next` returned last; empty once the reader
    /// has read anything else.
    pub fn payload(&self) -> &[u8] {
        match &self.held {
            Held::Buffered(range) => self.buf.get(range.clone()).unwrap_or_default(),
            Held::Large => &self.large,
            Held::None => &[],
        }
    }

    /// Whether the payload of the frame at `offset` (read up to the limit)
    /// is what `header`, a checked header that is not necessarily the one
    /// in the file, describes: for a cut that rewrites a frame's header.
    pub(crate) fn payload_fits(&mut self, offset: u64, header: &FrameHeader) -> Result<bool> {
        self.checked_payload(offset, header, false)
    }

    /// Checks the payload of the frame at `offset`, whose header checked
    /// out (so its length is within MAX_BATCH_SIZE and the readable data).
    /// With `keep`, the payload is then held for `payload`; without, a frame
    /// bigger than the read buffer is checked chunk by chunk and never held
    /// whole.
    fn checked_payload(&mut self, offset: u64, header: &FrameHeader, keep: bool) -> Result<bool> {
        let frame_len = header.frame_len() as usize;
        let payload_at = offset + FRAME_HEADER_LEN as u64;
        if frame_len <= READ_CHUNK {
            let bytes = self.fetch(offset, frame_len)?;
            let valid = bytes.len() == frame_len && format::payload_is_valid(header, &bytes[FRAME_HEADER_LEN..]);
            if valid && keep {
                // fetch left the frame in the buffer, at its offset.
                let start = (payload_at - self.buf_off) as usize;
                self.held = Held::Buffered(start..start + header.payload_len as usize);
            }
            return Ok(valid);
        }
        // A large frame is checked in bounded chunks first, so that memory
        // is reserved for its payload only once it is known to be whole
        // (a hostile header may claim WAL_MAX_BATCH_SIZE of sparse zeros).
        if !self.stream_check(payload_at, header)? {
            return Ok(false);
        }
        if keep {
            // Bounded: the checked header's length is within MAX_BATCH_SIZE
            // and the readable data, and the payload checked out.
            let mut payload = vec![0u8; header.payload_len as usize];
            let n = read_full_at(&*self.file, &mut payload, payload_at).map_err(|e| Error::io("read", self.path(), e))?;
            if n != payload.len() || !format::payload_is_valid(header, &payload) {
                return Ok(false);
            }
            self.large = payload;
            self.held = Held::Large;
        }
        Ok(true)
    }

    /// The payload CRC and the entries of a large frame, checked in chunks.
    fn stream_check(&mut self, payload_at: u64, header: &FrameHeader) -> Result<bool> {
        let len = header.payload_len as u64;
        let mut crc = crc32fast::Hasher::new();
        let mut at = 0;
        while at < len {
            let chunk = self.fetch(payload_at + at, ((len - at) as usize).min(READ_CHUNK))?;
            if chunk.is_empty() {
                return Ok(false);
            }
            crc.update(chunk);
            at += chunk.len() as u64;
        }
        if crc.finalize() != header.payload_crc {
            return Ok(false);
        }
        // The entries must fill the payload exactly: walk their headers.
        let (mut at, mut count) = (0u64, 0u32);
        while at < len {
            let head = self.fetch(payload_at + at, ENTRY_HEADER_LEN)?;
            if head.len() < ENTRY_HEADER_LEN || count == header.count {
                return Ok(false);
            }
            let (key_len, value_len) = format::entry_lengths(head);
            at += ENTRY_HEADER_LEN as u64 + key_len as u64 + value_len as u64;
            count += 1;
        }
        Ok(at == len && count == header.count)
    }
}

/// Whether every byte is zero. Folds 64 bytes at a time without an early
/// exit inside a block, which the compiler vectorises: opening a log scans
/// the preallocated zeros at the end of its newest segment.
pub(crate) fn all_zero(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}
