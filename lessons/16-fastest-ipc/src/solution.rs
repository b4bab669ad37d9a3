//! Lesson 16's exercise, answered: the ring's two ends.

use std::sync::atomic::Ordering;

use crate::ring::Ring;

// ANCHOR: push
/// Copies as much of `data` as fits into the ring and publishes it; returns how many bytes
/// that was (0 when the ring is full). Called by the producer only.
pub fn push(ring: &Ring, data: &[u8]) -> usize {
    let capacity = ring.capacity() as u64;
    // Our own counter: nobody else writes it, so Relaxed sees our last store.
    let head = ring.head().load(Ordering::Relaxed);
    // Acquire: the consumer's copies out of the bytes below `tail` happened before its
    // Release store of `tail`, so they are done before we overwrite those bytes.
    let tail = ring.tail().load(Ordering::Acquire);
    let free = capacity - (head - tail);
    let len = data.len().min(free as usize);
    let position = (head % capacity) as usize;
    let first = len.min(ring.capacity() - position); // up to the end of the ring...
    // SAFETY: bytes [head, head + len) of the stream are free: `len` is at most what the
    // consumer has released (`tail + capacity - head`), and only we write into free bytes.
    unsafe {
        ring.copy_in(position, &data[..first]);
        ring.copy_in(0, &data[first..len]); // ...and the rest from its start
    }
    // Release: the bytes we just copied are visible to whoever sees the new `head`.
    ring.head().store(head + len as u64, Ordering::Release);
    len
}
// ANCHOR_END: push

// ANCHOR: pop
/// Copies as many published bytes as fit into `out` and releases their space; returns how
/// many bytes that was (0 when the ring is empty). Called by the consumer only.
pub fn pop(ring: &Ring, out: &mut [u8]) -> usize {
    let capacity = ring.capacity() as u64;
    let tail = ring.tail().load(Ordering::Relaxed); // our own counter
    // Acquire: pairs with the producer's Release store of `head`: the bytes below it have
    // been copied in, and we see them.
    let head = ring.head().load(Ordering::Acquire);
    let len = out.len().min((head - tail) as usize);
    let position = (tail % capacity) as usize;
    let first = len.min(ring.capacity() - position);
    // SAFETY: bytes [tail, tail + len) are published (below `head`) and not yet released,
    // so the producer does not write them until our store below.
    unsafe {
        ring.copy_out(position, &mut out[..first]);
        ring.copy_out(0, &mut out[first..len]);
    }
    // Release: our copies out are done before the producer may reuse this space.
    ring.tail().store(tail + len as u64, Ordering::Release);
    len
}
// ANCHOR_END: pop
