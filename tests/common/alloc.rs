#![allow(dead_code)]
//! A global allocator that counts the largest single allocation made by
//! the current thread, so a test can prove that no length read from a file
//! is trusted for an allocation: `largest_alloc_during`. A test binary that
//! uses it declares `#[global_allocator] static A: alloc::Counting = alloc::Counting;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static LARGEST_ALLOC: Cell<usize> = const { Cell::new(0) };
    /// The seeded input this thread runs, named if it asks for a huge block.
    static SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Names the seeded input this thread runs, for the message below.
pub fn set_seed(seed: u64) {
    SEED.with(|s| s.set(Some(seed)));
}

fn note_alloc(size: usize) {
    let _ = LARGEST_ALLOC.try_with(|c| c.set(c.get().max(size)));
    if size > 1 << 30 {
        // Such a request aborts the process before the test can say which
        // input made it; say it here, without allocating.
        if let Ok(Some(seed)) = SEED.try_with(Cell::get) {
            let mut msg = *b"hostile: seeded input 0x0000000000000000 asked for over 1 GiB\n";
            for (i, digit) in msg[24..40].iter_mut().enumerate() {
                *digit = b"0123456789abcdef"[(seed >> (60 - 4 * i)) as usize & 15];
            }
            // SAFETY: writes a buffer that lives across the call to stderr.
            unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
        }
    }
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_alloc(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_alloc(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// Runs `f` and returns its result with the largest allocation it made.
pub fn largest_alloc_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST_ALLOC.with(|c| c.set(0));
    let out = f();
    (out, LARGEST_ALLOC.with(|c| c.get()))
}
