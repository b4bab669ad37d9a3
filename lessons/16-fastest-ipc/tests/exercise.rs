//! Checks for lesson 16's exercise: the ring's `push` and `pop`. `cargo test -p
//! l16-fastest-ipc` runs them against src/solution.rs; `cargo exercise l16-fastest-ipc`
//! against your src/exercise.rs. The last one forks, so they all run in this file's own
//! single-threaded `main`.
//!
//! Every byte is checked: byte number `n` of the stream must arrive as `expected(n)`, a
//! value that depends on `n`, so a byte that is lost, repeated, or read from the wrong place
//! shows up as the wrong value at a known position.

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Exit, fork_child, watchdog};
use l01_mmap::{Mapping, page_size};
use l08_races::{Shared, race, random_u64};
use l16_fastest_ipc::ring::{ProtFlags, Ring, pop, push, wait_a_little};
use nix::sys::mman::MapFlags;
use nix::sys::signal::Signal;

fn main() -> std::process::ExitCode {
    common::run_tests!(
        an_empty_ring_gives_nothing,
        a_full_ring_takes_nothing_more,
        bytes_come_out_in_order_across_the_wrap,
        push_copies_before_it_publishes,
        pop_copies_before_it_releases,
        a_producer_and_a_consumer_process_agree_on_every_byte,
    )
}

/// What byte number `n` of every test stream must be.
fn expected(n: u64) -> u8 {
    (n ^ n >> 8 ^ n >> 16).wrapping_mul(31) as u8
}

/// The ring's state: bytes ever pushed and ever popped.
fn counters(ring: &Ring) -> (u64, u64) {
    (
        ring.head().load(Ordering::Acquire),
        ring.tail().load(Ordering::Acquire),
    )
}

fn stream(from: u64, len: usize) -> Vec<u8> {
    (from..from + len as u64).map(expected).collect()
}

fn an_empty_ring_gives_nothing() {
    // push and pop never wait: one that loops for ever ends this program (SIGALRM).
    let _deadline = watchdog::Armed::for_seconds(10);
    let ring = Ring::new(64).unwrap();
    let mut out = [0u8; 16];
    let popped = pop(&ring, &mut out);
    assert_eq!(
        popped, 0,
        "pop on a new, empty ring returned {popped}: nothing was pushed, so the bytes \
         available are head - tail = 0"
    );
    assert_eq!(
        counters(&ring),
        (0, 0),
        "pop on an empty ring changed the counters"
    );
}

fn a_full_ring_takes_nothing_more() {
    // push and pop never wait: one that loops for ever ends this program (SIGALRM).
    let _deadline = watchdog::Armed::for_seconds(10);
    let ring = Ring::new(64).unwrap();
    let data = stream(0, 100);
    let pushed = push(&ring, &data);
    assert_eq!(
        pushed, 64,
        "push of 100 bytes into an empty ring of 64 returned {pushed}: it must take exactly \
         what fits, all 64 (free space = capacity - (head - tail))"
    );
    let again = push(&ring, &data[64..]);
    assert_eq!(again, 0, "push into a full ring returned {again}, not 0");
    let (head, tail) = counters(&ring);
    assert_eq!(
        (head, tail),
        (64, 0),
        "after pushing 64 bytes, head should be 64 and tail 0 (head counts the bytes ever \
         pushed: did push store head + len with Release?)"
    );
    let mut out = [0u8; 100];
    let popped = pop(&ring, &mut out);
    assert_eq!(
        popped, 64,
        "pop from a full ring of 64 returned {popped}, not 64"
    );
    assert_eq!(
        &out[..64],
        &data[..64],
        "the 64 bytes came out different from what went in"
    );
    assert_eq!(
        counters(&ring),
        (64, 64),
        "after popping everything, tail should equal head"
    );
}

/// One process, many small pushes and pops of different sizes, so that pieces wrap around
/// the end of the ring in every possible place.
fn bytes_come_out_in_order_across_the_wrap() {
    // push and pop never wait: one that loops for ever ends this program (SIGALRM).
    let _deadline = watchdog::Armed::for_seconds(10);
    let ring = Ring::new(64).unwrap();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut out = [0u8; 64];
    for step in 0..5_000u64 {
        let want = (step * 7 % 64 + 1) as usize; // 1 to 64 bytes
        let data = stream(sent, want);
        let pushed = push(&ring, &data);
        let free = 64 - (sent - received) as usize;
        assert_eq!(
            pushed,
            want.min(free),
            "step {step}: push of {want} bytes with {free} free returned {pushed}"
        );
        sent += pushed as u64;
        let take = (step * 13 % 64 + 1) as usize;
        let popped = pop(&ring, &mut out[..take]);
        let available = (sent - received) as usize;
        assert_eq!(
            popped,
            take.min(available),
            "step {step}: pop of up to {take} bytes with {available} available returned {popped}"
        );
        for (i, &byte) in out[..popped].iter().enumerate() {
            let n = received + i as u64;
            assert_eq!(
                byte,
                expected(n),
                "byte {n} of the stream (ring position {}) came out wrong: a piece that \
                 reaches the end of the ring goes on at position 0, and byte n sits at \
                 n % capacity",
                n % 64
            );
        }
        received += popped as u64;
    }
    assert_eq!(
        counters(&ring),
        (sent, received),
        "head and tail must count every byte ever pushed and popped (they never wrap; the \
         position in the ring is the count % capacity)"
    );
}

/// The order inside `push`, checked without racing anyone: a child makes the ring's data
/// read-only in its own view of the mapping and pushes. Its copy into the ring faults and
/// kills it (SIGSEGV) at the first byte. If `head` has already moved by then, push
/// published bytes it had not written yet: a consumer would read garbage.
fn push_copies_before_it_publishes() {
    let ring = Ring::new(64).unwrap();
    let child = fork_child(|| {
        ring.protect_data(ProtFlags::PROT_READ).unwrap();
        push(&ring, &stream(0, 10));
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    let (head, _) = counters(&ring);
    assert_eq!(
        head, 0,
        "push published head = {head} before its copy into the ring was done (the copy \
         faulted, yet head had moved): a consumer that sees the new head reads bytes not \
         written yet. Copy first, then store head with Release"
    );
    match exit {
        Exit::Signal(Signal::SIGSEGV) => {}
        Exit::Code(101) => panic!("push panicked in the child (its message is above)"),
        other => panic!(
            "push into an empty ring did not write into the ring's data (a child that may \
             not write there {other} instead of faulting)"
        ),
    }
}

/// The same for `pop`: its copy out goes into a buffer the child may only read, and faults.
/// If `tail` has moved by then, pop gave the space back before reading it: the producer
/// could overwrite those bytes while they are being read.
fn pop_copies_before_it_releases() {
    let ring = Ring::new(64).unwrap();
    assert_eq!(
        push(&ring, &stream(0, 10)),
        10,
        "push of 10 bytes into an empty ring"
    );
    let child = fork_child(|| {
        let read_only =
            Mapping::anonymous(page_size(), ProtFlags::PROT_READ, MapFlags::MAP_PRIVATE).unwrap();
        // SAFETY: a live mapping of a page; nothing else refers to it. Writing into it
        // faults, which is the point: pop's copy out must happen before it moves tail.
        let out = unsafe { std::slice::from_raw_parts_mut(read_only.as_ptr(), 10) };
        pop(&ring, out);
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    let (_, tail) = counters(&ring);
    assert_eq!(
        tail, 0,
        "pop released tail = {tail} before its copy out of the ring was done (the copy \
         faulted, yet tail had moved): the producer may overwrite those bytes while they are \
         read. Copy first, then store tail with Release"
    );
    match exit {
        Exit::Signal(Signal::SIGSEGV) => {}
        Exit::Code(101) => panic!("pop panicked in the child (its message is above)"),
        other => panic!(
            "pop from a ring holding 10 bytes did not copy them out (the child {other} \
             instead of faulting on its read-only buffer)"
        ),
    }
}

/// What the consumer process found, for the parent to report.
#[repr(C)]
struct Verdict {
    /// Bytes that arrived.
    received: AtomicU64,
    /// 0, or 1 + the position in the stream of the first wrong byte.
    first_wrong: AtomicU64,
    /// What that byte was.
    wrong_value: AtomicU64,
}

/// A producer process and a consumer process, pinned to two CPUs, move 16 MiB through a ring
/// of 4 KiB in pieces of random sizes; the consumer checks every byte.
fn a_producer_and_a_consumer_process_agree_on_every_byte() {
    const TOTAL: u64 = 16 << 20;
    // Seconds a side may go without moving a byte before it is taken to wait for ever. The
    // whole transfer takes well under one on an idle machine; on a busy one each side may
    // get its CPU only now and then, so the clock restarts whenever a side makes progress:
    // only a side that is really stuck (the other never publishes) runs out of it.
    const PATIENCE: u32 = 20;
    let ring = Ring::new(4096).unwrap();
    let verdict = Shared::<Verdict>::new().unwrap();
    // SAFETY: zeroed atomics in a live mapping, used by every process only atomically.
    let verdict = unsafe { &*verdict.as_ptr() };
    let all = stream(0, TOTAL as usize);
    let raced = race(2, true, |side| {
        watchdog::arm(PATIENCE); // a side that waits for ever ends with SIGALRM
        let mut waited = 0;
        if side == 0 {
            let mut sent = 0;
            while sent < TOTAL {
                let want = (random_u64() % 3000 + 1).min(TOTAL - sent) as usize;
                match push(&ring, &all[sent as usize..sent as usize + want]) {
                    0 => wait_a_little(&mut waited),
                    pushed => {
                        (sent, waited) = (sent + pushed as u64, 0);
                        watchdog::arm(PATIENCE);
                    }
                }
            }
        } else {
            let (mut received, mut out) = (0, vec![0u8; 3000]);
            while received < TOTAL {
                let want = (random_u64() % 3000 + 1) as usize;
                let popped = pop(&ring, &mut out[..want]);
                if popped == 0 {
                    wait_a_little(&mut waited);
                    continue;
                }
                waited = 0;
                watchdog::arm(PATIENCE);
                let piece = &all[received as usize..received as usize + popped];
                let wrong = (0..popped).find(|&i| out[i] != piece[i]);
                if let (Some(i), 0) = (wrong, verdict.first_wrong.load(Ordering::Relaxed)) {
                    // Note the first wrong byte, and go on popping: stopping would leave
                    // the producer waiting for room for ever.
                    verdict
                        .first_wrong
                        .store(received + i as u64 + 1, Ordering::Release);
                    verdict
                        .wrong_value
                        .store(u64::from(out[i]), Ordering::Release);
                }
                received += popped as u64;
                verdict.received.store(received, Ordering::Release);
            }
        }
        Ok(())
    });
    // The first cause first: a side that panicked (worker 0 pushes, worker 1 pops) explains
    // whatever the other side saw afterwards, wrong bytes included.
    if let Err(err) = &raced
        && err.to_string().contains("status 101")
    {
        panic!(
            "the producer and consumer processes failed: {err}: push (worker 0) or pop (worker 1) \
             panicked in a forked process; its message is above, and it is the cause of \
             anything else this check saw"
        );
    }
    match verdict.first_wrong.load(Ordering::Acquire) {
        0 => {}
        position => {
            let n = position - 1;
            panic!(
                "byte {n} of the stream arrived as {}, not {}: the consumer read it before \
                 the producer had copied it in (publish head only after the copy, with \
                 Release; read it with Acquire), or from the wrong place (position = count \
                 % capacity)",
                verdict.wrong_value.load(Ordering::Acquire),
                expected(n)
            );
        }
    }
    if let Err(err) = raced {
        let text = err.to_string();
        let why = if text.contains("SIGALRM") {
            "one side moved no byte for 20 s, waiting for the other: does push publish the \
             new head, and pop the new tail, once its copy is done (store with Release)?"
        } else {
            "see the error"
        };
        panic!("the producer and consumer processes failed: {text}: {why}");
    }
    let received = verdict.received.load(Ordering::Acquire);
    assert_eq!(received, TOTAL, "only {received} of {TOTAL} bytes arrived");
}
