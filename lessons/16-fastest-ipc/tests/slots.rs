//! Checks for lesson 16's zero-copy ring (src/slots.rs): the consumer sees every byte the
//! producer wrote, in place, and never a slot's contents before it is published. Not part
//! of the exercise: they check the lesson's own code. Some fork, so they all run in this
//! file's own single-threaded `main`.
//!
//! The order checks race nobody: a child makes the slots inaccessible in its own view of
//! the mapping, so that any read of a slot kills it (SIGSEGV) at a moment the check chose.

use std::sync::atomic::{AtomicU64, Ordering};

use common::{Exit, fork_child, watchdog};
use l08_races::{Shared, race, random_u64};
use l16_fastest_ipc::ring::wait_a_little;
use l16_fastest_ipc::slots::SlotRing;
use nix::sys::mman::ProtFlags;

fn main() -> std::process::ExitCode {
    common::run_tests!(
        every_slot_is_used_in_turn_and_a_held_one_is_not_reused,
        the_consumer_reads_the_slot_the_producer_wrote,
        take_reads_no_slot_before_it_is_published,
        a_producer_and_a_consumer_process_agree_on_every_slot,
    )
}

/// Publishes a message of `len` bytes, each `byte`; panics if no slot is free.
fn publish(ring: &SlotRing, len: usize, byte: u8) -> *const u8 {
    let mut slot = ring.reserve().expect("a free slot");
    slot.bytes()[..len].fill(byte);
    let at = slot.bytes().as_ptr();
    slot.publish(len);
    at
}

fn every_slot_is_used_in_turn_and_a_held_one_is_not_reused() {
    let ring = SlotRing::new(3, 128).unwrap();
    assert!(ring.take().is_none(), "a new ring has no message to take");
    let slots: Vec<*const u8> = (0..3).map(|n| publish(&ring, 10, n)).collect();
    assert!(
        slots[0] != slots[1] && slots[1] != slots[2] && slots[0] != slots[2],
        "three messages in a ring of three slots went to the same slot"
    );
    assert!(ring.reserve().is_none(), "a full ring gave a slot to write");
    let held = ring.take().expect("the first message");
    assert_eq!(
        held[0], 0,
        "the first message taken is not the first published"
    );
    assert!(
        ring.reserve().is_none(),
        "the producer got a slot the consumer is still reading"
    );
    drop(held);
    let reused = publish(&ring, 10, 3);
    assert_eq!(reused, slots[0], "the released slot is the one to reuse");
    for n in 1..=3u8 {
        let message = ring.take().expect("a published message");
        assert_eq!(
            (message.len(), message[0]),
            (10, n),
            "messages out of order"
        );
    }
    let counts = (
        ring.published().load(Ordering::Acquire),
        ring.released().load(Ordering::Acquire),
    );
    assert_eq!(counts, (4, 4), "published and released count every message");
}

/// Zero copies: the view the consumer gets is the very memory the producer wrote into.
fn the_consumer_reads_the_slot_the_producer_wrote() {
    let ring = SlotRing::new(2, 256).unwrap();
    for round in 0..5u8 {
        let written = publish(&ring, 200, round);
        let message = ring.take().expect("the message just published");
        assert_eq!(
            message.as_ptr(),
            written,
            "the consumer's view is not the slot the producer wrote: a copy was made"
        );
        assert!(message.iter().all(|&b| b == round) && message.len() == 200);
    }
}

/// A child that may not touch the slots at all takes from the ring while the only message
/// is reserved and written but not published: `take` must say "nothing" without reading a
/// slot (a read would kill the child). Once the message is published, a child that may only
/// read the slots takes it and finds every byte the producer wrote; had it written into the
/// slot, it would have died.
fn take_reads_no_slot_before_it_is_published() {
    let ring = SlotRing::new(2, 4096).unwrap();
    let mut slot = ring.reserve().unwrap();
    slot.bytes().fill(7); // written, not published
    let unpublished = fork_child(|| {
        ring.protect_data(ProtFlags::PROT_NONE).unwrap();
        i32::from(ring.take().is_some()) // 0: nothing to take, and nothing touched
    })
    .unwrap();
    let exit = unpublished.wait().unwrap();
    assert_eq!(
        exit,
        Exit::Code(0),
        "take on a ring whose only message is not yet published: the child that may not \
         touch the slots {exit} (1: it returned a message; SIGSEGV: it read a slot)"
    );
    slot.publish(4096);
    let published = fork_child(|| {
        ring.protect_data(ProtFlags::PROT_READ).unwrap();
        let message = ring.take().expect("the published message");
        i32::from(message.len() != 4096 || message.iter().any(|&byte| byte != 7))
    })
    .unwrap();
    let exit = published.wait().unwrap();
    assert_eq!(
        exit,
        Exit::Code(0),
        "a consumer that may only read the slots took the published message of 4096 bytes \
         of 7: it {exit} (1: the message was not what the producer wrote)"
    );
    assert_eq!(
        ring.released().load(Ordering::Acquire),
        1,
        "the consumer child released the message it read"
    );
}

/// Messages in a run: enough for the slots to go round many times.
const MESSAGES: usize = 20_000;

/// What each side saw of each message: its length and a checksum of its bytes.
#[repr(C)]
struct Seen {
    length: [AtomicU64; MESSAGES],
    checksum: [AtomicU64; MESSAGES],
}

/// FNV-1a: every byte and its place count.
fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A producer process writes 20,000 messages of random length and random bytes straight
/// into the slots of a small ring (4 slots of 512 bytes), noting each one's length and
/// checksum; a consumer process on the other CPU takes each, checksums it in place, and
/// notes the same. Afterwards the two lists must agree, message by message.
fn a_producer_and_a_consumer_process_agree_on_every_slot() {
    const PATIENCE: u32 = 20; // seconds without progress before a side counts as stuck
    let ring = SlotRing::new(4, 512).unwrap();
    let (wrote, read) = (
        Shared::<Seen>::new().unwrap(),
        Shared::<Seen>::new().unwrap(),
    );
    // SAFETY: zeroed atomics in live mappings, used by every process only atomically.
    let (wrote, read) = unsafe { (&*wrote.as_ptr(), &*read.as_ptr()) };
    race(2, true, |side| {
        watchdog::arm(PATIENCE);
        for n in 0..MESSAGES {
            let mut waited = 0;
            let seen = if side == 0 {
                let mut slot = loop {
                    match ring.reserve() {
                        Some(slot) => break slot,
                        None => wait_a_little(&mut waited),
                    }
                };
                let len = (random_u64() % 512 + 1) as usize;
                let bytes = &mut slot.bytes()[..len];
                bytes.fill_with(|| random_u64() as u8);
                let seen = (len, checksum(bytes));
                slot.publish(len);
                (wrote, seen)
            } else {
                let message = loop {
                    match ring.take() {
                        Some(message) => break message,
                        None => wait_a_little(&mut waited),
                    }
                };
                (read, (message.len(), checksum(&message)))
            };
            let (table, (len, sum)) = seen;
            table.length[n].store(len as u64, Ordering::Relaxed);
            table.checksum[n].store(sum, Ordering::Relaxed);
            watchdog::arm(PATIENCE);
        }
        Ok(())
    })
    .unwrap_or_else(|err| panic!("the producer and consumer processes failed: {err}"));
    for n in 0..MESSAGES {
        let wrote = (
            wrote.length[n].load(Ordering::Relaxed),
            wrote.checksum[n].load(Ordering::Relaxed),
        );
        let read = (
            read.length[n].load(Ordering::Relaxed),
            read.checksum[n].load(Ordering::Relaxed),
        );
        assert_eq!(
            read, wrote,
            "message {n}: the consumer read (length, checksum) {read:?}, the producer wrote \
             {wrote:?}"
        );
    }
}
