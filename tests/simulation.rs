//! Deterministic simulation with fault injection, on the simulated file
//! system (src/io/sim.rs). For every seed, a log lives through a few
//! "phases": each opens the log (checking what survived the previous one),
//! runs a random workload (appends, batches, records larger than a segment,
//! checkpoints, syncs, truncates, reads, clean reopens) and meets one fault
//! at a call index drawn from the seed: the power goes off, the process is
//! killed, or the k-th fsync, directory fsync, write, fallocate, ftruncate,
//! create, rename or unlink fails (a failed fsync forgets the unsynced data,
//! as Linux does; a write may land a prefix first). Then the machine
//! crashes, or the process restarts, and the next phase checks that the
//! log reopens with the default recovery (TAIL) without an error, that
//! every record acknowledged as durable is there with its bytes, that no
//! record at or below a completed truncate is back, that no batch is split
//! and that seqs are contiguous and never go back. After a failed write or
//! sync the handle must refuse every later write.
//!
//! Each phase first runs on a copy of the file system without a fault, to
//! count the calls it makes, so that the fault can land on any of them.
//! Everything follows from the seed: a failing seed is printed with the
//! command that replays it alone, printing each phase:
//!   WAL_SIM_SEED=<seed> cargo test --release --test simulation -- --exact simulation --nocapture
//! WAL_SIM_SEEDS=<n> runs seeds 1..=n (default DEFAULT_SEEDS, sized for
//! `make check`; `make stress SEEDS=<n>` runs more). A summary is printed.
//!
//! `simulation_with_threads` does the same with three threads appending,
//! syncing and truncating at once on one handle (group commit). The OS
//! schedules them, so there a seed replays the workload and the fault, not
//! the interleaving.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use wal::io::sim::{Fault, OpKind, Rng};
use wal::io::SimFs;
use wal::{Entry, Error, ErrorKind, Options, SyncMode, Wal, OP_CHECKPOINT};

const DIR: &str = "/sim/wal";
const EIO: i32 = 5;
const ENOSPC: i32 = 28;
/// Seeds `cargo test` runs when WAL_SIM_SEEDS is not set.
const DEFAULT_SEEDS: u64 = 20000;
/// Phases (each ending in a fault) per seed.
const PHASES: usize = 4;

const WRITER_SHIFT: u32 = 40;
const OP_PUT: u8 = 1;
const OP_BATCH: u8 = 2;

// ---------------------------------------------------------------- records

/// Who a record is: the id of the append that wrote it, its index in that
/// append's batch and the batch's size. The key spells these and the
/// value's length, and the value follows from the key, so every record read
/// back can be checked on its own. Each writer's ids grow with its appends
/// (the writer is `id >> WRITER_SHIFT`), so the log must hold each writer's
/// tags in increasing order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Tag {
    id: u64,
    index: u64,
    count: u64,
}

impl Tag {
    fn record(self, len: usize) -> (Vec<u8>, Vec<u8>) {
        let key = format!("{}.{}.{}.{len}", self.id, self.index, self.count).into_bytes();
        (key, self.value(len))
    }

    fn value(self, len: usize) -> Vec<u8> {
        let mut rng = Rng::new(self.id << 16 | self.index);
        (0..len).map(|_| rng.next_u64() as u8).collect()
    }

    /// The tag of a record read back, if its op, key and value agree.
    fn read(op: u8, key: &[u8], value: &[u8]) -> Result<Tag, String> {
        let text = String::from_utf8_lossy(key);
        let fields: Vec<u64> = text.split('.').map(|f| f.parse()).collect::<Result<_, _>>()
            .map_err(|_| format!("key {text:?} is not one the workload wrote"))?;
        let [id, index, count, len] = fields[..] else { return Err(format!("key {text:?} has the wrong shape")) };
        let tag = Tag { id, index, count };
        let op_written = if count == 1 { OP_PUT } else { OP_BATCH };
        if index >= count || op != op_written {
            return Err(format!("key {text:?} does not fit op {op}"));
        }
        if value != tag.value(len as usize) {
            return Err(format!("record {text:?}: the value is not the one written"));
        }
        Ok(tag)
    }

    fn writer(self) -> u64 {
        self.id >> WRITER_SHIFT
    }

    fn next(self) -> Option<Tag> {
        (self.index + 1 < self.count).then_some(Tag { index: self.index + 1, ..self })
    }
}

// ------------------------------------------------------------------ model

/// What the test knows the log owes.
#[derive(Debug, Clone, Default)]
struct Model {
    /// seq -> key of every record acknowledged as durable, above the floor
    /// (a checkpoint's key is empty).
    durable: BTreeMap<u64, Vec<u8>>,
    /// Records appended in this life, not yet acknowledged as durable.
    pending: BTreeMap<u64, Vec<u8>>,
    /// The N of the highest truncate that returned.
    floor: u64,
    /// The highest seq acknowledged as durable.
    top: u64,
    /// Records since the last sync, for WAL_SYNC_EVERY.
    unsynced: u64,
    /// The seq the next append must get.
    next_seq: u64,
    next_id: u64,
}

impl Model {
    /// A record or batch came back with seq `last`; `forced` for a
    /// checkpoint, which makes everything before it durable.
    fn appended(&mut self, mode: SyncMode, last: u64, keys: Vec<Vec<u8>>, forced: bool) {
        let first = self.next_seq;
        assert_eq!(last, first + keys.len() as u64 - 1, "append got seq {last}; the next seq was {first}");
        self.next_seq = last + 1;
        self.pending.extend((first..).zip(keys));
        let due = match mode {
            SyncMode::Always => true,
            SyncMode::None => false,
            SyncMode::Every(n) => {
                self.unsynced += last + 1 - first;
                let due = self.unsynced >= n as u64;
                if due {
                    self.unsynced = 0;
                }
                due
            }
        };
        if due || forced {
            self.made_durable();
        }
    }

    fn made_durable(&mut self) {
        if let Some((&last, _)) = self.pending.last_key_value() {
            self.top = self.top.max(last);
        }
        self.durable.append(&mut self.pending);
    }

    /// A crash, a kill or a failure: what was not acknowledged may be gone.
    fn forget_unsynced(&mut self) {
        self.pending.clear();
    }

    /// Records at or below `upto` are not owed once a truncate to it is
    /// asked for, whether it completes or not.
    fn truncating(&mut self, upto: u64) {
        self.durable.retain(|&seq, _| seq > upto);
        self.pending.retain(|&seq, _| seq > upto);
    }

    fn opened(&mut self, last_seq: u64) {
        self.next_seq = last_seq + 1;
        self.unsynced = 0;
    }

    fn tag(&mut self, count: u64) -> impl Iterator<Item = Tag> {
        self.next_id += 1;
        let id = self.next_id;
        (0..count).map(move |index| Tag { id, index, count })
    }
}

/// Checks everything a handle reads back; `all`: also the records this
/// life appended but did not make durable (a handle that has not failed
/// sees everything it wrote). Returns how many records were checked, or
/// the error reading them met (the power is off).
fn verify(wal: &Wal, model: &Model, all: bool) -> wal::Result<u64> {
    let (first, last) = (wal.first_seq(), wal.last_seq());
    assert!(last >= model.top, "the seq counter went back: last_seq {last} < {} acknowledged as durable", model.top);
    assert!(last >= model.floor, "last_seq {last} is below the completed truncate {}", model.floor);
    assert!(first > model.floor, "records at or below the completed truncate {} are back: first_seq {first}", model.floor);
    let rows = common::collect(wal, 0)?;
    let mut prev: BTreeMap<u64, Tag> = BTreeMap::new(); // each writer's last tag
    let mut want: Option<Tag> = None; // the batch entry that must come next
    for (i, (seq, op, key, value)) in rows.iter().enumerate() {
        assert_eq!(*seq, first + i as u64, "replay skipped or repeated a seq (first_seq {first})");
        if *op == OP_CHECKPOINT {
            assert!(key.is_empty() && value.is_empty(), "checkpoint {seq} carries data");
            assert!(want.is_none(), "batch {want:?} split by checkpoint {seq}");
            continue;
        }
        let tag = Tag::read(*op, key, value).unwrap_or_else(|why| panic!("record {seq}: {why}"));
        let before = prev.insert(tag.writer(), tag);
        assert!(before < Some(tag), "record {seq} {tag:?} comes after {before:?}: an older record is back");
        // Only a truncate can cut a batch, and only at the front of the log.
        let cut_front = i == 0 && tag.index > 0;
        assert!(want == Some(tag) || (want.is_none() && (tag.index == 0 || cut_front)),
            "batch split at record {seq}: found {tag:?}, expected {want:?}");
        want = tag.next();
    }
    assert!(want.is_none(), "batch split: the log ends before {want:?}");
    assert_eq!(rows.len() as u64, last + 1 - first, "replay ends before last_seq {last}");
    let owed = model.durable.iter().chain(all.then_some(&model.pending).into_iter().flatten());
    for (seq, key) in owed {
        let found = seq.checked_sub(first).and_then(|i| rows.get(i as usize));
        assert!(found.is_some_and(|row| &row.2 == key),
            "acknowledged record {seq} ({}) lost or changed: the log holds {first}..={last}",
            String::from_utf8_lossy(key));
    }
    Ok(rows.len() as u64)
}

// --------------------------------------------------------------- workload

/// How a phase's workload stopped.
enum Outcome {
    /// A call failed (the handle is gone).
    Failed,
    /// It closed the log cleanly.
    Closed,
    /// It left the log open.
    Open(Wal),
}

/// A failed call must be an I/O error that names the file and the OS error.
fn expect_io(e: &Error, call: &str) {
    assert_eq!(e.kind(), ErrorKind::Io, "{call}: {e}");
    assert!(e.message().contains('/') && e.message().contains("os error"), "{call}: the error names no file or OS error: {e}");
}

/// After a failed write call: the handle is poisoned and refuses every write.
fn expect_poisoned(wal: Wal, e: &Error, call: &str) {
    expect_io(e, call);
    assert!(wal.is_poisoned(), "{call} failed ({e}) but the handle is not poisoned");
    let refusals = [
        ("append", wal.append(OP_PUT, b"k", b"v").err()),
        ("append_batch", wal.append_batch(&[Entry { op: OP_BATCH, key: b"k", value: b"v" }]).err()),
        ("checkpoint", wal.checkpoint().err()),
        ("sync", wal.sync().err()),
        ("truncate", wal.truncate(wal.last_seq()).err()),
        ("close", wal.close().err()),
    ];
    for (after, result) in refusals {
        assert_eq!(result.map(|e| e.kind()), Some(ErrorKind::Poisoned), "{after} after a failed {call}");
    }
}

/// A phase's workload: its own random stream, so that a trial run and the
/// real one make the same calls.
struct Life<'a> {
    fs: &'a SimFs,
    opts: Options,
    model: &'a mut Model,
    rng: Rng,
    tally: &'a mut Tally,
}

impl<'a> Life<'a> {
    fn new(fs: &'a SimFs, opts: Options, model: &'a mut Model, seed: u64, tally: &'a mut Tally) -> Life<'a> {
        Life { fs, opts, model, rng: Rng::new(seed), tally }
    }

    fn open(&mut self) -> Option<Wal> {
        let wal = match Wal::open_in(Arc::new(self.fs.clone()), DIR, self.opts) {
            Ok(wal) => wal,
            Err(e) => {
                expect_io(&e, "open");
                return None;
            }
        };
        match verify(&wal, self.model, false) {
            Ok(records) => self.tally.records += records,
            Err(e) => {
                self.read_failed(&e);
                return None;
            }
        }
        self.tally.opens += 1;
        self.model.opened(wal.last_seq());
        Some(wal)
    }

    /// Reads fail only once the power is off.
    fn read_failed(&self, e: &Error) {
        assert!(self.fs.power_is_off(), "a read failed with the power on: {e}");
        expect_io(e, "read");
    }

    /// Opens the log and makes `steps` random calls, stopping at the first
    /// that fails; closes the log at the end if `close`.
    fn run(&mut self, steps: u64, close: bool) -> Outcome {
        let Some(mut wal) = self.open() else { return Outcome::Failed };
        for _ in 0..steps {
            let pick = self.rng.below(100);
            let result = match pick {
                0..=94 => self.step(&wal, pick),
                _ => match self.close(wal) {
                    Some(Outcome::Closed) => match self.open() {
                        Some(reopened) => {
                            wal = reopened;
                            continue;
                        }
                        None => return Outcome::Failed,
                    },
                    _ => return Outcome::Failed,
                },
            };
            match result {
                Ok(()) => {}
                // Reading needs no write unless appends wait in the buffer.
                Err((call, e)) if call == "read" && !wal.is_poisoned() => {
                    self.read_failed(&e);
                    return Outcome::Failed;
                }
                Err((call, e)) => {
                    expect_poisoned(wal, &e, call);
                    self.tally.poisoned += 1;
                    return Outcome::Failed;
                }
            }
        }
        match close {
            true => self.close(wal).unwrap_or(Outcome::Failed),
            false => Outcome::Open(wal),
        }
    }

    fn close(&mut self, wal: Wal) -> Option<Outcome> {
        match wal.close() {
            Ok(()) => {
                self.model.made_durable();
                Some(Outcome::Closed)
            }
            Err(e) => {
                expect_io(&e, "close");
                None
            }
        }
    }

    /// One call, chosen by `pick` (0..95); on failure, the call's name.
    fn step(&mut self, wal: &Wal, pick: u64) -> Result<(), (&'static str, Error)> {
        let mode = self.opts.sync_mode;
        let rng = &mut self.rng;
        let model = &mut *self.model;
        match pick {
            0..=51 => {
                // One record; now and then one larger than a segment.
                let len = if pick < 3 { 4000 + rng.below(6000) } else { rng.below(300) } as usize;
                let tag = model.tag(1).next().unwrap();
                let (key, value) = tag.record(len);
                let seq = wal.append(OP_PUT, &key, &value).map_err(|e| ("append", e))?;
                model.appended(mode, seq, vec![key], false);
            }
            52..=65 => {
                let count = 2 + rng.below(5);
                let records: Vec<_> = model.tag(count).map(|tag| tag.record(rng.below(200) as usize)).collect();
                let entries: Vec<Entry> = records.iter().map(|(k, v)| Entry { op: OP_BATCH, key: k, value: v }).collect();
                let last = wal.append_batch(&entries).map_err(|e| ("append_batch", e))?;
                model.appended(mode, last, records.into_iter().map(|(k, _)| k).collect(), false);
            }
            66..=71 => {
                let seq = wal.checkpoint().map_err(|e| ("checkpoint", e))?;
                model.appended(mode, seq, vec![Vec::new()], true);
            }
            72..=78 => {
                wal.sync().map_err(|e| ("sync", e))?;
                model.unsynced = 0;
                model.made_durable();
            }
            79..=88 => {
                let (first, last) = (wal.first_seq(), wal.last_seq());
                let upto = first - 1 + rng.below(last + 2 - first);
                model.truncating(upto);
                wal.truncate(upto).map_err(|e| ("truncate", e))?;
                model.floor = model.floor.max(upto);
            }
            _ => {
                self.tally.records += verify(wal, model, true).map_err(|e| ("read", e))?;
            }
        }
        Ok(())
    }
}

// ----------------------------------------------------------------- faults

/// Where a phase's fault strikes.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// The machine stops before mutating call k; then it crashes.
    PowerCut,
    /// The process dies before mutating call k; the page cache survives.
    Kill,
    /// The k-th call of this kind meets the fault.
    Call(OpKind, Fault),
}

/// The faults, their names in the summary, and how often each is drawn.
const STRIKES: [(&str, u64, Target); 12] = [
    ("power cut", 6, Target::PowerCut),
    ("process kill", 2, Target::Kill),
    ("fsync EIO", 4, Target::Call(OpKind::Sync, Fault::Fail(EIO))),
    ("dir fsync EIO", 2, Target::Call(OpKind::SyncDir, Fault::Fail(EIO))),
    ("write ENOSPC", 1, Target::Call(OpKind::Write, Fault::Fail(ENOSPC))),
    ("write EIO", 1, Target::Call(OpKind::Write, Fault::Fail(EIO))),
    ("short write", 2, Target::Call(OpKind::Write, Fault::Short(ENOSPC))),
    ("fallocate ENOSPC", 1, Target::Call(OpKind::Allocate, Fault::Fail(ENOSPC))),
    ("ftruncate EIO", 1, Target::Call(OpKind::SetLen, Fault::Fail(EIO))),
    ("create ENOSPC", 1, Target::Call(OpKind::Create, Fault::Fail(ENOSPC))),
    ("rename EIO", 1, Target::Call(OpKind::Rename, Fault::Fail(EIO))),
    ("unlink EIO", 1, Target::Call(OpKind::Remove, Fault::Fail(EIO))),
];

impl Target {
    /// Calls of this target's kind made on `fs` so far.
    fn count(self, fs: &SimFs) -> u64 {
        match self {
            Target::PowerCut | Target::Kill => fs.calls(),
            Target::Call(kind, _) => fs.count(kind),
        }
    }

    /// Arms the fault for the `nth` call from now.
    fn arm(self, fs: &SimFs, nth: u64) {
        match self {
            Target::PowerCut | Target::Kill => fs.cut_power_after(nth - 1),
            Target::Call(kind, fault) => fs.inject(kind, nth, fault),
        }
    }

    fn fired(self, fs: &SimFs) -> bool {
        match self {
            Target::PowerCut | Target::Kill => fs.power_is_off(),
            Target::Call(..) => fs.faults_waiting() == 0,
        }
    }
}

// ---------------------------------------------------------------- a seed

/// Counts for the summary.
#[derive(Debug, Default)]
struct Tally {
    seeds: u64,
    crashes: u64,
    restarts: u64,
    faults: BTreeMap<&'static str, u64>,
    /// Distinct (fault, call index) pairs.
    points: BTreeSet<(&'static str, u64)>,
    opens: u64,
    records: u64,
    poisoned: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.seeds += other.seeds;
        self.crashes += other.crashes;
        self.restarts += other.restarts;
        for (name, n) in other.faults {
            *self.faults.entry(name).or_default() += n;
        }
        self.points.extend(other.points);
        self.opens += other.opens;
        self.records += other.records;
        self.poisoned += other.poisoned;
    }
}

/// An index drawn with the given weights (0 when they are all 0).
fn draw(rng: &mut Rng, weights: &[u64]) -> usize {
    let mut left = rng.below(weights.iter().sum::<u64>().max(1));
    for (i, &w) in weights.iter().enumerate() {
        if left < w {
            return i;
        }
        left -= w;
    }
    0
}

fn options(rng: &mut Rng) -> Options {
    let sync_mode = match rng.below(3) {
        0 => SyncMode::Always,
        1 => SyncMode::Every(1 + rng.below(5) as u32),
        _ => SyncMode::None,
    };
    Options { segment_size: 4096 << rng.below(3), sync_mode, preallocate: rng.below(2) == 0, ..Options::default() }
}

/// One seed: PHASES phases, each ending in a fault, then a final crash.
/// Each phase is described in `trace` as it starts.
fn run_seed(seed: u64, tally: &mut Tally, trace: &mut Vec<String>) {
    let mut rng = Rng::new(seed);
    let opts = options(&mut rng);
    trace.push(format!("{:?}, segment_size {}, preallocate {}", opts.sync_mode, opts.segment_size, opts.preallocate));
    let mut fs = SimFs::with_seed(rng.next_u64());
    let mut model = Model::default();
    for phase in 1..=PHASES {
        let work_seed = rng.next_u64();
        // Mostly short phases; now and then a long one, for logs of many segments.
        let steps = if rng.below(8) == 0 { 100 + rng.below(400) } else { 5 + rng.below(60) };
        let close = rng.below(4) == 0;
        // A trial run without a fault counts the calls this phase makes.
        let trial = fs.fork();
        let before: Vec<u64> = STRIKES.iter().map(|s| s.2.count(&trial)).collect();
        let mut scratch = model.clone();
        let outcome = Life::new(&trial, opts, &mut scratch, work_seed, &mut Tally::default()).run(steps, close);
        trial.cut_power_after(0); // as below: a log left open is never closed
        drop(outcome);
        let made: Vec<u64> = STRIKES.iter().zip(&before).map(|(s, b)| s.2.count(&trial) - b).collect();
        let weights: Vec<u64> = STRIKES.iter().zip(&made).map(|(s, &n)| if n > 0 { s.1 } else { 0 }).collect();
        let pick = draw(&mut rng, &weights);
        let (name, _, target) = STRIKES[pick];
        let nth = 1 + rng.below(made[pick].max(1));
        let index = target.count(&fs) + nth; // counted from the log's creation
        trace.push(format!("phase {phase}: {steps} steps (work seed {work_seed}), {name} at call {nth} of {}", made[pick]));
        target.arm(&fs, nth);

        let outcome = Life::new(&fs, opts, &mut model, work_seed, tally).run(steps, close);
        let fired = target.fired(&fs);
        // A seek hint (NNNN.idx) is written and deleted best effort
        // (src/hint.rs): a fault that met one need not fail the workload.
        let on_hint = || fs.faulted().last().is_some_and(|n| n.to_str().is_some_and(|n| n.ends_with(".idx")));
        let ignored = fired && !matches!(outcome, Outcome::Failed) && on_hint();
        assert_eq!(fired && !ignored, matches!(outcome, Outcome::Failed),
            "{name} at call {nth}: fired {fired}, but the workload {} (did the trial run differ?)",
            if fired { "went on" } else { "failed" });
        if fired {
            *tally.faults.entry(name).or_default() += 1;
            tally.points.insert((name, index));
        }
        // Then: the machine crashes, or the process starts again on what
        // the kernel holds (after a kill, a failure or a clean close).
        let crash = match (target, &outcome) {
            (_, Outcome::Open(_)) | (Target::PowerCut, _) => true,
            (Target::Kill, _) => false,
            _ => rng.below(2) == 0,
        };
        fs.cut_power_after(0);
        if let Outcome::Open(wal) = outcome {
            drop(wal); // its close finds the power off
        }
        fs = if crash { fs.crash(&mut rng) } else { fs.fork() };
        if crash {
            tally.crashes += 1;
        } else {
            tally.restarts += 1;
        }
        trace.push(format!("  then {}", if crash { "a crash" } else { "a restart" }));
        model.forget_unsynced();
    }
    let wal = Wal::open_in(Arc::new(fs), DIR, opts).unwrap_or_else(|e| panic!("final open: {e}"));
    tally.records += verify(&wal, &model, false).unwrap_or_else(|e| panic!("final replay: {e}"));
    tally.opens += 1;
    let next = wal.last_seq() + 1;
    assert_eq!(wal.append(OP_PUT, b"after", b"all").unwrap(), next, "the first append after the last crash");
    tally.seeds += 1;
}

/// What runs one seed: it adds to the tally and describes its steps in the trace.
type SeedFn = fn(u64, &mut Tally, &mut Vec<String>);

/// Runs a seed, catching a failure: Err(a report to print).
fn try_seed(test: &str, run: SeedFn, seed: u64, tally: &mut Tally) -> Result<(), String> {
    let mut trace = Vec::new();
    let mut mine = Tally::default();
    let result = catch_unwind(AssertUnwindSafe(|| run(seed, &mut mine, &mut trace)));
    tally.add(mine);
    result.map_err(|panic| {
        let why = panic.downcast_ref::<String>().cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("{test}: seed {seed} failed: {why}\n    {}\n    replay: WAL_SIM_SEED={seed} cargo test --release \
                 --test simulation -- --exact {test} --nocapture", trace.join("\n    "))
    })
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(value.parse().unwrap_or_else(|_| panic!("{name}={value} is not a number")))
}

/// Prints past the test harness's capture, so `make check` shows it.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs the seed WAL_SIM_SEED alone, printing its trace, or seeds 1..=`seeds`
/// on `workers` threads; prints a summary and every failing seed.
fn run_seeds(test: &str, run: SeedFn, seeds: u64, workers: usize) {
    if let Some(seed) = env_u64("WAL_SIM_SEED") {
        let mut trace = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| run(seed, &mut Tally::default(), &mut trace)));
        report(&format!("{test}: seed {seed}:\n    {}", trace.join("\n    ")));
        if let Err(panic) = result {
            std::panic::resume_unwind(panic);
        }
        report(&format!("{test}: seed {seed}: all invariants held"));
        return;
    }
    let next = AtomicU64::new(1);
    let total = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                let mut tally = Tally::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::SeqCst);
                    if seed > seeds {
                        break;
                    }
                    if let Err(report) = try_seed(test, run, seed, &mut tally) {
                        failures.lock().unwrap().push(report);
                    }
                }
                total.lock().unwrap().add(tally);
            });
        }
    });
    let t = total.into_inner().unwrap();
    let faults: Vec<String> = t.faults.iter().map(|(name, n)| format!("{n} {name}")).collect();
    let failures = failures.into_inner().unwrap();
    report(&format!(
        "{test}: {seeds} seeds, {} faults injected ({}) at {} distinct (kind, call index) points; \
         then {} crashes and {} restarts; {} failed calls after which the handle refused every write; \
         {} opens checked, {} records checked: {}",
        t.faults.values().sum::<u64>(), faults.join(", "), t.points.len(), t.crashes, t.restarts, t.poisoned,
        t.opens, t.records,
        if failures.is_empty() { "all invariants held".to_string() } else { format!("{} seeds FAILED", failures.len()) },
    ));
    for failure in failures.iter().take(20) {
        report(failure);
    }
    assert!(failures.is_empty(), "{} of {seeds} seeds failed (first: {})", failures.len(), failures[0]);
}

/// Seeds to run: WAL_SIM_SEEDS, or the number `make check` affords.
fn seeds() -> u64 {
    env_u64("WAL_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS)
}

#[test]
fn simulation() {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    run_seeds("simulation", run_seed, seeds(), workers);
}

/// Fewer seeds: each runs THREADS threads, twice.
#[test]
fn simulation_with_threads() {
    run_seeds("simulation_with_threads", thread_seed, seeds().div_ceil(10), 1);
}

// ------------------------------------------------------------ real threads

/// Threads in the threaded simulation, and calls each makes.
const THREADS: u64 = 3;
const THREAD_STEPS: u64 = 40;

/// What a thread's call wrote: (seq, key) of each record, and whether all
/// the thread wrote so far is now durable.
type Written = (Vec<(u64, Vec<u8>)>, bool);

/// Truncates asked for and completed by any thread.
#[derive(Default)]
struct Cuts {
    asked: AtomicU64,
    done: AtomicU64,
}

/// One writer thread: appends, batches, checkpoints, syncs and (thread 0)
/// truncates until a call fails. Returns what it saw acknowledged as
/// durable: its own records, once its append (WAL_SYNC_ALWAYS) or its own
/// later sync or checkpoint returned; and whether a call failed.
fn writer(wal: &Wal, thread: u64, seed: u64, cuts: &Cuts) -> (BTreeMap<u64, Vec<u8>>, bool) {
    let mut rng = Rng::new(seed);
    let always = wal.options().sync_mode == SyncMode::Always;
    let (mut durable, mut pending) = (BTreeMap::new(), BTreeMap::new());
    for n in 1..=THREAD_STEPS {
        let id = thread << WRITER_SHIFT | n;
        let result: wal::Result<Written> = match rng.below(20) {
            0..=11 => {
                let (key, value) = Tag { id, index: 0, count: 1 }.record(rng.below(300) as usize);
                wal.append(OP_PUT, &key, &value).map(|seq| (vec![(seq, key)], always))
            }
            12..=14 => {
                let count = 2 + rng.below(4);
                let records: Vec<_> = (0..count).map(|index| Tag { id, index, count }.record(rng.below(200) as usize)).collect();
                let entries: Vec<Entry> = records.iter().map(|(k, v)| Entry { op: OP_BATCH, key: k, value: v }).collect();
                wal.append_batch(&entries)
                    .map(|last| ((last + 1 - count..).zip(records.into_iter().map(|r| r.0)).collect(), always))
            }
            15 => wal.checkpoint().map(|seq| (vec![(seq, Vec::new())], true)),
            16 if thread == 0 => {
                let (first, last) = (wal.first_seq(), wal.last_seq());
                let upto = first - 1 + rng.below(last + 2 - first);
                cuts.asked.fetch_max(upto, Ordering::SeqCst);
                wal.truncate(upto).map(|()| {
                    cuts.done.fetch_max(upto, Ordering::SeqCst);
                    (vec![], false)
                })
            }
            _ => wal.sync().map(|()| (vec![], true)),
        };
        match result {
            Ok((records, synced)) => {
                pending.extend(records);
                if synced {
                    durable.append(&mut pending);
                }
            }
            Err(e) => {
                assert!(matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned), "thread {thread}: {e}");
                assert!(wal.is_poisoned(), "thread {thread}: a call failed ({e}) but the handle is not poisoned");
                let after = wal.append(OP_PUT, b"k", b"v").map_err(|e| e.kind());
                assert_eq!(after, Err(ErrorKind::Poisoned), "thread {thread}: append after a failure");
                return (durable, true);
            }
        }
    }
    (durable, false)
}

/// THREADS writers on one handle; returns the model of what is owed, and
/// how many threads saw a call fail (and the handle refuse writes after).
fn threads(fs: &SimFs, opts: Options, seed: u64) -> (Model, u64) {
    let wal = match Wal::open_in(Arc::new(fs.clone()), DIR, opts) {
        Ok(wal) => wal,
        Err(e) => {
            expect_io(&e, "open");
            return (Model::default(), 0);
        }
    };
    let cuts = Cuts::default();
    let acked: Vec<(BTreeMap<u64, Vec<u8>>, bool)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS).map(|t| {
            let (wal, cuts) = (&wal, &cuts);
            s.spawn(move || writer(wal, t, seed ^ t, cuts))
        }).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    fs.cut_power_after(0);
    drop(wal);
    let mut model = Model { floor: cuts.done.into_inner(), ..Model::default() };
    let failed = acked.iter().filter(|a| a.1).count() as u64;
    acked.into_iter().for_each(|(mut durable, _)| model.durable.append(&mut durable));
    model.top = model.durable.keys().last().copied().unwrap_or(0);
    model.truncating(cuts.asked.into_inner());
    (model, failed)
}

/// One seed of the threaded simulation: a trial run counts the calls, the
/// real run meets a fault at one of them (if the threads, which the OS
/// schedules, get that far), then a crash or a restart, and a check.
fn thread_seed(seed: u64, tally: &mut Tally, trace: &mut Vec<String>) {
    let mut rng = Rng::new(seed);
    let opts = options(&mut rng);
    trace.push(format!("threads: {:?}, segment_size {}, preallocate {}", opts.sync_mode, opts.segment_size, opts.preallocate));
    let fs = SimFs::with_seed(rng.next_u64());
    let work_seed = rng.next_u64();
    let trial = fs.fork();
    let _ = threads(&trial, opts, work_seed);
    let weights: Vec<u64> = STRIKES.iter().map(|s| if s.2.count(&trial) > 0 { s.1 } else { 0 }).collect();
    let (name, _, target) = STRIKES[draw(&mut rng, &weights)];
    let nth = 1 + rng.below(target.count(&trial).max(1));
    trace.push(format!("{name} at call {nth} of {} in the trial", target.count(&trial)));
    target.arm(&fs, nth);
    let (model, failed) = threads(&fs, opts, work_seed);
    tally.poisoned += failed;
    if target.fired(&fs) {
        *tally.faults.entry(name).or_default() += 1;
        tally.points.insert((name, nth));
    }
    let after = match target {
        Target::Kill => {
            tally.restarts += 1;
            fs.fork()
        }
        _ => {
            tally.crashes += 1;
            fs.crash(&mut rng)
        }
    };
    let wal = Wal::open_in(Arc::new(after), DIR, opts).unwrap_or_else(|e| panic!("open after the crash: {e}"));
    tally.records += verify(&wal, &model, false).unwrap_or_else(|e| panic!("replay after the crash: {e}"));
    tally.opens += 1;
    tally.seeds += 1;
}

// ------------------------------------------------- what the simulation found

fn open_on(fs: &SimFs) -> Wal {
    Wal::open_in(Arc::new(fs.clone()), DIR, common::small(4096)).unwrap_or_else(|e| panic!("open: {e}"))
}

/// Opens the log on `fs` (after a failure: a restart), appends a record,
/// and checks that it survives a power loss (drawn from `seed`).
fn appended_after_restart_survives(fs: &SimFs, seed: u64) {
    let wal = open_on(fs);
    let seq = wal.append(OP_PUT, b"after", b"restart").unwrap();
    drop(wal);
    let crashed = fs.crash(&mut Rng::new(seed));
    let wal = Wal::open_in(Arc::new(crashed), DIR, common::small(4096))
        .unwrap_or_else(|e| panic!("seed {seed}: open after the power loss: {e}"));
    assert!(wal.last_seq() >= seq, "seed {seed}: last_seq {} < acknowledged {seq}", wal.last_seq());
    let rows = common::collect(&wal, 0).unwrap_or_else(|e| panic!("seed {seed}: replay: {e}"));
    assert!(rows.iter().any(|r| r.0 == seq && r.2 == b"after"), "seed {seed}: acknowledged record {seq} lost: {rows:?}");
}

/// Found by the simulation (fsync EIO, then a restart, then a power cut):
/// after a failed fdatasync the kernel may keep the unwritten pages, marked
/// clean. The README says to close and reopen; the reopened handle read
/// those pages, fdatasynced (which wrote nothing) and appended after them,
/// so a power loss then left a hole before its acknowledged records:
/// WAL_E_CORRUPT at open, or the records lost.
#[test]
fn records_appended_after_reopening_a_log_whose_fsync_failed_survive_a_power_loss() {
    for seed in 0..32 {
        let fs = SimFs::with_seed(seed);
        let wal = open_on(&fs);
        wal.append(OP_PUT, b"a", b"1").unwrap();
        fs.fail_next(OpKind::Sync, EIO);
        assert_eq!(wal.append(OP_PUT, b"b", b"2").unwrap_err().kind(), ErrorKind::Io);
        drop(wal);
        appended_after_restart_survives(&fs, seed);
    }
}

/// Found by the simulation (a failed directory fsync or a kill, a restart,
/// a power cut): a segment whose creation stopped after its header was
/// synced but before the directory was is adopted by the next writer. Its
/// directory entry was never made durable, so a power loss removed the
/// segment with the records acknowledged in it.
#[test]
fn records_in_a_segment_whose_directory_fsync_never_happened_survive_a_power_loss() {
    for seed in 0..32 {
        let fs = SimFs::with_seed(seed);
        let wal = open_on(&fs);
        wal.append(OP_PUT, b"a", &[1; 1000]).unwrap();
        fs.fail_next(OpKind::SyncDir, EIO); // when the next segment is created
        let failed = (0..10).find_map(|_| wal.append(OP_PUT, b"a", &[1; 1000]).err());
        assert_eq!(failed.map(|e| e.kind()), Some(ErrorKind::Io), "a new segment was created");
        drop(wal);
        appended_after_restart_survives(&fs.fork(), seed); // fork: as after a kill before that fsync
    }
}

/// Found by the threaded simulation (fsync EIO, several appenders, a power
/// cut): Linux reports a failed writeback once per open file, so while a
/// group commit's failed fdatasync had not yet poisoned the handle, another
/// thread's rotation sealed the segment with an fdatasync that succeeded
/// without the lost pages, and started the next segment. After a power loss
/// the sealed segment had a hole before the next one: replay reported
/// WAL_E_CORRUPT.
#[test]
fn a_segment_is_never_sealed_after_a_concurrent_fsync_failed() {
    for seed in 0..8 {
        let fs = SimFs::with_seed(seed);
        let wal = open_on(&fs);
        let value = [7u8; 1000]; // three such frames fit in a 4096-byte segment
        wal.append(OP_PUT, b"1", &value).unwrap();
        wal.append(OP_PUT, b"2", &value).unwrap();
        fs.inject(OpKind::Sync, 1, Fault::Fail(EIO));
        let held = fs.pause_sync(1);
        std::thread::scope(|s| {
            let failing = s.spawn(|| wal.append(OP_PUT, b"3", &value));
            held.wait_held(); // its fdatasync failed and has not returned yet
            let rotating = s.spawn(|| wal.append(OP_PUT, b"4", &value));
            std::thread::sleep(std::time::Duration::from_millis(50)); // let it reach the seal
            held.release();
            assert_eq!(failing.join().unwrap().unwrap_err().kind(), ErrorKind::Io);
            assert!(rotating.join().unwrap().is_err(), "seed {seed}: an append after the failure was acknowledged");
        });
        drop(wal);
        let crashed = fs.crash(&mut Rng::new(seed));
        let wal = Wal::open_in(Arc::new(crashed), DIR, common::small(4096))
            .unwrap_or_else(|e| panic!("seed {seed}: open after the power loss: {e}"));
        let rows = common::collect(&wal, 0).unwrap_or_else(|e| panic!("seed {seed}: replay after the power loss: {e}"));
        assert!(rows.len() >= 2, "seed {seed}: acknowledged records lost: {rows:?}");
    }
}
