package wal

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The protocol of the README: append, batch, checkpoint N, truncate N,
// append, close; reopen and replay after N.
func TestProtocolAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, nil)
	if got := appendT(t, w, OpPut, "k1", "v1"); got != 1 {
		t.Fatalf("first seq = %d, want 1", got)
	}
	last, err := w.AppendBatch([]Entry{
		{Op: OpPut, Key: []byte("k2"), Value: []byte("v2")},
		{Op: OpDelete, Key: []byte("k1")},
	})
	if err != nil || last != 3 {
		t.Fatalf("AppendBatch = %d, %v; want 3", last, err)
	}
	n, err := w.Checkpoint()
	if err != nil || n != 4 {
		t.Fatalf("Checkpoint = %d, %v; want 4", n, err)
	}
	if err := w.Truncate(n); err != nil {
		t.Fatalf("Truncate(%d): %v", n, err)
	}
	appendT(t, w, OpPut, "k3", "v3")
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	w = openT(t, dir, nil)
	if w.FirstSeq() != 5 || w.LastSeq() != 5 {
		t.Fatalf("after reopen FirstSeq, LastSeq = %d, %d; want 5, 5", w.FirstSeq(), w.LastSeq())
	}
	wantRecords(t, readAll(t, w, n), "5:1:k3=v3 ")
	if got := appendT(t, w, OpPut, "k4", ""); got != 6 {
		t.Fatalf("seq after reopen = %d, want 6", got)
	}
}

func TestIterAfterN(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	binary := string([]byte{0, 1, 255, 0})
	appendT(t, w, OpPut, "a", "1")
	appendT(t, w, 7, "", "")             // empty key and value
	appendT(t, w, OpPut, binary, binary) // bytes C would stop at
	if _, err := w.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	all := "1:1:a=1 2:7:= 3:1:" + binary + "=" + binary + " 4:255:= "
	wantRecords(t, readAll(t, w, 0), all)
	wantRecords(t, readAll(t, w, 2), all[strings.Index(all, "3:"):])
	wantRecords(t, readAll(t, w, 4), "")
	// A stored N ahead of the log: the wrong directory, or a lost log.
	if _, err := w.Iter(99); !errors.Is(err, ErrRange) {
		t.Fatalf("Iter(99) past last seq 4: %v, want ErrRange", err)
	}
}

func TestRecordsAreCopies(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	key := []byte("key")
	if _, err := w.Append(OpPut, key, []byte("value")); err != nil {
		t.Fatal(err)
	}
	key[0] = 'X' // the log keeps what was appended
	appendT(t, w, OpPut, "k2", "v2")
	it, err := w.Iter(0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	it.Next()
	first := it.Record()
	it.Next() // libwal reuses its buffers; our copy must not change
	wantRecords(t, []Record{first, it.Record()}, "1:1:key=value 2:1:k2=v2 ")
	if len(first.Key) != 3 || cap(first.Key) != 3 {
		t.Fatalf("Key has len %d cap %d: appending to it would overwrite Value", len(first.Key), cap(first.Key))
	}
}

func TestIterSeesLaterAppendsAndSurvivesClose(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	appendT(t, w, OpPut, "a", "1")
	it, err := w.Iter(0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if !it.Next() || it.Next() || it.Err() != nil {
		t.Fatalf("want one record, then the end; err %v", it.Err())
	}
	appendT(t, w, OpPut, "b", "2")
	if !it.Next() || string(it.Record().Key) != "b" {
		t.Fatalf("the record appended after the end was not found (err %v)", it.Err())
	}

	it2, err := w.Iter(0)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	var got []Record
	for it2.Next() {
		got = append(got, it2.Record())
	}
	wantRecords(t, got, "1:1:a=1 2:1:b=2 ")
	it2.Close()
	if it2.Next() || !errors.Is(it2.Err(), ErrClosed) {
		t.Fatalf("Next after Close: err %v, want ErrClosed", it2.Err())
	}
	if err := it2.Close(); err != nil {
		t.Fatalf("second Iter.Close: %v", err)
	}
}

func TestIterAfterTruncateIsRange(t *testing.T) {
	w := openT(t, t.TempDir(), &Options{SegmentSize: 4096})
	for i := 0; i < 100; i++ { // several segments
		appendT(t, w, OpPut, "key", strings.Repeat("v", 100))
	}
	it, err := w.Iter(0)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if err := w.Truncate(90); err != nil {
		t.Fatal(err)
	}
	for it.Next() {
		if seq := it.Record().Seq; seq <= 90 {
			t.Fatalf("iterator returned record %d after Truncate(90)", seq)
		}
	}
	if !errors.Is(it.Err(), ErrRange) {
		t.Fatalf("iterator over truncated records: err %v, want ErrRange", it.Err())
	}
}

func TestSyncModes(t *testing.T) {
	for _, mode := range []SyncMode{SyncAlways, SyncEvery, SyncNone} {
		dir := t.TempDir()
		w := openT(t, dir, &Options{SyncMode: mode, SyncEvery: 2, NoPreallocate: true})
		for i := 0; i < 5; i++ {
			appendT(t, w, OpPut, "k", "v")
		}
		if err := w.Sync(); err != nil {
			t.Fatalf("mode %d: Sync: %v", mode, err)
		}
		w.Close()
		w = openT(t, dir, &Options{ReadOnly: true})
		if got := len(readAll(t, w, 0)); got != 5 {
			t.Fatalf("mode %d: %d records after reopen, want 5", mode, got)
		}
	}
}

// Every failure is an *Error that errors.Is matches to its own kind only,
// with libwal's message.
func TestErrors(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, nil)
	appendT(t, w, OpPut, "k", "v")
	n, _ := w.Checkpoint()
	appendT(t, w, OpPut, "k", "v")
	if err := w.Truncate(n); err != nil {
		t.Fatal(err)
	}
	ro := openT(t, dir, &Options{ReadOnly: true})
	missing := filepath.Join(dir, "missing")

	cases := []struct {
		name    string
		kind    error
		message string // a part of libwal's message
		call    func() error
	}{
		{"second writable open", ErrLocked, "LOCK", func() error { _, err := Open(dir, nil); return err }},
		{"truncate past the end", ErrRange, "", func() error { return w.Truncate(w.LastSeq() + 1) }},
		{"iterate truncated records", ErrRange, "", func() error { _, err := w.Iter(1); return err }},
		{"record too large", ErrRange, "", func() error {
			_, err := w.Append(OpPut, nil, make([]byte, MaxRecordSize+1))
			return err
		}},
		{"op 0", ErrInvalid, "op 0", func() error { _, err := w.Append(0, nil, nil); return err }},
		{"op 255", ErrInvalid, "255", func() error { _, err := w.Append(OpCheckpoint, nil, nil); return err }},
		{"empty batch", ErrInvalid, "", func() error { _, err := w.AppendBatch(nil); return err }},
		{"batch with op 0", ErrInvalid, "", func() error {
			_, err := w.AppendBatch([]Entry{{Op: OpPut, Key: []byte("a")}, {Op: 0}})
			return err
		}},
		{"segment size 100", ErrInvalid, "", func() error {
			_, err := Open(filepath.Join(dir, "new"), &Options{SegmentSize: 100})
			return err
		}},
		{"NUL in the directory name", ErrInvalid, "NUL", func() error { _, err := Open("a\x00b", nil); return err }},
		{"missing directory", ErrIO, missing, func() error { _, err := Open(missing, &Options{NoCreate: true}); return err }},
		{"append to a read-only log", ErrReadOnly, "", func() error { _, err := ro.Append(OpPut, nil, nil); return err }},
		{"checkpoint a read-only log", ErrReadOnly, "", func() error { _, err := ro.Checkpoint(); return err }},
	}
	kinds := []error{ErrInvalid, ErrIO, ErrCorrupt, ErrLocked, ErrPoisoned, ErrRange, ErrReadOnly, ErrInternal}
	last := w.LastSeq()
	for _, c := range cases {
		err := c.call()
		var e *Error
		if !errors.As(err, &e) || e.Message == "" {
			t.Errorf("%s: got %v, want a *Error with a message", c.name, err)
			continue
		}
		for _, kind := range kinds {
			if errors.Is(err, kind) != (kind == c.kind) {
				t.Errorf("%s: errors.Is(%q, %q) = %v", c.name, err, kind, !(kind == c.kind))
			}
		}
		if !strings.Contains(err.Error(), c.message) {
			t.Errorf("%s: message %q does not mention %q", c.name, err, c.message)
		}
	}
	if w.LastSeq() != last {
		t.Errorf("failed calls changed LastSeq from %d to %d", last, w.LastSeq())
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Errorf("an invalid Open created its directory (stat: %v)", err)
	}
}

func TestCallsAfterClose(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"Close":       w.Close,
		"Sync":        w.Sync,
		"Truncate":    func() error { return w.Truncate(1) },
		"Append":      func() error { _, err := w.Append(OpPut, nil, nil); return err },
		"AppendBatch": func() error { _, err := w.AppendBatch([]Entry{{Op: OpPut}}); return err },
		"Checkpoint":  func() error { _, err := w.Checkpoint(); return err },
		"Iter":        func() error { _, err := w.Iter(0); return err },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if w.FirstSeq() != 0 || w.LastSeq() != 0 {
		t.Errorf("FirstSeq, LastSeq after Close = %d, %d; want 0, 0", w.FirstSeq(), w.LastSeq())
	}
}

func TestVersion(t *testing.T) {
	if v := Version(); !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(v) {
		t.Fatalf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
}

// A damaged byte in an older segment is not a torn tail: ErrCorrupt, from
// Open or from the read that meets it, naming the file.
func TestDamageIsErrCorrupt(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, &Options{SegmentSize: 4096, NoPreallocate: true})
	for i := 0; i < 100; i++ {
		appendT(t, w, OpPut, "key", strings.Repeat("v", 100))
	}
	w.Close()
	segments, _ := filepath.Glob(filepath.Join(dir, "*.wal"))
	if len(segments) < 2 {
		t.Fatalf("want several segments, got %v", segments)
	}
	oldest := segments[0] // names sort in log order
	data, err := os.ReadFile(oldest)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(oldest, data, 0o644); err != nil {
		t.Fatal(err)
	}

	w, err = Open(dir, nil)
	if err == nil {
		defer w.Close()
		_, err = collect(w, 0)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Base(oldest)) {
		t.Fatalf("got %v, want ErrCorrupt naming %s", err, filepath.Base(oldest))
	}
}
