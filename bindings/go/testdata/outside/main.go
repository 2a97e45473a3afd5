// walcheck is a program of a module outside the libwal checkout, the way a
// user's own module uses the Go binding: its go.mod (written by make
// test-go) requires github.com/libwal/libwal/bindings/go and replaces it
// with the checkout's directory; it is built with no build tag, against a
// `make install` prefix found through PKG_CONFIG_PATH, and run with no
// LD_LIBRARY_PATH.
//
// Usage: walcheck DIR PREFIX VERSION. It opens a log in DIR (which must
// not exist), appends, closes, reopens, replays and checks the records and
// the open report,
// checks that a missing directory is fs.ErrNotExist, that libwal's version
// is VERSION and that the libwal.so it runs with was loaded from PREFIX.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/libwal/libwal/bindings/go/wal"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: walcheck DIR PREFIX VERSION")
		os.Exit(2)
	}
	if err := check(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "walcheck:", err)
		os.Exit(1)
	}
}

func check(dir, prefix, version string) error {
	if v := wal.Version(); v != version {
		return fmt.Errorf("libwal version %s, want %s", v, version)
	}
	lib, err := loadedFrom("libwal.so")
	if err != nil {
		return err
	}
	real, err := filepath.EvalSymlinks(prefix) // the kernel names mapped files by their real path
	if err != nil {
		return err
	}
	if !strings.HasPrefix(lib, real+"/") {
		return fmt.Errorf("libwal was loaded from %s, not from the prefix %s", lib, prefix)
	}

	w, err := wal.Open(dir, nil)
	if err != nil {
		return err
	}
	op := wal.OpPut // a typed op in a variable
	if _, err := w.Append(op, []byte("k1"), []byte("v1")); err != nil {
		return err
	}
	if _, err := w.AppendBatch([]wal.Entry{{Op: op, Key: []byte("k2"), Value: []byte("v2")}, {Op: wal.OpDelete, Key: []byte("k1")}}); err != nil {
		return err
	}
	n, err := w.Checkpoint()
	if err != nil {
		return err
	}
	if _, err := w.Append(wal.OpPut, []byte("k3"), []byte("v3")); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}

	w, err = wal.Open(dir, nil)
	if err != nil {
		return err
	}
	defer w.Close()
	if r, err := w.OpenReport(); err != nil || !r.CleanClose || r.TailCut {
		return fmt.Errorf("OpenReport after a clean close: %+v, %v", r, err)
	}
	if _, err := wal.Open(dir, nil); !errors.Is(err, wal.ErrLocked) {
		return fmt.Errorf("a second writable open: %v, want wal.ErrLocked", err)
	}
	var got []string
	err = w.Replay(0, func(r wal.Record) error {
		got = append(got, fmt.Sprintf("%d:%v:%s=%s", r.Seq, r.Op, r.Key, r.Value))
		return nil
	})
	if err != nil {
		return err
	}
	want := fmt.Sprintf("1:put:k1=v1 2:put:k2=v2 3:delete:k1= %d:checkpoint:= 5:put:k3=v3", n)
	if s := strings.Join(got, " "); s != want {
		return fmt.Errorf("replay after reopen:\n got %s\nwant %s", s, want)
	}

	missing := filepath.Join(dir, "missing")
	if _, err := wal.Open(missing, &wal.Options{NoCreate: true}); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("open of a missing directory: %v, want fs.ErrNotExist", err)
	}
	fmt.Printf("walcheck: libwal %s from %s: %d records appended, reopened and replayed\n", version, lib, len(got))
	return nil
}

// loadedFrom is the file of the mapped shared object whose name starts with
// name, read from /proc/self/maps.
func loadedFrom(name string) (string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		fields := strings.Fields(s.Text())
		if len(fields) >= 6 && strings.HasPrefix(filepath.Base(fields[5]), name) {
			return fields[5], nil
		}
	}
	return "", fmt.Errorf("no %s is mapped into this process", name)
}
