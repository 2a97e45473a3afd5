//! Three openraft nodes in one process, each on its own libwal logs, the
//! network a router of direct calls that can isolate a node. The test
//! elects a leader, writes, stops nodes and starts them again from their
//! directories, makes a follower catch up from a snapshot, isolates the
//! leader while it appends entries that never commit so that, once a new
//! leader has written past them, its log conflicts and the store cuts the
//! suffix (`Wal::truncate_after`), and checks after each phase that every
//! acknowledged write is read back from whichever node leads, and that the
//! entries the cut removed were never applied.
//!
//! A stop is `Raft::shutdown` and the drop of the node's stores: the
//! process does not die, so what it proves is recovery from the logs as
//! the stores left them, not from a power cut (libwal's own crash tests do
//! that).

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Config, ServerState, SnapshotPolicy};
use openraft_libwal::{KvReader, KvStateMachine, LogStats, LogStore, NodeId, Request, StoreConfig, TypeConfig};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;
use common::TestDir;

type Raft = openraft::Raft<TypeConfig>;

const WAIT: Duration = Duration::from_secs(20);

/// Delivers calls between the nodes that are up and not isolated.
#[derive(Default)]
struct Router {
    up: Mutex<BTreeMap<NodeId, Raft>>,
    isolated: Mutex<BTreeSet<NodeId>>,
}

impl Router {
    fn route(&self, from: NodeId, to: NodeId) -> Result<Raft, Unreachable> {
        let isolated = self.isolated.lock().unwrap();
        if isolated.contains(&from) || isolated.contains(&to) {
            return Err(unreachable(format!("{from} -> {to}: partitioned")));
        }
        drop(isolated);
        self.up
            .lock()
            .unwrap()
            .get(&to)
            .cloned()
            .ok_or_else(|| unreachable(format!("{from} -> {to}: node {to} is down")))
    }
}

fn unreachable(msg: String) -> Unreachable {
    Unreachable::new(&io::Error::new(io::ErrorKind::NotConnected, msg))
}

/// A RaftError from the target as the RPC's result: a stopped target is
/// unreachable, anything else is its answer.
fn remote<E: std::error::Error>(
    to: NodeId,
    e: RaftError<NodeId, E>,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    match e {
        RaftError::Fatal(f) => RPCError::Network(NetworkError::new(&io::Error::other(format!("node {to}: {f}")))),
        e => RPCError::RemoteError(RemoteError::new(to, e)),
    }
}

struct Net {
    router: Arc<Router>,
    from: NodeId,
    to: NodeId,
}

struct NetFactory {
    router: Arc<Router>,
    from: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for NetFactory {
    type Network = Net;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> Net {
        Net { router: self.router.clone(), from: self.from, to: target }
    }
}

impl RaftNetwork<TypeConfig> for Net {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.router.route(self.from, self.to)?;
        raft.append_entries(rpc).await.map_err(|e| remote(self.to, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        let raft = self.router.route(self.from, self.to)?;
        raft.install_snapshot(rpc).await.map_err(|e| remote(self.to, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.router.route(self.from, self.to)?;
        raft.vote(rpc).await.map_err(|e| remote(self.to, e))
    }
}

struct Node {
    raft: Raft,
    kv: KvReader,
}

/// The cluster, what it acknowledged and what it went through.
struct Cluster {
    _root: TestDir,
    dirs: BTreeMap<NodeId, PathBuf>,
    router: Arc<Router>,
    config: Arc<Config>,
    nodes: BTreeMap<NodeId, Node>,
    /// The stats of every store opened, per node, oldest first.
    stats: BTreeMap<NodeId, Vec<Arc<LogStats>>>,
    acked: BTreeMap<String, String>,
    /// Keys written to an isolated leader: never acknowledged, and cut.
    lost: BTreeSet<String>,
    /// Each (leader, term) seen, in order.
    leaders: Vec<(NodeId, u64)>,
    restarts: u64,
    /// The writes to isolated leaders: each says whether it was acknowledged.
    pending: Vec<tokio::task::JoinHandle<bool>>,
}

fn sum(stats: &[Arc<LogStats>], f: impl Fn(&LogStats) -> u64) -> u64 {
    stats.iter().map(|s| f(s)).sum()
}

impl Cluster {
    async fn new() -> Cluster {
        let root = TestDir::new("cluster");
        let dirs = (1..=3).map(|id| (id, root.path().join(format!("node-{id}")))).collect();
        let config = Config {
            cluster_name: "libwal".into(),
            heartbeat_interval: 50,
            election_timeout_min: 300,
            election_timeout_max: 600,
            // Snapshots and purges only where the test asks for them.
            snapshot_policy: SnapshotPolicy::Never,
            max_in_snapshot_log_to_keep: 0,
            ..Config::default()
        };
        let mut c = Cluster {
            _root: root,
            dirs,
            router: Arc::new(Router::default()),
            config: Arc::new(config.validate().expect("a valid config")),
            nodes: BTreeMap::new(),
            stats: BTreeMap::new(),
            acked: BTreeMap::new(),
            lost: BTreeSet::new(),
            leaders: Vec::new(),
            restarts: 0,
            pending: Vec::new(),
        };
        for id in 1..=3 {
            c.start(id).await;
        }
        c
    }

    /// Starts node `id` from its directory.
    async fn start(&mut self, id: NodeId) {
        let dir = &self.dirs[&id];
        // Small segments: purges delete segment files, appends rotate.
        let log = LogStore::<TypeConfig>::open(dir, StoreConfig { segment_size: 16 << 10 })
            .unwrap_or_else(|e| panic!("node {id}: cannot open its log store: {e}"));
        let sm = KvStateMachine::open(dir).unwrap_or_else(|e| panic!("node {id}: cannot open its state machine: {e}"));
        self.stats.entry(id).or_default().push(log.stats());
        let kv = sm.reader();
        let net = NetFactory { router: self.router.clone(), from: id };
        let raft = Raft::new(id, self.config.clone(), net, log, sm).await.expect("Raft::new");
        self.router.up.lock().unwrap().insert(id, raft.clone());
        self.nodes.insert(id, Node { raft, kv });
    }

    /// Stops node `id`: shut down, its stores dropped (which releases
    /// the directory's lock).
    async fn stop(&mut self, id: NodeId) {
        self.router.up.lock().unwrap().remove(&id);
        let node = self.nodes.remove(&id).expect("a node that is up");
        node.raft.shutdown().await.expect("shutdown");
    }

    async fn restart(&mut self, id: NodeId) {
        self.start(id).await;
        self.restarts += 1;
    }

    fn isolate(&self, id: NodeId, yes: bool) {
        let mut isolated = self.router.isolated.lock().unwrap();
        if yes {
            isolated.insert(id);
        } else {
            isolated.remove(&id);
        }
    }

    fn reachable(&self) -> Vec<NodeId> {
        let isolated = self.router.isolated.lock().unwrap();
        self.nodes.keys().copied().filter(|id| !isolated.contains(id)).collect()
    }

    /// The leader that every node up and reachable follows, once there is
    /// one; recorded in `leaders`.
    async fn leader(&mut self) -> NodeId {
        let deadline = Instant::now() + WAIT;
        loop {
            let ids = self.reachable();
            let metrics: Vec<_> = ids.iter().map(|id| self.nodes[id].raft.metrics().borrow().clone()).collect();
            let agreed = metrics
                .iter()
                .find(|m| m.state == ServerState::Leader)
                .filter(|l| metrics.iter().all(|m| m.current_leader == Some(l.id) && m.current_term == l.current_term));
            if let Some(l) = agreed {
                let seen = (l.id, l.current_term);
                if self.leaders.last() != Some(&seen) {
                    println!("leader: node {} in term {}", seen.0, seen.1);
                    self.leaders.push(seen);
                }
                return l.id;
            }
            assert!(Instant::now() < deadline, "no leader that nodes {ids:?} agree on within {WAIT:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Writes key=value through the leader, retrying while leadership
    /// moves; acknowledged once `client_write` returns Ok.
    async fn write(&mut self, key: String, value: String) {
        for _ in 0..50 {
            let leader = self.leader().await;
            let raft = self.nodes[&leader].raft.clone();
            let req = Request::Set { key: key.clone(), value: value.clone() };
            match tokio::time::timeout(Duration::from_secs(5), raft.client_write(req)).await {
                Ok(Ok(_)) => {
                    self.acked.insert(key, value);
                    return;
                }
                Ok(Err(e)) => println!("write {key} to node {leader}: {e}; retrying"),
                Err(_) => println!("write {key} to node {leader}: timed out; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("write {key}: no leader acknowledged it");
    }

    async fn write_many(&mut self, prefix: &str, n: usize) {
        for i in 0..n {
            self.write(format!("{prefix}-{i:03}"), format!("{prefix}-value-{i}")).await;
        }
    }

    fn metrics(&self, id: NodeId) -> openraft::RaftMetrics<NodeId, BasicNode> {
        self.nodes[&id].raft.metrics().borrow().clone()
    }

    /// Waits until every node up and reachable applied the leader's last
    /// log index.
    async fn caught_up(&mut self) {
        let leader = self.leader().await;
        let last = self.metrics(leader).last_log_index;
        for id in self.reachable() {
            self.nodes[&id]
                .raft
                .wait(Some(WAIT))
                .applied_index_at_least(last, format!("node {id} applies up to {last:?}"))
                .await
                .unwrap_or_else(|e| panic!("node {id} did not catch up: {e}"));
        }
    }

    /// Every acknowledged write reads back from the leader, after a
    /// linearizable read barrier, and no lost write does; the followers
    /// applied the same.
    async fn check(&mut self, phase: &str) {
        let leader = self.leader().await;
        self.nodes[&leader].raft.ensure_linearizable().await.expect("ensure_linearizable on the leader");
        let kv = &self.nodes[&leader].kv;
        for (k, v) in &self.acked {
            assert_eq!(kv.get(k).as_ref(), Some(v), "{phase}: node {leader} (leader) lost acknowledged {k}");
        }
        for k in &self.lost {
            assert_eq!(kv.get(k), None, "{phase}: node {leader} (leader) applied {k}, which was cut");
        }
        assert_eq!(kv.len(), self.acked.len(), "{phase}: node {leader} holds keys nobody acknowledged");
        self.caught_up().await;
        for id in self.reachable() {
            let kv = &self.nodes[&id].kv;
            assert_eq!(kv.len(), self.acked.len(), "{phase}: node {id} holds {} keys", kv.len());
            for (k, v) in &self.acked {
                assert_eq!(kv.get(k).as_ref(), Some(v), "{phase}: node {id} lacks {k}");
            }
        }
        println!(
            "{phase}: {} acknowledged writes read back from node {leader} (leader) and every node",
            self.acked.len()
        );
    }

    /// Isolates the leader, has it append `n` entries that cannot commit,
    /// and returns it; the writes are left pending.
    async fn isolate_leader_with_suffix(&mut self, tag: &str, n: usize) -> NodeId {
        let old = self.leader().await;
        let before = self.metrics(old).last_log_index.unwrap_or(0);
        self.isolate(old, true);
        for i in 0..n {
            let key = format!("{tag}-{i}");
            self.lost.insert(key.clone());
            let raft = self.nodes[&old].raft.clone();
            self.pending.push(tokio::spawn(async move {
                let req = Request::Set { key, value: "never acknowledged".into() };
                matches!(tokio::time::timeout(WAIT, raft.client_write(req)).await, Ok(Ok(_)))
            }));
        }
        let want = before + n as u64;
        self.nodes[&old]
            .raft
            .wait(Some(WAIT))
            .log_index_at_least(Some(want), "the isolated leader appends the writes")
            .await
            .expect("the isolated leader appends the writes");
        old
    }

    fn conflict_cuts(&self, id: NodeId) -> u64 {
        sum(&self.stats[&id], |s| s.conflict_cuts.load(Ordering::SeqCst))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_on_libwal() {
    let started = Instant::now();
    let mut c = Cluster::new().await;
    c.nodes[&1].raft.initialize(BTreeSet::from([1, 2, 3])).await.expect("initialize");

    // 1. A leader is elected and takes writes.
    c.write_many("a", 30).await;
    c.check("1 first writes").await;

    // 2. A follower is down while the leader snapshots and purges its
    // log; restarted from its directory, it gets the snapshot.
    let leader = c.leader().await;
    let follower = *c.nodes.keys().find(|&&id| id != leader).unwrap();
    c.stop(follower).await;
    c.write_many("b", 30).await;
    let leader = c.leader().await;
    let raft = c.nodes[&leader].raft.clone();
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let applied = c.metrics(leader).last_applied.expect("applied entries");
    let m = raft
        .wait(Some(WAIT))
        .metrics(|m| m.snapshot.is_some_and(|s| s.index >= applied.index), "the leader's snapshot")
        .await
        .expect("the leader builds a snapshot");
    let snapshot = m.snapshot.expect("a snapshot");
    raft.trigger().purge_log(snapshot.index).await.expect("trigger purge");
    raft.wait(Some(WAIT))
        .metrics(|m| m.purged.is_some_and(|p| p.index >= snapshot.index), "the leader purges its log")
        .await
        .expect("the leader purges");
    c.restart(follower).await;
    c.check("2 follower restarted behind a purge").await;
    let m = c.metrics(follower);
    assert!(m.snapshot.is_some_and(|s| s.index >= snapshot.index), "node {follower} got no snapshot: {m:?}");
    let purges = sum(&c.stats[&follower], |s| s.purges.load(Ordering::SeqCst));
    assert!(purges >= 1, "node {follower} installed a snapshot but purged nothing");

    // 3. The leader is stopped; the others elect one and take writes; the
    // old leader comes back from its directory.
    let old = c.leader().await;
    c.stop(old).await;
    c.write_many("c", 30).await;
    c.restart(old).await;
    c.check("3 leader stopped and restarted").await;

    // 4. The leader is isolated with a suffix that cannot commit, then
    // stopped; the others elect one, which writes past that suffix; the
    // old leader, restarted from its log (suffix included) and reconnected,
    // must cut it.
    let old = c.isolate_leader_with_suffix("lost-4", 5).await;
    let cuts = c.conflict_cuts(old);
    c.stop(old).await;
    c.write_many("d", 20).await;
    c.isolate(old, false);
    c.restart(old).await;
    c.check("4 isolated leader restarted with a conflicting suffix").await;
    assert!(c.conflict_cuts(old) > cuts, "node {old}: its conflicting suffix was not cut");

    // 5. The same without a restart: the isolated leader keeps running and
    // is reconnected.
    let old = c.isolate_leader_with_suffix("lost-5", 5).await;
    let cuts = c.conflict_cuts(old);
    c.write_many("e", 20).await;
    c.isolate(old, false);
    c.check("5 isolated leader reconnected with a conflicting suffix").await;
    assert!(c.conflict_cuts(old) > cuts, "node {old}: its conflicting suffix was not cut");

    // 6. Every node is stopped and restarted from its directory.
    for id in 1..=3 {
        c.stop(id).await;
    }
    for id in 1..=3 {
        c.restart(id).await;
    }
    c.write_many("f", 10).await;
    c.check("6 whole cluster restarted").await;

    for p in std::mem::take(&mut c.pending) {
        assert!(!p.await.expect("a write task"), "a write to an isolated leader was acknowledged");
    }

    let all: Vec<Arc<LogStats>> = c.stats.values().flatten().cloned().collect();
    let changes = c.leaders.windows(2).filter(|w| w[0].0 != w[1].0).count();
    let conflicts = sum(&all, |s| s.conflict_cuts.load(Ordering::SeqCst));
    let cut = sum(&all, |s| s.entries_cut.load(Ordering::SeqCst));
    let purges = sum(&all, |s| s.purges.load(Ordering::SeqCst));
    let appended = sum(&all, |s| s.appended.load(Ordering::SeqCst));
    let syncs = sum(&all, |s| s.syncs.load(Ordering::SeqCst));
    println!(
        "openraft cluster on libwal: {} leaders elected, {changes} leader changes (to another node), \
         {conflicts} conflicts cut by truncate_after ({cut} entries), {purges} purges, {} restarts, \
         {} acknowledged writes read back, {} cut writes absent, {appended} entries appended in {syncs} syncs, {:.1} s",
        c.leaders.len(),
        c.restarts,
        c.acked.len(),
        c.lost.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(changes >= 3, "leader changes: {changes} ({:?})", c.leaders);
    assert!(conflicts >= 2, "conflicts cut: {conflicts}");
    for id in 1..=3 {
        c.stop(id).await;
    }
}
