//! Throughput: one process streams a large amount of data to another, in chunks.
//!
//! Every channel gets the same work: the producer sends `chunks` chunks, each stamped with
//! its sequence number; the consumer receives each one into its own buffer and checks every
//! byte against what the producer sent. A channel that loses, repeats or reorders a single
//! byte makes the measurement fail. The ceiling is `memcpy`: one thread copying the same
//! amount, once between buffers that fit in the CPU's cache and once between buffers far
//! larger than any cache (so at the speed of DRAM).

use std::hint::black_box;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};

use common::{Error, Result};
use l08_races::{Shared, now_ns, race};

use crate::ring::{Ring, receive, send};

/// How the data travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Carrier {
    /// A shared-memory [`Ring`] of this many bytes.
    Ring(usize),
    /// A pipe, as the kernel makes it (64 KiB of buffer on Linux).
    Pipe,
    /// A connected pair of Unix stream sockets, with the kernel's default buffer sizes.
    UnixSocket,
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
    let pattern = pattern(amount.chunk);
    let finish = match carrier {
        Carrier::Ring(capacity) => {
            let ring = Ring::new(capacity)?;
            race(2, true, |side| match side {
                0 => produce(amount, &pattern, |chunk| {
                    send(&ring, chunk);
                    Ok(())
                }),
                _ => consume(amount, &pattern, received, |chunk| {
                    receive(&ring, chunk);
                    Ok(())
                }),
            })?
        }
        Carrier::Pipe => {
            let (reader, writer) = std::io::pipe()?;
            race(2, true, |side| match side {
                0 => produce(amount, &pattern, |chunk| (&writer).write_all(chunk)),
                _ => consume(amount, &pattern, received, |chunk| {
                    (&reader).read_exact(chunk)
                }),
            })?
        }
        Carrier::UnixSocket => {
            let (producer_end, consumer_end) = std::os::unix::net::UnixStream::pair()?;
            race(2, true, |side| match side {
                0 => produce(amount, &pattern, |chunk| (&producer_end).write_all(chunk)),
                _ => consume(amount, &pattern, received, |chunk| {
                    (&consumer_end).read_exact(chunk)
                }),
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

/// Sends every chunk: the pattern, with the chunk's sequence number in its first 8 bytes.
fn produce(
    amount: Amount,
    pattern: &[u8],
    mut send: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<()> {
    let mut chunk = pattern.to_vec();
    for sequence in 0..amount.chunks {
        chunk[..8].copy_from_slice(&sequence.to_le_bytes());
        send(&chunk)?;
    }
    Ok(())
}

/// Receives every chunk and checks every byte of it. After a damaged chunk it notes which,
/// and goes on receiving without checking: stopping would leave the producer waiting for
/// room for ever.
fn consume(
    amount: Amount,
    pattern: &[u8],
    report: &Received,
    mut receive: impl FnMut(&mut [u8]) -> std::io::Result<()>,
) -> Result<()> {
    let mut chunk = vec![0u8; amount.chunk];
    for sequence in 0..amount.chunks {
        receive(&mut chunk)?;
        if report.bad_chunk.load(Ordering::Relaxed) != 0 {
            continue;
        }
        if chunk[..8] != sequence.to_le_bytes() || chunk[8..] != pattern[8..] {
            report.bad_chunk.store(sequence + 1, Ordering::Release);
            continue;
        }
        report
            .verified
            .fetch_add(amount.chunk as u64, Ordering::Release);
    }
    Ok(())
}
// ANCHOR_END: stream

/// The bytes every chunk carries (after its sequence number): no two neighbours alike and
/// no short period, so that a byte delivered to the wrong place does not match by chance.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8)
        .collect()
}

// ANCHOR: memcpy
/// Nanoseconds for one thread to copy `amount` from a chunk-sized buffer to another, over
/// and over: both stay in the CPU's cache. The fastest a byte can move.
pub fn memcpy_in_cache(amount: Amount) -> f64 {
    let source = pattern(amount.chunk);
    let mut target = vec![1u8; amount.chunk];
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
    let source = pattern(buffer);
    let mut target = vec![1u8; buffer]; // written now, so the pages exist before the clock starts
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
