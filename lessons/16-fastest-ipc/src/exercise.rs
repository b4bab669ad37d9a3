//! Lesson 16's exercise: the two ends of the shared-memory ring.
//!
//! Write `push` and `pop`, then run `cargo course check 16` until it is green. `cargo
//! course hint 16` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::sync::atomic::Ordering;

use crate::ring::Ring;

/// Copies as much of `data` as fits into the ring and publishes it; returns how many bytes
/// that was (0 when the ring is full). Called by the producer only.
///
/// `ring.head()` counts the bytes ever pushed, `ring.tail()` the bytes ever popped; both
/// only grow. Byte number `n` of the stream sits at position `n % capacity`, so a push that
/// reaches the end of the ring goes on at position 0 (two `copy_in`s). Read the consumer's
/// counter with Acquire; publish yours with Release, after the copy.
pub fn push(ring: &Ring, data: &[u8]) -> usize {
    let _ = (ring, data);
    todo!("write push in src/exercise.rs: free space, copy in (wrapping around), publish head")
}

/// Copies as many published bytes as fit into `out` and releases their space; returns how
/// many bytes that was (0 when the ring is empty). Called by the consumer only. The mirror
/// image of `push`: read `head` with Acquire, copy out (wrapping around), then publish
/// `tail` with Release.
pub fn pop(ring: &Ring, out: &mut [u8]) -> usize {
    let _ = (ring, out);
    todo!("write pop in src/exercise.rs: bytes available, copy out (wrapping around), publish tail")
}
