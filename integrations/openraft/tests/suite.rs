//! openraft's own storage test suite, on LogStore and KvStateMachine: each
//! of its tests gets a fresh directory.

use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};
use openraft_libwal::{KvStateMachine, LogStore, NodeId, StoreConfig, TypeConfig};
use std::sync::atomic::{AtomicU64, Ordering};

mod common;
use common::TestDir;

struct Builder {
    root: TestDir,
    next: AtomicU64,
}

impl StoreBuilder<TypeConfig, LogStore<TypeConfig>, KvStateMachine, TestDir> for Builder {
    async fn build(&self) -> Result<(TestDir, LogStore<TypeConfig>, KvStateMachine), StorageError<NodeId>> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let dir = TestDir::under(self.root.path(), &format!("store-{n}"));
        // Small segments: purges remove whole segment files.
        let log = LogStore::open(dir.path(), StoreConfig { segment_size: 4096 })?;
        let sm = KvStateMachine::open(dir.path())?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_suite_test_all() {
    let builder = Builder { root: TestDir::new("suite"), next: AtomicU64::new(0) };
    if let Err(e) = Suite::test_all(builder) {
        panic!("openraft's storage suite failed: {e}");
    }
}
