package wal

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// segments lists a log's segment files in log order.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no segments in %s (%v)", dir, err)
	}
	return names // Glob sorts, and segment names sort in log order
}

// Garbage written after the last frame of the newest segment of a cleanly
// closed log is cut by the next writable open, which reports where and how
// much; the records stay. A read-only open reports the same cut without
// making it, and an open of the repaired log reports nothing cut.
func TestOpenReportTailCut(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096, NoPreallocate: true}
	w := openT(t, dir, opts)
	for i := 0; i < 60; i++ { // a few segments
		appendT(t, w, OpPut, "key", strings.Repeat("v", 100))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	segs := segments(t, dir)
	newest := segs[len(segs)-1]
	info, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	end := uint64(info.Size()) // NoPreallocate: the file ends at its last frame
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 16))
	f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(garbage); err != nil {
		t.Fatal(err)
	}
	f.Close()

	wantCut := OpenReport{TailCut: true, CutOffset: end, BytesCut: uint64(len(garbage))}
	ro := openT(t, dir, &Options{ReadOnly: true})
	if r, err := ro.OpenReport(); err != nil || !sameCut(r, wantCut) {
		t.Fatalf("read-only OpenReport = %+v, %v; want the cut %+v", r, err, wantCut)
	}
	ro.Close()

	w = openT(t, dir, opts)
	r, err := w.OpenReport()
	if err != nil || !sameCut(r, wantCut) {
		t.Fatalf("OpenReport = %+v, %v; want the cut %+v", r, err, wantCut)
	}
	if w.LastSeq() != 60 || len(readAll(t, w, 0)) != 60 {
		t.Fatalf("after the cut: LastSeq %d; want the 60 records kept", w.LastSeq())
	}
	w.Close()

	w = openT(t, dir, opts)
	if r, err := w.OpenReport(); err != nil || r.TailCut || !r.CleanClose {
		t.Fatalf("OpenReport after a clean close = %+v, %v; want CleanClose and no cut", r, err)
	}
	w.Close()
	if _, err := w.OpenReport(); err != ErrClosed {
		t.Fatalf("OpenReport after Close: %v, want ErrClosed", err)
	}
}

func sameCut(got, want OpenReport) bool {
	return got.TailCut == want.TailCut && got.CutOffset == want.CutOffset && got.BytesCut == want.BytesCut
}
