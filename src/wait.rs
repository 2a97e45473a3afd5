//! Waiting for a seq to be appended or made durable (`wal_wait`), and the
//! durable watermark (`wal_durable_seq`). Appends and syncs wake waiters
//! with no system call when nobody waits: a waiter registers in an atomic
//! count first, and the notifier takes the waiters' lock only when the
//! count is not zero. A generation number, bumped by every notice, lets a
//! waiter check the log's state without holding the waiters' lock (the
//! notifier may hold the state lock), and still never sleep through a
//! notice that came after its check.

use crate::error::{Error, ErrorKind, Result};
use crate::log::{Inner, Wal};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Where waiters sleep.
#[derive(Default)]
pub(crate) struct Waiters {
    count: AtomicUsize,
    generation: AtomicU64,
    lock: Mutex<()>,
    changed: Condvar,
}

impl Waiters {
    /// After last_seq or the durable seq moved, or the handle was poisoned.
    /// Costs one atomic load when nobody waits: a waiter that registers
    /// after that load checks the log's state after the change it missed.
    pub fn notify(&self) {
        if self.count.load(Ordering::SeqCst) > 0 {
            self.generation.fetch_add(1, Ordering::SeqCst);
            drop(self.lock.lock().unwrap_or_else(|p| p.into_inner()));
            self.changed.notify_all();
        }
    }
}

impl Inner {
    /// Every seq at or below this is durable.
    pub(crate) fn durable_seq(&self) -> u64 {
        if self.opts.read_only {
            // A read-only handle cannot sync: it reports what it found.
            return self.state().last_seq();
        }
        self.sync_state().synced.min(self.state().last_seq())
    }
}

impl Wal {
    /// The highest seq such that it and every seq below it are durable; 0
    /// when none is. A writable open made what it recovered durable, so it
    /// starts at the recovered last_seq.
    pub fn durable_seq(&self) -> u64 {
        self.inner.durable_seq()
    }

    /// Blocks until last_seq >= `seq` (or, with `durable`, durable_seq >=
    /// `seq`). `timeout` None waits without limit; Some(0) only checks.
    /// `Timeout` when the time runs out, `Poisoned` if the handle is
    /// poisoned before the condition holds.
    pub fn wait(&self, seq: u64, durable: bool, timeout: Option<Duration>) -> Result<()> {
        let inner = &self.inner;
        let deadline = timeout.map(|t| Instant::now() + t);
        let waiters = &inner.waiters;
        waiters.count.fetch_add(1, Ordering::SeqCst);
        let result = loop {
            let generation = waiters.generation.load(Ordering::SeqCst);
            let reached = if durable { inner.durable_seq() } else { inner.state().last_seq() };
            if reached >= seq {
                break Ok(());
            }
            if inner.poisoned.load(Ordering::SeqCst) {
                break Err(Error::poisoned());
            }
            let left = match deadline {
                None => None,
                Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        break Err(Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "seq {seq} was not {} before the wait timed out (it is at {reached})",
                                if durable { "durable" } else { "appended" }
                            ),
                        ));
                    }
                },
            };
            let guard = waiters.lock.lock().unwrap_or_else(|p| p.into_inner());
            if waiters.generation.load(Ordering::SeqCst) != generation {
                continue; // something changed since the check: check again
            }
            // Sleeps until a notice (which takes the lock after bumping the
            // generation, so it cannot slip between this check and the wait).
            drop(match left {
                None => waiters.changed.wait(guard).unwrap_or_else(|p| p.into_inner()),
                Some(left) => waiters.changed.wait_timeout(guard, left).unwrap_or_else(|p| p.into_inner()).0,
            });
        };
        waiters.count.fetch_sub(1, Ordering::SeqCst);
        result
    }
}
