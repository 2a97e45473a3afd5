//! A small key-value state machine (`RaftStateMachine`) with snapshots
//! (`RaftSnapshotBuilder`). The map lives in memory; each snapshot, built or
//! installed, is saved to DIR/snapshot (written to a temporary file, synced,
//! renamed over the old one, the directory synced) before openraft hears of
//! it, because openraft purges the log up to a snapshot once it has it. A
//! restarted node loads that snapshot and openraft applies the log's
//! entries after it again.

use crate::error::{storage, violation};
use crate::{NodeId, Request, Response, TypeConfig};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

type Result<T> = std::result::Result<T, StorageError<NodeId>>;

/// What the state machine holds; also the snapshot's data (as JSON).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct KvState {
    last_applied: Option<LogId<NodeId>>,
    last_membership: StoredMembership<NodeId, BasicNode>,
    data: BTreeMap<String, String>,
}

/// DIR/snapshot: the snapshot's meta and its data (the JSON of a
/// `KvState`, checked before it is kept, so text).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    data: String,
}

struct Inner {
    path: PathBuf,
    state: KvState,
    snapshot: Option<StoredSnapshot>,
    /// Snapshots built by this process, for unique snapshot ids.
    built: u64,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn snapshot_err(
    meta: Option<&SnapshotMeta<NodeId, BasicNode>>,
    verb: ErrorVerb,
    e: &(impl std::error::Error + 'static),
) -> StorageError<NodeId> {
    storage(ErrorSubject::Snapshot(meta.map(|m| m.signature())), verb, e)
}

/// The key-value state machine of one node.
pub struct KvStateMachine {
    inner: Arc<Mutex<Inner>>,
}

/// Reads the state machine's map (for a client, or a test) while openraft
/// owns the state machine.
#[derive(Clone)]
pub struct KvReader {
    inner: Arc<Mutex<Inner>>,
}

pub struct KvSnapshotBuilder {
    inner: Arc<Mutex<Inner>>,
}

impl KvStateMachine {
    /// Opens the state machine of `dir`: the newest snapshot saved there,
    /// if any, else an empty map.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        fs::create_dir_all(dir).map_err(|e| snapshot_err(None, ErrorVerb::Write, &named(dir, e)))?;
        let path = dir.join("snapshot");
        let (state, snapshot) = match fs::read(&path) {
            Ok(bytes) => {
                let stored: StoredSnapshot = serde_json::from_slice(&bytes).map_err(|e| {
                    violation(ErrorSubject::Snapshot(None), ErrorVerb::Read, format!("{}: {e}", path.display()))
                })?;
                let state = decode_state(&stored.meta, stored.data.as_bytes())?;
                (state, Some(stored))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => (KvState::default(), None),
            Err(e) => return Err(snapshot_err(None, ErrorVerb::Read, &named(&path, e))),
        };
        Ok(KvStateMachine { inner: Arc::new(Mutex::new(Inner { path, state, snapshot, built: 0 })) })
    }

    pub fn reader(&self) -> KvReader {
        KvReader { inner: self.inner.clone() }
    }
}

impl KvReader {
    pub fn get(&self, key: &str) -> Option<String> {
        lock(&self.inner).state.data.get(key).cloned()
    }

    pub fn len(&self) -> usize {
        lock(&self.inner).state.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn last_applied(&self) -> Option<LogId<NodeId>> {
        lock(&self.inner).state.last_applied
    }
}

/// An I/O error that names its file.
fn named(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// The snapshot's data as a state, whose last applied and membership are
/// the meta's.
fn decode_state(meta: &SnapshotMeta<NodeId, BasicNode>, data: &[u8]) -> Result<KvState> {
    let mut state: KvState = serde_json::from_slice(data).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, &e))?;
    state.last_applied = meta.last_log_id;
    state.last_membership = meta.last_membership.clone();
    Ok(state)
}

/// Replaces `path` with `bytes` atomically and durably.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(|e| named(&tmp, e))?;
    f.write_all(bytes).map_err(|e| named(&tmp, e))?;
    f.sync_all().map_err(|e| named(&tmp, e))?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| named(path, e))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| named(dir, e))
}

impl Inner {
    /// Saves `stored` as the current snapshot, durably, then keeps it.
    fn keep(&mut self, stored: StoredSnapshot) -> Result<()> {
        let bytes = serde_json::to_vec(&stored).map_err(|e| snapshot_err(Some(&stored.meta), ErrorVerb::Write, &e))?;
        write_atomically(&self.path, &bytes).map_err(|e| snapshot_err(Some(&stored.meta), ErrorVerb::Write, &e))?;
        self.snapshot = Some(stored);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for KvSnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>> {
        let mut inner = lock(&self.inner);
        inner.built += 1;
        let state = &inner.state;
        let snapshot_id = match &state.last_applied {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, inner.built),
            None => format!("none-{}", inner.built),
        };
        let meta = SnapshotMeta {
            last_log_id: state.last_applied,
            last_membership: state.last_membership.clone(),
            snapshot_id,
        };
        let data = serde_json::to_string(state).map_err(|e| snapshot_err(Some(&meta), ErrorVerb::Write, &e))?;
        inner.keep(StoredSnapshot { meta: meta.clone(), data: data.clone() })?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data.into_bytes())) })
    }
}

impl RaftStateMachine<TypeConfig> for KvStateMachine {
    type SnapshotBuilder = KvSnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let inner = lock(&self.inner);
        Ok((inner.state.last_applied, inner.state.last_membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut inner = lock(&self.inner);
        let mut responses = Vec::new();
        for entry in entries {
            inner.state.last_applied = Some(entry.log_id);
            let response = match entry.payload {
                EntryPayload::Blank => Response::default(),
                EntryPayload::Normal(Request::Set { key, value }) => {
                    Response { previous: inner.state.data.insert(key, value) }
                }
                EntryPayload::Membership(m) => {
                    inner.state.last_membership = StoredMembership::new(Some(entry.log_id), m);
                    Response::default()
                }
            };
            responses.push(response);
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        KvSnapshotBuilder { inner: self.inner.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<()> {
        let data = snapshot.into_inner();
        let state = decode_state(meta, &data)?;
        // It decoded as JSON, so it is UTF-8.
        let data = String::from_utf8(data).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, &e))?;
        let mut inner = lock(&self.inner);
        inner.keep(StoredSnapshot { meta: meta.clone(), data })?;
        inner.state = state;
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>> {
        let inner = lock(&self.inner);
        Ok(inner
            .snapshot
            .as_ref()
            .map(|s| Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone().into_bytes())) }))
    }
}
