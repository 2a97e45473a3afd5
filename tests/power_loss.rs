//! Power loss and I/O failures, on the simulated file system: the power is
//! cut after a random number of I/O calls, the "disk" keeps what was made
//! durable plus a random part of the rest (torn at 512-byte sectors, in any
//! order), and the log must still hold every acknowledged record, never
//! replay a truncated one, never split a batch and never reuse a seq.

mod common;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use wal::io::sim::{OpKind, Rng};
use wal::io::SimFs;
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

/// Opens after a crash: TAIL first; a power loss with several unsynced
/// appends in flight can leave a torn frame before a whole one, which TAIL
/// reports as corrupt; SALVAGE then keeps everything before it (all of it
/// acknowledged, since it precedes the last completed sync).
fn open_after_crash(fs: &SimFs, opts: Options) -> Wal {
    let fs_arc: Arc<SimFs> = Arc::new(fs.clone());
    match Wal::open_in(fs_arc.clone(), DIR, opts) {
        Ok(wal) => wal,
        Err(e) if e.kind() == ErrorKind::Corrupt => {
            Wal::open_in(fs_arc, DIR, Options { recovery_mode: RecoveryMode::Salvage, ..opts })
                .unwrap_or_else(|e| panic!("salvage failed after {e}"))
        }
        Err(e) => panic!("open after crash: {e}"),
    }
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
