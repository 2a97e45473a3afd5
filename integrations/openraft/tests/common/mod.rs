//! A directory for one test, removed when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct TestDir {
    path: PathBuf,
}

impl TestDir {
    /// A fresh directory under the target directory's tmp (cargo's
    /// CARGO_TARGET_TMPDIR), named after the test and the process.
    pub fn new(name: &str) -> TestDir {
        let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        TestDir::under(&base, &format!("{name}-{}", std::process::id()))
    }

    pub fn under(base: &Path, name: &str) -> TestDir {
        let path = base.join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TestDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
