//! An in-memory file system for tests that remembers, for every file and
//! directory, what is durable (made so by fsync/fdatasync/directory fsync) and
//! what is only in the "page cache". Tests can make chosen calls fail (EIO,
//! ENOSPC...) and cut the power after any number of calls, then look at what
//! a crash at that instant leaves: every durable byte, plus a random part of
//! what was not yet synced (whole writes, none of them, or a random subset of
//! their 512-byte sectors, in any order), and the durable directory entries
//! plus a random prefix of the later ones (a journaling file system commits
//! directory changes in order).

use super::{FsFile, Fs, OpenMode};
use std::any::Any;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const SECTOR: u64 = 512;

/// Which calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Write,
    Sync,
    SyncDir,
    Create,
    Remove,
    Rename,
    Allocate,
}

#[derive(Debug, Clone)]
enum FileOp {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Clone, Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
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

#[derive(Debug, Default)]
struct Sim {
    dirs: HashMap<PathBuf, Dir>,
    inodes: HashMap<u64, Inode>,
    next_ino: u64,
    locks: HashSet<PathBuf>,
    /// Mutating calls made so far.
    calls: u64,
    /// Bytes written by write calls so far.
    bytes_written: u64,
    /// Bytes returned by read calls so far.
    bytes_read: u64,
    /// After this many mutating calls the power is off: every call fails.
    power_cut_at: Option<u64>,
    faults: Vec<(OpKind, i32)>,
    /// The mutating call with this number fails (once).
    fail_call: Option<(u64, i32)>,
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
    /// Counts a mutating call; fails it if the power is off or a fault is set.
    fn mutate(&mut self, kind: OpKind) -> io::Result<()> {
        self.check_power()?;
        self.calls += 1;
        if let Some((n, errno)) = self.fail_call {
            if n == self.calls {
                self.fail_call = None;
                return Err(err(errno));
            }
        }
        if let Some(i) = self.faults.iter().position(|(k, _)| *k == kind) {
            let (_, errno) = self.faults.remove(i);
            return Err(err(errno));
        }
        Ok(())
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

    fn state(&self) -> MutexGuard<'_, Sim> {
        self.sim.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next call of this kind fails with `errno` (once).
    pub fn fail_next(&self, kind: OpKind, errno: i32) {
        self.state().faults.push((kind, errno));
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

    /// Mutating calls made so far.
    pub fn calls(&self) -> u64 {
        self.state().calls
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

    /// What the disk holds after a crash now: a new file system with the
    /// durable state plus a random part of what was not synced.
    pub fn crash(&self, rng: &mut Rng) -> SimFs {
        let sim = self.state();
        let mut dirs = HashMap::new();
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
        let mut inodes = HashMap::new();
        for (ino, inode) in &sim.inodes {
            let mut data = inode.durable.clone();
            let style = rng.below(3); // 0: none of the unsynced ops, 1: all, 2: random sectors
            for op in &inode.pending {
                match op {
                    FileOp::SetLen(len) => {
                        if style == 1 || (style == 2 && rng.below(2) == 0) {
                            data.resize(*len as usize, 0);
                        }
                    }
                    FileOp::Write(offset, bytes) => {
                        let mut at = *offset;
                        let end = offset + bytes.len() as u64;
                        while at < end {
                            let next = ((at / SECTOR) + 1) * SECTOR;
                            let chunk_end = next.min(end);
                            let keep = style == 1 || (style == 2 && rng.below(2) == 0);
                            if keep {
                                let slice = &bytes[(at - offset) as usize..(chunk_end - offset) as usize];
                                apply_write(&mut data, at, slice);
                            }
                            at = chunk_end;
                        }
                    }
                }
            }
            inodes.insert(*ino, Inode { live: data.clone(), durable: data, pending: Vec::new() });
        }
        SimFs {
            sim: Arc::new(Mutex::new(Sim {
                dirs,
                inodes,
                next_ino: sim.next_ino,
                ..Sim::default()
            })),
        }
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
        sim.mutate(OpKind::Write)?;
        sim.bytes_written += buf.len() as u64;
        let inode = sim.inode(self.ino);
        apply_write(&mut inode.live, offset, buf);
        inode.pending.push(FileOp::Write(offset, buf.to_vec()));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut sim = self.fs.state();
        sim.mutate(OpKind::Sync)?;
        let inode = sim.inode(self.ino);
        inode.durable = inode.live.clone();
        inode.pending.clear();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut sim = self.fs.state();
        sim.mutate(OpKind::Write)?;
        let inode = sim.inode(self.ino);
        inode.live.resize(len as usize, 0);
        inode.pending.push(FileOp::SetLen(len));
        Ok(())
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        self.writable()?;
        let mut sim = self.fs.state();
        sim.mutate(OpKind::Allocate)?;
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
            sim.mutate(OpKind::Create)?;
            sim.link(path)?
        } else if mode.create_truncate {
            sim.mutate(OpKind::Create)?;
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
        sim.mutate(OpKind::Create)?;
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
        sim.mutate(OpKind::Remove)?;
        sim.unlink(path).map(|_| ())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::Rename)?;
        let ino = sim.unlink(from)?;
        let (parent, name) = split(to)?;
        let dir = sim.dir(&parent)?;
        dir.live.insert(name.clone(), ino);
        dir.pending.push(DirOp::Link(name, ino));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut sim = self.state();
        sim.mutate(OpKind::SyncDir)?;
        let dir = sim.dir(dir)?;
        dir.durable = dir.live.clone();
        dir.pending.clear();
        Ok(())
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn Any + Send + Sync>> {
        let mut sim = self.state();
        sim.check_power()?;
        if sim.lookup(path).is_err() {
            sim.link(path)?;
        }
        if !sim.locks.insert(path.to_path_buf()) {
            return Err(err(libc::EWOULDBLOCK));
        }
        drop(sim);
        Ok(Box::new(SimLock { fs: self.clone(), path: path.to_path_buf() }))
    }
}
