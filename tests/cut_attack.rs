//! Attacks on `truncate_after` (the cut of the newest records) beyond
//! tests/cut.rs: what a refused or racing cut does to the durable
//! watermark and to appends, hostile cut intents in wal.meta, a read-only
//! open or handle beside a writer that cuts, a single failed call (EIO,
//! ENOSPC) at each step, a crash while an open finishes a cut, a cut inside
//! a batch bigger than a segment, a cut after a truncate after a cut, a cut
//! after a torn tail, and cuts racing appends, syncs, waits and iterators.

mod common;
use common::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use wal::format::{self, CutIntent, Meta, FRAME_HEADER_LEN};
use wal::io::sim::Rng;
use wal::io::{Fs, FsFile, OpenMode, SimFs};
use wal::{Entry, ErrorKind, Options, SyncMode, Wal};

const DIR: &str = "/sim/attack";

/// (seq, key, value) of every record.
type Log = Vec<(u64, Vec<u8>, Vec<u8>)>;

fn records(wal: &Wal) -> Log {
    collect(wal, 0).unwrap().into_iter().map(|r| (r.0, r.2, r.3)).collect()
}

fn batch(wal: &Wal, tag: &str, n: u64, len: usize) -> u64 {
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("{tag}.{i}").into_bytes()).collect();
    let vals: Vec<Vec<u8>> = (0..n).map(|i| value(i, len)).collect();
    let entries: Vec<Entry<'_>> = keys.iter().zip(&vals).map(|(k, v)| Entry { op: 3, key: k, value: v }).collect();
    wal.append_batch(&entries).unwrap()
}

fn sim_open(fs: &SimFs, opts: Options) -> Wal {
    Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap()
}

/// A log on a fresh simulated file system, built by `build` and closed.
fn sim_log(seed: u64, opts: Options, build: impl FnOnce(&Wal)) -> (SimFs, Log) {
    let fs = SimFs::with_seed(seed);
    let wal = sim_open(&fs, opts);
    build(&wal);
    wal.sync().unwrap();
    let log = records(&wal);
    wal.close().unwrap();
    (fs, log)
}

fn new_log(before: &Log, seq: u64) -> Log {
    before.iter().filter(|r| r.0 <= seq).cloned().collect()
}

/// A reopen finds the old log or the new one (read-only and writable
/// agree), and the next append follows it. Returns whether it was new.
fn old_or_new(fs: SimFs, opts: Options, before: &Log, seq: u64, what: &str) -> bool {
    let ro = Options { read_only: true, ..opts };
    let seen_ro = Wal::open_in(Arc::new(fs.clone()), DIR, ro).map(|w| records(&w));
    let wal = Wal::open_in(Arc::new(fs), DIR, opts).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    let got: Log = match collect(&wal, 0) {
        Ok(rows) => rows.into_iter().map(|r| (r.0, r.2, r.3)).collect(),
        Err(e) => panic!("{what}: replay after the reopen: {e}"),
    };
    let is_new = got == new_log(before, seq) && wal.last_seq() == seq;
    assert!(is_new || got == *before, "{what}: the log is neither the old one nor the new one: {:?}", seqs_of(&got));
    assert_eq!(seen_ro.as_ref().ok(), Some(&got), "{what}: a read-only open saw another log");
    let next = wal.last_seq() + 1;
    assert_eq!(wal.append(1, b"next", b"").unwrap(), next, "{what}");
    is_new
}

fn seqs_of(log: &Log) -> Vec<u64> {
    log.iter().map(|r| r.0).collect()
}

/// The mutating calls a cut to `seq` makes on a copy of `fs`.
fn calls_of_cut(fs: &SimFs, opts: Options, seq: u64) -> u64 {
    let trial = fs.fork();
    let wal = sim_open(&trial, opts);
    let start = trial.calls();
    wal.truncate_after(seq).unwrap();
    trial.calls() - start
}

/// A power cut and a kill at every call of a cut to `seq` of the log in
/// `fs`: the old log or the new one. Returns (rounds, came back new).
fn crash_at_every_call(fs: &SimFs, opts: Options, before: &Log, seq: u64, what: &str) -> (u64, u64) {
    let calls = calls_of_cut(fs, opts, seq);
    let mut rng = Rng::new(seq ^ calls);
    let (mut rounds, mut new) = (0, 0);
    for n in 0..=calls {
        let f = fs.fork();
        let wal = sim_open(&f, opts);
        f.cut_power_after(n);
        let result = wal.truncate_after(seq);
        assert_eq!(result.is_ok(), n == calls, "{what}: call {n} of {calls}: {result:?}");
        f.cut_power_after(0);
        drop(wal);
        for crash in [false, true] {
            let after = if crash { f.crash(&mut rng) } else { f.fork() };
            let how = if crash { "power cut" } else { "kill" };
            let is_new = old_or_new(after, opts, before, seq, &format!("{what}: call {n} of {calls}, {how}"));
            if n == calls {
                assert!(is_new, "{what}: the cut returned: the log must be the new one");
            }
            rounds += 1;
            new += is_new as u64;
        }
    }
    (rounds, new)
}

// ------------------------------------------------ the durable watermark

#[test]
fn a_refused_cut_leaves_the_durable_watermark_alone() {
    let dir = TempDir::new("attack-refused");
    let wal = fill(dir.path(), small(4096), 20, 10);
    let cp = wal.checkpoint().unwrap();
    let last = wal.append(1, b"after", b"").unwrap();
    assert_eq!(wal.durable_seq(), last);
    assert_eq!(wal.truncate_after(cp - 1).err().unwrap().kind(), ErrorKind::Range);
    assert_eq!(wal.last_seq(), last, "nothing was cut");
    assert_eq!(wal.durable_seq(), last, "a refused cut made records the log holds durable no more");
    wal.wait(last, true, Some(Duration::ZERO)).unwrap();
}

#[test]
fn after_a_cut_what_it_kept_is_durable_whatever_the_sync_mode() {
    for sync_mode in [SyncMode::None, SyncMode::Every(1000), SyncMode::Always] {
        let dir = TempDir::new("attack-durable");
        let wal = fill(dir.path(), Options { sync_mode, ..small(4096) }, 100, 30);
        wal.truncate_after(60).unwrap();
        // The cut synced everything it kept (FORMAT.md: "the writer has
        // synced everything" before the intent).
        assert_eq!(wal.durable_seq(), 60, "{sync_mode:?}");
        wal.wait(60, true, Some(Duration::ZERO)).unwrap();
    }
}

/// Pins the calling thread (and the threads it starts) to one CPU, so that
/// a thread woken by a mutex's release may run before the releaser goes on.
fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only read and write that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// An append blocked behind a cut takes the seq after it; with
/// WAL_SYNC_ALWAYS it must be durable when it returns, even though the
/// durable watermark was above that seq before the cut.
#[test]
fn an_append_made_as_a_cut_ends_is_durable_when_it_returns() {
    let trials = 300;
    let mut lost = vec![];
    let handle = std::thread::spawn(move || {
        pin_to_one_cpu();
        for trial in 0..trials {
            let (fs, _) = sim_log(trial, small(4096), |wal| {
                for i in 1..=20 {
                    wal.append(1, &key(i), &value(i, 10)).unwrap();
                }
            });
            let wal = Arc::new(sim_open(&fs, small(4096)));
            assert_eq!(wal.durable_seq(), 20);
            // The cut's first fdatasync holds it inside, with the state locked.
            let pause = fs.pause_sync(1);
            let cutter = {
                let wal = wal.clone();
                std::thread::spawn(move || wal.truncate_after(10).unwrap())
            };
            pause.wait_held();
            let appender = {
                let wal = wal.clone();
                std::thread::spawn(move || wal.append(1, b"after the cut", b"").unwrap())
            };
            std::thread::sleep(Duration::from_millis(2));
            pause.release();
            cutter.join().unwrap();
            let seq = appender.join().unwrap();
            assert_eq!(seq, 11);
            // Killed now: what the append acknowledged must be on file.
            let after = fs.fork();
            let reopened = Wal::open_in(Arc::new(after), DIR, small(4096)).unwrap();
            if reopened.last_seq() < 11 {
                lost.push(trial);
            }
        }
        lost
    });
    let lost = handle.join().unwrap();
    assert!(lost.is_empty(), "in {} of {trials} trials an append acknowledged durable (seq 11) was lost: {lost:?}", lost.len());
}

// ------------------------------------------------ hostile cut intents

fn meta_path() -> PathBuf {
    Path::new(DIR).join("wal.meta")
}

/// The log with a cut to `seq` recorded in wal.meta and nothing applied
/// yet (its writer was killed right after the intent was durable), and
/// what wal.meta says.
fn with_intent(fs: &SimFs, opts: Options, seq: u64) -> (SimFs, Meta) {
    for n in 1..1000 {
        let f = fs.fork();
        let wal = sim_open(&f, opts);
        f.cut_power_after(n);
        let _ = wal.truncate_after(seq);
        f.cut_power_after(0);
        drop(wal);
        let f = f.fork();
        if let Some(meta) = read_meta(&f).filter(|m| m.cut.is_some()) {
            return (f, meta);
        }
    }
    panic!("no call of the cut left an intent");
}

fn read_meta(fs: &SimFs) -> Option<Meta> {
    format::decode_meta_file(&fs.read_file(&meta_path()).ok()?).ok()
}

/// A wal.meta whose two slots say `floor` and `cut`, of the generations
/// after `generation` (as `write_meta` rewrites them).
fn meta_file(floor: u64, cut: &CutIntent, generation: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; format::META_FILE_LEN];
    for generation in [generation + 1, generation + 2] {
        let at = (generation % 2) as usize * format::META_SLOT_LEN;
        let slot = format::encode_meta_slot(&Meta { floor, cut: Some(*cut), generation });
        bytes[at..at + format::META_SLOT_LEN].copy_from_slice(&slot);
    }
    bytes
}

/// Every file of the log directory and its bytes.
fn files(fs: &SimFs) -> Vec<(OsString, Vec<u8>)> {
    let mut names = fs.list(Path::new(DIR)).unwrap();
    names.sort();
    names.into_iter().map(|n| (n.clone(), fs.read_file(&Path::new(DIR).join(&n)).unwrap())).collect()
}

/// An open of a log whose wal.meta holds `meta` is a clear Corrupt naming
/// wal.meta (read-only and writable), and changes no file.
fn refused(fs: &SimFs, opts: Options, meta: &[u8], what: &str) -> Vec<String> {
    let f = fs.fork();
    f.write_file(&meta_path(), meta).unwrap();
    let before = files(&f);
    let mut wrong = vec![];
    for read_only in [true, false] {
        let how = if read_only { "read-only" } else { "writable" };
        let fs = f.fork();
        match Wal::open_in(Arc::new(fs.clone()), DIR, Options { read_only, ..opts }) {
            Err(e) if e.kind() == ErrorKind::Corrupt && e.to_string().contains("wal.meta") => {}
            Err(e) => wrong.push(format!("{what}: {how} open: {e}")),
            Ok(wal) => wrong.push(format!("{what}: {how} open succeeded, last_seq {}", wal.last_seq())),
        }
        if files(&fs) != before {
            wrong.push(format!("{what}: the {how} open changed files"));
        }
    }
    wrong
}

fn with(intent: &CutIntent, change: impl FnOnce(&mut CutIntent)) -> CutIntent {
    let mut c = *intent;
    change(&mut c);
    c
}

#[test]
fn a_hostile_cut_intent_is_corrupt_never_a_wrong_log() {
    let opts = small(4096);
    let (fs, _) = sim_log(7, opts, |wal| {
        for i in 1..=30 {
            wal.append(1, &key(i), &value(i, 100)).unwrap();
        }
        batch(wal, "b", 10, 20); // 31..=40
        for i in 41..=60 {
            wal.append(1, &key(i), &value(i, 100)).unwrap();
        }
    });
    let mut wrong = vec![];
    // Inside the batch (the intent holds the shortened header), and at a
    // frame's start (it holds none).
    for seq in [35, 50] {
        let (f, meta) = with_intent(&fs, opts, seq);
        let (floor, real, generation) = (meta.floor, meta.cut.unwrap(), meta.generation);
        assert_eq!(real.header.is_some(), seq == 35);
        let segs = segments_of(&f);
        let other = segs.iter().find(|s| s.0 != real.segment.first_seq).copied().unwrap();
        let mut cases: Vec<(String, CutIntent, u64)> = vec![
            ("seq + 1".into(), with(&real, |c| c.seq += 1), floor),
            ("seq - 1".into(), with(&real, |c| c.seq -= 1), floor),
            ("seq u64::MAX".into(), with(&real, |c| c.seq = u64::MAX), floor),
            ("offset + 1".into(), with(&real, |c| c.offset += 1), floor),
            ("offset - 1".into(), with(&real, |c| c.offset -= 1), floor),
            ("end + 1".into(), with(&real, |c| c.end += 1), floor),
            ("end u64::MAX".into(), with(&real, |c| c.end = u64::MAX), floor),
            ("offset and end huge".into(), with(&real, |c| (c.offset, c.end) = (u64::MAX - 40, u64::MAX - 8)), floor),
            ("salt ^ 1".into(), with(&real, |c| c.segment.salt ^= 1), floor),
            ("a missing segment".into(), with(&real, |c| c.segment.first_seq = 999_999), floor),
            ("another segment".into(), with(&real, |c| c.segment = format::SegmentHeader { first_seq: other.0, salt: other.1 }), floor),
            ("the floor above the cut".into(), real, seq + 5),
        ];
        match real.header {
            Some(h) => {
                let mut flipped = h;
                flipped[8] ^= 1; // its count: the header's checksum fails
                cases.push(("header count flipped".into(), with(&real, |c| c.header = Some(flipped)), floor));
                cases.push(("end - 1".into(), with(&real, |c| c.end -= 1), floor));
                cases.push(("no header".into(), with(&real, |c| (c.header, c.end) = (None, c.offset)), floor));
                cases.push(("header cut short".into(), with(&real, |c| c.end = c.offset + 8), floor));
            }
            None => {
                cases.push(("a zero header".into(), with(&real, |c| (c.header, c.end) = (Some([0; FRAME_HEADER_LEN]), c.offset + 32)), floor));
                cases.push(("end past the offset".into(), with(&real, |c| c.end = c.offset + 1), floor));
            }
        }
        for (what, intent, floor) in &cases {
            let meta = meta_file(*floor, intent, generation);
            wrong.extend(refused(&f, opts, &meta, &format!("cut to {seq}, {what}")));
        }
        // Damage: each byte flipped in turn, in one slot (the other says
        // the same: the cut is finished) and in both (Corrupt).
        let meta = f.read_file(&meta_path()).unwrap();
        for i in 0..format::META_SLOT_LEN {
            let mut one = meta.clone();
            one[i] ^= 0x20;
            for read_only in [true, false] {
                let g = f.fork();
                g.write_file(&meta_path(), &one).unwrap();
                match Wal::open_in(Arc::new(g), DIR, Options { read_only, ..opts }) {
                    Ok(wal) if wal.last_seq() == seq => {}
                    Ok(wal) => wrong.push(format!("cut to {seq}, byte {i} of a slot flipped: last_seq {}", wal.last_seq())),
                    Err(e) => wrong.push(format!("cut to {seq}, byte {i} of a slot flipped: {e}")),
                }
            }
            let mut both = one;
            both[format::META_SLOT_LEN + i] ^= 0x20;
            wrong.extend(refused(&f, opts, &both, &format!("cut to {seq}, byte {i} flipped in both slots")));
        }
        // The real intent still finishes the cut.
        assert_eq!(sim_open(&f.fork(), opts).last_seq(), seq);
    }
    assert!(wrong.is_empty(), "{} hostile intents not refused:\n{}", wrong.len(), wrong.join("\n"));
}

/// (first_seq, salt) of each segment.
fn segments_of(fs: &SimFs) -> Vec<(u64, u32)> {
    let mut out = vec![];
    for (name, bytes) in files(fs) {
        if name.to_string_lossy().ends_with(".wal") {
            let h = format::decode_segment_header(&bytes[..32]).unwrap();
            out.push((h.first_seq, h.salt));
        }
    }
    out
}

// ------------------------------------------------ readers beside a writer

/// The file system as a reader sees it that read wal.meta before a writer
/// began a cut, and the rest when the writer had made `n` calls of it.
struct MetaBefore {
    before: SimFs,
    now: SimFs,
    meta_read: AtomicBool,
}

impl Fs for MetaBefore {
    fn open(&self, path: &Path, mode: OpenMode) -> std::io::Result<Arc<dyn FsFile>> {
        if path.ends_with("wal.meta") && !self.meta_read.swap(true, Ordering::SeqCst) {
            return self.before.open(path, mode);
        }
        self.now.open(path, mode)
    }
    fn is_dir(&self, path: &Path) -> std::io::Result<bool> {
        self.now.is_dir(path)
    }
    fn create_dir_all(&self, path: &Path) -> std::io::Result<()> {
        self.now.create_dir_all(path)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<OsString>> {
        self.now.list(dir)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.now.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> std::io::Result<()> {
        self.now.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> std::io::Result<()> {
        self.now.sync_dir(dir)
    }
    fn lock(&self, path: &Path) -> std::io::Result<Box<dyn std::any::Any + Send + Sync>> {
        self.now.lock(path)
    }
}

/// A read-only open (another process) while a writer cuts: it read
/// wal.meta before the cut began, the segments at any later call of it.
/// It must succeed and see the old log or the new one.
#[test]
fn a_read_only_open_during_a_cut_sees_the_old_log_or_the_new_one() {
    let mut wrong = vec![];
    for (n_segments, seq, inside) in [(1u64, 35u64, true), (1, 30, false), (6, 35, true), (6, 30, false)] {
        let opts = small(if n_segments == 1 { 1 << 20 } else { 4096 });
        let (fs, before) = sim_log(3, opts, |wal| {
            for i in 1..=30 {
                wal.append(1, &key(i), &value(i, 100)).unwrap();
            }
            batch(wal, "b", 10, 20); // 31..=40
            for i in 41..=80 {
                wal.append(1, &key(i), &value(i, 100)).unwrap();
            }
        });
        let calls = calls_of_cut(&fs, opts, seq);
        for n in 0..=calls {
            let mid = fs.fork();
            let wal = sim_open(&mid, opts);
            mid.cut_power_after(n);
            let _ = wal.truncate_after(seq);
            mid.cut_power_after(0);
            let view = MetaBefore { before: fs.fork(), now: mid.fork(), meta_read: AtomicBool::new(false) };
            let what = format!("{n_segments} segment(s), cut to {seq} (inside a batch: {inside}), call {n} of {calls}");
            match Wal::open_in(Arc::new(view), DIR, Options { read_only: true, ..opts }) {
                Ok(ro) => match collect(&ro, 0) {
                    Ok(rows) => {
                        let got: Log = rows.into_iter().map(|r| (r.0, r.2, r.3)).collect();
                        if got != before && got != new_log(&before, seq) {
                            wrong.push(format!("{what}: read seqs {:?}", span(&got)));
                        }
                    }
                    Err(e) => wrong.push(format!("{what}: replay: {e}")),
                },
                Err(e) => wrong.push(format!("{what}: open: {e}")),
            }
            drop(wal);
        }
    }
    assert!(wrong.is_empty(), "{} read-only opens went wrong:\n{}", wrong.len(), wrong.join("\n"));
}

fn span(log: &Log) -> (u64, u64) {
    (log.first().map_or(0, |r| r.0), log.last().map_or(0, |r| r.0))
}

/// A read-only handle's iterator (another process's) across a writer's cut:
/// it may go on with the records it can still read, or say Range; a healthy
/// log is never Corrupt.
#[test]
fn a_read_only_handle_iterating_across_a_cut_never_reports_corruption() {
    let mut wrong = vec![];
    for (seq, read_first) in [(100u64, 50usize), (100, 150), (35, 20), (250, 240)] {
        let dir = TempDir::new("attack-ro-iter");
        let writer = fill(dir.path(), small(4096), 300, 100);
        let before = records(&writer);
        let ro = Wal::open(dir.path(), Options { read_only: true, ..small(4096) }).unwrap();
        let mut it = ro.iter(0).unwrap();
        for _ in 0..read_first {
            it.next().unwrap().unwrap();
        }
        writer.truncate_after(seq).unwrap();
        let mut n = read_first as u64;
        loop {
            match it.next() {
                Ok(Some(r)) => {
                    n += 1;
                    assert_eq!((r.seq, r.key), (before[n as usize - 1].0, &before[n as usize - 1].1[..]));
                }
                Ok(None) => break,
                Err(e) if e.kind() == ErrorKind::Range => break,
                Err(e) => {
                    wrong.push(format!("cut to {seq} after {read_first} records read: at seq {}: {e}", n + 1));
                    break;
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

// ------------------------------------------------ faults and crashes

/// The scenarios of the crash tests below: a log and a cut to make.
fn scenario(seed: u64) -> (SimFs, Options, Log, u64) {
    let mut rng = Rng::new(seed);
    let sync_mode = [SyncMode::Always, SyncMode::None, SyncMode::Every(3)][rng.below(3) as usize];
    let segment_size = [4096, 8192, 1 << 20][rng.below(3) as usize];
    let opts = Options { segment_size, sync_mode, preallocate: rng.below(2) == 0, ..Options::default() };
    let (fs, before) = sim_log(rng.next_u64(), opts, |wal| {
        for i in 0..1 + rng.below(30) {
            if rng.below(3) == 0 {
                batch(wal, &format!("b{i}"), 2 + rng.below(30), rng.below(100) as usize);
            } else {
                wal.append(1, &key(i), &value(i, rng.below(300) as usize)).unwrap();
            }
        }
    });
    let (first, last) = (before[0].0, before.last().unwrap().0);
    let seq = first - 1 + rng.below(last - first + 1);
    (fs, opts, before, seq)
}

/// The seek hints (`NNNN.idx`) that are not of a sealed segment (all but
/// the newest): those a cut deletes.
fn stray_hints(fs: &SimFs) -> Vec<String> {
    let names: Vec<String> = fs.list(Path::new(DIR)).unwrap().into_iter().map(|n| n.into_string().unwrap()).collect();
    let mut segs: Vec<&String> = names.iter().filter(|n| n.ends_with(".wal")).collect();
    segs.sort();
    segs.pop();
    let sealed: Vec<String> = segs.iter().map(|n| n.replace(".wal", ".idx")).collect();
    names.iter().filter(|n| n.ends_with(".idx") && !sealed.contains(n)).cloned().collect()
}

/// One failed call (EIO or ENOSPC) at each step of a cut, the process going
/// on (the handle is poisoned), then a kill or a power cut.
#[test]
fn a_failed_call_at_any_step_of_a_cut_leaves_the_old_log_or_the_new_one() {
    let mut rounds = 0;
    for seed in 1..=40 {
        let (fs, opts, before, seq) = scenario(seed);
        let calls = calls_of_cut(&fs, opts, seq);
        let mut rng = Rng::new(seed);
        for n in 1..=calls {
            for errno in [libc::EIO, libc::ENOSPC] {
                let f = fs.fork();
                let wal = sim_open(&f, opts);
                f.fail_call(n, errno);
                let result = wal.truncate_after(seq);
                if result.is_ok() {
                    // Only the deletion of a seek hint may fail without
                    // failing the cut (src/hint.rs: best effort): the hint
                    // is left, of a segment that is gone or written again.
                    let left = stray_hints(&f);
                    assert!(!left.is_empty(), "seed {seed}: call {n} of {calls} failed, the cut returned Ok");
                    assert!(!wal.is_poisoned());
                    drop(wal);
                    old_or_new(f.fork(), opts, &before, seq, &format!("seed {seed}, hint deletion {n} failed"));
                    rounds += 1;
                    continue;
                }
                assert!(wal.is_poisoned());
                assert!(wal.append(1, b"x", b"").is_err());
                drop(wal);
                for crash in [false, true] {
                    let after = if crash { f.crash(&mut rng) } else { f.fork() };
                    old_or_new(after, opts, &before, seq, &format!("seed {seed}, call {n} of {calls} failed ({errno}), crash {crash}"));
                    rounds += 1;
                }
            }
        }
    }
    println!("failed-call rounds: {rounds}");
}

/// A cut whose writer died after its intent was durable, finished by an
/// open that itself dies (power cut, kill, one failed call) at each call:
/// the log that comes back is the new one.
#[test]
fn an_open_that_dies_while_finishing_a_cut_leaves_the_new_log() {
    let mut rounds = 0;
    for seed in 1..=30 {
        let (fs, opts, before, seq) = scenario(seed);
        if before.last().unwrap().0 == seq {
            continue;
        }
        let calls = calls_of_cut(&fs, opts, seq);
        let mut rng = Rng::new(seed);
        // The writer dies at each call after the intent is durable: from
        // the call after the rename that put it in place (a directory fsync).
        let has_intent = |f: &SimFs| {
            read_meta(f).is_some_and(|m| m.cut.is_some())
        };
        let stopped_at = |n: u64| {
            let f = fs.fork();
            let wal = sim_open(&f, opts);
            f.cut_power_after(n);
            let _ = wal.truncate_after(seq);
            f.cut_power_after(0);
            drop(wal);
            f.fork()
        };
        let Some(renamed) = (1..calls).find(|&n| has_intent(&stopped_at(n))) else { panic!("seed {seed}: no intent") };
        for n in renamed + 1..calls {
            let f = stopped_at(n);
            if !has_intent(&f) {
                break; // the cut is done: it dropped its intent
            }
            // How many calls the finishing open makes.
            let trial = f.fork();
            let start = trial.calls();
            drop(sim_open(&trial, opts));
            let open_calls = trial.calls() - start;
            for m in 0..open_calls {
                for how in 0..3 {
                    let g = f.fork();
                    match how {
                        0 | 1 => g.cut_power_after(m),
                        _ => g.fail_call(m + 1, libc::EIO),
                    }
                    let opened = Wal::open_in(Arc::new(g.clone()), DIR, opts);
                    g.cut_power_after(0); // dies: its close writes nothing
                    drop(opened);
                    let after = if how == 1 { g.crash(&mut rng) } else { g.fork() };
                    let what = format!("seed {seed}: writer died at call {n}, its reopen at call {m} ({how})");
                    assert!(old_or_new(after, opts, &before, seq, &what), "{what}: the intent was durable, the cut must be done");
                    rounds += 1;
                }
            }
        }
    }
    println!("finishing-open rounds: {rounds}");
}

#[test]
fn a_cut_inside_a_batch_bigger_than_a_segment_survives_a_crash_at_any_call() {
    for sync_mode in [SyncMode::Always, SyncMode::None] {
        let opts = Options { sync_mode, ..small(4096) };
        let (fs, before) = sim_log(11, opts, |wal| {
            for i in 1..=10 {
                wal.append(1, &key(i), &value(i, 200)).unwrap();
            }
            batch(wal, "huge", 600, 60); // 11..=610, about 45 KB: a segment of its own
            for i in 611..=650 {
                wal.append(1, &key(i), &value(i, 200)).unwrap();
            }
        });
        for seq in [11, 300, 609, 610, 10] {
            let (rounds, new) = crash_at_every_call(&fs, opts, &before, seq, &format!("{sync_mode:?}, cut to {seq}"));
            assert!(new > 0 && new < rounds);
        }
    }
}

#[test]
fn a_cut_after_a_truncate_after_a_cut_survives_a_crash_at_any_call() {
    // With preallocation, truncates keep freed segments as spares and
    // rotations reuse them.
    for preallocate in [false, true] {
        let opts = Options { preallocate, ..small(4096) };
        let fs = SimFs::with_seed(12);
        let wal = sim_open(&fs, opts);
        for i in 1..=200 {
            wal.append(1, &key(i), &value(i, 50)).unwrap();
        }
        wal.truncate_after(150).unwrap();
        batch(&wal, "x", 20, 10); // 151..=170
        wal.truncate(120).unwrap();
        wal.truncate_after(160).unwrap();
        wal.truncate(140).unwrap();
        let spares = || files(&fs).iter().filter(|(n, _)| n.to_string_lossy().ends_with(".spare")).count();
        assert_eq!(spares() > 0, preallocate, "spares after the truncates");
        for i in 161..=240 {
            wal.append(1, &key(i), &value(i, 50)).unwrap();
        }
        if preallocate {
            assert!(spares() < 2, "the rotations since took a spare");
        }
        let before = records(&wal);
        wal.close().unwrap();
        assert_eq!(span(&before), (141, 240));
        for seq in [140, 145, 155, 160, 175, 230] {
            crash_at_every_call(&fs, opts, &before, seq, &format!("preallocate {preallocate}, cut to {seq}"));
        }
    }
}

#[test]
fn a_cut_after_an_open_cut_a_torn_tail_survives_a_crash_at_any_call() {
    for preallocate in [false, true] {
        let opts = Options { preallocate, ..small(8192) };
        let (fs, _) = sim_log(13, opts, |wal| {
            for i in 1..=40 {
                wal.append(1, &key(i), &value(i, 100)).unwrap();
            }
            batch(wal, "t", 8, 30); // 41..=48
        });
        // A torn frame after the last one: a piece of the last frame's payload.
        let newest = fs.list(Path::new(DIR)).unwrap().into_iter().filter(|n| n.to_string_lossy().ends_with(".wal")).max().unwrap();
        let path = Path::new(DIR).join(&newest);
        let first_seq: u64 = newest.to_string_lossy()[..20].parse().unwrap();
        let info = wal::segment::SegmentInfo::new(first_seq, path.clone());
        let mut reader = wal::segment::SegmentReader::open(&fs, &info, None).unwrap();
        let mut expected = first_seq;
        while let Ok(next) = reader.skip(expected).unwrap() {
            expected = next;
        }
        assert_eq!(expected, 49);
        let data_end = reader.position() as usize;
        let mut bytes = fs.read_file(&path).unwrap();
        bytes.truncate(data_end);
        let torn: Vec<u8> = bytes[data_end - 60..data_end - 10].to_vec();
        bytes.extend_from_slice(&torn);
        fs.write_file(&path, &bytes).unwrap();
        fs.write_file(&Path::new(DIR).join("LOCK"), b"").unwrap();
        let wal = sim_open(&fs, opts);
        assert!(wal.open_report().tail_cut, "the open cut the torn tail");
        let before = records(&wal);
        assert_eq!(span(&before), (1, 48));
        drop(wal);
        for seq in [44, 40, 20, 47] {
            crash_at_every_call(&fs, opts, &before, seq, &format!("preallocate {preallocate}, cut to {seq}"));
        }
    }
}

// ------------------------------------------------ cuts racing other calls

/// Two threads append (ALWAYS) while one cuts, one syncs, one waits for
/// durable seqs and one iterates (tailing). Appends and cuts take a test
/// lock so that each record's key names the number of cuts made before it;
/// everything else races them. An iterator never returns a record that a
/// cut completed before its call discarded; nothing is ever Corrupt; at the
/// end the log read back after a reopen is the one the handle had.
#[test]
fn cuts_racing_syncs_waits_and_iterators() {
    let fs = SimFs::with_seed(5);
    let opts = small(4096);
    let wal = Arc::new(sim_open(&fs, opts));
    let gate = Arc::new(RwLock::new(0u32)); // cuts made
    let cuts: Arc<Mutex<Vec<u64>>> = Arc::default(); // the seq each cut kept
    let stop = Arc::new(AtomicBool::new(false));
    let returned = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut threads = vec![];
    for t in 0..2u32 {
        let (wal, gate, stop) = (wal.clone(), gate.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            let mut counter = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let made = gate.read().unwrap();
                let k = format!("t{t}-g{}-c{counter}", *made);
                if counter % 7 == 0 {
                    batch(&wal, &k, 5, 40);
                } else {
                    wal.append(1, k.as_bytes(), &value(counter, 60)).unwrap();
                }
                drop(made);
                counter += 1;
            }
        }));
    }
    {
        let (wal, stop) = (wal.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                wal.sync().unwrap();
            }
        }));
    }
    {
        let (wal, stop) = (wal.clone(), stop.clone());
        threads.push(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match wal.wait(wal.last_seq() + 3, true, Some(Duration::from_millis(20))) {
                    Ok(()) => {}
                    Err(e) => assert_eq!(e.kind(), ErrorKind::Timeout, "{e}"),
                }
            }
        }));
    }
    {
        let (wal, stop, cuts, returned, errors) = (wal.clone(), stop.clone(), cuts.clone(), returned.clone(), errors.clone());
        threads.push(std::thread::spawn(move || {
            let mut after = 0;
            'reopen: while !stop.load(Ordering::SeqCst) {
                let mut it = match wal.iter(after.min(wal.last_seq())) {
                    Ok(it) => it,
                    Err(e) if e.kind() == ErrorKind::Range => {
                        after = 0;
                        continue;
                    }
                    Err(e) => panic!("iter: {e}"),
                };
                let mut prev: Option<u64> = None;
                while !stop.load(Ordering::SeqCst) {
                    let done: Vec<u64> = cuts.lock().unwrap().clone();
                    match it.next() {
                        Ok(Some(r)) => {
                            if let Some(p) = prev {
                                if r.seq != p + 1 {
                                    errors.lock().unwrap().push(format!("seq {} after {p}", r.seq));
                                }
                            }
                            prev = Some(r.seq);
                            after = r.seq;
                            returned.fetch_add(1, Ordering::Relaxed);
                            let key = String::from_utf8_lossy(r.key).into_owned();
                            let made: usize = key.split('-').nth(1).unwrap()[1..].parse().unwrap();
                            for (c, &kept) in done.iter().enumerate().skip(made) {
                                if r.seq > kept {
                                    errors.lock().unwrap().push(format!(
                                        "seq {} ({key}) returned after cut {} to {kept} discarded it",
                                        r.seq,
                                        c + 1
                                    ));
                                }
                            }
                        }
                        Ok(None) => std::thread::yield_now(),
                        Err(e) if e.kind() == ErrorKind::Range => continue 'reopen,
                        Err(e) => {
                            errors.lock().unwrap().push(format!("iterator: {e}"));
                            continue 'reopen;
                        }
                    }
                }
            }
        }));
    }
    let mut rng = Rng::new(9);
    let cut_count = AtomicUsize::new(0);
    while cut_count.load(Ordering::SeqCst) < 300 {
        std::thread::sleep(Duration::from_micros(rng.below(300)));
        let mut made = gate.write().unwrap();
        let (first, last) = (wal.first_seq(), wal.last_seq());
        if last < first + 50 {
            continue;
        }
        let seq = last - rng.below(40);
        wal.truncate_after(seq).unwrap();
        assert_eq!(wal.last_seq(), seq);
        cuts.lock().unwrap().push(seq);
        *made += 1;
        if rng.below(20) == 0 && seq > first + 30 {
            wal.truncate(first + 20).unwrap();
        }
        cut_count.fetch_add(1, Ordering::SeqCst);
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    let live = records(&wal);
    let wal = Arc::try_unwrap(wal).ok().unwrap();
    wal.close().unwrap();
    let reopened = sim_open(&fs, opts);
    assert_eq!(records(&reopened), live);
    let errors = errors.lock().unwrap();
    println!("racing: 300 cuts, {} records returned by the iterator", returned.load(Ordering::Relaxed));
    assert!(errors.is_empty(), "{} errors, first: {:?}", errors.len(), &errors[..errors.len().min(10)]);
}
