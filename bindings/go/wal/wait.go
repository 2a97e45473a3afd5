package wal

// #include "shim.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// waitSlice is the longest one wal_wait call made by Wait lasts, and so
// how soon Wait notices a cancelled context or a Close.
const waitSlice = 50 * time.Millisecond

// DurableSeq is the durable watermark: every seq at or below it is on
// disk, synced; 0 when none is. A writable Open starts it at the recovered
// LastSeq; a read-only one reports the LastSeq it found. 0 after Close.
func (w *WAL) DurableSeq() uint64 {
	return w.seq(func(h *C.wal_t) C.uint64_t { return C.wal_durable_seq(h) })
}

// Wait blocks until LastSeq >= seq (durable false) or DurableSeq >= seq
// (durable true), then returns nil. Appends and syncs through w wake it;
// any number of goroutines may wait at once. A shipper that sends only
// what is durable, reading with an Iter that reached the end, waits for
// its next seq with durable true, then calls Next again:
//
//	if err := w.Wait(ctx, next, true); err != nil { ... }
//	it.Next() // record next, durable
//
// It gives up when ctx is done, within about 50 ms: the error then
// matches ctx.Err() with errors.Is (context.Canceled or
// context.DeadlineExceeded), and ErrTimeout too when the deadline passed.
// When the seq is there already, Wait returns nil even if ctx is done.
// ErrPoisoned: a write or sync failed before the seq arrived, so it never
// will. ErrClosed: w was closed before or during the wait (Wait does not
// hold Close up for more than about 50 ms).
func (w *WAL) Wait(ctx context.Context, seq uint64, durable bool) error {
	var flag C.uint32_t
	if durable {
		flag = 1
	}
	for {
		slice := waitSlice
		deadline, hasDeadline := ctx.Deadline()
		if hasDeadline {
			if left := time.Until(deadline); left < slice {
				slice = left
			}
		}
		if ctx.Err() != nil {
			slice = 0 // only check
		}
		_, err := w.call(func(h *C.wal_t) C.gowal_result {
			return C.gowal_wait(h, C.uint64_t(seq), flag, C.int64_t(ceilMillis(slice)))
		})
		if !errors.Is(err, ErrTimeout) {
			return err // nil, ErrPoisoned, ErrClosed
		}
		cause := ctx.Err()
		if cause == nil && hasDeadline && !time.Now().Before(deadline) {
			cause = context.DeadlineExceeded // the context's timer has not fired yet
		}
		if cause != nil {
			return &waitError{seq: seq, durable: durable, reached: w.reached(durable), cause: cause}
		}
	}
}

// ceilMillis is d in whole milliseconds, rounded up (so that a wait of
// 0.3 ms waits rather than only checks); 0 for a d that is not positive.
func ceilMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

func (w *WAL) reached(durable bool) uint64 {
	if durable {
		return w.DurableSeq()
	}
	return w.LastSeq()
}

// waitError is what Wait returns when its context is done first.
type waitError struct {
	seq     uint64
	durable bool
	reached uint64 // LastSeq or DurableSeq when Wait gave up
	cause   error  // ctx.Err()
}

func (e *waitError) Error() string {
	what := "appended"
	if e.durable {
		what = "durable"
	}
	return fmt.Sprintf("wal: seq %d was not %s before the wait ended (it is at %d): %v", e.seq, what, e.reached, e.cause)
}

// Unwrap returns the context's error.
func (e *waitError) Unwrap() error { return e.cause }

// Is makes a passed deadline match ErrTimeout as well.
func (e *waitError) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == C.WAL_E_TIMEOUT && errors.Is(e.cause, context.DeadlineExceeded)
}
