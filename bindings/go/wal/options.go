package wal

// #include "wal.h"
import "C"

// SyncMode says when appended records are made durable (fdatasynced).
type SyncMode uint32

const (
	// SyncAlways (the default): a record is durable when its append returns.
	SyncAlways SyncMode = 0
	// SyncEvery: durable after every Options.SyncEvery records, and after
	// Sync, Checkpoint and Close.
	SyncEvery SyncMode = 1
	// SyncNone: durable only after Sync, Checkpoint or Close.
	SyncNone SyncMode = 2
)

// RecoveryMode says what Open does with damage it finds in the log.
type RecoveryMode uint32

const (
	// RecoverTail (the default) cuts off a write at the end of the newest
	// segment that a crash interrupted before the log could prove it
	// durable; damage anywhere else, or to bytes proven durable, is
	// ErrCorrupt. OpenReport says what was cut.
	RecoverTail RecoveryMode = 0
	// RecoverSalvage keeps every record before the first damaged one and
	// deletes the rest; OpenReport says from which seq.
	RecoverSalvage RecoveryMode = 1
)

// The values above are written as literals so that go doc shows them; the
// compiler checks here that they are the header's (an index out of range
// if one differs).
func _() {
	var x [1]struct{}
	_ = x[int(SyncAlways)-C.WAL_SYNC_ALWAYS]
	_ = x[int(SyncEvery)-C.WAL_SYNC_EVERY]
	_ = x[int(SyncNone)-C.WAL_SYNC_NONE]
	_ = x[int(RecoverTail)-C.WAL_RECOVER_TAIL]
	_ = x[int(RecoverSalvage)-C.WAL_RECOVER_SALVAGE]
}

// Options mirror the C API's wal_options_t. The zero value, like a nil
// *Options, means libwal's defaults: 64 MiB segments, SyncAlways,
// RecoverTail, writable, preallocated segments, the directory created if
// missing.
type Options struct {
	SegmentSize   uint64       // bytes per segment file, at least 4096; 0: the default (64 MiB)
	SyncMode      SyncMode     // when appends are made durable
	SyncEvery     uint32       // with SyncEvery: records per fdatasync; 0: the default (100)
	RecoveryMode  RecoveryMode // what Open repairs
	ReadOnly      bool         // no lock, no repair, no writes; sees the log as it was at Open
	NoPreallocate bool         // do not reserve each segment's space up front
	NoCreate      bool         // fail (ErrIO) instead of creating a missing directory
}

// toC starts from wal_options_init's defaults and applies what o sets.
func (o *Options) toC() C.wal_options_t {
	var c C.wal_options_t
	C.wal_options_init(&c)
	if o == nil {
		return c
	}
	if o.SegmentSize != 0 {
		c.segment_size = C.uint64_t(o.SegmentSize)
	}
	if o.SyncEvery != 0 {
		c.sync_every = C.uint32_t(o.SyncEvery)
	}
	c.sync_mode = C.uint32_t(o.SyncMode)
	c.recovery_mode = C.uint32_t(o.RecoveryMode)
	c.read_only = cbool(o.ReadOnly)
	c.preallocate = cbool(!o.NoPreallocate)
	c.create_if_missing = cbool(!o.NoCreate)
	return c
}

func cbool(b bool) C.uint32_t {
	if b {
		return 1
	}
	return 0
}
