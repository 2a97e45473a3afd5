//! Generates include/wal.h from the `extern "C"` layer with cbindgen and sets
//! the shared library's soname.
use std::{env, fs, path::PathBuf};

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=include/wal.h");

    // The soname names the ABI: MAJOR, or 0.MINOR while the major version
    // is 0 (each 0.x release may change the ABI: 0.2 grew wal_options_t).
    let major = env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
    let minor = env::var("CARGO_PKG_VERSION_MINOR").unwrap();
    let abi = if major == "0" { format!("0.{minor}") } else { major };
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwal.so.{abi}");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml must parse");
    let bindings = cbindgen::Builder::new()
        .with_src(crate_dir.join("src").join("ffi").join("mod.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen failed to generate include/wal.h");
    let mut generated = Vec::new();
    bindings.write(&mut generated);

    // Rewrite the committed header only when it changed, so its mtime stays
    // put and `make check` can compare it with the committed copy.
    let header = crate_dir.join("include").join("wal.h");
    if fs::read(&header).ok().as_deref() != Some(&generated[..]) {
        fs::create_dir_all(header.parent().unwrap()).unwrap();
        fs::write(&header, &generated).expect("cannot write include/wal.h");
    }
}
