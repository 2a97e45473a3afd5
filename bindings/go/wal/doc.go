// Package wal is the Go binding of libwal, a crash-safe write-ahead log for
// storage engines (a Rust library with a C API, used here through cgo).
//
// A log is a directory of segment files. Every record gets a sequence
// number (seq) starting at 1. An engine appends records before applying
// them, takes a checkpoint N when it freezes its state, truncates the log
// up to N once that state is stored, and after a crash replays the records
// after N:
//
//	w, err := wal.Open("data/wal", nil) // nil: the defaults (SyncAlways)
//	if err != nil { ... }
//	seq, err := w.Append(wal.OpPut, []byte("k1"), []byte("v1")) // durable on return
//	n, err := w.Checkpoint()   // every record <= n is durable
//	// ... write the frozen state and n durably ...
//	err = w.Truncate(n)        // records <= n are gone for good
//	err = w.Close()
//
//	// After a restart: load the stored state and its n, then
//	w, err = wal.Open("data/wal", nil)
//	it, err := w.Iter(n)       // the records with seq > n, in order
//	for it.Next() {
//		r := it.Record()   // r.Seq, r.Op, r.Key, r.Value (copies)
//	}
//	err = it.Err()
//	it.Close()
//
//	// or, with a callback whose error stops the replay:
//	err = w.Replay(n, func(r wal.Record) error { return apply(r) })
//
// The libwal README (Guarantees, Concurrent writers: the safe order) says
// what survives a crash in each sync mode and in which order to freeze,
// checkpoint and truncate when several goroutines append.
//
// # Errors
//
// Failures reported by libwal are *Error values carrying the status code,
// libwal's message (naming the file and the OS error where there is one)
// and, for an ErrIO, the OS error as a syscall.Errno that Unwrap returns.
// Test them with errors.Is against ErrInvalid, ErrIO, ErrCorrupt,
// ErrLocked, ErrPoisoned, ErrRange, ErrReadOnly and ErrInternal, and
// against the standard library's errors (Wait's, when its context ends
// first, match the context's error, and ErrTimeout for a deadline):
//
//	_, err := wal.Open(dir, &wal.Options{NoCreate: true})
//	if errors.Is(err, fs.ErrNotExist) { ... } // ENOENT: no such directory
//	_, err = w.Append(op, key, value)
//	if errors.Is(err, syscall.ENOSPC) { ... } // the disk is full; w is poisoned
//
// Calls on a closed WAL return ErrClosed.
//
// # Goroutines
//
// A WAL may be used by many goroutines at once; concurrent appends share
// fdatasyncs. Close waits for the calls in flight. An Iter is meant for one
// goroutine at a time (it is guarded, so misuse is safe but serialised).
//
// # Building
//
// The package finds libwal through pkg-config (`#cgo pkg-config: wal`): run
// `make install PREFIX=...` in the libwal checkout, which installs wal.pc
// into $PREFIX/lib/pkgconfig, and point PKG_CONFIG_PATH there if pkg-config
// does not search that prefix:
//
//	make install PREFIX=$HOME/.local
//	PKG_CONFIG_PATH=$HOME/.local/lib/pkgconfig go build ./...
//
// wal.pc carries an rpath to its libdir unless that is a system library
// directory (/usr/lib...), so the program finds libwal.so at run time
// without LD_LIBRARY_PATH. Go's build cache does not notice a changed C
// library or header: after installing a new libwal, rebuild with
// `go build -a` (or `go clean -cache`).
//
// In a go.mod, require the module and point it at a checkout (the module
// is not published):
//
//	require github.com/libwal/libwal/bindings/go v0.0.0
//	replace github.com/libwal/libwal/bindings/go => ../libwal/bindings/go
//
// `go mod vendor` then copies the package, shim.c and shim.h included.
//
// The build tag libwal_checkout builds against the checkout the package
// lives in instead (include/ and target/release, after `make`, with an
// rpath to target/release); libwal's own `make test-go` uses it for the
// package's tests. It works only in the checkout itself, not in a vendor
// directory or the module cache.
//
// The package needs cgo (CGO_ENABLED=1, a C compiler) and nothing outside
// the Go standard library.
package wal
