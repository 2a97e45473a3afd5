//! Segment files: naming, listing, creation, and reading frames back.
//!
//! A segment is named by the seq of its first record, zero-padded to 20
//! digits, so that name order is log order: `00000000000000000001.wal`.

use crate::error::{Error, Result};
use crate::format::{self, FrameHeader, FRAME_HEADER_LEN, MIN_FRAME_LEN, SEGMENT_HEADER_LEN};
use crate::io::{read_full_at, Fs, FsFile, OpenMode};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SUFFIX: &str = ".wal";
const DIGITS: usize = 20;
/// How much a reader fetches at a time.
const READ_CHUNK: usize = 256 << 10;

pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:0DIGITS$}{SUFFIX}")
}

/// A segment file in the directory, known by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    pub first_seq: u64,
    pub path: PathBuf,
}

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
            Some(first_seq) if first_seq > 0 => segments.push(SegmentInfo { first_seq, path }),
            _ => return Err(Error::corrupt(&path, "is not a segment name (20 digits + .wal)")),
        }
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// Creates a segment whose first record will be `first_seq`: reserves its
/// space, writes and syncs its header, and syncs the directory, so that a
/// crash leaves either no file, an all-zero one, or a valid empty segment.
pub fn create_segment(
    fs: &dyn Fs,
    dir: &Path,
    first_seq: u64,
    preallocate: Option<u64>,
) -> Result<(Arc<dyn FsFile>, PathBuf)> {
    let path = dir.join(segment_name(first_seq));
    let file = fs.open(&path, OpenMode::CREATE_NEW).map_err(|e| Error::io("create segment", &path, e))?;
    if let Some(len) = preallocate {
        file.allocate(len).map_err(|e| Error::io("preallocate", &path, e))?;
    }
    let header = format::encode_segment_header(first_seq);
    file.write_all_at(&header, 0).map_err(|e| Error::io("write segment header of", &path, e))?;
    file.sync_data().map_err(|e| Error::io("fdatasync", &path, e))?;
    sync_dir(fs, dir)?;
    Ok((file, path))
}

/// Makes a directory's entries (files created, renamed, deleted) durable.
pub fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io("fsync directory", dir, e))
}

/// True for a segment whose creation was interrupted before its header
/// reached the disk: shorter than a header (it is written in one call, so
/// only a crash leaves less) or with an all-zero header.
pub fn is_unborn(fs: &dyn Fs, path: &Path) -> Result<bool> {
    let header = read_header(fs, path)?;
    Ok(header.len() < SEGMENT_HEADER_LEN || header.iter().all(|&b| b == 0))
}

/// The format version of a segment written by another version of libwal
/// (a sound header with a version other than ours), if it is one.
pub fn foreign_version(fs: &dyn Fs, path: &Path) -> Result<Option<u32>> {
    let header = read_header(fs, path)?;
    Ok(format::segment_header_version(&header).filter(|&v| v != format::FORMAT_VERSION))
}

pub fn foreign_version_error(path: &Path, version: u32) -> Error {
    if version == format::NOT_A_SEGMENT {
        return Error::corrupt(path, "is not a libwal segment: its header has a valid checksum but another magic");
    }
    Error::corrupt(
        path,
        format!("written in format version {version}; this libwal reads version {}", format::FORMAT_VERSION),
    )
}

fn read_header(fs: &dyn Fs, path: &Path) -> Result<Vec<u8>> {
    let file = fs.open(path, OpenMode::READ).map_err(|e| Error::io("open segment", path, e))?;
    let mut header = vec![0u8; SEGMENT_HEADER_LEN];
    let n = read_full_at(&*file, &mut header, 0).map_err(|e| Error::io("read", path, e))?;
    header.truncate(n);
    Ok(header)
}

/// One frame read back: its header and its checked payload.
#[derive(Debug)]
pub struct Frame {
    pub header: FrameHeader,
    pub payload: Vec<u8>,
    pub offset: u64,
}

/// Where and why reading a segment stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stop {
    pub offset: u64,
    pub reason: &'static str,
}

#[derive(Debug)]
pub enum Step {
    Frame(Frame),
    Stop(Stop),
}

/// What lies after the point where reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tail {
    /// The first valid frame with a seq at or past the one expected: its
    /// offset and header.
    pub valid_frame_at: Option<(u64, FrameHeader)>,
    /// Whether any byte from the stop point on is not zero.
    pub has_data: bool,
}

/// Reads the frames of one segment in order, up to `limit` bytes.
pub struct SegmentReader {
    file: Arc<dyn FsFile>,
    path: PathBuf,
    first_seq: u64,
    pos: u64,
    limit: u64,
    buf: Vec<u8>,
    buf_off: u64,
    /// A payload buffer handed back by `recycle`, reused by the next frame.
    spare: Vec<u8>,
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
        let first_seq = format::decode_segment_header(&header[..n]).map_err(|why| {
            match format::segment_header_version(&header[..n]) {
                Some(version) if version != format::FORMAT_VERSION => foreign_version_error(path, version),
                _ => Error::corrupt(path, format!("bad segment header: {why}")),
            }
        })?;
        if first_seq != info.first_seq {
            return Err(Error::corrupt(
                path,
                format!("segment header says its first seq is {first_seq}, its name says {}", info.first_seq),
            ));
        }
        Ok(SegmentReader {
            file,
            path: path.clone(),
            first_seq,
            pos: SEGMENT_HEADER_LEN as u64,
            limit: limit.unwrap_or(len).max(SEGMENT_HEADER_LEN as u64),
            buf: Vec::new(),
            buf_off: 0,
            spare: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
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
        self.file.size().map_err(|e| Error::io("stat", &self.path, e))
    }

    /// Forgets what was read ahead and reads up to the file's current size:
    /// another process may have written since.
    pub fn refresh(&mut self) -> Result<()> {
        self.buf.clear();
        let len = self.file_len()?;
        self.extend_limit(len);
        Ok(())
    }

    /// Moves the reader to the frame starting at `offset`.
    pub fn seek(&mut self, offset: u64) {
        self.pos = offset.clamp(SEGMENT_HEADER_LEN as u64, self.limit);
    }

    /// Lets the reader go further: the writer has published more data.
    pub fn extend_limit(&mut self, limit: u64) {
        self.limit = self.limit.max(limit);
    }

    /// The next frame if it is whole, checksummed and carries `expected_seq`;
    /// otherwise where and why reading stops (the reader stays there).
    pub fn next(&mut self, expected_seq: u64) -> Result<Step> {
        let room = self.limit - self.pos;
        let pos = self.pos;
        let stop = |reason| Ok(Step::Stop(Stop { offset: pos, reason }));
        if room == 0 {
            return stop("end of data");
        }
        if room < FRAME_HEADER_LEN as u64 {
            return stop("incomplete frame header");
        }
        let Ok(header_bytes) = <[u8; FRAME_HEADER_LEN]>::try_from(self.fetch(self.pos, FRAME_HEADER_LEN)?) else {
            return stop("the file ends inside a frame header");
        };
        let header = FrameHeader::parse(&header_bytes);
        if header_bytes.iter().all(|&b| b == 0) {
            return stop("zeros where a frame should start");
        }
        if !header.plausible(expected_seq, room) {
            return stop(if header.first_seq != expected_seq {
                "frame header with an unexpected seq"
            } else {
                "frame header with an impossible count or length"
            });
        }
        let Some(payload) = self.checked_payload(self.pos, &header_bytes, &header)? else {
            return stop("frame checksum mismatch");
        };
        let frame = Frame { header, payload, offset: self.pos };
        self.pos += header.frame_len();
        Ok(Step::Frame(frame))
    }

    /// Looks at everything from `from` to the limit: is there a valid frame
    /// carrying `min_seq` or later (so the damage at `from` is not a torn
    /// tail), and is there any non-zero byte at all?
    pub fn scan_tail(&mut self, from: u64, min_seq: u64) -> Result<Tail> {
        let mut tail = Tail { valid_frame_at: None, has_data: false };
        let max_seq = min_seq.saturating_add((self.limit - from) / MIN_FRAME_LEN + 1);
        let mut at = from;
        while at < self.limit {
            let chunk = self.fetch(at, READ_CHUNK)?;
            let (len, has_data) = (chunk.len(), !all_zero(chunk));
            if len == 0 {
                break; // the file is shorter than the limit
            }
            let more_follows = at + (len as u64) < self.limit;
            // A header starting in the last 23 bytes crosses into the next
            // chunk: leave those starts to the next round.
            let starts = if more_follows { len.saturating_sub(FRAME_HEADER_LEN - 1).max(1) } else { len };
            if has_data {
                tail.has_data = true;
                for i in 0..starts {
                    let offset = at + i as u64;
                    if let Some(header) = self.valid_frame_at(offset, min_seq, max_seq)? {
                        tail.valid_frame_at = Some((offset, header));
                        return Ok(tail);
                    }
                }
            }
            at += starts as u64;
        }
        Ok(tail)
    }

    /// The header of the frame at `offset` if it is whole and valid and its
    /// first seq lies in `min_seq..=max_seq`.
    fn valid_frame_at(&mut self, offset: u64, min_seq: u64, max_seq: u64) -> Result<Option<FrameHeader>> {
        let room = self.limit - offset;
        if room < MIN_FRAME_LEN {
            return Ok(None);
        }
        let Ok(header_bytes) = <[u8; FRAME_HEADER_LEN]>::try_from(self.fetch(offset, FRAME_HEADER_LEN)?) else {
            return Ok(None);
        };
        let header = FrameHeader::parse(&header_bytes);
        if header.first_seq < min_seq
            || header.first_seq > max_seq
            || !header.plausible(header.first_seq, room)
        {
            return Ok(None);
        }
        match self.checked_payload(offset, &header_bytes, &header)? {
            Some(payload) => {
                self.recycle(payload);
                Ok(Some(header))
            }
            None => Ok(None),
        }
    }

    /// Up to `len` bytes at `offset`, fewer at the limit or end of file.
    fn fetch(&mut self, offset: u64, len: usize) -> Result<&[u8]> {
        let want = len.min((self.limit - offset) as usize);
        let buf_end = self.buf_off + self.buf.len() as u64;
        if offset < self.buf_off || offset + want as u64 > buf_end {
            let size = want.max(READ_CHUNK).min((self.limit - offset) as usize);
            self.buf.resize(size, 0);
            let n = read_full_at(&*self.file, &mut self.buf, offset)
                .map_err(|e| Error::io("read", &self.path, e))?;
            self.buf.truncate(n);
            self.buf_off = offset;
        }
        let start = (offset - self.buf_off) as usize;
        let end = (start + want).min(self.buf.len());
        Ok(&self.buf[start..end])
    }

    /// Hands back a frame's payload buffer for the next frame to reuse, so
    /// that reading a log allocates once, not once per frame.
    pub fn recycle(&mut self, payload: Vec<u8>) {
        if payload.capacity() <= READ_CHUNK {
            self.spare = payload;
        }
    }

    /// The payload of the plausible frame at `offset` if its checksum and
    /// entries are right. A frame that fits the read buffer is checked in
    /// place, in one pass over its bytes; a bigger one is read on its own.
    fn checked_payload(
        &mut self,
        offset: u64,
        header_bytes: &[u8; FRAME_HEADER_LEN],
        header: &FrameHeader,
    ) -> Result<Option<Vec<u8>>> {
        let mut payload = std::mem::take(&mut self.spare);
        payload.clear();
        let frame_len = header.frame_len() as usize;
        if frame_len <= READ_CHUNK {
            let bytes = self.fetch(offset, frame_len)?;
            if bytes.len() == frame_len && format::frame_bytes_are_valid(bytes) {
                payload.extend_from_slice(&bytes[FRAME_HEADER_LEN..]);
                return Ok(Some(payload));
            }
            self.spare = payload;
            return Ok(None);
        }
        payload.resize(header.payload_len as usize, 0);
        let n = read_full_at(&*self.file, &mut payload, offset + FRAME_HEADER_LEN as u64)
            .map_err(|e| Error::io("read", &self.path, e))?;
        payload.truncate(n);
        Ok(format::frame_is_valid(header_bytes, &payload).then_some(payload))
    }
}

/// Whether every byte is zero. Folds 64 bytes at a time without an early
/// exit inside a block, which the compiler vectorises: opening a log scans
/// the preallocated zeros at the end of its newest segment.
fn all_zero(bytes: &[u8]) -> bool {
    bytes.chunks(64).all(|block| block.iter().fold(0u8, |acc, &b| acc | b) == 0)
}
