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
// The libwal README (Guarantees, Concurrent writers: the safe order) says
// what survives a crash in each sync mode and in which order to freeze,
// checkpoint and truncate when several goroutines append.
//
// # Errors
//
// Failures reported by libwal are *Error values carrying the status code
// and libwal's message (naming the file and the OS error where there is
// one). Test them with errors.Is against ErrInvalid, ErrIO, ErrCorrupt,
// ErrLocked, ErrPoisoned, ErrRange, ErrReadOnly and ErrInternal. Calls on a
// closed WAL return ErrClosed.
//
// # Goroutines
//
// A WAL may be used by many goroutines at once; concurrent appends share
// fdatasyncs. Close waits for the calls in flight. An Iter is meant for one
// goroutine at a time (it is guarded, so misuse is safe but serialised).
//
// # Building
//
// By default the package links against the libwal checkout it lives in:
// run `make` at the repository root first (it builds target/release/libwal.so
// and include/wal.h); binaries find the library through an rpath. To build
// against an installed libwal instead (`make install` puts wal.pc in
// $LIBDIR/pkgconfig), use the build tag libwal_pkgconfig:
//
//	PKG_CONFIG_PATH=/opt/libwal/lib/pkgconfig go build -tags libwal_pkgconfig ./...
//
// The package needs cgo (CGO_ENABLED=1, a C compiler) and nothing outside
// the Go standard library.
package wal
