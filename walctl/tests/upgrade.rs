//! `walctl upgrade` end to end: libwal 0.1 logs (format version 2) built
//! byte by byte here, from the version 2 format document, the real binary
//! run on them, and the result opened with the `wal` crate.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{Row, TempDir, flip_byte};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use wal::{ErrorKind, Options, Wal};

/// Format version 2, written from `git show f69018c:docs/FORMAT.md`.
mod v2 {
    /// magic | version 2 | 0 | value u64 | 0 | CRC-32 of bytes 0..28.
    pub fn header32(magic: &[u8; 8], value: u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(magic);
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[16..24].copy_from_slice(&value.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    pub fn segment_header(first_seq: u64) -> [u8; 32] {
        header32(b"LIBWALSG", first_seq)
    }

    pub fn meta(floor: u64) -> [u8; 32] {
        header32(b"LIBWALMT", floor)
    }

    /// LOCK after a clean close: magic | first_seq | end | version 2 | crc.
    pub fn clean_mark(first_seq: u64, end: u64) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(b"LIBWALCL");
        b[8..16].copy_from_slice(&first_seq.to_le_bytes());
        b[16..24].copy_from_slice(&end.to_le_bytes());
        b[24..28].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&b[..28]);
        b[28..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// crc u32 (of bytes 4..32 and the payload) | count u32 | payload_len u64
    /// | first_seq u64 | synced_end u64 | entries (op u8, key_len u32,
    /// value_len u32, key, value).
    pub fn frame(first_seq: u64, synced_end: u64, entries: &[(u8, &[u8], &[u8])]) -> Vec<u8> {
        let mut f = vec![0u8; 32];
        for (op, key, value) in entries {
            f.push(*op);
            f.extend_from_slice(&(key.len() as u32).to_le_bytes());
            f.extend_from_slice(&(value.len() as u32).to_le_bytes());
            f.extend_from_slice(key);
            f.extend_from_slice(value);
        }
        let payload_len = (f.len() - 32) as u64;
        f[4..8].copy_from_slice(&(entries.len() as u32).to_le_bytes());
        f[8..16].copy_from_slice(&payload_len.to_le_bytes());
        f[16..24].copy_from_slice(&first_seq.to_le_bytes());
        f[24..32].copy_from_slice(&synced_end.to_le_bytes());
        let crc = crc32fast::hash(&f[4..]);
        f[..4].copy_from_slice(&crc.to_le_bytes());
        f
    }
}

/// Writes a version 2 log as libwal 0.1's writer did with one thread in
/// WAL_SYNC_ALWAYS: each frame's synced_end is its own offset; a new
/// segment when a frame would take the newest past `segment_size`; each
/// segment preallocated (zeros up to `segment_size`) if asked.
struct Writer {
    dir: PathBuf,
    segment_size: u64,
    preallocate: bool,
    /// (first seq, bytes) of each segment.
    segments: Vec<(u64, Vec<u8>)>,
    /// (segment index, offset, first seq, count) of each frame.
    frames: Vec<(usize, u64, u64, usize)>,
    next_seq: u64,
    rows: Vec<Row>,
}

impl Writer {
    fn new(dir: &Path, segment_size: u64, preallocate: bool) -> Writer {
        Writer {
            dir: dir.to_path_buf(),
            segment_size,
            preallocate,
            segments: Vec::new(),
            frames: Vec::new(),
            next_seq: 1,
            rows: Vec::new(),
        }
    }

    /// Appends one frame; returns its last seq.
    fn batch(&mut self, entries: &[(u8, Vec<u8>, Vec<u8>)]) -> u64 {
        let borrowed: Vec<(u8, &[u8], &[u8])> = entries.iter().map(|(o, k, v)| (*o, &k[..], &v[..])).collect();
        let len = 32 + entries.iter().map(|(_, k, v)| 9 + k.len() + v.len()).sum::<usize>();
        let full = self.segments.last().is_none_or(|(_, s)| s.len() > 32 && (s.len() + len) as u64 > self.segment_size);
        if full {
            self.segments.push((self.next_seq, v2::segment_header(self.next_seq).to_vec()));
        }
        let index = self.segments.len() - 1;
        let segment = &mut self.segments[index].1;
        let offset = segment.len() as u64;
        segment.extend_from_slice(&v2::frame(self.next_seq, offset, &borrowed));
        self.frames.push((index, offset, self.next_seq, entries.len()));
        for (op, key, value) in entries {
            self.rows.push((self.next_seq, *op, key.clone(), value.clone()));
            self.next_seq += 1;
        }
        self.next_seq - 1
    }

    fn put(&mut self, seq_hint: u64, value_len: usize) -> u64 {
        self.batch(&[put(seq_hint, value_len)])
    }

    fn checkpoint(&mut self) -> u64 {
        self.batch(&[(255, Vec::new(), Vec::new())])
    }

    fn path(&self, segment: usize) -> PathBuf {
        self.dir.join(format!("{:020}.wal", self.segments[segment].0))
    }

    /// Writes the segment files and an empty LOCK (a 0.1 writer's, after a
    /// crash or while open).
    fn write(&self) {
        fs::create_dir_all(&self.dir).unwrap();
        fs::write(self.dir.join("LOCK"), b"").unwrap();
        for (i, (_, bytes)) in self.segments.iter().enumerate() {
            let file = File::create(self.path(i)).unwrap();
            file.write_all_at(bytes, 0).unwrap();
            if self.preallocate && (bytes.len() as u64) < self.segment_size {
                file.set_len(self.segment_size).unwrap(); // zeros
            }
        }
    }

    /// The end of the frames of segment `i`.
    fn data_end(&self, i: usize) -> u64 {
        self.segments[i].1.len() as u64
    }

    fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }
}

fn put(i: u64, value_len: usize) -> (u8, Vec<u8>, Vec<u8>) {
    (1, format!("key-{i}").into_bytes(), (0..value_len).map(|j| (i as usize * 7 + j) as u8).collect())
}

/// Several segments of 4 KiB, preallocated: single records, a batch with an
/// empty value, a DELETE and an empty key, a checkpoint, batches of up to 5.
fn mixed(dir: &Path) -> Writer {
    let mut w = Writer::new(dir, 4096, true);
    for i in 1..=40 {
        w.put(i, 100);
    }
    w.batch(&[put(41, 10), put(42, 0), (2, b"key-41".to_vec(), Vec::new()), (9, Vec::new(), b"v".to_vec())]);
    w.checkpoint();
    for i in 0..30u64 {
        let n = 1 + i % 5;
        let entries: Vec<_> = (0..n).map(|j| put(100 + i * 5 + j, (j * 37 % 200) as usize)).collect();
        w.batch(&entries);
    }
    w.checkpoint();
    w.put(999, 3000);
    w.put(1000, 20);
    assert!(w.segments.len() >= 4, "{} segments", w.segments.len());
    w
}

/// What one run of walctl printed, and how it exited.
#[derive(Debug)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn walctl_with<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I, stdin: Stdio, input: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_walctl"))
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        // walctl may exit without reading it.
        if let Err(e) = stdin.write_all(input) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().expect("walctl was killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// `walctl upgrade --yes DIR`, standard input closed.
fn upgrade(dir: &Path) -> Run {
    walctl_with([OsStr::new("upgrade"), OsStr::new("--yes"), dir.as_os_str()], Stdio::null(), b"")
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Every file under `root` (relative path -> bytes); directories as None.
fn tree(root: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    fn walk(root: &Path, at: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
        for entry in fs::read_dir(at).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            if path.is_dir() {
                out.insert(rel, None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn read_only(dir: &Path) -> wal::Result<Wal> {
    Wal::open(dir, Options { read_only: true, create_if_missing: false, ..Options::default() })
}

/// The converted log holds exactly `rows`, from `first` to `last`, and a
/// writer appends after `last`.
fn assert_log(dir: &Path, first: u64, last: u64, rows: &[Row]) {
    let wal = read_only(dir).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (first, last));
    let mut iter = wal.iter(0).unwrap();
    for (seq, op, key, value) in rows {
        let r = iter.next().unwrap().unwrap_or_else(|| panic!("the log ends before seq {seq}"));
        assert_eq!((r.seq, r.op, r.key, r.value), (*seq, *op, &key[..], &value[..]), "seq {seq}");
    }
    assert!(iter.next().unwrap().is_none(), "records past the last expected");
    drop(iter);
    drop(wal);
    let wal = Wal::open(dir, Options { preallocate: false, create_if_missing: false, ..Options::default() }).unwrap();
    assert_eq!(wal.append(1, b"after", b"upgrade").unwrap(), last + 1);
    wal.close().unwrap();
}

#[test]
fn the_test_encoder_writes_the_version_2_documents_worked_example() {
    // The xxd dump of FORMAT.md version 2: a record, a batch of two, a checkpoint.
    let segment = unhex(
        "4c49 4257 414c 5347 0200 0000 0000 0000 0100 0000 0000 0000 0000 0000 0377 5a20
         aef2 8f5f 0100 0000 0c00 0000 0000 0000 0100 0000 0000 0000 2000 0000 0000 0000
         0101 0000 0002 0000 0061 7879 2672 3a05 0200 0000 1500 0000 0000 0000 0200 0000
         0000 0000 4c00 0000 0000 0000 0101 0000 0001 0000 0062 3102 0100 0000 0000 0000
         634a 3fee 7101 0000 0009 0000 0000 0000 0004 0000 0000 0000 0081 0000 0000 0000
         00ff 0000 0000 0000 0000",
    );
    let mut w = Writer::new(Path::new("unused"), 4096, false);
    w.batch(&[(1, b"a".to_vec(), b"xy".to_vec())]);
    w.batch(&[(1, b"b".to_vec(), b"1".to_vec()), (2, b"c".to_vec(), Vec::new())]);
    w.checkpoint();
    assert_eq!(w.segments.len(), 1);
    assert_eq!(w.segments[0].1, segment);
    // And its wal.meta after wal_truncate(w, 4).
    let meta = unhex("4c49 4257 414c 4d54 0200 0000 0000 0000 0400 0000 0000 0000 0000 0000 dda6 46ea");
    assert_eq!(v2::meta(4).to_vec(), meta);
}

fn unhex(dump: &str) -> Vec<u8> {
    let hex: String = dump.split_whitespace().collect();
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn upgrade_keeps_every_record_its_seq_and_the_floor_and_keeps_the_version_2_files() {
    let tmp = TempDir::new("upgrade-main");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    let newest = w.segments.len() - 1;
    // A torn tail: the first 42 bytes of the next frame (up to the first
    // byte of its key), in the zeros.
    let torn_at = w.data_end(newest);
    let torn = v2::frame(w.next_seq, torn_at, &[(1, b"torn", &[7u8; 50])]);
    w.write();
    File::options().write(true).open(w.path(newest)).unwrap().write_all_at(&torn[..42], torn_at).unwrap();
    // Truncated up to a seq inside a batch of 5 after the first segment;
    // the segments wholly below the floor are left over (a truncate died
    // before deleting them).
    let &(segment, _, batch_seq, _) = w.frames.iter().find(|f| f.0 >= 1 && f.3 == 5).unwrap();
    assert!(segment < newest);
    let floor = batch_seq + 1;
    fs::write(dir.join("wal.meta"), v2::meta(floor)).unwrap();
    let before = tree(&dir);

    let run = upgrade(&dir);
    assert_eq!((run.status, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    let last = w.last_seq();
    let kept: Vec<Row> = w.rows.iter().filter(|r| r.0 > floor).cloned().collect();
    for line in [
        format!("  seqs {}..{last}: {} records", floor + 1, kept.len()),
        format!("  truncated up to seq {floor} (wal.meta)"),
        format!("  a torn tail: 42 bytes at offset {torn_at} of {:020}.wal", w.segments[newest].0),
        format!("  {:020}.wal: holds only truncated records (an interrupted truncate): not converted", 1),
        format!("upgraded {}", dir.display()),
        format!("the version 2 files are in {}", sibling(&dir, ".format2").display()),
    ] {
        assert!(run.stdout.contains(&line), "no {line:?} in:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("(segment size 4096 bytes, as the version 2 log's)"), "{}", run.stdout);
    let segments =
        fs::read_dir(&dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "wal"));
    assert!(segments.count() >= 3, "the new log's segments are 4096 bytes too");

    assert_eq!(tree(&sibling(&dir, ".format2")), before, "the version 2 files are kept as they were");
    assert!(!sibling(&dir, ".upgrade-tmp").exists());
    assert!(kept.iter().any(|r| r.1 == 255), "a checkpoint is among the records");
    assert_log(&dir, floor + 1, last, &kept);
}

#[test]
fn libwal_refuses_a_version_2_log_naming_walctl_upgrade() {
    let tmp = TempDir::new("upgrade-refused");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    // A log with segments, and one whose every record was truncated (only wal.meta).
    let meta_only = tmp.path().join("meta-only");
    fs::create_dir(&meta_only).unwrap();
    fs::write(meta_only.join("wal.meta"), v2::meta(12)).unwrap();
    let before = tree(tmp.path());
    for dir in [&dir, &meta_only] {
        for opts in [Options::default(), Options { read_only: true, ..Options::default() }] {
            let err = Wal::open(dir, opts).err().expect("a version 2 log opened");
            assert_eq!(err.kind(), ErrorKind::Corrupt, "{err}");
            let message = err.message();
            assert!(message.contains("format version 2") && message.contains("`walctl upgrade DIR`"), "{message}");
        }
    }
    assert_eq!(tree(tmp.path()), before, "refusing changed a file");

    assert_eq!(upgrade(&meta_only).status, 0);
    assert_log(&meta_only, 13, 12, &[]);
}

#[test]
fn damage_in_an_older_segment_is_refused_and_nothing_changes() {
    let tmp = TempDir::new("upgrade-older");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    let (segment, offset, seq, _) = w.frames.iter().copied().filter(|f| f.0 == 1).nth(2).unwrap();
    flip_byte(&w.path(segment), offset + 40);
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    let expected = format!(
        "{}: damaged record at offset {offset} (frame checksum mismatch), expected seq {seq}, and the next segment starts at seq {}",
        w.path(segment).display(),
        w.segments[segment + 1].0
    );
    assert!(run.stderr.contains(&expected), "no {expected:?} in {}", run.stderr);
    assert!(run.stderr.contains("WAL_RECOVER_SALVAGE"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn junk_after_the_last_record_of_an_older_segment_loses_nothing_and_is_not_converted() {
    let tmp = TempDir::new("upgrade-junk");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    // In the zeros after segment 1's frames; segment 2 goes on from the next seq.
    let at = w.data_end(1) + 100;
    File::options().write(true).open(w.path(1)).unwrap().write_all_at(b"junk", at).unwrap();
    let run = upgrade(&dir);
    assert_eq!(run.status, 0, "{run:?}");
    let said = format!("  {:020}.wal: 104 bytes after its last record, at offset {}", w.segments[1].0, w.data_end(1));
    assert!(run.stdout.contains(&said), "no {said:?} in:\n{}", run.stdout);
    assert_log(&dir, 1, w.last_seq(), &w.rows);
}

#[test]
fn a_missing_middle_segment_is_refused() {
    let tmp = TempDir::new("upgrade-gap");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    fs::remove_file(w.path(2)).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    let missing = format!("(records {} to {} are missing)", w.segments[2].0, w.segments[3].0 - 1);
    assert!(
        run.stderr.contains(&missing) && run.stderr.contains(&format!("{:020}.wal", w.segments[3].0)),
        "{}",
        run.stderr
    );
    assert_eq!(tree(tmp.path()), before);

    // The first one.
    fs::remove_file(w.path(0)).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    let missing = format!("records 1 to {} are missing: the segment holding them is gone", w.segments[1].0 - 1);
    assert!(run.stderr.contains(&missing), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn damage_in_the_newest_segment_that_a_later_frame_proves_durable_is_refused() {
    let tmp = TempDir::new("upgrade-witness");
    let dir = tmp.path().join("log");
    let mut w = mixed(&dir);
    while w.frames.iter().filter(|f| f.0 == w.segments.len() - 1).count() < 3 {
        w.put(2000, 10);
    }
    w.write();
    let newest = w.segments.len() - 1;
    // The newest segment's first frame: the next one's synced_end is past it.
    let (_, offset, _, _) = w.frames.iter().copied().find(|f| f.0 == newest).unwrap();
    flip_byte(&w.path(newest), offset + 35);
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains(&format!("damaged record at offset {offset}")), "{}", run.stderr);
    assert!(run.stderr.contains("so the damage is not an interrupted write"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_damaged_last_frame_is_a_torn_tail_unless_a_clean_close_proved_it_durable() {
    let tmp = TempDir::new("upgrade-last");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    let newest = w.segments.len() - 1;
    let &(_, offset, seq, _) = w.frames.last().unwrap();
    flip_byte(&w.path(newest), offset + 40);

    // libwal 0.1 closed the log cleanly: the LOCK's mark says every byte
    // up to the end of the frames was durable.
    fs::write(dir.join("LOCK"), v2::clean_mark(w.segments[newest].0, w.data_end(newest))).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains("closed the log cleanly"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);

    // Without the mark (a crash), the frame may never have been written whole.
    fs::write(dir.join("LOCK"), b"").unwrap();
    let run = upgrade(&dir);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("a torn tail: {} bytes at offset {offset}", w.data_end(newest) - offset)),
        "{}",
        run.stdout
    );
    let kept: Vec<Row> = w.rows.iter().filter(|r| r.0 < seq).cloned().collect();
    assert_log(&dir, 1, seq - 1, &kept);
}

#[test]
fn a_zeroed_header_over_records_is_refused() {
    let tmp = TempDir::new("upgrade-zeroed");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    let newest = w.path(w.segments.len() - 1);
    File::options().write(true).open(&newest).unwrap().write_all_at(&[0u8; 32], 0).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    assert!(run.stderr.contains("its header is zeroed but the file holds data"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_record_libwal_0_1_never_wrote_is_refused() {
    let tmp = TempDir::new("upgrade-op0");
    let dir = tmp.path().join("log");
    let mut w = Writer::new(&dir, 4096, false);
    w.put(1, 10);
    w.batch(&[put(2, 10), (0, b"k".to_vec(), b"v".to_vec())]);
    w.write();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 1, "{run:?}");
    let said = format!("the record with seq 3 (in the frame at offset {}) has op 0", w.frames[1].1);
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_log_that_libwal_0_1_holds_open_is_refused() {
    let tmp = TempDir::new("upgrade-locked");
    let dir = tmp.path().join("log");
    mixed(&dir).write();
    let before = tree(tmp.path());
    // What a libwal 0.1 writer holds: an exclusive flock on LOCK.
    let lock = File::open(dir.join("LOCK")).unwrap();
    // SAFETY: flock on a descriptor this test owns.
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
    let run = upgrade(&dir);
    assert_eq!(run.status, 4, "{run:?}");
    let holder = format!("open for writing by libwal 0.1 (process {} holds the flock on LOCK)", std::process::id());
    assert!(run.stderr.contains(&holder), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
    drop(lock);
    assert_eq!(upgrade(&dir).status, 0);
}

#[test]
fn without_a_terminal_it_asks_nothing_and_converts_nothing_unless_yes() {
    let tmp = TempDir::new("upgrade-noterm");
    let dir = tmp.path().join("log");
    mixed(&dir).write();
    let before = tree(tmp.path());
    let args = [OsStr::new("upgrade"), dir.as_os_str()];
    for (stdin, input) in [(Stdio::null(), &b""[..]), (Stdio::piped(), &b"y\n"[..])] {
        let run = walctl_with(args, stdin, input);
        assert_eq!(run.status, 2, "{run:?}");
        assert!(run.stdout.contains("holds a log written by libwal 0.1 (format version 2)"), "{}", run.stdout);
        assert!(run.stderr.contains("not a terminal") && run.stderr.contains("--yes"), "{}", run.stderr);
        assert_eq!(tree(tmp.path()), before);
    }
}

/// A pseudo-terminal: (its controlling side, the terminal walctl reads).
fn pty() -> (File, File) {
    // SAFETY: plain calls on descriptors this function owns; ptsname_r
    // writes at most buf.len() bytes.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap().to_string();
        let master = File::from_raw_fd(master);
        (master, OpenOptions::new().read(true).write(true).open(name).unwrap())
    }
}

#[test]
fn on_a_terminal_it_asks_and_converts_only_on_yes() {
    let tmp = TempDir::new("upgrade-term");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    let before = tree(tmp.path());
    for (answer, status) in [(&b"n\n"[..], 8), (b"\n", 8), (b"yes\n", 0)] {
        let (mut master, terminal) = pty();
        master.write_all(answer).unwrap();
        let run = walctl_with([OsStr::new("upgrade"), dir.as_os_str()], Stdio::from(terminal), b"");
        assert_eq!(run.status, status, "{answer:?}: {run:?}");
        assert!(run.stderr.starts_with("Convert? [y/N] "), "{}", run.stderr);
        if status != 0 {
            assert_eq!(tree(tmp.path()), before);
        }
    }
    assert_log(&dir, 1, w.last_seq(), &w.rows);
}

#[test]
fn a_second_run_says_the_log_is_already_converted() {
    let tmp = TempDir::new("upgrade-twice");
    let dir = tmp.path().join("log");
    mixed(&dir).write();
    assert_eq!(upgrade(&dir).status, 0);
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 7, "{run:?}");
    let said = format!(
        "is already in format version 3 (libwal 0.2); the version 2 files are in {}",
        sibling(&dir, ".format2").display()
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_run_after_a_crash_between_the_renames_checks_and_finishes() {
    let tmp = TempDir::new("upgrade-finish");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    assert_eq!(upgrade(&dir).status, 0);
    // As the crash leaves it: DIR.format2 moved aside, DIR.upgrade-tmp not yet renamed.
    let tmp_dir = sibling(&dir, ".upgrade-tmp");
    fs::rename(&dir, &tmp_dir).unwrap();

    let run = upgrade(&dir);
    assert_eq!((run.status, run.stderr.as_str()), (0, ""), "{}", run.stdout);
    assert!(run.stdout.contains("was interrupted after it moved the version 2 log"), "{}", run.stdout);
    assert!(!tmp_dir.exists());
    assert_log(&dir, 1, w.last_seq(), &w.rows);

    // A converted log that does not hold the same records is not put in
    // place: one with a record more (assert_log appended it), and one with
    // the same seqs where one value differs.
    fs::rename(&dir, &tmp_dir).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 6, "{run:?}");
    let said = format!("last seqs are 1 and {}, the version 2 log's 1 and {}", w.last_seq() + 1, w.last_seq());
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);

    fs::remove_dir_all(&tmp_dir).unwrap();
    let other = tmp.path().join("other");
    let mut w2 = Writer::new(&other, 4096, true);
    for (i, (_, op, key, value)) in w.rows.iter().enumerate() {
        let mut value = value.clone();
        if i == 100 {
            value.push(b'!');
        }
        w2.batch(&[(*op, key.clone(), value)]);
    }
    w2.write();
    assert_eq!(upgrade(&other).status, 0);
    fs::rename(&other, &tmp_dir).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 6, "{run:?}");
    assert!(
        run.stderr.contains("the converted log's record at seq 101 differs from the version 2 one"),
        "{}",
        run.stderr
    );
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_leftover_of_an_interrupted_conversion_is_removed_and_the_log_converted_again() {
    let tmp = TempDir::new("upgrade-leftover");
    let dir = tmp.path().join("log");
    let w = mixed(&dir);
    w.write();
    // A conversion that stopped half-way.
    let leftover = sibling(&dir, ".upgrade-tmp");
    fs::create_dir(&leftover).unwrap();
    wal::inspect::create_log_with_floor(&leftover, 0).unwrap();
    let partial = Wal::open(&leftover, Options { preallocate: false, ..Options::default() }).unwrap();
    partial.append(1, b"key-1", b"partial").unwrap();
    partial.close().unwrap();
    // One that rotated left the seek hint of a sealed segment too.
    fs::write(leftover.join("00000000000000000001.idx"), b"a hint").unwrap();

    let run = upgrade(&dir);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("remove {}, left by an interrupted upgrade", leftover.display())),
        "{}",
        run.stdout
    );
    assert_log(&dir, 1, w.last_seq(), &w.rows);
}

#[test]
fn what_is_in_the_way_is_left_alone() {
    let tmp = TempDir::new("upgrade-in-the-way");
    let dir = tmp.path().join("log");
    mixed(&dir).write();
    fs::create_dir(sibling(&dir, ".format2")).unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 9, "{run:?}");
    assert!(run.stderr.contains("log.format2 exists: move it away"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);

    fs::remove_dir(sibling(&dir, ".format2")).unwrap();
    let stranger = sibling(&dir, ".upgrade-tmp");
    fs::create_dir(&stranger).unwrap();
    fs::write(stranger.join("notes.txt"), b"mine").unwrap();
    let before = tree(tmp.path());
    let run = upgrade(&dir);
    assert_eq!(run.status, 9, "{run:?}");
    assert!(run.stderr.contains("holds notes.txt, which a libwal log does not"), "{}", run.stderr);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn upgrade_help_lists_its_exit_status() {
    let help = walctl_with(["upgrade", "--help"], Stdio::null(), b"");
    assert_eq!(help.status, 0);
    for line in ["1  the version 2 log is damaged", "2  bad arguments, or no terminal", "8  declined", "9  DIR.format2"] {
        assert!(help.stdout.contains(line), "no {line:?} in:\n{}", help.stdout);
    }
}

#[test]
fn a_directory_without_a_version_2_log_is_refused() {
    let tmp = TempDir::new("upgrade-nolog");
    let empty = tmp.path().join("empty");
    fs::create_dir_all(&empty).unwrap();
    let v3 = tmp.path().join("v3");
    let wal = Wal::open(&v3, Options { preallocate: false, ..Options::default() }).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    wal.close().unwrap();
    let before = tree(tmp.path());
    for (dir, said) in [(&empty, "holds no segment and no wal.meta"), (&v3, "is already in format version 3")] {
        let run = upgrade(dir);
        assert_eq!(run.status, 7, "{run:?}");
        assert!(run.stderr.contains(said), "{}", run.stderr);
    }
    assert_eq!(upgrade(&tmp.path().join("missing")).status, 3);
    assert_eq!(tree(tmp.path()), before);
}

#[test]
fn a_log_whose_records_were_all_truncated_keeps_its_last_seq() {
    let tmp = TempDir::new("upgrade-all-truncated");
    let dir = tmp.path().join("log");
    let mut w = Writer::new(&dir, 4096, false);
    for i in 1..=10 {
        w.put(i, 10);
    }
    w.write();
    // wal_truncate(w, 10) recorded the floor and died before deleting the segment.
    fs::write(dir.join("wal.meta"), v2::meta(10)).unwrap();
    let run = upgrade(&dir);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(run.stdout.contains("  no record; the next gets seq 11\n"), "{}", run.stdout);
    assert_log(&dir, 11, 10, &[]);
}

#[test]
fn a_frame_larger_than_max_batch_size_is_written_as_several_batches() {
    let tmp = TempDir::new("upgrade-huge");
    let dir = tmp.path().join("log");
    let mut w = Writer::new(&dir, 4096, false);
    w.put(1, 10);
    // libwal 0.1 had no batch limit: two records of WAL_MAX_RECORD_SIZE.
    let big = |i: u8| (1, vec![i], vec![i; wal::MAX_RECORD_SIZE - 1]);
    w.batch(&[big(1), big(2)]);
    w.put(4, 10);
    w.write();
    let run = upgrade(&dir);
    assert_eq!(run.status, 0, "{run:?}");
    assert!(run.stdout.contains("  1 frame larger than WAL_MAX_BATCH_SIZE"), "{}", run.stdout);
    assert_log(&dir, 1, 4, &w.rows);
}
