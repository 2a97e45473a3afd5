//! Seek hints stored with sealed segments: `NNNNNNNNNNNNNNNNNNNN.idx`, the
//! seek index (`src/index.rs`) of the segment `NNNNNNNNNNNNNNNNNNNN.wal`,
//! written when the writer seals that segment, so that the first seek into
//! it after a reopen costs O(log n) instead of a scan of the segment.
//!
//! A sidecar is a hint, never a source of truth, like the in-memory index
//! it seeds: every frame an entry points at is checked when a reader seeks
//! to it (the salted header checksum, the expected seq, the payload), and
//! a miss resets the index and sends the reader to the segment's start. So
//! it is written without an fsync (a power loss may leave it torn, empty or
//! missing: it is refused or absent, and the first seek scans as without
//! one), and every failure to write, read or delete one is ignored: no
//! append, truncate or open fails because of a sidecar. A sidecar is
//! refused, silently, unless it passes every check of `decode` (its length
//! within a bound derived from the segment file's length, so that nothing
//! read from it sizes an allocation beyond that bound; magic, version,
//! CRC; the segment's salt and first seq; entries strictly increasing and
//! inside the segment's frames).
//!
//! Where segments go, their sidecars go too, best effort: a truncate
//! (removed or recycled segments), a cut of the newest records (the newer
//! segments and the one cut, which becomes the active segment again), an
//! open's repairs; an open deletes the sidecars no sealed segment has.
//! One that a crash or a failed delete leaves behind is harmless: another
//! file at the segment's name has another salt, and a file that was cut
//! and written again under the same salt is caught by the checks on use.
//! Read-only handles read sidecars and never write or delete them.
//! docs/FORMAT.md ("Seek hints") has the bytes.

use crate::format::{crc32, u32_at, u64_at, FORMAT_VERSION, SEGMENT_HEADER_LEN};
use crate::index::{Pos, SPACING};
use crate::io::{read_full_at, Fs, OpenMode};
use crate::segment::SegmentInfo;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub(crate) const SUFFIX: &str = ".idx";
const MAGIC: &[u8; 8] = b"LIBWALIX";
/// magic, version, salt, first_seq, end, end_seq, count, zero.
pub(crate) const HEADER_LEN: usize = 48;
const ENTRY_LEN: usize = 16;
const CRC_LEN: usize = 4;
const START: u64 = SEGMENT_HEADER_LEN as u64;

/// What a sound sidecar says of its segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hint {
    /// Frames holding records: offsets and seqs strictly increase.
    pub entries: Vec<Pos>,
    /// Where the segment's frames end (sync marks included), and the seq
    /// after its last record (the next segment's first seq).
    pub end: Pos,
}

/// The sidecar of the segment at `segment`: its name with `.idx` for `.wal`.
pub(crate) fn path_of(segment: &Path) -> PathBuf {
    segment.with_extension(&SUFFIX[1..])
}

/// The most entries a sidecar of a segment file `file_len` bytes long can
/// hold: entries are at least SPACING apart within each of the index's two
/// regions (walked and written), and lie in the segment's frames.
fn max_entries(file_len: u64) -> u64 {
    file_len.saturating_sub(START) / SPACING + 2
}

/// How much of a segment file a sidecar may describe: its length, but no
/// more than the larger of `segment_size` and 1 GiB. A segment's frames end
/// within segment_size (a frame larger than a segment is the only frame of
/// its own, and has no entry), so this only refuses the sidecar of a file
/// longer than any segment the options write, such as a sparse file of
/// terabytes, whose sidecar would otherwise be allowed gigabytes.
pub(crate) fn indexed_len(file_len: u64, segment_size: u64) -> u64 {
    file_len.min(segment_size.max(1 << 30))
}

/// The longest sidecar a segment file `file_len` bytes long can have.
pub(crate) fn max_len(file_len: u64) -> u64 {
    (HEADER_LEN + CRC_LEN) as u64 + max_entries(file_len) * ENTRY_LEN as u64
}

pub(crate) fn encode(first_seq: u64, salt: u32, end: Pos, entries: &[Pos]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + entries.len() * ENTRY_LEN + CRC_LEN);
    buf.extend_from_slice(MAGIC);
    buf.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf.extend_from_slice(&salt.to_le_bytes());
    buf.extend_from_slice(&first_seq.to_le_bytes());
    buf.extend_from_slice(&end.offset.to_le_bytes());
    buf.extend_from_slice(&end.seq.to_le_bytes());
    buf.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    buf.extend_from_slice(&0u32.to_le_bytes());
    for e in entries {
        buf.extend_from_slice(&e.offset.to_le_bytes());
        buf.extend_from_slice(&e.seq.to_le_bytes());
    }
    let crc = crc32(&buf);
    buf.extend_from_slice(&crc.to_le_bytes());
    buf
}

/// The sidecar `bytes` of the segment whose header says `first_seq` and
/// `salt`, a file `file_len` bytes long, if it is sound and describes that
/// segment: None otherwise (see the module's documentation).
pub(crate) fn decode(bytes: &[u8], first_seq: u64, salt: u32, file_len: u64) -> Option<Hint> {
    if bytes.len() < HEADER_LEN + CRC_LEN || bytes.len() as u64 > max_len(file_len) {
        return None;
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    if &body[..8] != MAGIC || u32_at(body, 8) != FORMAT_VERSION || crc32(body) != u32_at(crc, 0) {
        return None;
    }
    if u32_at(body, 12) != salt || u64_at(body, 16) != first_seq {
        return None;
    }
    let end = Pos { offset: u64_at(body, 24), seq: u64_at(body, 32) };
    let count = u32_at(body, 40) as usize;
    if end.offset < START || end.offset > file_len || end.seq < first_seq {
        return None;
    }
    // The length was bounded above; the count must match it exactly.
    if (body.len() - HEADER_LEN) / ENTRY_LEN != count || (body.len() - HEADER_LEN) % ENTRY_LEN != 0 {
        return None;
    }
    let mut entries = Vec::with_capacity(count);
    let mut last = Pos { offset: START, seq: first_seq };
    for raw in body[HEADER_LEN..].chunks_exact(ENTRY_LEN) {
        let e = Pos { offset: u64_at(raw, 0), seq: u64_at(raw, 8) };
        let after_last = entries.is_empty() && e.offset >= last.offset && e.seq >= last.seq
            || e.offset > last.offset && e.seq > last.seq;
        if !after_last || e.offset >= end.offset || e.seq >= end.seq {
            return None;
        }
        entries.push(e);
        last = e;
    }
    Some(Hint { entries, end })
}

/// Reads the sidecar of the sealed segment `info` (header: `salt`; the
/// file `file_len` bytes long, or as much of it as a sidecar may describe:
/// `indexed_len`). None when there is none, or it is refused.
pub(crate) fn load(fs: &dyn Fs, info: &SegmentInfo, salt: u32, file_len: u64) -> Option<Hint> {
    let path = path_of(&info.path);
    let file = fs.open(&path, OpenMode::READ).ok()?;
    let len = file.size().ok()?;
    // Bounded before anything is allocated: a hostile length (a sparse
    // file of gigabytes) is refused without reading it.
    if len > max_len(file_len) || len < (HEADER_LEN + CRC_LEN) as u64 {
        return None;
    }
    let mut bytes = vec![0u8; len as usize];
    let n = read_full_at(&*file, &mut bytes, 0).ok()?;
    decode(&bytes[..n], info.first_seq, salt, file_len)
}

/// Writes the sidecar of `info`, just sealed (its frames end at `end`),
/// if its index covers the whole segment. Best effort and not synced: a
/// failure leaves no sidecar or a torn one, which a reader refuses.
pub(crate) fn seal(fs: &dyn Fs, info: &SegmentInfo, salt: u32, end: Pos) {
    let Some(entries) = info.index.covering(salt, end) else { return };
    let bytes = encode(info.first_seq, salt, end, &entries);
    let path = path_of(&info.path);
    if let Ok(file) = fs.open(&path, OpenMode::CREATE_TRUNCATE) {
        let _ = file.write_all_at(&bytes, 0);
    }
}

/// Deletes the sidecars of the segments at `segments` (in `dir`), those
/// there are: the directory is listed once, and only sidecars it holds are
/// deleted. Best effort: a failure is ignored (a sidecar left behind is
/// refused or caught on use, and the next writable open deletes it) and
/// never fails the truncate, cut or open that deletes it.
pub(crate) fn remove<'a>(fs: &dyn Fs, dir: &Path, segments: impl IntoIterator<Item = &'a Path>) {
    let Ok(names) = fs.list(dir) else { return };
    for segment in segments {
        let path = path_of(segment);
        if path.file_name().is_some_and(|name| names.iter().any(|n| n == name)) {
            let _ = fs.remove_file(&path);
        }
    }
}

/// At a writable open: deletes the sidecars of segments that are gone (a
/// crash or a failed delete left them) and of the newest segment, which is
/// being written. `segments`: the log's segments, oldest first. Best effort.
pub(crate) fn trim(fs: &dyn Fs, dir: &Path, segments: &[SegmentInfo]) {
    let Ok(names) = fs.list(dir) else { return };
    let sealed = &segments[..segments.len().saturating_sub(1)];
    for name in names {
        let Some(stem) = name.as_bytes().strip_suffix(SUFFIX.as_bytes()) else { continue };
        // Only names a sidecar can have: 20 digits.
        if stem.len() != 20 || !stem.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let path = dir.join(&name);
        if !sealed.iter().any(|s| path_of(&s.path) == path) {
            let _ = fs.remove_file(&path);
        }
    }
}

/// Before the first seek into the sealed segment `info` that its index
/// knows nothing about (`want` lies past what it knows): loads the segment's
/// sidecar, once per segment, and hands it to the index. `file_len`: the
/// segment file's length; `segment_size`: the options'. Whether the index
/// took it.
pub(crate) fn consult(fs: &dyn Fs, info: &SegmentInfo, salt: u32, want: u64, file_len: u64, segment_size: u64) -> bool {
    let Some(generation) = info.index.wants_sidecar(salt, want) else { return false };
    match load(fs, info, salt, indexed_len(file_len, segment_size)) {
        Some(hint) => info.index.install(salt, generation, hint.entries, hint.end),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(offset: u64, seq: u64) -> Pos {
        Pos { offset, seq }
    }

    const LEN: u64 = 1 << 20;

    fn sound() -> (Vec<Pos>, Pos) {
        let entries = (1..40u64).map(|i| pos(START + i * SPACING + i, 1 + i * 100)).collect();
        (entries, pos(START + 40 * SPACING, 4001))
    }

    #[test]
    fn a_sound_sidecar_decodes_and_every_check_refuses_what_it_should() {
        let (entries, end) = sound();
        let bytes = encode(1, 7, end, &entries);
        assert_eq!(bytes.len(), HEADER_LEN + entries.len() * ENTRY_LEN + CRC_LEN);
        assert_eq!(decode(&bytes, 1, 7, LEN), Some(Hint { entries: entries.clone(), end }));
        // Another segment's salt or first seq; a file too short for its end.
        assert_eq!(decode(&bytes, 1, 8, LEN), None);
        assert_eq!(decode(&bytes, 2, 7, LEN), None);
        assert_eq!(decode(&bytes, 1, 7, end.offset - 1), None);
        // Every truncation and every flipped byte.
        for n in 0..bytes.len() {
            assert_eq!(decode(&bytes[..n], 1, 7, LEN), None, "cut to {n}");
            let mut bad = bytes.clone();
            bad[n] ^= 0x10;
            assert_eq!(decode(&bad, 1, 7, LEN), None, "byte {n} flipped");
        }
        // Entries that are not strictly increasing, or outside the frames,
        // are refused even with a right CRC.
        let refused = |entries: &[Pos], end: Pos| decode(&encode(1, 7, end, entries), 1, 7, LEN).is_none();
        let mut unsorted = entries.clone();
        unsorted.swap(3, 4);
        assert!(refused(&unsorted, end));
        let mut same_seq = entries.clone();
        same_seq[5].seq = same_seq[4].seq;
        assert!(refused(&same_seq, end));
        assert!(refused(&[pos(START - 1, 1)], end), "inside the segment header");
        assert!(refused(&[pos(end.offset, 2)], end), "at the end of the frames");
        assert!(refused(&[pos(START + 100, end.seq)], end), "a seq past the segment's");
        assert!(refused(&[pos(START + 100, 0)], end), "a seq below the segment's");
        assert!(refused(&entries, pos(LEN + 1, 4001)), "frames past the file");
        // A count that is not the length's.
        let mut bad = encode(1, 7, end, &entries);
        bad[40] ^= 1;
        let crc = crc32(&bad[..bad.len() - 4]);
        let at = bad.len() - 4;
        bad[at..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&bad, 1, 7, LEN), None);
    }

    #[test]
    fn the_length_bound_admits_a_full_index_and_nothing_much_longer() {
        // One entry per SPACING of a segment file, from its start.
        let n = (LEN - START) / SPACING;
        let entries: Vec<Pos> = (1..=n).map(|i| pos(START + i * SPACING - 1, 1 + i)).collect();
        let end = pos(LEN, n + 2);
        let bytes = encode(1, 7, end, &entries);
        assert!(decode(&bytes, 1, 7, LEN).is_some());
        assert!(max_len(LEN) < bytes.len() as u64 + 3 * ENTRY_LEN as u64);
        let too_many: Vec<Pos> = (1..=n + 3).map(|i| pos(START + i * 100, 1 + i)).collect();
        assert_eq!(decode(&encode(1, 7, end, &too_many), 1, 7, LEN), None);
    }
}
