//! The damage oracle: logs written by scripted workloads through the
//! simulated file system (every sync mode; single records, batches of 1 to
//! 5,000 entries, empty ones included; checkpoints, syncs, rotations,
//! truncations; with and without preallocation, so that truncated segments
//! become spares and later rotations recycle them; closed cleanly, killed,
//! or cut by a power loss), then damaged one way at a time: a flipped byte in
//! a frame header or a payload, a zeroed 512-byte sector, a zeroed segment
//! header, a truncated file, a deleted, duplicated or renamed segment, a
//! header with a valid checksum claiming a huge payload (in a file extended
//! sparsely on the real file system, or past the end of the file).
//!
//! Each damaged directory is opened four ways (TAIL and SALVAGE, writable
//! and read-only) and replayed, and the outcome is checked against an
//! oracle that knows, from the undamaged files alone, where every frame
//! lies, which records it holds, and which bytes the log proves durable.
//! The oracle is this file's own parser of the format (src/format.rs has
//! the layout); it calls nothing of libwal's recovery. The rule it applies
//! (contract 0.2, ../shared/wal-api.md):
//!
//! - the first frame that fails in the newest segment, at offset f, is
//!   proven durable when a frame header or sync mark after it in that
//!   segment carries synced_end > f, or the clean-close mark in LOCK names
//!   that segment (first_seq and salt) with an end > f. Proven: TAIL is
//!   WAL_E_CORRUPT. Not proven: TAIL cuts at f and its open report says
//!   tail_cut, cut_offset f;
//! - a segment whose header is unreadable but which holds data, and any
//!   damage in an older segment, or a segment missing, renamed or
//!   duplicated, is WAL_E_CORRUPT in TAIL (from the open or the replay);
//! - SALVAGE keeps exactly the records before the first damage in log order
//!   and reports the first seq it dropped;
//! - a read-only open decides as the writable one does, and changes no byte;
//! - nothing panics; no allocation passes a bound that is absolute
//!   (WAL_MAX_BATCH_SIZE at most; far less for these small logs).
//!
//! `make check` runs WAL_DAMAGE_CASES (default below) cases; `make stress`
//! runs many more. Every run prints the count per kind of damage.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use wal::io::sim::Rng;
use wal::io::{Fs, SimFs};
use wal::{Entry, ErrorKind, OpenReport, Options, RecoveryMode, SyncMode, Wal, MAX_BATCH_SIZE};

mod common;

// ---- the largest allocation, per thread ----

#[path = "common/alloc.rs"]
mod alloc;
use alloc::largest_alloc_during;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// The largest allocation an open and replay of these small logs may make
/// (their largest frame is about 100 KiB): 4 MiB, whatever a damaged
/// length claims. Absolute, not relative to the file.
const SMALL_LOG_ALLOC_MAX: usize = 4 << 20;

/// Prints past the test harness's capture, so `make check` shows it.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

// ---- the oracle's own reading of the format (src/format.rs) ----

const DIR: &str = "/log";
const SEG_HEADER: usize = 32;
const FRAME_HEADER: usize = 32;
const ENTRY_HEADER: usize = 9;
const LOCK: &str = "LOCK";
const META: &str = "wal.meta";

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn salted_crc(salt: u32, bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(salt);
    h.update(bytes);
    h.finalize()
}

fn seg_name(first_seq: u64) -> String {
    format!("{first_seq:020}.wal")
}

fn seg_name_seq(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(".wal")?;
    (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit())).then(|| stem.parse().ok()).flatten()
}

/// One record as a replay hands it out: seq, op, key, value.
type Row = (u64, u8, Vec<u8>, Vec<u8>);

/// A frame (or a sync mark, count 0) of a segment as the writer left it.
#[derive(Debug, Clone)]
struct Frame {
    off: u64,
    len: u64,
    count: u32,
    first_seq: u64,
    synced_end: u64,
}

impl Frame {
    fn end(&self) -> u64 {
        self.off + self.len
    }

    fn is_mark(&self) -> bool {
        self.count == 0
    }

    /// The last seq it holds; for a sync mark, the seq before the next one.
    fn last_seq(&self) -> u64 {
        self.first_seq + self.count as u64 - 1
    }
}

/// A segment as the writer left it: every frame, in order.
#[derive(Debug, Clone)]
struct Seg {
    name: String,
    first_seq: u64,
    salt: u32,
    bytes: Vec<u8>,
    frames: Vec<Frame>,
    /// Where the frames end.
    end: u64,
}

impl Seg {
    /// The seq the next segment starts at.
    fn next_seq(&self) -> u64 {
        self.frames.last().map_or(self.first_seq, |f| f.first_seq + f.count as u64)
    }

    fn has_records(&self) -> bool {
        self.frames.iter().any(|f| !f.is_mark())
    }
}

/// Reads a segment file the writer produced: header, then frames until the
/// first all-zero or failing header, the end of the file, or a frame that
/// does not carry the next seq. Also returns its records.
fn parse_segment(name: &str, bytes: &[u8]) -> Result<(Seg, Vec<Row>), String> {
    if bytes.len() < SEG_HEADER {
        return Err(format!("{name}: {} bytes, shorter than a header", bytes.len()));
    }
    let h = &bytes[..SEG_HEADER];
    if &h[0..8] != b"LIBWALSG" || u32_at(h, 8) != 3 || crc32fast::hash(&h[0..28]) != u32_at(h, 28) {
        return Err(format!("{name}: not a sound format-3 segment header"));
    }
    let salt = u32_at(h, 12);
    let first_seq = u64_at(h, 16);
    let mut frames = Vec::new();
    let mut rows = Vec::new();
    let mut off = SEG_HEADER;
    let mut next_seq = first_seq;
    while off + FRAME_HEADER <= bytes.len() {
        let fh = &bytes[off..off + FRAME_HEADER];
        if fh.iter().all(|&b| b == 0) || salted_crc(salt, &fh[4..]) != u32_at(fh, 0) {
            break;
        }
        let (payload_crc, count, payload_len) = (u32_at(fh, 4), u32_at(fh, 8), u32_at(fh, 12) as usize);
        let (seq, synced_end) = (u64_at(fh, 16), u64_at(fh, 24));
        if seq != next_seq || (count == 0 && payload_len != 0) || off + FRAME_HEADER + payload_len > bytes.len() {
            break;
        }
        let payload = &bytes[off + FRAME_HEADER..off + FRAME_HEADER + payload_len];
        if crc32fast::hash(payload) != payload_crc {
            break;
        }
        let mut at = 0;
        let mut entries = Vec::new();
        for i in 0..count as u64 {
            if at + ENTRY_HEADER > payload.len() {
                return Err(format!("{name}: frame at {off}: entry {i} passes the payload"));
            }
            let (op, kl, vl) = (payload[at], u32_at(payload, at + 1) as usize, u32_at(payload, at + 5) as usize);
            let k = at + ENTRY_HEADER;
            if k + kl + vl > payload.len() {
                return Err(format!("{name}: frame at {off}: entry {i} passes the payload"));
            }
            entries.push((seq + i, op, payload[k..k + kl].to_vec(), payload[k + kl..k + kl + vl].to_vec()));
            at = k + kl + vl;
        }
        if at != payload.len() {
            return Err(format!("{name}: frame at {off}: entries do not fill the payload"));
        }
        rows.extend(entries);
        let len = (FRAME_HEADER + payload_len) as u64;
        frames.push(Frame { off: off as u64, len, count, first_seq: seq, synced_end });
        next_seq = seq + count as u64;
        off += FRAME_HEADER + payload_len;
    }
    let seg = Seg { name: name.to_string(), first_seq, salt, bytes: bytes.to_vec(), frames, end: off as u64 };
    Ok((seg, rows))
}

/// The clean-close mark: (salt, first_seq, end) of the newest segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Mark {
    salt: u32,
    first_seq: u64,
    end: u64,
}

fn parse_mark(bytes: &[u8]) -> Option<Mark> {
    let sound = bytes.len() == 40
        && &bytes[0..8] == b"LIBWALCL"
        && u32_at(bytes, 8) == 3
        && crc32fast::hash(&bytes[0..36]) == u32_at(bytes, 36);
    sound.then(|| Mark { salt: u32_at(bytes, 12), first_seq: u64_at(bytes, 16), end: u64_at(bytes, 24) })
}

/// The truncation floor held by wal.meta: every seq <= it is gone. The
/// file is two 512-byte slots (magic, version 3, a u32, the floor u64, a
/// generation u64, ..., CRC-32 of bytes 0..508 at 508); the sound slot with
/// the higher generation holds it. A 32-byte file is the older layout.
fn parse_floor(bytes: &[u8]) -> Option<u64> {
    if bytes.len() == 1024 {
        let slot = |s: &[u8]| {
            let sound = &s[0..8] == b"LIBWALMT" && u32_at(s, 8) == 3 && crc32fast::hash(&s[0..508]) == u32_at(s, 508);
            sound.then(|| (u64_at(s, 24), u64_at(s, 16)))
        };
        return [slot(&bytes[..512]), slot(&bytes[512..])].into_iter().flatten().max().map(|(_, floor)| floor);
    }
    let sound = bytes.len() == 32
        && &bytes[0..8] == b"LIBWALMT"
        && u32_at(bytes, 8) == 3
        && crc32fast::hash(&bytes[0..28]) == u32_at(bytes, 28);
    sound.then(|| u64_at(bytes, 16))
}

// ---- files of a simulated directory ----

type Files = BTreeMap<String, Vec<u8>>;

fn files_of(fs: &SimFs) -> Files {
    let dir = Path::new(DIR);
    let names = fs.list(dir).unwrap().into_iter().map(|n| n.into_string().unwrap());
    names.map(|n| (n.clone(), fs.read_file(&dir.join(&n)).unwrap())).collect()
}

fn path(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

// ---- workloads ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Clean,
    Kill,
    Crash,
}

/// What a workload left: the files as the last writer saw them (the truth
/// the oracle reads), the files on disk now (what gets damaged: equal to
/// the truth unless a power loss took unsynced writes), and the options.
#[derive(Clone)]
struct World {
    desc: String,
    opts: Options,
    /// Truth: the segments of the live directory, in log order.
    segs: Vec<Seg>,
    /// Every record of the truth, by seq.
    rows: BTreeMap<u64, Row>,
    /// The segments of the truth that a rotation made of a spare, by name:
    /// the bytes the spare held before it was zeroed and reused.
    recycled: BTreeMap<String, Vec<u8>>,
    /// The directory on disk.
    disk: SimFs,
}

const SPARE_SUFFIX: &str = ".spare";

fn is_spare(name: &str) -> bool {
    name.ends_with(SPARE_SUFFIX)
}

/// The spare files of a directory and their bytes.
fn spares_of(fs: &SimFs) -> Files {
    let names = fs.list(Path::new(DIR)).unwrap().into_iter().map(|n| n.into_string().unwrap());
    names.filter(|n| is_spare(n)).map(|n| (n.clone(), fs.read_file(&path(&n)).unwrap())).collect()
}

/// The segment files of a directory, by name.
fn seg_names_of(fs: &SimFs) -> Vec<String> {
    fs.list(Path::new(DIR)).unwrap().into_iter().map(|n| n.into_string().unwrap()).filter(|n| seg_name_seq(n).is_some()).collect()
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A value length: often empty or tiny, sometimes a few KiB (a record
/// larger than a 4-KiB segment gets one of its own).
fn value_len(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0 | 1 => 0,
        2..=6 => rng.below(64) as usize,
        7 | 8 => rng.below(1500) as usize,
        _ => rng.below(6000) as usize,
    }
}

fn batch_len(rng: &mut Rng) -> usize {
    match rng.below(8) {
        0 => 1,
        1..=3 => 2 + rng.below(8) as usize,
        4 | 5 => 10 + rng.below(200) as usize,
        6 => 1000 + rng.below(1000) as usize,
        _ => 5000,
    }
}

fn open_on(fs: &SimFs, opts: Options) -> Wal {
    Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap_or_else(|e| panic!("workload open: {e}"))
}

/// Runs a seeded script of writes; the world it leaves. `end` says how the
/// last writer stopped; `restarts` writers before it were killed or lost
/// their power, and each restart recovered what they left.
fn build_world(seed: u64, sync_mode: SyncMode, preallocate: bool, end: End) -> World {
    let mut rng = Rng::new(seed);
    let segment_size = [4096, 8192, 16384, 65536][rng.below(4) as usize];
    let opts = Options { segment_size, sync_mode, preallocate, ..Options::default() };
    let mut fs = SimFs::with_seed(seed);
    let mut wal = open_on(&fs, opts);
    let steps = 10 + rng.below(50);
    let mut script = Vec::new();
    let mut recycled = BTreeMap::new();
    for _ in 0..steps {
        let (mut spares_before, mut segs_before) = (spares_of(&fs), seg_names_of(&fs));
        match rng.below(100) {
            0..=38 => {
                let (kl, vl) = (rng.below(20) as usize, value_len(&mut rng));
                let seq = wal.append(1 + rng.below(254) as u8, &pattern(rng.next_u64(), kl), &pattern(rng.next_u64(), vl));
                seq.unwrap();
                script.push(format!("append {kl}+{vl}"));
            }
            39..=44 => {
                // Truncate every sealed segment or (nearly) everything, then
                // fill a segment or two: with preallocation the freed
                // segments become spares and the rotations reuse them.
                let mut names = seg_names_of(&fs);
                names.sort();
                let upto = match (names.last(), rng.below(2)) {
                    (Some(newest), 0) => seg_name_seq(newest).unwrap() - 1,
                    _ => wal.last_seq().saturating_sub(rng.below(3)),
                };
                wal.truncate(upto).unwrap();
                (spares_before, segs_before) = (spares_of(&fs), seg_names_of(&fs));
                let n = 3 + rng.below(4);
                let vl = segment_size as usize / 3;
                for _ in 0..n {
                    wal.append(1 + rng.below(254) as u8, b"fill", &pattern(rng.next_u64(), vl)).unwrap();
                }
                script.push(format!("truncate {upto} + {n} x {vl}"));
            }
            45..=69 => {
                let n = batch_len(&mut rng);
                let tiny = n >= 1000;
                let records: Vec<(u8, Vec<u8>, Vec<u8>)> = (0..n)
                    .map(|_| {
                        let op = 1 + rng.below(254) as u8;
                        match (tiny, rng.below(4)) {
                            (_, 0) => (op, Vec::new(), Vec::new()),
                            (true, _) => (op, pattern(rng.next_u64(), rng.below(4) as usize), pattern(rng.next_u64(), rng.below(8) as usize)),
                            (false, _) => (op, pattern(rng.next_u64(), rng.below(12) as usize), pattern(rng.next_u64(), value_len(&mut rng) / 4)),
                        }
                    })
                    .collect();
                let entries: Vec<Entry> = records.iter().map(|(op, k, v)| Entry { op: *op, key: k, value: v }).collect();
                wal.append_batch(&entries).unwrap();
                script.push(format!("batch {n}"));
            }
            70..=77 => {
                wal.checkpoint().unwrap();
                script.push("checkpoint".into());
            }
            78..=85 => {
                wal.sync().unwrap();
                script.push("sync".into());
            }
            86..=93 => {
                let upto = wal.last_seq() * rng.below(100) / 100;
                wal.truncate(upto).unwrap();
                script.push(format!("truncate {upto}"));
            }
            94..=96 => {
                // Killed: the page cache survives, the writer's buffer not.
                let next = fs.fork();
                drop(wal); // its close writes to the old world only
                fs = next;
                wal = open_on(&fs, opts);
                script.push("kill+reopen".into());
            }
            _ => {
                let next = fs.crash(&mut rng);
                drop(wal);
                fs = next;
                wal = open_on(&fs, opts);
                script.push("crash+reopen".into());
            }
        }
        // A segment that appeared as a spare vanished was made of it (a
        // rotation takes the spares in name order).
        let spares_after = spares_of(&fs);
        let reused = spares_before.into_iter().filter(|(n, _)| !spares_after.contains_key(n));
        let created = seg_names_of(&fs).into_iter().filter(|n| !segs_before.contains(n));
        for ((_, old), name) in reused.zip(created) {
            recycled.insert(name, old);
        }
    }
    // Often, a last truncate of the oldest segment or of every sealed one:
    // with preallocation they stay as spares, which the damage may bring
    // back.
    let mut names = seg_names_of(&fs);
    names.sort();
    if preallocate && names.len() >= 2 && rng.below(3) != 0 {
        let keep = [&names[1], names.last().unwrap()][rng.below(2) as usize];
        let upto = seg_name_seq(keep).unwrap() - 1;
        wal.truncate(upto).unwrap();
        script.push(format!("truncate {upto}"));
    }
    let live = files_of(&fs);
    let disk = match end {
        End::Clean => {
            wal.close().unwrap();
            fs
        }
        End::Kill => {
            let disk = fs.fork();
            drop(wal);
            disk
        }
        End::Crash => {
            let disk = fs.crash(&mut rng);
            drop(wal);
            disk
        }
    };
    // After a clean close the truth is what the close left (its final sync
    // may have written a sync mark).
    let live = if end == End::Clean { files_of(&disk) } else { live };
    let mut segs = Vec::new();
    let mut rows = BTreeMap::new();
    let mut names: Vec<&String> = live.keys().filter(|n| seg_name_seq(n).is_some()).collect();
    names.sort();
    for name in names {
        let (seg, seg_rows) = parse_segment(name, &live[name]).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(seg_name_seq(name), Some(seg.first_seq), "seed {seed}: {name} holds segment {}", seg.first_seq);
        let rest = &live[name][seg.end as usize..];
        assert!(rest.iter().all(|&b| b == 0), "seed {seed}: {name}: non-zero bytes after its last frame at {}", seg.end);
        for r in seg_rows {
            rows.insert(r.0, r);
        }
        segs.push(seg);
    }
    for pair in segs.windows(2) {
        assert_eq!(pair[0].next_seq(), pair[1].first_seq, "seed {seed}: the writer left a gap");
    }
    let desc = format!(
        "seed {seed} {sync_mode:?} prealloc={preallocate} segment_size={segment_size} end={end:?}: {}",
        script.join(", ")
    );
    recycled.retain(|name, _| segs.iter().any(|s| &s.name == name));
    World { desc, opts, segs, rows, recycled, disk }
}

// ---- what the oracle expects of a damaged directory ----

/// What a TAIL (or SALVAGE) open and replay must give.
#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// WAL_E_CORRUPT, from the open or the replay.
    Corrupt,
    /// Every record of the truth with floor < seq < `below`; last_seq
    /// `last`; the report as said (None: not checked).
    Keep { floor: u64, below: u64, last: u64, cut: Option<Cut>, dropped_from: Option<Vec<u64>> },
    /// Either of these (the log proves it only through a header whose frame
    /// is damaged itself, or the contract leaves it open).
    Either(Box<Want>, Box<Want>),
    /// WAL_E_RANGE from the replay (only as a known library deviation).
    RangeFromReplay,
    /// The first is what the contract says; the library is known to give
    /// the second instead (a bug reported, with its own regression test).
    /// Counted under the tag; a strict run refuses it.
    Known(Box<Want>, Box<Want>, &'static str),
}

/// Library deviations the oracle found (fixed since), each with a minimal
/// reproduction below.
const KNOWN_RANGE_AT_FLOOR: &str = "damage in a frame holding the floor is WAL_E_RANGE (damage_in_a_frame_holding_the_truncation_floor_is_corrupt_not_range)";
const KNOWN_DROPPED_BELOW_FLOOR: &str = "SALVAGE's salvage_dropped_from is a truncated seq (salvage_never_reports_a_dropped_seq_below_the_floor)";
const KNOWN_STRAY_AFTER_LAST_RECORD: &str = "a stray segment file that sorts after the last record is skipped (a_stray_segment_after_the_last_record_is_corrupt)";
const KNOWN_EMPTY_WHEN_ALL_GONE: &str = "a cleanly closed log whose every segment is gone opens empty at its floor (a_cleanly_closed_log_whose_only_segment_is_gone_is_corrupt)";

thread_local! {
    static STRICT: Cell<bool> = const { Cell::new(false) };
    static KNOWN_HITS: std::cell::RefCell<BTreeMap<&'static str, u64>> = const { std::cell::RefCell::new(BTreeMap::new()) };
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cut {
    /// tail_cut, at this offset of the newest segment.
    At(u64),
    /// tail_cut false.
    None,
}

/// Where the log first fails on disk, in log order.
#[derive(Debug, Clone)]
enum Failure {
    /// The frame at index `frame` of segment `seg` (or the end of the frames
    /// when `frame` == frames.len(): the segment was cut short at a frame
    /// boundary) does not read back as written.
    Frame { seg: usize, frame: usize },
    /// The segment's header does not read back as written.
    Header { seg: usize },
    /// The segment is gone.
    Missing { seg: usize },
    /// A file that is not the segment the writer wrote under this name
    /// (renamed or copied there): it sits after segment `after` in log
    /// order (None: before every segment).
    Stranger { after: Option<usize>, name_seq: u64 },
    /// Every frame reads back, but bytes that are not zero follow the last
    /// one in the newest segment, `seg` (a recycled segment whose zeroing
    /// was lost shows its old frames there).
    Garbage { seg: usize },
}

/// Compares the disk with the truth: where the log first fails.
fn first_failure(world: &World, disk: &Files) -> Option<Failure> {
    let names: Vec<&String> = disk.keys().filter(|n| seg_name_seq(n).is_some()).collect();
    // Files under segment names the truth does not know: strangers (a crash
    // may bring back a segment a truncate deleted: it is below the floor and
    // never read).
    let floor = disk.get(META).and_then(|m| parse_floor(m)).unwrap_or(0);
    let mut stranger: Option<(Option<usize>, u64)> = None;
    for name in &names {
        if world.segs.iter().any(|s| &s.name == *name) {
            continue;
        }
        let seq = seg_name_seq(name).unwrap();
        let bytes = &disk[*name];
        let resurrected = bytes.len() >= SEG_HEADER
            && parse_segment(name, bytes).is_ok_and(|(s, _)| s.first_seq == seq && s.next_seq() <= floor + 1);
        if resurrected {
            continue;
        }
        let after = world.segs.iter().rposition(|s| s.first_seq < seq);
        // Names sort in log order: the first stranger is the earliest.
        stranger.get_or_insert((after, seq));
    }
    let mut found = None;
    for (i, seg) in world.segs.iter().enumerate() {
        if let Some((after, name_seq)) = stranger {
            if after.is_none_or(|a| a < i) {
                found = Some(Failure::Stranger { after, name_seq });
                break;
            }
        }
        let Some(bytes) = disk.get(&seg.name) else {
            found = Some(Failure::Missing { seg: i });
            break;
        };
        if bytes.len() < SEG_HEADER || bytes[..SEG_HEADER] != seg.bytes[..SEG_HEADER] {
            found = Some(Failure::Header { seg: i });
            break;
        }
        let bad = seg.frames.iter().position(|f| {
            let (a, b) = (f.off as usize, f.end() as usize);
            bytes.len() < b || bytes[a..b] != seg.bytes[a..b]
        });
        if let Some(frame) = bad {
            found = Some(Failure::Frame { seg: i, frame });
            break;
        }
    }
    if found.is_none() {
        if let Some((after, name_seq)) = stranger {
            found = Some(Failure::Stranger { after, name_seq });
        }
    }
    if found.is_none() {
        let newest = world.segs.len().checked_sub(1)?;
        let s = &world.segs[newest];
        let after_frames = disk[&s.name].get(s.end as usize..).unwrap_or_default();
        if after_frames.iter().any(|&b| b != 0) {
            found = Some(Failure::Garbage { seg: newest });
        }
    }
    found
}

/// Whether the frame at `frame` of the newest segment `seg` is proven
/// durable on `disk`: (by a later header whose frame reads back whole, by a
/// later header at all, by the clean-close mark).
fn proof(world: &World, disk: &Files, seg: usize, at: u64) -> (bool, bool, bool) {
    let s = &world.segs[seg];
    let bytes = &disk[&s.name];
    let (mut whole, mut header) = (false, false);
    for f in s.frames.iter().filter(|f| f.off > at && f.synced_end > at) {
        let (a, h, b) = (f.off as usize, f.off as usize + FRAME_HEADER, f.end() as usize);
        if bytes.len() >= h && bytes[a..h] == s.bytes[a..h] {
            header = true;
            if bytes.len() >= b && bytes[a..b] == s.bytes[a..b] {
                whole = true;
            }
        }
    }
    let mark = disk.get(LOCK).and_then(|m| parse_mark(m));
    let by_mark = mark.is_some_and(|m| m.first_seq == s.first_seq && m.salt == s.salt && m.end > at);
    (whole, header, by_mark)
}

/// The first seq at or after frame `frame` of segment `seg` (log order),
/// above the floor: what a cut there drops. 0 when no record follows.
fn first_seq_from(world: &World, seg: usize, frame: usize, floor: u64) -> u64 {
    let later = world.segs[seg].frames[frame..].iter().chain(world.segs[seg + 1..].iter().flat_map(|s| s.frames.iter()));
    later.filter(|f| !f.is_mark() && f.last_seq() > floor).map(|f| f.first_seq.max(floor + 1)).next().unwrap_or(0)
}

fn last_truth_seq(world: &World) -> u64 {
    world.segs.last().map_or(0, |s| s.next_seq() - 1)
}

/// Keeps the records below `below`: last_seq becomes the seq before it
/// (seqs are consecutive), or the floor if that is higher.
fn keep(floor: u64, below: u64, cut: Option<Cut>, dropped_from: Option<Vec<u64>>) -> Want {
    Want::Keep { floor, below, last: floor.max(below - 1), cut, dropped_from }
}

/// Files under segment names that are not what the writer wrote there:
/// (name, where its name puts it: after segment `after`).
fn strangers(world: &World, disk: &Files) -> Vec<(String, Option<usize>)> {
    let floor = disk.get(META).and_then(|m| parse_floor(m)).unwrap_or(0);
    let mut out = Vec::new();
    for name in disk.keys().filter(|n| seg_name_seq(n).is_some()) {
        if world.segs.iter().any(|s| &s.name == name) {
            continue;
        }
        let seq = seg_name_seq(name).unwrap();
        let bytes = &disk[name];
        // A crash may bring back a segment a truncate deleted: below the
        // floor, never read.
        let resurrected = parse_segment(name, bytes).is_ok_and(|(s, _)| s.first_seq == seq && s.next_seq() <= floor + 1);
        if !resurrected {
            out.push((name.clone(), world.segs.iter().rposition(|s| s.first_seq < seq)));
        }
    }
    out
}

/// What TAIL and SALVAGE must give on `disk`.
fn expect(world: &World, disk: &Files) -> (Want, Want) {
    let (tail, salvage) = expect_in_order(world, disk);
    let strays = strangers(world, disk);
    let Some((first_stray, after)) = strays.first() else { return (tail, salvage) };
    // What SALVAGE reports as dropped beside a stranger is not pinned down
    // (the stranger's own seqs, or none).
    // And the records its name overlaps may be dropped with it.
    let floor = disk.get(META).and_then(|m| parse_floor(m)).unwrap_or(0);
    let name_seq = seg_name_seq(first_stray).unwrap_or(0);
    let salvage = match name_seq <= last_truth_seq(world) {
        true => Want::Either(Box::new(unpin_dropped(salvage)), Box::new(keep(floor, name_seq.max(1), None, None))),
        false => unpin_dropped(salvage),
    };
    let mut without = disk.clone();
    for (name, _) in &strays {
        without.remove(name);
    }
    let (tail_without, salvage_without) = expect_in_order(world, &without);
    if after.is_none() && seg_name_seq(first_stray).is_some_and(|s| s <= floor) {
        // Named below the floor, before every segment: a leftover of a
        // truncate by its name, which an open may remove.
        let either = |a: Want, b: Want| Want::Either(Box::new(a), Box::new(b));
        return (either(Want::Corrupt, tail_without), either(salvage, unpin_dropped(salvage_without)));
    }
    // A file under a segment name that is not that segment: damage in TAIL.
    let present = |s: &Seg| disk.get(&s.name).is_some_and(|b| b.len() > SEG_HEADER);
    let records_after = world.segs[after.map_or(0, |a| a + 1)..].iter().any(|s| present(s) && s.has_records());
    if records_after {
        return (Want::Corrupt, salvage);
    }
    // The library skips a stray that sorts after the last record (its
    // replay ends before it): known.
    (Want::Known(Box::new(Want::Corrupt), Box::new(tail_without), KNOWN_STRAY_AFTER_LAST_RECORD), salvage)
}

fn unpin_dropped(want: Want) -> Want {
    match want {
        Want::Keep { floor, below, last, cut, .. } => Want::Keep { floor, below, last, cut, dropped_from: None },
        Want::Either(a, b) => Want::Either(Box::new(unpin_dropped(*a)), Box::new(unpin_dropped(*b))),
        Want::Known(a, b, tag) => Want::Known(Box::new(unpin_dropped(*a)), Box::new(unpin_dropped(*b)), tag),
        w => w,
    }
}

/// `expect` but for the strangers' effect on TAIL.
fn expect_in_order(world: &World, disk: &Files) -> (Want, Want) {
    let floor = disk.get(META).and_then(|m| parse_floor(m)).unwrap_or(0);
    let all = last_truth_seq(world) + 1;
    let newest = world.segs.len().saturating_sub(1);
    let mark = disk.get(LOCK).and_then(|m| parse_mark(m));
    let marks = |s: &Seg, past: u64| mark.is_some_and(|m| m.first_seq == s.first_seq && m.salt == s.salt && m.end > past);
    // The first seq a cut below `below` drops: 0 when no record above the
    // floor is dropped.
    let dropped_seq = |below: u64| {
        if below < all && world.rows.range(below..).any(|(s, _)| *s > floor) { below.max(floor + 1) } else { 0 }
    };
    // SALVAGE keeps the records below `below`; `from` lists the
    // salvage_dropped_from values the contract allows.
    let salvage = |below: u64, cut: Option<Cut>, from: Vec<u64>| {
        let contract = keep(floor, below, cut, Some(from));
        if floor > 0 && below <= floor {
            // The library names the first seq of the dropped frame or
            // segment even when it is below the floor.
            let known = keep(floor, below, cut, None);
            Want::Known(Box::new(contract), Box::new(known), KNOWN_DROPPED_BELOW_FLOOR)
        } else {
            contract
        }
    };
    let Some(failure) = first_failure(world, disk) else {
        let w = keep(floor, all, Some(Cut::None), Some(vec![0]));
        return (w.clone(), w);
    };
    match failure {
        Failure::Frame { seg, frame } if seg == newest => {
            let s = &world.segs[seg];
            let bytes = &disk[&s.name];
            let f = &s.frames[frame];
            let below = first_seq_from(world, seg, frame, 0);
            let below = if below == 0 { all } else { below };
            // The file simply ends (or holds only zeros) where the frame began:
            // there is nothing to cut, and what was there cannot be told.
            let nothing_there = bytes.len() as u64 <= f.off || bytes[f.off as usize..].iter().all(|&b| b == 0);
            let from = dropped_seq(below);
            // Garbage where a trailing sync mark was: whether a record was
            // there cannot be told either.
            let from = if nothing_there || from == 0 { vec![0, from.max(below)] } else { vec![from] };
            let cut = if nothing_there { None } else { Some(Cut::At(f.off)) };
            let (whole, header, by_mark) = proof(world, disk, seg, f.off);
            let cut_tail = keep(floor, below, cut, Some(vec![0]));
            let tail = if whole || by_mark {
                Want::Corrupt
            } else if header {
                Want::Either(Box::new(Want::Corrupt), Box::new(cut_tail))
            } else {
                cut_tail
            };
            (tail, salvage(below, cut, from))
        }
        Failure::Frame { seg, frame } => {
            let s = &world.segs[seg];
            let below = first_seq_from(world, seg, frame, 0);
            let below = if below == 0 { all } else { below };
            let undamaged = keep(floor, all, Some(Cut::None), Some(vec![0]));
            let salvaged = salvage(below, None, vec![dropped_seq(below)]);
            if s.frames[frame..].iter().all(Frame::is_mark) {
                // Only sync marks after the last record of a sealed segment:
                // no record is lost, and the next segment carries on.
                let either = |w: Want| Want::Either(Box::new(w), Box::new(undamaged.clone()));
                return (either(Want::Corrupt), either(salvaged));
            }
            let tail = if s.frames[frame].first_seq <= floor {
                Want::Known(Box::new(Want::Corrupt), Box::new(Want::RangeFromReplay), KNOWN_RANGE_AT_FLOOR)
            } else {
                Want::Corrupt
            };
            (tail, salvaged)
        }
        Failure::Header { seg } => {
            let s = &world.segs[seg];
            let bytes = &disk[&s.name];
            let below = s.first_seq;
            let data_after = bytes.len() > SEG_HEADER && bytes[SEG_HEADER..].iter().any(|&b| b != 0);
            // Behind an unreadable header that starts at or below the floor
            // the library cannot tell whether records above the floor were
            // dropped: it may say, from the floor on, that they were.
            let mut from = vec![dropped_seq(below)];
            if below <= floor {
                from.push(floor + 1);
            }
            if seg < newest {
                return (Want::Corrupt, salvage(below, None, from));
            }
            // Nothing but zeros after it: what was there cannot be told.
            if !data_after {
                from.push(0);
            }
            let salvaged = salvage(below, None, from);
            // Zeros over the header of a newest segment that holds nothing
            // else: an interrupted creation, unless the clean-close mark
            // vouches for data in it.
            let dropped_quietly = keep(floor, below, None, Some(vec![0, dropped_seq(below)]));
            let tail = if data_after && s.has_records() {
                Want::Corrupt
            } else if data_after || marks(s, 0) {
                Want::Either(Box::new(Want::Corrupt), Box::new(dropped_quietly))
            } else {
                dropped_quietly
            };
            (tail, salvaged)
        }
        Failure::Missing { seg } => {
            let s = &world.segs[seg];
            let below = s.first_seq;
            if seg < newest {
                return (Want::Corrupt, salvage(below, None, vec![dropped_seq(below)]));
            }
            // The newest segment is gone: only the clean-close mark can tell.
            let salvaged = salvage(below, None, vec![0, dropped_seq(below)]);
            let dropped_quietly = keep(floor, below, None, Some(vec![0]));
            let tail = if s.has_records() && marks(s, SEG_HEADER as u64) {
                let none_left = world.segs.iter().all(|s| !disk.contains_key(&s.name));
                if none_left && floor > 0 {
                    Want::Known(Box::new(Want::Corrupt), Box::new(dropped_quietly), KNOWN_EMPTY_WHEN_ALL_GONE)
                } else {
                    Want::Corrupt
                }
            } else if marks(s, 0) {
                // The clean-close mark names a segment that is gone, though
                // it held no record: refusing such a log is fair.
                Want::Either(Box::new(Want::Corrupt), Box::new(dropped_quietly))
            } else {
                dropped_quietly
            };
            (tail, salvaged)
        }
        Failure::Garbage { seg } => {
            // Reading stops after the last frame with data after it: a
            // torn write for all recovery can tell, unless the clean-close
            // mark proves the bytes there durable (it never covers more
            // than the frames). No frame of another salt ever checks out,
            // so none of the old bytes is read as a record, nor as a
            // witness. SALVAGE cannot tell whether a record was there.
            let s = &world.segs[seg];
            let cut = Some(Cut::At(s.end));
            let tail = match proof(world, disk, seg, s.end) {
                (_, _, true) => Want::Corrupt,
                _ => keep(floor, all, cut, Some(vec![0])),
            };
            (tail, salvage(all, cut, vec![0, all.max(floor + 1)]))
        }
        Failure::Stranger { after, name_seq } => {
            // A file whose header disagrees with its name: the damage sits
            // where its name puts it. Whether the records of the segment
            // before it that its name overlaps are kept is not pinned down.
            let below = match after {
                Some(i) => world.segs[i].next_seq(),
                None => floor + 1,
            };
            // What SALVAGE reports as dropped is not pinned down either (the
            // stranger's own seqs, or none).
            let by_position = keep(floor, below, None, None);
            let by_name = keep(floor, name_seq.min(below), None, None);
            (Want::Corrupt, Want::Either(Box::new(by_position), Box::new(by_name)))
        }
    }
}

// ---- opening a damaged directory ----

#[derive(Debug)]
struct Opened {
    rows: Vec<Row>,
    last_seq: u64,
    report: OpenReport,
}

/// (stage, kind, message) of a failure.
type Failed = (&'static str, ErrorKind, String);

fn open_and_replay(fs: &SimFs, opts: Options, expected_rows: usize) -> (Result<Opened, Failed>, usize) {
    let mut rows = Vec::with_capacity(expected_rows + 16);
    let (result, largest) = largest_alloc_during(|| {
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).map_err(|e| ("open", e.kind(), e.to_string()))?;
        let mut iter = wal.iter(0).map_err(|e| ("iter", e.kind(), e.to_string()))?;
        loop {
            match iter.next() {
                Ok(Some(r)) => rows.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec())),
                Ok(None) => break,
                Err(e) => return Err(("replay", e.kind(), e.to_string())),
            }
        }
        drop(iter);
        let (last_seq, report) = (wal.last_seq(), wal.open_report());
        drop(wal);
        Ok((last_seq, report))
    });
    (result.map(|(last_seq, report)| Opened { rows, last_seq, report }), largest)
}

fn check_want(world: &World, want: &Want, got: &Result<Opened, Failed>) -> Result<(), String> {
    match (want, got) {
        (Want::Either(a, b), got) => check_want(world, a, got).or_else(|ea| {
            check_want(world, b, got).map_err(|eb| format!("neither {ea} nor {eb}"))
        }),
        (Want::Known(contract, known, tag), got) => check_want(world, contract, got).or_else(|e| {
            if STRICT.with(Cell::get) || check_want(world, known, got).is_err() {
                return Err(e);
            }
            KNOWN_HITS.with(|k| *k.borrow_mut().entry(tag).or_default() += 1);
            Ok(())
        }),
        (Want::RangeFromReplay, Err(("replay", ErrorKind::Range, _))) => Ok(()),
        (Want::RangeFromReplay, got) => Err(format!("not a Range error from the replay: {}", summary(got))),
        (Want::Corrupt, Err((_, ErrorKind::Corrupt, msg))) => {
            if msg.contains(DIR) { Ok(()) } else { Err(format!("a Corrupt error names no file: {msg}")) }
        }
        (Want::Corrupt, Ok(o)) => Err(format!(
            "expected WAL_E_CORRUPT, got {} records, last_seq {}, {:?}",
            o.rows.len(),
            o.last_seq,
            o.report
        )),
        (Want::Keep { .. }, Err((stage, kind, msg))) => Err(format!("{stage} failed: {kind:?}: {msg}")),
        (Want::Corrupt, Err((stage, kind, msg))) => Err(format!("expected WAL_E_CORRUPT, {stage} gave {kind:?}: {msg}")),
        (Want::Keep { floor, below, last, cut, dropped_from }, Ok(o)) => {
            let want_rows: Vec<&Row> = world.rows.range(floor + 1..(*below).max(floor + 1)).map(|(_, r)| r).collect();
            let got_seqs = || o.rows.iter().map(|r| r.0).collect::<Vec<_>>();
            if o.rows.len() != want_rows.len() || o.rows.iter().zip(&want_rows).any(|(a, b)| a != *b) {
                let want_seqs: Vec<u64> = want_rows.iter().map(|r| r.0).collect();
                return Err(format!(
                    "records {} differ: want seqs {}, got {}",
                    o.rows.len(),
                    span(&want_seqs),
                    span(&got_seqs())
                ));
            }
            if o.last_seq != *last {
                return Err(format!("last_seq {} (want {last}); records {}", o.last_seq, span(&got_seqs())));
            }
            if let Some(cut) = cut {
                let ok = match cut {
                    Cut::At(at) => o.report.tail_cut && o.report.cut_offset == *at,
                    Cut::None => !o.report.tail_cut,
                };
                if !ok {
                    return Err(format!("report {:?}, want cut {cut:?}", o.report));
                }
            }
            if let Some(from) = dropped_from {
                if !from.contains(&o.report.salvage_dropped_from) {
                    return Err(format!("report {:?}, want salvage_dropped_from in {from:?}", o.report));
                }
            }
            Ok(())
        }
    }
}

/// "1..=7, 9" for a list of seqs.
fn span(seqs: &[u64]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < seqs.len() {
        let mut j = i;
        while j + 1 < seqs.len() && seqs[j + 1] == seqs[j] + 1 {
            j += 1;
        }
        out.push(if i == j { seqs[i].to_string() } else { format!("{}..={}", seqs[i], seqs[j]) });
        i = j + 1;
    }
    format!("[{}]", out.join(", "))
}

/// Opens `disk` all four ways and checks each against the oracle; after a
/// writable open that succeeded, one more append and a reopen.
fn check_disk(world: &World, disk: &SimFs, alloc_max: usize) -> Result<(), String> {
    let files = files_of(disk);
    let (tail, salvage) = expect(world, &files);
    let mut outcomes = Vec::new();
    for (mode, read_only) in
        [(RecoveryMode::Tail, true), (RecoveryMode::Tail, false), (RecoveryMode::Salvage, true), (RecoveryMode::Salvage, false)]
    {
        let opts = Options { recovery_mode: mode, read_only, ..world.opts };
        let fs = disk.fork();
        let run = catch_unwind(AssertUnwindSafe(|| open_and_replay(&fs, opts, world.rows.len())));
        let name = format!("{mode:?}{}", if read_only { " read-only" } else { "" });
        let (got, largest) = run.map_err(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            format!("{name}: panicked: {}", msg.unwrap_or_default())
        })?;
        if largest > alloc_max {
            return Err(format!("{name}: an allocation of {largest} bytes (bound {alloc_max})"));
        }
        if read_only && files_of(&fs) != files {
            return Err(format!("{name}: a read-only open changed the directory"));
        }
        let want = if mode == RecoveryMode::Tail { &tail } else { &salvage };
        let known_before = KNOWN_HITS.with(|k| k.borrow().values().sum::<u64>());
        check_want(world, want, &got).map_err(|e| format!("{name}: {e}"))?;
        // A known deviation leaves a log the rest of the checks would only
        // trip over again.
        let known = KNOWN_HITS.with(|k| k.borrow().values().sum::<u64>()) > known_before;
        if !read_only && !known {
            if let Ok(opened) = &got {
                after_open(&fs, opts, opened).map_err(|e| format!("{name}: after the open: {e}"))?;
            }
        }
        outcomes.push((name, got));
    }
    // The read-only views decide as the writable ones do.
    for pair in outcomes.chunks(2) {
        let (ro, rw) = (&pair[0], &pair[1]);
        let same = match (&ro.1, &rw.1) {
            (Ok(a), Ok(b)) => a.rows == b.rows && a.last_seq == b.last_seq && a.report == b.report,
            (Err(a), Err(b)) => a.1 == b.1,
            _ => false,
        };
        if !same {
            return Err(format!("{} and {} differ: {:?} / {:?}", ro.0, rw.0, summary(&ro.1), summary(&rw.1)));
        }
    }
    Ok(())
}

fn summary(o: &Result<Opened, Failed>) -> String {
    match o {
        Ok(o) => format!("{} records, last_seq {}, {:?}", o.rows.len(), o.last_seq, o.report),
        Err((stage, kind, msg)) => format!("{stage}: {kind:?}: {msg}"),
    }
}

/// After a writable open: the next append gets last_seq + 1 and a reopen
/// (clean close, TAIL) reads what was read plus that record, cutting nothing.
fn after_open(fs: &SimFs, opts: Options, opened: &Opened) -> Result<(), String> {
    let opts = Options { recovery_mode: RecoveryMode::Tail, ..opts };
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).map_err(|e| format!("a second writable open: {e}"))?;
    if wal.last_seq() != opened.last_seq {
        return Err(format!("a second open finds last_seq {} after {}", wal.last_seq(), opened.last_seq));
    }
    if wal.open_report().tail_cut {
        return Err(format!("the second open cut again: {:?}", wal.open_report()));
    }
    let seq = wal.append(7, b"after", b"recovery").map_err(|e| format!("append: {e}"))?;
    if seq != opened.last_seq + 1 {
        return Err(format!("the first append got seq {seq}, last_seq was {}", opened.last_seq));
    }
    let mut want = opened.rows.clone();
    want.push((seq, 7, b"after".to_vec(), b"recovery".to_vec()));
    // A truncate (wal.meta's slots rewritten after the damage, maybe a
    // segment made a spare), then a record larger than a segment: a
    // rotation, into a spare when there is one.
    if let Some(first) = opened.rows.first().map(|r| r.0) {
        wal.truncate(first).map_err(|e| format!("truncate {first}: {e}"))?;
        want.retain(|r| r.0 > first);
    }
    let big = vec![0xa5; opts.segment_size as usize];
    let big_seq = wal.append(8, b"big", &big).map_err(|e| format!("append: {e}"))?;
    want.push((big_seq, 8, b"big".to_vec(), big));
    wal.close().map_err(|e| format!("close: {e}"))?;
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).map_err(|e| format!("reopen: {e}"))?;
    let rows = common_collect(&wal).map_err(|e| format!("replay after reopen: {e}"))?;
    if rows != want {
        let seqs: Vec<u64> = rows.iter().map(|r| r.0).collect();
        let want: Vec<u64> = want.iter().map(|r| r.0).collect();
        return Err(format!("reopen reads {}, want {}", span(&seqs), span(&want)));
    }
    let spares = spares_of(fs).len();
    if spares > 2 {
        return Err(format!("{spares} spares after two writable opens"));
    }
    Ok(())
}

fn common_collect(wal: &Wal) -> wal::Result<Vec<Row>> {
    let mut iter = wal.iter(0)?;
    let mut out = Vec::new();
    while let Some(r) = iter.next()? {
        out.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec()));
    }
    Ok(out)
}

// ---- damage ----

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    None,
    HeaderByte,
    PayloadByte,
    ZeroSector,
    ZeroSegmentHeader,
    Truncate,
    DeleteSegment,
    DuplicateSegment,
    RenameSegment,
    HugeLengthPastEof,
    /// A recycled segment whose zeroing was lost: the spare's old bytes
    /// where the new writer wrote nothing (or a power loss took what it
    /// wrote), old frames of the old salt after the new header.
    ZeroingLost,
}


impl Kind {
    /// Whether the damage lies in the segment `Case::seg` names.
    fn is_in_segment(self) -> bool {
        !matches!(self, Kind::None)
    }
}

/// One damage to apply: its kind, the segment, the frame (per-frame kinds)
/// and a seed for where exactly.
#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    seg: usize,
    frame: usize,
    seed: u64,
}

/// Every case of a world: each per-frame kind for each frame above the
/// floor, each per-segment kind for each segment holding such frames.
fn cases(world: &World, floor: u64, rng: &mut Rng) -> Vec<Case> {
    let mut out = vec![Case { kind: Kind::None, seg: 0, frame: 0, seed: 0 }];
    for (si, seg) in world.segs.iter().enumerate() {
        let live: Vec<usize> =
            (0..seg.frames.len()).filter(|&i| seg.frames[i].last_seq() > floor || seg.frames[i].first_seq > floor).collect();
        for &fi in &live {
            let f = &seg.frames[fi];
            for kind in [Kind::HeaderByte, Kind::PayloadByte, Kind::ZeroSector, Kind::Truncate, Kind::HugeLengthPastEof] {
                if kind == Kind::PayloadByte && f.is_mark() {
                    continue;
                }
                out.push(Case { kind, seg: si, frame: fi, seed: rng.next_u64() });
            }
        }
        if !live.is_empty() || si + 1 == world.segs.len() {
            for kind in [Kind::ZeroSegmentHeader, Kind::DeleteSegment, Kind::DuplicateSegment, Kind::RenameSegment] {
                out.push(Case { kind, seg: si, frame: 0, seed: rng.next_u64() });
            }
        }
        if world.recycled.contains_key(&seg.name) {
            for _ in 0..4 {
                out.push(Case { kind: Kind::ZeroingLost, seg: si, frame: 0, seed: rng.next_u64() });
            }
        }
    }
    out
}

/// Applies a case to a fork of the disk; None when it changes nothing.
fn damage(world: &World, case: &Case) -> Option<(SimFs, String)> {
    let fs = world.disk.fork();
    if case.kind == Kind::None {
        return Some((fs, "none".into()));
    }
    let seg = &world.segs[case.seg];
    let p = path(&seg.name);
    let mut bytes = fs.read_file(&p).ok()?;
    let before = bytes.clone();
    let mut rng = Rng::new(case.seed);
    let frame = seg.frames.get(case.frame);
    let mut detail = String::from("zeroed header");
    match case.kind {
        Kind::None => return Some((fs, "none".into())),
        Kind::HeaderByte => {
            let f = frame?;
            let at = (f.off + rng.below(FRAME_HEADER as u64)) as usize;
            let x = 1 + rng.below(255) as u8;
            *bytes.get_mut(at)? ^= x;
            detail = format!("byte {at} ^= {x:#x}");
        }
        Kind::PayloadByte => {
            let f = frame?;
            let at = (f.off + FRAME_HEADER as u64 + rng.below(f.len - FRAME_HEADER as u64)) as usize;
            let x = 1 + rng.below(255) as u8;
            *bytes.get_mut(at)? ^= x;
            detail = format!("byte {at} ^= {x:#x}");
        }
        Kind::ZeroSector => {
            let f = frame?;
            let at = f.off + rng.below(f.len);
            let start = (at / 512 * 512) as usize;
            let end = (start + 512).min(bytes.len());
            bytes.get_mut(start..end)?.fill(0);
            detail = format!("zeros over {start}..{end}");
        }
        Kind::ZeroSegmentHeader => bytes.get_mut(..SEG_HEADER)?.fill(0),
        Kind::Truncate => {
            let f = frame?;
            let at = f.off + rng.below(f.len);
            bytes.truncate(at as usize);
            detail = format!("cut to {at} bytes");
        }
        Kind::HugeLengthPastEof => {
            let f = frame?;
            let off = f.off as usize;
            let claims = [u32::MAX, MAX_BATCH_SIZE as u32, MAX_BATCH_SIZE as u32 + 1, 1 << 30, f.len as u32 + 4096 * 1024];
            let claim = claims[rng.below(claims.len() as u64) as usize];
            bytes.get_mut(off + 12..off + 16)?.copy_from_slice(&claim.to_le_bytes());
            let crc = salted_crc(seg.salt, &bytes[off + 4..off + FRAME_HEADER]);
            bytes[off..off + 4].copy_from_slice(&crc.to_le_bytes());
            detail = format!("payload_len {claim} at {off}, header resealed");
        }
        Kind::ZeroingLost => {
            let old = world.recycled.get(&seg.name)?;
            let (mut from, mut to) = (SEG_HEADER, old.len());
            if rng.below(2) == 0 {
                // Only some pages lost their zeroing.
                let pages = old.len().div_ceil(4096) as u64;
                let a = rng.below(pages);
                (from, to) = ((a * 4096) as usize, (((a + 1 + rng.below(4)) * 4096) as usize).min(old.len()));
                from = from.max(SEG_HEADER);
            }
            for at in from..to {
                let wrote = (at as u64) < seg.end && bytes.get(at) == Some(&seg.bytes[at]);
                if !wrote {
                    if bytes.len() <= at {
                        bytes.resize(at + 1, 0);
                    }
                    bytes[at] = old[at];
                }
            }
            detail = format!("the spare's old bytes over {from}..{to}, where the writer wrote nothing");
        }
        Kind::DeleteSegment => {
            fs.remove_file(&p).ok()?;
            return Some((fs, "deleted".into()));
        }
        Kind::DuplicateSegment | Kind::RenameSegment => {
            let taken = |seq: u64| fs.read_file(&path(&seg_name(seq))).is_ok();
            let choices: Vec<u64> = [seg.first_seq + 1, seg.first_seq.saturating_sub(1), last_truth_seq(world) + 1, seg.first_seq + 1000]
                .into_iter()
                .filter(|&s| s > 0 && !taken(s))
                .collect();
            let to = path(&seg_name(*choices.get(rng.below(choices.len().max(1) as u64) as usize)?));
            if case.kind == Kind::RenameSegment {
                fs.rename(&p, &to).ok()?;
            } else {
                fs.write_file(&to, &bytes).ok()?;
            }
            return Some((fs, format!("{} to {}", if case.kind == Kind::RenameSegment { "renamed" } else { "copied" }, to.display())));
        }
    }
    if bytes == before {
        return None;
    }
    fs.write_file(&p, &bytes).ok()?;
    Some((fs, detail))
}

// ---- the runs ----

/// The worlds: every (sync mode, preallocation, end) in turn, seeded.
fn world(index: u64) -> World {
    let sync = [SyncMode::Always, SyncMode::Every(1 + (index % 7) as u32), SyncMode::None][(index % 3) as usize];
    let preallocate = (index / 3) % 2 == 0;
    let end = [End::Clean, End::Kill, End::Crash][((index / 6) % 3) as usize];
    build_world(0xda4a_0000 + index, sync, preallocate, end)
}

#[derive(Default)]
struct Tally {
    tried: BTreeMap<Kind, u64>,
    no_change: u64,
    failures: Vec<String>,
    /// Worlds run; of them, worlds holding a recycled segment, and worlds
    /// with a spare on disk.
    worlds: u64,
    recycled_worlds: u64,
    spare_worlds: u64,
    /// Cases run on worlds holding a recycled segment; of them, cases whose
    /// damage lies in a recycled segment.
    on_recycled: u64,
    in_recycled: u64,
}


fn run_world(index: u64, budget: usize, tally: &mut Tally) {
    let world = world(index);
    let floor = world.disk.read_file(&path(META)).ok().and_then(|m| parse_floor(&m)).unwrap_or(0);
    tally.worlds += 1;
    tally.recycled_worlds += !world.recycled.is_empty() as u64;
    tally.spare_worlds += !spares_of(&world.disk).is_empty() as u64;
    let mut rng = Rng::new(index);
    let mut all = cases(&world, floor, &mut rng);
    // A seeded sample, round-robin over the kinds so each gets its share.
    let mut by_kind: BTreeMap<Kind, Vec<Case>> = BTreeMap::new();
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    for c in all {
        by_kind.entry(c.kind).or_default().push(c);
    }
    let mut picked = Vec::new();
    while picked.len() < budget && by_kind.values().any(|v| !v.is_empty()) {
        for v in by_kind.values_mut() {
            if let Some(c) = v.pop() {
                picked.push(c);
            }
        }
    }
    picked.truncate(budget.max(1));
    for case in picked {
        let Some((disk, detail)) = damage(&world, &case) else {
            tally.no_change += 1;
            continue;
        };
        *tally.tried.entry(case.kind).or_default() += 1;
        if !world.recycled.is_empty() {
            tally.on_recycled += 1;
            let damaged = world.segs.get(case.seg).filter(|_| case.kind.is_in_segment());
            tally.in_recycled += damaged.is_some_and(|s| world.recycled.contains_key(&s.name)) as u64;
        }
        if let Err(e) = check_disk(&world, &disk, SMALL_LOG_ALLOC_MAX) {
            let Some(s) = world.segs.get(case.seg) else {
                tally.failures.push(format!("world {index} (no segment): {e}\n    {}", world.desc));
                continue;
            };
            let at = s.frames.get(case.frame).map(|f| format!("frame at {} (seqs {}..={}, synced_end {})", f.off, f.first_seq, f.last_seq(), f.synced_end));
            tally.failures.push(format!(
                "world {index} case {case:?} in {} {} [{detail}; floor {floor}; {} segments]: {e}\n    {}\n    replay: WAL_DAMAGE_WORLD={index} cargo test --release --test damage -- damage_oracle --nocapture",
                s.name,
                at.unwrap_or_default(),
                world.segs.len(),
                world.desc
            ));
        }
    }
}

/// Cases `make check` runs (a few seconds); WAL_DAMAGE_CASES sets more.
const DEFAULT_CASES: u64 = 3000;
const CASES_PER_WORLD: usize = 60;

fn run_oracle(test: &str, strict: bool) {
    let started = std::time::Instant::now();
    STRICT.with(|s| s.set(strict));
    let cases = env_u64("WAL_DAMAGE_CASES").unwrap_or(DEFAULT_CASES);
    let mut tally = Tally::default();
    let worlds: Vec<u64> = match env_u64("WAL_DAMAGE_WORLD") {
        Some(w) => vec![w],
        None => (0..cases.div_ceil(CASES_PER_WORLD as u64)).collect(),
    };
    for index in worlds {
        run_world(index, CASES_PER_WORLD, &mut tally);
    }
    let counts: Vec<String> = tally.tried.iter().map(|(k, n)| format!("{k:?} {n}")).collect();
    report(&format!(
        "{test}: {} cases in {:.1}s ({}); {} damages that changed no byte skipped: {}",
        tally.tried.values().sum::<u64>(),
        started.elapsed().as_secs_f64(),
        counts.join(", "),
        tally.no_change,
        if tally.failures.is_empty() { "all agree with the oracle".to_string() } else { format!("{} DISAGREE", tally.failures.len()) }
    ));
    report(&format!(
        "{test}: {} worlds, {} holding a recycled segment, {} with a spare on disk; {} cases on worlds holding a \
         recycled segment, {} of them damaging a recycled segment",
        tally.worlds, tally.recycled_worlds, tally.spare_worlds, tally.on_recycled, tally.in_recycled
    ));
    KNOWN_HITS.with(|k| {
        for (tag, n) in k.borrow().iter() {
            report(&format!("{test}: {n} cases agree only through a known library deviation: {tag}"));
        }
    });
    for f in tally.failures.iter().take(30) {
        report(f);
    }
    assert!(tally.failures.is_empty(), "{} cases disagree with the oracle; first: {}", tally.failures.len(), tally.failures[0]);
}

/// Strict: none of the deviations the KNOWN_* tags name (bugs the oracle
/// found, fixed since; each has its regression test below) is accepted.
#[test]
fn damage_oracle() {
    run_oracle("damage_oracle", true);
}

// ---- what the oracle found (each was a library bug, fixed since) ----

fn sim_opts(segment_size: u64) -> Options {
    Options { segment_size, preallocate: false, ..Options::default() }
}

fn seg_names(fs: &SimFs) -> Vec<String> {
    files_of(fs).into_keys().filter(|n| seg_name_seq(n).is_some()).collect()
}

fn flip(fs: &SimFs, name: &str, at: usize) {
    let mut bytes = fs.read_file(&path(name)).unwrap();
    bytes[at] ^= 0x40;
    fs.write_file(&path(name), &bytes).unwrap();
}

fn replay_all(fs: &SimFs, opts: Options) -> Result<Vec<u64>, (&'static str, ErrorKind, String)> {
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).map_err(|e| ("open", e.kind(), e.to_string()))?;
    let rows = common_collect(&wal).map_err(|e| ("replay", e.kind(), e.to_string()))?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// A batch of records 1..=10 in the first segment, records 11..=40 after
/// it (four segments of 4 KiB), truncated up to `floor`, closed cleanly;
/// then one byte of the batch's payload flipped.
fn damaged_batch_below(floor: u64) -> SimFs {
    let fs = SimFs::new();
    let wal = open_on(&fs, sim_opts(4096));
    let values: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 20]).collect();
    let entries: Vec<Entry> = values.iter().map(|v| Entry { op: 1, key: b"k", value: v }).collect();
    assert_eq!(wal.append_batch(&entries).unwrap(), 10);
    for i in 11..=40u64 {
        wal.append(1, b"k", &vec![i as u8; 300]).unwrap();
    }
    wal.truncate(floor).unwrap();
    wal.close().unwrap();
    let first = seg_names(&fs)[0].clone();
    assert_eq!(first, seg_name(1));
    flip(&fs, &first, SEG_HEADER + FRAME_HEADER + 40); // inside the batch's payload
    fs
}

/// Control: with no floor, the damaged batch in an older segment is
/// WAL_E_CORRUPT from the replay.
#[test]
fn damage_in_an_older_segment_is_corrupt_from_the_replay() {
    let fs = damaged_batch_below(0);
    let err = replay_all(&fs, sim_opts(4096)).unwrap_err();
    assert_eq!((err.0, err.1), ("replay", ErrorKind::Corrupt), "{err:?}");
}

/// Found by the oracle. Records 6..=10 are above the floor 5 and lie in a
/// damaged frame: that is damage (WAL_E_CORRUPT, contract: "Damage met
/// while reading ... WAL_E_CORRUPT"), not a truncate racing the iterator.
/// The library says WAL_E_RANGE "record 1 was truncated while the iterator
/// was reading".
#[test]
fn damage_in_a_frame_holding_the_truncation_floor_is_corrupt_not_range() {
    let fs = damaged_batch_below(5);
    let err = replay_all(&fs, sim_opts(4096)).unwrap_err();
    assert_eq!((err.0, err.1), ("replay", ErrorKind::Corrupt), "{err:?}");
}

/// Records 1..=`n` of 300 bytes in 4-KiB segments, truncated up to
/// `floor`, closed cleanly.
fn clean_log(n: u64, floor: u64) -> SimFs {
    let fs = SimFs::new();
    let wal = open_on(&fs, sim_opts(4096));
    for i in 1..=n {
        wal.append(1, b"k", &vec![i as u8; 300]).unwrap();
    }
    wal.truncate(floor).unwrap();
    wal.close().unwrap();
    fs
}

/// Found by the oracle. A cleanly closed log of one segment (records
/// 1..=10, synced, acknowledged) whose segment file is removed: LOCK still
/// holds the clean-close mark naming that segment (its first seq, its salt,
/// the end of its durable data), so the log proves that records were there
/// and were durable (contract 0.2: "the last writer closed the log cleanly
/// after syncing them ... never cut in WAL_RECOVER_TAIL: damage there is
/// WAL_E_CORRUPT"). The library opens an empty log, last_seq 0, and hands
/// out seq 1 again. With an older segment left, the same removal of the
/// newest is WAL_E_CORRUPT (see the next test): only a log left with no
/// segment at all is taken for empty.
#[test]
fn a_cleanly_closed_log_whose_only_segment_is_gone_is_corrupt() {
    for floor in [0, 3] {
    let fs = clean_log(10, floor);
    let names = seg_names(&fs);
    assert_eq!(names.len(), 1);
    fs.remove_file(&path(&names[0])).unwrap();
    let got = replay_all(&fs, sim_opts(4096));
    assert!(matches!(got, Err((_, ErrorKind::Corrupt, _))), "floor {floor}: {got:?}");
    }
}

#[test]
fn a_cleanly_closed_log_whose_newest_segment_is_gone_is_corrupt() {
    let fs = clean_log(30, 3);
    let names = seg_names(&fs);
    assert!(names.len() >= 3, "{names:?}");
    fs.remove_file(&path(names.last().unwrap())).unwrap();
    let got = replay_all(&fs, sim_opts(4096));
    assert!(matches!(got, Err((_, ErrorKind::Corrupt, _))), "{got:?}");
}

/// Found by the oracle. Segments 1 and 12 hold records 1..=21; the newest,
/// 22, holds a header only (as a power loss that took its unsynced frames
/// leaves it). A copy of the first segment lies under the name of seq 15:
/// a file that may hold records and is not the segment its name says
/// (header seq 1, name 15). The contract: refused, not skipped (a `*.wal`
/// file that may hold records is damage; a header that disagrees with its
/// name is WAL_E_CORRUPT). The library opens the log and replays 1..=21
/// with no error: the replay ends at last_seq before it reaches the file.
/// With records in segment 22 the same stray is WAL_E_CORRUPT
/// ("overlaps ..."), as is a stray placed before the last record.
#[test]
fn a_stray_segment_after_the_last_record_is_corrupt() {
    let fs = SimFs::new();
    let wal = open_on(&fs, sim_opts(4096));
    for _ in 1..=21u64 {
        wal.append(1, b"k", &[7u8; 300]).unwrap();
    }
    wal.append(1, b"k", &[7u8; 3000]).unwrap(); // seq 22, in a segment of its own
    wal.close().unwrap();
    let names = seg_names(&fs);
    assert_eq!(names, vec![seg_name(1), seg_name(12), seg_name(22)]);
    // Segment 22 as a power loss leaves it: its header, no frame.
    let newest = fs.read_file(&path(&names[2])).unwrap();
    fs.write_file(&path(&names[2]), &newest[..SEG_HEADER]).unwrap();
    fs.write_file(&path(LOCK), b"").unwrap();
    let copy = fs.read_file(&path(&names[0])).unwrap();
    fs.write_file(&path(&seg_name(15)), &copy).unwrap();
    let got = replay_all(&fs, sim_opts(4096));
    assert!(matches!(got, Err((_, ErrorKind::Corrupt, _))), "{got:?}");
}

/// Found by the oracle. A batch of records 1..=10 and record 11, truncated
/// up to 5, closed cleanly; one byte of the batch flipped. SALVAGE keeps
/// nothing above the floor and last_seq stays 5 (right), so the first seq
/// it drops and will hand out again is 6; its report says
/// salvage_dropped_from 1, a seq truncated long ago (contract 0.2: "the
/// first seq dropped (handed out again)").
#[test]
fn salvage_never_reports_a_dropped_seq_below_the_floor() {
    let fs = SimFs::new();
    let wal = open_on(&fs, sim_opts(1 << 20));
    let entries: Vec<Entry> = (0..10).map(|_| Entry { op: 1, key: b"k", value: b"0123456789" }).collect();
    wal.append_batch(&entries).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    wal.truncate(5).unwrap();
    wal.close().unwrap();
    flip(&fs, &seg_name(1), SEG_HEADER + FRAME_HEADER + 40);
    let opts = Options { recovery_mode: RecoveryMode::Salvage, ..sim_opts(1 << 20) };
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (6, 5));
    assert_eq!(wal.open_report().salvage_dropped_from, 6, "{:?}", wal.open_report());
}

/// Found by attacking the clean-close mark. Records 1..=10, each synced as
/// it was appended, closed cleanly: the clean-close mark in LOCK is the
/// only proof for record 10 (no frame follows it). A writable open empties
/// LOCK (durably) and, after a clean close, writes no sync mark in its
/// place (the segment stays 1,452 bytes: 32 + 10 frames of 142). Killed
/// before its first append, the process leaves a log in which nothing
/// proves record 10 any more: one flipped byte in it is then cut by TAIL
/// as a torn write, silently (last_seq 10 -> 9, WAL_OK), although the
/// record was acknowledged, durable, and cleanly closed. The open itself
/// erased the proof (contract 0.2: bytes the last writer closed cleanly
/// after syncing are never cut). A power cut instead of the kill does the
/// same.
#[test]
fn a_writable_open_keeps_the_clean_close_proof_in_a_sync_mark() {
    let fs = SimFs::new();
    let wal = open_on(&fs, sim_opts(1 << 20));
    for i in 1..=10u64 {
        wal.append(1, b"k", &vec![i as u8; 100]).unwrap();
    }
    wal.close().unwrap();
    let seg = parse_segment(&seg_name(1), &fs.read_file(&path(&seg_name(1))).unwrap()).unwrap().0;
    let record_10 = seg.frames.iter().find(|f| f.first_seq == 10).unwrap().off as usize;
    // Opened for writing, then killed before anything is appended.
    let wal = open_on(&fs, sim_opts(1 << 20));
    let disk = fs.fork();
    drop(wal);
    flip(&disk, &seg_name(1), record_10 + FRAME_HEADER + 20);
    let got = replay_all(&disk, sim_opts(1 << 20));
    assert!(matches!(got, Err((_, ErrorKind::Corrupt, _))), "record 10 was cut: {got:?}");
}
