package wal

import (
	"errors"
	"testing"
)

// Op is a type of its own: a variable of it goes to Append and into an
// Entry, and records come back with it.
func TestTypedOp(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	op := OpPut
	if _, err := w.Append(op, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	var mine Op = 7
	if _, err := w.AppendBatch([]Entry{{Op: mine, Key: []byte("a")}, {Op: OpDelete, Key: []byte("k")}}); err != nil {
		t.Fatal(err)
	}
	records := readAll(t, w, 0)
	want := []Op{OpPut, 7, OpDelete}
	if len(records) != len(want) {
		t.Fatalf("%d records, want %d", len(records), len(want))
	}
	for i, r := range records {
		if r.Op != want[i] {
			t.Errorf("record %d: op %v, want %v", r.Seq, r.Op, want[i])
		}
	}
	names := map[Op]string{OpPut: "put", OpDelete: "delete", OpCheckpoint: "checkpoint", 0: "op(0)", 7: "op(7)"}
	for op, name := range names {
		if op.String() != name {
			t.Errorf("Op(%d).String() = %q, want %q", uint8(op), op.String(), name)
		}
	}
}

func TestReplay(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	for _, k := range []string{"a", "b", "c", "d", "e"} {
		appendT(t, w, OpPut, k, k+k)
	}
	var got []Record
	if err := w.Replay(2, func(r Record) error { got = append(got, r); return nil }); err != nil {
		t.Fatalf("Replay(2): %v", err)
	}
	wantRecords(t, got, "3:1:c=cc 4:1:d=dd 5:1:e=ee ")

	// fn's error stops the replay and comes back as it is.
	stop := errors.New("the engine refused record 2")
	calls := 0
	err := w.Replay(0, func(r Record) error {
		calls++
		if r.Seq == 2 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 2 {
		t.Fatalf("Replay whose fn fails at seq 2: %d calls, err %v; want 2 calls, err %v", calls, err, stop)
	}

	// The log's own failures are *Errors.
	if err := w.Truncate(3); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := w.Replay(1, func(Record) error { called = true; return nil }); !errors.Is(err, ErrRange) || called {
		t.Fatalf("Replay(1) after Truncate(3): err %v, fn called %v; want ErrRange, not called", err, called)
	}
	w.Close()
	if err := w.Replay(0, func(Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Replay after Close: %v, want ErrClosed", err)
	}
}
