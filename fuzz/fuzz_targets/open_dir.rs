//! Opens a log directory built from the fuzzer's bytes in every mode and
//! replays it; see `wal_fuzz::open_dir` for what the bytes mean and what is
//! checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wal_fuzz::open_dir(data));
