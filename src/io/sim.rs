//! An in-memory file system for tests that remembers, for every file and
//! directory, what is durable (made so by fsync/fdatasync/directory fsync) and
//! what is only in the "page cache". Everything it does follows from a seed,
//! so a failing case replays exactly.
//!
//! Tests can
//! - cut the power after any number of calls, then look at what a crash at
//!   that instant leaves ([`SimFs::crash`]): every durable byte, plus a random
//!   part of what was not yet synced (whole writes, none of them, or a random
//!   subset of their 512-byte sectors, in any order), and the durable
//!   directory entries plus a random prefix of the later ones (a journaling
//!   file system commits directory changes in order);
//! - kill the process instead ([`SimFs::fork`]): the page cache survives;
//! - make the n-th call of a kind fail ([`SimFs::inject`]). A failed
//!   fsync/fdatasync behaves as on Linux: the file's unsynced writes are
//!   forgotten (some of their sectors may have reached the disk, the rest
//!   never will, and a later successful fsync does not bring them back), and
//!   the page cache either keeps their bytes, clean, or drops them so that
//!   reads return the durable contents. A write can fail with nothing written
//!   or after putting a prefix of its buffer in the page cache (a short count,
//!   then the error `write_all_at` gets when it retries the rest).

use super::{FsFile, Fs, OpenMode};
use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

const SECTOR: u64 = 512;
const PAGE: u64 = 4096;

/// The calls that change something, counted per kind; faults aim at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// pwrite (`write_all_at`).
    Write,
    /// ftruncate (`set_len`).
    SetLen,
    /// fdatasync or fsync of a file.
    Sync,
    /// fsync of a directory.
    SyncDir,
    /// Creating a file or directory (or emptying one with O_TRUNC).
    Create,
    Remove,
    Rename,
    /// fallocate.
    Allocate,
}

/// What an injected fault does to the call it hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The call fails with this errno and has no effect, except that a
    /// failed fsync/fdatasync forgets the file's unsynced writes.
    Fail(i32),
    /// A write puts a prefix of its buffer in the page cache, ending at a
    /// random page boundary inside it (none when it crosses none), then
    /// fails with this errno. On other calls it is `Fail`.
    Short(i32),
}

#[derive(Debug, Clone)]
enum FileOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    /// What reads return.
    live: Vec<u8>,
    /// What the disk holds.
    durable: Vec<u8>,
    /// Changes not yet written back, oldest first.
    pending: Vec<FileOp>,
}

#[derive(Debug, Clone)]
enum DirOp {
    Link(OsString, u64),
    Unlink(OsString),
}

#[derive(Debug, Clone, Default)]
struct Dir {
    live: BTreeMap<OsString, u64>,
    durable: BTreeMap<OsString, u64>,
    pending: Vec<DirOp>,
}

/// How much of a file's unsynced writes reaches the disk.
#[derive(Debug, Clone, Copy)]
enum Landing {
    Nothing,
    All,
    /// Each 512-byte sector (and each size change) independently.
    Sectors,
}

impl Landing {
    fn random(rng: &mut Rng) -> Landing {
        [Landing::Nothing, Landing::All, Landing::Sectors][rng.below(3) as usize]
    }

    fn keep(self, rng: &mut Rng) -> bool {
        match self {
            Landing::Nothing => false,
            Landing::All => true,
            Landing::Sectors => rng.below(2) == 0,
        }
    }
}

impl Inode {
    /// The durable bytes once the unsynced changes have landed as `how` says.
    fn landed(&self, how: Landing, rng: &mut Rng) -> Vec<u8> {
        let mut data = self.durable.clone();
        for op in &self.pending {
            match op {
                FileOp::SetLen(len) => {
                    if how.keep(rng) {
                        data.resize(*len as usize, 0);
                    }
                }
                FileOp::Write(offset, bytes) => {
                    let end = offset + bytes.len() as u64;
                    let mut at = *offset;
                    while at < end {
                        let sector_end = ((at / SECTOR + 1) * SECTOR).min(end);
                        if how.keep(rng) {
                            apply_write(&mut data, at, &bytes[(at - offset) as usize..(sector_end - offset) as usize]);
                        }
                        at = sector_end;
                    }
                }
            }
        }
        data
    }

    /// A successful fsync: every unsynced change is on the disk.
    fn write_back(&mut self, rng: &mut Rng) {
        self.durable = self.landed(Landing::All, rng);
        self.pending.clear();
    }

    /// A failed fsync, as Linux handles it: part of the unsynced changes may
    /// have reached the disk, the rest never will (the pages are marked
    /// clean), and the page cache keeps them or drops them.
    fn write_back_failed(&mut self, rng: &mut Rng) {
        self.durable = self.landed(Landing::random(rng), rng);
        self.pending.clear();
        if rng.below(2) == 0 {
            self.live = self.durable.clone();
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Sim {
    // Ordered maps: a crash walks them drawing random numbers, and the same
    // seed must give the same crash.
    dirs: BTreeMap<PathBuf, Dir>,
    inodes: BTreeMap<u64, Inode>,
    next_ino: u64,
    locks: HashSet<PathBuf>,
    /// Draws the fate of the writes a failed fsync forgets.
    rng: Rng,
    /// Mutating calls made so far.
    calls: u64,
    /// Mutating calls made so far, per kind.
    counts: BTreeMap<OpKind, u64>,
    /// Bytes written by write calls so far.
    bytes_written: u64,
    /// Bytes returned by read calls so far.
    bytes_read: u64,
    /// After this many mutating calls the power is off: every call fails.
    power_cut_at: Option<u64>,
    /// (kind, the count of that kind it fires at, fault), each fires once.
    faults: Vec<(OpKind, u64, Fault)>,
    /// (the count of fsyncs it holds, the pause).
    pauses: Vec<(u64, Arc<Pause>)>,
    /// The mutating call with this number fails (once).
    fail_call: Option<(u64, i32)>,
    /// (offset, len) of every writeback hint, in order. A hint is not a
    /// mutating call: it changes nothing, counts nothing, meets no fault.
    writeback_hints: Vec<(u64, u64)>,
    /// The name of the file (or directory) each fault that fired met, in
    /// order: a test can tell a fault the log must report from one it may
    /// ignore (a seek hint's, `src/hint.rs`).
    faulted: Vec<OsString>,
}

/// What a mutating call acts on, named in `Sim::faulted` if a fault meets it.
#[derive(Clone, Copy)]
enum On<'a> {
    Path(&'a Path),
    Ino(u64),
}

/// An fsync held after it took effect, before it returns: see
/// [`SimFs::pause_sync`].
#[derive(Debug, Default)]
pub struct Pause {
    /// (the call is held, it may return)
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Pause {
    fn lock(&self) -> MutexGuard<'_, (bool, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the call is held.
    pub fn wait_held(&self) {
        let mut state = self.lock();
        while !state.0 {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Lets the call return.
    pub fn release(&self) {
        self.lock().1 = true;
        self.changed.notify_all();
    }

    fn hold(&self) {
        let mut state = self.lock();
        state.0 = true;
        self.changed.notify_all();
        while !state.1 {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The simulated file system. Clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct SimFs {
    sim: Arc<Mutex<Sim>>,
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

fn split(path: &Path) -> io::Result<(PathBuf, OsString)> {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => Ok((parent.to_path_buf(), name.to_os_string())),
        _ => Err(err(libc::EINVAL)),
    }
}

/// A small deterministic generator (xorshift64*), so a failing seed replays.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Default for Rng {
    fn default() -> Rng {
        Rng::new(0)
    }
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

fn apply_write(data: &mut Vec<u8>, offset: u64, bytes: &[u8]) {
    let end = offset as usize + bytes.len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[offset as usize..end].copy_from_slice(bytes);
}

impl Sim {
    /// Counts a mutating call. Err when the power is off; the fault planned
    /// for this call, if any.
    fn begin(&mut self, kind: OpKind, on: On<'_>) -> io::Result<Option<Fault>> {
        let fault = self.begin_call(kind)?;
        if fault.is_some() {
            let name = match on {
                On::Path(path) => path.file_name().map(OsString::from),
                On::Ino(ino) => self.dirs.values().flat_map(|d| &d.live).find(|(_, i)| **i == ino).map(|(n, _)| n.clone()),
            };
            self.faulted.push(name.unwrap_or_default());
        }
        Ok(fault)
    }

    fn begin_call(&mut self, kind: OpKind) -> io::Result<Option<Fault>> {
        self.check_power()?;
        self.calls += 1;
        let count = self.counts.entry(kind).or_default();
        *count += 1;
        let nth = *count;
        if let Some((n, errno)) = self.fail_call {
            if n == self.calls {
                self.fail_call = None;
                return Ok(Some(Fault::Fail(errno)));
            }
        }
        match self.faults.iter().position(|&(k, n, _)| k == kind && n == nth) {
            Some(i) => Ok(Some(self.faults.remove(i).2)),
            None => Ok(None),
        }
    }

    /// `begin` for a call that a fault simply makes fail.
    fn mutate(&mut self, kind: OpKind, on: On<'_>) -> io::Result<()> {
        match self.begin(kind, on)? {
            Some(Fault::Fail(errno) | Fault::Short(errno)) => Err(err(errno)),
            None => Ok(()),
        }
    }

    fn check_power(&self) -> io::Result<()> {
        match self.power_cut_at {
            Some(at) if self.calls >= at => Err(err(libc::EIO)),
            _ => Ok(()),
        }
    }

    fn dir(&mut self, path: &Path) -> io::Result<&mut Dir> {
        self.dirs.get_mut(path).ok_or_else(|| err(libc::ENOENT))
    }

    fn lookup(&self, path: &Path) -> io::Result<u64> {
        let (parent, name) = split(path)?;
        let dir = self.dirs.get(&parent).ok_or_else(|| err(libc::ENOENT))?;
        dir.live.get(&name).copied().ok_or_else(|| err(libc::ENOENT))
    }

    fn link(&mut self, path: &Path) -> io::Result<u64> {
        let (parent, name) = split(path)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let dir = self.dir(&parent)?;
        dir.live.insert(name.clone(), ino);
        dir.pending.push(DirOp::Link(name, ino));
        self.inodes.insert(ino, Inode::default());
        Ok(ino)
    }

    fn unlink(&mut self, path: &Path) -> io::Result<u64> {
        let (parent, name) = split(path)?;
        let dir = self.dir(&parent)?;
        let ino = dir.live.remove(&name).ok_or_else(|| err(libc::ENOENT))?;
        dir.pending.push(DirOp::Unlink(name));
        Ok(ino)
    }

    fn inode(&mut self, ino: u64) -> &mut Inode {
        self.inodes.get_mut(&ino).expect("open files keep their inode")
    }
}

impl SimFs {
    pub fn new() -> SimFs {
        SimFs::default()
    }

    /// A file system whose failed fsyncs draw their outcome from `seed`.
    pub fn with_seed(seed: u64) -> SimFs {
        let sim = Sim { rng: Rng::new(seed), ..Sim::default() };
        SimFs { sim: Arc::new(Mutex::new(sim)) }
    }

    fn state(&self) -> MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next call of this kind fails with `errno` (once).
    pub fn fail_next(&self, kind: OpKind, errno: i32) {
        self.inject(kind, 1, Fault::Fail(errno));
    }

    /// The `nth` call of `kind` from now (1 = the next one) meets `fault`.
    pub fn inject(&self, kind: OpKind, nth: u64, fault: Fault) {
        let mut sim = self.state();
        let at = sim.counts.get(&kind).copied().unwrap_or(0) + nth;
        sim.faults.push((kind, at, fault));
    }

    /// The `nth` fsync/fdatasync from now, once it has taken effect (or
    /// failed, if a fault says so), waits before returning until the
    /// returned pause is released: to let other threads run at that point.
    pub fn pause_sync(&self, nth: u64) -> Arc<Pause> {
        let mut sim = self.state();
        let at = sim.counts.get(&OpKind::Sync).copied().unwrap_or(0) + nth;
        let pause = Arc::new(Pause::default());
        sim.pauses.push((at, pause.clone()));
        pause
    }

    /// Injected faults that have not fired yet.
    pub fn faults_waiting(&self) -> usize {
        self.state().faults.len()
    }

    /// The names of the files (or directories) the injected faults that
    /// fired so far met, in order.
    pub fn faulted(&self) -> Vec<OsString> {
        self.state().faulted.clone()
    }

    /// The `n`-th mutating call from now (1 = the next one) fails with `errno`.
    pub fn fail_call(&self, n: u64, errno: i32) {
        let mut sim = self.state();
        sim.fail_call = Some((sim.calls + n, errno));
    }

    /// Bytes returned by read calls so far.
    pub fn bytes_read(&self) -> u64 {
        self.state().bytes_read
    }

    /// Bytes written by write calls so far.
    pub fn bytes_written(&self) -> u64 {
        self.state().bytes_written
    }

    /// (offset, len) of the writeback hints given so far
    /// (`FsFile::start_writeback`), in order.
    pub fn writeback_hints(&self) -> Vec<(u64, u64)> {
        self.state().writeback_hints.clone()
    }

    /// Mutating calls made so far.
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Mutating calls of one kind made so far.
    pub fn count(&self, kind: OpKind) -> u64 {
        self.state().counts.get(&kind).copied().unwrap_or(0)
    }

    /// After `n` more mutating calls the power goes off: every call fails
    /// with EIO, as for a machine that stopped.
    pub fn cut_power_after(&self, n: u64) {
        let mut sim = self.state();
        sim.power_cut_at = Some(sim.calls + n);
    }

    pub fn power_is_off(&self) -> bool {
        self.state().check_power().is_err()
    }

    /// A separate copy of this file system as it is now, page cache
    /// included, with the power on, no fault planned and no lock held: what
    /// a new process finds after this one was killed (cut the power first to
    /// stop it at a chosen call), or a world to try a run in first.
    pub fn fork(&self) -> SimFs {
        let sim = Sim {
            locks: HashSet::new(),
            power_cut_at: None,
            faults: Vec::new(),
            pauses: Vec::new(),
            fail_call: None,
            ..self.state().clone()
        };
        SimFs { sim: Arc::new(Mutex::new(sim)) }
    }

    /// What the disk holds after a crash now: a new file system with the
    /// durable state plus a random part of what was not synced.
    pub fn crash(&self, rng: &mut Rng) -> SimFs {
        let sim = self.state();
        let mut dirs = BTreeMap::new();
        for (path, dir) in &sim.dirs {
            let mut entries = dir.durable.clone();
            let keep = rng.below(dir.pending.len() as u64 + 1) as usize;
            for op in &dir.pending[..keep] {
                match op {
                    DirOp::Link(name, ino) => entries.insert(name.clone(), *ino),
                    DirOp::Unlink(name) => entries.remove(name),
                };
            }
            dirs.insert(path.clone(), Dir { live: entries.clone(), durable: entries, pending: Vec::new() });
        }
        let mut inodes = BTreeMap::new();
        for (ino, inode) in &sim.inodes {
            let data = inode.landed(Landing::random(rng), rng);
            inodes.insert(*ino, Inode { live: data.clone(), durable: data, pending: Vec::new() });
        }
        let sim = Sim { dirs, inodes, next_ino: sim.next_ino, rng: Rng::new(rng.next_u64()), ..Sim::default() };
        SimFs { sim: Arc::new(Mutex::new(sim)) }
    }

    /// The bytes of a file as the running system sees them.
    pub fn read_file(&self, path: &Path) -> io::Result<Vec<u8>> {
        let sim = self.state();
        let ino = sim.lookup(path)?;
        Ok(sim.inodes[&ino].live.clone())
    }

    /// Overwrites a file's bytes, durably (for damaging a log on purpose).
    pub fn write_file(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut sim = self.state();
        let ino = match sim.lookup(path) {
            Ok(ino) => ino,
            Err(_) => sim.link(path)?,
        };
        let (parent, _) = split(path)?;
        let dir = sim.dir(&parent)?;
        dir.durable = dir.live.clone();
        dir.pending.clear();
        let inode = sim.inode(ino);
        inode.live = bytes.to_vec();
        inode.durable = bytes.to_vec();
        inode.pending.clear();
        Ok(())
    }
}

struct SimFile {
    fs: SimFs,
    ino: u64,
    writable: bool,
}

impl SimFile {
    fn writable(&self) -> io::Result<()> {
        if self.writable { Ok(()) } else { Err(err(libc::EBADF)) }
    }
}

impl FsFile for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut sim = self.fs.state();
        sim.check_power()?;
        let data = &sim.inodes[&self.ino].live;
        if offset >= data.len() as u64 {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - offset as usize);
        buf[..n].copy_from_slice(&data[offset as usize..offset as usize + n]);
        sim.bytes_read += n as u64;
        Ok(n)
    }

    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        self.writable()?;
        let mut sim = self.fs.state();
        let fault = sim.begin(OpKind::Write, On::Ino(self.ino))?;
        let (landed, result) = match fault {
            None => (buf.len(), Ok(())),
            Some(Fault::Fail(errno)) => (0, Err(err(errno))),
            Some(Fault::Short(errno)) => {
                // The kernel copies page by page and stops at the first page
                // it cannot get: the prefix ends at a page boundary.
                let first = offset / PAGE + 1;
                let pages = (offset + buf.len() as u64).div_ceil(PAGE) - first;
                let end = if pages > 0 { (first + sim.rng.below(pages)) * PAGE } else { offset };
                ((end - offset) as usize, Err(err(errno)))
            }
        };
        if landed > 0 {
            sim.bytes_written += landed as u64;
            let inode = sim.inode(self.ino);
            apply_write(&mut inode.live, offset, &buf[..landed]);
            inode.pending.push(FileOp::Write(offset, buf[..landed].to_vec()));
        }
        result
    }

    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        self.fs.state().writeback_hints.push((offset, len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut sim = self.fs.state();
        let fault = sim.begin(OpKind::Sync, On::Ino(self.ino))?;
        let nth = sim.counts[&OpKind::Sync];
        let pause = sim.pauses.iter().position(|p| p.0 == nth).map(|i| sim.pauses.remove(i).1);
        let Sim { inodes, rng, .. } = &mut *sim;
        let inode = inodes.get_mut(&self.ino).expect("open files keep their inode");
        let result = match fault {
            None => {
                inode.write_back(rng);
                Ok(())
            }
            Some(Fault::Fail(errno) | Fault::Short(errno)) => {
                inode.write_back_failed(rng);
                Err(err(errno))
            }
        };
        drop(sim);
        if let Some(pause) = pause {
            pause.hold();
        }
        result
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut sim = self.fs.state();
        sim.mutate(OpKind::SetLen, On::Ino(self.ino))?;
        let inode = sim.inode(self.ino);
        inode.live.resize(len as usize, 0);
        inode.pending.push(FileOp::SetLen(len));
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut sim = self.fs.state();
        sim.mutate(OpKind::Allocate, On::Ino(self.ino))?;
        let inode = sim.inode(self.ino);
        if (inode.live.len() as u64) < len {
            inode.live.resize(len as usize, 0);
            inode.pending.push(FileOp::SetLen(len));
        }
        Ok(())
    }

    fn size(&self) -> io::Result<u64> {
        let sim = self.fs.state();
        sim.check_power()?;
        Ok(sim.inodes[&self.ino].live.len() as u64)
    }
}

struct SimLock {
    fs: SimFs,
    path: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.fs.state().locks.remove(&self.path);
    }
}

impl Fs for SimFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut sim = self.state();
        let existing = sim.lookup(path);
        let ino = if mode.create_new {
            if existing.is_ok() {
                return Err(err(libc::EEXIST));
            }
            sim.mutate(OpKind::Create, On::Path(path))?;
            sim.link(path)?
        } else if mode.create_truncate {
            sim.mutate(OpKind::Create, On::Path(path))?;
            match existing {
                Ok(ino) => {
                    let inode = sim.inode(ino);
                    inode.live.clear();
                    inode.pending.push(FileOp::SetLen(0));
                    ino
                }
                Err(_) => sim.link(path)?,
            }
        } else {
            sim.check_power()?;
            existing?
        };
        drop(sim);
        Ok(Arc::new(SimFile { fs: self.clone(), ino, writable: mode.write }))
    }

    fn is_dir(&self, path: &Path) -> io::Result<bool> {
        let sim = self.state();
        sim.check_power()?;
        if sim.dirs.contains_key(path) {
            return Ok(true);
        }
        sim.lookup(path).map(|_| false)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::Create, On::Path(path))?;
        for dir in path.ancestors() {
            sim.dirs.entry(dir.to_path_buf()).or_default();
        }
        Ok(())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<OsString>> {
        let mut sim = self.state();
        sim.check_power()?;
        Ok(sim.dir(dir)?.live.keys().cloned().collect())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::Remove, On::Path(path))?;
        sim.unlink(path).map(|_| ())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::Rename, On::Path(from))?;
        let ino = sim.unlink(from)?;
        let (parent, name) = split(to)?;
        let dir = sim.dir(&parent)?;
        dir.live.insert(name.clone(), ino);
        dir.pending.push(DirOp::Link(name, ino));
        Ok(())
    }

    /// A failed directory fsync changes nothing: the entries stay pending,
    /// to be kept or lost by a crash, or made durable by a later fsync.
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::SyncDir, On::Path(dir))?;
        let dir = sim.dir(dir)?;
        dir.durable = dir.live.clone();
        dir.pending.clear();
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let mut sim = self.state();
        sim.check_power()?;
        if !sim.dirs.contains_key(path) {
            sim.lookup(path)?;
        }
        if !sim.locks.insert(path.to_path_buf()) {
            return Err(err(libc::EWOULDBLOCK));
        }
        drop(sim);
        Ok(Box::new(SimLock { fs: self.clone(), path: path.to_path_buf() }))
    }
}
