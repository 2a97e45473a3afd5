//! The worked example of docs/FORMAT.md, written through the public API, and
//! checked against the document: every hex dump and every annotated field
//! there must be the bytes the code writes now.
//!
//! To regenerate the dumps:
//!
//! ```text
//! WAL_FORMAT_EXAMPLE_DIR=/tmp/ex cargo test --release --test format_example
//! xxd /tmp/ex/always/00000000000000000001.wal      # and so on
//! ```
//!
//! leaves the example logs in `/tmp/ex/<name>/` (the names the document's
//! `<!-- dump: NAME/FILE -->` markers use). A new segment gets a random salt,
//! so the salt and the CRCs it starts (the segment header's salt, each frame
//! header's header_crc, the clean-close mark's salt and CRC) differ from run
//! to run: the test compares every other byte with the document's dump, and
//! checks those by recomputing them, as FORMAT.md says, from the salt in the
//! document's own dump.

mod common;
use common::TempDir;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use wal::{Entry, Options, SyncMode, Wal};

const SEGMENT_1: &str = "00000000000000000001.wal";
const SEGMENT_5: &str = "00000000000000000005.wal";

/// zlib's `crc32(data, start)`, bit by bit from its definition, so that the
/// test does not check the code's CRCs with the code's own function.
fn crc32(start: u32, data: &[u8]) -> u32 {
    let mut crc = !start;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

/// One frame header as FORMAT.md lays it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Frame {
    offset: usize,
    count: u32,
    payload_len: u32,
    first_seq: u64,
    synced_end: u64,
}

/// Walks a segment file as FORMAT.md says a reader does, asserting every
/// rule it states on the way: the header's magic, version and CRC, each
/// frame's header CRC (started from the salt) and payload CRC, the seqs, the
/// entries filling the payload, synced_end never past the frame's offset,
/// and nothing but zeros after the frames. Returns the frames and the salt.
fn walk_segment(d: &[u8], first_seq: u64) -> (Vec<Frame>, u32) {
    assert!(d.len() >= 32);
    assert_eq!(&d[0..8], b"LIBWALSG");
    assert_eq!(u32_at(d, 8), 3, "version");
    let salt = u32_at(d, 12);
    assert_eq!(u64_at(d, 16), first_seq);
    assert_eq!(u32_at(d, 24), 0);
    assert_eq!(crc32(0, &d[0..28]), u32_at(d, 28), "segment header CRC");
    let mut frames = Vec::new();
    let (mut at, mut expected, mut last_synced) = (32usize, first_seq, 32u64);
    while at + 32 <= d.len() && d[at..at + 32].iter().any(|&b| b != 0) {
        let h = &d[at..at + 32];
        assert_eq!(crc32(salt, &h[4..32]), u32_at(h, 0), "header_crc of the frame at {at:#x}");
        let f = Frame {
            offset: at,
            count: u32_at(h, 8),
            payload_len: u32_at(h, 12),
            first_seq: u64_at(h, 16),
            synced_end: u64_at(h, 24),
        };
        assert_eq!(f.first_seq, expected, "first_seq of the frame at {at:#x}");
        assert!(f.synced_end >= last_synced && f.synced_end <= at as u64, "synced_end at {at:#x}");
        let payload = &d[at + 32..at + 32 + f.payload_len as usize];
        assert_eq!(crc32(0, payload), u32_at(h, 4), "payload_crc of the frame at {at:#x}");
        let mut p = 0;
        for _ in 0..f.count {
            let (k, v) = (u32_at(payload, p + 1), u32_at(payload, p + 5));
            p += 9 + k as usize + v as usize;
        }
        assert_eq!(p, payload.len(), "the entries fill the payload of the frame at {at:#x}");
        if f.count == 0 {
            assert_eq!(u32_at(h, 4), 0, "a sync mark's payload_crc");
        }
        frames.push(f);
        expected += f.count as u64;
        last_synced = f.synced_end;
        at += 32 + f.payload_len as usize;
    }
    assert!(d[at..].iter().all(|&b| b == 0), "only zeros after the last frame");
    (frames, salt)
}

/// The first seq a segment's name ("dir/NNN.wal") says.
fn first_seq_of(name: &str) -> u64 {
    name.rsplit('/').next().unwrap().trim_end_matches(".wal").parse().unwrap()
}

/// The bytes that depend on the segment's random salt.
fn salted_positions(name: &str, d: &[u8]) -> Vec<usize> {
    match name {
        n if n.ends_with(".wal") => {
            let (frames, _) = walk_segment(d, first_seq_of(n));
            let mut at: Vec<usize> = (12..16).chain(28..32).collect();
            at.extend(frames.iter().flat_map(|f| f.offset..f.offset + 4));
            at
        }
        n if n.ends_with("LOCK") => (12..16).chain(36..40).collect(),
        _ => Vec::new(),
    }
}

/// Checks a clean-close mark as FORMAT.md lays it out: (salt, first_seq, end).
fn clean_mark(d: &[u8]) -> (u32, u64, u64) {
    assert_eq!(d.len(), 40);
    assert_eq!(&d[0..8], b"LIBWALCL");
    assert_eq!(u32_at(d, 8), 3);
    assert_eq!(u32_at(d, 32), 0);
    assert_eq!(crc32(0, &d[0..36]), u32_at(d, 36), "clean-close mark CRC");
    (u32_at(d, 12), u64_at(d, 16), u64_at(d, 24))
}

fn example_options(sync_mode: SyncMode, preallocate: bool) -> Options {
    Options { sync_mode, preallocate, segment_size: 4096, ..Options::default() }
}

/// The calls of the worked example: a record, a batch of two, a checkpoint.
fn write_example(dir: &Path, opts: Options) {
    let wal = Wal::open(dir, opts).unwrap();
    assert_eq!(wal.append(1, b"a", b"xy").unwrap(), 1);
    let batch = [Entry { op: 1, key: b"b", value: b"1" }, Entry { op: 2, key: b"c", value: b"" }];
    assert_eq!(wal.append_batch(&batch).unwrap(), 3);
    assert_eq!(wal.checkpoint().unwrap(), 4);
    wal.close().unwrap();
}

/// Writes every log the document shows into `root`; returns the files by
/// the names the document's markers use.
fn write_examples(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut keep = |name: &str, path: PathBuf| {
        files.insert(name.to_string(), std::fs::read(&path).unwrap());
    };
    let always = root.join("always");
    write_example(&always, example_options(SyncMode::Always, false));
    keep("always/LOCK", always.join("LOCK"));
    keep(&format!("always/{SEGMENT_1}"), always.join(SEGMENT_1));

    let none = root.join("none");
    write_example(&none, example_options(SyncMode::None, false));
    keep("none/LOCK", none.join("LOCK"));
    keep(&format!("none/{SEGMENT_1}"), none.join(SEGMENT_1));

    let prealloc = root.join("prealloc");
    write_example(&prealloc, example_options(SyncMode::Always, true));
    keep(&format!("prealloc/{SEGMENT_1}"), prealloc.join(SEGMENT_1));

    // The same log reopened: what a writable open adds, seen while it is open.
    let reopened = root.join("reopened");
    write_example(&reopened, example_options(SyncMode::Always, false));
    let wal = Wal::open(&reopened, example_options(SyncMode::Always, false)).unwrap();
    assert!(wal.open_report().clean_close);
    keep("reopened/LOCK", reopened.join("LOCK"));
    keep(&format!("reopened/{SEGMENT_1}"), reopened.join(SEGMENT_1));
    wal.close().unwrap();

    let truncated = root.join("truncated");
    write_example(&truncated, example_options(SyncMode::Always, false));
    let wal = Wal::open(&truncated, example_options(SyncMode::Always, false)).unwrap();
    wal.truncate(4).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (5, 4));
    wal.close().unwrap();
    keep("truncated/LOCK", truncated.join("LOCK"));
    keep("truncated/wal.meta", truncated.join("wal.meta"));
    assert!(!truncated.join(SEGMENT_1).exists(), "the truncate deleted the segment");
    let wal = Wal::open(&truncated, example_options(SyncMode::Always, false)).unwrap();
    assert_eq!(wal.append(1, b"d", b"").unwrap(), 5);
    wal.close().unwrap();
    keep(&format!("truncated/{SEGMENT_5}"), truncated.join(SEGMENT_5));
    files
}

/// A dump in the document: its bytes by offset, from an `xxd` or `xxd -a`
/// listing (a `*` line repeats the line before it up to the next offset).
fn parse_dump(lines: &[&str]) -> BTreeMap<usize, u8> {
    let mut bytes = BTreeMap::new();
    let mut previous: Option<(usize, Vec<u8>)> = None;
    let mut repeat = false;
    for line in lines {
        if line.trim() == "*" {
            repeat = true;
            continue;
        }
        let (offset, rest) = line.split_once(": ").unwrap_or_else(|| panic!("not an xxd line: {line:?}"));
        let offset = usize::from_str_radix(offset, 16).unwrap();
        // The hex part is 8 groups of 4 digits, then two spaces and the text.
        let hex: String = rest[..rest.len().min(39)].chars().filter(|c| !c.is_whitespace()).collect();
        let row: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect();
        if repeat {
            let (from, prev) = previous.clone().unwrap();
            let mut at = from + 16;
            while at < offset {
                bytes.extend(prev.iter().enumerate().map(|(i, &b)| (at + i, b)));
                at += 16;
            }
            repeat = false;
        }
        bytes.extend(row.iter().enumerate().map(|(i, &b)| (offset + i, b)));
        previous = Some((offset, row));
    }
    bytes
}

/// An annotated field: `  0xOFF  hh hh ...  name VALUE ...`, where VALUE
/// (decimal or 0x-hex) is the little-endian value of the bytes, and an
/// optional `= CRC-32(bytes 0xA..0xB)` (`started from the salt`) names what
/// the bytes are the CRC of.
struct Field {
    offset: usize,
    bytes: Vec<u8>,
    value: Option<u64>,
    crc_of: Option<(usize, usize, bool)>,
}

fn parse_fields(lines: &[&str]) -> Vec<Field> {
    let mut fields = Vec::new();
    for line in lines {
        let Some(rest) = line.trim_start().strip_prefix("0x") else { continue };
        let (offset, rest) = rest.split_once("  ").unwrap();
        let offset = usize::from_str_radix(offset, 16).unwrap();
        let mut bytes = Vec::new();
        let mut text = rest.trim_start();
        while let Some((word, more)) = text.split_once(' ') {
            match (word.len(), u8::from_str_radix(word, 16)) {
                (2, Ok(b)) => bytes.push(b),
                _ => break,
            }
            text = more;
        }
        let text = text.trim_start();
        // "count 2", "synced_end 0x4c: ...", not "entry seq 2: op 1 (PUT)".
        let mut words = text.split([' ', ':', ',']);
        let value = match (words.next(), words.next()) {
            (Some(name), Some(v)) if name != "entry" && name.chars().all(|c| c.is_ascii_lowercase() || c == '_') => {
                match v.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16).ok(),
                    None => v.parse().ok(),
                }
            }
            _ => None,
        };
        let crc_of = text.split_once("CRC-32(bytes 0x").map(|(_, range)| {
            let (from, rest) = range.split_once("..0x").unwrap();
            let (to, rest) = rest.split_once(')').unwrap();
            let from = usize::from_str_radix(from, 16).unwrap();
            (from, usize::from_str_radix(to, 16).unwrap(), rest.starts_with(" started from the salt"))
        });
        fields.push(Field { offset, bytes, value, crc_of });
    }
    fields
}

/// The code blocks that follow `<!-- KIND: NAME -->` markers in the document.
fn marked_blocks<'a>(doc: &'a str, kind: &str) -> Vec<(String, Vec<&'a str>)> {
    let mut blocks = Vec::new();
    let mut lines = doc.lines();
    let prefix = format!("<!-- {kind}: ");
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix(&prefix).and_then(|r| r.strip_suffix(" -->")) else { continue };
        assert_eq!(lines.next().map(str::trim), Some("```"), "a code block follows the marker {name}");
        let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
        blocks.push((name.to_string(), body));
    }
    blocks
}

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/FORMAT.md")).unwrap()
}

#[test]
fn the_worked_example_of_format_md_is_what_the_code_writes() {
    let tmp = TempDir::new("format-example");
    let root = match std::env::var_os("WAL_FORMAT_EXAMPLE_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            for sub in ["always", "none", "prealloc", "reopened", "truncated"] {
                let _ = std::fs::remove_dir_all(dir.join(sub));
            }
            dir
        }
        None => tmp.path().to_path_buf(),
    };
    let files = write_examples(&root);

    // What the document says of the bytes, beside the dumps.
    let seg = &files[&format!("always/{SEGMENT_1}")];
    let (frames, salt) = walk_segment(seg, 1);
    let layout: Vec<_> = frames.iter().map(|f| (f.offset, f.count, f.payload_len, f.first_seq, f.synced_end)).collect();
    assert_eq!(
        layout,
        [(0x20, 1, 12, 1, 0x20), (0x4c, 2, 21, 2, 0x4c), (0x81, 1, 9, 4, 0x81), (0xaa, 0, 0, 5, 0xaa)]
    );
    assert_eq!(seg.len(), 0xca);
    assert_eq!(clean_mark(&files["always/LOCK"]), (salt, 1, 0xaa));

    let none = &files[&format!("none/{SEGMENT_1}")];
    let (frames, salt) = walk_segment(none, 1);
    let synced: Vec<_> = frames.iter().map(|f| (f.offset, f.synced_end)).collect();
    assert_eq!(synced, [(0x20, 0x20), (0x4c, 0x20), (0x81, 0x20), (0xaa, 0xaa)]);
    assert_eq!(clean_mark(&files["none/LOCK"]), (salt, 1, 0xaa));
    // Apart from synced_end and the CRCs, the same bytes as in WAL_SYNC_ALWAYS.
    let differ: Vec<usize> = (0..seg.len()).filter(|&i| seg[i] != none[i]).collect();
    let salted = salted_positions(SEGMENT_1, seg);
    assert!(differ.iter().all(|i| salted.contains(i) || [0x64, 0x99].contains(i)), "{differ:x?}");

    let prealloc = &files[&format!("prealloc/{SEGMENT_1}")];
    assert_eq!(prealloc.len(), 4096);
    assert_eq!(walk_segment(prealloc, 1).0.len(), 4);

    let reopened = &files[&format!("reopened/{SEGMENT_1}")];
    let (frames, reopened_salt) = walk_segment(reopened, 1);
    let last = *frames.last().unwrap();
    // Every record was proven: the open writes no sync mark of its own.
    assert_eq!((frames.len(), last.offset, last.count, last.first_seq, last.synced_end), (4, 0xaa, 0, 5, 0xaa));
    assert_eq!(reopened.len(), 0xca);
    // The mark stays while it is true (the open changed nothing it
    // describes): LOCK still holds it.
    assert_eq!(clean_mark(&files["reopened/LOCK"]), (reopened_salt, 1, 0xaa), "a writable open keeps a true mark");

    assert!(files["truncated/LOCK"].is_empty(), "no segment at close: no clean-close mark");
    let meta = &files["truncated/wal.meta"];
    // Two slots, both holding floor 4: generations 4 (at 0) and 3 (at 512).
    for (at, generation) in [(0, 4), (512, 3)] {
        let slot = &meta[at..at + 512];
        assert_eq!((&slot[0..8], u32_at(slot, 8), u32_at(slot, 12)), (&b"LIBWALMT"[..], 3, 0));
        assert_eq!((u64_at(slot, 16), u64_at(slot, 24)), (4, generation));
        assert!(slot[32..508].iter().all(|&b| b == 0));
        assert_eq!(crc32(0, &slot[0..508]), u32_at(slot, 508));
    }
    assert_eq!(meta.len(), 1024);
    assert_eq!(walk_segment(&files[&format!("truncated/{SEGMENT_5}")], 5).0[0].first_seq, 5);

    // Every dump in the document.
    let doc = doc();
    let dumps = marked_blocks(&doc, "dump");
    assert!(dumps.len() >= 4, "the document's dumps are marked");
    let mut dumped: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (name, lines) in &dumps {
        let generated = files.get(name).unwrap_or_else(|| panic!("the document dumps {name}, which the test does not write"));
        let shown = parse_dump(lines);
        let (first, last) = (*shown.keys().next().unwrap(), *shown.keys().last().unwrap());
        assert_eq!(last + 1, generated.len(), "{name}: the dump ends where the file ends");
        assert_eq!(shown.len(), last + 1 - first, "{name}: the dump has no holes");
        let salted = salted_positions(name, generated);
        for (&at, &b) in &shown {
            if !salted.contains(&at) {
                assert_eq!(b, generated[at], "{name}: byte {at:#x} of the dump is not what the code writes");
            }
        }
        if first == 0 {
            // A whole file: its own salt must make every CRC in it check out.
            let bytes: Vec<u8> = shown.values().copied().collect();
            match name {
                n if n.ends_with(".wal") => {
                    walk_segment(&bytes, first_seq_of(n));
                }
                n if n.ends_with("LOCK") => {
                    clean_mark(&bytes);
                }
                _ => {}
            }
            dumped.insert(name.clone(), bytes);
        }
    }
    // A mark names its segment's salt: the document's LOCK and segment
    // dumps come from the same run.
    for (name, lock) in dumped.iter().filter(|(n, l)| n.ends_with("LOCK") && !l.is_empty()) {
        let dir = name.trim_end_matches("LOCK");
        if let Some(seg) = dumped.get(&format!("{dir}{SEGMENT_1}")) {
            assert_eq!(clean_mark(lock).0, u32_at(seg, 12), "{name}: the salt of the dumped segment");
        }
    }

    // Every annotated field: the bytes of the document's dump of that file.
    let fields = marked_blocks(&doc, "fields");
    let mut checked = 0;
    assert!(!fields.is_empty(), "the document's annotations are marked");
    for (name, lines) in &fields {
        let shown = dumped.get(name).unwrap_or_else(|| panic!("annotations of {name}, which the document does not dump"));
        let parsed = parse_fields(lines);
        assert!(!parsed.is_empty(), "{name}: annotations found");
        for f in parsed {
            let at = f.offset;
            assert_eq!(&shown[at..at + f.bytes.len()], &f.bytes[..], "{name}: the field annotated at {at:#x}");
            let mut le = [0u8; 8];
            le[..f.bytes.len().min(8)].copy_from_slice(&f.bytes[..f.bytes.len().min(8)]);
            if let Some(value) = f.value {
                assert_eq!(value, u64::from_le_bytes(le), "{name}: the value annotated at {at:#x}");
                checked += 1;
            }
            if let Some((from, to, salted)) = f.crc_of {
                let salt = if salted { u32_at(shown, 12) } else { 0 };
                assert_eq!(crc32(salt, &shown[from..to]) as u64, u64::from_le_bytes(le), "{name}: the CRC at {at:#x}");
                checked += 1;
            }
        }
    }    // 54 values and CRCs when this was written: the parser must find them.
    assert!(checked >= 40, "only {checked} annotated values and CRCs were found");
}
