package wal

// #include "shim.h"
// #include <stdlib.h>
import "C"

import (
	"errors"
	"syscall"
	"unsafe"
)

// Error is a failure reported by libwal: its status code, the library's
// message (which names the file and the OS error where there is one) and,
// for a failure that came from the OS, its errno. Compare it with the Err*
// values using errors.Is; use errors.As to read the fields.
//
// Unwrap returns the errno as a syscall.Errno, so the standard library's
// tests see through it:
//
//	_, err := wal.Open(dir, &wal.Options{NoCreate: true})
//	errors.Is(err, fs.ErrNotExist) // the directory is missing (ENOENT)
//	errors.Is(err, wal.ErrIO)      // and libwal calls that an I/O error
//
//	_, err = w.Append(wal.OpPut, k, v)
//	errors.Is(err, syscall.ENOSPC) // the disk is full
type Error struct {
	Code    int           // a WAL_E_* status code, negative
	Message string        // libwal's description of this failure
	Errno   syscall.Errno // wal_last_os_error(): the errno behind an ErrIO; 0 when none
}

func (e *Error) Error() string { return "wal: " + e.Message }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrLocked) holds for every WAL_E_LOCKED failure.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Unwrap returns the OS error behind the failure (a syscall.Errno), or nil
// when it did not come from the OS.
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// The kinds of failure, one per WAL_E_* code of the C API.
var (
	ErrInvalid  error = codeError(C.WAL_E_INVALID)  // a bad argument or option
	ErrIO       error = codeError(C.WAL_E_IO)       // the OS reported an error: see Error.Errno
	ErrCorrupt  error = codeError(C.WAL_E_CORRUPT)  // damage the recovery mode does not repair
	ErrLocked   error = codeError(C.WAL_E_LOCKED)   // another handle has the directory open for writing
	ErrPoisoned error = codeError(C.WAL_E_POISONED) // an earlier write or sync failed: close and reopen
	ErrRange    error = codeError(C.WAL_E_RANGE)    // a seq out of range, or a record too large
	ErrReadOnly error = codeError(C.WAL_E_READONLY) // a write on a read-only log
	ErrInternal error = codeError(C.WAL_E_INTERNAL) // a bug inside libwal
	ErrTimeout  error = codeError(C.WAL_E_TIMEOUT)  // a Wait whose context's deadline passed first
)

// ErrClosed is returned by calls on a WAL after Close, and by Iter.Err
// after Iter.Close.
var ErrClosed = errors.New("wal: the log is closed")

// codeError is the generic error of a code, with libwal's static text.
func codeError(code C.int) *Error {
	return &Error{Code: int(code), Message: C.GoString(C.wal_strerror(code))}
}

// result turns the outcome of a shim call into Go values, freeing the
// message the shim copied.
func result(r C.gowal_result) (uint64, error) {
	if r.code == C.WAL_OK {
		return uint64(r.value), nil
	}
	err := codeError(r.code)
	err.Errno = syscall.Errno(r.os_error)
	if r.message != nil {
		if msg := C.GoString(r.message); msg != "" {
			err.Message = msg
		}
		C.free(unsafe.Pointer(r.message))
	}
	return 0, err
}
