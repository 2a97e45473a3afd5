//! `walctl upgrade DIR`: converts a log written by libwal 0.1 (on-disk
//! format version 2) to format version 3, which libwal 0.2 reads: the same
//! records with the same seqs and the same floor, the version 2 files kept
//! aside in DIR.format2.
//!
//! libwal 0.2 reads no version 2 byte, so the reading half is here, written
//! from the version 2 format document (`git show f69018c:docs/FORMAT.md`);
//! the writing half is the `wal` crate's public API. In order:
//!
//! 1. A non-blocking `flock` on DIR/LOCK, the lock a 0.1 writer holds, kept
//!    to the end: no 0.1 writer opens the log while it is converted.
//! 2. The whole version 2 log is read as 0.1's WAL_RECOVER_TAIL recovery
//!    reads it, but every segment (TAIL reads only the newest at open, and
//!    the older ones when a replay reaches them): frames in seq order, each
//!    segment starting at the seq after the previous one's last. What 0.1
//!    would cut (a torn tail of the newest segment) or delete (segments
//!    wholly below the floor, an interrupted segment creation) or ignore
//!    (bytes after an older segment's last frame, when the next segment
//!    goes on from the next seq) is reported and not converted; any other
//!    damage is refused, naming the file and the offset, before anything is
//!    written. Where 0.1's recovery cut bytes it could have known were
//!    durable, this refuses instead (never the other way): the witness of
//!    a sync is looked for at every offset with a correct bound on the seqs
//!    a batch spends, a clean-close mark in LOCK proves the newest segment
//!    durable up to its end, and a zeroed header over records is damage.
//! 3. What it will do is printed, and confirmed on a terminal (`--yes`).
//! 4. DIR.upgrade-tmp gets a version 3 log whose next seq is floor + 1
//!    (`create_log_with_floor`); each version 2 frame is appended to it as
//!    one batch (a checkpoint through `checkpoint`), each seq checked.
//! 5. Both logs are read back: every record must be equal.
//! 6. DIR is renamed to DIR.format2 and DIR.upgrade-tmp to DIR (neither
//!    rename replaces anything), and the parent directory is fsynced.
//!
//! A crash before step 6 leaves DIR as it was; a second run removes the
//! partial DIR.upgrade-tmp and starts again. A crash between the two
//! renames leaves DIR.format2 and DIR.upgrade-tmp; a second run checks the
//! one against the other again and puts the converted log in place.

use crate::{count, exit_status, Failure, EXIT_DAMAGE, EXIT_NOT_A_LOG, EXIT_USAGE};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use wal::inspect::LOCK_FILE;
use wal::{DEFAULT_SEGMENT_SIZE, MAX_BATCH_SIZE, MAX_RECORD_SIZE, MIN_SEGMENT_SIZE, OP_CHECKPOINT};
use wal::{Entry, Options, SyncMode, Wal};

pub const EXIT_STATUS: &str = "\
Exit status:
  0  converted (or an interrupted upgrade finished)
  1  the version 2 log is damaged beyond a torn tail: nothing was changed
  2  bad arguments, or no terminal to ask on and no --yes: nothing was changed
  3  an I/O error
  4  libwal 0.1 has the log open for writing: nothing was changed
  6  any other error (the converted log did not read back the same: DIR is unchanged)
  7  DIR holds no version 2 log (no log at all, or one already in format version 3)
  8  declined: an answer other than yes; nothing was changed
  9  DIR.format2 or DIR.upgrade-tmp is in the way";

/// What the refusal of damage suggests.
const SALVAGE: &str = "; libwal 0.1's WAL_RECOVER_SALVAGE keeps every record before it (open the log with \
                       libwal 0.1 and recovery_mode WAL_RECOVER_SALVAGE), then run walctl upgrade again";

/// Why the upgrade stopped. Each has its exit status, listed in EXIT_STATUS.
enum Halt {
    Damaged(String),
    Io(String),
    Locked(String),
    Other(String),
    NotFormat2(String),
    NoTerminal(String),
    Declined(String),
    InTheWay(String),
    Wal(wal::Error),
    Output(io::Error),
}

impl From<wal::Error> for Halt {
    fn from(e: wal::Error) -> Self {
        Halt::Wal(e)
    }
}

impl Halt {
    fn status(&self) -> u8 {
        match self {
            Halt::Damaged(_) => EXIT_DAMAGE,
            Halt::NoTerminal(_) => EXIT_USAGE,
            Halt::Io(_) | Halt::Output(_) => 3,
            Halt::Locked(_) => 4,
            Halt::Other(_) => 6,
            Halt::NotFormat2(_) => EXIT_NOT_A_LOG,
            Halt::Declined(_) => 8,
            Halt::InTheWay(_) => 9,
            Halt::Wal(e) => exit_status(e.kind()),
        }
    }

    fn message(&self) -> String {
        match self {
            Halt::Damaged(m)
            | Halt::Io(m)
            | Halt::Locked(m)
            | Halt::Other(m)
            | Halt::NotFormat2(m)
            | Halt::NoTerminal(m)
            | Halt::Declined(m)
            | Halt::InTheWay(m) => m.clone(),
            Halt::Wal(e) => e.to_string(),
            Halt::Output(e) => format!("cannot write to standard output: {e}"),
        }
    }
}

/// An I/O error while doing `what` on `path`.
fn io_err<'a>(what: &'a str, path: &'a Path) -> impl FnOnce(io::Error) -> Halt + 'a {
    move |e| Halt::Io(format!("cannot {what} {}: {e}", path.display()))
}

fn say(out: &mut dyn Write, line: impl std::fmt::Display) -> Result<(), Halt> {
    writeln!(out, "{line}").map_err(Halt::Output)
}

pub fn run(dir: &Path, yes: bool, out: &mut dyn Write) -> Result<(), Failure> {
    upgrade(dir, yes, out).map_err(|halt| Failure::Stop { status: halt.status(), message: halt.message() })
}

/// DIR, and the two directories next to it that the upgrade uses.
struct Paths {
    dir: PathBuf,
    /// DIR.format2: where the version 2 files go.
    old: PathBuf,
    /// DIR.upgrade-tmp: where the version 3 log is written.
    tmp: PathBuf,
    parent: PathBuf,
}

impl Paths {
    fn of(dir: &Path) -> Result<Paths, Halt> {
        // Absolute and without symlinks: the renames work on the real names.
        let dir = match fs::canonicalize(dir) {
            Ok(dir) => dir,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
                    return Err(Halt::Io(format!("{}: no such directory", dir.display())));
                };
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                fs::canonicalize(parent).map_err(io_err("find", parent))?.join(name)
            }
            Err(e) => return Err(io_err("find", dir)(e)),
        };
        let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
            return Err(Halt::Other(format!("cannot upgrade {}: it has no parent directory", dir.display())));
        };
        let sibling = |suffix: &str| {
            let mut name = OsString::from(name);
            name.push(suffix);
            parent.join(name)
        };
        Ok(Paths { old: sibling(".format2"), tmp: sibling(".upgrade-tmp"), parent: parent.to_path_buf(), dir })
    }
}

fn exists(path: &Path) -> Result<bool, Halt> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}

fn upgrade(dir: &Path, yes: bool, out: &mut dyn Write) -> Result<(), Halt> {
    let p = Paths::of(dir)?;
    let (dir_exists, old_exists, tmp_exists) = (exists(&p.dir)?, exists(&p.old)?, exists(&p.tmp)?);
    let (d, old, tmp) = (p.dir.display(), p.old.display(), p.tmp.display());
    if !dir_exists {
        return match (old_exists, tmp_exists) {
            (true, true) => finish(&p, yes, out),
            (true, false) => Err(Halt::NotFormat2(format!(
                "{d} does not exist, and {old} holds the files of an earlier upgrade whose converted log is gone: \
                 rename {old} back to {d} and run walctl upgrade again"
            ))),
            _ => Err(Halt::Io(format!("{d}: no such directory"))),
        };
    }
    match format_of(&p.dir)? {
        Format::Two => {}
        Format::Three if old_exists => {
            return Err(Halt::NotFormat2(format!(
                "{d} is already in format version 3 (libwal 0.2); the version 2 files are in {old}"
            )));
        }
        Format::Three => {
            return Err(Halt::NotFormat2(format!(
                "{d} is already in format version 3 (libwal 0.2): nothing to convert"
            )));
        }
        Format::NoLog => {
            return Err(Halt::NotFormat2(format!(
                "{d} holds no segment and no wal.meta: no version 2 log to convert (libwal 0.2 opens it as it is)"
            )));
        }
    }
    if old_exists {
        return Err(Halt::InTheWay(format!(
            "{old} exists: move it away first (walctl upgrade keeps the version 2 files there)"
        )));
    }
    let leftover = match tmp_exists {
        true => Some(leftover_files(&p.tmp)?),
        false => None,
    };
    let _lock = lock_format2(&p.dir)?;
    let log = read_log(&p.dir, &mut check_convertible)?;

    describe(&log, &p.dir, out)?;
    say(out, "walctl upgrade will:")?;
    if leftover.is_some() {
        say(out, format_args!("  remove {tmp}, left by an interrupted upgrade"))?;
    }
    let size = match log.segment_size {
        Some(size) => format!("{size} bytes, as the version 2 log's"),
        None => format!("the default, {DEFAULT_SEGMENT_SIZE} bytes"),
    };
    say(
        out,
        format_args!(
            "  write the same records with the same seqs as a format version 3 log in {tmp} (segment size {size})"
        ),
    )?;
    say(out, "  read both logs back and check that every record is the same")?;
    say(out, format_args!("  rename {d} to {old}, where the version 2 files stay as they are, and {tmp} to {d}"))?;
    confirm(yes, out)?;

    if let Some(files) = leftover {
        remove_log_dir(&p.tmp, &files)?;
    }
    let converted = convert(&p.dir, &p.tmp, &log).and_then(|()| verify(&p.dir, &p.tmp, &log));
    if let Err(halt) = converted {
        let kept = match &halt {
            // A bug to look into: the converted log stays for that.
            Halt::Other(_) => format!("{tmp} is left for inspection (a next run removes it)"),
            _ => match leftover_files(&p.tmp).and_then(|files| remove_log_dir(&p.tmp, &files)) {
                Ok(()) => format!("{tmp} is removed"),
                Err(e) => format!("{tmp} could not be removed ({}); a next run removes it", e.message()),
            },
        };
        return Err(halt_with(halt, format!("; {d} is unchanged and {kept}")));
    }
    rename_noreplace(&p.dir, &p.old).map_err(|e| match e.raw_os_error() {
        Some(libc::EEXIST) | Some(libc::ENOTEMPTY) => Halt::InTheWay(format!("{old} appeared meanwhile: move it away")),
        _ => Halt::Io(format!("cannot rename {d} to {old}: {e}; {d} is unchanged")),
    })?;
    rename_noreplace(&p.tmp, &p.dir).map_err(|e| {
        Halt::Io(format!(
            "moved the version 2 log to {old}, but cannot rename {tmp} to {d}: {e}; run walctl upgrade {d} again to finish"
        ))
    })?;
    sync_dir(&p.parent)?;
    done(&log, &p, out)
}

/// After a crash between the two renames: DIR is gone, DIR.format2 holds
/// the version 2 log and DIR.upgrade-tmp its conversion.
fn finish(p: &Paths, yes: bool, out: &mut dyn Write) -> Result<(), Halt> {
    let (d, old, tmp) = (p.dir.display(), p.old.display(), p.tmp.display());
    let start_over = format!("rename {old} back to {d}, remove {tmp} and run walctl upgrade {d} again");
    if !matches!(format_of(&p.old)?, Format::Two) {
        return Err(Halt::InTheWay(format!("{d} does not exist and {old} holds no version 2 log: {start_over}")));
    }
    if !matches!(format_of(&p.tmp)?, Format::Three) {
        return Err(Halt::InTheWay(format!(
            "{d} does not exist; {old} holds a version 2 log, but {tmp} holds no version 3 log: {start_over}"
        )));
    }
    let _lock = lock_format2(&p.old)?;
    let log = read_log(&p.old, &mut check_convertible)?;
    say(
        out,
        format_args!(
            "an upgrade of {d} was interrupted after it moved the version 2 log to {old}; {tmp} holds its conversion"
        ),
    )?;
    describe(&log, &p.old, out)?;
    say(out, "walctl upgrade will:")?;
    say(out, "  read both logs back and check that every record is the same")?;
    say(out, format_args!("  rename {tmp} to {d}"))?;
    confirm(yes, out)?;
    verify(&p.old, &p.tmp, &log).map_err(|halt| halt_with(halt, format!("; nothing was changed: {start_over}")))?;
    rename_noreplace(&p.tmp, &p.dir).map_err(io_err("rename to the log's name", &p.tmp))?;
    sync_dir(&p.parent)?;
    done(&log, p, out)
}

/// The same halt with more said at the end of its message.
fn halt_with(halt: Halt, more: String) -> Halt {
    let message = halt.message() + &more;
    match halt {
        Halt::Damaged(_) => Halt::Damaged(message),
        Halt::Io(_) | Halt::Output(_) => Halt::Io(message),
        Halt::Locked(_) => Halt::Locked(message),
        Halt::NotFormat2(_) => Halt::NotFormat2(message),
        Halt::NoTerminal(_) => Halt::NoTerminal(message),
        Halt::Declined(_) => Halt::Declined(message),
        Halt::InTheWay(_) => Halt::InTheWay(message),
        Halt::Other(_) => Halt::Other(message),
        Halt::Wal(e) => Halt::Wal(wal::Error::new(e.kind(), message)),
    }
}

/// What the version 2 log holds, and what is not converted.
fn describe(log: &Log, dir: &Path, out: &mut dyn Write) -> Result<(), Halt> {
    say(out, format_args!("{} holds a log written by libwal 0.1 (format version 2):", dir.display()))?;
    match (log.segments.first(), log.segments.last()) {
        (Some(first), Some(last)) => say(
            out,
            format_args!(
                "  {} ({} to {}, {} bytes)",
                count(log.segments.len() as u64, "segment"),
                file_name(&first.1),
                file_name(&last.1),
                log.bytes
            ),
        )?,
        _ => say(out, "  no segment with a record")?,
    }
    match log.records {
        0 => say(out, format_args!("  no record; the next gets seq {}", log.last_seq() + 1))?,
        n => say(
            out,
            format_args!(
                "  seqs {}..{}: {} in {}, {}",
                log.floor + 1,
                log.last_record,
                count(n, "record"),
                count(log.batches, "frame"),
                count(log.checkpoints, "checkpoint")
            ),
        )?,
    }
    if log.floor > 0 {
        say(out, format_args!("  truncated up to seq {} (wal.meta)", log.floor))?;
    }
    if let Some(torn) = &log.torn {
        say(
            out,
            format_args!(
                "  a torn tail: {} bytes at offset {} of {} ({}), an interrupted write that libwal 0.1 would cut: \
                 not converted",
                torn.len,
                torn.offset,
                file_name(&torn.path),
                torn.reason
            ),
        )?;
    }
    for junk in &log.junk {
        say(
            out,
            format_args!(
                "  {}: {} bytes after its last record, at offset {} ({}), but the next segment goes on from the \
                 next seq: no record, and libwal 0.1 ignores them too: not converted",
                file_name(&junk.path),
                junk.len,
                junk.offset,
                junk.reason
            ),
        )?;
    }
    for (path, why) in &log.not_converted {
        say(out, format_args!("  {}: {why}: not converted", file_name(path)))?;
    }
    if log.split > 0 {
        say(
            out,
            format_args!(
                "  {} larger than WAL_MAX_BATCH_SIZE ({MAX_BATCH_SIZE} bytes): each is written as several batches",
                count(log.split, "frame")
            ),
        )?;
    }
    Ok(())
}

fn done(log: &Log, p: &Paths, out: &mut dyn Write) -> Result<(), Halt> {
    let (d, old) = (p.dir.display(), p.old.display());
    let seqs = match log.records {
        0 => format!("no record, the next gets seq {}", log.last_seq() + 1),
        n => format!("{}, seqs {}..{}", count(n, "record"), log.floor + 1, log.last_record),
    };
    say(out, format_args!("upgraded {d} to format version 3: {seqs}; every record reads back the same"))?;
    say(out, format_args!("the version 2 files are in {old}, unchanged; remove it once you no longer need libwal 0.1"))
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Asks on the terminal, unless `--yes`. The question goes to stderr, so
/// that stdout holds only the plan and the outcome.
fn confirm(yes: bool, out: &mut dyn Write) -> Result<(), Halt> {
    if yes {
        return Ok(());
    }
    out.flush().map_err(Halt::Output)?;
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(Halt::NoTerminal(
            "nothing was changed: standard input is not a terminal to ask on; pass --yes to convert without asking"
                .to_string(),
        ));
    }
    eprint!("Convert? [y/N] ");
    let mut answer = String::new();
    let read = stdin.read_line(&mut answer);
    if !io::stderr().is_terminal() {
        // The terminal echoed the answer and its newline; stderr did not.
        eprintln!();
    }
    read.map_err(io_err("read the answer from", Path::new("standard input")))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Halt::Declined("not converted: nothing was changed".to_string())),
    }
}

/// Takes the lock a libwal 0.1 writer holds, if the log has a LOCK file
/// (0.1 creates it at its first writable open): held until dropped.
fn lock_format2(dir: &Path) -> Result<Option<File>, Halt> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", &path)(e)),
    };
    // SAFETY: flock on a descriptor this function owns; no memory is passed.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(Some(file));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
        return Err(io_err("lock", &path)(e));
    }
    let holder = match crate::lock::writer(dir) {
        Ok(crate::lock::Writer::Held(pid)) => format!("process {pid} holds"),
        _ => "a process holds".to_string(),
    };
    Err(Halt::Locked(format!(
        "{} is open for writing by libwal 0.1 ({holder} the flock on {LOCK_FILE}): close it, then run walctl \
         upgrade again; nothing was changed",
        dir.display()
    )))
}

/// rename(2) that fails with EEXIST rather than replace `to` (an empty
/// directory would be replaced silently otherwise).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: two NUL-terminated paths that outlive the call.
    let rc = unsafe {
        libc::renameat2(libc::AT_FDCWD, cfrom.as_ptr(), libc::AT_FDCWD, cto.as_ptr(), libc::RENAME_NOREPLACE)
    };
    if rc == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        // A kernel or file system without RENAME_NOREPLACE: look, then rename.
        Some(libc::EINVAL) | Some(libc::ENOSYS) => match fs::symlink_metadata(to) {
            Ok(_) => Err(io::Error::from_raw_os_error(libc::EEXIST)),
            Err(_) => fs::rename(from, to),
        },
        _ => Err(e),
    }
}

fn sync_dir(dir: &Path) -> Result<(), Halt> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync directory", dir))
}

/// The files of a leftover DIR.upgrade-tmp, if it holds only what a libwal
/// log directory holds: it is then removed before converting again.
fn leftover_files(tmp: &Path) -> Result<Vec<PathBuf>, Halt> {
    let in_the_way = |what: String| {
        Halt::InTheWay(format!(
            "{} exists and {what}: it is no leftover of walctl upgrade; move it away",
            tmp.display()
        ))
    };
    if !fs::symlink_metadata(tmp).map_err(io_err("stat", tmp))?.is_dir() {
        return Err(in_the_way("is not a directory".to_string()));
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(tmp).map_err(io_err("list directory", tmp))? {
        let entry = entry.map_err(io_err("list directory", tmp))?;
        let name = entry.file_name();
        // (A conversion that rotated left seek hints too: 20 digits + .idx.)
        let hint = name.as_bytes().strip_suffix(b".idx").is_some_and(|s| s.len() == 20 && s.iter().all(u8::is_ascii_digit));
        let log_file = matches!(name.as_bytes(), b"LOCK" | b"wal.meta" | b"wal.meta.tmp")
            || name.as_bytes().ends_with(b".wal")
            || hint;
        let is_file = entry.file_type().map_err(io_err("stat", &entry.path()))?.is_file();
        if !log_file || !is_file {
            return Err(in_the_way(format!("holds {}, which a libwal log does not", name.to_string_lossy())));
        }
        files.push(entry.path());
    }
    Ok(files)
}

fn remove_log_dir(dir: &Path, files: &[PathBuf]) -> Result<(), Halt> {
    for file in files {
        fs::remove_file(file).map_err(io_err("remove", file))?;
    }
    fs::remove_dir(dir).map_err(io_err("remove", dir))?;
    sync_dir(dir.parent().unwrap_or(Path::new(".")))
}

/// Writes the version 2 log's records into a new version 3 log in `tmp`.
fn convert(src: &Path, tmp: &Path, log: &Log) -> Result<(), Halt> {
    fs::create_dir(tmp).map_err(io_err("create directory", tmp))?;
    wal::inspect::create_log_with_floor(tmp, log.floor)?;
    // Nothing is synced record by record: close syncs everything, and a
    // crash before the renames leaves the version 2 log in place.
    let opts = Options {
        segment_size: log.segment_size.unwrap_or(DEFAULT_SEGMENT_SIZE),
        sync_mode: SyncMode::None,
        preallocate: false,
        create_if_missing: false,
        ..Options::default()
    };
    let wal = Wal::open(tmp, opts)?;
    if wal.last_seq() != log.floor {
        return Err(Halt::Other(format!(
            "the new log in {} starts after seq {}, not after the floor {}",
            tmp.display(),
            wal.last_seq(),
            log.floor
        )));
    }
    let again = read_log(src, &mut |batch| append(&wal, batch))?;
    wal.close()?;
    if again != *log {
        return Err(Halt::Other("the version 2 log changed while walctl upgrade read it".to_string()));
    }
    sync_dir(tmp)
}

fn append(wal: &Wal, batch: &Batch<'_>) -> Result<(), Halt> {
    let last = batch.first_seq + batch.entries.len() as u64 - 1;
    let seq = match is_checkpoint(&batch.entries) {
        true => wal.checkpoint()?,
        false => wal.append_batch(&batch.entries)?,
    };
    if seq != last {
        return Err(Halt::Other(format!(
            "libwal 0.2 gave seq {seq} to the record with seq {last} in the version 2 log"
        )));
    }
    Ok(())
}

/// Reads the converted log in `tmp` and the version 2 log side by side.
fn verify(src: &Path, tmp: &Path, log: &Log) -> Result<(), Halt> {
    let opts = Options { read_only: true, create_if_missing: false, ..Options::default() };
    let wal = Wal::open(tmp, opts)?;
    let (first, last) = (wal.first_seq(), wal.last_seq());
    if (first, last) != (log.floor + 1, log.last_seq()) {
        return Err(Halt::Other(format!(
            "the converted log's first and last seqs are {first} and {last}, the version 2 log's {} and {}",
            log.floor + 1,
            log.last_seq()
        )));
    }
    let mut iter = wal.iter(0)?;
    let again = read_log(src, &mut |batch| {
        for (i, e) in batch.entries.iter().enumerate() {
            let seq = batch.first_seq + i as u64;
            let same = match iter.next()? {
                None => return Err(Halt::Other(format!("the converted log ends before seq {seq}"))),
                Some(r) => (r.seq, r.op, r.key, r.value) == (seq, e.op, e.key, e.value),
            };
            if !same {
                return Err(Halt::Other(format!(
                    "the converted log's record at seq {seq} differs from the version 2 one"
                )));
            }
        }
        Ok(())
    })?;
    if let Some(r) = iter.next()? {
        return Err(Halt::Other(format!(
            "the converted log holds seq {}, past the version 2 log's last record",
            r.seq
        )));
    }
    if again != *log {
        return Err(Halt::Other("the version 2 log changed while walctl upgrade read it".to_string()));
    }
    Ok(())
}

fn is_checkpoint(entries: &[Entry<'_>]) -> bool {
    matches!(entries, [e] if e.op == OP_CHECKPOINT && e.key.is_empty() && e.value.is_empty())
}

/// What libwal 0.2's append takes: what libwal 0.1 wrote. Anything else was
/// not written by 0.1's writer, and is refused as damage.
fn check_convertible(batch: &Batch<'_>) -> Result<(), Halt> {
    if is_checkpoint(&batch.entries) {
        return Ok(());
    }
    for (i, e) in batch.entries.iter().enumerate() {
        let seq = batch.first_seq + i as u64;
        if e.op == 0 || e.op == OP_CHECKPOINT {
            return Err(Halt::Damaged(format!(
                "{}: the record with seq {seq} (in the frame at offset {}) has op {}, which libwal 0.1 never wrote \
                 (op 0 never, op 255 only as a checkpoint alone in its frame, with no key or value){SALVAGE}",
                batch.path.display(),
                batch.offset,
                e.op
            )));
        }
        if e.key.len() + e.value.len() > MAX_RECORD_SIZE {
            return Err(too_large(batch.path, batch.offset, seq, e.key.len() as u64, e.value.len() as u64));
        }
    }
    Ok(())
}

fn too_large(path: &Path, offset: u64, seq: u64, key_len: u64, value_len: u64) -> Halt {
    Halt::Damaged(format!(
        "{}: the record with seq {seq} (in the frame at offset {offset}) has a {key_len}-byte key and a \
         {value_len}-byte value, more than WAL_MAX_RECORD_SIZE ({MAX_RECORD_SIZE} bytes), which libwal 0.1 \
         never wrote{SALVAGE}",
        path.display()
    ))
}

// ---------------------------------------------------------------------------
// Format version 2, read.

const SEGMENT_MAGIC: &[u8; 8] = b"LIBWALSG";
const META_MAGIC: &[u8; 8] = b"LIBWALMT";
const CLEAN_MAGIC: &[u8; 8] = b"LIBWALCL";
const META_FILE: &str = "wal.meta";
const HEADER_LEN: u64 = 32;
const ENTRY_HEADER_LEN: u64 = 9;
/// How much a segment is read at a time.
const CHUNK: usize = 256 << 10;

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(x)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|&x| x == 0)
}

/// Reads until `buf` is full or the file ends; how many bytes were read.
fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// The first `len` bytes of a small file (LOCK, wal.meta), and whether it
/// is longer; None when there is no such file.
fn read_small(path: &Path, len: usize) -> Result<Option<Vec<u8>>, Halt> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(len as u64 + 1).read_to_end(&mut bytes).map_err(io_err("read", path))?;
    Ok(Some(bytes))
}

/// What a segment's or wal.meta's 32-byte header says.
enum Header {
    /// Its checksum is right and it has the magic: its version and u64.
    Sound {
        version: u32,
        value: u64,
    },
    /// A segment whose creation was interrupted: shorter than a header, or
    /// a zeroed header with nothing but zeros after it.
    Unborn,
    /// A sound header with another magic: another program's file.
    Foreign,
    Damaged(String),
}

fn segment_header(file: &File, path: &Path, len: u64) -> Result<Header, Halt> {
    let mut buf = [0u8; HEADER_LEN as usize];
    let n = read_full_at(file, &mut buf, 0).map_err(io_err("read", path))?;
    if n < buf.len() {
        return Ok(Header::Unborn);
    }
    if all_zero(&buf) {
        return Ok(match last_data_byte(file, path, HEADER_LEN, len)? {
            None => Header::Unborn,
            Some(at) => Header::Damaged(format!(
                "its header is zeroed but the file holds data (a non-zero byte at offset {at})"
            )),
        });
    }
    Ok(header32(&buf, SEGMENT_MAGIC))
}

fn header32(buf: &[u8], magic: &[u8; 8]) -> Header {
    let sound = crc32fast::hash(&buf[..28]) == u32_at(buf, 28);
    match (sound, &buf[..8] == magic) {
        (true, true) => Header::Sound { version: u32_at(buf, 8), value: u64_at(buf, 16) },
        (true, false) => Header::Foreign,
        (false, true) => Header::Damaged("bad header: checksum mismatch".to_string()),
        (false, false) => Header::Damaged("bad header: bad magic number".to_string()),
    }
}

/// wal.meta: None when there is none.
fn read_meta(dir: &Path) -> Result<Option<Header>, Halt> {
    let path = dir.join(META_FILE);
    Ok(read_small(&path, HEADER_LEN as usize)?.map(|bytes| match bytes.len() == HEADER_LEN as usize {
        true => header32(&bytes, META_MAGIC),
        false => Header::Damaged("bad metadata file: it is not 32 bytes long".to_string()),
    }))
}

/// The clean-close mark a libwal 0.1 close leaves in LOCK (32 bytes: magic
/// LIBWALCL, the newest segment's first seq at 8, the end of its frames at
/// 16, version 2 at 24, CRC-32 of bytes 0..28 at 28): every byte of that
/// segment before `end` was durable. (first_seq, end).
fn clean_mark(dir: &Path) -> Result<Option<(u64, u64)>, Halt> {
    let Some(b) = read_small(&dir.join(LOCK_FILE), HEADER_LEN as usize)? else { return Ok(None) };
    let sound = b.len() == HEADER_LEN as usize
        && &b[..8] == CLEAN_MAGIC
        && u32_at(&b, 24) == 2
        && crc32fast::hash(&b[..28]) == u32_at(&b, 28);
    Ok(sound.then(|| (u64_at(&b, 8), u64_at(&b, 16))))
}

/// The offset of the last non-zero byte in `from..to`, if any.
fn last_data_byte(file: &File, path: &Path, from: u64, to: u64) -> Result<Option<u64>, Halt> {
    let mut buf = vec![0u8; (to.saturating_sub(from) as usize).min(CHUNK)];
    let mut end = to;
    while end > from {
        let start = end.saturating_sub(CHUNK as u64).max(from);
        let want = (end - start) as usize;
        let n = read_full_at(file, &mut buf[..want], start).map_err(io_err("read", path))?;
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

enum Format {
    Two,
    Three,
    NoLog,
}

/// Which format version the files of `dir` are in, by their sound headers.
fn format_of(dir: &Path) -> Result<Format, Halt> {
    let d = dir.display();
    if !fs::metadata(dir).map_err(io_err("stat", dir))?.is_dir() {
        return Err(Halt::NotFormat2(format!("{d} is not a directory")));
    }
    let mut versions: Vec<(u32, PathBuf)> = Vec::new();
    let mut damaged: Option<String> = None;
    let meta_path = dir.join(META_FILE);
    let mut headers = Vec::new();
    if let Some(meta) = read_meta(dir)? {
        headers.push((meta, meta_path));
    }
    for (_, path) in list_segments(dir)? {
        let file = File::open(&path).map_err(io_err("open", &path))?;
        let len = file.metadata().map_err(io_err("stat", &path))?.len();
        headers.push((segment_header(&file, &path, len)?, path));
    }
    for (header, path) in headers {
        match header {
            Header::Sound { version, .. } => versions.push((version, path)),
            Header::Unborn => {}
            Header::Foreign => {
                return Err(Halt::NotFormat2(format!(
                    "{}: is not a libwal file: its header has a valid checksum but another magic",
                    path.display()
                )));
            }
            Header::Damaged(why) => {
                damaged.get_or_insert(format!("{}: {why}", path.display()));
            }
        }
    }
    match versions.first() {
        None => match damaged {
            Some(damage) => {
                Err(Halt::Damaged(format!("{d}: no header is sound, so its format version is unknown: {damage}")))
            }
            None => Ok(Format::NoLog),
        },
        Some((v, _)) if versions.iter().all(|(w, _)| w == v) && *v == 2 => Ok(Format::Two),
        Some((v, _)) if versions.iter().all(|(w, _)| w == v) && *v == 3 => Ok(Format::Three),
        Some((v, path)) => match versions.iter().find(|(w, _)| w != v) {
            Some((w, other)) => Err(Halt::NotFormat2(format!(
                "{d} holds files of two format versions ({}: {v}, {}: {w}): it is not one libwal log",
                file_name(path),
                file_name(other)
            ))),
            None => Err(Halt::NotFormat2(format!(
                "{d} is in format version {v}: walctl upgrade converts version 2 (libwal 0.1) only"
            ))),
        },
    }
}

/// The segment files, in log order: (first seq, path).
fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Halt> {
    // Version 2 names segments as version 3 does.
    let files = wal::segment::list_segments(&wal::io::RealFs, dir)?;
    Ok(files.into_iter().map(|s| (s.first_seq, s.path)).collect())
}

/// What reading the whole version 2 log found. Two reads of an unchanged
/// log find the same.
#[derive(Debug, PartialEq, Eq)]
struct Log {
    /// Every seq at or below it is truncated (wal.meta; 0 without).
    floor: u64,
    /// The segments that hold the log, in order: (first seq, path).
    segments: Vec<(u64, PathBuf)>,
    /// Files 0.1's recovery would delete, and why.
    not_converted: Vec<(PathBuf, &'static str)>,
    /// The size of the files in `segments`.
    bytes: u64,
    /// The seq of the last valid record; at most the floor when none is above it.
    last_record: u64,
    /// Records above the floor, the frames that hold them, the checkpoints among them.
    records: u64,
    batches: u64,
    checkpoints: u64,
    /// Frames larger than MAX_BATCH_SIZE, written as several batches.
    split: u64,
    torn: Option<Junk>,
    /// Data after the last frame of an older segment, where the next
    /// segment goes on from the next seq: not converted.
    junk: Vec<Junk>,
    /// The size the segments were preallocated to, when they say it.
    segment_size: Option<u64>,
}

impl Log {
    /// The highest seq the log has handed out.
    fn last_seq(&self) -> u64 {
        self.last_record.max(self.floor)
    }
}

/// Bytes after a segment's last frame that are no frame: not converted.
#[derive(Debug, PartialEq, Eq)]
struct Junk {
    path: PathBuf,
    offset: u64,
    len: u64,
    reason: &'static str,
}

/// Records with consecutive seqs from one version 2 frame, all above the
/// floor: what one call of the new log's append writes. A frame larger
/// than MAX_BATCH_SIZE gives several.
struct Batch<'a> {
    first_seq: u64,
    entries: Vec<Entry<'a>>,
    path: &'a Path,
    /// The version 2 frame's offset in `path`.
    offset: u64,
}

type Visit<'v> = dyn FnMut(&Batch<'_>) -> Result<(), Halt> + 'v;

/// Reads every record of the version 2 log in `dir`, in seq order, and
/// hands the ones above the floor to `visit`, one batch at a time. Damage
/// is refused before anything after it is handed out.
fn read_log(dir: &Path, visit: &mut Visit<'_>) -> Result<Log, Halt> {
    let meta_path = dir.join(META_FILE);
    let floor = match read_meta(dir)? {
        None => 0,
        Some(Header::Sound { version: 2, value }) => value,
        Some(Header::Sound { version, .. }) => {
            return Err(Halt::NotFormat2(format!("{}: written in format version {version}", meta_path.display())));
        }
        Some(Header::Unborn | Header::Foreign) => {
            return Err(Halt::Damaged(format!("{}: bad metadata file: bad magic number", meta_path.display())));
        }
        Some(Header::Damaged(why)) => return Err(Halt::Damaged(format!("{}: {why}", meta_path.display()))),
    };
    if floor == u64::MAX {
        return Err(Halt::Damaged(format!("{}: the truncation floor is out of range", meta_path.display())));
    }
    let mut log = Log {
        floor,
        segments: Vec::new(),
        not_converted: Vec::new(),
        bytes: 0,
        last_record: 0,
        records: 0,
        batches: 0,
        checkpoints: 0,
        split: 0,
        torn: None,
        junk: Vec::new(),
        segment_size: None,
    };
    let mut files = list_segments(dir)?;
    // Leftovers of a truncate that recorded its floor and died before
    // deleting: every segment before the last one that starts at or below
    // floor + 1 holds only truncated records.
    let below = files.iter().skip(1).take_while(|s| s.0 <= floor.saturating_add(1)).count();
    for (_, path) in files.drain(..below) {
        log.not_converted.push((path, "holds only truncated records (an interrupted truncate)"));
    }
    if let Some((_, path)) = files.last() {
        let file = File::open(path).map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        if let Header::Unborn = segment_header(&file, path, len)? {
            log.not_converted.push((path.clone(), "holds no header and no record (an interrupted segment creation)"));
            files.pop();
        }
    }
    if let Some((first, path)) = files.first() {
        if *first > floor + 1 {
            return Err(Halt::Damaged(format!(
                "{}: records {} to {} are missing: the segment holding them is gone; restore it (libwal 0.1's \
                 WAL_RECOVER_SALVAGE would drop every record after them)",
                path.display(),
                floor + 1,
                first - 1
            )));
        }
    }
    let mark = clean_mark(dir)?;
    let mut sizes = Vec::new();
    let mut expected = files.first().map_or(floor + 1, |f| f.0);
    // Where an older segment's frames stopped before data that is not a
    // frame with the next seq: (where, its length, why).
    let mut stopped: Option<(u64, u64, &'static str)> = None;
    for (i, (first_seq, path)) in files.iter().enumerate() {
        if let Some((pos, len, reason)) = stopped.take() {
            let previous = &files[i - 1].1;
            if *first_seq == expected {
                // Junk after its last frame, but the next segment goes on
                // from the next seq: 0.1's replay ignores it, and no
                // record is lost.
                log.junk.push(Junk { path: previous.clone(), offset: pos, len, reason });
            } else {
                return Err(Halt::Damaged(format!(
                    "{}: damaged record at offset {pos} ({reason}), expected seq {expected}, and the next segment \
                     starts at seq {first_seq}{SALVAGE}",
                    previous.display()
                )));
            }
        }
        if *first_seq != expected {
            let previous = &files[i - 1].1;
            return Err(Halt::Damaged(format!(
                "{}: the log breaks off: {} ends at seq {}, but this segment starts at seq {first_seq}{}{SALVAGE}",
                path.display(),
                file_name(previous),
                expected - 1,
                match expected < *first_seq {
                    true => format!(" (records {expected} to {} are missing)", first_seq - 1),
                    false => String::new(),
                }
            )));
        }
        let mut seg = Segment::open(path, *first_seq)?;
        log.bytes += seg.len;
        let mut pos = HEADER_LEN;
        let reason = loop {
            match seg.frame_at(pos, expected)? {
                Ok(frame) => {
                    seg.hand_out(&frame, &mut log, visit)?;
                    pos = frame.end();
                    expected = frame.next_seq();
                }
                Err(reason) => break reason,
            }
        };
        let Some(at) = last_data_byte(&seg.file, path, pos, seg.len)? else {
            if seg.len > pos {
                sizes.push(seg.len); // zeros after the frames: preallocated
            }
            continue;
        };
        if i + 1 < files.len() {
            // Damage, unless the next segment starts at `expected`.
            stopped = Some((pos, at + 1 - pos, reason));
            continue;
        }
        // The newest segment: a torn write, unless something proves the
        // bytes at `pos` were durable.
        let damage = format!("{}: damaged record at offset {pos} ({reason}), expected seq {expected}", path.display());
        if let Some((witness, synced_end)) = seg.find_witness(pos, expected, at + 1)? {
            return Err(Halt::Damaged(format!(
                "{damage}; the record at offset {witness} was written after the log was durable up to offset \
                 {synced_end}, so the damage is not an interrupted write{SALVAGE}"
            )));
        }
        if let Some((mark_seq, mark_end)) = mark {
            if mark_seq == *first_seq && pos < mark_end {
                return Err(Halt::Damaged(format!(
                    "{damage}; libwal 0.1 closed the log cleanly with this segment durable up to offset {mark_end} \
                     (the mark in {LOCK_FILE}), so the damage is not an interrupted write{SALVAGE}"
                )));
            }
        }
        log.torn = Some(Junk { path: path.clone(), offset: pos, len: at + 1 - pos, reason });
        if seg.len > at + 1 {
            sizes.push(seg.len);
        }
    }
    log.last_record = expected - 1;
    log.segments = files;
    if !log.segments.is_empty() && log.last_record <= floor {
        // Every record is truncated: a truncate died before deleting.
        for (_, path) in log.segments.drain(..) {
            log.not_converted.push((path, "holds only truncated records (an interrupted truncate)"));
        }
        log.bytes = 0;
    }
    log.segment_size = match sizes.first() {
        Some(&size) if sizes.iter().all(|&s| s == size) && (MIN_SEGMENT_SIZE..=i64::MAX as u64).contains(&size) => {
            Some(size)
        }
        _ => None,
    };
    Ok(log)
}

/// A version 2 frame header (32 bytes): crc u32 (CRC-32 of bytes 4..32 and
/// the payload), count u32, payload_len u64, first_seq u64, synced_end u64.
struct FrameHeader([u8; HEADER_LEN as usize]);

impl FrameHeader {
    fn crc(&self) -> u32 {
        u32_at(&self.0, 0)
    }
    fn count(&self) -> u32 {
        u32_at(&self.0, 4)
    }
    fn payload_len(&self) -> u64 {
        u64_at(&self.0, 8)
    }
    fn first_seq(&self) -> u64 {
        u64_at(&self.0, 16)
    }
    fn synced_end(&self) -> u64 {
        u64_at(&self.0, 24)
    }

    /// At least one entry, room for every entry's header, seqs from 1 that
    /// do not pass u64::MAX, all within `room` bytes.
    fn plausible(&self, room: u64) -> bool {
        let count = self.count() as u64;
        count >= 1
            && self.first_seq() >= 1
            && self.first_seq().checked_add(count).is_some()
            && self.payload_len() >= count * ENTRY_HEADER_LEN
            && self.payload_len() <= room.saturating_sub(HEADER_LEN)
    }
}

/// A whole, checked frame.
struct Frame {
    offset: u64,
    header: FrameHeader,
    /// The payload, held when it is within MAX_BATCH_SIZE; a larger one is
    /// read again in pieces.
    payload: Option<Vec<u8>>,
}

impl Frame {
    fn end(&self) -> u64 {
        self.offset + HEADER_LEN + self.header.payload_len()
    }
    fn next_seq(&self) -> u64 {
        self.header.first_seq() + self.header.count() as u64
    }
}

/// The entries of a payload, None if they do not fill it exactly (the
/// file changed since its frame was checked).
fn entries(payload: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < payload.len() {
        let head = payload.get(at..at.checked_add(ENTRY_HEADER_LEN as usize)?)?;
        let (key_len, value_len) = (u32_at(head, 1) as usize, u32_at(head, 5) as usize);
        let key_at = at + ENTRY_HEADER_LEN as usize;
        let value_at = key_at.checked_add(key_len)?;
        let end = value_at.checked_add(value_len)?;
        out.push(Entry { op: head[0], key: payload.get(key_at..value_at)?, value: payload.get(value_at..end)? });
        at = end;
    }
    Some(out)
}

/// Whether `count` entries fill `payload` exactly.
fn entries_fill(payload: &[u8], count: u32) -> bool {
    let mut at = 0u64;
    for _ in 0..count {
        let Some(head) = payload.get(at as usize..(at + ENTRY_HEADER_LEN) as usize) else { return false };
        at += ENTRY_HEADER_LEN + u32_at(head, 1) as u64 + u32_at(head, 5) as u64;
        if at > payload.len() as u64 {
            return false;
        }
    }
    at == payload.len() as u64
}

fn changed(path: &Path) -> Halt {
    Halt::Other(format!("{}: the file changed while walctl upgrade read it", path.display()))
}

/// One version 2 segment file, read through a buffer.
struct Segment {
    file: File,
    path: PathBuf,
    len: u64,
    buf: Vec<u8>,
    buf_off: u64,
}

impl Segment {
    /// Opens a segment and checks its header: sound, version 2, the first
    /// seq of its name.
    fn open(path: &Path, first_seq: u64) -> Result<Segment, Halt> {
        let file = File::open(path).map_err(io_err("open", path))?;
        let len = file.metadata().map_err(io_err("stat", path))?.len();
        let damaged = |why: String| Halt::Damaged(format!("{}: {why}{SALVAGE}", path.display()));
        match segment_header(&file, path, len)? {
            Header::Sound { version: 2, value } if value == first_seq => {}
            Header::Sound { version: 2, value } => {
                return Err(damaged(format!(
                    "segment header says its first seq is {value}, its name says {first_seq}"
                )));
            }
            Header::Sound { version, .. } => {
                return Err(Halt::NotFormat2(format!("{}: written in format version {version}", path.display())));
            }
            Header::Foreign => {
                return Err(Halt::NotFormat2(format!("{}: is not a libwal segment", path.display())));
            }
            Header::Unborn => return Err(damaged("no segment header (shorter than 32 bytes, or zeros)".to_string())),
            Header::Damaged(why) => return Err(damaged(why)),
        }
        Ok(Segment { file, path: path.to_path_buf(), len, buf: Vec::new(), buf_off: 0 })
    }

    /// Up to `n` bytes at `at`, fewer at the end of the file.
    fn fetch(&mut self, at: u64, n: usize) -> Result<&[u8], Halt> {
        let end = at.saturating_add(n as u64).min(self.len);
        if at < self.buf_off || end > self.buf_off + self.buf.len() as u64 {
            let size = (self.len.saturating_sub(at) as usize).min(CHUNK.max(n));
            self.buf.resize(size, 0);
            let got = read_full_at(&self.file, &mut self.buf, at).map_err(io_err("read", &self.path))?;
            self.buf.truncate(got);
            self.buf_off = at;
        }
        let start = ((at - self.buf_off) as usize).min(self.buf.len());
        let stop = (end.saturating_sub(self.buf_off) as usize).clamp(start, self.buf.len());
        Ok(&self.buf[start..stop])
    }

    fn read_exact(&self, at: u64, len: u64) -> Result<Vec<u8>, Halt> {
        let mut bytes = vec![0u8; len as usize];
        let n = read_full_at(&self.file, &mut bytes, at).map_err(io_err("read", &self.path))?;
        match n == bytes.len() {
            true => Ok(bytes),
            false => Err(Halt::Io(format!("{}: the file ended while it was read", self.path.display()))),
        }
    }

    /// The frame at `pos` if it is whole, checked and carries `expected`;
    /// otherwise why reading stops there (as 0.1's reader says it).
    fn frame_at(&mut self, pos: u64, expected: u64) -> Result<Result<Frame, &'static str>, Halt> {
        let room = self.len - pos;
        if room == 0 {
            return Ok(Err("end of data"));
        }
        if room < HEADER_LEN {
            return Ok(Err("incomplete frame header"));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        let bytes = self.fetch(pos, HEADER_LEN as usize)?;
        if bytes.len() < header.len() {
            return Ok(Err("the file ends inside a frame header"));
        }
        header.copy_from_slice(bytes);
        if all_zero(&header) {
            return Ok(Err("zeros where a frame should start"));
        }
        let header = FrameHeader(header);
        if header.first_seq() != expected {
            return Ok(Err("frame header with an unexpected seq"));
        }
        if !header.plausible(room) {
            return Ok(Err("frame header with an impossible count or length"));
        }
        match self.check(pos, header)? {
            Some(frame) => Ok(Ok(frame)),
            None => Ok(Err("frame checksum mismatch")),
        }
    }

    /// The frame at `pos` whose header is plausible, if its checksum and
    /// entries are right.
    fn check(&mut self, pos: u64, header: FrameHeader) -> Result<Option<Frame>, Halt> {
        let len = header.payload_len();
        let at = pos + HEADER_LEN;
        if len > MAX_BATCH_SIZE as u64 {
            let valid = self.stream_check(at, &header)?;
            return Ok(valid.then_some(Frame { offset: pos, header, payload: None }));
        }
        let payload = match HEADER_LEN + len <= CHUNK as u64 {
            true => self.fetch(at, len as usize)?.to_vec(),
            false => self.read_exact(at, len)?,
        };
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header.0[4..]);
        crc.update(&payload);
        let valid =
            payload.len() as u64 == len && crc.finalize() == header.crc() && entries_fill(&payload, header.count());
        Ok(valid.then_some(Frame { offset: pos, header, payload: Some(payload) }))
    }

    /// The checksum and the entries of a frame too large to hold, read in chunks.
    fn stream_check(&mut self, at: u64, header: &FrameHeader) -> Result<bool, Halt> {
        let len = header.payload_len();
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header.0[4..]);
        let mut done = 0;
        while done < len {
            let chunk = self.fetch(at + done, ((len - done) as usize).min(CHUNK))?;
            if chunk.is_empty() {
                return Ok(false);
            }
            crc.update(chunk);
            done += chunk.len() as u64;
        }
        if crc.finalize() != header.crc() {
            return Ok(false);
        }
        let mut offset = 0;
        for _ in 0..header.count() {
            if offset + ENTRY_HEADER_LEN > len {
                return Ok(false);
            }
            let head = self.fetch(at + offset, ENTRY_HEADER_LEN as usize)?;
            if head.len() < ENTRY_HEADER_LEN as usize {
                return Ok(false);
            }
            offset += ENTRY_HEADER_LEN + u32_at(head, 1) as u64 + u32_at(head, 5) as u64;
        }
        Ok(offset == len)
    }

    /// Hands the frame's records above the floor to `visit`.
    fn hand_out(&mut self, frame: &Frame, log: &mut Log, visit: &mut Visit<'_>) -> Result<(), Halt> {
        let (first, next) = (frame.header.first_seq(), frame.next_seq());
        if next - 1 <= log.floor {
            return Ok(()); // truncated
        }
        log.batches += 1;
        log.records += next - first.max(log.floor + 1);
        let path = self.path.clone();
        if let Some(payload) = &frame.payload {
            let all = entries(payload).ok_or_else(|| changed(&path))?;
            let skip = (log.floor + 1).saturating_sub(first) as usize;
            let batch = Batch {
                first_seq: first + skip as u64,
                entries: all[skip..].to_vec(),
                path: &path,
                offset: frame.offset,
            };
            if is_checkpoint(&batch.entries) {
                log.checkpoints += 1;
            }
            return visit(&batch);
        }
        // Too large for one batch of the new log: in pieces of consecutive
        // entries, each within MAX_BATCH_SIZE.
        let payload_at = frame.offset + HEADER_LEN;
        let (mut at, mut seq) = (payload_at, first);
        let (mut piece_at, mut piece_seq, mut piece_len, mut pieces) = (at, seq, 0u64, 0u64);
        for _ in 0..frame.header.count() {
            let head = self.fetch(at, ENTRY_HEADER_LEN as usize)?;
            if head.len() < ENTRY_HEADER_LEN as usize {
                return Err(changed(&path));
            }
            let (key_len, value_len) = (u32_at(head, 1) as u64, u32_at(head, 5) as u64);
            let size = ENTRY_HEADER_LEN + key_len + value_len;
            if seq <= log.floor {
                (at, seq) = (at + size, seq + 1);
                (piece_at, piece_seq) = (at, seq);
                continue;
            }
            if size > MAX_BATCH_SIZE as u64 {
                return Err(too_large(&path, frame.offset, seq, key_len, value_len));
            }
            if piece_len + size > MAX_BATCH_SIZE as u64 {
                let bytes = self.read_exact(piece_at, piece_len)?;
                visit(&Batch {
                    first_seq: piece_seq,
                    entries: entries(&bytes).ok_or_else(|| changed(&path))?,
                    path: &path,
                    offset: frame.offset,
                })?;
                (piece_at, piece_seq, piece_len, pieces) = (at, seq, 0, pieces + 1);
            }
            piece_len += size;
            (at, seq) = (at + size, seq + 1);
        }
        if piece_len > 0 {
            let bytes = self.read_exact(piece_at, piece_len)?;
            visit(&Batch {
                first_seq: piece_seq,
                entries: entries(&bytes).ok_or_else(|| changed(&path))?,
                path: &path,
                offset: frame.offset,
            })?;
            pieces += 1;
        }
        if pieces > 1 {
            log.split += 1;
        }
        Ok(())
    }

    /// Looks at every offset after `damage` (where reading stopped,
    /// expecting `min_seq`) up to `data_end` for a valid frame written
    /// after an fdatasync had made the bytes at `damage` durable: its
    /// synced_end lies past `damage`. Its offset and synced_end.
    fn find_witness(&mut self, damage: u64, min_seq: u64, data_end: u64) -> Result<Option<(u64, u64)>, Halt> {
        for at in damage + 1..data_end {
            if at + HEADER_LEN > self.len {
                break;
            }
            let mut bytes = [0u8; HEADER_LEN as usize];
            let fetched = self.fetch(at, HEADER_LEN as usize)?;
            if fetched.len() < bytes.len() {
                break;
            }
            bytes.copy_from_slice(fetched);
            let header = FrameHeader(bytes);
            let synced_end = header.synced_end();
            if synced_end <= damage || synced_end > at {
                continue;
            }
            // Each seq between takes at least an entry header.
            let max_seq = min_seq.saturating_add((at - damage) / ENTRY_HEADER_LEN + 1);
            if header.first_seq() < min_seq || header.first_seq() > max_seq || !header.plausible(self.len - at) {
                continue;
            }
            if self.check(at, header)?.is_some() {
                return Ok(Some((at, synced_end)));
            }
        }
        Ok(None)
    }
}
