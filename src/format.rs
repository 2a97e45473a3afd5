//! The bytes on disk, and nothing else: encoding and decoding of segment
//! headers, frames and the metadata file. `docs/FORMAT.md` describes the same
//! layout in prose; keep the two in step. All integers are little-endian.
//!
//! ```text
//! segment  = segment_header frame* (zero bytes)*
//! segment_header (32) = magic "LIBWALSG" | version u32 | 0 u32 | first_seq u64 | 0 u32 | crc u32
//! frame    = crc u32 | count u32 | payload_len u64 | first_seq u64 | synced_end u64 | payload
//! payload  = entry{count};  entry = op u8 | key_len u32 | value_len u32 | key | value
//! ```
//! A frame's CRC-32 (IEEE, crc32fast) covers bytes 4..32 of the
//! frame header and then the payload, so a damaged count, length, seq or
//! synced_end is caught as surely as a damaged payload.
//!
//! `synced_end` is how far the segment was known to be durable (the end
//! covered by the writer's last successful fdatasync) when the frame was
//! written. Recovery uses it to tell a power loss from damage: bytes below
//! some later frame's `synced_end` were on disk, so losing them is damage;
//! bytes above every later frame's `synced_end` were still in flight.

pub const SEGMENT_MAGIC: [u8; 8] = *b"LIBWALSG";
pub const META_MAGIC: [u8; 8] = *b"LIBWALMT";
pub const FORMAT_VERSION: u32 = 2;

pub const SEGMENT_HEADER_LEN: usize = 32;
pub const FRAME_HEADER_LEN: usize = 32;
pub const ENTRY_HEADER_LEN: usize = 9;
pub const META_LEN: usize = 32;

/// Largest key_len + value_len of one record.
pub const MAX_RECORD_SIZE: usize = 64 << 20;
/// Largest payload of one frame: the sum of key_len + value_len + 9 over a
/// batch's entries. Checked before anything is reserved for a batch, and no
/// frame read back may claim more.
pub const MAX_BATCH_SIZE: usize = 128 << 20;
const _: () = assert!(MAX_BATCH_SIZE >= MAX_RECORD_SIZE + ENTRY_HEADER_LEN);
/// The op reserved for checkpoint records.
pub const OP_CHECKPOINT: u8 = 255;
/// The smallest frame: a header and one empty entry.
pub const MIN_FRAME_LEN: u64 = (FRAME_HEADER_LEN + ENTRY_HEADER_LEN) as u64;

/// One record to write: an op, a key and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub op: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
}

fn u64_at(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().unwrap())
}

/// A 32-byte header with a magic, a version, one u64 and a CRC over the rest:
/// the shape shared by segment headers and the metadata file.
fn encode_header32(magic: &[u8; 8], value: u64) -> [u8; 32] {
    let mut buf = [0u8; 32];
    buf[0..8].copy_from_slice(magic);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf[16..24].copy_from_slice(&value.to_le_bytes());
    let crc = crc32fast::hash(&buf[0..28]);
    buf[28..32].copy_from_slice(&crc.to_le_bytes());
    buf
}

fn decode_header32(magic: &[u8; 8], buf: &[u8]) -> Result<u64, &'static str> {
    if buf.len() < 32 {
        return Err("header is shorter than 32 bytes");
    }
    if buf[0..8] != magic[..] {
        return Err("bad magic number");
    }
    if crc32fast::hash(&buf[0..28]) != u32_at(buf, 28) {
        return Err("header checksum mismatch");
    }
    let version = u32_at(buf, 8);
    if version != FORMAT_VERSION {
        return Err("unsupported format version");
    }
    Ok(u64_at(buf, 16))
}

/// What `segment_header_version` says of a sound header with another magic.
pub const NOT_A_SEGMENT: u32 = 0;

/// The version of a header whose checksum is right, so that a log written
/// by another format version is refused, never repaired. A sound header
/// with another magic was written whole by another program (damage breaks
/// the checksum): it is refused too, as version `NOT_A_SEGMENT`.
pub fn segment_header_version(buf: &[u8]) -> Option<u32> {
    checksum32_ok(buf).then(|| if buf[0..8] == SEGMENT_MAGIC { u32_at(buf, 8) } else { NOT_A_SEGMENT })
}

/// The version of a metadata file whose magic and checksum are right.
pub fn meta_version(buf: &[u8]) -> Option<u32> {
    (checksum32_ok(buf) && buf[0..8] == META_MAGIC).then(|| u32_at(buf, 8))
}

/// Whether a 32-byte structure (segment header, metadata, clean mark)
/// carries the CRC of its first 28 bytes in its last 4.
fn checksum32_ok(buf: &[u8]) -> bool {
    buf.len() >= 32 && crc32fast::hash(&buf[0..28]) == u32_at(buf, 28)
}

pub fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    encode_header32(&SEGMENT_MAGIC, first_seq)
}

/// The first seq recorded in a segment header.
pub fn decode_segment_header(buf: &[u8]) -> Result<u64, &'static str> {
    decode_header32(&SEGMENT_MAGIC, buf)
}

/// The metadata file holds the truncation floor: every seq <= floor is gone.
pub fn encode_meta(floor_seq: u64) -> [u8; META_LEN] {
    encode_header32(&META_MAGIC, floor_seq)
}

pub fn decode_meta(buf: &[u8]) -> Result<u64, &'static str> {
    if buf.len() != META_LEN {
        return Err("metadata file is not 32 bytes long");
    }
    decode_header32(&META_MAGIC, buf)
}

/// What the LOCK file holds after a clean close (32 bytes): magic
/// "LIBWALCL" | newest segment's first_seq u64 | end of its data u64 |
/// version u32 | crc u32 over bytes 0..28. Every byte of that segment up to
/// `end` was durable when it was written; empty at any other time.
pub const CLEAN_MAGIC: [u8; 8] = *b"LIBWALCL";

pub fn encode_clean_mark(first_seq: u64, end: u64) -> [u8; 32] {
    let mut buf = [0u8; 32];
    buf[0..8].copy_from_slice(&CLEAN_MAGIC);
    buf[8..16].copy_from_slice(&first_seq.to_le_bytes());
    buf[16..24].copy_from_slice(&end.to_le_bytes());
    buf[24..28].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let crc = crc32fast::hash(&buf[0..28]);
    buf[28..32].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// The (first_seq, end) of a sound clean mark; None for anything else.
pub fn decode_clean_mark(buf: &[u8]) -> Option<(u64, u64)> {
    let sound =
        buf.len() == 32 && checksum32_ok(buf) && buf[0..8] == CLEAN_MAGIC && u32_at(buf, 24) == FORMAT_VERSION;
    sound.then(|| (u64_at(buf, 8), u64_at(buf, 16)))
}

/// Payload bytes needed for these entries.
pub fn payload_len(entries: &[Entry<'_>]) -> u64 {
    entries
        .iter()
        .map(|e| (ENTRY_HEADER_LEN + e.key.len() + e.value.len()) as u64)
        .sum()
}

/// A frame whose payload is encoded but whose seq is not yet known: the
/// expensive part (copying and checksumming the payload) happens before the
/// writer takes its lock, `seal` fills in the seq under it.
pub struct EncodedFrame {
    bytes: Vec<u8>,
    count: u32,
    payload_crc: crc32fast::Hasher,
}

/// Appends a frame's header, without crc, seq and synced_end, and its
/// payload to `buf`.
fn push_unsealed(buf: &mut Vec<u8>, entries: &[Entry<'_>]) {
    assert!(!entries.is_empty() && entries.len() <= u32::MAX as usize);
    let payload = payload_len(entries);
    buf.reserve(FRAME_HEADER_LEN + payload as usize);
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[4..8].copy_from_slice(&(entries.len() as u32).to_le_bytes());
    header[8..16].copy_from_slice(&payload.to_le_bytes());
    buf.extend_from_slice(&header);
    for e in entries {
        let mut entry = [0u8; ENTRY_HEADER_LEN];
        entry[0] = e.op;
        entry[1..5].copy_from_slice(&(e.key.len() as u32).to_le_bytes());
        entry[5..9].copy_from_slice(&(e.value.len() as u32).to_le_bytes());
        buf.extend_from_slice(&entry);
        buf.extend_from_slice(e.key);
        buf.extend_from_slice(e.value);
    }
}

/// Appends a whole frame to `buf` in one pass: the path of small records,
/// encoded straight into the writer's buffer, with no allocation of their
/// own. Callers check entries (count >= 1, sizes) first.
pub fn push_frame(buf: &mut Vec<u8>, entries: &[Entry<'_>], first_seq: u64, synced_end: u64) {
    let start = buf.len();
    push_unsealed(buf, entries);
    let frame = &mut buf[start..];
    frame[16..24].copy_from_slice(&first_seq.to_le_bytes());
    frame[24..32].copy_from_slice(&synced_end.to_le_bytes());
    let crc = crc32fast::hash(&frame[4..]);
    frame[0..4].copy_from_slice(&crc.to_le_bytes());
}

impl EncodedFrame {
    /// Callers check entries (count >= 1, sizes) first.
    pub fn new(entries: &[Entry<'_>]) -> EncodedFrame {
        let mut bytes = Vec::new();
        push_unsealed(&mut bytes, entries);
        let mut payload_crc = crc32fast::Hasher::new();
        payload_crc.update(&bytes[FRAME_HEADER_LEN..]);
        EncodedFrame { bytes, count: entries.len() as u32, payload_crc }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn frame_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Stamps the first seq, the synced end and the checksum; returns the
    /// bytes to write.
    pub fn seal(&mut self, first_seq: u64, synced_end: u64) -> &[u8] {
        self.bytes[16..24].copy_from_slice(&first_seq.to_le_bytes());
        self.bytes[24..32].copy_from_slice(&synced_end.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&self.bytes[4..FRAME_HEADER_LEN]);
        crc.combine(&self.payload_crc);
        let crc = crc.finalize();
        self.bytes[0..4].copy_from_slice(&crc.to_le_bytes());
        &self.bytes
    }
}

/// The fields of a frame header, not yet checked against a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub crc: u32,
    pub count: u32,
    pub payload_len: u64,
    pub first_seq: u64,
    /// How far the segment was durable when this frame was written.
    pub synced_end: u64,
}

impl FrameHeader {
    pub fn parse(buf: &[u8]) -> FrameHeader {
        FrameHeader {
            crc: u32_at(buf, 0),
            count: u32_at(buf, 4),
            payload_len: u64_at(buf, 8),
            first_seq: u64_at(buf, 16),
            synced_end: u64_at(buf, 24),
        }
    }

    /// Cheap plausibility checks that need no payload: at least one entry,
    /// room for every entry header, the expected seq, within `room` bytes.
    pub fn plausible(&self, expected_seq: u64, room: u64) -> bool {
        self.count >= 1
            && self.first_seq == expected_seq
            && self.first_seq.checked_add(self.count as u64).is_some()
            && self.payload_len >= self.count as u64 * ENTRY_HEADER_LEN as u64
            && self.payload_len <= room.saturating_sub(FRAME_HEADER_LEN as u64)
    }

    /// The last seq this frame holds.
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.count as u64 - 1
    }

    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + self.payload_len
    }
}

/// True when `header_bytes` (32 bytes) and `payload` carry a matching CRC and
/// the payload holds exactly `count` well-formed entries.
pub fn frame_is_valid(header_bytes: &[u8], payload: &[u8]) -> bool {
    let header = FrameHeader::parse(header_bytes);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&header_bytes[4..FRAME_HEADER_LEN]);
    crc.update(payload);
    crc.finalize() == header.crc && entries_fill_payload(payload, header.count)
}

/// The same check on a whole frame held in one slice: the CRC is computed
/// in one pass, which for small frames is about twice as fast as two.
pub fn frame_bytes_are_valid(frame: &[u8]) -> bool {
    let header = FrameHeader::parse(frame);
    crc32fast::hash(&frame[4..]) == header.crc && entries_fill_payload(&frame[FRAME_HEADER_LEN..], header.count)
}

fn entries_fill_payload(payload: &[u8], count: u32) -> bool {
    let mut at = 0usize;
    for _ in 0..count {
        match next_entry(payload, at) {
            Some((_, next)) => at = next,
            None => return false,
        }
    }
    at == payload.len()
}

/// A decoded entry borrowed from a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryRef<'a> {
    pub op: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// The entry starting at `at` in a payload, and where the next one starts.
pub fn next_entry(payload: &[u8], at: usize) -> Option<(EntryRef<'_>, usize)> {
    let head = payload.get(at..at.checked_add(ENTRY_HEADER_LEN)?)?;
    let key_len = u32_at(head, 1) as usize;
    let value_len = u32_at(head, 5) as usize;
    let key_at = at + ENTRY_HEADER_LEN;
    let value_at = key_at.checked_add(key_len)?;
    let end = value_at.checked_add(value_len)?;
    let key = payload.get(key_at..value_at)?;
    let value = payload.get(value_at..end)?;
    Some((EntryRef { op: head[0], key, value }, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(entries: &[Entry<'_>], seq: u64) -> Vec<u8> {
        EncodedFrame::new(entries).seal(seq, 32).to_vec()
    }

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
        Entry { op: 1, key, value }
    }

    #[test]
    fn frame_round_trips() {
        let bytes = frame(&[put(b"k", b"v"), Entry { op: 2, key: b"", value: b"" }], 7);
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 9 + 2 + 9);
        let header = FrameHeader::parse(&bytes);
        assert_eq!((header.count, header.first_seq, header.last_seq(), header.synced_end), (2, 7, 8, 32));
        assert!(header.plausible(7, bytes.len() as u64));
        let payload = &bytes[FRAME_HEADER_LEN..];
        assert!(frame_is_valid(&bytes[..FRAME_HEADER_LEN], payload));
        assert!(frame_bytes_are_valid(&bytes));
        let (first, next) = next_entry(payload, 0).unwrap();
        assert_eq!((first.op, first.key, first.value), (1, &b"k"[..], &b"v"[..]));
        let (second, end) = next_entry(payload, next).unwrap();
        assert_eq!((second.op, second.key.len(), end), (2, 0, payload.len()));
    }

    #[test]
    fn a_frame_pushed_into_a_buffer_equals_a_sealed_one() {
        let entries = [put(b"key", b"value"), Entry { op: 2, key: b"k2", value: b"" }];
        let mut buf = b"earlier bytes".to_vec();
        push_frame(&mut buf, &entries, 9, 4096);
        assert_eq!(&buf[13..], EncodedFrame::new(&entries).seal(9, 4096));
    }

    #[test]
    fn a_clean_mark_round_trips_and_damage_voids_it() {
        let mark = encode_clean_mark(77, 4096);
        assert_eq!(decode_clean_mark(&mark), Some((77, 4096)));
        for i in 0..32 {
            let mut damaged = mark;
            damaged[i] ^= 0x04;
            assert_eq!(decode_clean_mark(&damaged), None, "byte {i}");
        }
        assert_eq!(decode_clean_mark(&mark[..31]), None);
        assert_eq!(decode_clean_mark(b""), None);
    }

    #[test]
    fn checksum_covers_every_header_field_and_the_payload() {
        let bytes = frame(&[put(b"key", b"value")], 42);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            let (h, p) = damaged.split_at(FRAME_HEADER_LEN);
            assert!(!frame_is_valid(h, p), "flipping byte {i} went unnoticed");
            assert!(!frame_bytes_are_valid(&damaged), "flipping byte {i} went unnoticed in one pass");
        }
    }

    #[test]
    fn zeros_never_parse_as_a_frame() {
        let zeros = [0u8; 64];
        let header = FrameHeader::parse(&zeros);
        assert!(!header.plausible(0, 64));
        assert!(!header.plausible(1, 64));
        assert!(!frame_is_valid(&zeros[..FRAME_HEADER_LEN], &zeros[FRAME_HEADER_LEN..33]));
    }

    #[test]
    fn a_checksummed_frame_with_a_short_entry_is_rejected() {
        // The CRC matches but the payload claims more bytes than it holds.
        let mut bytes = frame(&[put(b"ab", b"")], 1);
        bytes[FRAME_HEADER_LEN + 1] = 200; // key_len
        let mut crc = crc32fast::Hasher::new();
        crc.update(&bytes[4..]);
        bytes[0..4].copy_from_slice(&crc.finalize().to_le_bytes());
        assert!(!frame_is_valid(&bytes[..FRAME_HEADER_LEN], &bytes[FRAME_HEADER_LEN..]));
    }

    #[test]
    fn segment_header_and_meta_round_trip_and_reject_damage() {
        let header = encode_segment_header(1234);
        assert_eq!(decode_segment_header(&header), Ok(1234));
        assert!(decode_meta(&header).is_err(), "a segment header is not metadata");
        let meta = encode_meta(99);
        assert_eq!(decode_meta(&meta), Ok(99));
        for i in 0..32 {
            let mut damaged = header;
            damaged[i] ^= 0x80;
            assert!(decode_segment_header(&damaged).is_err(), "byte {i}");
        }
        assert!(decode_segment_header(&[0u8; 32]).is_err());
    }
}
