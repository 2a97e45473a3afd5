package wal

// #include <stdlib.h>
// #include "shim.h"
import "C"

import (
	"strconv"
	"strings"
	"sync"
	"unsafe"
)

// Op is a record's op code: 1..254 are the caller's, to mean what the
// engine likes; OpPut and OpDelete are named for convenience. OpCheckpoint
// is written only by Checkpoint; 0 is invalid.
type Op uint8

const (
	OpPut        Op = 1
	OpDelete     Op = 2
	OpCheckpoint Op = 255
)

// String names the op: "put", "delete", "checkpoint", else "op(N)".
func (op Op) String() string {
	switch op {
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCheckpoint:
		return "checkpoint"
	}
	return "op(" + strconv.Itoa(int(op)) + ")"
}

const (
	// MaxRecordSize is the largest len(key)+len(value) a record may have
	// (WAL_MAX_RECORD_SIZE, 64 MiB).
	MaxRecordSize = 64 << 20
	// MaxBatchSize is the largest encoded size of one AppendBatch
	// (WAL_MAX_BATCH_SIZE, 128 MiB): the keys and values plus a header per
	// entry (wal.h states its size). A larger batch is ErrRange, nothing
	// written.
	MaxBatchSize = 128 << 20
)

// The literals above are the header's values (checked by the compiler: an
// index out of range if one differs), written out so that go doc shows
// them.
func _() {
	var x [1]struct{}
	_ = x[int(OpPut)-C.WAL_OP_PUT]
	_ = x[int(OpDelete)-C.WAL_OP_DELETE]
	_ = x[int(OpCheckpoint)-C.WAL_OP_CHECKPOINT]
	_ = x[MaxRecordSize-C.WAL_MAX_RECORD_SIZE]
	_ = x[MaxBatchSize-C.WAL_MAX_BATCH_SIZE]
}

// Entry is one record of a batch.
type Entry struct {
	Op         Op
	Key, Value []byte
}

// WAL is an open log. Its methods may be called from many goroutines at
// once; Close waits for the calls in flight, and every call after it
// returns ErrClosed.
type WAL struct {
	mu sync.RWMutex // held for reading by each call on h, for writing by Close
	h  *C.wal_t     // nil once closed
}

// Open opens the log in directory dir, recovering it as opts.RecoveryMode
// says; a nil opts means the defaults. A second writable Open of the same
// directory, from this process or another, fails with ErrLocked.
func Open(dir string, opts *Options) (*WAL, error) {
	if strings.IndexByte(dir, 0) >= 0 {
		return nil, &Error{Code: C.WAL_E_INVALID, Message: "the directory name " + strconv.Quote(dir) + " contains a NUL byte"}
	}
	cdir := C.CString(dir)
	defer C.free(unsafe.Pointer(cdir))
	copts := opts.toC()
	w := &WAL{}
	if _, err := result(C.gowal_open(cdir, &copts, &w.h)); err != nil {
		return nil, err
	}
	return w, nil
}

// Close makes every record appended so far durable and releases the log,
// even when it returns an error (ErrPoisoned for a handle whose earlier
// write failed). Iterators stay safe to use, and must still be closed.
func (w *WAL) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.h == nil {
		return ErrClosed
	}
	h := w.h
	w.h = nil
	_, err := result(C.gowal_close(h))
	return err
}

// Append writes one record and returns its seq. In SyncAlways mode the
// record is durable when Append returns. key and value may be empty; they
// are only read during the call.
func (w *WAL) Append(op Op, key, value []byte) (uint64, error) {
	return w.call(func(h *C.wal_t) C.gowal_result {
		return C.gowal_append(h, C.uint8_t(op),
			bytesPtr(key), C.size_t(len(key)), bytesPtr(value), C.size_t(len(value)))
	})
}

// AppendBatch writes entries as one atomic frame: after a crash, replay
// shows all of them or none. They get consecutive seqs; it returns the
// last. An empty batch or an invalid entry is ErrInvalid, nothing written.
func (w *WAL) AppendBatch(entries []Entry) (uint64, error) {
	// cgo forbids passing C an array of pointers into Go memory, so the
	// batch is copied into one C buffer: the wal_entry_t array, then the
	// keys and values it points to.
	n := len(entries)
	size := 0
	for _, e := range entries {
		size += len(e.Key) + len(e.Value)
	}
	headSize := n * int(unsafe.Sizeof(C.wal_entry_t{}))
	buf := C.malloc(C.size_t(headSize + size))
	defer C.free(buf)
	cEntries := unsafe.Slice((*C.wal_entry_t)(buf), n)
	data := unsafe.Slice((*byte)(unsafe.Add(buf, headSize)), size)
	for i, e := range entries {
		cEntries[i] = C.wal_entry_t{
			op:  C.uint8_t(e.Op),
			key: place(&data, e.Key), key_len: C.size_t(len(e.Key)),
			value: place(&data, e.Value), value_len: C.size_t(len(e.Value)),
		}
	}
	return w.call(func(h *C.wal_t) C.gowal_result {
		return C.gowal_append_batch(h, (*C.wal_entry_t)(buf), C.size_t(n))
	})
}

// Checkpoint appends a checkpoint record (op OpCheckpoint, no key or
// value), makes it and everything before it durable in every sync mode,
// and returns its seq: the N an engine stores with the state it freezes.
func (w *WAL) Checkpoint() (uint64, error) {
	return w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_checkpoint(h) })
}

// Truncate durably discards every record with seq <= upToSeq: they are
// never replayed again, even after a crash. upToSeq past LastSeq is
// ErrRange; below FirstSeq there is nothing to do.
func (w *WAL) Truncate(upToSeq uint64) error {
	_, err := w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_truncate(h, C.uint64_t(upToSeq)) })
	return err
}

// TruncateAfter durably discards every record with seq > seq, the newest
// ones (a Raft follower's log cut where it conflicts with the leader's):
// none of them is ever replayed again, every record up to seq stays
// intact, and the next append gets seq+1. A crash during the call leaves
// the log as it was or as it is on return. seq == LastSeq does nothing;
// seq past LastSeq, below FirstSeq-1 or below the newest checkpoint
// record is ErrRange. An Iter whose next record was cut fails with
// ErrRange.
func (w *WAL) TruncateAfter(seq uint64) error {
	_, err := w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_truncate_after(h, C.uint64_t(seq)) })
	return err
}

// Sync makes every record appended so far durable.
func (w *WAL) Sync() error {
	_, err := w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_sync(h) })
	return err
}

// FirstSeq is the lowest seq a replay can return (LastSeq+1 when the log
// holds no record); 0 after Close.
func (w *WAL) FirstSeq() uint64 {
	return w.seq(func(h *C.wal_t) C.uint64_t { return C.wal_first_seq(h) })
}

// LastSeq is the highest seq assigned so far (0 for a new log); 0 after
// Close.
func (w *WAL) LastSeq() uint64 {
	return w.seq(func(h *C.wal_t) C.uint64_t { return C.wal_last_seq(h) })
}

// Version is the libwal library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.wal_version()) }

// call runs one shim call on the open handle, holding the read lock so that
// Close cannot free the handle meanwhile.
func (w *WAL) call(fn func(h *C.wal_t) C.gowal_result) (uint64, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.h == nil {
		return 0, ErrClosed
	}
	return result(fn(w.h))
}

// seq reads a seq from the open handle, or 0 once it is closed.
func (w *WAL) seq(fn func(h *C.wal_t) C.uint64_t) uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.h == nil {
		return 0
	}
	return uint64(fn(w.h))
}

// bytesPtr is what C gets for a Go slice: NULL for an empty one, else a
// pointer to its first byte (valid for the duration of the call).
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// place copies b to the front of *data, advances *data past it and returns
// where it went (NULL for an empty b).
func place(data *[]byte, b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	p := unsafe.Pointer(&(*data)[0])
	*data = (*data)[copy(*data, b):]
	return p
}
