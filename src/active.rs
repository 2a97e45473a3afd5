//! The newest segment, being written: the writer's buffer of frames not yet
//! written, where the data ends, and what the writer knows to be durable.

use crate::error::{Error, Result};
use crate::format;
use crate::io::FsFile;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The writer's buffer is written out before it would grow past this.
pub(crate) const WRITE_BUFFER: usize = 1 << 20;
/// How far ahead of its data a preallocated segment is filled with zeros
/// when records are synced as they come (see `Active::zero_ahead`).
const ZERO_AHEAD: u64 = 1 << 20;
/// A preallocated segment reserves its space (fallocate) in steps of this
/// much ahead of its data, up to segment_size: a new log holds 4 MiB on
/// disk, not a whole 64 MiB segment, and each step costs one fallocate.
pub(crate) const PREALLOC_STEP: u64 = 4 << 20;

/// How the active segment reserves space ahead of its data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Space {
    /// The file's length: fallocated (or written) up to here.
    pub allocated: u64,
    /// Reserve in steps up to here (segment_size); 0: no preallocation.
    pub reserve_to: u64,
    /// Write zeros ahead of the data into the reserved space.
    pub zeros: bool,
}
static ZEROS: [u8; ZERO_AHEAD as usize] = [0; ZERO_AHEAD as usize];

pub(crate) struct Active {
    pub file: Arc<dyn FsFile>,
    /// Shared, not copied, with each group commit that syncs the file.
    pub path: Arc<Path>,
    pub first_seq: u64,
    /// The segment's id (`SegmentInfo::id`): readers tell it from a later
    /// file of the same name by it.
    pub id: u64,
    /// Starts every frame header's CRC in this segment.
    pub salt: u32,
    /// End of the data written to the file: readers may read up to here.
    pub end: u64,
    /// Frames appended but not yet written; they belong at `end`.
    pub pending: Vec<u8>,
    /// End of the data a successful fdatasync covered: stamped into every
    /// frame so that recovery can tell a power loss from damage.
    pub synced_end: u64,
    /// The synced_end stamped into the newest frame or sync mark appended...
    stamped: u64,
    /// ...and into the newest one written to the file.
    written_proof: u64,
    /// The file holds written bytes (data or zeros) up to here.
    zeroed: u64,
    space: Space,
}

impl Active {
    /// `ids`: (first_seq, id, salt). `end`: where the data ends, all of it
    /// durable. `proven`: the highest synced_end a frame in the file records.
    pub fn new(file: Arc<dyn FsFile>, path: PathBuf, ids: (u64, u64, u32), end: u64, proven: u64, space: Space) -> Active {
        let (first_seq, id, salt) = ids;
        // What lies in the file when the segment becomes active is durable:
        // the header of a new segment, or what a writable open synced.
        Active {
            file,
            path: Arc::from(path),
            first_seq,
            id,
            salt,
            end,
            pending: Vec::new(),
            synced_end: end,
            stamped: proven,
            written_proof: proven,
            zeroed: end,
            space,
        }
    }

    /// Keeps at least half of ZERO_AHEAD of written zeros ahead of the data,
    /// up to the preallocated length. fallocate leaves unwritten extents, and
    /// an fdatasync after a write into one must also commit the extent's
    /// conversion to the file system journal: every durable append would
    /// pay for it. Written once ahead, zeros turn that into one conversion
    /// per half MiB; the appends then overwrite blocks already written.
    fn zero_ahead(&mut self) -> Result<()> {
        self.zeroed = self.zeroed.max(self.end);
        let limit = if self.space.zeros { self.space.allocated } else { 0 };
        if self.zeroed >= limit || self.zeroed - self.end >= ZERO_AHEAD / 2 {
            return Ok(());
        }
        let upto = (self.end + ZERO_AHEAD).min(limit);
        let zeros = &ZEROS[..(upto - self.zeroed) as usize];
        self.file.write_all_at(zeros, self.zeroed).map_err(|e| Error::io("write zeros to", &self.path, e))?;
        self.zeroed = upto;
        Ok(())
    }

    /// Where the next frame goes.
    pub fn append_end(&self) -> u64 {
        self.end + self.pending.len() as u64
    }

    /// The synced_end to stamp into the next frame; noted as stamped.
    pub fn stamp(&mut self) -> u64 {
        self.stamped = self.synced_end;
        self.synced_end
    }

    /// Writes the buffered frames to the file.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut pending = std::mem::take(&mut self.pending);
        let result = self.put(&pending);
        if result.is_ok() {
            pending.clear();
        }
        self.pending = pending; // keeps its capacity for the next frames
        result
    }

    /// Writes a frame after the buffered ones.
    pub fn write(&mut self, frame: &[u8]) -> Result<()> {
        self.flush()?;
        self.put(frame)
    }

    /// Reserves the next step of the segment's space once the data (and
    /// the zeros written ahead of it) would pass what is reserved.
    fn reserve(&mut self, upto: u64) -> Result<()> {
        let space = &mut self.space;
        if upto <= space.allocated || space.allocated >= space.reserve_to {
            return Ok(());
        }
        let target = upto.saturating_add(PREALLOC_STEP).min(space.reserve_to);
        if target > space.allocated {
            self.file.allocate(target).map_err(|e| Error::io("preallocate", &self.path, e))?;
            space.allocated = target;
        }
        Ok(())
    }

    /// Writes `bytes` at the end of the data.
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        let ahead = if self.space.zeros { ZERO_AHEAD } else { 0 };
        self.reserve(self.end + bytes.len() as u64 + ahead)?;
        self.file.write_all_at(bytes, self.end).map_err(|e| Error::io("write to", &self.path, e))?;
        self.space.allocated = self.space.allocated.max(self.end + bytes.len() as u64);
        self.end += bytes.len() as u64;
        // Everything appended so far is in the file now.
        self.written_proof = self.stamped;
        self.zero_ahead()
    }

    /// After a successful sync: unless a frame in the file already records
    /// the new synced_end, writes a sync mark that does (with the frames
    /// buffered before it), so that recovery can prove those bytes durable
    /// even if no record follows. `next_seq` is the seq of the next record.
    pub fn record_sync_point(&mut self, next_seq: u64) -> Result<()> {
        if self.written_proof >= self.synced_end || self.synced_end <= crate::format::SEGMENT_HEADER_LEN as u64 {
            return Ok(());
        }
        let synced_end = self.stamp();
        format::push_sync_mark(&mut self.pending, next_seq, synced_end, self.salt);
        self.flush()
    }
}
