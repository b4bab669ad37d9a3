//! Atomics made in place, on words that live in shared memory.
//!
//! A word that two processes may touch at the same moment is only ever touched as an
//! atomic; `from_ptr` makes one out of the bytes already there, without moving them. Its
//! one demand beyond a valid pointer is alignment, which is checked here, not assumed.

use std::mem::align_of;
use std::sync::atomic::{AtomicU32, AtomicU64};

// ANCHOR: atomic
/// The `AtomicU32` that lives at `ptr`, made in place. Panics if `ptr` is misaligned:
/// `from_ptr` requires `align_of::<AtomicU32>()`, and a misaligned atomic may tear or fault.
///
/// # Safety
/// `ptr` must stay valid for `'a`, and every process must access that word only atomically.
pub unsafe fn atomic_u32<'a>(ptr: *mut u32) -> &'a AtomicU32 {
    let align = align_of::<AtomicU32>();
    assert!(
        (ptr as usize).is_multiple_of(align),
        "AtomicU32 at {ptr:?} is not {align}-aligned"
    );
    // SAFETY: aligned (checked above); valid and only accessed atomically (the caller's promise).
    unsafe { AtomicU32::from_ptr(ptr) }
}

/// The `AtomicU64` that lives at `ptr`, made in place; like [`atomic_u32`]. On some 32-bit
/// targets `align_of::<AtomicU64>()` is 8 while `align_of::<u64>()` is 4, so check, don't assume.
///
/// # Safety
/// As for [`atomic_u32`].
pub unsafe fn atomic_u64<'a>(ptr: *mut u64) -> &'a AtomicU64 {
    let align = align_of::<AtomicU64>();
    assert!(
        (ptr as usize).is_multiple_of(align),
        "AtomicU64 at {ptr:?} is not {align}-aligned"
    );
    // SAFETY: aligned (checked above); valid and only accessed atomically (the caller's promise).
    unsafe { AtomicU64::from_ptr(ptr) }
}
// ANCHOR_END: atomic
