//! Round trips through the kernel: a pipe or a Unix socket carries one byte each way. Each
//! ping is a `write` and a `read`, and a side that waits sleeps in the kernel until the
//! scheduler wakes it.

use std::io::{Read, Write};

use common::Result;
use l08_races::now_ns;

use super::Budget;

// ANCHOR: ping_bytes
/// Pings by writing one byte (1) and waits for the one-byte answer; a 0 says "done".
pub fn ping_bytes(
    input: &mut impl Read,
    output: &mut impl Write,
    budget: Budget,
) -> Result<(u64, u64)> {
    let (start, mut trips, mut byte) = (now_ns(), 0, [0u8]);
    let deadline = start + budget.time.as_nanos() as u64;
    while trips < budget.trips && (trips % 64 != 0 || now_ns() < deadline) {
        output.write_all(&[1])?;
        input.read_exact(&mut byte)?;
        trips += 1;
    }
    let took = now_ns() - start;
    output.write_all(&[0])?;
    Ok((trips, took))
}

pub fn pong_bytes(input: &mut impl Read, output: &mut impl Write) -> Result<()> {
    let mut byte = [0u8];
    loop {
        input.read_exact(&mut byte)?;
        if byte[0] == 0 {
            return Ok(());
        }
        output.write_all(&[1])?;
    }
}
// ANCHOR_END: ping_bytes
