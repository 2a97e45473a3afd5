//! The bytes on disk, and nothing else: encoding and decoding of segment
//! headers, frames, the metadata file and the clean-close mark.
//! `docs/FORMAT.md` describes the same layout in prose; keep the two in
//! step. All integers are little-endian.
//!
//! ```text
//! segment  = segment_header frame* (zero bytes)*
//! segment_header (32) = magic "LIBWALSG" | version u32 | salt u32 | first_seq u64 | 0 u32 | crc u32
//! frame    = header_crc u32 | payload_crc u32 | count u32 | payload_len u32
//!            | first_seq u64 | synced_end u64 | payload
//! payload  = entry{count};  entry = op u8 | key_len u32 | value_len u32 | key | value
//! ```
//! A frame header carries its own CRC-32 (over its bytes 4..32, started
//! from the segment's salt), and the payload's CRC-32 is one of the fields
//! it covers. So a length is trusted, and memory sized by it, only once the
//! header's checksum has matched and the length is within MAX_BATCH_SIZE;
//! and a frame left in a file from an earlier life of its space (another
//! segment's salt) never checks out.
//!
//! A frame with `count` 0 is a *sync mark*: no payload, no seq; it records
//! that the segment was durable up to its `synced_end`. Every frame carries
//! `synced_end`, how far the segment was known to be durable (the end
//! covered by the writer's last successful fdatasync) when it was written:
//! bytes below a later frame's `synced_end` were on disk, so losing them is
//! damage, never a torn write.

use std::sync::OnceLock;

pub const SEGMENT_MAGIC: [u8; 8] = *b"LIBWALSG";
pub const META_MAGIC: [u8; 8] = *b"LIBWALMT";
pub const CLEAN_MAGIC: [u8; 8] = *b"LIBWALCL";
pub const FORMAT_VERSION: u32 = 3;

pub const SEGMENT_HEADER_LEN: usize = 32;
pub const FRAME_HEADER_LEN: usize = 32;
pub const ENTRY_HEADER_LEN: usize = 9;
pub const META_LEN: usize = 32;
pub const CLEAN_MARK_LEN: usize = 40;

/// Largest key_len + value_len of one record.
pub const MAX_RECORD_SIZE: usize = 64 << 20;
/// Largest payload of one frame: the sum of key_len + value_len + 9 over a
/// batch's entries. Checked before anything is reserved for a batch, and no
/// frame read back may claim more.
pub const MAX_BATCH_SIZE: usize = 128 << 20;
const _: () = assert!(MAX_BATCH_SIZE >= MAX_RECORD_SIZE + ENTRY_HEADER_LEN);
const _: () = assert!(MAX_BATCH_SIZE <= u32::MAX as usize);
/// The op reserved for checkpoint records.
pub const OP_CHECKPOINT: u8 = 255;

/// One record to write: an op, a key and a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry<'a> {
    pub op: u8,
    pub key: &'a [u8],
    pub value: &'a [u8],
}

/// The u32 at `at`; callers pass slices they have checked hold it.
pub(crate) fn u32_at(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

pub(crate) fn u64_at(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

/// The plain CRC-32 of `bytes`. crc32fast picks its CPU-specific code when
/// a Hasher is made; doing that once per process rather than per call saves
/// about 40 instructions per checksum, a fifth of a small frame's cost.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    static HASHER: OnceLock<crc32fast::Hasher> = OnceLock::new();
    let mut h = HASHER.get_or_init(crc32fast::Hasher::new).clone();
    h.update(bytes);
    h.finalize()
}

/// Bytes of a frame header its CRC covers (4..32).
const HEADER_CRC_LEN: usize = FRAME_HEADER_LEN - 4;

/// The CRC-32 of a frame header's bytes 4..32 started from `salt` (zlib's
/// `crc32(header[4:32], salt)`); bytes 0..4 (where the CRC goes) are not
/// read. The CRC is affine, so both the salt and four leading zero bytes
/// change it by a term that depends on nothing else: it is computed as the
/// plain CRC of the whole 32-byte block with its first 4 bytes zeroed (two
/// whole 16-byte blocks, crc32fast's fastest shape) xor a term looked up
/// from the salt (four tables), with no Hasher of its own.
fn header_crc(salt: u32, header: &[u8; FRAME_HEADER_LEN]) -> u32 {
    let mut block = *header;
    block[..4].fill(0);
    crc32(&block) ^ salt_term(salt)
}

/// crc32(salt, d) ^ crc32(0, [0; 4] ++ d) for any 28 bytes d.
fn salt_term(salt: u32) -> u32 {
    let [b0, b1, b2, b3] = salt.to_le_bytes();
    SALT_TERMS[0][b0 as usize] ^ SALT_TERMS[1][b1 as usize] ^ SALT_TERMS[2][b2 as usize] ^ SALT_TERMS[3][b3 as usize]
}

static SALT_TERMS: [[u32; 256]; 4] = salt_terms();

/// With r = !crc as the CRC register, crc32(s, d) = !(Z_n(!s) ^ R(d)) for n
/// bytes d, where Z_n (n zero bytes pushed through the register) is
/// linear and R(d) does not depend on s. So crc32(s, d) ^ crc32(0, d) =
/// Z_28(s), the xor of Z_28 over the salt's four bytes (`[k][b]` is
/// Z_28(b << 8k)); and crc32(0, d) ^ crc32(0, [0; 4] ++ d) = Z_28(!0) ^
/// Z_32(!0), the same for every d: the CRCs of 28 and of 32 zero bytes,
/// xored, folded into table 0 (each lookup takes one entry of it).
const fn salt_terms() -> [[u32; 256]; 4] {
    let mut byte_table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut r = i as u32;
        let mut bit = 0;
        while bit < 8 {
            r = if r & 1 != 0 { (r >> 1) ^ 0xedb8_8320 } else { r >> 1 };
            bit += 1;
        }
        byte_table[i] = r;
        i += 1;
    }
    // Z_n(r): n zero bytes through the register.
    const fn zeros(table: &[u32; 256], mut r: u32, n: usize) -> u32 {
        let mut i = 0;
        while i < n {
            r = table[(r & 0xff) as usize] ^ (r >> 8);
            i += 1;
        }
        r
    }
    let leading_zeros = zeros(&byte_table, !0, HEADER_CRC_LEN) ^ zeros(&byte_table, !0, FRAME_HEADER_LEN);
    let mut terms = [[0u32; 256]; 4];
    let mut k = 0;
    while k < 4 {
        let mut b = 0;
        while b < 256 {
            terms[k][b] = zeros(&byte_table, (b as u32) << (8 * k), HEADER_CRC_LEN);
            if k == 0 {
                terms[k][b] ^= leading_zeros;
            }
            b += 1;
        }
        k += 1;
    }
    terms
}

/// Whether a 32-byte structure (segment header, metadata) carries the CRC
/// of its first 28 bytes in its last 4.
fn checksum32_ok(buf: &[u8]) -> bool {
    buf.len() >= 32 && crc32(&buf[0..28]) == u32_at(buf, 28)
}

/// A 32-byte header with a magic, the version, a u32, a u64 and a CRC over
/// the rest: the shape shared by segment headers and the metadata file.
fn encode_header32(magic: &[u8; 8], small: u32, value: u64) -> [u8; 32] {
    let mut buf = [0u8; 32];
    buf[0..8].copy_from_slice(magic);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf[12..16].copy_from_slice(&small.to_le_bytes());
    buf[16..24].copy_from_slice(&value.to_le_bytes());
    let crc = crc32(&buf[0..28]);
    buf[28..32].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// (the u32 at 12, the u64 at 16) of a sound header of this version.
fn decode_header32(magic: &[u8; 8], buf: &[u8]) -> Result<(u32, u64), &'static str> {
    if buf.len() < 32 {
        return Err("header is shorter than 32 bytes");
    }
    if buf[0..8] != magic[..] {
        return Err("bad magic number");
    }
    if !checksum32_ok(buf) {
        return Err("header checksum mismatch");
    }
    if u32_at(buf, 8) != FORMAT_VERSION {
        return Err("unsupported format version");
    }
    Ok((u32_at(buf, 12), u64_at(buf, 16)))
}

/// What `segment_header_version` says of a sound header with another magic.
pub const NOT_A_SEGMENT: u32 = u32::MAX;

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

/// What a segment header says: the seq of its first record and the salt
/// that starts every frame header's CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    pub first_seq: u64,
    pub salt: u32,
}

pub fn encode_segment_header(first_seq: u64, salt: u32) -> [u8; SEGMENT_HEADER_LEN] {
    encode_header32(&SEGMENT_MAGIC, salt, first_seq)
}

pub fn decode_segment_header(buf: &[u8]) -> Result<SegmentHeader, &'static str> {
    decode_header32(&SEGMENT_MAGIC, buf).map(|(salt, first_seq)| SegmentHeader { first_seq, salt })
}

/// The metadata file holds the truncation floor: every seq <= floor is gone.
pub fn encode_meta(floor_seq: u64) -> [u8; META_LEN] {
    encode_header32(&META_MAGIC, 0, floor_seq)
}

pub fn decode_meta(buf: &[u8]) -> Result<u64, &'static str> {
    decode_meta_file(buf).map(|m| m.floor)
}

/// A cut of the newest records (`wal_truncate_after`) that the metadata
/// file records before any segment changes, so that an open after a crash
/// finishes it: every record above `seq` is discarded. The segment named
/// `segment` (first_seq and salt) is cut to `end` bytes, every newer
/// segment is deleted, and, when the cut falls inside a batch, the frame at
/// `offset` gets `header` (the same frame with only the entries up to
/// `seq`) in place of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutIntent {
    pub seq: u64,
    pub segment: SegmentHeader,
    pub offset: u64,
    pub end: u64,
    pub header: Option<[u8; FRAME_HEADER_LEN]>,
}

/// Length of a metadata file that records a cut, as written before
/// metadata files had slots: the 32-byte floor header (its u32 says how
/// many bytes follow) and the 80-byte cut. Still read, never written.
pub const META_CUT_LEN: usize = META_LEN + CUT_LEN;
const CUT_LEN: usize = 80;

/// The metadata file is two slots of this size, each a whole copy of it;
/// every update rewrites both in place, one after the other, each synced.
pub const META_SLOT_LEN: usize = 512;
pub const META_FILE_LEN: usize = 2 * META_SLOT_LEN;

/// What the metadata file says: the floor, a cut being made, and the
/// generation of the slot it was read from (0 for an old, slotless file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub floor: u64,
    pub cut: Option<CutIntent>,
    pub generation: u64,
}

/// The 80 bytes of a cut: seq u64 | segment first_seq u64 | segment salt
/// u32 | 1 if `header` is set, else 0, u32 | offset u64 | end u64 | header
/// 32 bytes (zeros if none) | 0 u32 | crc u32 over the first 76 bytes.
fn encode_cut(cut: &CutIntent) -> [u8; CUT_LEN] {
    let mut c = [0u8; CUT_LEN];
    c[0..8].copy_from_slice(&cut.seq.to_le_bytes());
    c[8..16].copy_from_slice(&cut.segment.first_seq.to_le_bytes());
    c[16..20].copy_from_slice(&cut.segment.salt.to_le_bytes());
    c[20..24].copy_from_slice(&(cut.header.is_some() as u32).to_le_bytes());
    c[24..32].copy_from_slice(&cut.offset.to_le_bytes());
    c[32..40].copy_from_slice(&cut.end.to_le_bytes());
    if let Some(header) = &cut.header {
        c[40..72].copy_from_slice(header);
    }
    let crc = crc32fast::hash(&c[..76]);
    c[76..80].copy_from_slice(&crc.to_le_bytes());
    c
}

fn decode_cut(c: &[u8]) -> Result<CutIntent, &'static str> {
    if c.len() < CUT_LEN || crc32fast::hash(&c[..76]) != u32_at(c, 76) {
        return Err("checksum mismatch in the cut it records");
    }
    let header = match u32_at(c, 20) {
        0 => None,
        1 => {
            let mut h = [0u8; FRAME_HEADER_LEN];
            h.copy_from_slice(&c[40..72]);
            Some(h)
        }
        _ => return Err("bad flag in the cut it records"),
    };
    let cut = CutIntent {
        seq: u64_at(c, 0),
        segment: SegmentHeader { first_seq: u64_at(c, 8), salt: u32_at(c, 16) },
        offset: u64_at(c, 24),
        end: u64_at(c, 32),
        header,
    };
    let frame_end = cut.offset.checked_add(FRAME_HEADER_LEN as u64);
    if cut.offset < SEGMENT_HEADER_LEN as u64 || frame_end.is_none() || cut.end < cut.offset {
        return Err("the cut it records lies outside its segment");
    }
    Ok(cut)
}

/// A metadata slot (512 bytes): magic "LIBWALMT" | version u32 | 80 if a
/// cut follows, else 0, u32 | floor u64 | generation u64 | the cut (80
/// bytes, zeros if none) | zeros | crc u32 over bytes 0..508.
pub fn encode_meta_slot(meta: &Meta) -> [u8; META_SLOT_LEN] {
    let mut buf = [0u8; META_SLOT_LEN];
    buf[0..8].copy_from_slice(&META_MAGIC);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    let follows = if meta.cut.is_some() { CUT_LEN as u32 } else { 0 };
    buf[12..16].copy_from_slice(&follows.to_le_bytes());
    buf[16..24].copy_from_slice(&meta.floor.to_le_bytes());
    buf[24..32].copy_from_slice(&meta.generation.to_le_bytes());
    if let Some(cut) = &meta.cut {
        buf[32..32 + CUT_LEN].copy_from_slice(&encode_cut(cut));
    }
    let crc = crc32fast::hash(&buf[..META_SLOT_LEN - 4]);
    buf[META_SLOT_LEN - 4..].copy_from_slice(&crc.to_le_bytes());
    buf
}

fn slot_is_sound(buf: &[u8]) -> bool {
    buf.len() == META_SLOT_LEN
        && buf[0..8] == META_MAGIC
        && crc32fast::hash(&buf[..META_SLOT_LEN - 4]) == u32_at(buf, META_SLOT_LEN - 4)
}

/// A slot that checks out; None for one that does not (never written, or
/// torn by a crash while it was rewritten, or damaged).
fn decode_meta_slot(buf: &[u8]) -> Option<Result<Meta, &'static str>> {
    if !slot_is_sound(buf) {
        return None;
    }
    if u32_at(buf, 8) != FORMAT_VERSION {
        return Some(Err("unsupported format version"));
    }
    let cut = match u32_at(buf, 12) as usize {
        0 => None,
        CUT_LEN => match decode_cut(&buf[32..32 + CUT_LEN]) {
            Ok(cut) => Some(cut),
            Err(why) => return Some(Err(why)),
        },
        _ => return Some(Err("bad length of the cut it records")),
    };
    Some(Ok(Meta { floor: u64_at(buf, 16), cut, generation: u64_at(buf, 24) }))
}

/// The metadata file: of its two slots, the sound one of the higher
/// generation (a crash while one was rewritten leaves the other whole).
/// Files written before slots existed (32 bytes, or 112 with a cut) read
/// as generation 0.
pub fn decode_meta_file(buf: &[u8]) -> Result<Meta, &'static str> {
    if buf.len() != META_FILE_LEN {
        return decode_meta_cut(buf).map(|(floor, cut)| Meta { floor, cut, generation: 0 });
    }
    let slots = [decode_meta_slot(&buf[..META_SLOT_LEN]), decode_meta_slot(&buf[META_SLOT_LEN..])];
    let mut best: Option<Meta> = None;
    for slot in slots.into_iter().flatten() {
        let meta = slot?;
        if best.is_none_or(|b| meta.generation > b.generation) {
            best = Some(meta);
        }
    }
    best.ok_or("neither of its two slots checks out")
}

/// The version a sound metadata file (or one of its slots) names.
pub fn meta_file_version(buf: &[u8]) -> Option<u32> {
    if buf.len() != META_FILE_LEN {
        return meta_version(buf);
    }
    [&buf[..META_SLOT_LEN], &buf[META_SLOT_LEN..]].into_iter().find(|s| slot_is_sound(s)).map(|s| u32_at(s, 8))
}

/// The floor and the cut (if one is being made) of a metadata file written
/// before slots existed.
pub fn decode_meta_cut(buf: &[u8]) -> Result<(u64, Option<CutIntent>), &'static str> {
    if buf.len() != META_LEN && buf.len() != META_CUT_LEN {
        return Err("metadata file is neither 1024, 32 nor 112 bytes long");
    }
    let (follows, floor) = decode_header32(&META_MAGIC, buf)?;
    match (follows as usize, buf.len()) {
        (0, META_LEN) => Ok((floor, None)),
        (CUT_LEN, META_CUT_LEN) => Ok((floor, Some(decode_cut(&buf[META_LEN..])?))),
        _ => Err("metadata file length does not match its header"),
    }
}

/// The header of a frame holding only the first entries of another: what
/// a cut inside a batch writes over that frame's header.
pub fn shortened_frame_header(
    old: &FrameHeader,
    payload: &[u8],
    count: u32,
    salt: u32,
) -> Option<([u8; FRAME_HEADER_LEN], u64)> {
    let mut at = 0usize;
    for _ in 0..count {
        at = next_entry(payload, at)?.1;
    }
    let header = frame_header(crc32(&payload[..at]), count, at as u32, old.first_seq, old.synced_end, salt);
    Some((header, at as u64))
}

/// What the LOCK file holds after a clean close (40 bytes): magic
/// "LIBWALCL" | version u32 | the newest segment's salt u32 | its first_seq
/// u64 | the end of its data u64 | 0 u32 | crc u32 over bytes 0..36. Every
/// byte of that segment up to `end` was durable when it was written; the
/// file is empty at any other time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanMark {
    pub segment: SegmentHeader,
    pub end: u64,
}

pub fn encode_clean_mark(mark: &CleanMark) -> [u8; CLEAN_MARK_LEN] {
    let mut buf = [0u8; CLEAN_MARK_LEN];
    buf[0..8].copy_from_slice(&CLEAN_MAGIC);
    buf[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    buf[12..16].copy_from_slice(&mark.segment.salt.to_le_bytes());
    buf[16..24].copy_from_slice(&mark.segment.first_seq.to_le_bytes());
    buf[24..32].copy_from_slice(&mark.end.to_le_bytes());
    let crc = crc32(&buf[0..36]);
    buf[36..40].copy_from_slice(&crc.to_le_bytes());
    buf
}

/// A sound clean mark of this version; None for anything else.
pub fn decode_clean_mark(buf: &[u8]) -> Option<CleanMark> {
    let sound = buf.len() == CLEAN_MARK_LEN
        && buf[0..8] == CLEAN_MAGIC
        && u32_at(buf, 8) == FORMAT_VERSION
        && crc32(&buf[0..36]) == u32_at(buf, 36);
    sound.then(|| CleanMark {
        segment: SegmentHeader { salt: u32_at(buf, 12), first_seq: u64_at(buf, 16) },
        end: u64_at(buf, 24),
    })
}

/// Payload bytes needed for these entries.
pub fn payload_len(entries: &[Entry<'_>]) -> u64 {
    entries
        .iter()
        .map(|e| (ENTRY_HEADER_LEN + e.key.len() + e.value.len()) as u64)
        .sum()
}

/// A frame header: its fields and its CRC.
fn frame_header(payload_crc: u32, count: u32, payload_len: u32, seq: u64, synced_end: u64, salt: u32) -> [u8; FRAME_HEADER_LEN] {
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[4..8].copy_from_slice(&payload_crc.to_le_bytes());
    header[8..12].copy_from_slice(&count.to_le_bytes());
    header[12..16].copy_from_slice(&payload_len.to_le_bytes());
    header[16..24].copy_from_slice(&seq.to_le_bytes());
    header[24..32].copy_from_slice(&synced_end.to_le_bytes());
    let crc = header_crc(salt, &header);
    header[0..4].copy_from_slice(&crc.to_le_bytes());
    header
}

/// Appends the entries' payload bytes to `buf`.
fn push_payload(buf: &mut Vec<u8>, entries: &[Entry<'_>]) {
    for e in entries {
        let mut entry = [0u8; ENTRY_HEADER_LEN];
        entry[0] = e.op;
        // Callers checked each record against MAX_RECORD_SIZE: both fit u32.
        entry[1..5].copy_from_slice(&(e.key.len() as u32).to_le_bytes());
        entry[5..9].copy_from_slice(&(e.value.len() as u32).to_le_bytes());
        buf.extend_from_slice(&entry);
        buf.extend_from_slice(e.key);
        buf.extend_from_slice(e.value);
    }
}

/// Appends a whole frame to `buf` in one pass: the path of small records,
/// encoded straight into the writer's buffer, with no allocation of their
/// own. Callers check entries (1..=u32::MAX of them, within MAX_BATCH_SIZE)
/// first.
pub fn push_frame(buf: &mut Vec<u8>, entries: &[Entry<'_>], first_seq: u64, synced_end: u64, salt: u32) {
    let start = buf.len();
    buf.reserve(FRAME_HEADER_LEN + payload_len(entries) as usize);
    buf.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    push_payload(buf, entries);
    let payload = &buf[start + FRAME_HEADER_LEN..];
    let header = frame_header(crc32(payload), entries.len() as u32, payload.len() as u32, first_seq, synced_end, salt);
    buf[start..start + FRAME_HEADER_LEN].copy_from_slice(&header);
}

/// Appends a sync mark: a frame with no entry that records that the segment
/// was durable up to `synced_end`. `next_seq` is the seq the next frame
/// will carry.
pub fn push_sync_mark(buf: &mut Vec<u8>, next_seq: u64, synced_end: u64, salt: u32) {
    buf.extend_from_slice(&frame_header(0, 0, 0, next_seq, synced_end, salt));
}

/// A frame whose payload is encoded and checksummed before its seq is
/// known: the expensive part (copying and checksumming the payload) happens
/// before the writer takes its lock, `seal` fills in the header under it.
pub struct EncodedFrame {
    bytes: Vec<u8>,
    count: u32,
    payload_crc: u32,
}

impl EncodedFrame {
    /// Callers check entries (1..=u32::MAX of them, within MAX_BATCH_SIZE) first.
    pub fn new(entries: &[Entry<'_>]) -> EncodedFrame {
        let mut bytes = Vec::with_capacity(FRAME_HEADER_LEN + payload_len(entries) as usize);
        bytes.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
        push_payload(&mut bytes, entries);
        let payload_crc = crc32(&bytes[FRAME_HEADER_LEN..]);
        EncodedFrame { bytes, count: entries.len() as u32, payload_crc }
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn frame_len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Stamps the first seq, the synced end and the header checksum;
    /// returns the bytes to write.
    pub fn seal(&mut self, first_seq: u64, synced_end: u64, salt: u32) -> &[u8] {
        let payload_len = (self.bytes.len() - FRAME_HEADER_LEN) as u32;
        let (count, crc) = (self.count, self.payload_crc);
        let header = frame_header(crc, count, payload_len, first_seq, synced_end, salt);
        self.bytes[..FRAME_HEADER_LEN].copy_from_slice(&header);
        &self.bytes
    }
}

/// The fields of a frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub header_crc: u32,
    pub payload_crc: u32,
    /// Entries in the payload; 0 for a sync mark.
    pub count: u32,
    pub payload_len: u32,
    /// The seq of the first entry (of the next frame, for a sync mark).
    pub first_seq: u64,
    /// How far the segment was durable when this frame was written.
    pub synced_end: u64,
}

impl FrameHeader {
    /// The header in `buf`, if `buf` holds 32 bytes that are not all zero
    /// and whose checksum, started from `salt`, matches. Only then may any
    /// of its fields be trusted.
    pub fn checked(buf: &[u8], salt: u32) -> Option<FrameHeader> {
        let buf: &[u8; FRAME_HEADER_LEN] = buf.get(..FRAME_HEADER_LEN)?.try_into().ok()?;
        if buf.iter().all(|&b| b == 0) || header_crc(salt, buf) != u32_at(buf, 0) {
            return None;
        }
        Some(FrameHeader {
            header_crc: u32_at(buf, 0),
            payload_crc: u32_at(buf, 4),
            count: u32_at(buf, 8),
            payload_len: u32_at(buf, 12),
            first_seq: u64_at(buf, 16),
            synced_end: u64_at(buf, 24),
        })
    }

    pub fn is_sync_mark(&self) -> bool {
        self.count == 0
    }

    /// What the writer always writes, whatever the frame's place: a sync
    /// mark has no payload; a frame has room for its entry headers, within
    /// MAX_BATCH_SIZE, and seqs that do not pass u64::MAX; seqs start at 1.
    pub fn well_formed(&self) -> bool {
        let lengths = match self.count {
            0 => self.payload_len == 0,
            n => {
                (self.payload_len as u64) >= n as u64 * ENTRY_HEADER_LEN as u64
                    && self.payload_len as usize <= MAX_BATCH_SIZE
                    && self.first_seq.checked_add(n as u64).is_some()
            }
        };
        lengths && self.first_seq >= 1
    }

    /// The last seq this frame holds (a sync mark holds none: callers skip it).
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.count.max(1) as u64 - 1
    }

    /// The seq the frame after this one must carry.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.count as u64
    }

    pub fn frame_len(&self) -> u64 {
        FRAME_HEADER_LEN as u64 + self.payload_len as u64
    }
}

/// True when `payload` matches the header's payload CRC and holds exactly
/// `count` well-formed entries.
pub fn payload_is_valid(header: &FrameHeader, payload: &[u8]) -> bool {
    crc32(payload) == header.payload_crc && entries_fill_payload(payload, header.count)
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

/// The key and value lengths of an entry header (9 bytes at least).
pub fn entry_lengths(head: &[u8]) -> (u32, u32) {
    (u32_at(head, 1), u32_at(head, 5))
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
    let (key_len, value_len) = entry_lengths(head);
    let key_at = at + ENTRY_HEADER_LEN;
    let value_at = key_at.checked_add(key_len as usize)?;
    let end = value_at.checked_add(value_len as usize)?;
    let key = payload.get(key_at..value_at)?;
    let value = payload.get(value_at..end)?;
    Some((EntryRef { op: head[0], key, value }, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: u32 = 0x5eed_1234;

    fn frame(entries: &[Entry<'_>], seq: u64) -> Vec<u8> {
        EncodedFrame::new(entries).seal(seq, 32, SALT).to_vec()
    }

    fn put<'a>(key: &'a [u8], value: &'a [u8]) -> Entry<'a> {
        Entry { op: 1, key, value }
    }

    #[test]
    fn frame_round_trips() {
        let bytes = frame(&[put(b"k", b"v"), Entry { op: 2, key: b"", value: b"" }], 7);
        assert_eq!(bytes.len(), FRAME_HEADER_LEN + 9 + 2 + 9);
        let header = FrameHeader::checked(&bytes, SALT).unwrap();
        assert_eq!((header.count, header.first_seq, header.last_seq(), header.synced_end), (2, 7, 8, 32));
        assert!(header.well_formed());
        let payload = &bytes[FRAME_HEADER_LEN..];
        assert!(payload_is_valid(&header, payload));
        let (first, next) = next_entry(payload, 0).unwrap();
        assert_eq!((first.op, first.key, first.value), (1, &b"k"[..], &b"v"[..]));
        let (second, end) = next_entry(payload, next).unwrap();
        assert_eq!((second.op, second.key.len(), end), (2, 0, payload.len()));
    }

    #[test]
    fn a_frame_pushed_into_a_buffer_equals_a_sealed_one() {
        let entries = [put(b"key", b"value"), Entry { op: 2, key: b"k2", value: b"" }];
        let mut buf = b"earlier bytes".to_vec();
        push_frame(&mut buf, &entries, 9, 4096, SALT);
        assert_eq!(&buf[13..], EncodedFrame::new(&entries).seal(9, 4096, SALT));
    }

    #[test]
    fn a_frame_of_another_salt_never_checks_out() {
        let bytes = frame(&[put(b"k", b"v")], 1);
        assert!(FrameHeader::checked(&bytes, SALT).is_some());
        assert!(FrameHeader::checked(&bytes, SALT ^ 1).is_none());
        assert!(FrameHeader::checked(&bytes, 0).is_none());
    }

    #[test]
    fn a_sync_mark_is_a_well_formed_frame_without_entries() {
        let mut buf = Vec::new();
        push_sync_mark(&mut buf, 12, 4096, SALT);
        assert_eq!(buf.len(), FRAME_HEADER_LEN);
        let mark = FrameHeader::checked(&buf, SALT).unwrap();
        assert!(mark.is_sync_mark() && mark.well_formed());
        assert_eq!((mark.first_seq, mark.next_seq(), mark.synced_end, mark.frame_len()), (12, 12, 4096, 32));
    }

    #[test]
    fn a_clean_mark_round_trips_and_damage_voids_it() {
        let mark = CleanMark { segment: SegmentHeader { first_seq: 77, salt: 9 }, end: 4096 };
        let bytes = encode_clean_mark(&mark);
        assert_eq!(decode_clean_mark(&bytes), Some(mark));
        for i in 0..CLEAN_MARK_LEN {
            let mut damaged = bytes;
            damaged[i] ^= 0x04;
            assert_eq!(decode_clean_mark(&damaged), None, "byte {i}");
        }
        assert_eq!(decode_clean_mark(&bytes[..39]), None);
        assert_eq!(decode_clean_mark(b""), None);
    }

    #[test]
    fn checksums_cover_every_header_field_and_the_payload() {
        let bytes = frame(&[put(b"key", b"value")], 42);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x01;
            let caught = match FrameHeader::checked(&damaged, SALT) {
                None => true,
                Some(h) => !payload_is_valid(&h, &damaged[FRAME_HEADER_LEN..]),
            };
            assert!(caught, "flipping byte {i} went unnoticed");
            if i < FRAME_HEADER_LEN {
                assert!(FrameHeader::checked(&damaged, SALT).is_none(), "header byte {i}");
            }
        }
    }

    #[test]
    fn zeros_never_parse_as_a_frame() {
        let zeros = [0u8; 64];
        for salt in [0, 1, SALT, u32::MAX] {
            assert!(FrameHeader::checked(&zeros, salt).is_none());
        }
    }

    #[test]
    fn a_header_claiming_more_than_max_batch_size_is_not_well_formed() {
        let mut bytes = frame(&[put(b"k", b"v")], 1);
        bytes[12..16].copy_from_slice(&(MAX_BATCH_SIZE as u32 + 1).to_le_bytes());
        let crc = header_crc(SALT, bytes[..32].try_into().unwrap());
        bytes[0..4].copy_from_slice(&crc.to_le_bytes());
        let header = FrameHeader::checked(&bytes, SALT).unwrap();
        assert!(!header.well_formed());
    }

    #[test]
    fn a_checksummed_frame_with_a_short_entry_is_rejected() {
        // The CRCs match but the payload claims more bytes than it holds.
        let mut bytes = frame(&[put(b"ab", b"")], 1);
        bytes[FRAME_HEADER_LEN + 1] = 200; // key_len
        let payload_crc = crc32(&bytes[FRAME_HEADER_LEN..]);
        bytes[4..8].copy_from_slice(&payload_crc.to_le_bytes());
        let crc = header_crc(SALT, bytes[..32].try_into().unwrap());
        bytes[0..4].copy_from_slice(&crc.to_le_bytes());
        let header = FrameHeader::checked(&bytes, SALT).unwrap();
        assert!(!payload_is_valid(&header, &bytes[FRAME_HEADER_LEN..]));
    }

    #[test]
    fn the_salted_crc_is_zlibs_crc32_started_from_the_salt() {
        // FORMAT.md: header_crc = zlib.crc32(header[4:32], salt). Salts that
        // set every byte and every bit position, over headers of all kinds.
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        let mut headers = vec![[0u8; 32], [0xff; 32]];
        headers.push(std::array::from_fn(|i| i as u8));
        headers.push(frame(&[put(b"key", b"value")], 42)[..32].try_into().unwrap());
        let mut salts = vec![0, 1, SALT, u32::MAX, 0x8000_0000];
        salts.extend((0..32).map(|bit| 1u32 << bit));
        salts.extend((0..64u32).map(|i| i.wrapping_mul(0x9e37_79b9) ^ 0x5eed));
        for header in &headers {
            for &salt in &salts {
                assert_eq!(header_crc(salt, header), crc32_python(salt, &header[4..]), "salt {salt:#x}");
            }
        }
    }

    /// zlib's crc32(data, start), bit by bit, written from its definition.
    fn crc32_python(start: u32, data: &[u8]) -> u32 {
        let mut crc = !start;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn segment_header_and_meta_round_trip_and_reject_damage() {
        let header = encode_segment_header(1234, SALT);
        assert_eq!(decode_segment_header(&header), Ok(SegmentHeader { first_seq: 1234, salt: SALT }));
        assert!(decode_meta(&header).is_err(), "a segment header is not metadata");
        let meta = encode_meta(99);
        assert_eq!(decode_meta(&meta), Ok(99));
        for i in 0..32 {
            let mut damaged = header;
            damaged[i] ^= 0x80;
            assert!(decode_segment_header(&damaged).is_err(), "segment header byte {i}");
            let mut damaged = meta;
            damaged[i] ^= 0x80;
            assert!(decode_meta(&damaged).is_err(), "meta byte {i}");
        }
        assert!(decode_segment_header(&[0u8; 32]).is_err());
    }
}
