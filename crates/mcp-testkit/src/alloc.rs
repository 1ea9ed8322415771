//! [`PeakAlloc`]: the system allocator, recording the largest single
//! allocation a thread asks for while it measures, so a test can show that
//! a decoder never allocates what a hostile length field claims.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: mcp_testkit::PeakAlloc = mcp_testkit::PeakAlloc;
//!
//! let (decoded, largest) = mcp_testkit::largest_allocation(|| decode(bytes));
//! assert!(largest <= bytes.len() + 4096);
//! ```

// A global allocator cannot be written without `unsafe`: it only forwards
// to `System`, with the same layouts, and counts.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
};

thread_local! {
    /// `None` while not measuring; the largest request so far otherwise.
    static LARGEST: Cell<Option<usize>> = const { Cell::new(None) };
}

/// The system allocator, with [`largest_allocation`] measuring through it
/// when installed as the `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeakAlloc;

fn record(size: usize) {
    // `try_with`: the slot may be gone while the thread exits.
    let _ = LARGEST.try_with(|largest| {
        if let Some(seen) = largest.get() {
            largest.set(Some(seen.max(size)));
        }
    });
}

unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: `ptr` and `layout` are the caller's, from this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// What `work` returns, and the largest single allocation (bytes) this
/// thread asked for while it ran; 0 when [`PeakAlloc`] is not the global
/// allocator or nothing was allocated.
pub fn largest_allocation<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let outer = LARGEST.with(|largest| largest.replace(Some(0)));
    let value = work();
    let seen = LARGEST.with(|largest| largest.replace(outer)).unwrap_or(0);
    if let Some(outer) = outer {
        LARGEST.with(|largest| largest.set(Some(outer.max(seen))));
    }
    (value, seen)
}
