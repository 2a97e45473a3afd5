package wal

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// segmentFiles returns how many segment files dir holds, their lengths and
// the bytes their blocks occupy.
func segmentFiles(t *testing.T, dir string) (count, length, disk uint64) {
	t.Helper()
	for _, name := range segments(t, dir) {
		info, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		count++
		length += uint64(info.Size())
		disk += uint64(info.Sys().(*syscall.Stat_t).Blocks) * 512
	}
	return count, length, disk
}

// Durable appends without preallocation: Stats counts the records and their
// bytes, every byte of the segment files was written once, and each append
// took an fdatasync.
func TestStatsCountAppendsWritesAndSyncs(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, &Options{SegmentSize: 4096, NoPreallocate: true})
	if s, err := w.Stats(); err != nil || s != (Stats{}) {
		t.Fatalf("Stats of a new log = %+v, %v; want zeros", s, err)
	}
	for i := 0; i < 60; i++ {
		appendT(t, w, OpPut, "key", strings.Repeat("v", 40)) // 3 + 40 bytes
	}
	s, err := w.Stats()
	if err != nil {
		t.Fatal(err)
	}
	count, length, disk := segmentFiles(t, dir)
	if s.RecordsAppended != 60 || s.BytesAppended != 60*43 {
		t.Errorf("RecordsAppended %d, BytesAppended %d; want 60, %d", s.RecordsAppended, s.BytesAppended, 60*43)
	}
	if s.Segments != count || count < 2 || s.DiskBytes != disk || s.BytesWritten != length {
		t.Errorf("Stats %+v; the files: %d segments, %d bytes long, %d on disk", s, count, length, disk)
	}
	if s.Syncs < 60 || s.GroupMax != 1 || s.SyncUsP50 > s.SyncUsP99 || s.SyncUsP99 > s.SyncUsMax {
		t.Errorf("Stats %+v: want an fdatasync per append, one record each, p50 <= p99 <= max", s)
	}
	w.Close()
	if _, err := w.Stats(); err != ErrClosed {
		t.Fatalf("Stats after Close: %v, want ErrClosed", err)
	}
}

// Eight goroutines of durable appends: each record counted once.
func TestStatsFromGoroutines(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if _, err := w.Append(OpPut, []byte("k"), []byte("v")); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s, err := w.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.RecordsAppended != 400 || s.BytesAppended != 800 || s.GroupMax < 1 || s.GroupMax > 400 {
		t.Fatalf("Stats %+v: want 400 records of 2 bytes", s)
	}
}
