package wal

// #include "shim.h"
import "C"

import (
	"sync"
	"unsafe"
)

// Record is one record read back from the log. Key and Value are copies
// the caller owns.
type Record struct {
	Seq        uint64
	Op         Op // OpCheckpoint for a checkpoint record, which has no key or value
	Key, Value []byte
}

// Iter reads records in seq order. Use it like bufio.Scanner:
//
//	it, err := w.Iter(n)
//	if err != nil { ... }
//	defer it.Close()
//	for it.Next() {
//		r := it.Record()
//		...
//	}
//	if err := it.Err(); err != nil { ... }
//
// Next returning false without an error means "nothing more for now":
// appends may go on while an iterator is open, and a later Next may find
// them. An Iter stays safe to use after its WAL is closed.
type Iter struct {
	mu  sync.Mutex     // libwal's iterator is used by one thread at a time
	it  *C.wal_iter_t  // nil once closed
	rec C.wal_record_t // where libwal puts the current record
	cur Record
	err error
}

// Iter opens an iterator over the records with seq > afterSeq; 0 means
// every record retained. An afterSeq other than 0 below FirstSeq-1 asks
// for truncated records: ErrRange.
func (w *WAL) Iter(afterSeq uint64) (*Iter, error) {
	it := &Iter{}
	_, err := w.call(func(h *C.wal_t) C.gowal_result {
		return C.gowal_iter_open(h, C.uint64_t(afterSeq), &it.it)
	})
	if err != nil {
		return nil, err
	}
	return it, nil
}

// Next moves to the next record and reports whether there is one. It
// returns false at the end and on an error (ErrCorrupt for damage, ErrRange
// when a truncate removed the next record); Err tells which.
func (it *Iter) Next() bool {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.err != nil {
		return false
	}
	if it.it == nil {
		it.err = ErrClosed
		return false
	}
	more, err := result(C.gowal_iter_next(it.it, &it.rec))
	if err != nil {
		it.err = err
		return false
	}
	if more == 0 {
		return false
	}
	it.cur = copyRecord(&it.rec)
	return true
}

// Record is the record the last successful Next moved to.
func (it *Iter) Record() Record {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.cur
}

// Err is the error that stopped Next, or nil if it stopped at the end.
func (it *Iter) Err() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	return it.err
}

// Close frees the iterator. It always returns nil; closing twice is fine.
func (it *Iter) Close() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	C.wal_iter_close(it.it)
	it.it = nil
	return nil
}

// copyRecord copies a record out of libwal's memory, which is valid only
// until the next wal_iter_next; key and value share one allocation.
func copyRecord(r *C.wal_record_t) Record {
	keyLen, valueLen := int(r.key_len), int(r.value_len)
	buf := make([]byte, keyLen+valueLen)
	copy(buf, unsafe.Slice((*byte)(r.key), keyLen))
	copy(buf[keyLen:], unsafe.Slice((*byte)(r.value), valueLen))
	return Record{Seq: uint64(r.seq), Op: Op(r.op), Key: buf[:keyLen:keyLen], Value: buf[keyLen:]}
}

// Replay calls fn for each record with seq > afterSeq, in seq order, as Iter
// would return them (0 means every record retained), and stops at the
// end. An error from fn stops the replay and is returned as it is; a
// failure of the log (ErrRange for an afterSeq below FirstSeq-1, ErrCorrupt
// for damage met on the way) is returned as an *Error.
//
//	err := w.Replay(n, func(r wal.Record) error {
//		return engine.apply(r) // a non-nil error stops the replay
//	})
func (w *WAL) Replay(afterSeq uint64, fn func(Record) error) error {
	it, err := w.Iter(afterSeq)
	if err != nil {
		return err
	}
	defer it.Close()
	for it.Next() {
		if err := fn(it.Record()); err != nil {
			return err
		}
	}
	return it.Err()
}
