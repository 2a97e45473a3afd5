package wal

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Goroutines append records and batches while another reads; afterwards
// every seq from 1 to the last was handed out exactly once and holds what
// its writer wrote.
func TestConcurrentAppends(t *testing.T) {
	const writers, rounds = 8, 40 // each round: one record and a batch of 2
	w := openT(t, t.TempDir(), nil)
	wrote := make([]map[uint64]string, writers) // per writer: seq -> key
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wrote[g] = map[uint64]string{}
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				key := fmt.Sprintf("g%d-%d", g, i)
				seq, err := w.Append(OpPut, []byte(key), []byte(key))
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				wrote[g][seq] = key
				last, err := w.AppendBatch([]Entry{
					{Op: OpPut, Key: []byte(key + "a"), Value: []byte(key + "a")},
					{Op: OpDelete, Key: []byte(key + "b")},
				})
				if err != nil {
					t.Errorf("AppendBatch: %v", err)
					return
				}
				wrote[g][last-1], wrote[g][last] = key+"a", key+"b"
			}
		}(g)
	}
	readerDone := make(chan struct{})
	go func() { // reads while the writers run; the log only grows
		defer close(readerDone)
		for i := 0; i < 20; i++ {
			records, err := collect(w, 0)
			if err != nil {
				t.Errorf("reading while appending: %v", err)
				return
			}
			if uint64(len(records)) > w.LastSeq() {
				t.Errorf("read %d records, but LastSeq is %d", len(records), w.LastSeq())
			}
		}
	}()
	wg.Wait()
	<-readerDone

	records := readAll(t, w, 0)
	if len(records) != writers*rounds*3 {
		t.Fatalf("%d records, want %d", len(records), writers*rounds*3)
	}
	for i, r := range records {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
		var g int
		fmt.Sscanf(string(r.Key), "g%d-", &g)
		if key := wrote[g][r.Seq]; string(r.Key) != key {
			t.Fatalf("seq %d holds key %q; writer %d wrote %q there", r.Seq, r.Key, g, key)
		}
	}
}

// Close while goroutines append: every call either succeeds or returns
// ErrClosed, and every seq handed out is in the log afterwards.
func TestCloseRacesAppends(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, &Options{SyncMode: SyncNone})
	const writers = 4
	acked := make(chan uint64, 1<<16)
	var wg sync.WaitGroup
	for g := 0; g < writers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; i++ {
				seq, err := w.Append(OpPut, []byte("k"), []byte("v"))
				if errors.Is(err, ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				acked <- seq
			}
		}()
	}
	for i := 0; len(acked) < 100 && i < 5000; i++ { // let them get going
		time.Sleep(time.Millisecond)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(acked)

	w = openT(t, dir, nil)
	last := w.LastSeq()
	for seq := range acked {
		if seq > last {
			t.Fatalf("seq %d was acknowledged before Close, but the log ends at %d", seq, last)
		}
	}
}
