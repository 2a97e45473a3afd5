//! The C test suite: every `c_tests/test_*.c` and `c_tests/crash_*.c`,
//! compiled with the `cc` crate's compiler detection (CC, CFLAGS and the
//! target's flags, as in a build script) and linked twice, against the
//! `libwal.a` and the `libwal.so` that cargo built for this very test run
//! (its `deps/` directory, beside this executable), then run: each program
//! once linked statically, once against the shared library. So `cargo test`
//! runs the C suite with the Rust tests, and `make check` has no compile
//! rules of its own for it.
//!
//! A program passes when it exits 0; its output goes straight to the
//! terminal. The last line is `ctests: N passed, N failed`. The programs
//! stay in build/ctests/{static,shared}/ for mk/sanitize.mk (valgrind) and
//! mk/filesystems.mk (the same programs on xfs and btrfs).
//!
//! `cargo test --release --test c_suite -- shared/crash` runs the programs
//! whose name (`static/test_api`, `shared/crash_protocol`...) contains an
//! argument; `--skip NAME` leaves some out. Environment:
//! - `WAL_CTESTS_TIMEOUT`: seconds one program may run (300), then it is
//!   killed and fails;
//! - `WAL_CTESTS_ASAN_LIB`: the path of a libwal.a built with
//!   AddressSanitizer (`make asan`): the test_* programs are built with
//!   `-fsanitize=address` against it alone, into build/ctests/asan/, and run
//!   with LeakSanitizer on;
//! - the crash tests read CRASH_SEED, CRASH_ROUNDS, CRASH_SECONDS, and every
//!   program makes its directories under TMPDIR.

mod elf;

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

type Result<T> = std::result::Result<T, String>;

/// How a program is linked; also the name of its output directory.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    Static,
    Shared,
    /// Static, against an AddressSanitizer build of libwal.
    Asan,
}

impl Link {
    fn name(self) -> &'static str {
        match self {
            Link::Static => "static",
            Link::Shared => "shared",
            Link::Asan => "asan",
        }
    }
}

/// Everything a link needs, found once.
struct Setup {
    root: PathBuf,
    out: PathBuf,
    compiler: cc::Tool,
    /// libwal.a to link statically (cargo's, or the ASan build).
    staticlib: PathBuf,
    /// libwal.so, when the run links against it.
    sharedlib: Option<PathBuf>,
    /// What a program linked with libwal.a needs besides it.
    native_libs: Vec<String>,
    links: Vec<Link>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("c_suite: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let args = Args::parse(env::args_os().skip(1))?;
    let setup = Setup::find()?;
    let sources = sources(&setup.root.join("c_tests"), setup.links.contains(&Link::Asan))?;
    let wanted: Vec<(Link, &str)> = setup
        .links
        .iter()
        .flat_map(|&link| sources.iter().map(move |s| (link, s.as_str())))
        .filter(|(link, name)| args.wants(&format!("{}/{name}", link.name())))
        .collect();
    if args.list {
        for (link, name) in &wanted {
            println!("{}/{name}: test", link.name());
        }
        return Ok(true);
    }
    if wanted.is_empty() {
        println!("ctests: 0 passed, 0 failed");
        return Ok(true);
    }

    let cc = &setup.compiler;
    let cc_line: Vec<_> = cc.args().iter().map(|a| a.to_string_lossy()).collect();
    println!("c_suite: {} {}", cc.path().display(), cc_line.join(" "));
    println!("c_suite: static: {} {}", setup.staticlib.display(), setup.native_libs.join(" "));
    if let Some(so) = &setup.sharedlib {
        println!("c_suite: shared: {}", so.display());
    }
    let built = setup.build_all(&wanted);

    let timeout = match env::var("WAL_CTESTS_TIMEOUT") {
        Ok(s) => {
            s.parse().map_err(|_| format!("WAL_CTESTS_TIMEOUT={s}: not a number of seconds"))?
        }
        Err(_) => 300,
    };
    let (mut passed, mut failed) = (0, Vec::new());
    for ((link, name), binary) in wanted.iter().zip(built) {
        let shown = format!("build/ctests/{}/{name}", link.name());
        let outcome = binary.and_then(|b| run_program(&b, *link, Duration::from_secs(timeout)));
        match outcome {
            Ok(took) => {
                passed += 1;
                println!("PASS {shown} ({:.1}s)", took.as_secs_f64());
            }
            Err(why) => {
                println!("FAIL {shown} ({why})");
                failed.push(shown);
            }
        }
    }
    if !failed.is_empty() {
        println!("failed: {}", failed.join(" "));
    }
    println!("ctests: {passed} passed, {} failed", failed.len());
    Ok(failed.is_empty())
}

/// The libtest arguments that make sense here: filters, `--skip`, `--list`,
/// `--ignored` (none of these programs is ignored). Others are accepted and
/// ignored, so `cargo test -- --nocapture` and the like still work.
struct Args {
    filters: Vec<String>,
    skips: Vec<String>,
    list: bool,
    ignored_only: bool,
}

impl Args {
    fn parse(args: impl Iterator<Item = OsString>) -> Result<Args> {
        let mut a = Args { filters: vec![], skips: vec![], list: false, ignored_only: false };
        let mut args = args.map(|s| s.to_string_lossy().into_owned());
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" => a.list = true,
                "--ignored" => a.ignored_only = true,
                "--skip" => a.skips.push(args.next().ok_or("--skip needs a name")?),
                // Options of libtest that take a value as the next argument.
                "--test-threads" | "--format" | "--color" | "--logfile" | "--shuffle-seed"
                | "-Z" => {
                    args.next();
                }
                s if s.starts_with("--skip=") => a.skips.push(s["--skip=".len()..].to_string()),
                s if s.starts_with('-') => {}
                s => a.filters.push(s.to_string()),
            }
        }
        Ok(a)
    }

    fn wants(&self, name: &str) -> bool {
        !self.ignored_only
            && (self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str())))
            && !self.skips.iter().any(|s| name.contains(s.as_str()))
    }
}

/// The test programs in c_tests/, test_* before crash_*, each sorted by name.
fn sources(dir: &Path, asan: bool) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = file.strip_suffix(".c") {
            // The crash tests are too slow under AddressSanitizer.
            if stem.starts_with("test_") || (stem.starts_with("crash_") && !asan) {
                names.push(stem.to_string());
            }
        }
    }
    names.sort_by_key(|n| (n.starts_with("crash_"), n.clone()));
    Ok(names)
}

impl Setup {
    fn find() -> Result<Setup> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let out = root.join("build").join("ctests");
        let obj = out.join("obj");
        fs::create_dir_all(&obj).map_err(|e| format!("{}: {e}", obj.display()))?;
        let rustc = Rustc::find()?;
        let asan = env::var_os("WAL_CTESTS_ASAN_LIB").map(PathBuf::from);

        let mut build = cc::Build::new();
        build
            .target(&rustc.host)
            .host(&rustc.host)
            .out_dir(&obj)
            .cargo_metadata(false)
            .opt_level(2)
            .debug(true)
            .std("c99")
            .define("_GNU_SOURCE", None)
            .warnings(true)
            .extra_warnings(true)
            .warnings_into_errors(true)
            .include(root.join("include"))
            .include(root.join("c_tests"))
            .flag("-pthread");
        if asan.is_some() {
            build.flag("-fsanitize=address").flag("-fno-omit-frame-pointer");
        }
        let compiler = build.try_get_compiler().map_err(|e| format!("no C compiler: {e}"))?;
        let native_libs = rustc.native_static_libs(&obj)?;

        if let Some(lib) = asan {
            return Ok(Setup {
                root,
                out,
                compiler,
                staticlib: existing(lib)?,
                sharedlib: None,
                native_libs,
                links: vec![Link::Asan],
            });
        }
        // Cargo builds the library's cdylib and staticlib with its rlib, into
        // the deps/ directory this test executable was put in; only
        // `cargo build` copies them up to target/<profile>/.
        let exe = env::current_exe().map_err(|e| format!("where am I: {e}"))?;
        let deps = exe.parent().ok_or("this executable has no directory")?;
        Ok(Setup {
            root,
            out,
            compiler,
            staticlib: existing(deps.join("libwal.a"))?,
            sharedlib: Some(existing(deps.join("libwal.so"))?),
            native_libs,
            links: vec![Link::Static, Link::Shared],
        })
    }

    /// Compiles each source once and links it as each `wanted` entry asks,
    /// a few at a time. One result per entry, in order.
    fn build_all(&self, wanted: &[(Link, &str)]) -> Vec<Result<PathBuf>> {
        if let Err(e) = self.link_soname() {
            return wanted.iter().map(|_| Err(e.clone())).collect();
        }
        let mut names: Vec<&str> = wanted.iter().map(|w| w.1).collect();
        names.sort();
        names.dedup();
        let objects: Vec<Result<PathBuf>> = parallel(&names, |name| self.compile(name));
        parallel(wanted, |&(link, name)| {
            let i = names.iter().position(|n| *n == name).ok_or("not compiled")?;
            let object = objects[i].clone()?;
            self.link(&object, link, name)
        })
    }

    /// Puts a link named after libwal.so's soname beside it: the name the
    /// shared programs ask for, found through their rpath, each in the
    /// directory of the build that linked it.
    fn link_soname(&self) -> Result<()> {
        let Some(so) = &self.sharedlib else { return Ok(()) };
        let Some(soname) = elf::soname(so)? else { return Ok(()) };
        let link = so.with_file_name(&soname);
        // Made aside and renamed over, so a concurrent run never finds the
        // name missing.
        let tmp = so.with_file_name(format!(".{soname}.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        std::os::unix::fs::symlink("libwal.so", &tmp)
            .and_then(|()| fs::rename(&tmp, &link))
            .map_err(|e| format!("{}: {e}", link.display()))
    }

    fn compile(&self, name: &str) -> Result<PathBuf> {
        let src = self.root.join("c_tests").join(format!("{name}.c"));
        let dir =
            self.out.join("obj").join(if self.sharedlib.is_some() { "plain" } else { "asan" });
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let object = dir.join(format!("{name}.o"));
        let mut cmd = self.compiler.to_command();
        cmd.arg("-c").arg(&src).arg("-o").arg(&object);
        tool(cmd, "does not compile")?;
        Ok(object)
    }

    fn link(&self, object: &Path, link: Link, name: &str) -> Result<PathBuf> {
        let dir = self.out.join(link.name());
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let binary = dir.join(name);
        // No binary of an earlier build may stand in for one that fails.
        let _ = fs::remove_file(&binary);
        let mut cmd = self.compiler.to_command();
        cmd.arg("-o").arg(&binary).arg(object);
        match (link, &self.sharedlib) {
            (Link::Shared, Some(so)) => {
                // DT_RPATH, not DT_RUNPATH: searched before LD_LIBRARY_PATH,
                // which cargo sets to target/<profile>/ too, where `make`
                // keeps a libwal.so.MAJOR link to the library of the last
                // `cargo build`, not necessarily this one.
                let mut rpath = OsString::from("-Wl,--disable-new-dtags,-rpath,");
                rpath.push(so.parent().ok_or("libwal.so has no directory")?);
                cmd.arg(so).arg(rpath);
            }
            (Link::Shared, None) => return Err("no libwal.so in this run".into()),
            (Link::Static | Link::Asan, _) => {
                cmd.arg(&self.staticlib).args(&self.native_libs);
            }
        }
        tool(cmd, "does not link")?;
        Ok(binary)
    }
}

/// Runs `f` on each item with as many threads as there are cores, at most;
/// the results in the items' order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let threads = thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    // Every index below items.len() was taken by exactly one thread, and a
    // thread that panicked would have made thread::scope panic above.
    results.into_iter().map(|r| r.expect("every item was done")).collect()
}

/// Runs a compiler command, printing what it said; an error if it failed.
fn tool(mut cmd: Command, failure: &str) -> Result<()> {
    let out = cmd.stdin(Stdio::null()).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    let said = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        eprint!("{said}");
        Ok(())
    } else {
        eprintln!("{cmd:?}\n{said}{}", String::from_utf8_lossy(&out.stdout));
        Err(failure.to_string())
    }
}

/// Runs one test program with the terminal as its output; how long it took.
fn run_program(binary: &Path, link: Link, timeout: Duration) -> Result<Duration> {
    let mut cmd = Command::new(binary);
    cmd.stdin(Stdio::null());
    if link == Link::Asan && env::var_os("ASAN_OPTIONS").is_none() {
        cmd.env("ASAN_OPTIONS", "detect_leaks=1");
    }
    let start = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cannot start: {e}"))?;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| format!("wait: {e}"))? {
            return if status.success() { Ok(start.elapsed()) } else { Err(status.to_string()) };
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("killed after {} s: WAL_CTESTS_TIMEOUT", timeout.as_secs()));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn existing(path: PathBuf) -> Result<PathBuf> {
    if path.is_file() { Ok(path) } else { Err(format!("{}: not found", path.display())) }
}

/// The Rust compiler that built this test: the target triple the C compiler
/// must build for, and the native libraries a Rust staticlib needs.
struct Rustc {
    program: OsString,
    host: String,
}

impl Rustc {
    fn find() -> Result<Rustc> {
        let program = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
        let out = Command::new(&program)
            .arg("-vV")
            .output()
            .map_err(|e| format!("{}: {e}", program.to_string_lossy()))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let host = text
            .lines()
            .find_map(|l| l.strip_prefix("host: "))
            .ok_or_else(|| format!("`rustc -vV` printed no host: {text}"))?
            .to_string();
        Ok(Rustc { program, host })
    }

    /// `--print native-static-libs` of an empty staticlib: what the standard
    /// library needs. libwal's own dependencies (libc, crc32fast) add none;
    /// one that did would show as an undefined symbol at the static link.
    fn native_static_libs(&self, dir: &Path) -> Result<Vec<String>> {
        let src = dir.join("empty.rs");
        fs::write(&src, "").map_err(|e| format!("{}: {e}", src.display()))?;
        let out = Command::new(&self.program)
            .args([
                "--crate-type",
                "staticlib",
                "--edition",
                "2021",
                "--print",
                "native-static-libs",
            ])
            .arg("-o")
            .arg(dir.join("libempty.a"))
            .arg(&src)
            .output()
            .map_err(|e| format!("{}: {e}", self.program.to_string_lossy()))?;
        let text = String::from_utf8_lossy(&out.stderr);
        let libs = text
            .lines()
            .find_map(|l| l.split_once("native-static-libs: ").map(|(_, libs)| libs))
            .ok_or_else(|| format!("rustc printed no native-static-libs:\n{text}"))?;
        Ok(libs.split_whitespace().map(str::to_string).collect())
    }
}
