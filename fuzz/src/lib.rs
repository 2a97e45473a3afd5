//! A log directory built from arbitrary bytes, and what libwal must make of
//! it. The fuzz target `open_dir` calls `open_dir`; `tests/hostile.rs`
//! compiles this file too (`#[path]`) and runs it on seeded inputs, so both
//! drive the same code.
//!
//! The bytes are read as a small program, so that a fuzzer gets past the
//! checksums and reaches deep code:
//!
//! 1. options and a script of appends, batches, checkpoints and truncations,
//!    run through libwal itself on the simulated file system: the files are
//!    real segments with valid checksums and a real `wal.meta`;
//! 2. up to 16 edits of those files: flip a byte, overwrite bytes, write a
//!    u64 (a length, a seq), cut, extend, copy bytes from another file,
//!    delete, rename, add a stray file. No edit knows where a field lies
//!    inside a frame: offsets come from the input;
//! 3. four opens of the result: read-only and writable, TAIL and SALVAGE,
//!    each followed by a replay of every record.
//!
//! Whatever the bytes, libwal must not panic, and may fail only with
//! Corrupt, Io or Range, a Corrupt or Io error naming the file. A replay
//! returns consecutive seqs. A SALVAGE open that succeeds replays without
//! error. The views agree: when a TAIL open and its replay succeed, the
//! read-only open and SALVAGE read the same records. A writable open leaves
//! a sound log: one more append gets the next seq, and a reopen reads back
//! what was read plus that record.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wal::io::{Fs, SimFs};
use wal::segment::segment_name;
use wal::{Entry, Error, ErrorKind, Options, RecoveryMode, SyncMode, Wal, MIN_SEGMENT_SIZE};

/// Where the log lives on the simulated file system.
pub const DIR: &str = "/log";
const MAX_STEPS: u8 = 48;
const MAX_EDITS: usize = 16;

/// The files of a log directory: name -> bytes.
pub type Files = BTreeMap<String, Vec<u8>>;

/// A record read back: seq, op, key, value.
pub type Row = (u64, u8, Vec<u8>, Vec<u8>);

/// Builds the directory `data` describes and checks every way of opening it.
pub fn open_dir(data: &[u8]) {
    let (opts, files) = build(data);
    check(opts, &files);
}

/// The input, read front to back; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (&b, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        b
    }

    fn u16(&mut self) -> usize {
        u16::from_le_bytes([self.byte(), self.byte()]) as usize
    }

    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let (taken, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        taken.to_vec()
    }
}

/// Steps 1 and 2: the options, and the files of a written, then edited, log.
pub fn build(data: &[u8]) -> (Options, Files) {
    let mut input = Input(data);
    let flags = input.byte();
    let opts = Options {
        segment_size: MIN_SEGMENT_SIZE * (1 + (flags & 7) as u64),
        preallocate: flags & 8 != 0,
        sync_mode: SyncMode::None, // the close makes it durable
        ..Options::default()
    };
    let mut files = match flags & 0x30 {
        0x30 => Files::new(), // a directory of stray files only
        _ => write_log(opts, &mut input),
    };
    for _ in 0..MAX_EDITS {
        if input.0.is_empty() {
            break;
        }
        edit(&mut files, &mut input);
    }
    (opts, files)
}

/// Runs a script of writes through libwal; returns the files it left.
fn write_log(opts: Options, input: &mut Input) -> Files {
    let sim = SimFs::new();
    let wal = Wal::open_in(Arc::new(sim.clone()), DIR, opts).expect("a new log opens");
    for _ in 0..input.byte() % MAX_STEPS {
        if input.0.is_empty() {
            break;
        }
        let written = match input.byte() % 8 {
            0 => wal.checkpoint().map(drop),
            1 => wal.truncate(wal.last_seq() * input.byte() as u64 / 255),
            _ => append_batch(&wal, input),
        };
        written.expect("writing to a healthy log succeeds");
    }
    wal.close().expect("closing a healthy log succeeds");
    let dir = Path::new(DIR);
    let names = sim.list(dir).unwrap().into_iter().map(|n| n.into_string().unwrap());
    names.filter(|n| n != "LOCK").map(|n| (n.clone(), sim.read_file(&dir.join(n)).unwrap())).collect()
}

/// Appends a batch of 1 to 3 records of up to 24 + 3000 bytes.
fn append_batch(wal: &Wal, input: &mut Input) -> wal::Result<()> {
    let records: Vec<(u8, Vec<u8>, Vec<u8>)> = (0..1 + input.byte() % 3)
        .map(|_| {
            let op = 1 + input.byte() % 254;
            (op, pattern(op, input.byte() as usize % 24), pattern(!op, input.u16() % 3000))
        })
        .collect();
    let entries: Vec<Entry> = records.iter().map(|(op, key, value)| Entry { op: *op, key, value }).collect();
    wal.append_batch(&entries).map(drop)
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| seed.wrapping_add((i * 7) as u8)).collect()
}

/// A name for a renamed or added file: a segment name (far off, or near
/// the real ones), libwal's metadata names, a `.wal` name that is not a
/// segment name, an unrelated file.
fn some_name(input: &mut Input) -> String {
    match input.byte() % 6 {
        0 => segment_name(input.u64()),
        1 => segment_name(input.byte() as u64),
        2 => "wal.meta".into(),
        3 => "wal.meta.tmp".into(),
        4 => "notes.wal".into(),
        _ => "README".into(),
    }
}

/// A hostile length: the first frame header of a segment file claims a
/// huge payload (up to u32::MAX, past WAL_MAX_BATCH_SIZE and the file),
/// with its checksum made right again from the segment's salt, as a
/// hostile writer would (docs/FORMAT.md). Nothing may be reserved for it.
fn claim_a_huge_length(bytes: &mut [u8], input: &mut Input) {
    const FRAME: usize = 32; // the first frame starts after the segment header
    if bytes.len() < FRAME + 32 {
        return;
    }
    let claim = (input.u64() as u32) | (1 << 24);
    bytes[FRAME + 12..FRAME + 16].copy_from_slice(&claim.to_le_bytes());
    let salt = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let mut crc = crc32fast::Hasher::new_with_initial(salt);
    crc.update(&bytes[FRAME + 4..FRAME + 32]);
    let crc = crc.finalize();
    bytes[FRAME..FRAME + 4].copy_from_slice(&crc.to_le_bytes());
}

/// One edit of one file.
fn edit(files: &mut Files, input: &mut Input) {
    let kind = input.byte() % 10;
    if kind == 9 {
        let segments: Vec<String> = files.keys().filter(|n| n.ends_with(".wal")).cloned().collect();
        if let Some(name) = segments.get(input.byte() as usize % segments.len().max(1)) {
            claim_a_huge_length(files.get_mut(name).unwrap(), input);
        }
        return;
    }
    let names: Vec<String> = files.keys().cloned().collect();
    if kind == 8 || names.is_empty() {
        let name = some_name(input);
        let len = input.u16() % 512;
        files.insert(name, input.bytes(len));
        return;
    }
    let name = &names[input.byte() as usize % names.len()];
    match kind {
        5 => {
            files.remove(name);
            return;
        }
        6 => {
            let bytes = files.remove(name).unwrap();
            files.insert(some_name(input), bytes);
            return;
        }
        _ => {}
    }
    let donor = files[&names[input.byte() as usize % names.len()]].clone();
    let bytes = files.get_mut(name).unwrap();
    let at = input.u16() % (bytes.len() + 1);
    match kind {
        0 => {
            if let Some(b) = bytes.get_mut(at) {
                *b ^= input.byte() | 1;
            }
        }
        1 => {
            let len = input.byte() as usize % 16;
            overwrite(bytes, at, &input.bytes(len));
        }
        2 => overwrite(bytes, at, &input.u64().to_le_bytes()),
        3 => bytes.truncate(at),
        4 => {
            let len = input.u16() % 4096;
            let fill = input.byte();
            bytes.resize(bytes.len() + len, fill);
        }
        _ => {
            // Splice: a piece of another file (or of this one) lands here.
            let from = input.u16() % (donor.len() + 1);
            let to = (from + input.u16()).min(donor.len());
            overwrite(bytes, at, &donor[from..to]);
        }
    }
}

fn overwrite(bytes: &mut Vec<u8>, at: usize, with: &[u8]) {
    let end = at + with.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[at..end].copy_from_slice(with);
}

/// What an open and a replay gave: the records, or which of the two
/// failed and how.
pub type Outcome = Result<Vec<Row>, (&'static str, ErrorKind)>;

/// Step 3: opens the directory every way and checks the rules above.
pub fn check(opts: Options, files: &Files) {
    let view = |recovery_mode, read_only| view(files, Options { recovery_mode, read_only, ..opts });
    let ro_tail = view(RecoveryMode::Tail, true);
    let ro_salvage = view(RecoveryMode::Salvage, true);
    let tail = view(RecoveryMode::Tail, false);
    let salvage = view(RecoveryMode::Salvage, false);
    for outcome in [&ro_salvage, &salvage] {
        assert!(!matches!(outcome, Err(("replay", _))), "a SALVAGE open left damage for the replay: {outcome:?}");
    }
    if tail.is_ok() {
        assert_eq!(ro_tail, tail, "a read-only TAIL open reads what a writable one does");
        assert!(salvage == tail, "SALVAGE keeps every record of a log that TAIL reads whole: TAIL {}, SALVAGE {}", summary(&tail), summary(&salvage));
    }
    if salvage.is_ok() {
        assert_eq!(ro_salvage, salvage, "a read-only SALVAGE open reads what a writable one keeps");
    }
}

/// The seqs of an outcome, or its error: short enough to print.
fn summary(outcome: &Outcome) -> String {
    match outcome {
        Ok(rows) => format!("{:?}", rows.iter().map(|r| r.0).collect::<Vec<_>>()),
        Err(e) => format!("{e:?}"),
    }
}

/// Opens a fresh copy of the files and replays every record; after a
/// writable open, checks that the log takes an append and reads back.
pub fn view(files: &Files, opts: Options) -> Outcome {
    let sim = SimFs::new();
    sim.create_dir_all(Path::new(DIR)).unwrap();
    for (name, bytes) in files {
        sim.write_file(&Path::new(DIR).join(name), bytes).unwrap();
    }
    let wal = Wal::open_in(Arc::new(sim.clone()), DIR, opts).map_err(|e| ("open", clean(e)))?;
    let rows = replay(&wal).map_err(|e| ("replay", clean(e)))?;
    if !opts.read_only {
        append_and_reopen(&sim, wal, &rows, opts);
    }
    Ok(rows)
}

/// Every record, checked to come in consecutive seqs.
pub fn replay(wal: &Wal) -> wal::Result<Vec<Row>> {
    let mut iter = wal.iter(0)?;
    let mut rows: Vec<Row> = Vec::new();
    while let Some(r) = iter.next()? {
        if let Some(prev) = rows.last() {
            assert_eq!(r.seq, prev.0 + 1, "a replay skipped or repeated a seq");
        }
        rows.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec()));
    }
    if let Some(last) = rows.last() {
        assert_eq!(last.0, wal.last_seq(), "the replay ends at last_seq");
    }
    Ok(rows)
}

/// A failure must be one a caller can act on; Corrupt and Io name the file.
pub fn clean(e: Error) -> ErrorKind {
    match e.kind() {
        ErrorKind::Corrupt | ErrorKind::Io => assert!(e.message().contains(DIR), "the error names no file: {e}"),
        ErrorKind::Range => {}
        other => panic!("unexpected {other:?} error: {e}"),
    }
    e.kind()
}

/// After a writable open: the next append gets last_seq + 1, and a reopen
/// reads back the records plus that one.
fn append_and_reopen(sim: &SimFs, wal: Wal, rows: &[Row], opts: Options) {
    let last = wal.last_seq();
    let seq = match wal.append(1, b"after", b"recovery") {
        Ok(seq) => seq,
        Err(e) if e.kind() == ErrorKind::Range => return, // the seqs are exhausted
        Err(e) => panic!("append after a successful open failed: {e}"),
    };
    assert_eq!(seq, last + 1, "the first append after recovery gets last_seq + 1");
    wal.close().expect("closing a repaired log succeeds");
    let opts = Options { recovery_mode: RecoveryMode::Tail, ..opts };
    let reopened = Wal::open_in(Arc::new(sim.clone()), DIR, opts).expect("a repaired log reopens");
    let mut expected = rows.to_vec();
    expected.push((seq, 1, b"after".to_vec(), b"recovery".to_vec()));
    let reread = replay(&reopened).expect("a repaired log replays");
    assert_eq!(reread, expected, "a reopen reads what was there plus the new record");
}
