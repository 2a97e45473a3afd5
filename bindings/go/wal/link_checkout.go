//go:build !libwal_pkgconfig

package wal

// By default the package builds against the libwal checkout it lives in:
// run `make` at the repository root first. The rpath lets test binaries
// and programs find libwal.so.0 without LD_LIBRARY_PATH.

// #cgo CFLAGS: -I${SRCDIR}/../../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../../target/release -lwal -Wl,-rpath,${SRCDIR}/../../../target/release
import "C"
