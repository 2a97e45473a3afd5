//! Attacks on seek hints (`NNNNNNNNNNNNNNNNNNNN.idx`, src/hint.rs,
//! docs/FORMAT.md "Seek hints") from the outside: hints crafted by hand
//! (with a right CRC, salt and first seq) or left stale, and what a reader
//! returns with them against what a reader without them returns.
//!
//! The guarantee under attack (FORMAT.md): "a hint can make a seek slower,
//! never return a wrong record".

mod common;
use common::*;
use std::fs;
use std::path::{Path, PathBuf};
use wal::format::FRAME_HEADER_LEN;
use wal::{Options, Wal};

const SEG: u64 = 16 << 10;

fn opts() -> Options {
    small(SEG)
}

fn ro() -> Options {
    Options { read_only: true, ..opts() }
}

fn idx_of(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

fn salt_of(segment: &Path) -> u32 {
    let b = fs::read(segment).unwrap();
    u32::from_le_bytes(b[12..16].try_into().unwrap())
}

fn first_seq_of(segment: &Path) -> u64 {
    let b = fs::read(segment).unwrap();
    u64::from_le_bytes(b[16..24].try_into().unwrap())
}

/// A hint's bytes, as FORMAT.md "Seek hints" lays them out.
fn encode_hint(salt: u32, first_seq: u64, end: (u64, u64), entries: &[(u64, u64)]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"LIBWALIX");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&salt.to_le_bytes());
    b.extend_from_slice(&first_seq.to_le_bytes());
    b.extend_from_slice(&end.0.to_le_bytes());
    b.extend_from_slice(&end.1.to_le_bytes());
    b.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for (o, s) in entries {
        b.extend_from_slice(&o.to_le_bytes());
        b.extend_from_slice(&s.to_le_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// (end, end_seq) of a hint file the writer wrote.
fn hint_end(idx: &Path) -> (u64, u64) {
    let b = fs::read(idx).unwrap();
    (u64::from_le_bytes(b[24..32].try_into().unwrap()), u64::from_le_bytes(b[32..40].try_into().unwrap()))
}

/// A one-entry frame (op 1) with `first_seq`, valid in a segment of `salt`.
fn craft_frame(salt: u32, first_seq: u64, synced_end: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut payload = vec![1u8];
    payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
    payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
    payload.extend_from_slice(key);
    payload.extend_from_slice(value);
    let mut h = [0u8; FRAME_HEADER_LEN];
    h[4..8].copy_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    h[8..12].copy_from_slice(&1u32.to_le_bytes());
    h[12..16].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    h[24..32].copy_from_slice(&synced_end.to_le_bytes());
    let mut hasher = crc32fast::Hasher::new_with_initial(salt);
    hasher.update(&h[4..32]);
    h[0..4].copy_from_slice(&hasher.finalize().to_le_bytes());
    let mut f = h.to_vec();
    f.extend_from_slice(&payload);
    f
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Offsets of the frames of a segment, walked from its start: (offset, first_seq, count).
fn frames(segment: &Path) -> Vec<(u64, u64, u32)> {
    let b = fs::read(segment).unwrap();
    let mut at = 32usize;
    let mut out = Vec::new();
    while at + FRAME_HEADER_LEN <= b.len() {
        let count = u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap());
        let len = u32::from_le_bytes(b[at + 12..at + 16].try_into().unwrap()) as usize;
        let seq = u64::from_le_bytes(b[at + 16..at + 24].try_into().unwrap());
        if count == 0 && len == 0 && seq == 0 {
            break;
        }
        out.push((at as u64, seq, count));
        at += FRAME_HEADER_LEN + len;
    }
    out
}

/// What a reader without hints returns after `after`: hints moved away, a
/// fresh read-only handle, hints put back.
fn hintless(dir: &Path, after: u64) -> wal::Result<Vec<Row>> {
    let saved: Vec<(PathBuf, Vec<u8>)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    for (p, _) in &saved {
        fs::remove_file(p).unwrap();
    }
    let wal = Wal::open(dir, ro()).unwrap();
    let got = collect(&wal, after);
    drop(wal);
    for (p, b) in saved {
        fs::write(p, b).unwrap();
    }
    got
}

fn brief(r: &wal::Result<Vec<Row>>) -> String {
    match r {
        Ok(rows) => format!("{} records {:?}..", rows.len(), rows.iter().take(3).map(|r| (r.0, r.3.len())).collect::<Vec<_>>()),
        Err(e) => format!("error {e}"),
    }
}

fn same(a: &wal::Result<Vec<Row>>, b: &wal::Result<Vec<Row>>) -> bool {
    match (a, b) {
        (Ok(a), Ok(b)) => a == b,
        (Err(a), Err(b)) => a.kind() == b.kind(),
        _ => false,
    }
}

/// Snapshot of every file in `dir`: (name, bytes).
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            // (A huge sparse file: its length only.)
            let bytes = if file_len(&p) > 16 << 20 { file_len(&p).to_le_bytes().to_vec() } else { fs::read(&p).unwrap() };
            (p.file_name().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

/// A log whose first segment holds, as record `t`'s value, a frame crafted
/// with the segment's salt that claims seq `t` and another value; then
/// enough records to seal it. Returns (dir guard, t, offset of the crafted
/// frame in the first segment).
fn log_with_embedded_frame(tag: &str) -> (TempDir, u64, u64) {
    let dir = TempDir::new(tag);
    let wal = fill(dir.path(), opts(), 20, 100);
    wal.sync().unwrap();
    let seg = segments(dir.path())[0].clone();
    let salt = salt_of(&seg);
    let t = 21;
    let fake = craft_frame(salt, t, 32, b"evil-key", b"EVIL VALUE, never appended as a record");
    assert_eq!(wal.append(1, b"carrier", &fake).unwrap(), t);
    for i in t + 1..t + 200 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    wal.close().unwrap();
    assert!(segments(dir.path()).len() >= 2, "the first segment is sealed");
    let bytes = fs::read(&seg).unwrap();
    let at = find(&bytes, &fake).expect("the crafted frame is in the segment") as u64;
    (dir, t, at)
}

/// A hint whose entry points at a frame crafted inside a record's value (a
/// frame with the segment's salt, the expected seq and a right payload
/// CRC): the reader that seeks there returns the crafted record instead of
/// the real one. FORMAT.md's argument ("a frame that checks out there with
/// the expected seq is that file's frame holding that seq now") does not
/// hold for frame bytes inside a value. No check a reader can make on the
/// frame itself tells the two apart, and the hint's own CRC is no defence
/// against whoever writes the hint: fixing this needs hints that a reader
/// can verify (e.g. the hint's entries vouched for by the segment's own
/// frames, or entries trusted only after a walk from a known boundary
/// reached them), a design change for the lead.
#[test]
#[ignore = "a forged hint (docs/FORMAT.md, Seek hints: not protected against a forger): a hint pointing at a frame embedded in a record's value returns a record that was never appended"]
fn a_hint_into_a_frame_inside_a_value_returns_a_record_never_appended() {
    let (dir, t, at) = log_with_embedded_frame("embedded");
    let seg = segments(dir.path())[0].clone();
    let idx = idx_of(&seg);
    let want = hintless(dir.path(), t - 1);
    assert!(want.as_ref().unwrap()[0].2 == b"carrier");
    let end = hint_end(&idx);
    fs::write(&idx, encode_hint(salt_of(&seg), first_seq_of(&seg), end, &[(at, t)])).unwrap();
    let wal = Wal::open(dir.path(), ro()).unwrap();
    let got = collect(&wal, t - 1);
    assert!(same(&got, &want), "with the hint: {}; without: {}", brief(&got), brief(&want));
}

/// The same, with the hint's `end` (the frontier the index takes as known)
/// pointing at the crafted frame instead of an entry.
#[test]
#[ignore = "a forged hint (docs/FORMAT.md, Seek hints: not protected against a forger): a hint's end pointing at a frame embedded in a value returns a record never appended"]
fn a_hint_end_at_a_frame_inside_a_value_returns_a_record_never_appended() {
    let (dir, t, at) = log_with_embedded_frame("embedded-end");
    let seg = segments(dir.path())[0].clone();
    let idx = idx_of(&seg);
    let want = hintless(dir.path(), t - 1);
    fs::write(&idx, encode_hint(salt_of(&seg), first_seq_of(&seg), (at, t), &[])).unwrap();
    let wal = Wal::open(dir.path(), ro()).unwrap();
    let got = collect(&wal, t - 1);
    assert!(same(&got, &want), "with the hint: {}; without: {}", brief(&got), brief(&want));
}

/// A copy of an earlier frame of the same segment (salt included) stored as
/// a record's value, and a hint pointing at the copy: the copy's record is
/// the same bytes, but what follows it inside the value is not the next
/// frame. Whatever the reader does, it must return what a hint-less reader
/// returns. It does not: the copy checks out (same salt, expected seq), its
/// record is returned, and the bytes after it inside the value are the
/// next real frame (record 22), not record 7: the reader reports
/// WAL_E_CORRUPT ("the log breaks off ... after seq 6") where a hint-less
/// reader returns every record. Only the first frame after a seek falls
/// back to a scan (`reader.rs`, `index_missed`); a stop later in a segment
/// entered through a sidecar's entry is taken for damage. A fix: treat a
/// stop met before the reader walked from a position it can trust (the
/// segment's start, or an entry it or the writer made) as a miss, scan
/// the segment from its start and skip what was returned; that cures the
/// false error, not the wrong record of the crafted-frame case above.
#[test]
#[ignore = "a forged hint (docs/FORMAT.md, Seek hints: not protected against a forger): a hint into a copied frame inside a value makes a sound log WAL_E_CORRUPT"]
fn a_hint_into_a_copied_frame_inside_a_value_reads_as_without_it() {
    let dir = TempDir::new("copied");
    let wal = fill(dir.path(), opts(), 20, 100);
    wal.sync().unwrap();
    let seg = segments(dir.path())[0].clone();
    let fr = frames(&seg);
    let (o5, s5, _) = fr.iter().copied().find(|f| f.1 == 5).unwrap();
    let (o7, _, _) = fr.iter().copied().find(|f| f.1 == 7).unwrap();
    let bytes = fs::read(&seg).unwrap();
    // Frames 5 and 6, copied whole, as the value of record 21.
    let copy = bytes[o5 as usize..o7 as usize].to_vec();
    assert_eq!(wal.append(1, b"carrier", &copy).unwrap(), 21);
    for i in 22..220 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    wal.close().unwrap();
    let bytes = fs::read(&seg).unwrap();
    let at = (o7 as usize + find(&bytes[o7 as usize..], &copy).unwrap()) as u64;
    let idx = idx_of(&seg);
    let end = hint_end(&idx);
    let salt = salt_of(&seg);
    for after in [4, 5, 6, 10, 20] {
        let want = hintless(dir.path(), after);
        fs::write(&idx, encode_hint(salt, first_seq_of(&seg), end, &[(at, s5)])).unwrap();
        let wal = Wal::open(dir.path(), ro()).unwrap();
        let got = collect(&wal, after);
        assert!(same(&got, &want), "after {after}: with the hint: {}; without: {}", brief(&got), brief(&want));
    }
}

/// A hint pointing at a sync mark (with the mark's seq), and at every frame
/// boundary with a seq one off: reads as without it.
#[test]
fn hints_at_sync_marks_and_off_by_one_seqs_read_as_without_them() {
    let dir = TempDir::new("marks");
    let wal = Wal::open(dir.path(), opts()).unwrap();
    for i in 1..=300 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
        if i % 7 == 0 {
            wal.sync().unwrap();
        }
    }
    wal.close().unwrap();
    let seg = segments(dir.path())[0].clone();
    let idx = idx_of(&seg);
    let end = hint_end(&idx);
    let salt = salt_of(&seg);
    let fr = frames(&seg);
    let marks: Vec<_> = fr.iter().filter(|f| f.2 == 0).collect();
    assert!(!marks.is_empty());
    let real: Vec<_> = fr.iter().filter(|f| f.2 > 0).collect();
    let mut cases: Vec<(u64, u64)> = marks.iter().map(|m| (m.0, m.1)).collect();
    for f in real.iter().step_by(9) {
        cases.push((f.0, f.1 + 1));
        cases.push((f.0, f.1.saturating_sub(1).max(1)));
    }
    for (o, s) in cases {
        if o >= end.0 || s >= end.1 {
            continue;
        }
        for after in [s.saturating_sub(1), s, s + 1] {
            if after == 0 {
                continue;
            }
            let want = hintless(dir.path(), after);
            fs::write(&idx, encode_hint(salt, 1, end, &[(o, s)])).unwrap();
            let wal = Wal::open(dir.path(), ro()).unwrap();
            let got = collect(&wal, after);
            assert!(same(&got, &want), "entry ({o},{s}) after {after}: {} vs {}", brief(&got), brief(&want));
        }
    }
}

/// A flipped byte in a frame before the hinted entry of a sealed segment.
/// FORMAT.md "Reading the log" step 1 says a seek starts at the frame the
/// index gives and does not check the frames before it (the writer's own
/// in-memory index does the same), and the contract's "Damage in an older
/// segment is WAL_E_CORRUPT (... from the replay that meets it)" is about
/// replays that read the damage. So a hint may let a seek past the damage
/// return records where a hint-less reader (which scans the segment once)
/// stops with WAL_E_CORRUPT: allowed, but every record it returns must be
/// the one appended, and a replay that does read the damage must fail.
#[test]
fn damage_before_a_hinted_entry_is_reported_to_every_reader_that_reads_it() {
    let dir = TempDir::new("damage");
    // Segments of 256 KiB: the hint has entries every 16 KiB or so.
    let wal = fill(dir.path(), small(256 << 10), 4000, 100);
    wal.close().unwrap();
    let truth = hintless(dir.path(), 0).unwrap();
    let seg = segments(dir.path())[0].clone();
    let fr = frames(&seg);
    let (o10, _, _) = fr.iter().copied().find(|f| f.1 == 10).unwrap();
    flip_byte(&seg, o10 + FRAME_HEADER_LEN as u64 + 12);
    let idx = idx_of(&seg);
    assert!(idx.exists());
    let last_of_first = fr.last().unwrap().1;
    let mut skipped = 0;
    for after in [5, 9, 10, 11, last_of_first / 2, last_of_first - 3] {
        let want = hintless(dir.path(), after);
        assert_eq!(want.as_ref().unwrap_err().kind(), wal::ErrorKind::Corrupt, "after {after}");
        let wal = Wal::open(dir.path(), ro()).unwrap();
        let got = collect(&wal, after);
        match &got {
            Err(e) => assert_eq!(e.kind(), wal::ErrorKind::Corrupt, "after {after}"),
            Ok(rows) => {
                assert!(after >= 10, "after {after}: record 10 is damaged, yet {}", brief(&got));
                let t: Vec<&Row> = truth.iter().filter(|r| r.0 > after).collect();
                assert!(rows.iter().eq(t.into_iter()), "after {after}: the records returned are not the ones appended");
                skipped += 1;
            }
        }
        // A replay from the first record reads the damage, hint or not.
        assert_eq!(collect(&wal, 0).unwrap_err().kind(), wal::ErrorKind::Corrupt);
    }
    eprintln!("{skipped} of 6 seeks went past the damage with the hint (a hint-less reader fails all 6)");
}

/// A hint copied from another log whose first segment has the same first
/// seq (and so the same name): another salt, refused.
#[test]
fn a_hint_from_another_log_with_the_same_first_seq_changes_nothing() {
    let a = TempDir::new("other-a");
    let b = TempDir::new("other-b");
    fill(a.path(), opts(), 400, 100).close().unwrap();
    // Log b: other value sizes, so the frames lie elsewhere.
    let wal = Wal::open(b.path(), opts()).unwrap();
    for i in 1..=400 {
        wal.append(1, &key(i), &value(i, 37 + (i as usize % 50))).unwrap();
    }
    wal.close().unwrap();
    let seg_b = segments(b.path())[0].clone();
    fs::copy(idx_of(&segments(a.path())[0]), idx_of(&seg_b)).unwrap();
    for after in [3, 50, 100] {
        let want = hintless(b.path(), after);
        let wal = Wal::open(b.path(), ro()).unwrap();
        let got = collect(&wal, after);
        assert!(same(&got, &want), "after {after}");
    }
}

/// A hint left from before `truncate_after` cut into a sealed segment (as a
/// failed delete or a crash leaves it), the log appended again with other
/// record sizes and the segment sealed again: same salt, stale entries.
#[test]
fn a_hint_from_before_a_cut_never_returns_discarded_records() {
    let dir = TempDir::new("stale-cut");
    // 256 KiB segments: the hint has an entry every 16 KiB or so.
    let wal = fill(dir.path(), small(256 << 10), 4000, 100);
    let seg = segments(dir.path())[0].clone();
    let idx = idx_of(&seg);
    let old = fs::read(&idx).unwrap();
    let before = frames(&seg);
    let last_of_first = before.last().unwrap().1;
    let cut = last_of_first / 3;
    wal.truncate_after(cut).unwrap();
    assert!(!idx.exists(), "the cut deletes the hint of the segment it cuts");
    // Frames of the same lengths at the same offsets as before the cut,
    // but every seq one higher: a batch of two records in place of record
    // cut + 1's frame, then record i's key and a new value of its length
    // under seq i + 1. The stale entries all land on frame boundaries of
    // this file, with other seqs.
    let old_payload = 9 + key(cut + 1).len() + 100;
    let v1 = vec![b'n'; 10];
    let v2 = vec![b'n'; old_payload - 2 * 9 - 2 - 10];
    wal.append_batch(&[wal::Entry { op: 1, key: b"a", value: &v1 }, wal::Entry { op: 1, key: b"b", value: &v2 }]).unwrap();
    for i in cut + 2..=4000 {
        let mut v = value(i, 100);
        v[0] = b'n';
        wal.append(1, &key(i), &v).unwrap();
    }
    wal.close().unwrap();
    let fresh = frames(&seg);
    assert!(fresh.iter().any(|f| f.1 > cut + 5), "the segment holds new frames");
    assert!(before.iter().zip(&fresh).all(|(a, b)| a.0 == b.0 && (a.1 <= cut + 1 || b.1 == a.1 + 1)), "same offsets, seqs one higher");
    // The stale hint, put back (a crash between cut and delete).
    fs::write(&idx, &old).unwrap();
    for after in [cut - 1, cut, cut + 1, cut + 17, cut + 300, cut + 700, last_of_first - 2] {
        let want = hintless(dir.path(), after);
        let wal = Wal::open(dir.path(), ro()).unwrap();
        let got = collect(&wal, after);
        assert!(same(&got, &want), "after {after}: with the hint: {}; without: {}", brief(&got), brief(&want));
        for r in got.as_ref().unwrap() {
            assert!(r.0 <= cut || r.3[0] == b'n', "record {} is a discarded one", r.0);
        }
    }
    // A writable open over the stale hint: opens, appends, reads right.
    let wal = Wal::open(dir.path(), small(256 << 10)).unwrap();
    wal.append(1, b"k", b"v").unwrap();
    let got = collect(&wal, cut);
    assert!(got.unwrap().iter().all(|r| r.3[0] == b'n' || r.3 == b"v"));
}

/// Not a regular file at the hint's name: a directory, a symlink (to the
/// segment itself, to a huge sparse file, dangling), a huge sparse file, a
/// FIFO would block; an .idx for the newest segment. Opens (read-only and
/// writable), reads, appends, truncates and cuts all work; read-only
/// handles change nothing on disk.
#[test]
fn odd_files_at_a_hint_name_fail_nothing() {
    let dir = TempDir::new("odd");
    fill(dir.path(), opts(), 600, 100).close().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    let sparse = dir.path().join("sparse.bin");
    fs::File::create(&sparse).unwrap().set_len(1 << 40).unwrap();
    let newest = segs.last().unwrap();
    // A hint for the newest segment that claims its first frames: crafted
    // with its salt, entries past the real ones.
    let salt_new = salt_of(newest);
    let fr_new = frames(newest);
    let fake_end = (file_len(newest) + 0, fr_new.last().unwrap().1 + 1000);
    fs::write(idx_of(newest), encode_hint(salt_new, first_seq_of(newest), fake_end, &[(fr_new[1].0, fr_new[1].1 + 500)]))
        .unwrap();
    let reference = {
        let wal = Wal::open(dir.path(), ro()).unwrap();
        collect(&wal, 0).unwrap()
    };
    let setups: Vec<Box<dyn Fn(&Path)>> = vec![
        Box::new(|p: &Path| fs::create_dir(p).unwrap()),
        Box::new(|p: &Path| std::os::unix::fs::symlink(p.with_extension("wal"), p).unwrap()),
        Box::new(|p: &Path| std::os::unix::fs::symlink(p.parent().unwrap().join("sparse.bin"), p).unwrap()),
        Box::new(|p: &Path| std::os::unix::fs::symlink("/nonexistent/x.idx", p).unwrap()),
        Box::new(|p: &Path| fs::File::create(p).unwrap().set_len(1 << 40).unwrap()),
        Box::new(|p: &Path| fs::write(p, b"").unwrap()),
    ];
    for (n, setup) in setups.iter().enumerate() {
        for s in &segs[..segs.len() - 1] {
            let p = idx_of(s);
            let _ = fs::remove_file(&p);
            let _ = fs::remove_dir(&p);
            setup(&p);
        }
        let before = snapshot(dir.path());
        {
            let wal = Wal::open(dir.path(), ro()).unwrap();
            for after in [0, 3, 100, 250, 400] {
                let got = collect(&wal, after).unwrap();
                assert_eq!(got.len(), reference.iter().filter(|r| r.0 > after).count(), "setup {n} after {after}");
                assert!(got.iter().zip(reference.iter().filter(|r| r.0 > after)).all(|(a, b)| a == b), "setup {n}");
            }
        }
        assert!(before == snapshot(dir.path()), "setup {n}: a read-only handle changed the directory");
    }
    // Writable: opens over directories at hint names, appends, rotates,
    // truncates and cuts.
    for s in &segs[..segs.len() - 1] {
        let p = idx_of(s);
        let _ = fs::remove_file(&p);
        fs::create_dir(&p).unwrap();
    }
    let wal = Wal::open(dir.path(), opts()).unwrap();
    assert_eq!(collect(&wal, 250).unwrap().len(), reference.iter().filter(|r| r.0 > 250).count());
    for i in 601..=900 {
        wal.append(1, &key(i), &value(i, 100)).unwrap();
    }
    wal.truncate(200).unwrap();
    wal.truncate_after(700).unwrap();
    assert_eq!(seqs(&wal, 200), (201..=700).collect::<Vec<_>>());
    wal.close().unwrap();
}

/// A read-only handle reading while the writer rotates, truncates and
/// cuts, with the writer's hints appearing and going: every record a
/// read-only handle returns is what the writer appended under that seq.
#[test]
fn a_read_only_handle_reading_while_the_writer_rotates_truncates_and_cuts() {
    let dir = TempDir::new("race");
    let wal = fill(dir.path(), opts(), 300, 100);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let d = dir.path().to_path_buf();
    let s2 = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut rounds = 0;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let Ok(ro) = Wal::open(&d, ro()) else { continue };
            let first = ro.first_seq();
            for after in [first, first + 37, first + 150] {
                match collect(&ro, after) {
                    Ok(rows) => {
                        for r in rows {
                            // Record i: key(i), value(i, 100) or, after the
                            // cut, b"c" + seq.
                            let ok = (r.2 == key(r.0) && r.3 == value(r.0, 100)) || r.3 == format!("c{}", r.0).into_bytes();
                            assert!(ok, "record {} read by a read-only handle is not the one appended", r.0);
                        }
                    }
                    Err(_) => {} // files removed under it: an error is allowed, a wrong record is not
                }
            }
            rounds += 1;
        }
        rounds
    });
    let mut next = 301;
    for round in 0..30 {
        for _ in 0..200 {
            assert_eq!(wal.append(1, &key(next), &value(next, 100)).unwrap(), next);
            next += 1;
        }
        wal.truncate(next - 400).unwrap();
        if round % 3 == 0 {
            let cut = next - 150;
            wal.truncate_after(cut).unwrap();
            next = cut + 1;
            for _ in 0..20 {
                assert_eq!(wal.append(1, &key(next), format!("c{next}").as_bytes()).unwrap(), next);
                next += 1;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let rounds = reader.join().unwrap();
    assert!(rounds > 0);
    wal.close().unwrap();
}

/// Hints left from segments that a truncate recycled and a cut then
/// replaced (the same names written again, from spares): put back over the
/// new files' hints, they read as without hints.
#[test]
fn hints_of_replaced_and_recycled_segments_read_as_without_them() {
    let dir = TempDir::new("recycled");
    let wal = fill(dir.path(), opts(), 900, 100);
    let segs = segments(dir.path());
    assert!(segs.len() >= 6);
    let saved: Vec<(PathBuf, Vec<u8>, u32)> = segs[..segs.len() - 1]
        .iter()
        .map(|s| (idx_of(s), fs::read(idx_of(s)).unwrap(), salt_of(s)))
        .collect();
    let second = first_seq_of(&segs[2]);
    wal.truncate(second + 5).unwrap();
    let keep = first_seq_of(&segs[3]) + 10;
    wal.truncate_after(keep).unwrap();
    for i in keep + 1..=900 {
        let mut v = value(i, 100);
        v[0] = b'n';
        wal.append(1, &key(i), &v).unwrap();
    }
    wal.close().unwrap();
    let mut same_salt = 0;
    let mut put_back = 0;
    for (idx, bytes, salt) in &saved {
        let seg = idx.with_extension("wal");
        if seg.exists() {
            same_salt += (salt_of(&seg) == *salt) as usize;
            fs::write(idx, bytes).unwrap();
            put_back += 1;
        }
    }
    assert!(put_back >= 3);
    let first = Wal::open(dir.path(), ro()).unwrap().first_seq();
    for after in (first..900).step_by(23) {
        let want = hintless(dir.path(), after);
        let wal = Wal::open(dir.path(), ro()).unwrap();
        let got = collect(&wal, after);
        assert!(same(&got, &want), "after {after}: with the hints: {}; without: {}", brief(&got), brief(&want));
        for r in got.unwrap() {
            assert!(r.0 <= keep || r.3[0] == b'n', "record {} is a discarded one", r.0);
        }
    }
    eprintln!("{put_back} stale hints put back, {same_salt} over a file with the same salt (the cut one)");
}

/// A FIFO at a hint's name (or at the name of a hint the writer is about to
/// write) must not block: opening a FIFO waits for the other end unless it
/// is opened non-blocking. Each step runs on a thread with a deadline.
#[test]
fn a_fifo_at_a_hint_name_blocks_nothing() {
    fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(20)).unwrap_or_else(|_| panic!("{what}: blocked for 20 s"))
    }
    fn mkfifo(p: &Path) {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", p.display());
    }
    let dir = TempDir::new("fifo");
    fill(dir.path(), opts(), 600, 100).close().unwrap();
    let segs = segments(dir.path());
    assert!(segs.len() >= 3);
    let reference = {
        let wal = Wal::open(dir.path(), ro()).unwrap();
        collect(&wal, 0).unwrap()
    };
    for s in &segs[..segs.len() - 1] {
        let _ = fs::remove_file(idx_of(s));
        mkfifo(&idx_of(s));
    }
    // The hint the writer writes when it seals the newest segment.
    mkfifo(&idx_of(segs.last().unwrap()));
    let path = dir.path().to_path_buf();
    let want: Vec<Row> = reference.iter().filter(|r| r.0 > 250).cloned().collect();
    let got = within("a read-only seek", {
        let path = path.clone();
        move || collect(&Wal::open(&path, ro()).unwrap(), 250).unwrap()
    });
    assert!(got == want, "read-only seek over FIFOs");
    within("a writable open, seeks, appends across rotations, truncate and cut", move || {
        let wal = Wal::open(&path, opts()).unwrap();
        assert!(collect(&wal, 250).unwrap() == want);
        for i in 601..=900 {
            wal.append(1, &key(i), &value(i, 100)).unwrap();
        }
        wal.truncate(200).unwrap();
        wal.truncate_after(700).unwrap();
        assert_eq!(seqs(&wal, 200), (201..=700).collect::<Vec<_>>());
        wal.close().unwrap();
    });
}
