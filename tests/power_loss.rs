//! Power loss and I/O failures, on the simulated file system: the power is
//! cut after a random number of I/O calls, the "disk" keeps what was made
//! durable plus a random part of the rest (torn at 512-byte sectors, in any
//! order), and the log must still hold every acknowledged record, never
//! replay a truncated one, never split a batch and never reuse a seq.

mod common;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wal::io::sim::{OpKind, Rng};
use wal::io::{Fs, FsFile, OpenMode, SimFs};
use wal::{Entry, ErrorKind, Options, RecoveryMode, SyncMode, Wal, OP_CHECKPOINT};

const DIR: &str = "/sim/wal";

type Rec = (u8, Vec<u8>, Vec<u8>);

/// What the test knows was acknowledged as durable.
#[derive(Default)]
struct Model {
    /// seq -> record, for every acknowledged record above the floor.
    durable: BTreeMap<u64, Rec>,
    /// Records appended but not yet made durable (WAL_SYNC_NONE/EVERY).
    pending: BTreeMap<u64, Rec>,
    /// Highest acknowledged truncation.
    floor: u64,
    /// Highest seq known durable.
    max_seq: u64,
    next_key: u64,
}

impl Model {
    fn acknowledge_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        for (seq, rec) in pending {
            self.max_seq = self.max_seq.max(seq);
            if seq > self.floor {
                self.durable.insert(seq, rec);
            }
        }
    }
}

/// Opens after a crash with the default recovery: a power loss, even one
/// that kept a later unsynced frame and lost an earlier one, is a torn tail,
/// never corruption.
fn open_after_crash(fs: &SimFs, opts: Options) -> Wal {
    Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap_or_else(|e| panic!("open after crash: {e}"))
}

fn check(wal: &Wal, model: &Model, seed: u64) {
    let ctx = format!("seed {seed}");
    assert!(wal.last_seq() >= model.max_seq, "{ctx}: seq counter went back: {} < {}", wal.last_seq(), model.max_seq);
    assert!(wal.first_seq() > model.floor, "{ctx}: truncated records are back: first {} floor {}", wal.first_seq(), model.floor);
    let records = common::collect(wal, 0).unwrap_or_else(|e| panic!("{ctx}: replay: {e}"));
    let mut expect = wal.first_seq();
    let mut by_seq = BTreeMap::new();
    for (seq, op, key, value) in records {
        assert_eq!(seq, expect, "{ctx}: seqs are not contiguous");
        expect += 1;
        by_seq.insert(seq, (op, key, value));
    }
    assert_eq!(expect, wal.last_seq() + 1, "{ctx}: replay stops before last_seq");
    for (seq, rec) in &model.durable {
        assert_eq!(by_seq.get(seq), Some(rec), "{ctx}: acknowledged record {seq} lost or changed");
    }
    check_batches_whole(&by_seq, &ctx);
}

/// Batch entries carry "b<id>:<index>/<count>" keys: all or none present,
/// except that a truncation may have cut the front of the oldest batch.
fn check_batches_whole(by_seq: &BTreeMap<u64, Rec>, ctx: &str) {
    // id -> (entries present, count, index of the first one present)
    let mut seen: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
    let first_seq = by_seq.keys().next().copied();
    let mut cut_front = None;
    for (seq, (_, key, _)) in by_seq {
        let key = String::from_utf8_lossy(key);
        if let Some(rest) = key.strip_prefix('b') {
            let (id, frac) = rest.split_once(':').unwrap();
            let (index, count) = frac.split_once('/').unwrap();
            let (index, count): (u64, u64) = (index.parse().unwrap(), count.parse().unwrap());
            if Some(*seq) == first_seq && index > 0 {
                cut_front = Some(id.to_string());
            }
            seen.entry(id.to_string()).or_insert((0, count, index)).0 += 1;
        }
    }
    for (id, (n, count, first_index)) in seen {
        let expected = if cut_front.as_deref() == Some(id.as_str()) { count - first_index } else { count };
        assert_eq!(n, expected, "{ctx}: batch {id} split: {n} of {count} entries replayed");
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(300) as usize;
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// Random operations until one fails (the power is off) or `ops` are done.
fn work(wal: &Wal, model: &mut Model, rng: &mut Rng, ops: u64, always: bool) {
    for _ in 0..ops {
        let result = match rng.below(12) {
            0..=6 => {
                model.next_key += 1;
                let key = format!("k{}", model.next_key).into_bytes();
                let value = value(rng);
                wal.append(1, &key, &value).map(|seq| vec![(seq, (1, key, value))])
            }
            7 | 8 => {
                model.next_key += 1;
                let count = 2 + rng.below(4);
                let recs: Vec<Rec> = (0..count)
                    .map(|i| (2, format!("b{}:{i}/{count}", model.next_key).into_bytes(), value(rng)))
                    .collect();
                let entries: Vec<Entry> =
                    recs.iter().map(|(op, k, v)| Entry { op: *op, key: k, value: v }).collect();
                wal.append_batch(&entries)
                    .map(|last| recs.into_iter().enumerate().map(|(i, r)| (last + 1 - count + i as u64, r)).collect())
            }
            9 => wal.checkpoint().map(|seq| {
                model.acknowledge_pending();
                vec![(seq, (OP_CHECKPOINT, vec![], vec![]))]
            }),
            10 => wal.sync().map(|()| {
                model.acknowledge_pending();
                vec![]
            }),
            _ => {
                let (first, last) = (wal.first_seq(), wal.last_seq());
                let upto = first.saturating_sub(1) + rng.below(last + 2 - first);
                // A truncate that fails may or may not have taken effect:
                // either way the records at or below `upto` are not owed.
                model.durable.retain(|seq, _| *seq > upto);
                model.pending.retain(|seq, _| *seq > upto);
                wal.truncate(upto).map(|()| {
                    model.floor = model.floor.max(upto);
                    model.max_seq = model.max_seq.max(upto);
                    vec![]
                })
            }
        };
        match result {
            Ok(records) => {
                for (seq, rec) in records {
                    if always || rec.0 == OP_CHECKPOINT {
                        model.max_seq = model.max_seq.max(seq);
                        model.durable.insert(seq, rec);
                    } else {
                        model.pending.insert(seq, rec);
                    }
                }
            }
            Err(_) => return,
        }
    }
}

fn round(seed: u64, sync_mode: SyncMode) {
    let mut rng = Rng::new(seed);
    let opts = Options {
        segment_size: 4096,
        sync_mode,
        preallocate: rng.below(2) == 0,
        ..Options::default()
    };
    let always = sync_mode == SyncMode::Always;
    let mut fs = SimFs::new();
    let mut model = Model::default();
    for _crash in 0..4 {
        let wal = open_after_crash(&fs, opts);
        check(&wal, &model, seed);
        model.pending.clear();
        fs.cut_power_after(rng.below(150));
        work(&wal, &mut model, &mut rng, 200, always);
        fs.cut_power_after(0);
        drop(wal);
        fs = fs.crash(&mut rng);
    }
    let wal = open_after_crash(&fs, opts);
    check(&wal, &model, seed);
    let next = wal.last_seq() + 1;
    assert_eq!(wal.append(1, b"after", b"all").unwrap(), next, "seed {seed}: appends go on");
}

#[test]
fn power_loss_at_random_instants_sync_always() {
    for seed in 1..=400 {
        round(seed, SyncMode::Always);
    }
}

#[test]
fn power_loss_at_random_instants_sync_none() {
    for seed in 1001..=1300 {
        round(seed, SyncMode::None);
    }
}

#[test]
fn power_loss_at_random_instants_sync_every() {
    for seed in 2001..=2300 {
        round(seed, SyncMode::Every(3));
    }
}

/// Every I/O call of a scripted workload fails in turn: whatever fails, the
/// acknowledged records survive a reopen and the handle refuses writes
/// after a failed write or sync.
#[test]
fn each_io_call_failing_in_turn_never_loses_an_acknowledged_record() {
    let script = |wal: &Wal, model: &mut Model| -> wal::Result<()> {
        for i in 0..40u64 {
            let key = format!("k{i}").into_bytes();
            let value = vec![i as u8; 200];
            let seq = wal.append(1, &key, &value)?;
            model.durable.insert(seq, (1, key, value));
            model.max_seq = seq;
            if i % 13 == 12 {
                let upto = seq - 5;
                model.durable.retain(|s, _| *s > upto); // not owed even if truncate fails
                wal.truncate(upto)?;
                model.floor = upto;
            }
        }
        Ok(())
    };
    let opts = Options { segment_size: 4096, ..Options::default() };
    let calls = {
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
        let before = fs.calls();
        script(&wal, &mut Model::default()).unwrap();
        fs.calls() - before
    };
    for n in 1..=calls {
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
        let mut model = Model::default();
        fs.fail_call(n, libc_eio());
        if let Err(e) = script(&wal, &mut model) {
            if matches!(e.kind(), ErrorKind::Io) && wal.is_poisoned() {
                assert_eq!(wal.append(1, b"k", b"v").err().unwrap().kind(), ErrorKind::Poisoned);
                assert_eq!(wal.sync().err().unwrap().kind(), ErrorKind::Poisoned);
            }
        }
        drop(wal);
        let wal = open_after_crash(&fs, opts);
        check(&wal, &model, n);
    }
}

#[test]
fn a_failed_fsync_poisons_the_handle_and_is_never_retried() {
    let fs = SimFs::new();
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, Options::default()).unwrap();
    assert_eq!(wal.append(1, b"a", b"1").unwrap(), 1);
    fs.fail_next(OpKind::Sync, libc_eio());
    let err = wal.append(1, b"b", b"2").err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.message().contains("fdatasync") && err.message().contains(".wal"), "{err}");
    for e in [wal.append(1, b"c", b"3").err(), wal.checkpoint().err(), wal.sync().err(), wal.truncate(1).err()] {
        assert_eq!(e.unwrap().kind(), ErrorKind::Poisoned);
    }
    assert_eq!(wal.close().err().unwrap().kind(), ErrorKind::Poisoned);
    let wal = Wal::open_in(Arc::new(fs.clone()), DIR, Options::default()).unwrap();
    assert_eq!(common::collect(&wal, 0).unwrap()[0].2, b"a");
}

#[test]
fn enospc_on_a_new_segment_poisons_and_recovers() {
    let fs = SimFs::new();
    let opts = Options { segment_size: 4096, ..Options::default() };
    let wal = Wal::open_in(Arc::new(fs.clone()), Path::new(DIR), opts).unwrap();
    let mut last = 0;
    for i in 0..10u64 {
        last = wal.append(1, &i.to_le_bytes(), &[7u8; 1000]).unwrap();
    }
    fs.fail_next(OpKind::Allocate, 28 /* ENOSPC */);
    let mut failed = None;
    for i in 10..20u64 {
        match wal.append(1, &i.to_le_bytes(), &[7u8; 1000]) {
            Ok(seq) => last = seq,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let err = failed.expect("a rotation met the ENOSPC");
    assert!(err.message().contains("preallocate"), "{err}");
    assert!(wal.is_poisoned());
    drop(wal);
    let wal = Wal::open_in(Arc::new(fs), DIR, opts).unwrap();
    assert_eq!(wal.last_seq(), last);
    assert_eq!(wal.append(1, b"k", b"v").unwrap(), last + 1);
}

fn libc_eio() -> i32 {
    5
}

/// Contract: "After a failed write or sync the handle is poisoned". A failed
/// fsync of wal.meta.tmp inside wal_truncate returns WAL_E_IO but leaves the
/// handle writable.
#[test]
fn a_failed_fsync_inside_truncate_poisons_the_handle() {
    let sim = SimFs::new();
    let wal = Wal::open_in(Arc::new(sim.clone()), DIR, Options::default()).unwrap();
    for i in 0..5u64 { wal.append(1, &i.to_le_bytes(), b"v").unwrap(); }
    sim.fail_next(OpKind::Sync, 5);
    let e = wal.truncate(3).expect_err("truncate meets the failed fsync");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let next = wal.append(1, b"after", b"failed fsync");
    assert!(matches!(&next, Err(e) if e.kind() == ErrorKind::Poisoned), "append after failed fsync: {next:?}");
}

// ---------- a file system wrapper that can hold a given fdatasync ----------
enum Gate {
    /// Do the real sync, then wait for the test before returning Ok.
    SyncThenWait(Receiver<()>),
    /// Wait for the test, then fail with EIO without syncing.
    WaitThenFail(Receiver<()>),
}
#[derive(Default)]
struct Ctl {
    syncs: AtomicU64,
    gates: Mutex<HashMap<u64, Gate>>,
}
struct GateFs {
    inner: SimFs,
    ctl: Arc<Ctl>,
}
struct GateFile {
    inner: Arc<dyn FsFile>,
    ctl: Arc<Ctl>,
}
impl FsFile for GateFile {
    fn read_at(&self, b: &mut [u8], o: u64) -> io::Result<usize> { self.inner.read_at(b, o) }
    fn write_all_at(&self, b: &[u8], o: u64) -> io::Result<()> { self.inner.write_all_at(b, o) }
    fn sync_data(&self) -> io::Result<()> {
        let n = self.ctl.syncs.fetch_add(1, Ordering::SeqCst) + 1;
        let gate = self.ctl.gates.lock().unwrap().remove(&n);
        match gate {
            None => self.inner.sync_data(),
            Some(Gate::SyncThenWait(rx)) => {
                let r = self.inner.sync_data();
                rx.recv().unwrap();
                r
            }
            Some(Gate::WaitThenFail(rx)) => {
                rx.recv().unwrap();
                Err(io::Error::from_raw_os_error(5))
            }
        }
    }
    fn sync_all(&self) -> io::Result<()> { self.sync_data() }
    fn set_len(&self, l: u64) -> io::Result<()> { self.inner.set_len(l) }
    fn allocate(&self, l: u64) -> io::Result<()> { self.inner.allocate(l) }
    fn size(&self) -> io::Result<u64> { self.inner.size() }
}
impl Fs for GateFs {
    fn open(&self, p: &Path, m: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        Ok(Arc::new(GateFile { inner: self.inner.open(p, m)?, ctl: self.ctl.clone() }))
    }
    fn is_dir(&self, p: &Path) -> io::Result<bool> { self.inner.is_dir(p) }
    fn create_dir_all(&self, p: &Path) -> io::Result<()> { self.inner.create_dir_all(p) }
    fn list(&self, d: &Path) -> io::Result<Vec<OsString>> { self.inner.list(d) }
    fn remove_file(&self, p: &Path) -> io::Result<()> { self.inner.remove_file(p) }
    fn rename(&self, a: &Path, b: &Path) -> io::Result<()> { self.inner.rename(a, b) }
    fn sync_dir(&self, d: &Path) -> io::Result<()> { self.inner.sync_dir(d) }
    fn lock(&self, p: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> { self.inner.lock(p) }
}
fn wait_for_syncs(ctl: &Ctl, n: u64) {
    while ctl.syncs.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// WAL_SYNC_ALWAYS: append #4 returns Ok(4) although the only fdatasync that
/// ever covered it (the rotation's seal of segment 1) FAILED. The group-commit
/// leader becomes leader before the failure and snapshots `active == None`
/// after it, so it "syncs nothing" and marks seq 4 durable.
#[test]
fn a_group_commit_never_acknowledges_a_record_whose_seal_failed() {
        let sim = SimFs::new();
    let ctl = Arc::new(Ctl::default());
    let fs: Arc<dyn Fs> = Arc::new(GateFs { inner: sim.clone(), ctl: ctl.clone() });
    let opts = Options { segment_size: 4096, preallocate: false, sync_mode: SyncMode::Always, ..Options::default() };
    let wal = Arc::new(Wal::open_in(fs, DIR, opts).unwrap());
    let v = vec![7u8; 800]; // frame = 838 bytes: 4 fit in a 4096-byte segment, the 5th rotates
    assert_eq!(wal.append(1, b"key-1", &v).unwrap(), 1); // syncs #1 (segment creation), #2
    assert_eq!(wal.append(1, b"key-2", &v).unwrap(), 2); // sync #3
    let base = ctl.syncs.load(Ordering::SeqCst);
    let (g1, r1): (Sender<()>, Receiver<()>) = channel();
    let (g2, r2): (Sender<()>, Receiver<()>) = channel();
    ctl.gates.lock().unwrap().insert(base + 1, Gate::SyncThenWait(r1)); // C's group commit
    ctl.gates.lock().unwrap().insert(base + 2, Gate::WaitThenFail(r2)); // B's seal of segment 1
    let w = wal.clone();
    let c = std::thread::spawn(move || w.append(1, b"key-3", &v.clone()));
    wait_for_syncs(&ctl, base + 1); // C is the leader, parked after its (real) sync
    let w = wal.clone();
    let v = vec![7u8; 800];
    let a = std::thread::spawn(move || w.append(1, b"key-4", &v)); // follower
    std::thread::sleep(Duration::from_millis(200));
    let w = wal.clone();
    let v = vec![7u8; 800];
    let b = std::thread::spawn(move || w.append(1, b"key-5", &v)); // rotates, holds the state lock
    // B is in its seal: its fdatasync waits for C's to end (fdatasyncs of a
    // segment never overlap, so none succeeds between a failure and the poisoning).
    std::thread::sleep(Duration::from_millis(200));
    g1.send(()).unwrap(); // C finishes; A becomes the leader and waits for the state lock
    std::thread::sleep(Duration::from_millis(300));
    g2.send(()).unwrap(); // the seal's fdatasync of segment 1 fails -> poisoned, active = None
    // C's own fdatasync succeeded, but a seal failed before C returned: it
    // may report success or, conservatively, the poisoning.
    match c.join().unwrap() {
        Ok(seq) => assert_eq!(seq, 3),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Poisoned),
    }
    assert!(b.join().unwrap().is_err());
    assert!(wal.is_poisoned());
    let a_result = a.join().unwrap();
    // Contract: an Ok from a WAL_SYNC_ALWAYS append means durable. Record 4 was
    // never successfully synced: any Ok here is a false acknowledgement.
    let mut lost_after_crash = 0;
    for seed in 0..30 {
        let crashed = sim.crash(&mut Rng::new(seed));
        let w2 = Wal::open_in(Arc::new(crashed), DIR, Options { recovery_mode: RecoveryMode::Salvage, ..opts }).unwrap();
        if w2.last_seq() < 4 { lost_after_crash += 1; }
    }
    assert!(a_result.is_err(), "append 4 returned {a_result:?} although its fdatasync failed; \
        after a power cut it is lost in {lost_after_crash}/30 crash images");
}

/// A SALVAGE repair cut short by a power loss at any of its I/O calls loses
/// nothing: salvaging again gives exactly what an uninterrupted salvage
/// keeps, and a TAIL open of the half-repaired log never replays a record
/// past the damage.
#[test]
fn a_salvage_repair_interrupted_anywhere_can_be_finished() {
    let opts = Options { segment_size: 4096, preallocate: false, ..Options::default() };
    let salvage = Options { recovery_mode: RecoveryMode::Salvage, ..opts };
    let damaged = || {
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
        for i in 0..40u64 {
            wal.append(1, &i.to_le_bytes(), &[i as u8; 300]).unwrap();
        }
        drop(wal);
        // Damage the second frame of the second segment.
        let seg = Path::new(DIR).join(wal::segment::segment_name(first_seq_of_segment(&fs, 1)));
        let mut bytes = fs.read_file(&seg).unwrap();
        bytes[32 + (wal::format::FRAME_HEADER_LEN + 9 + 8 + 300) + 40] ^= 0xff;
        fs.write_file(&seg, &bytes).unwrap();
        fs
    };
    let expected = {
        let wal = Wal::open_in(Arc::new(damaged()), DIR, salvage).unwrap();
        common::collect(&wal, 0).unwrap()
    };
    let kept = expected.last().unwrap().0;
    for cut_after in 0..12 {
        let fs = damaged();
        fs.cut_power_after(cut_after);
        let _ = Wal::open_in(Arc::new(fs.clone()), DIR, salvage);
        for seed in 0..4 {
            let crashed = fs.crash(&mut Rng::new(seed));
            if let Ok(wal) = Wal::open_in(Arc::new(crashed.clone()), DIR, opts) {
                let mut iter = wal.iter(0).unwrap();
                while let Ok(Some(r)) = iter.next() {
                    assert!(r.seq <= kept, "cut after {cut_after}, seed {seed}: TAIL replayed {} past the damage", r.seq);
                }
            }
            let wal = Wal::open_in(Arc::new(crashed), DIR, salvage).unwrap();
            assert_eq!(common::collect(&wal, 0).unwrap(), expected, "cut after {cut_after}, seed {seed}");
        }
    }
}

fn first_seq_of_segment(fs: &SimFs, index: usize) -> u64 {
    let mut names: Vec<String> = fs.list(Path::new(DIR)).unwrap().into_iter()
        .map(|n| n.into_string().unwrap()).filter(|n| n.ends_with(".wal")).collect();
    names.sort();
    names[index].trim_end_matches(".wal").parse().unwrap()
}

/// Group commit under power loss: four threads append at once in
/// WAL_SYNC_ALWAYS (rotating often) until the power goes; every append that
/// returned Ok is in the log after the crash, intact and in seq order.
#[test]
fn power_loss_with_concurrent_appenders() {
    for seed in 1..=60u64 {
        let mut rng = Rng::new(seed);
        let opts = Options { segment_size: 4096, preallocate: rng.below(2) == 0, ..Options::default() };
        let fs = SimFs::new();
        let wal = Wal::open_in(Arc::new(fs.clone()), DIR, opts).unwrap();
        fs.cut_power_after(rng.below(400));
        let acked: Vec<(u64, Vec<u8>)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| {
                    let wal = &wal;
                    s.spawn(move || {
                        let mut mine = Vec::new();
                        for i in 0..100u64 {
                            let key = format!("t{t}-{i}").into_bytes();
                            match wal.append(1, &key, &[t as u8; 150]) {
                                Ok(seq) => mine.push((seq, key)),
                                Err(_) => break,
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        fs.cut_power_after(0);
        drop(wal);
        let wal = open_after_crash(&fs.crash(&mut rng), opts);
        let max = acked.iter().map(|a| a.0).max().unwrap_or(0);
        assert!(wal.last_seq() >= max, "seed {seed}: last_seq {} < acknowledged {max}", wal.last_seq());
        let rows = common::collect(&wal, 0).unwrap();
        assert_eq!(rows.len() as u64, wal.last_seq(), "seed {seed}: replay is not 1..=last_seq");
        for (seq, key) in &acked {
            let row = &rows[(*seq - 1) as usize];
            assert_eq!((row.0, &row.2), (*seq, key), "seed {seed}: acknowledged record {seq}");
        }
    }
}
