package wal

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitAsync runs w.Wait in a goroutine; the channel gets its result.
func waitAsync(ctx context.Context, w *WAL, seq uint64, durable bool) <-chan error {
	done := make(chan error, 1)
	go func() { done <- w.Wait(ctx, seq, durable) }()
	return done
}

// within returns what done delivers, failing the test if nothing comes
// within d (a Wait that did not notice what should have ended it).
func within(t *testing.T, done <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: Wait still blocked after %v", what, d)
		return nil
	}
}

// notYet fails the test if done delivers within d.
func notYet(t *testing.T, done <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf("%s: Wait returned %v early", what, err)
	case <-time.After(d):
	}
}

func TestDurableSeqFollowsSyncs(t *testing.T) {
	dir := t.TempDir()
	w := openT(t, dir, &Options{SyncMode: SyncNone})
	if got := w.DurableSeq(); got != 0 {
		t.Fatalf("DurableSeq of a new log = %d, want 0", got)
	}
	appendT(t, w, OpPut, "k1", "v1")
	appendT(t, w, OpPut, "k2", "v2")
	if got := w.DurableSeq(); got != 0 {
		t.Fatalf("DurableSeq before a sync (SyncNone) = %d, want 0", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := w.DurableSeq(); got != 2 {
		t.Fatalf("DurableSeq after Sync = %d, want 2", got)
	}
	w.Close()
	if got := w.DurableSeq(); got != 0 {
		t.Fatalf("DurableSeq after Close = %d, want 0", got)
	}

	always := openT(t, dir, nil) // SyncAlways; the open makes what it found durable
	if got := always.DurableSeq(); got != 2 {
		t.Fatalf("DurableSeq after reopening = %d, want 2", got)
	}
	if seq := appendT(t, always, OpPut, "k3", "v3"); always.DurableSeq() != seq {
		t.Fatalf("DurableSeq after a SyncAlways append = %d, want %d", always.DurableSeq(), seq)
	}
}

func TestWaitWakesOnAppendAndSync(t *testing.T) {
	w := openT(t, t.TempDir(), &Options{SyncMode: SyncNone, SegmentSize: 4096})
	ctx := context.Background()
	appendT(t, w, OpPut, "k1", "v1")
	if err := w.Wait(ctx, 1, false); err != nil {
		t.Fatalf("Wait for a seq already appended: %v", err)
	}
	if err := w.Wait(ctx, 0, true); err != nil {
		t.Fatalf("Wait for seq 0: %v", err)
	}

	appended := waitAsync(ctx, w, 3, false)
	durable := waitAsync(ctx, w, 3, true)
	notYet(t, appended, 100*time.Millisecond, "seq 3 not appended yet")
	appendT(t, w, OpPut, "k2", strings.Repeat("v", 3000)) // across a segment
	appendT(t, w, OpPut, "k3", "v3")
	if err := within(t, appended, 10*time.Second, "seq 3 appended"); err != nil {
		t.Fatalf("Wait(3, appended): %v", err)
	}
	notYet(t, durable, 100*time.Millisecond, "seq 3 appended, not synced")
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := within(t, durable, 10*time.Second, "seq 3 synced"); err != nil {
		t.Fatalf("Wait(3, durable): %v", err)
	}
}

func TestWaitHonoursCancellation(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := waitAsync(ctx, w, 1, false)
	notYet(t, done, 100*time.Millisecond, "before the cancel")
	cancel()
	start := time.Now()
	err := within(t, done, 5*time.Second, "after the cancel")
	t.Logf("returned %v after the cancel: %v", time.Since(start), err)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after cancel: %v; want context.Canceled, not ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), "seq 1 was not appended") {
		t.Fatalf("message %q does not say what was awaited", err)
	}

	// A done context still gets nil for a seq that is there, and at once
	// an error for one that is not.
	appendT(t, w, OpPut, "k", "v")
	if err := w.Wait(ctx, 1, true); err != nil {
		t.Fatalf("Wait with a cancelled context for a seq already durable: %v", err)
	}
	start = time.Now()
	if err := w.Wait(ctx, 2, true); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
	if d := time.Since(start); d > waitSlice/2 {
		t.Fatalf("Wait with a cancelled context took %v: it should only check", d)
	}
}

func TestWaitDeadlineIsErrTimeout(t *testing.T) {
	w := openT(t, t.TempDir(), &Options{SyncMode: SyncNone})
	appendT(t, w, OpPut, "k", "v")
	for _, timeout := range []time.Duration{130 * time.Millisecond, 300 * time.Microsecond} {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := w.Wait(ctx, 1, true) // appended, never synced
		elapsed := time.Since(start)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrTimeout) || errors.Is(err, context.Canceled) {
			t.Fatalf("Wait past a %v deadline: %v; want DeadlineExceeded and ErrTimeout", timeout, err)
		}
		if elapsed < timeout || elapsed > timeout+5*time.Second {
			t.Fatalf("Wait with a %v deadline returned after %v", timeout, elapsed)
		}
		var e *Error
		if errors.As(err, &e) || !strings.Contains(err.Error(), "seq 1 was not durable") {
			t.Fatalf("deadline error %q: want the context's error, naming the seq", err)
		}
	}
}

func TestCloseEndsWait(t *testing.T) {
	w := openT(t, t.TempDir(), nil)
	done := waitAsync(context.Background(), w, 5, true)
	notYet(t, done, 60*time.Millisecond, "before Close")
	closed := make(chan error, 1)
	go func() { closed <- w.Close() }()
	if err := within(t, closed, 5*time.Second, "Close beside a Wait"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := within(t, done, 5*time.Second, "Wait beside Close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait across Close: %v, want ErrClosed", err)
	}
	if err := w.Wait(context.Background(), 0, false); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait after Close: %v, want ErrClosed", err)
	}
}

const waitPoisonChildEnv = "GOWAL_WAIT_POISON_CHILD_DIR" // set: run TestWaitPoisoned's child part

// A write failure while a goroutine waits for a durable seq: the waiter
// gets ErrPoisoned. As in TestFileSizeLimitIsEFBIG, a child process (this
// test binary again) lowers RLIMIT_FSIZE and appends until a write fails.
func TestWaitPoisoned(t *testing.T) {
	if dir := os.Getenv(waitPoisonChildEnv); dir != "" {
		w := openT(t, dir, &Options{SegmentSize: 1 << 20, NoPreallocate: true})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done := waitAsync(ctx, w, 1<<40, true)
		lim := syscall.Rlimit{Cur: 64 << 10, Max: 64 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
			t.Fatal(err)
		}
		if err := fillUntilError(w); !errors.Is(err, syscall.EFBIG) {
			t.Fatalf("append past RLIMIT_FSIZE: %v; want EFBIG", err)
		}
		if err := within(t, done, 10*time.Second, "after the write failure"); !errors.Is(err, ErrPoisoned) {
			t.Fatalf("Wait across a write failure: %v, want ErrPoisoned", err)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWaitPoisoned$", "-test.v")
	cmd.Env = append(os.Environ(), waitPoisonChildEnv+"="+filepath.Join(t.TempDir(), "wal"))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWaitPoisoned") {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
