package wal

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A missing directory with NoCreate: ErrIO whose Unwrap is ENOENT, so
// fs.ErrNotExist matches it.
func TestMissingDirectoryIsNotExist(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := Open(missing, &Options{NoCreate: true})
	if !errors.Is(err, fs.ErrNotExist) || !errors.Is(err, syscall.ENOENT) || !errors.Is(err, ErrIO) {
		t.Fatalf("Open(missing, NoCreate): %v; want ErrIO matching fs.ErrNotExist and ENOENT", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Errno != syscall.ENOENT || !strings.Contains(e.Message, missing) {
		t.Fatalf("error %#v: want Errno ENOENT and a message naming %s", err, missing)
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, ErrLocked) {
		t.Fatalf("%v matches fs.ErrPermission or ErrLocked", err)
	}
}

// A failure that is not the OS's carries no errno and unwraps to nothing.
func TestNonOSErrorHasNoErrno(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir, nil)
	_, err := Open(dir, nil)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrLocked) {
		t.Fatalf("second writable Open: %v, want ErrLocked", err)
	}
	if e.Errno != 0 || errors.Unwrap(err) != nil || errors.Is(err, fs.ErrExist) {
		t.Fatalf("ErrLocked carries Errno %d, Unwrap %v", e.Errno, errors.Unwrap(err))
	}
}

// A full disk: appends on a 64 KiB tmpfs until one fails. It is ErrIO,
// matches syscall.ENOSPC, and the handle is poisoned after it. Needs root
// (mount(2)); skipped otherwise, and make test-go fails on a skip under
// CI=true.
func TestDiskFullIsENOSPC(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs root", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	w := openT(t, filepath.Join(mnt, "wal"), &Options{SegmentSize: 16 << 10, NoPreallocate: true})
	err := fillUntilError(w)
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrIO) {
		t.Fatalf("append to a full tmpfs: %v; want ErrIO matching syscall.ENOSPC", err)
	}
	t.Logf("%v", err)
	if _, err := w.Append(OpPut, nil, nil); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("append after ENOSPC: %v, want ErrPoisoned", err)
	}
}

// fillUntilError appends 1 KiB records until one fails (or 100 MiB went
// in) and returns the failure.
func fillUntilError(w *WAL) error {
	value := make([]byte, 1<<10)
	for i := 0; i < 100<<10; i++ {
		if _, err := w.Append(OpPut, nil, value); err != nil {
			return err
		}
	}
	return nil
}

const fsizeChildEnv = "GOWAL_FSIZE_CHILD_DIR" // set: run TestFileSizeLimit's child part

// RLIMIT_FSIZE makes a write past the limit fail with EFBIG, which any
// user can produce: a child process (this test binary again) lowers its
// limit to 64 KiB and appends until a write fails.
func TestFileSizeLimitIsEFBIG(t *testing.T) {
	if dir := os.Getenv(fsizeChildEnv); dir != "" {
		lim := syscall.Rlimit{Cur: 64 << 10, Max: 64 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		w := openT(t, dir, &Options{SegmentSize: 1 << 20, NoPreallocate: true})
		err := fillUntilError(w)
		if !errors.Is(err, syscall.EFBIG) || !errors.Is(err, ErrIO) {
			t.Fatalf("append past RLIMIT_FSIZE: %v; want ErrIO matching syscall.EFBIG", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileSizeLimitIsEFBIG$", "-test.v")
	cmd.Env = append(os.Environ(), fsizeChildEnv+"="+filepath.Join(t.TempDir(), "wal"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestFileSizeLimitIsEFBIG") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
