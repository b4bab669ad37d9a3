//! A spinlock's whole state: one word in shared memory, and the two operations on it.
//!
//! Every spinlock of the lesson is this word and a way of waiting for it. Taking the lock
//! is one atomic instruction that both tests and sets (`tas`): a load that sees 0
//! followed by a store of 1 would let two processes in. Freeing it is one store. The
//! orderings make the pair a lock: what a holder wrote before its release is visible to
//! the next holder after its test-and-set.

use std::sync::atomic::{AtomicU32, Ordering};

use common::Result;
use l08_races::Shared;

// ANCHOR: word
/// A spinlock's whole state: one word in shared memory (PostgreSQL's `slock_t`).
#[repr(C)]
pub struct LockWord {
    /// 0: free; 1: held. All-zero memory is a free lock.
    pub state: AtomicU32,
}

/// A free lock word in a shared mapping of its own, made before fork so that every child
/// inherits it.
pub fn new_lock_word() -> Result<Shared<LockWord>> {
    Shared::new()
}

/// The lock word in `shared`, for as long as the mapping lives.
pub fn lock_word(shared: &Shared<LockWord>) -> &LockWord {
    // SAFETY: the mapping holds one zero-initialized, page-aligned LockWord, which is a
    // valid free lock; it is only ever accessed through its atomic, so a `&` to it is sound
    // even while other processes change it. The borrow cannot outlive the mapping.
    unsafe { &*shared.as_ptr() }
}

/// Test-and-set: store 1, return what was there. 0 means "it was free, now it is ours",
/// as PostgreSQL's `TAS()` returns 0 on success. Acquire: what the previous holder wrote
/// before its Release store of 0 is visible to us once we see that 0.
pub fn tas(word: &LockWord) -> u32 {
    word.state.swap(1, Ordering::Acquire)
}

/// Release: everything written under the lock becomes visible to the next holder.
pub fn release(word: &LockWord) {
    word.state.store(0, Ordering::Release);
}
// ANCHOR_END: word
