//! What every message of the throughput runs carries, built by the producer and checked by
//! the consumer, every byte of it.
//!
//! Why every byte is built anew for every message: a real producer makes each message (a
//! tuple, a page), and through a ring of slots it makes it right where the consumer will
//! read it. A producer that wrote only a sequence number into a buffer it sends again and
//! again would, through the slots, leave the rest of each slot as it was one lap earlier,
//! and nothing would move between the CPUs. So every channel gets the same work: build all
//! of message `n` (into a buffer of one's own, or into a slot), move it (or not), check all
//! of it.
//!
//! Message `n` is 8-byte words, word `j` being `n × SEQUENCE + j × PLACE` (wrapping): a byte
//! from another message, or from another place in this one, differs from the one expected.
//! Building and checking need no other memory, and the compiler turns both into vector
//! instructions, so they cost about what writing and reading the bytes cost.

// ANCHOR: message
/// Odd constants (from the golden ratio and from π): multiplying by one never maps two
/// different numbers to the same word.
const SEQUENCE: u64 = 0x9E37_79B9_7F4A_7C15;
const PLACE: u64 = 0x243F_6A88_85A3_08D3;

/// Writes message `sequence` over all of `message`.
pub fn build(sequence: u64, message: &mut [u8]) {
    let mut word = sequence.wrapping_mul(SEQUENCE); // word 0; each next one adds PLACE
    let mut words = message.chunks_exact_mut(8);
    for bytes in &mut words {
        bytes.copy_from_slice(&word.to_le_bytes());
        word = word.wrapping_add(PLACE);
    }
    let tail = words.into_remainder();
    tail.copy_from_slice(&word.to_le_bytes()[..tail.len()]);
}

/// Whether every byte of `message` is what [`build`] wrote for message `sequence`.
pub fn is_intact(sequence: u64, message: &[u8]) -> bool {
    let (mut word, mut differ) = (sequence.wrapping_mul(SEQUENCE), 0);
    let mut words = message.chunks_exact(8);
    for bytes in &mut words {
        let bytes: [u8; 8] = bytes.try_into().expect("chunks of 8");
        differ |= u64::from_le_bytes(bytes) ^ word; // no branch per word: it stays fast
        word = word.wrapping_add(PLACE);
    }
    let tail = words.remainder();
    differ == 0 && tail == &word.to_le_bytes()[..tail.len()]
}
// ANCHOR_END: message

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_intact_until_any_byte_changes() {
        for len in [0, 1, 7, 8, 9, 100, 4096] {
            let mut message = vec![0u8; len];
            build(5, &mut message);
            assert!(is_intact(5, &message), "{len} bytes");
            for i in 0..len {
                message[i] ^= 1;
                assert!(!is_intact(5, &message), "byte {i} of {len} changed");
                message[i] ^= 1;
            }
        }
    }

    #[test]
    fn another_message_or_another_place_differs_in_every_word() {
        let (mut a, mut b) = (vec![0u8; 256], vec![0u8; 256]);
        build(7, &mut a);
        build(11, &mut b); // what a slot held a lap earlier, say
        assert!(a.chunks(8).zip(b.chunks(8)).all(|(x, y)| x != y));
        assert!(a[8..].chunks(8).zip(a.chunks(8)).all(|(x, y)| x != y)); // a word's place
        assert!(!is_intact(7, &b) && !is_intact(7, &a[8..]));
    }
}
