//! Seek hints stored with sealed segments (`NNNNNNNNNNNNNNNNNNNN.idx`,
//! `src/hint.rs`, docs/FORMAT.md "Seek hints"): the first seek after a
//! reopen into a sealed segment reads a bounded number of bytes, not the
//! segment; a hostile or stale sidecar never changes what an iterator
//! returns, never panics and never sizes a large allocation; sidecars go
//! where their segments go.

mod common;
use common::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use wal::io::RealFs;
use wal::{Entry, Options, RecoveryMode, SyncMode, Wal};

#[path = "common/alloc.rs"]
mod alloc;
use alloc::largest_alloc_during;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

#[path = "common/counting.rs"]
mod counting;
use counting::{bytes_read_by_seek, CountingFs};

// ---- the sidecar's bytes, as docs/FORMAT.md describes them ----

fn sidecar_of(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

/// The first seq a segment's name says.
fn first_seq_of(segment: &Path) -> u64 {
    segment.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

/// The salt in a segment's header (bytes 12..16).
fn salt_of(segment: &Path) -> u32 {
    let bytes = std::fs::read(segment).unwrap();
    u32::from_le_bytes(bytes[12..16].try_into().unwrap())
}

/// A decoded sidecar: (salt, first_seq, end offset, end seq, entries).
#[derive(Debug, Clone)]
struct Sidecar {
    salt: u32,
    first_seq: u64,
    end: u64,
    end_seq: u64,
    entries: Vec<(u64, u64)>,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Reads a sidecar, checking what FORMAT.md says of every byte.
fn parse(bytes: &[u8]) -> Sidecar {
    assert_eq!(&bytes[..8], b"LIBWALIX");
    assert_eq!(u32_at(bytes, 8), 3, "format version");
    let count = u32_at(bytes, 40) as usize;
    assert_eq!(u32_at(bytes, 44), 0);
    assert_eq!(bytes.len(), 48 + 16 * count + 4);
    let crc_at = bytes.len() - 4;
    assert_eq!(crc32fast::hash(&bytes[..crc_at]), u32_at(bytes, crc_at), "CRC-32 of everything before it");
    let entries = (0..count).map(|i| (u64_at(bytes, 48 + 16 * i), u64_at(bytes, 56 + 16 * i))).collect();
    Sidecar { salt: u32_at(bytes, 12), first_seq: u64_at(bytes, 16), end: u64_at(bytes, 24), end_seq: u64_at(bytes, 32), entries }
}

fn encode(s: &Sidecar) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(b"LIBWALIX");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&s.salt.to_le_bytes());
    b.extend_from_slice(&s.first_seq.to_le_bytes());
    b.extend_from_slice(&s.end.to_le_bytes());
    b.extend_from_slice(&s.end_seq.to_le_bytes());
    b.extend_from_slice(&(s.entries.len() as u32).to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    for &(offset, seq) in &s.entries {
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&seq.to_le_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

/// The sidecars in `dir`, by name.
fn sidecars(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".idx"))
        .collect()
}

/// The sidecar names the sealed segments (all but the newest) have.
fn sealed_names(dir: &Path) -> BTreeSet<String> {
    let segs = segments(dir);
    let sealed = &segs[..segs.len().saturating_sub(1)];
    sealed.iter().map(|p| sidecar_of(p).file_name().unwrap().to_str().unwrap().to_string()).collect()
}

// ---- logs ----

/// Singles of many sizes, batches, sync marks (syncs): records tagged by
/// `tag` in their value's first byte.
fn mixed(wal: &Wal, records: u64, tag: u8) {
    for n in 0..records {
        let len = ((n * 37 + tag as u64 * 11) % 300) as usize;
        let mut v = value(n, len);
        if let Some(b) = v.first_mut() {
            *b = tag;
        }
        wal.append(1 + (n % 3) as u8, &key(n), &v).unwrap();
        if n % 9 == 0 {
            let keys: Vec<Vec<u8>> = (0..2 + n % 11).map(|j| key(n + j)).collect();
            let entries: Vec<Entry> = keys.iter().map(|k| Entry { op: 1, key: k, value: &v }).collect();
            wal.append_batch(&entries).unwrap();
        }
        if n % 170 == 0 {
            wal.sync().unwrap();
        }
    }
}

fn opts(segment_size: u64) -> Options {
    Options { segment_size, sync_mode: SyncMode::None, ..Options::default() }
}

/// The first records after `after` as a fresh handle's first seek reads
/// them.
fn first_seek(dir: &Path, opts: Options, after: u64, take: usize) -> Vec<Row> {
    let wal = Wal::open(dir, opts).unwrap();
    let mut it = wal.iter(after).unwrap();
    let mut out = Vec::new();
    while out.len() < take {
        match it.next().unwrap() {
            Some(r) => out.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec())),
            None => break,
        }
    }
    out
}

// ---- (1) the first seek after a reopen ----

/// After a reopen, the first seek at the end of a sealed 16 MiB segment
/// reads about one read buffer (256 KiB) and the sidecar; without the
/// sidecar (a log of an earlier build) it reads the segment, as before.
#[test]
fn the_first_seek_after_a_reopen_reads_a_buffer_not_the_sealed_segment() {
    let dir = TempDir::new("hintread");
    let read = Arc::new(AtomicU64::new(0));
    let fs = || Arc::new(CountingFs { inner: RealFs, read: read.clone() });
    let opts = opts(16 << 20);
    let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
    let v = vec![3u8; 100];
    let mut n = 0;
    while segments(dir.path()).len() < 3 {
        n += 1;
        wal.append(1, &key(n), &v).unwrap();
    }
    drop(wal);
    let segs = segments(dir.path());
    assert_eq!(sidecars(dir.path()), sealed_names(dir.path()), "each sealed segment has its sidecar");
    let hint = parse(&std::fs::read(sidecar_of(&segs[1])).unwrap());
    assert_eq!((hint.first_seq, hint.salt, hint.end_seq), (first_seq_of(&segs[1]), salt_of(&segs[1]), first_seq_of(&segs[2])));
    assert!(hint.entries.len() > 900, "{} entries for 16 MiB", hint.entries.len());
    let last_in = [first_seq_of(&segs[1]) - 1, first_seq_of(&segs[2]) - 1];
    let bound = 300 << 10;
    for &last in &last_in {
        for after in [last - 1, last / 2 + 3] {
            let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
            let bytes = bytes_read_by_seek(&wal, &read, after);
            assert!(bytes < bound, "the first seek after a reopen, after {after}, read {bytes} bytes");
        }
    }
    // Without the sidecars: the first seek reads the segment.
    for seg in &segs {
        let _ = std::fs::remove_file(sidecar_of(seg));
    }
    let wal = Wal::open_in(fs(), dir.path(), opts).unwrap();
    let scan = bytes_read_by_seek(&wal, &read, last_in[1] - 1);
    assert!(scan > 15 << 20, "without a sidecar the first seek read {scan} bytes");
    // The reader's index is in memory now: the next seeks read a buffer,
    // and the handle writes no sidecar for a segment it did not seal.
    assert!(bytes_read_by_seek(&wal, &read, last_in[1] - 2) < bound);
    drop(wal);
    assert_eq!(sidecars(dir.path()), BTreeSet::new());
}

// ---- (2) hostile sidecars ----

/// A log of 1 MiB segments (several sealed, the middle ones with
/// sidecars), every record it holds, and its segments.
fn hostile_log(dir: &Path) -> (Vec<Row>, Vec<PathBuf>) {
    let wal = Wal::open(dir, opts(1 << 20)).unwrap();
    let mut tag = 1;
    while segments(dir).len() < 5 {
        mixed(&wal, 1000, tag);
        tag += 1;
    }
    let all = collect(&wal, 0).unwrap();
    drop(wal);
    (all, segments(dir))
}

/// Every seek into the segment `seg` (records first..=last) and just past
/// it, each the first seek of a fresh handle (writable and read-only in
/// turn), and then every seek on one handle: exactly what a scan returns.
fn check_segment_seeks(dir: &Path, all: &[Row], first: u64, last: u64, what: &str) {
    let afters: Vec<u64> = (0..10).map(|k| first - 1 + (last - first) * k / 9).chain([last - 1, last, last + 1]).collect();
    let (_, largest) = largest_alloc_during(|| {
        for (i, &after) in afters.iter().enumerate() {
            let want: Vec<Row> = all.iter().filter(|r| r.0 > after).take(25).cloned().collect();
            let o = Options { read_only: i % 2 == 1, ..opts(1 << 20) };
            let got = first_seek(dir, o, after, 25);
            assert!(got == want, "{what}: the first seek after {after} returned other records than a scan");
        }
        let wal = Wal::open(dir, opts(1 << 20)).unwrap();
        for after in (first - 1..=last).step_by(7) {
            let want: Vec<Row> = all.iter().filter(|r| r.0 > after).take(5).cloned().collect();
            let mut it = wal.iter(after).unwrap();
            let mut got = Vec::new();
            while got.len() < 5 {
                match it.next().unwrap() {
                    Some(r) => got.push((r.seq, r.op, r.key.to_vec(), r.value.to_vec())),
                    None => break,
                }
            }
            assert!(got == want, "{what}: a seek after {after} returned other records than a scan");
        }
    });
    assert!(largest < 4 << 20, "{what}: an allocation of {largest} bytes");
}

#[test]
fn hostile_sidecars_never_change_what_a_seek_returns() {
    let dir = TempDir::new("hinthostile");
    let (all, segs) = hostile_log(dir.path());
    let (target, other) = (&segs[2], &segs[3]);
    let (first, last) = (first_seq_of(target), first_seq_of(&segs[3]) - 1);
    let path = sidecar_of(target);
    let pristine = std::fs::read(&path).unwrap();
    let good = parse(&pristine);
    assert!(good.entries.len() > 40, "{} entries", good.entries.len());
    let theirs = std::fs::read(sidecar_of(other)).unwrap();
    let seg_len = file_len(target);
    check_segment_seeks(dir.path(), &all, first, last, "the sidecar as written");

    let with = |f: &dyn Fn(&mut Sidecar)| {
        let mut s = good.clone();
        f(&mut s);
        encode(&s)
    };
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("cut to 10 bytes".into(), pristine[..10].to_vec()),
        ("cut in its header".into(), pristine[..40].to_vec()),
        ("cut by one byte".into(), pristine[..pristine.len() - 1].to_vec()),
        ("cut in half".into(), pristine[..pristine.len() / 2].to_vec()),
        ("a byte more".into(), [&pristine[..], &[0]].concat()),
        ("copied from the next segment".into(), theirs.clone()),
        ("another salt".into(), with(&|s| s.salt ^= 1)),
        ("another first seq".into(), with(&|s| s.first_seq += 1)),
        ("its end past the file".into(), with(&|s| s.end = seg_len + 1)),
        ("entries past the end".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.0 += seg_len))),
        ("entries unsorted".into(), with(&|s| s.entries.swap(3, 9))),
        ("entries repeated".into(), with(&|s| s.entries[7] = s.entries[6])),
        ("an entry in the segment header".into(), with(&|s| s.entries[0].0 = 8)),
        ("seqs past the segment".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.1 += last))),
        ("a count of 2^32-1".into(), {
            let mut b = pristine.clone();
            b[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
            let at = b.len() - 4;
            let crc = crc32fast::hash(&b[..at]);
            b[at..].copy_from_slice(&crc.to_le_bytes());
            b
        }),
        ("another version".into(), {
            let mut b = pristine.clone();
            b[8] = 4;
            let at = b.len() - 4;
            let crc = crc32fast::hash(&b[..at]);
            b[at..].copy_from_slice(&crc.to_le_bytes());
            b
        }),
        // Sound to the decoder, wrong on use: each seek by them misses.
        ("entries 7 bytes into their frames".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.0 += 7))),
        ("entries 40 bytes in: in the payloads".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.0 += 40))),
        ("seqs 3 too high".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.1 += 3))),
        ("seqs 2 too low".into(), with(&|s| s.entries.iter_mut().for_each(|e| e.1 -= 2))),
        ("every entry one back".into(), with(&|s| {
            let seqs: Vec<u64> = s.entries.iter().map(|e| e.1).collect();
            for (e, seq) in s.entries.iter_mut().skip(1).zip(seqs) {
                e.1 = seq;
            }
        })),
        ("an end inside a frame".into(), with(&|s| s.end -= 5)),
        ("an end seq too low".into(), with(&|s| {
            s.end_seq = s.entries[20].1;
            s.entries.truncate(20);
        })),
        ("the walked region's end as its end".into(), with(&|s| {
            let (offset, seq) = s.entries[20];
            (s.end, s.end_seq) = (offset, seq);
            s.entries.truncate(20);
        })),
        ("no entries".into(), with(&|s| s.entries.clear())),
        ("the next segment's, signed as this one's".into(), {
            let mut s = parse(&theirs);
            let shift = s.first_seq - first;
            s.entries.iter_mut().for_each(|e| e.1 -= shift);
            (s.salt, s.first_seq, s.end_seq) = (good.salt, good.first_seq, good.end_seq);
            encode(&s)
        }),
    ];
    // Flipped bytes, in every field and in entries.
    for at in (0..48).chain((48..pristine.len()).step_by(37)).chain([pristine.len() - 1]) {
        let mut b = pristine.clone();
        b[at] ^= 0x20;
        cases.push((format!("byte {at} flipped"), b));
    }
    for (what, bytes) in &cases {
        std::fs::write(&path, bytes).unwrap();
        check_segment_seeks(dir.path(), &all, first, last, what);
        // The writable opens keep a sealed segment's sidecar, whatever it
        // holds; it is a hint, read and checked, never repaired.
        assert!(path.exists(), "{what}: the sidecar was deleted");
    }
    // A huge sparse sidecar: refused by its length, never read or allocated.
    let f = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &pristine, 0).unwrap();
    f.set_len(8 << 30).unwrap();
    drop(f);
    check_segment_seeks(dir.path(), &all, first, last, "an 8 GiB sparse sidecar");
    let read = Arc::new(AtomicU64::new(0));
    let wal = Wal::open_in(Arc::new(CountingFs { inner: RealFs, read: read.clone() }), dir.path(), opts(1 << 20)).unwrap();
    let bytes = bytes_read_by_seek(&wal, &read, last - 1);
    assert!(bytes < 2 << 20, "{bytes} bytes read");
    drop(wal);
    // A segment file made sparse and 64 GiB long, and a 32 MiB sidecar: a
    // bound by the file's length alone would allow 64 MiB of sidecar; it
    // is refused by the options' segment_size (no larger segment is written).
    std::fs::OpenOptions::new().write(true).open(target).unwrap().set_len(64 << 30).unwrap();
    let f = std::fs::OpenOptions::new().write(true).truncate(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&f, &pristine, 0).unwrap();
    f.set_len(32 << 20).unwrap();
    drop(f);
    check_segment_seeks(dir.path(), &all, first, last, "a 32 MiB sidecar of a 64 GiB sparse segment");
}

/// A sidecar left from the same file before a cut of the newest records
/// and the appends after it (same salt, other frames), put back over the
/// one the second sealing wrote: every seek still returns the records the
/// file holds now, never a discarded one.
#[test]
fn a_sidecar_from_before_a_cut_and_new_appends_never_returns_a_discarded_record() {
    let dir = TempDir::new("hintstale");
    let wal = Wal::open(dir.path(), opts(1 << 20)).unwrap();
    while segments(dir.path()).len() < 4 {
        mixed(&wal, 1000, 1);
    }
    let segs = segments(dir.path());
    let target = &segs[1];
    let stale = std::fs::read(sidecar_of(target)).unwrap();
    let (first, last) = (first_seq_of(target), first_seq_of(&segs[2]) - 1);
    let cut = first + (last - first) / 3;
    wal.truncate_after(cut).unwrap();
    assert!(!sidecar_of(target).exists(), "the cut segment's sidecar goes");
    assert_eq!(sidecars(dir.path()), sealed_names(dir.path()));
    // Other records under the discarded seqs, in frames of other sizes.
    while segments(dir.path()).len() < 4 {
        mixed(&wal, 1000, 2);
    }
    assert!(sidecar_of(target).exists(), "sealed again: a new sidecar");
    let all = collect(&wal, 0).unwrap();
    assert!(all.iter().filter(|r| r.0 > cut).all(|r| r.3.first().is_none_or(|&b| b == 2)));
    drop(wal);
    let new_last = first_seq_of(&segments(dir.path())[2]) - 1;
    std::fs::write(sidecar_of(target), &stale).unwrap();
    assert_eq!(parse(&stale).salt, salt_of(target), "the same file: the same salt");
    check_segment_seeks(dir.path(), &all, first, new_last, "a sidecar from before the cut");
}

// ---- (3) where sidecars go ----

/// The hints of the spares (a truncate leaves a recycled segment's hint
/// until a rotation reuses the spare; the next open deletes it).
fn spare_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter_map(|n| n.strip_suffix(".spare").map(|stem| format!("{stem}.idx")))
        .collect()
}

/// Every hint is a sealed segment's, or a spare's (see spare_names); each
/// sealed segment has its own. A truncate hands the hints of the segments
/// it deletes to the handle's reaper thread (deleting one costs up to a
/// millisecond): they go soon after it returns, and before `wal_close`
/// returns.
fn assert_no_orphans(dir: &Path, what: &str) {
    let fine = |dir: &Path| {
        let (have, sealed) = (sidecars(dir), sealed_names(dir));
        let spares = spare_names(dir);
        sealed.is_subset(&have) && have.iter().all(|h| sealed.contains(h) || spares.contains(h))
    };
    for _ in 0..100 {
        if fine(dir) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(sidecars(dir), sealed_names(dir), "{what}: the sidecars are those of the sealed segments (and spares)");
}

#[test]
fn sidecars_go_with_their_segments_through_truncates_cuts_and_recycling() {
    for preallocate in [true, false] {
        let dir = TempDir::new("hintlife");
        let o = Options { preallocate, ..opts(256 << 10) };
        let wal = Wal::open(dir.path(), o).unwrap();
        let mut tag = 1;
        while segments(dir.path()).len() < 10 {
            mixed(&wal, 300, tag);
        }
        assert_no_orphans(dir.path(), "written");
        // A truncate removes (or recycles) the oldest segments.
        let segs = segments(dir.path());
        wal.truncate(first_seq_of(&segs[4]) + 5).unwrap();
        assert_eq!(segments(dir.path()).len(), 6);
        assert_no_orphans(dir.path(), "after a truncate");
        // A cut into an older segment deletes the newer ones.
        let segs = segments(dir.path());
        wal.truncate_after(first_seq_of(&segs[2]) + 10).unwrap();
        assert_eq!(segments(dir.path()).len(), 3);
        assert_no_orphans(dir.path(), "after a cut");
        // New segments, made of the spares where there are some.
        for _ in 0..2 {
            tag += 1;
            while segments(dir.path()).len() < 8 {
                mixed(&wal, 300, tag);
            }
            assert_no_orphans(dir.path(), "appended again");
            wal.truncate(first_seq_of(&segments(dir.path())[5])).unwrap();
            assert_no_orphans(dir.path(), "truncated again");
        }
        wal.truncate_after(wal.last_seq() - 3).unwrap();
        assert_no_orphans(dir.path(), "cut inside the newest segment");
        let all = collect(&wal, 0).unwrap();
        drop(wal);
        assert_no_orphans(dir.path(), "closed");
        let wal = Wal::open(dir.path(), o).unwrap();
        assert_eq!(collect(&wal, 0).unwrap(), all);
        assert_no_orphans(dir.path(), "reopened");
        assert_eq!(sidecars(dir.path()), sealed_names(dir.path()), "an open deletes the spares' hints");
    }
}

#[test]
fn an_open_deletes_sidecars_without_a_sealed_segment_and_a_read_only_one_changes_none() {
    let dir = TempDir::new("hintorphan");
    let wal = Wal::open(dir.path(), opts(256 << 10)).unwrap();
    while segments(dir.path()).len() < 4 {
        mixed(&wal, 300, 1);
    }
    drop(wal);
    let segs = segments(dir.path());
    let sound = std::fs::read(sidecar_of(&segs[0])).unwrap();
    let orphan = dir.path().join("00000000000009999999.idx");
    let newest = sidecar_of(segs.last().unwrap());
    let foreign = dir.path().join("notes.idx");
    for p in [&orphan, &newest, &foreign] {
        std::fs::write(p, &sound).unwrap();
    }
    let before = sidecars(dir.path());
    let ro = Wal::open(dir.path(), Options { read_only: true, ..opts(256 << 10) }).unwrap();
    collect(&ro, 0).unwrap();
    drop(ro);
    assert_eq!(sidecars(dir.path()), before, "a read-only open deletes no sidecar");
    let wal = Wal::open(dir.path(), opts(256 << 10)).unwrap();
    assert!(!orphan.exists() && !newest.exists(), "the orphan and the newest segment's sidecar go");
    assert!(foreign.exists(), "a file that is not a sidecar stays");
    std::fs::remove_file(&foreign).unwrap();
    assert_no_orphans(dir.path(), "opened");
    drop(wal);
    // A read-only handle of a log that rotates beside it writes none.
    let wal = Wal::open(dir.path(), opts(256 << 10)).unwrap();
    let ro = Wal::open(dir.path(), Options { read_only: true, ..opts(256 << 10) }).unwrap();
    while segments(dir.path()).len() < 6 {
        mixed(&wal, 300, 2);
    }
    let all = collect(&wal, 0).unwrap();
    let seen = collect(&ro, 0).unwrap();
    assert!(seen.len() < all.len() && all.starts_with(&seen));
    drop(ro);
    drop(wal);
    assert_no_orphans(dir.path(), "after a rotation beside a read-only handle");
}

#[test]
fn salvage_deletes_the_sidecars_of_the_segments_it_drops_and_cuts() {
    let dir = TempDir::new("hintsalvage");
    let wal = Wal::open(dir.path(), opts(256 << 10)).unwrap();
    while segments(dir.path()).len() < 6 {
        mixed(&wal, 300, 1);
    }
    drop(wal);
    let segs = segments(dir.path());
    // Damage in the middle of the third segment's frames.
    let hint = parse(&std::fs::read(sidecar_of(&segs[2])).unwrap());
    flip_byte(&segs[2], hint.entries[hint.entries.len() / 2].0 + 40);
    let wal = Wal::open(dir.path(), Options { recovery_mode: RecoveryMode::Salvage, ..opts(256 << 10) }).unwrap();
    assert_eq!(segments(dir.path()).len(), 3);
    assert!(wal.open_report().salvage_dropped_from > 0);
    assert_no_orphans(dir.path(), "after SALVAGE");
    assert!(!sidecar_of(&segs[2]).exists());
    let all = collect(&wal, 0).unwrap();
    drop(wal);
    let wal = Wal::open(dir.path(), opts(256 << 10)).unwrap();
    assert_eq!(collect(&wal, 0).unwrap(), all);
}

// ---- the cost, measured ----

/// `cargo test --release --test seek_hint -- --ignored --nocapture`: the
/// first seek after an open (iterator open + first record) at the start
/// and at the end of a full 64 MiB segment of 100-byte records, with its
/// seek hint and without (as a log of an earlier build), each the median
/// of several fresh handles, in one run (the ratios are what counts).
#[test]
#[ignore]
fn first_seek_after_an_open_with_and_without_the_hint() {
    use std::time::{Duration, Instant};
    let dir = TempDir::new("hintcost");
    let opts = Options { sync_mode: SyncMode::None, ..Options::default() };
    let wal = Wal::open(dir.path(), opts).unwrap();
    let v = vec![7u8; 100];
    let mut i = 0u64;
    while segments(dir.path()).len() < 2 {
        i += 1;
        wal.append(1, &key(i), &v).unwrap();
    }
    drop(wal);
    let segs = segments(dir.path());
    let last = first_seq_of(&segs[1]) - 1;
    let hint_path = sidecar_of(&segs[0]);
    let hint = std::fs::read(&hint_path).unwrap();
    let first_seek = |after: u64| -> Duration {
        let wal = Wal::open(dir.path(), opts).unwrap();
        let t = Instant::now();
        let mut it = wal.iter(after).unwrap();
        assert_eq!(it.next().unwrap().map(|r| r.seq), Some(after + 1));
        t.elapsed()
    };
    let median = |after: u64, rounds: usize| -> Duration {
        let mut v: Vec<Duration> = (0..rounds).map(|_| first_seek(after)).collect();
        v.sort();
        v[rounds / 2]
    };
    let rounds = 15;
    let (start, end) = (median(0, rounds), median(last - 1, rounds));
    std::fs::remove_file(&hint_path).unwrap();
    let (start_without, end_without) = (median(0, rounds), median(last - 1, rounds));
    std::fs::write(&hint_path, &hint).unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let r = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "first seek after an open, full 64 MiB segment of {last} records ({} hint entries), medians of {rounds}, \
         load {}: with the hint start {start:?}, end {end:?} ({:.2}x); without start {start_without:?}, end \
         {end_without:?} ({:.2}x)",
        parse(&hint).entries.len(),
        load.split(' ').next().unwrap_or("?"),
        r(end, start),
        r(end_without, start_without)
    );
}
