//! Group commit: one thread at a time is the leader; it writes out the
//! writer's buffer and runs one fdatasync of the newest segment for every
//! thread that appended before it started, so concurrent appenders share
//! writes and fsyncs. A failed fdatasync poisons the handle and is never
//! retried.

use crate::error::{Error, Result};
use crate::io::FsFile;
use crate::log::Inner;
use std::path::Path;
use std::sync::atomic::Ordering;

pub(crate) struct SyncState {
    /// Every seq at or below this is durable.
    pub synced: u64,
    /// A leader is running fdatasync.
    pub syncing: bool,
    /// Threads waiting on `sync_done` for a leader's result: a leader that
    /// finds none makes no wake-up call (a futex system call even when
    /// nobody sleeps).
    waiting: u32,
    /// The last leader found threads waiting for its result: appenders run
    /// concurrently, and the next leader gives them a moment to append.
    concurrent: bool,
}

impl SyncState {
    /// Every seq up to `synced` is durable.
    pub fn new(synced: u64) -> SyncState {
        SyncState { synced, syncing: false, waiting: 0, concurrent: false }
    }
}

impl Inner {
    /// fdatasync of a segment being written. Linux reports a failed
    /// writeback once per open file: a second fdatasync, from another
    /// thread, returns success for the pages that were lost. So a failure
    /// poisons the handle before any other fdatasync can start, and none
    /// starts on a poisoned handle.
    pub(crate) fn sync_segment(&self, file: &dyn FsFile, path: &Path) -> Result<()> {
        let _one_at_a_time = self.fsync.lock().unwrap_or_else(|p| p.into_inner());
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(Error::poisoned());
        }
        file.sync_data().map_err(|e| {
            self.poison();
            Error::io("fdatasync", path, e)
        })
    }

    /// Returns once every seq up to `target` is durable. Group commit: the
    /// first thread to find no sync running becomes the leader and syncs all
    /// that has been written so far; the others wait for its result.
    pub(crate) fn sync_to(&self, target: u64) -> Result<()> {
        let inner = self;
        let mut s = inner.sync_state();
        loop {
            if s.synced >= target {
                return Ok(());
            }
            if inner.poisoned.load(Ordering::SeqCst) {
                return Err(Error::poisoned());
            }
            if !s.syncing {
                break;
            }
            s.waiting += 1;
            s = inner.sync_done.wait(s).unwrap_or_else(|p| p.into_inner());
            s.waiting -= 1;
        }
        s.syncing = true;
        let concurrent = s.concurrent;
        drop(s);
        // Let appenders that are runnable now write before the snapshot, so
        // this fdatasync covers them too (measured: 8 threads went from about
        // 3.1x to 3.6x one thread's throughput). Not when the last group had
        // no follower: a lone appender would only give its CPU away.
        if concurrent {
            std::thread::yield_now();
        }

        // Everything appended so far goes to the file; older segments were
        // synced when they were sealed, and with no active segment every
        // record is in a sealed or deleted one.
        let (upto, written) = {
            let mut st = inner.state();
            let upto = st.last_seq();
            // A failed write poisons at once, under the state lock, so that
            // no append slips in behind it.
            let written = match st.active.as_mut() {
                Some(a) => a
                    .flush()
                    .inspect_err(|_| inner.poison())
                    .map(|()| Some((a.file.clone(), a.path.clone(), a.id, a.end))),
                None => Ok(None),
            };
            (upto, written)
        };
        let result = written.and_then(|written| match &written {
            Some((file, path, ..)) => inner.sync_segment(&**file, path).map(|()| written),
            None => Ok(None),
        });
        // A seal (rotation) that failed while this sync ran may hold records
        // at or below `upto`, and a later fdatasync of the same file can
        // succeed for pages the kernel dropped: a poisoned handle vouches for
        // nothing more. Rotation poisons under the state lock, so taking it
        // here orders the check after any seal that overlapped this sync.
        let result = result.and_then(|written| {
            let mut st = inner.state();
            if inner.poisoned.load(Ordering::SeqCst) {
                return Err(Error::poisoned());
            }
            let covered = written.as_ref().map(|&(_, _, _, end)| end);
            if let (Some(active), Some((_, _, id, end))) = (st.active.as_mut(), written) {
                if active.id == id {
                    active.synced_end = active.synced_end.max(end);
                }
            }
            Ok(covered)
        });
        // Frames past a clean-close mark's end are durable now, and each
        // carries a synced_end that proves what the mark did: the mark has
        // done its work (and LOCK no longer says "closed cleanly" of a log a
        // writer is appending to).
        let result = result.and_then(|covered| match covered {
            Some(end) => inner.retire_clean_mark(|m| end > m.end),
            None => Ok(()),
        });

        let mut s = inner.sync_state();
        s.syncing = false;
        match &result {
            Ok(()) => {
                inner.stats.group(upto.saturating_sub(s.synced));
                s.synced = s.synced.max(upto);
            }
            // Never retry: after a failed fdatasync the kernel may have
            // dropped the dirty pages and a second call can report success.
            Err(_) => inner.poison(),
        }
        s.concurrent = s.waiting > 0;
        if s.waiting > 0 {
            inner.sync_done.notify_all();
        }
        drop(s);
        inner.waiters.notify();
        result?;
        // `target` was written before this leader read `upto`.
        debug_assert!(upto >= target);
        Ok(())
    }
}
