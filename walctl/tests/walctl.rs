//! walctl end to end: logs built with the `wal` crate, the real binary run
//! on them, its output and exit status checked.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{append_bytes, file_len, fill, flip_byte, segments, shrink, small, TempDir};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::RwLock;
use std::time::SystemTime;
use wal::io::RealFs;
use wal::segment::{list_segments, SegmentReader, Step};
use wal::{Options, Wal};

/// What one run of walctl printed, and how it exited.
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Held (shared) while a child process is being started, and exclusively
/// while a test closes a writable log. A child started by another test
/// holds a copy of every descriptor of this process until it has exec'd,
/// the LOCK file's too: a log closed in that instant would still be locked
/// by the child, and the walctl run after the close would find it locked.
static SPAWNING: RwLock<()> = RwLock::new(());

/// Closes a writable log, never while another test is starting a child.
fn close(wal: Wal) {
    let _no_child_starting = SPAWNING.write().unwrap_or_else(|p| p.into_inner());
    wal.close().unwrap();
}

fn walctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Run {
    walctl_with(Command::new(env!("CARGO_BIN_EXE_walctl")).args(args).stdin(Stdio::null()))
}

/// Runs walctl as `command` says (stdin, arguments), stdout and stderr captured.
fn walctl_with(command: &mut Command) -> Run {
    let child = {
        let _starting = SPAWNING.read().unwrap_or_else(|p| p.into_inner());
        command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let out = child.wait_with_output().unwrap();
    Run {
        status: out.status.code().expect("walctl was killed by a signal"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn run(command: &str, dir: &Path) -> Run {
    walctl([OsStr::new(command), dir.as_os_str()])
}

/// A log of `n` records in 4 KiB segments: record i is PUT key-i with 100
/// bytes of binary value.
fn log_of(tmp: &TempDir, n: u64) -> PathBuf {
    close(fill(tmp.path(), small(4096), n, 100));
    tmp.path().to_path_buf()
}

/// Where each frame of a segment starts, read with the library's reader.
fn frame_offsets(path: &Path) -> Vec<u64> {
    let dir = path.parent().unwrap();
    let info = list_segments(&RealFs, dir).unwrap().into_iter().find(|s| s.path == path).unwrap();
    let mut reader = SegmentReader::open(&RealFs, &info, None).unwrap();
    let (mut offsets, mut expected) = (Vec::new(), info.first_seq);
    while let Step::Frame(frame) = reader.next(expected).unwrap() {
        offsets.push(frame.offset);
        expected = frame.header.last_seq() + 1;
    }
    offsets
}

#[test]
fn help_documents_the_exit_status() {
    let help = walctl(["--help"]);
    assert_eq!(help.status, 0);
    for line in ["0  success", "1  the log is damaged", "3  an I/O error", "5  a seq out of range"] {
        assert!(help.stdout.contains(line), "--help lacks {line:?}:\n{}", help.stdout);
    }
    assert_eq!(walctl(["stat"]).status, 2, "a missing argument is a usage error");
}

#[test]
fn stat_reports_segments_seq_range_records_checkpoint_and_floor() {
    let tmp = TempDir::new("walctl-stat");
    let wal = fill(tmp.path(), small(4096), 100, 100);
    let checkpoint = wal.checkpoint().unwrap();
    wal.append(1, b"after", b"checkpoint").unwrap();
    wal.truncate(30).unwrap();
    close(wal);

    let stat = run("stat", tmp.path());
    assert_eq!((stat.status, stat.stderr.as_str()), (0, ""));
    let files = segments(tmp.path());
    let total: u64 = files.iter().map(|f| file_len(f)).sum();
    let mut expected = vec![
        format!("format version:   {}", wal::format::FORMAT_VERSION),
        format!("segments:         {} files, {total} bytes", files.len()),
        "seq range:        31..102".to_string(),
        "records:          72".to_string(),
        format!("last checkpoint:  {checkpoint}"),
        "truncation floor: 30".to_string(),
        "writer lock:      free".to_string(),
    ];
    for file in &files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let first_seq: u64 = name.trim_end_matches(".wal").parse().unwrap();
        expected.push(format!("  {name}  first seq {first_seq}  {} bytes", file_len(file)));
    }
    for line in expected {
        assert!(stat.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", stat.stdout);
    }
}

#[test]
fn stat_names_the_process_holding_the_writer_lock() {
    let tmp = TempDir::new("walctl-lock");
    let wal = fill(tmp.path(), small(4096), 3, 10);
    let held = format!("writer lock:      held by process {}", std::process::id());
    assert!(run("stat", tmp.path()).stdout.lines().any(|l| l == held));
    close(wal);
    assert!(run("stat", tmp.path()).stdout.lines().any(|l| l == "writer lock:      free"));
}

/// PUT, DELETE, an unnamed op with a binary key, a checkpoint.
fn mixed_log(tmp: &TempDir) {
    let wal = Wal::open(tmp.path(), small(4096)).unwrap();
    wal.append(1, b"k1", b"v1").unwrap();
    wal.append(2, b"k1", b"").unwrap();
    wal.append(7, &[0xff, 0x00], "tab\t\"é\" \\ \r\n".as_bytes()).unwrap();
    wal.checkpoint().unwrap();
    close(wal);
}

#[test]
fn dump_prints_one_line_per_record_text_or_hex() {
    let tmp = TempDir::new("walctl-dump");
    mixed_log(&tmp);
    let dump = run("dump", tmp.path());
    assert_eq!((dump.status, dump.stderr.as_str()), (0, ""));
    let expected = [
        r#"seq=1 op=PUT key="k1" value="v1""#,
        r#"seq=2 op=DELETE key="k1" value="""#,
        r#"seq=3 op=7 key=0xff00 value="tab\t\"é\" \\ \r\n""#,
        r#"seq=4 op=CHECKPOINT key="" value="""#,
    ];
    assert_eq!(dump.stdout.lines().collect::<Vec<_>>(), expected);

    let after = walctl([OsStr::new("dump"), tmp.path().as_os_str(), OsStr::new("--after"), OsStr::new("2")]);
    assert_eq!(after.stdout.lines().collect::<Vec<_>>(), expected[2..]);
}

#[test]
fn dump_json_is_one_valid_object_per_line() {
    let tmp = TempDir::new("walctl-json");
    mixed_log(&tmp);
    let dump = walctl([OsStr::new("dump"), tmp.path().as_os_str(), OsStr::new("--json")]);
    assert_eq!(dump.status, 0);
    let objects: Vec<serde_json::Value> =
        dump.stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let expected = [
        serde_json::json!({"seq": 1, "op": 1, "op_name": "PUT", "key": "k1", "value": "v1"}),
        serde_json::json!({"seq": 2, "op": 2, "op_name": "DELETE", "key": "k1", "value": ""}),
        serde_json::json!({"seq": 3, "op": 7, "key_hex": "ff00", "value": "tab\t\"é\" \\ \r\n"}),
        serde_json::json!({"seq": 4, "op": 255, "op_name": "CHECKPOINT", "key": "", "value": ""}),
    ];
    assert_eq!(objects, expected);
}

#[test]
fn verify_passes_a_clean_log() {
    let tmp = TempDir::new("walctl-clean");
    let dir = log_of(&tmp, 100);
    let verify = run("verify", &dir);
    assert_eq!((verify.status, verify.stderr.as_str()), (0, ""));
    let segments = segments(&dir).len();
    let first_line = verify.stdout.lines().next().unwrap();
    assert_eq!(first_line, format!("ok: no damage in 100 records and {segments} segments; seq range 1..100"));
    assert!(verify.stdout.lines().any(|l| l == "writable open: cuts nothing"), "{}", verify.stdout);
}

/// Flips a byte inside the payload of frame `index` of `segment`; returns
/// where that frame starts.
fn damage_frame(segment: &Path, index: usize) -> u64 {
    let offset = frame_offsets(segment)[index];
    flip_byte(segment, offset + wal::format::FRAME_HEADER_LEN as u64 + 20);
    offset
}

fn assert_damage_reported(dir: &Path, segment: &Path, offset: u64) {
    let verify = run("verify", dir);
    assert_eq!(verify.status, 1, "{}", verify.stderr);
    let first_line = verify.stderr.lines().next().unwrap();
    assert!(first_line.starts_with("walctl verify: "), "{first_line}");
    assert!(first_line.contains(&segment.display().to_string()), "{first_line}");
    assert!(first_line.contains(&format!("offset {offset} (payload checksum mismatch)")), "{first_line}");
}

#[test]
fn verify_names_the_file_and_offset_of_damage_in_an_older_segment() {
    let tmp = TempDir::new("walctl-older");
    let dir = log_of(&tmp, 100);
    let oldest = &segments(&dir)[0];
    let offset = damage_frame(oldest, 5);
    assert_damage_reported(&dir, oldest, offset);
}

#[test]
fn verify_names_the_file_and_offset_of_damage_in_the_newest_segment() {
    let tmp = TempDir::new("walctl-newest");
    let dir = log_of(&tmp, 100);
    let newest = segments(&dir).pop().unwrap();
    assert!(frame_offsets(&newest).len() >= 3);
    let offset = damage_frame(&newest, 1);
    assert_damage_reported(&dir, &newest, offset);
}

#[test]
fn verify_reports_a_torn_tail_as_a_warning() {
    let tmp = TempDir::new("walctl-torn");
    let dir = log_of(&tmp, 100);
    let newest = segments(&dir).pop().unwrap();
    let last_frame = *frame_offsets(&newest).last().unwrap();
    // A crash in the middle of the last record's write: no clean close.
    let torn = b"half a record";
    shrink(&newest, last_frame);
    append_bytes(&newest, torn);
    clear_clean_mark(&dir);

    let verify = run("verify", &dir);
    assert_eq!(verify.status, 0, "{}", verify.stderr);
    assert!(verify.stdout.starts_with("ok: no damage in 99 records"), "{}", verify.stdout);
    assert!(verify.stdout.lines().next().unwrap().ends_with("; seq range 1..99"), "{}", verify.stdout);
    let cut = torn.len();
    let warning = format!(
        "walctl verify: warning: {}: torn tail: a writable open cuts the {cut} bytes from offset {last_frame}",
        newest.display()
    );
    assert!(verify.stderr.starts_with(&warning), "{}", verify.stderr);
}

/// As a crash leaves a log: no clean-close mark (in LOCK).
fn clear_clean_mark(dir: &Path) {
    fs::write(dir.join(wal::inspect::LOCK_FILE), b"").unwrap();
}

/// Every file of a directory: its bytes and its modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let modified = fs::metadata(&path).unwrap().modified().unwrap();
            (path.clone(), (fs::read(&path).unwrap(), modified))
        })
        .collect()
}

#[test]
fn read_commands_change_no_file_even_where_a_writable_open_would_repair() {
    let tmp = TempDir::new("walctl-readonly");
    let dir = log_of(&tmp, 100);
    // A torn tail, and a leftover of an interrupted segment creation: a
    // writable open would cut the one and delete the other.
    let newest = segments(&dir).pop().unwrap();
    append_bytes(&newest, b"torn write");
    fs::write(dir.join(format!("{:020}.wal", 101)), [0u8; 32]).unwrap();
    fs::remove_file(dir.join(wal::inspect::LOCK_FILE)).unwrap();

    let before = snapshot(&dir);
    for args in [&["stat"][..], &["dump"], &["dump", "--json"], &["dump", "--after", "50"], &["verify"]] {
        let run = walctl(args.iter().map(OsStr::new).chain([dir.as_os_str()]));
        assert_eq!(run.status, 0, "{args:?}: {}", run.stderr);
        assert_eq!(snapshot(&dir), before, "walctl {args:?} changed a file");
    }
    let stat = run("stat", &dir).stdout;
    assert!(stat.contains("00000000000000000101.wal  first seq 101  32 bytes (deleted by a writable open"), "{stat}");
}

#[test]
fn truncate_removes_records_up_to_seq() {
    let tmp = TempDir::new("walctl-truncate");
    let dir = log_of(&tmp, 100);
    let newest = segments(&dir).pop().unwrap();
    let data_end = file_len(&newest);
    append_bytes(&newest, b"torn write");
    let truncate = walctl([OsStr::new("truncate"), dir.as_os_str(), OsStr::new("60")]);
    assert_eq!((truncate.status, truncate.stderr.as_str()), (0, ""), "{}", truncate.stdout);
    assert!(truncate.stdout.contains("first seq 61, last seq 100"), "{}", truncate.stdout);
    // Cut, nothing preallocated; a sync mark (32 bytes) vouches for the
    // records the cut left, as the clean-close mark no longer does.
    assert_eq!(file_len(&newest), data_end + 32, "the open cut the torn tail, and preallocated nothing");

    let wal = Wal::open(&dir, Options { read_only: true, ..small(4096) }).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (61, 100));
    assert_eq!(common::seqs(&wal, 0), (61..=100).collect::<Vec<_>>());
    drop(wal);

    assert_eq!(walctl([OsStr::new("truncate"), dir.as_os_str(), OsStr::new("100")]).status, 0);
    let stat = run("stat", &dir).stdout;
    for line in
        ["seq range:        empty (the next record gets seq 101)", "records:          0", "truncation floor: 100"]
    {
        assert!(stat.lines().any(|l| l == line), "no line {line:?} in:\n{stat}");
    }
}

#[test]
fn errors_are_one_line_with_the_library_text_and_a_documented_status() {
    let tmp = TempDir::new("walctl-errors");
    let dir = log_of(&tmp, 10);
    let check = |args: &[&OsStr], status: i32, text: &str| {
        let run = walctl(args);
        assert_eq!(run.status, status, "{args:?}: {}", run.stderr);
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.contains(text), "{args:?}: {}", run.stderr);
    };
    let (dir, arg) = (dir.as_os_str(), OsStr::new);
    let missing = tmp.path().join("missing");
    check(&[arg("dump"), missing.as_os_str()], 3, "No such file or directory");
    check(&[arg("truncate"), dir, arg("11")], 5, "cannot truncate up to seq 11: the last seq is 10");

    let writer = Wal::open(dir, small(4096)).unwrap();
    check(&[arg("truncate"), dir, arg("5")], 4, "another handle has this log open for writing");
    writer.truncate(5).unwrap();
    check(&[arg("dump"), dir, arg("--after"), arg("2")], 5, "the log was truncated, its first seq is 6");
}

fn args<'a>(command: &'a str, dir: &'a Path, rest: &'a [&'a str]) -> Vec<&'a OsStr> {
    [OsStr::new(command), dir.as_os_str()].into_iter().chain(rest.iter().map(OsStr::new)).collect()
}

fn json(run: &Run) -> serde_json::Value {
    assert_eq!(run.stdout.lines().count(), 1, "one JSON object on one line:\n{}", run.stdout);
    serde_json::from_str(&run.stdout).expect("stdout is JSON")
}

fn dumped_seqs(run: &Run) -> Vec<u64> {
    let seq = |line: &str| line.strip_prefix("seq=")?.split(' ').next()?.parse().ok();
    run.stdout.lines().map(|l| seq(l).unwrap_or_else(|| panic!("not a record line: {l}"))).collect()
}

#[test]
fn a_directory_with_no_log_is_not_an_empty_log() {
    let tmp = TempDir::new("walctl-nolog");
    fs::create_dir_all(tmp.path()).unwrap();
    fs::write(tmp.path().join("notes.txt"), "not a log").unwrap();
    for command in ["stat", "verify", "dump", "salvage"] {
        let run = run(command, tmp.path());
        assert_eq!(run.status, 7, "{command}: {}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout, "", "{command}");
        let expected = format!("walctl {command}: {}: no libwal log here: no segment file", tmp.path().display());
        assert!(run.stderr.starts_with(&expected), "{command}: {}", run.stderr);
    }
    assert_eq!(walctl(args("truncate", tmp.path(), &["0"])).status, 7);
    assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1, "truncate created no log");
    assert!(walctl(["--help"]).stdout.contains("7  no log in the directory"));

    // A log whose every record was truncated is a log.
    let empty = TempDir::new("walctl-emptylog");
    let wal = fill(empty.path(), small(4096), 3, 10);
    wal.truncate(3).unwrap();
    close(wal);
    let verify = run("verify", empty.path());
    assert_eq!(verify.status, 0, "{}", verify.stderr);
    let ok = "ok: no damage in 0 records and 0 segments; seq range empty (the next record gets seq 4)";
    assert_eq!(verify.stdout.lines().next(), Some(ok));
}

#[test]
fn stat_json_is_one_object_with_the_text_facts() {
    let tmp = TempDir::new("walctl-statjson");
    let wal = fill(tmp.path(), small(4096), 100, 100);
    let checkpoint = wal.checkpoint().unwrap();
    wal.truncate(30).unwrap();
    close(wal);
    let stat = walctl(args("stat", tmp.path(), &["--json"]));
    assert_eq!((stat.status, stat.stderr.as_str()), (0, ""));
    let stat = json(&stat);
    let files = segments(tmp.path());
    assert_eq!(stat["log"], tmp.path().to_str().unwrap());
    assert_eq!(stat["format_version"], wal::format::FORMAT_VERSION);
    assert_eq!(stat["first_seq"], 31);
    assert_eq!(stat["last_seq"], 101);
    assert_eq!(stat["records"], 71);
    assert_eq!(stat["last_checkpoint"], checkpoint);
    assert_eq!(stat["truncation_floor"], 30);
    assert_eq!(stat["writer_lock"], serde_json::json!({"state": "free", "pid": null, "error": null}));
    assert_eq!(stat["open_report"]["tail_cut"], false);
    assert_eq!(stat["salvage"], serde_json::Value::Null);
    assert_eq!(stat["damage"], serde_json::Value::Null);
    assert_eq!(stat["segment_bytes"], files.iter().map(|f| file_len(f)).sum::<u64>());
    let listed: Vec<(String, u64)> = stat["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["path"].as_str().unwrap().to_string(), s["bytes"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = files.iter().map(|f| (f.to_str().unwrap().to_string(), file_len(f))).collect();
    assert_eq!(listed, expected);
}

#[test]
fn verify_json_says_ok_or_names_the_damage() {
    let tmp = TempDir::new("walctl-verifyjson");
    let dir = log_of(&tmp, 100);
    let verify = walctl(args("verify", &dir, &["--json"]));
    assert_eq!((verify.status, verify.stderr.as_str()), (0, ""));
    let ok = json(&verify);
    assert_eq!(
        (ok["ok"].clone(), ok["records"].clone(), ok["first_seq"].clone(), ok["last_seq"].clone()),
        (true.into(), 100.into(), 1.into(), 100.into())
    );
    assert_eq!(ok["segments"], segments(&dir).len());
    assert_eq!(ok["damage"], serde_json::Value::Null);

    let oldest = &segments(&dir)[0];
    let offset = damage_frame(oldest, 5);
    let verify = walctl(args("verify", &dir, &["--json"]));
    assert_eq!(verify.status, 1);
    let bad = json(&verify);
    assert_eq!((bad["ok"].clone(), bad["records"].clone()), (false.into(), 5.into()));
    let damage = bad["damage"].as_str().unwrap();
    assert!(damage.starts_with(&format!("{}: the log breaks off at offset {offset}", oldest.display())), "{damage}");
    assert!(verify.stderr.starts_with("walctl verify: "), "the error is on stderr too: {}", verify.stderr);
}

/// A log whose newest segment TAIL recovery refuses: a flipped byte in its
/// second frame, with later frames written after it was synced. Returns
/// the directory and the seq of the damaged record.
fn log_with_damaged_newest_segment(tmp: &TempDir) -> (PathBuf, u64) {
    let dir = log_of(tmp, 100);
    let newest = segments(&dir).pop().unwrap();
    damage_frame(&newest, 1);
    (dir, first_seq_of(&newest) + 1)
}

fn first_seq_of(segment: &Path) -> u64 {
    segment.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

#[test]
fn dump_of_a_damaged_newest_segment_prints_every_record_before_the_damage_then_the_error() {
    let tmp = TempDir::new("walctl-dumpdamaged");
    let (dir, damaged_seq) = log_with_damaged_newest_segment(&tmp);
    assert_eq!(last_seq_after_tail_open(&dir).unwrap_err().kind(), wal::ErrorKind::Corrupt);

    let dump = run("dump", &dir);
    assert_eq!(dump.status, 1, "{}", dump.stderr);
    assert_eq!(dumped_seqs(&dump), (1..damaged_seq).collect::<Vec<_>>());
    assert_eq!(dump.stderr.lines().count(), 1, "{}", dump.stderr);
    assert!(dump.stderr.contains("damaged record at offset"), "TAIL's error: {}", dump.stderr);

    let json_dump = walctl(args("dump", &dir, &["--json", "--from", "3"]));
    assert_eq!(json_dump.status, 1);
    assert_eq!(json_dump.stdout.lines().count() as u64, damaged_seq - 3);
}

#[test]
fn stat_of_a_damaged_log_shows_what_it_can_then_the_damage() {
    let tmp = TempDir::new("walctl-statdamaged");
    let (dir, damaged_seq) = log_with_damaged_newest_segment(&tmp);
    let stat = run("stat", &dir);
    assert_eq!(stat.status, 1, "{}", stat.stderr);
    let records = format!("records:          {} before the damage", damaged_seq - 1);
    assert!(stat.stdout.lines().any(|l| l == records), "no line {records:?} in:\n{}", stat.stdout);
    assert!(stat.stdout.contains(&format!("segments:         {} files", segments(&dir).len())), "{}", stat.stdout);
    assert!(stat.stderr.contains("damaged record at offset"), "{}", stat.stderr);

    let stat = json(&walctl(args("stat", &dir, &["--json"])));
    assert_eq!((stat["records"].clone(), stat["read_with"].clone()), ((damaged_seq - 1).into(), "salvage".into()));
    assert!(stat["damage"].as_str().unwrap().contains("damaged record at offset"));
}

#[test]
fn dump_from_to_limit_select_records_and_hex_shows_every_key_and_value_as_hex() {
    let tmp = TempDir::new("walctl-dumprange");
    let dir = log_of(&tmp, 100);
    let select = |rest: &[&str]| {
        let run = walctl(args("dump", &dir, rest));
        assert_eq!(run.status, 0, "{rest:?}: {}", run.stderr);
        dumped_seqs(&run)
    };
    assert_eq!(select(&["--from", "40", "--to", "45"]), (40..=45).collect::<Vec<_>>());
    assert_eq!(select(&["--from", "98"]), [98, 99, 100]);
    assert_eq!(select(&["--after", "10", "--limit", "3"]), [11, 12, 13]);
    assert_eq!(select(&["--to", "2"]), [1, 2]);
    assert_eq!(select(&["--from", "50", "--to", "50", "--limit", "9"]), [50]);
    assert_eq!(select(&["--limit", "0"]), Vec::<u64>::new());
    let empty = walctl(args("dump", &dir, &["--from", "50", "--to", "49"]));
    assert_eq!((empty.status, empty.stdout.as_str()), (2, ""), "{}", empty.stderr);
    assert_eq!(walctl(args("dump", &dir, &["--from", "5", "--after", "4"])).status, 2);

    let mixed = TempDir::new("walctl-dumphex");
    mixed_log(&mixed);
    let hex = walctl(args("dump", mixed.path(), &["--hex", "--to", "3"]));
    let expected = [
        "seq=1 op=PUT key=0x6b31 value=0x7631",
        "seq=2 op=DELETE key=0x6b31 value=0x",
        &format!("seq=3 op=7 key=0xff00 value=0x{}", hex_of("tab\t\"é\" \\ \r\n".as_bytes())),
    ];
    assert_eq!(hex.stdout.lines().collect::<Vec<_>>(), expected);
    let hex_json = walctl(args("dump", mixed.path(), &["--hex", "--json", "--to", "1"]));
    let object: serde_json::Value = serde_json::from_str(hex_json.stdout.trim_end()).unwrap();
    assert_eq!(
        object,
        serde_json::json!({"seq": 1, "op": 1, "op_name": "PUT", "key_hex": "6b31", "value_hex": "7631"})
    );
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn truncate_says_nothing_to_do_when_nothing_changed() {
    let tmp = TempDir::new("walctl-truncate-noop");
    let dir = log_of(&tmp, 10);
    let zero = walctl(args("truncate", &dir, &["0"]));
    assert_eq!((zero.status, zero.stderr.as_str()), (0, ""));
    assert_eq!(
        zero.stdout,
        format!("nothing to do: {} holds no record up to seq 0\nfirst seq 1, last seq 10\n", dir.display())
    );
    assert!(walctl(args("truncate", &dir, &["4"])).stdout.starts_with("truncated "));
    let again = walctl(args("truncate", &dir, &["4"]));
    assert!(again.stdout.starts_with("nothing to do: "), "{}", again.stdout);
    assert!(again.stdout.ends_with("first seq 5, last seq 10\n"), "{}", again.stdout);
}

#[test]
fn completions_and_man_pages_come_from_the_command_line_definitions() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef walctl"), ("fish", "complete -c walctl")] {
        let run = walctl(["completions", shell]);
        assert_eq!((run.status, run.stderr.as_str()), (0, ""), "{shell}");
        assert!(run.stdout.contains(marker), "{shell}: {}", run.stdout);
        for word in ["salvage", "verify", "json", "limit"] {
            assert!(run.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
    let man = walctl(["man"]);
    assert_eq!((man.status, man.stderr.as_str()), (0, ""));
    assert!(man.stdout.starts_with(".ie \\n(.g .ds Aq \\(aq") || man.stdout.contains(".TH walctl 1"), "{}", man.stdout);
    for word in ["salvage", "no log in the directory"] {
        assert!(man.stdout.contains(word), "walctl.1 lacks {word}:\n{}", man.stdout);
    }
    let tmp = TempDir::new("walctl-man");
    fs::create_dir_all(tmp.path()).unwrap();
    assert_eq!(walctl([OsStr::new("man"), OsStr::new("--out-dir"), tmp.path().as_os_str()]).status, 0);
    let mut pages: Vec<String> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    pages.sort();
    let names = [
        "walctl-completions.1",
        "walctl-dump.1",
        "walctl-man.1",
        "walctl-salvage.1",
        "walctl-stat.1",
        "walctl-truncate.1",
        "walctl-upgrade.1",
        "walctl-verify.1",
        "walctl.1",
    ];
    assert_eq!(pages, names);
    assert!(fs::read_to_string(tmp.path().join("walctl-dump.1")).unwrap().contains("\\-\\-hex"));
}

/// Holds an exclusive flock on `path` (a file or a directory) until dropped.
struct Flock(#[allow(dead_code)] fs::File);

impl Flock {
    fn take(path: &Path) -> Flock {
        use std::os::fd::AsRawFd;
        let file = fs::File::open(path).unwrap();
        // SAFETY: flock on a descriptor this function owns.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        Flock(file)
    }
}

#[test]
fn stat_finds_a_writer_that_locks_the_directory_itself() {
    let tmp = TempDir::new("walctl-dirlock");
    let dir = log_of(&tmp, 3);
    let held = format!("writer lock:      held by process {}", std::process::id());
    let lock = Flock::take(&dir);
    assert!(run("stat", &dir).stdout.lines().any(|l| l == held), "{}", run("stat", &dir).stdout);
    // Removing LOCK does not hide that writer.
    fs::remove_file(dir.join(wal::inspect::LOCK_FILE)).unwrap();
    assert!(run("stat", &dir).stdout.lines().any(|l| l == held));
    let stat = json(&walctl(args("stat", &dir, &["--json"])));
    assert_eq!(stat["writer_lock"]["state"], "held");
    assert_eq!(stat["writer_lock"]["pid"], std::process::id());
    drop(lock);
    // Another test's thread may be spawning a walctl meanwhile: its child
    // holds a copy of every descriptor, this lock's too, from the fork until
    // the exec closes them (they are close-on-exec), and the lock is only
    // released then. A fresh-clone make check (load 3) once saw the lock
    // still held by this process right after the drop, which that window
    // explains. So: free within a few seconds.
    let free = "writer lock:      free";
    let mut out = String::new();
    for _ in 0..100 {
        out = run("stat", &dir).stdout;
        if out.lines().any(|l| l == free) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("{out}");
}

/// A pseudo-terminal for walctl's stdin: the answer is typed on `master`.
struct Pty {
    master: fs::File,
    slave: fs::File,
}

impl Pty {
    fn open() -> Pty {
        use std::os::fd::FromRawFd;
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty fills in two descriptors, which become owned Files.
        let rc =
            unsafe { libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null()) };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        unsafe { Pty { master: fs::File::from_raw_fd(master), slave: fs::File::from_raw_fd(slave) } }
    }
}

/// `walctl salvage DIR` with `answer` typed on its terminal.
fn salvage_answering(dir: &Path, answer: &str) -> Run {
    use std::io::Write;
    let mut pty = Pty::open();
    pty.master.write_all(answer.as_bytes()).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_walctl"));
    command.arg("salvage").arg(dir).stdin(pty.slave.try_clone().unwrap());
    walctl_with(&mut command)
}

fn last_seq_after_tail_open(dir: &Path) -> wal::Result<u64> {
    Wal::open(dir, Options { read_only: true, ..small(4096) }).map(|wal| wal.last_seq())
}

#[test]
fn salvage_shows_what_it_drops_and_cuts_only_when_told_to() {
    let tmp = TempDir::new("walctl-salvage");
    let (dir, damaged_seq) = log_with_damaged_newest_segment(&tmp);
    let before = snapshot(&dir);

    // No terminal to ask on and no --yes: the plan, and nothing changes.
    let refused = run("salvage", &dir);
    assert_eq!(refused.status, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("pass --yes"), "{}", refused.stderr);
    let keeps = format!("keeps:   seq range 1..{}", damaged_seq - 1);
    assert!(refused.stdout.lines().any(|l| l == keeps), "no {keeps:?} in:\n{}", refused.stdout);
    assert!(
        refused.stdout.contains(&format!("drops:   seq {damaged_seq} and every later record")),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("damage:  ") && refused.stdout.contains("damaged record at offset"));
    assert_eq!(snapshot(&dir), before);

    // Asked on a terminal: "n" changes nothing, "y" cuts.
    let declined = salvage_answering(&dir, "n\n");
    assert_eq!(declined.status, 1, "{}", declined.stderr);
    let question = "Cut the log there and drop those records? [y/N] \n";
    assert_eq!(declined.stderr, format!("{question}walctl salvage: nothing changed: the log is still damaged\n"));
    assert_eq!(snapshot(&dir), before);

    let accepted = salvage_answering(&dir, "y\n");
    assert_eq!((accepted.status, accepted.stderr.as_str()), (0, question), "{}", accepted.stdout);
    let done = format!("salvaged {}: seq range 1..{}", dir.display(), damaged_seq - 1);
    assert!(accepted.stdout.lines().any(|l| l == done), "{}", accepted.stdout);
    assert_eq!(last_seq_after_tail_open(&dir).unwrap(), damaged_seq - 1);
    assert_eq!(run("verify", &dir).status, 0);
}

#[test]
fn salvage_yes_cuts_at_damage_in_an_older_segment_without_asking() {
    let tmp = TempDir::new("walctl-salvage-older");
    let dir = log_of(&tmp, 100);
    let files = segments(&dir);
    let second_first_seq: u64 = files[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    damage_frame(&files[1], 2);
    let damaged_seq = second_first_seq + 2;

    // Not while a writer has the log open.
    let writer = Wal::open(&dir, small(4096)).unwrap();
    let locked = walctl(args("salvage", &dir, &["--yes"]));
    assert_eq!((locked.status, locked.stdout.as_str()), (4, ""), "{}", locked.stderr);
    let held =
        format!("walctl salvage: {}: process {} has this log open for writing\n", dir.display(), std::process::id());
    assert_eq!(locked.stderr, held);
    close(writer);
    assert_eq!(segments(&dir), files);

    let salvage = walctl(args("salvage", &dir, &["--yes"]));
    assert_eq!((salvage.status, salvage.stderr.as_str()), (0, ""), "{}", salvage.stdout);
    let expected = [
        format!("keeps:   seq range 1..{}", damaged_seq - 1),
        format!("drops:   seqs {damaged_seq} to 100"),
        format!("deletes: {} that start after seq {damaged_seq}", count(files.len() as u64 - 2, "segment file")),
        format!("salvaged {}: seq range 1..{}", dir.display(), damaged_seq - 1),
        format!("the next record gets seq {damaged_seq}"),
    ];
    for line in expected {
        assert!(salvage.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", salvage.stdout);
    }
    assert_eq!(segments(&dir).len(), 2);
    assert_eq!(last_seq_after_tail_open(&dir).unwrap(), damaged_seq - 1);

    let again = walctl(args("salvage", &dir, &["--yes"]));
    assert_eq!((again.status, again.stderr.as_str()), (0, ""));
    assert!(again.stdout.starts_with("nothing to salvage: no damage"), "{}", again.stdout);
}

fn count(n: u64, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[test]
fn stat_and_verify_show_the_open_report_of_a_torn_tail() {
    let tmp = TempDir::new("walctl-report-torn");
    let dir = log_of(&tmp, 100); // no preallocation: the file ends at the last frame
    let newest = segments(&dir).pop().unwrap();
    let end = file_len(&newest);
    let garbage = b"half a frame from a write the power cut";
    append_bytes(&newest, garbage);
    clear_clean_mark(&dir);
    let (len, path) = (garbage.len(), newest.display());
    let records_before = frame_offsets(&newest);
    let cut = format!("cuts the {len} bytes from offset {end} of {path} (a torn tail)");
    let not_clean = "no (the last writer did not close the log, or it was changed since)";

    let stat = run("stat", &dir);
    assert_eq!((stat.status, stat.stderr.as_str()), (0, ""));
    for line in [format!("clean close:      {not_clean}"), format!("writable open:    {cut}")] {
        assert!(stat.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", stat.stdout);
    }
    let verify = run("verify", &dir);
    assert_eq!(verify.status, 0, "{}", verify.stderr);
    for line in [format!("clean close:   {not_clean}"), format!("writable open: {cut}")] {
        assert!(verify.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", verify.stdout);
    }
    let expected = serde_json::json!({
        "clean_close": false, "tail_cut": true, "cut_offset": end, "bytes_cut": len, "salvage_dropped_from": 0,
    });
    assert_eq!(json(&walctl(args("stat", &dir, &["--json"])))["open_report"], expected);
    assert_eq!(json(&walctl(args("verify", &dir, &["--json"])))["open_report"], expected);

    // What walctl read off a read-only open is what a writable open does.
    let wal = Wal::open(&dir, small(4096)).unwrap();
    let report = wal.open_report();
    assert_eq!((report.tail_cut, report.cut_offset, report.bytes_cut), (true, end, len as u64));
    close(wal);
    assert_eq!(frame_offsets(&newest), records_before);
    assert_eq!(last_seq_after_tail_open(&dir).unwrap(), 100);
    assert!(run("stat", &dir).stdout.lines().any(|l| l == "writable open:    cuts nothing"));
}

#[test]
fn stat_and_verify_of_a_damaged_log_show_what_a_salvage_open_keeps_and_cuts() {
    let tmp = TempDir::new("walctl-report-salvage");
    let dir = log_of(&tmp, 100);
    let newest = segments(&dir).pop().unwrap();
    let frame_offsets_before_damage = frame_offsets(&newest)[..1].to_vec();
    let offset = damage_frame(&newest, 1);
    let damaged_seq = first_seq_of(&newest) + 1;
    let bytes = file_len(&newest) - offset;
    let salvage = format!(
        "keeps seq range 1..{}, drops every record from seq {damaged_seq}; cuts the {bytes} bytes from offset \
         {offset} of the newest segment it keeps",
        damaged_seq - 1
    );
    let stat = run("stat", &dir);
    assert_eq!(stat.status, 1);
    for line in [
        "writable open:    refuses the log: it is damaged (walctl salvage cuts it)".to_string(),
        format!("salvage open:     {salvage}"),
    ] {
        assert!(stat.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", stat.stdout);
    }
    let verify = run("verify", &dir);
    assert_eq!(verify.status, 1);
    assert!(verify.stdout.lines().any(|l| l == format!("salvage open:  {salvage}")), "{}", verify.stdout);

    for command in ["stat", "verify"] {
        let found = json(&walctl(args(command, &dir, &["--json"])));
        assert_eq!(found["open_report"], serde_json::Value::Null, "{command}: TAIL refuses the log");
        let view = &found["salvage"];
        assert_eq!((view["first_seq"].clone(), view["last_seq"].clone()), (1.into(), (damaged_seq - 1).into()));
        let report = &view["open_report"];
        assert_eq!(report["salvage_dropped_from"], damaged_seq);
        assert_eq!((report["tail_cut"].clone(), report["cut_offset"].clone()), (true.into(), offset.into()));
        assert_eq!(report["bytes_cut"], bytes);
    }

    let salvaged = walctl(args("salvage", &dir, &["--yes"]));
    assert_eq!(salvaged.status, 0, "{}", salvaged.stderr);
    let cuts = format!("cuts:    the {bytes} bytes from offset {offset} of the newest segment it keeps");
    let cut = format!("cut the {bytes} bytes from offset {offset} of the newest segment");
    for line in [cuts, cut] {
        assert!(salvaged.stdout.lines().any(|l| l == line), "no line {line:?} in:\n{}", salvaged.stdout);
    }
    assert_eq!(frame_offsets(&newest), frame_offsets_before_damage);
    assert_eq!(last_seq_after_tail_open(&dir).unwrap(), damaged_seq - 1);
}

#[test]
fn stat_and_verify_say_whether_the_last_writer_closed_the_log_cleanly() {
    let tmp = TempDir::new("walctl-clean-close");
    let dir = log_of(&tmp, 10);
    let clean = |command: &str| json(&walctl(args(command, &dir, &["--json"])))["open_report"]["clean_close"].clone();
    assert!(run("stat", &dir).stdout.lines().any(|l| l == "clean close:      yes"), "{}", run("stat", &dir).stdout);
    assert!(run("verify", &dir).stdout.lines().any(|l| l == "clean close:   yes"), "{}", run("verify", &dir).stdout);
    assert_eq!((clean("stat"), clean("verify")), (true.into(), true.into()));

    // A writer that is still running, or died, left no mark.
    let writer = Wal::open(&dir, small(4096)).unwrap();
    writer.append(1, b"k", b"v").unwrap();
    assert_eq!((clean("stat"), clean("verify")), (false.into(), false.into()));
    close(writer);
    assert_eq!(clean("stat"), true);
}

#[test]
fn a_deleted_middle_segment_is_reported_as_the_records_it_held() {
    let tmp = TempDir::new("walctl-missing");
    let dir = log_of(&tmp, 100);
    let files = segments(&dir);
    assert!(files.len() >= 3);
    fs::remove_file(&files[1]).unwrap();
    let (from, to) = (first_seq_of(&files[1]), first_seq_of(&files[2]) - 1);
    let missing = format!("records {from} to {to} are missing");

    let verify = run("verify", &dir);
    assert_eq!(verify.status, 1, "{}", verify.stderr);
    assert!(verify.stderr.starts_with("walctl verify: ") && verify.stderr.contains(&missing), "{}", verify.stderr);
    assert!(!verify.stderr.contains("breaks off"), "{}", verify.stderr);
    let verify = json(&walctl(args("verify", &dir, &["--json"])));
    assert!(verify["damage"].as_str().unwrap().contains(&missing), "{verify}");
    let dropped_from = verify["salvage"]["open_report"]["salvage_dropped_from"].clone();
    assert_eq!((verify["records"].clone(), dropped_from), ((from - 1).into(), from.into()));

    let dump = run("dump", &dir);
    assert_eq!(dump.status, 1);
    assert_eq!(dumped_seqs(&dump), (1..from).collect::<Vec<_>>());
    assert!(dump.stderr.contains(&missing), "{}", dump.stderr);
}
