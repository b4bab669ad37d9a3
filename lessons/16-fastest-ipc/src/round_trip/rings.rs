//! Round trips through the two rings in shared memory, one ring each way: a ping is a
//! one-byte message pushed into the copying ring, or built in a slot of the zero-copy ring,
//! and the answer comes back the same way. No system call: each side spins on the other's
//! counter, as through the word of word.rs, but a message also moves a line of data.

use l08_races::now_ns;

use super::Budget;
use crate::ring::{Ring, pop, push, wait_a_little};
use crate::slots::SlotRing;

// ANCHOR: ping_slots
/// Pings with a one-byte message (1) built in a slot of `out`, and waits for the answer
/// in `back`; an empty message says "done".
pub fn ping_slots(out: &SlotRing, back: &SlotRing, budget: Budget) -> (u64, u64) {
    let (start, mut trips) = (now_ns(), 0);
    let deadline = start + budget.time.as_nanos() as u64;
    while trips < budget.trips && (trips % 64 != 0 || now_ns() < deadline) {
        send_slot(out, Some(1));
        let answer = receive_slot(back);
        debug_assert_eq!(answer, Some(1));
        trips += 1;
    }
    let took = now_ns() - start;
    send_slot(out, None);
    (trips, took)
}

/// Answers every message in `input` with the same byte in `output`, until an empty one.
pub fn pong_slots(input: &SlotRing, output: &SlotRing) {
    while let Some(byte) = receive_slot(input) {
        send_slot(output, Some(byte));
    }
}

/// Builds a message of one byte (or an empty one, for `None`) in the next free slot.
fn send_slot(ring: &SlotRing, byte: Option<u8>) {
    let mut waited = 0;
    let mut slot = loop {
        match ring.reserve() {
            Some(slot) => break slot,
            None => wait_a_little(&mut waited),
        }
    };
    if let Some(byte) = byte {
        slot.bytes()[0] = byte;
    }
    slot.publish(usize::from(byte.is_some()));
}

/// Reads the byte of the next message where it lies, and releases its slot.
fn receive_slot(ring: &SlotRing) -> Option<u8> {
    let mut waited = 0;
    loop {
        match ring.take() {
            Some(message) => return message.first().copied(),
            None => wait_a_little(&mut waited),
        }
    }
}
// ANCHOR_END: ping_slots

/// The same through two copying rings: one byte pushed, one byte popped; a 0 says "done".
pub fn ping_ring(out: &Ring, back: &Ring, budget: Budget) -> (u64, u64) {
    let (start, mut trips) = (now_ns(), 0);
    let deadline = start + budget.time.as_nanos() as u64;
    while trips < budget.trips && (trips % 64 != 0 || now_ns() < deadline) {
        send_byte(out, 1);
        receive_byte(back);
        trips += 1;
    }
    let took = now_ns() - start;
    send_byte(out, 0);
    (trips, took)
}

pub fn pong_ring(input: &Ring, output: &Ring) {
    loop {
        match receive_byte(input) {
            0 => return,
            byte => send_byte(output, byte),
        }
    }
}

fn send_byte(ring: &Ring, byte: u8) {
    let mut waited = 0;
    while push(ring, &[byte]) == 0 {
        wait_a_little(&mut waited);
    }
}

fn receive_byte(ring: &Ring) -> u8 {
    let (mut byte, mut waited) = ([0u8], 0);
    while pop(ring, &mut byte) == 0 {
        wait_a_little(&mut waited);
    }
    byte[0]
}
