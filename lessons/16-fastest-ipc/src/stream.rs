//! Throughput: one process streams a large amount of data to another, in chunks.
//!
//! Every channel gets the same work: the producer builds `chunks` chunks, every byte of each
//! (message.rs), and the consumer checks every byte of each. Through a channel that copies
//! (the byte ring, a pipe, a socket) the producer builds a chunk in a buffer of its own and
//! sends it, and the consumer receives it into a buffer of its own; through the slot ring
//! the producer builds it in a slot and the consumer checks it there. A channel that loses,
//! repeats or reorders a single byte makes the measurement fail. The ceiling is `memcpy`:
//! one thread copying the same amount, once between buffers that fit in the CPU's cache and
//! once between buffers far larger than any cache (so at the speed of DRAM).

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result};
use l08_races::{Shared, now_ns, race};

use crate::aligned::PageAligned;
use crate::message::{build, is_intact};
use crate::ring::{Ring, receive, send, wait_a_little};
use crate::slots::SlotRing;

/// How the data travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A shared-memory [`Ring`] of this many bytes.
    Ring(usize),
    /// A pipe, as the kernel makes it (64 KiB of buffer on Linux).
    Pipe,
    /// A connected pair of Unix stream sockets, with the kernel's default buffer sizes.
    UnixSocket,
    /// A [`SlotRing`] of this many slots, each one chunk: no copy at all.
    Slots(usize),
}

/// How much to move: `chunks` chunks of `chunk` bytes.
#[derive(Debug, Clone, Copy)]
pub struct Amount {
    pub chunk: usize,
    pub chunks: u64,
}

impl Amount {
    pub fn bytes(&self) -> u64 {
        self.chunk as u64 * self.chunks
    }
}

/// What the consumer reports back.
#[repr(C)]
struct Received {
    /// Bytes that arrived and matched.
    verified: AtomicU64,
    /// 0, or 1 + the sequence number of the first chunk that did not match.
    bad_chunk: AtomicU64,
}

// ANCHOR: stream
/// Streams `amount` from one pinned process to another through `carrier`; returns the
/// nanoseconds from the start line to the consumer's check of the last byte.
pub fn stream(carrier: Carrier, amount: Amount) -> Result<f64> {
    let received = Shared::<Received>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used by both processes only atomically.
    let received = unsafe { &*received.as_ptr() };
    let finish = match carrier {
        Carrier::Ring(capacity) => {
            let ring = Ring::new(capacity)?;
            race(2, true, |side| match side {
                0 => produce(amount, |chunk| {
                    send(&ring, chunk);
                    Ok(())
                }),
                _ => consume(amount, received, |chunk| {
                    receive(&ring, chunk);
                    Ok(())
                }),
            })?
        }
        Carrier::Pipe => {
            let (reader, writer) = std::io::pipe()?;
            race(2, true, |side| match side {
                0 => produce(amount, |chunk| (&writer).write_all(chunk)),
                _ => consume(amount, received, |chunk| (&reader).read_exact(chunk)),
            })?
        }
        Carrier::UnixSocket => {
            let (producer_end, consumer_end) = std::os::unix::net::UnixStream::pair()?;
            race(2, true, |side| match side {
                0 => produce(amount, |chunk| (&producer_end).write_all(chunk)),
                _ => consume(amount, received, |chunk| (&consumer_end).read_exact(chunk)),
            })?
        }
        Carrier::Slots(slots) => {
            let ring = SlotRing::new(slots, amount.chunk)?;
            race(2, true, |side| match side {
                0 => produce_in_place(&ring, amount),
                _ => consume_in_place(&ring, amount, received),
            })?
        }
    };
    match received.bad_chunk.load(Ordering::Acquire) {
        0 => {}
        bad => return Err(Error::Failed(format!("chunk {} arrived damaged", bad - 1))),
    }
    let verified = received.verified.load(Ordering::Acquire);
    if verified != amount.bytes() {
        return Err(Error::Failed(format!(
            "{verified} of {} bytes arrived intact",
            amount.bytes()
        )));
    }
    Ok(finish.elapsed.as_nanos() as f64)
}

/// Builds every chunk in a buffer of its own and sends it (the channel copies it).
fn produce(amount: Amount, mut send: impl FnMut(&[u8]) -> std::io::Result<()>) -> Result<()> {
    let mut chunk = PageAligned::new(amount.chunk);
    for sequence in 0..amount.chunks {
        build(sequence, &mut chunk);
        send(&chunk)?;
    }
    Ok(())
}

/// Receives every chunk into a buffer of its own (the channel copies it) and checks every
/// byte of it. After a damaged chunk it notes which, and goes on receiving without checking:
/// stopping would leave the producer waiting for room for ever.
fn consume(
    amount: Amount,
    report: &Received,
    mut receive: impl FnMut(&mut [u8]) -> std::io::Result<()>,
) -> Result<()> {
    let mut chunk = PageAligned::new(amount.chunk);
    for sequence in 0..amount.chunks {
        receive(&mut chunk)?;
        report.check(sequence, &chunk);
    }
    Ok(())
}
// ANCHOR_END: stream

// ANCHOR: in_place
/// Builds every chunk right in a free slot, and publishes it: no copy.
fn produce_in_place(ring: &SlotRing, amount: Amount) -> Result<()> {
    for sequence in 0..amount.chunks {
        let mut waited = 0;
        let mut slot = loop {
            match ring.reserve() {
                Some(slot) => break slot,
                None => wait_a_little(&mut waited), // every slot is still being read
            }
        };
        build(sequence, &mut slot.bytes()[..amount.chunk]);
        slot.publish(amount.chunk);
    }
    Ok(())
}

/// Checks every byte of every chunk where it lies, in its slot, then releases the slot.
fn consume_in_place(ring: &SlotRing, amount: Amount, report: &Received) -> Result<()> {
    for sequence in 0..amount.chunks {
        let mut waited = 0;
        let chunk = loop {
            match ring.take() {
                Some(chunk) => break chunk,
                None => wait_a_little(&mut waited), // nothing published yet
            }
        };
        report.check(sequence, &chunk);
        drop(chunk); // releases the slot
    }
    Ok(())
}
// ANCHOR_END: in_place

impl Received {
    /// Counts `chunk` as verified if it is chunk `sequence`, every byte; notes the first
    /// one that is not, and checks nothing after it.
    fn check(&self, sequence: u64, chunk: &[u8]) {
        if self.bad_chunk.load(Ordering::Relaxed) != 0 {
            return;
        }
        if !is_intact(sequence, chunk) {
            self.bad_chunk.store(sequence + 1, Ordering::Release);
            return;
        }
        self.verified
            .fetch_add(chunk.len() as u64, Ordering::Release);
    }
}

// ANCHOR: memcpy
/// Nanoseconds for one thread to copy `amount` from a chunk-sized buffer to another, over
/// and over: both stay in the CPU's cache. The fastest a byte can move.
pub fn memcpy_in_cache(amount: Amount) -> f64 {
    let (mut source, mut target) = (
        PageAligned::new(amount.chunk),
        PageAligned::new(amount.chunk),
    );
    build(0, &mut source);
    let start = now_ns();
    for _ in 0..amount.chunks {
        target.copy_from_slice(black_box(&source));
        black_box(&mut target); // the copy must really happen, every time
    }
    (now_ns() - start) as f64
}

/// Nanoseconds for one thread to copy `amount`, chunk after chunk, from one buffer of
/// `buffer` bytes to another, going round both: far larger than the caches, so every byte
/// comes from DRAM and goes back to it.
pub fn memcpy_through_dram(amount: Amount, buffer: usize) -> f64 {
    let (mut source, mut target) = (PageAligned::new(buffer), PageAligned::new(buffer));
    build(0, &mut source);
    target.fill(1); // written now, so the pages exist before the clock starts
    let pieces = buffer / amount.chunk;
    let start = now_ns();
    for index in 0..amount.chunks as usize {
        let at = index % pieces * amount.chunk;
        target[at..at + amount.chunk].copy_from_slice(black_box(&source[at..at + amount.chunk]));
        black_box(&mut target);
    }
    (now_ns() - start) as f64
}
// ANCHOR_END: memcpy

/// Bytes per nanosecond is GB/s; this turns a time for `amount` into GiB/s.
pub fn gib_per_second(amount: Amount, nanos: f64) -> f64 {
    amount.bytes() as f64 / nanos * 1e9 / (1u64 << 30) as f64
}
