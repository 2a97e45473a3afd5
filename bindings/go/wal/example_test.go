package wal_test

import (
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/libwal/libwal/bindings/go/wal"
)

// The protocol: append, batch, checkpoint, truncate; after a restart,
// replay what comes after the checkpoint.
func Example() {
	tmp, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "wal")

	w, err := wal.Open(dir, nil) // defaults: SyncAlways, RecoverTail
	if err != nil {
		log.Fatal(err)
	}
	// Durable when Append returns.
	if _, err := w.Append(wal.OpPut, []byte("k1"), []byte("v1")); err != nil {
		log.Fatal(err)
	}
	// A batch: after a crash, replay shows both entries or neither.
	if _, err := w.AppendBatch([]wal.Entry{
		{Op: wal.OpPut, Key: []byte("k2"), Value: []byte("v2")},
		{Op: wal.OpDelete, Key: []byte("k1")},
	}); err != nil {
		log.Fatal(err)
	}
	// The engine has frozen its state: take n, store state and n, truncate.
	n, err := w.Checkpoint()
	if err != nil {
		log.Fatal(err)
	}
	if err := w.Truncate(n); err != nil {
		log.Fatal(err)
	}
	if _, err := w.Append(wal.OpPut, []byte("k3"), []byte("v3")); err != nil {
		log.Fatal(err)
	}
	if _, err := w.Append(0, nil, nil); errors.Is(err, wal.ErrInvalid) {
		fmt.Println("refused:", err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	// Restart: load the stored state, then replay what comes after n.
	w, err = wal.Open(dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	it, err := w.Iter(n)
	if err != nil {
		log.Fatal(err)
	}
	defer it.Close()
	for it.Next() {
		r := it.Record()
		fmt.Printf("replay seq %d op %d %s=%s\n", r.Seq, r.Op, r.Key, r.Value)
	}
	if err := it.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("next seq will be", w.LastSeq()+1)
	// Output:
	// refused: wal: op 0 is reserved (use 1..254; 255 is written only by wal_checkpoint)
	// replay seq 5 op 1 k3=v3
	// next seq will be 6
}
