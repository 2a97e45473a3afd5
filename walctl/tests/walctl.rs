//! walctl end to end: logs built with the `wal` crate, the real binary run
//! on them, its output and exit status checked.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{append_bytes, file_len, fill, flip_byte, segments, shrink, small, TempDir};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
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

fn walctl<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(args: I) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_walctl")).args(args).output().unwrap();
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
    fill(tmp.path(), small(4096), n, 100).close().unwrap();
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
    wal.close().unwrap();

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
    wal.close().unwrap();
    assert!(run("stat", tmp.path()).stdout.lines().any(|l| l == "writer lock:      free"));
}

/// PUT, DELETE, an unnamed op with a binary key, a checkpoint.
fn mixed_log(tmp: &TempDir) {
    let wal = Wal::open(tmp.path(), small(4096)).unwrap();
    wal.append(1, b"k1", b"v1").unwrap();
    wal.append(2, b"k1", b"").unwrap();
    wal.append(7, &[0xff, 0x00], "tab\t\"é\" \\ \r\n".as_bytes()).unwrap();
    wal.checkpoint().unwrap();
    wal.close().unwrap();
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
    assert_eq!(verify.stdout, format!("ok: no damage in 100 records and {segments} segments; seq range 1..100\n"));
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
    assert!(first_line.contains(&format!("offset {offset} (frame checksum mismatch)")), "{first_line}");
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
    shrink(&newest, file_len(&newest) - 5);

    let verify = run("verify", &dir);
    assert_eq!(verify.status, 0, "{}", verify.stderr);
    assert!(verify.stdout.starts_with("ok: no damage in 99 records"), "{}", verify.stdout);
    assert!(verify.stdout.ends_with("; seq range 1..99\n"), "{}", verify.stdout);
    let cut = file_len(&newest) - last_frame;
    let warning = format!(
        "walctl verify: warning: {}: torn tail: a writable open cuts the {cut} bytes from offset {last_frame}",
        newest.display()
    );
    assert!(verify.stderr.starts_with(&warning), "{}", verify.stderr);
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
    assert_eq!(file_len(&newest), data_end, "the open cut the torn tail, and preallocated nothing");

    let wal = Wal::open(&dir, Options { read_only: true, ..small(4096) }).unwrap();
    assert_eq!((wal.first_seq(), wal.last_seq()), (61, 100));
    assert_eq!(common::seqs(&wal, 0), (61..=100).collect::<Vec<_>>());
    drop(wal);

    assert_eq!(walctl([OsStr::new("truncate"), dir.as_os_str(), OsStr::new("100")]).status, 0);
    let stat = run("stat", &dir).stdout;
    for line in ["seq range:        empty (the next record gets seq 101)", "records:          0", "truncation floor: 100"] {
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
