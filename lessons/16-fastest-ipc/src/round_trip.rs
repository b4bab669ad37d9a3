//! Round trips: one side says "ping", the other answers "pong", again and again.
//!
//! A round trip is the smallest exchange two processes can have, so its cost is the price
//! of the channel itself. Through shared memory a ping is one store to a word both sides
//! map, and the other side sees it when its CPU next reads that cache line: the hardware
//! moves the line from one core's cache to the other's, and no system call is made. Through
//! a pipe or a socket, each ping is a `write` and a `read`, and a side that waits sleeps in
//! the kernel until the scheduler wakes it.

mod bytes;
mod rings;
mod word;

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{Error, Exit, Result, fork_child};
use l08_races::{Shared, race};
use nix::sched::{CpuSet, sched_setaffinity};
use nix::unistd::Pid;

use crate::ring::Ring;
use crate::slots::SlotRing;
use bytes::{ping_bytes, pong_bytes};
use rings::{ping_ring, ping_slots, pong_ring, pong_slots};
use word::{ping_word, pong_word};

/// How the two sides talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// A word in shared memory; the waiting side spins on it.
    Spin,
    /// A word in shared memory; the waiting side sleeps in `FUTEX_WAIT` on it and is woken
    /// with `FUTEX_WAKE`.
    Futex,
    /// Two pipes, one each way, one byte per message.
    Pipe,
    /// A connected pair of Unix stream sockets (`socketpair`), one byte per message.
    UnixSocket,
    /// Two copying rings in shared memory (ring.rs), one each way, one byte per message.
    Ring,
    /// Two zero-copy slot rings (slots.rs), one each way, a one-byte message in a slot.
    Slots,
}

/// How long one measurement may go on: at most this many round trips, and roughly at most
/// this long.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub trips: u64,
    pub time: Duration,
}

/// What the pinging side measured, in shared memory so that the parent can read it.
#[repr(C)]
struct Timing {
    trips: AtomicU64,
    nanos: AtomicU64,
}

impl Timing {
    fn record(&self, (trips, nanos): (u64, u64)) {
        self.trips.store(trips, Ordering::Relaxed);
        self.nanos.store(nanos, Ordering::Relaxed);
    }

    fn trips(&self) -> Result<Trips> {
        match self.trips.load(Ordering::Relaxed) {
            0 => Err(Error::Failed("the ping side made no round trip".into())),
            trips => Ok(Trips {
                trips,
                nanos: self.nanos.load(Ordering::Relaxed),
            }),
        }
    }
}

/// How many round trips a measurement made, and how long they took.
#[derive(Debug, Clone, Copy)]
pub struct Trips {
    pub trips: u64,
    pub nanos: u64,
}

impl Trips {
    pub fn per_trip(&self) -> f64 {
        self.nanos as f64 / self.trips as f64
    }
}

// ANCHOR: processes
/// Round trips between two processes over `channel`, each pinned to one of
/// the CPUs this process may use (call it inside [`crate::machine::on_cpus`]: one CPU
/// there puts both on it).
pub fn between_processes(channel: Channel, budget: Budget) -> Result<Trips> {
    let timing = Shared::<Timing>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used by every process only atomically.
    let timing = unsafe { &*timing.as_ptr() };
    match channel {
        Channel::Spin | Channel::Futex => {
            let word = Shared::<AtomicU32>::new()?;
            // SAFETY: as above.
            let word = unsafe { &*word.as_ptr() };
            race(2, true, |side| match side {
                0 => {
                    timing.record(ping_word(word, channel, budget));
                    Ok(())
                }
                _ => {
                    pong_word(word, channel);
                    Ok(())
                }
            })?;
        }
        Channel::Pipe => {
            // One pipe carries the pings (ping writes, pong reads), the other the pongs.
            let (ping_reader, ping_writer) = std::io::pipe()?;
            let (pong_reader, pong_writer) = std::io::pipe()?;
            race(2, true, |side| match side {
                0 => {
                    timing.record(ping_bytes(&mut &pong_reader, &mut &ping_writer, budget)?);
                    Ok(())
                }
                _ => pong_bytes(&mut &ping_reader, &mut &pong_writer),
            })?;
        }
        Channel::UnixSocket => {
            let (ping_end, pong_end) = std::os::unix::net::UnixStream::pair()?;
            race(2, true, |side| match side {
                0 => {
                    timing.record(ping_bytes(&mut &ping_end, &mut &ping_end, budget)?);
                    Ok(())
                }
                _ => pong_bytes(&mut &pong_end, &mut &pong_end),
            })?;
        }
        Channel::Ring => {
            let (pings, pongs) = (Ring::new(4096)?, Ring::new(4096)?);
            race(2, true, |side| {
                match side {
                    0 => timing.record(ping_ring(&pings, &pongs, budget)),
                    _ => pong_ring(&pings, &pongs),
                }
                Ok(())
            })?;
        }
        Channel::Slots => {
            let (pings, pongs) = (SlotRing::new(8, 128)?, SlotRing::new(8, 128)?);
            race(2, true, |side| {
                match side {
                    0 => timing.record(ping_slots(&pings, &pongs, budget)),
                    _ => pong_slots(&pings, &pongs),
                }
                Ok(())
            })?;
        }
    }
    timing.trips()
}
// ANCHOR_END: processes

// ANCHOR: threads
/// The reference: two threads of one process, pinned to `cpus[0]` and `cpus[1]`, spinning
/// on a word in ordinary (private) memory. Measured in a forked child, so that this process
/// never has a second thread and may go on forking safely.
pub fn between_threads(cpus: [usize; 2], budget: Budget) -> Result<Trips> {
    let timing = Shared::<Timing>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used by both processes only atomically.
    let timing = unsafe { &*timing.as_ptr() };
    let measurer = fork_child(|| {
        let word = AtomicU32::new(0);
        let measured = std::thread::scope(|scope| {
            scope.spawn(|| {
                pin_this_thread_or_leave(cpus[1]);
                pong_word(&word, Channel::Spin);
            });
            pin_this_thread_or_leave(cpus[0]);
            ping_word(&word, Channel::Spin, budget)
        });
        timing.record(measured);
        0
    })?;
    match measurer.wait()? {
        Exit::Code(0) => timing.trips(),
        Exit::Code(3) => Err(Error::Failed(
            "a thread could not be pinned to its CPU".into(),
        )),
        other => Err(Error::Failed(format!("the thread round trip {other}"))),
    }
}

/// `sched_setaffinity(0, ...)` pins the calling thread only. If that fails, the measuring
/// child ends at once (status 3): the other thread would otherwise wait for ever.
fn pin_this_thread_or_leave(cpu: usize) {
    let mut set = CpuSet::new();
    if set.set(cpu).is_err() || sched_setaffinity(Pid::from_raw(0), &set).is_err() {
        // SAFETY: this runs only in the forked measuring child, which owns nothing the
        // parent needs cleaned up; `_exit` ends it, both threads, at once.
        unsafe { libc::_exit(3) };
    }
}
// ANCHOR_END: threads
