package wal

import (
	"errors"
	"strings"
	"testing"
)

// TruncateAfter as wal-api.md states it: past LastSeq ErrRange, LastSeq
// nothing to do; a cut inside a batch keeps its first entries; the next
// append gets seq+1; records above seq never come back, not after a
// reopen; an Iter whose next record was cut says ErrRange.
func TestTruncateAfter(t *testing.T) {
	dir := t.TempDir()
	opts := &Options{SegmentSize: 4096}
	w := openT(t, dir, opts)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		appendT(t, w, OpPut, k, strings.Repeat("v", 1500)) // across segments
	}
	if last, err := w.AppendBatch([]Entry{{OpPut, []byte("b5"), nil}, {OpPut, []byte("b6"), nil},
		{OpPut, []byte("b7"), nil}, {OpDelete, []byte("b8"), nil}}); err != nil || last != 8 {
		t.Fatalf("AppendBatch: %d, %v", last, err)
	}
	all := summary(readAll(t, w, 0))

	if err := w.TruncateAfter(9); !errors.Is(err, ErrRange) {
		t.Fatalf("TruncateAfter(9) with LastSeq 8: %v, want ErrRange", err)
	}
	if err := w.TruncateAfter(8); err != nil || w.LastSeq() != 8 || summary(readAll(t, w, 0)) != all {
		t.Fatalf("TruncateAfter(LastSeq): %v; LastSeq %d", err, w.LastSeq())
	}

	ahead, err := w.Iter(6)
	if err != nil || !ahead.Next() || ahead.Record().Seq != 7 {
		t.Fatalf("Iter(6): %v", err)
	}
	defer ahead.Close()
	if err := w.TruncateAfter(6); err != nil { // inside the batch: b5 and b6 stay
		t.Fatalf("TruncateAfter(6): %v", err)
	}
	if seq := appendT(t, w, OpPut, "new7", "n"); seq != 7 {
		t.Fatalf("the append after TruncateAfter(6) got seq %d, want 7", seq)
	}
	if ahead.Next() || !errors.Is(ahead.Err(), ErrRange) {
		t.Fatalf("an Iter whose next record was cut: %v, want ErrRange", ahead.Err())
	}
	kept := all[:strings.Index(all, "7:")]
	want := kept + "7:1:new7=n "
	wantRecords(t, readAll(t, w, 0), want)
	w.Close()

	w = openT(t, dir, opts)
	wantRecords(t, readAll(t, w, 0), want)
	cp, err := w.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	appendT(t, w, OpPut, "after", "cp")
	if err := w.TruncateAfter(cp - 1); !errors.Is(err, ErrRange) || w.LastSeq() != cp+1 {
		t.Fatalf("TruncateAfter below the newest checkpoint: %v (LastSeq %d), want ErrRange", err, w.LastSeq())
	}
	if err := w.TruncateAfter(cp); err != nil || w.LastSeq() != cp {
		t.Fatalf("TruncateAfter(checkpoint): %v; LastSeq %d", err, w.LastSeq())
	}
	w.Close()
	if err := w.TruncateAfter(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("TruncateAfter after Close: %v", err)
	}
	ro := openT(t, dir, &Options{ReadOnly: true})
	if err := ro.TruncateAfter(1); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("TruncateAfter on a read-only log: %v", err)
	}
}

// Below FirstSeq-1 the records are gone already; FirstSeq-1 cuts every
// record left, and the seqs go on from there.
func TestTruncateAfterFront(t *testing.T) {
	w := openT(t, t.TempDir(), &Options{SegmentSize: 4096})
	for i := 0; i < 6; i++ {
		appendT(t, w, OpPut, "big", strings.Repeat("x", 3000))
	}
	if err := w.Truncate(3); err != nil {
		t.Fatal(err)
	}
	if err := w.TruncateAfter(2); !errors.Is(err, ErrRange) {
		t.Fatalf("TruncateAfter(2) with FirstSeq 4: %v, want ErrRange", err)
	}
	if err := w.TruncateAfter(3); err != nil {
		t.Fatal(err)
	}
	if w.FirstSeq() != 4 || w.LastSeq() != 3 || len(readAll(t, w, 0)) != 0 {
		t.Fatalf("after cutting everything: FirstSeq %d LastSeq %d", w.FirstSeq(), w.LastSeq())
	}
	if seq := appendT(t, w, OpPut, "k", "v"); seq != 4 {
		t.Fatalf("next append: seq %d, want 4", seq)
	}
}
