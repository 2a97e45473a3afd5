package wal

// #include "shim.h"
import "C"

// Stats are a log's counters since Open (wal_stats), for monitoring, and
// its segment files now.
type Stats struct {
	RecordsAppended uint64 // records appended (batch entries one each, checkpoints too)
	BytesAppended   uint64 // key + value bytes of those records
	BytesWritten    uint64 // bytes written to segment files (headers, frames, zeros)
	Syncs           uint64 // fdatasyncs of segment files
	SyncUsP50       uint64 // fdatasync latency in microseconds, from a histogram
	SyncUsP99       uint64
	SyncUsMax       uint64 // the slowest fdatasync, exactly
	GroupMax        uint64 // most records made durable by one fdatasync
	Segments        uint64 // segment files in the log now
	DiskBytes       uint64 // bytes the segment files occupy on disk now
}

// Stats returns the log's counters; it costs one stat per segment file.
// RecordsAppended / Syncs is the number of records per fdatasync that group
// commit achieved.
func (w *WAL) Stats() (Stats, error) {
	var s C.wal_stats_t
	if _, err := w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_stats(h, &s) }); err != nil {
		return Stats{}, err
	}
	return Stats{
		RecordsAppended: uint64(s.records_appended),
		BytesAppended:   uint64(s.bytes_appended),
		BytesWritten:    uint64(s.bytes_written),
		Syncs:           uint64(s.syncs),
		SyncUsP50:       uint64(s.sync_us_p50),
		SyncUsP99:       uint64(s.sync_us_p99),
		SyncUsMax:       uint64(s.sync_us_max),
		GroupMax:        uint64(s.group_max),
		Segments:        uint64(s.segments),
		DiskBytes:       uint64(s.disk_bytes),
	}, nil
}
