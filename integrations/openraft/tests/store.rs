//! LogStore across reopens and crashes: what openraft's suite does not do
//! (it never reopens a store). The index <-> seq mapping after purges and
//! cuts, an interrupted purge, records that are not what they claim, and,
//! on libwal's simulated file system, power cuts after acknowledged appends
//! and votes.

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::testing::log_id;
use openraft::{Entry, EntryPayload, LogId, RaftLogReader, Vote};
use openraft_libwal::{LogStore, META_KEEP, NodeId, Request, StoreConfig, TypeConfig};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wal::io::sim::Rng;
use wal::io::{Fs, SimFs};
use wal::{Options, Wal};

mod common;
use common::TestDir;

type Store = LogStore<TypeConfig>;

const SMALL: StoreConfig = StoreConfig { segment_size: 4096 };

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, 0, index),
        payload: EntryPayload::Normal(Request::Set { key: format!("k{index}"), value: format!("t{term}") }),
    }
}

fn open(dir: &Path) -> Store {
    Store::open(dir, SMALL).unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

/// Appends [from, to) in term `term`, in batches of `batch`.
async fn append(store: &mut Store, term: u64, from: u64, to: u64, batch: u64) {
    let mut i = from;
    while i < to {
        let end = (i + batch).min(to);
        store.blocking_append((i..end).map(|j| entry(term, j))).await.expect("append");
        i = end;
    }
}

/// (index, term) of every entry in [from, to).
async fn ids(store: &mut Store, range: std::ops::Range<u64>) -> Vec<(u64, u64)> {
    let mut reader = store.get_log_reader().await;
    let entries = reader.try_get_log_entries(range).await.expect("read");
    entries
        .iter()
        .map(|e| {
            let EntryPayload::Normal(Request::Set { key, value }) = &e.payload else { panic!("not a set: {e:?}") };
            assert_eq!(key, &format!("k{}", e.log_id.index), "the entry's payload is another entry's");
            assert_eq!(value, &format!("t{}", e.log_id.leader_id.term));
            (e.log_id.index, e.log_id.leader_id.term)
        })
        .collect()
}

fn run(range: std::ops::Range<u64>, term: u64) -> Vec<(u64, u64)> {
    range.map(|i| (i, term)).collect()
}

async fn state(store: &mut Store) -> (Option<LogId<NodeId>>, Option<LogId<NodeId>>) {
    let st = store.get_log_state().await.expect("log state");
    (st.last_purged_log_id, st.last_log_id)
}

/// (seq, key as an index) of each record of a log directory, read-only.
fn records(dir: &Path) -> Vec<(u64, u64)> {
    let wal = Wal::open(dir, Options { read_only: true, ..Options::default() }).expect("read-only open");
    let mut it = wal.iter(0).expect("iter");
    let mut out = Vec::new();
    while let Some(r) = it.next().expect("next") {
        out.push((r.seq, u64::from_be_bytes(r.key.try_into().expect("an 8-byte key"))));
    }
    out
}

#[tokio::test]
async fn entries_and_bounds_survive_a_reopen() {
    let dir = TestDir::new("reopen");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 100, 7).await;
        assert_eq!(ids(&mut s, 40..45).await, run(40..45, 1));
    }
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (None, Some(log_id(1, 0, 99))));
    assert_eq!(ids(&mut s, 0..1000).await, run(0..100, 1));
    let mut reader = s.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(98..=99).await.expect("read").len(), 2);
    assert_eq!(reader.try_get_log_entries(..3).await.expect("read").len(), 3);
    assert!(reader.try_get_log_entries(5..5).await.expect("read").is_empty());
    drop(reader);
    assert!(ids(&mut s, 100..200).await.is_empty());
    // Index 0 is at seq 1, and the 4 KiB segments rotated.
    drop(s);
    let recs = records(&dir.path().join("log"));
    assert_eq!(recs[0], (1, 0));
    assert_eq!(recs[99], (100, 99));
    let segments = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".wal"));
    assert!(segments.count() > 2, "the log did not rotate: the test does not cover reads across segments");
}

#[tokio::test]
async fn a_purge_survives_a_reopen() {
    let dir = TestDir::new("purge");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 100, 10).await;
        s.purge(log_id(1, 0, 40)).await.expect("purge");
        assert_eq!(ids(&mut s, 0..100).await, run(41..100, 1));
        assert_eq!(LogStatsView::of(&s).purges, 1);
    }
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (Some(log_id(1, 0, 40)), Some(log_id(1, 0, 99))));
    assert_eq!(ids(&mut s, 0..100).await, run(41..100, 1));
    append(&mut s, 2, 100, 110, 3).await;
    drop(s);
    let recs = records(&dir.path().join("log"));
    assert_eq!(recs.first(), Some(&(42, 41)), "libwal still holds purged records");
    assert_eq!(recs.last(), Some(&(110, 109)));
}

/// A follower that installs a snapshot purges past its last entry: libwal
/// is emptied and the next entry, last purged + 1, goes at its next seq.
#[tokio::test]
async fn a_purge_past_the_end_moves_the_offset() {
    let dir = TestDir::new("purge-past");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 10, 4).await;
        s.purge(log_id(2, 0, 50)).await.expect("purge");
        assert_eq!(state(&mut s).await, (Some(log_id(2, 0, 50)), Some(log_id(2, 0, 50))));
        assert!(ids(&mut s, 0..100).await.is_empty());
    }
    {
        let mut s = open(dir.path());
        assert_eq!(state(&mut s).await, (Some(log_id(2, 0, 50)), Some(log_id(2, 0, 50))));
        // The log goes on after the purged index: an entry at or below it
        // is purged on arrival (not written), one past 51 leaves a gap.
        s.blocking_append([entry(2, 10)]).await.expect("an entry already purged");
        assert_eq!(state(&mut s).await, (Some(log_id(2, 0, 50)), Some(log_id(2, 0, 50))));
        let err = s.blocking_append([entry(2, 52)]).await.expect_err("an entry that does not follow the log");
        assert!(err.to_string().contains("index 52 appended where index 51 comes next"), "{err}");
        append(&mut s, 3, 51, 61, 4).await;
    }
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (Some(log_id(2, 0, 50)), Some(log_id(3, 0, 60))));
    assert_eq!(ids(&mut s, 0..100).await, run(51..61, 3));
    drop(s);
    let recs = records(&dir.path().join("log"));
    assert_eq!(recs.first(), Some(&(11, 51)), "index 51 goes at libwal's next seq");
}

#[tokio::test]
async fn a_conflict_cut_survives_a_reopen() {
    let dir = TestDir::new("cut");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 30, 5).await;
        s.truncate(log_id(1, 0, 20)).await.expect("truncate");
        assert_eq!(state(&mut s).await, (None, Some(log_id(1, 0, 19))));
        let stats = LogStatsView::of(&s);
        assert_eq!((stats.cuts, stats.cut), (1, 10));
        // A cut past the end cuts nothing and is not counted.
        s.truncate(log_id(1, 0, 25)).await.expect("truncate past the end");
        assert_eq!(LogStatsView::of(&s).cuts, 1);
        append(&mut s, 2, 20, 25, 2).await;
    }
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (None, Some(log_id(2, 0, 24))));
    let mut want = run(0..20, 1);
    want.extend(run(20..25, 2));
    assert_eq!(ids(&mut s, 0..100).await, want);
}

/// A cut at the first entry left after a purge empties the log; the next
/// append follows the last purged entry.
#[tokio::test]
async fn a_cut_of_everything_after_a_purge() {
    let dir = TestDir::new("cut-all");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 30, 6).await;
        s.purge(log_id(1, 0, 9)).await.expect("purge");
        s.truncate(log_id(1, 0, 10)).await.expect("truncate");
        assert_eq!(state(&mut s).await, (Some(log_id(1, 0, 9)), Some(log_id(1, 0, 9))));
        assert!(ids(&mut s, 0..100).await.is_empty());
        // Purged entries are not cut.
        assert!(s.truncate(log_id(1, 0, 5)).await.is_ok(), "nothing to cut is fine");
    }
    {
        let mut s = open(dir.path());
        assert_eq!(state(&mut s).await, (Some(log_id(1, 0, 9)), Some(log_id(1, 0, 9))));
        append(&mut s, 3, 10, 20, 3).await;
    }
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (Some(log_id(1, 0, 9)), Some(log_id(3, 0, 19))));
    assert_eq!(ids(&mut s, 0..100).await, run(10..20, 3));
}

/// A crash after the purge saved the last purged id but before libwal's
/// truncate: the next open hides and truncates those records.
#[tokio::test]
async fn an_interrupted_purge_is_finished_at_open() {
    let dir = TestDir::new("purge-interrupted");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 30, 30).await;
    }
    {
        // What purge writes first, written alone.
        let meta = Wal::open(dir.path().join("meta"), Options::default()).expect("open meta");
        let state = serde_json::json!({ "vote": null, "committed": null, "last_purged": log_id(1, 0, 15) });
        meta.append(1, b"raft-state", state.to_string().as_bytes()).expect("append");
    }
    assert_eq!(records(&dir.path().join("log")).len(), 30);
    let mut s = open(dir.path());
    assert_eq!(state(&mut s).await, (Some(log_id(1, 0, 15)), Some(log_id(1, 0, 29))));
    assert_eq!(ids(&mut s, 0..100).await, run(16..30, 1));
    drop(s);
    assert_eq!(records(&dir.path().join("log")).first(), Some(&(17, 16)));
}

#[tokio::test]
async fn the_vote_and_committed_survive_a_reopen_and_the_meta_log_stays_small() {
    let dir = TestDir::new("vote");
    {
        let mut s = open(dir.path());
        append(&mut s, 1, 0, 5, 5).await;
        for term in 1..=300 {
            s.save_vote(&Vote::new(term, term % 3)).await.expect("save_vote");
        }
        s.save_committed(Some(log_id(1, 0, 3))).await.expect("save_committed");
    }
    let mut s = open(dir.path());
    assert_eq!(s.read_vote().await.expect("read_vote"), Some(Vote::new(300, 0)));
    assert_eq!(s.read_committed().await.expect("read_committed"), Some(log_id(1, 0, 3)));
    drop(s);
    let meta = records_any(&dir.path().join("meta"));
    assert!(meta <= META_KEEP as usize + 1, "the meta log holds {meta} records");
}

fn records_any(dir: &Path) -> usize {
    let wal = Wal::open(dir, Options { read_only: true, ..Options::default() }).expect("read-only open");
    let mut it = wal.iter(0).expect("iter");
    let mut n = 0;
    while it.next().expect("next").is_some() {
        n += 1;
    }
    n
}

/// A record whose entry is not the one its seq maps to is an error, never
/// an entry handed to openraft.
#[tokio::test]
async fn a_record_that_lies_about_its_index_is_an_error() {
    let dir = TestDir::new("lies");
    {
        let wal = Wal::open(dir.path().join("log"), Options::default()).expect("open");
        for i in 0..5u64 {
            // Record 3 (index 2) holds the entry of index 7.
            let e = entry(1, if i == 2 { 7 } else { i });
            wal.append(1, &i.to_be_bytes(), &serde_json::to_vec(&e).unwrap()).expect("append");
        }
    }
    let mut s = open(dir.path());
    let mut reader = s.get_log_reader().await;
    assert_eq!(reader.try_get_log_entries(0..2).await.expect("the entries before it").len(), 2);
    let err = reader.try_get_log_entries(0..5).await.expect_err("a lying record");
    assert!(err.to_string().contains("the key says index 2, the entry 7"), "{err}");
    drop(reader);
    drop(s);
    // One whose key and entry agree but sit at the wrong seq: found at open.
    let dir = TestDir::new("lies-open");
    {
        let wal = Wal::open(dir.path().join("log"), Options::default()).expect("open");
        for i in [0u64, 1, 2, 9] {
            wal.append(1, &i.to_be_bytes(), &serde_json::to_vec(&entry(1, i)).unwrap()).expect("append");
        }
    }
    let err = Store::open(dir.path(), SMALL).err().expect("a log whose indexes are not contiguous");
    assert!(err.to_string().contains("not contiguous"), "{err}");
}

/// Power cuts on libwal's simulated file system: every append whose
/// callback came, and every vote saved, is there after the crash, whatever
/// part of the unsynced writes the disk kept.
#[tokio::test]
async fn acknowledged_appends_and_votes_survive_power_cuts() {
    let dir = Path::new("/node");
    for seed in 0..40u64 {
        let fs = SimFs::with_seed(seed);
        let mut rng = Rng::new(seed);
        let mut s = Store::open_in(Arc::new(fs.clone()) as Arc<dyn Fs>, dir, SMALL).expect("open");
        let batches = 1 + rng.below(20);
        let mut next = 0;
        for b in 0..batches {
            let n = 1 + rng.below(8);
            append(&mut s, 1, next, next + n, n).await;
            next += n;
            s.save_vote(&Vote::new(b + 1, 0)).await.expect("save_vote");
        }
        // Appends whose callback has not come yet may be lost, not the others.
        let crashed = fs.crash(&mut rng);
        drop(s);
        let mut s = Store::open_in(Arc::new(crashed) as Arc<dyn Fs>, dir, SMALL).expect("reopen after the crash");
        assert_eq!(state(&mut s).await.1, Some(log_id(1, 0, next - 1)), "seed {seed}: acknowledged entries lost");
        assert_eq!(ids(&mut s, 0..next).await, run(0..next, 1), "seed {seed}");
        assert_eq!(s.read_vote().await.expect("read_vote"), Some(Vote::new(batches, 0)), "seed {seed}: vote lost");
    }
}

/// The counters of a store, read once.
struct LogStatsView {
    purges: u64,
    cuts: u64,
    cut: u64,
}

impl LogStatsView {
    fn of(s: &Store) -> LogStatsView {
        let st = s.stats();
        LogStatsView {
            purges: st.purges.load(Ordering::SeqCst),
            cuts: st.conflict_cuts.load(Ordering::SeqCst),
            cut: st.entries_cut.load(Ordering::SeqCst),
        }
    }
}
