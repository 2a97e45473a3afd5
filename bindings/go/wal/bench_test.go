package wal

import (
	"fmt"
	"testing"
)

// Run with `go test -run '^$' -bench . ./...` in bindings/go (not part of
// make check). SyncNone shows the binding's own cost per call; SyncAlways
// is dominated by fdatasync.

func BenchmarkAppend(b *testing.B) {
	for _, mode := range []SyncMode{SyncNone, SyncAlways} {
		b.Run(fmt.Sprintf("sync=%d", mode), func(b *testing.B) {
			w, err := Open(b.TempDir(), &Options{SyncMode: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			key, value := []byte("key-0001"), make([]byte, 100)
			b.ReportAllocs()
			b.SetBytes(int64(len(key) + len(value)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := w.Append(OpPut, key, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendBatch10(b *testing.B) {
	w, err := Open(b.TempDir(), &Options{SyncMode: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	batch := make([]Entry, 10)
	for i := range batch {
		batch[i] = Entry{Op: OpPut, Key: []byte("key-0001"), Value: make([]byte, 100)}
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := w.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIter(b *testing.B) {
	w, err := Open(b.TempDir(), &Options{SyncMode: SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	for i := 0; i < b.N; i++ {
		if _, err := w.Append(OpPut, []byte("key-0001"), make([]byte, 100)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	it, err := w.Iter(0)
	if err != nil {
		b.Fatal(err)
	}
	defer it.Close()
	n := 0
	for it.Next() {
		n++
	}
	if it.Err() != nil || n != b.N {
		b.Fatalf("read %d of %d records: %v", n, b.N, it.Err())
	}
}
