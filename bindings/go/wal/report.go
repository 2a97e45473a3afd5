package wal

// #include "shim.h"
import "C"

// OpenReport is what Open found and did (wal_open_report). For a ReadOnly
// log, which Open never changes, the cut fields say what a writable Open
// would cut.
type OpenReport struct {
	CleanClose         bool   // the last writer closed the log cleanly
	TailCut            bool   // Open cut the newest segment (a torn tail, or RecoverSalvage)
	CutOffset          uint64 // where the cut was made in the newest segment's file
	BytesCut           uint64 // data bytes (not preallocated zeros) the cut removed
	SalvageDroppedFrom uint64 // RecoverSalvage: the first seq dropped (handed out again); 0 when none was
}

// OpenReport describes what Open found and did; an engine logs it at
// startup. In RecoverTail a TailCut is a write that a crash interrupted
// before the log could prove it durable (durable bytes are never cut:
// damage to them is ErrCorrupt from Open).
func (w *WAL) OpenReport() (OpenReport, error) {
	var r C.wal_open_report_t
	if _, err := w.call(func(h *C.wal_t) C.gowal_result { return C.gowal_open_report(h, &r) }); err != nil {
		return OpenReport{}, err
	}
	return OpenReport{
		CleanClose:         r.clean_close != 0,
		TailCut:            r.tail_cut != 0,
		CutOffset:          uint64(r.cut_offset),
		BytesCut:           uint64(r.bytes_cut),
		SalvageDroppedFrom: uint64(r.salvage_dropped_from),
	}, nil
}
