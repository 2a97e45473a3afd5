//go:build libwal_checkout

package wal

// With `-tags libwal_checkout` the package builds against the libwal
// checkout it lives in (`make test-go` does this for the package's own
// tests): run `make` at the repository root first. The rpath lets test
// binaries find libwal.so.0 in target/release without LD_LIBRARY_PATH.
// This works only in the checkout itself, not for a copy of the package
// (a vendor directory or the module cache), whose ${SRCDIR}/../../..
// is no libwal checkout.

// #cgo CFLAGS: -I${SRCDIR}/../../../include
// #cgo LDFLAGS: -L${SRCDIR}/../../../target/release -lwal -Wl,-rpath,${SRCDIR}/../../../target/release
import "C"
