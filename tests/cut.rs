//! Cutting the newest records (`truncate_after`): what it keeps and
//! discards, its range checks, iterators open across it, and, on the
//! simulated file system, a power cut and a kill at every I/O call it makes:
//! afterwards the log is the old one or the new one, never a mix.

mod common;
use common::*;
use std::sync::Arc;
use wal::io::sim::Rng;
use wal::io::SimFs;
use wal::{Entry, ErrorKind, Options, SyncMode, Wal};

type Log = Vec<(u64, Vec<u8>)>;

fn records(wal: &Wal) -> Log {
    collect(wal, 0).unwrap().into_iter().map(|r| (r.0, r.2)).collect()
}

fn batch(wal: &Wal, tag: u64, n: u64) -> u64 {
    let keys: Vec<Vec<u8>> = (0..n).map(|i| format!("b{tag}.{i}").into_bytes()).collect();
    let entries: Vec<Entry<'_>> = keys.iter().map(|k| Entry { op: 2, key: k, value: b"v" }).collect();
    wal.append_batch(&entries).unwrap()
}

#[test]
fn a_cut_keeps_what_is_at_or_below_and_the_next_append_follows_it() {
    let dir = TempDir::new("cut-basic");
    let wal = fill(dir.path(), small(4096), 100, 60);
    let before = records(&wal);
    wal.truncate_after(40).unwrap();
    assert_eq!(wal.last_seq(), 40);
    assert_eq!(wal.durable_seq(), 40);
    assert_eq!(records(&wal), before[..40].to_vec());
    assert_eq!(wal.append(1, b"new", b"41").unwrap(), 41);
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.last_seq(), 41);
    let after = records(&wal);
    assert_eq!(after[..40], before[..40]);
    assert_eq!(after[40], (41, b"new".to_vec()));
    assert_eq!(wal.append(1, b"next", b"").unwrap(), 42);
}

#[test]
fn a_cut_inside_a_batch_keeps_its_first_entries_as_one_batch() {
    let dir = TempDir::new("cut-batch");
    let wal = Wal::open(dir.path(), small(1 << 20)).unwrap();
    wal.append(1, b"a", b"").unwrap();
    assert_eq!(batch(&wal, 1, 10), 11);
    wal.append(1, b"z", b"").unwrap();
    let before = records(&wal);
    wal.truncate_after(5).unwrap();
    assert_eq!(records(&wal), before[..5].to_vec());
    assert_eq!(batch(&wal, 2, 3), 8);
    drop(wal);
    for _ in 0..2 {
        let wal = Wal::open(dir.path(), small(1 << 20)).unwrap();
        let got = records(&wal);
        assert_eq!(got.len(), 8);
        assert_eq!(got[..5], before[..5]);
        assert_eq!(got[5].1, b"b2.0".to_vec());
    }
}

#[test]
fn a_cut_deletes_the_newer_segments_and_the_log_goes_on_in_the_cut_one() {
    let dir = TempDir::new("cut-segments");
    let wal = fill(dir.path(), small(4096), 400, 100);
    let before = records(&wal);
    let n = segments(dir.path()).len();
    assert!(n > 5);
    wal.truncate_after(30).unwrap();
    assert!(segments(dir.path()).len() < 3, "{:?}", segments(dir.path()));
    assert_eq!(records(&wal), before[..30].to_vec());
    for i in 31..=300 {
        assert_eq!(wal.append(1, &key(i), &value(i, 100)).unwrap(), i);
    }
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.last_seq(), 300);
    assert_eq!(records(&wal)[..30], before[..30]);
}

#[test]
fn cutting_everything_left_after_a_truncate_keeps_the_floor() {
    let dir = TempDir::new("cut-all");
    let wal = fill(dir.path(), small(4096), 100, 60);
    wal.truncate(50).unwrap();
    assert_eq!(wal.truncate_after(48).err().unwrap().kind(), ErrorKind::Range, "below first_seq - 1");
    wal.truncate_after(50).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (51, 50));
    assert_eq!(wal.append(1, b"x", b"").unwrap(), 51);
    drop(wal);
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (51, 51));
}

#[test]
fn a_cut_out_of_range_or_below_a_checkpoint_is_refused_and_changes_nothing() {
    let dir = TempDir::new("cut-range");
    let wal = fill(dir.path(), small(4096), 20, 10);
    assert_eq!(wal.truncate_after(21).err().unwrap().kind(), ErrorKind::Range);
    wal.truncate_after(20).unwrap(); // nothing to do
    let cp = wal.checkpoint().unwrap();
    wal.append(1, b"after", b"").unwrap();
    assert_eq!(wal.truncate_after(cp - 1).err().unwrap().kind(), ErrorKind::Range);
    wal.truncate_after(cp).unwrap();
    assert_eq!(wal.last_seq(), cp);
    wal.append(1, b"after", b"").unwrap();
    drop(wal);
    // A checkpoint found in the log at open counts too.
    let wal = Wal::open(dir.path(), small(4096)).unwrap();
    assert_eq!(wal.truncate_after(cp - 1).err().unwrap().kind(), ErrorKind::Range);
    assert_eq!(wal.last_seq(), cp + 1);
    wal.truncate_after(cp).unwrap();
    assert_eq!(wal.last_seq(), cp);
}

#[test]
fn an_iterator_whose_next_record_was_cut_says_range_and_one_before_the_cut_goes_on() {
    let dir = TempDir::new("cut-iter");
    let wal = fill(dir.path(), small(4096), 100, 60);
    let mut behind = wal.iter(10).unwrap();
    assert_eq!(behind.next().unwrap().unwrap().seq, 11);
    let mut ahead = wal.iter(60).unwrap();
    assert_eq!(ahead.next().unwrap().unwrap().seq, 61);
    let mut at_end = wal.iter(100).unwrap();
    assert!(at_end.next().unwrap().is_none());
    wal.truncate_after(50).unwrap();
    for i in 51..=70 {
        wal.append(1, format!("new{i}").as_bytes(), b"").unwrap();
    }
    assert_eq!(ahead.next().err().unwrap().kind(), ErrorKind::Range);
    assert_eq!(ahead.next().err().unwrap().kind(), ErrorKind::Range, "from then on");
    assert_eq!(at_end.next().err().unwrap().kind(), ErrorKind::Range, "records appended after the cut included");
    let mut seen = vec![];
    while let Some(r) = behind.next().unwrap() {
        seen.push((r.seq, r.key.to_vec()));
    }
    assert_eq!(seen.len(), 70 - 11);
    assert_eq!(seen[38], (50, key(50)));
    assert_eq!(seen[39], (51, b"new51".to_vec()));
}

// ------------------------------------------------- crashes inside the cut

/// A log on the simulated file system and the cut to make in it.
struct Scenario {
    opts: Options,
    fs: SimFs,
    before: Log,
    seq: u64,
}

fn scenario(seed: u64) -> Scenario {
    let mut rng = Rng::new(seed);
    let sync_mode = [SyncMode::Always, SyncMode::None, SyncMode::Every(3)][rng.below(3) as usize];
    let segment_size = [4096, 8192, 1 << 20][rng.below(3) as usize];
    let opts = Options { segment_size, sync_mode, preallocate: rng.below(2) == 0, ..Options::default() };
    let fs = SimFs::with_seed(rng.next_u64());
    let wal = Wal::open_in(Arc::new(fs.clone()), "/sim/cut", opts).unwrap();
    let appends = 1 + rng.below(40);
    for i in 0..appends {
        match rng.below(4) {
            0 => {
                batch(&wal, i, 2 + rng.below(30));
            }
            _ => {
                let len = rng.below(300) as usize;
                wal.append(1, format!("k{i}").as_bytes(), &vec![i as u8; len]).unwrap();
            }
        }
    }
    if rng.below(3) == 0 {
        wal.truncate(rng.below(wal.last_seq() / 2 + 1)).unwrap();
    }
    wal.sync().unwrap();
    let before = records(&wal);
    let first = wal.first_seq();
    let last = wal.last_seq();
    drop(wal);
    let seq = first - 1 + rng.below(last - first + 1);
    Scenario { opts, fs, before, seq }
}

/// What a reopen finds is the old log (all of it: it was durable) or the
/// new one, and the next append follows it; a read-only open before it
/// sees the same.
fn check_after(fs: SimFs, s: &Scenario, what: &str) -> bool {
    let ro = Options { read_only: true, ..s.opts };
    let seen_ro = Wal::open_in(Arc::new(fs.clone()), "/sim/cut", ro).map(|w| records(&w));
    let wal = Wal::open_in(Arc::new(fs), "/sim/cut", s.opts).unwrap_or_else(|e| panic!("{what}: reopen: {e}"));
    let got = records(&wal);
    let new: Log = s.before.iter().filter(|r| r.0 <= s.seq).cloned().collect();
    let is_new = got == new && wal.last_seq() == s.seq;
    assert!(is_new || got == s.before, "{what}: the log is neither the old one nor the new one: {got:?}");
    assert_eq!(seen_ro.as_ref().ok(), Some(&got), "{what}: a read-only open saw another log");
    let next = wal.last_seq() + 1;
    assert_eq!(wal.append(1, b"next", b"").unwrap(), next, "{what}");
    is_new
}

#[test]
fn a_cut_interrupted_at_any_call_leaves_the_old_log_or_the_new_one() {
    let seeds: u64 = std::env::var("WAL_CUT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(150);
    let (mut rounds, mut new_logs) = (0u64, 0u64);
    for seed in 1..=seeds {
        let s = scenario(seed);
        // A trial counts the calls the cut makes.
        let trial = s.fs.fork();
        let wal = Wal::open_in(Arc::new(trial.clone()), "/sim/cut", s.opts).unwrap();
        let start = trial.calls();
        wal.truncate_after(s.seq).unwrap();
        let calls = trial.calls() - start;
        drop(wal);
        let mut rng = Rng::new(seed);
        for n in 0..=calls {
            let fs = s.fs.fork();
            let wal = Wal::open_in(Arc::new(fs.clone()), "/sim/cut", s.opts).unwrap();
            fs.cut_power_after(n);
            let result = wal.truncate_after(s.seq);
            assert_eq!(result.is_ok(), n == calls, "seed {seed}: the cut stopped at call {n} of {calls}: {result:?}");
            fs.cut_power_after(0);
            drop(wal);
            let what = format!("seed {seed}, call {n} of {calls}");
            for crash in [false, true] {
                let after = if crash { fs.crash(&mut rng) } else { fs.fork() };
                let is_new = check_after(after, &s, &format!("{what}, {}", if crash { "power cut" } else { "kill" }));
                if n == calls {
                    assert!(is_new, "{what}: the cut returned, the log must be the new one");
                }
                rounds += 1;
                new_logs += is_new as u64;
            }
        }
    }
    println!("cut rounds: {rounds} ({seeds} logs, power cut and kill at every call; {new_logs} came back cut)");
}
