package wal

import (
	"bytes"
	"fmt"
	"testing"
)

// openT opens dir and closes the log when the test ends (a second Close by
// the test itself is harmless).
func openT(t *testing.T, dir string, opts *Options) *WAL {
	t.Helper()
	w, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func appendT(t *testing.T, w *WAL, op Op, key, value string) uint64 {
	t.Helper()
	seq, err := w.Append(op, []byte(key), []byte(value))
	if err != nil {
		t.Fatalf("Append(%d, %q): %v", op, key, err)
	}
	return seq
}

// collect returns every record after afterSeq.
func collect(w *WAL, afterSeq uint64) ([]Record, error) {
	it, err := w.Iter(afterSeq)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Record
	for it.Next() {
		out = append(out, it.Record())
	}
	return out, it.Err()
}

func readAll(t *testing.T, w *WAL, afterSeq uint64) []Record {
	t.Helper()
	records, err := collect(w, afterSeq)
	if err != nil {
		t.Fatalf("reading after seq %d: %v", afterSeq, err)
	}
	return records
}

// summary renders records as "seq:op:key=value" for comparisons that print
// well when they fail.
func summary(records []Record) string {
	var b bytes.Buffer
	for _, r := range records {
		fmt.Fprintf(&b, "%d:%d:%s=%s ", r.Seq, r.Op, r.Key, r.Value)
	}
	return b.String()
}

func wantRecords(t *testing.T, got []Record, want string) {
	t.Helper()
	if s := summary(got); s != want {
		t.Fatalf("records:\n got %q\nwant %q", s, want)
	}
}
