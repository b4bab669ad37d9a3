//! Part 2 of the story: moving a large amount from one process to another through a
//! shared-memory ring that copies each byte in and out, a ring of slots that copies none,
//! a pipe and a Unix socket, every byte checked, against the ceilings: `memcpy` in cache
//! and through DRAM.

use common::Result;
use l16_fastest_ipc::machine::{Machine, on_cpus};
use l16_fastest_ipc::stream::{self, Carrier, gib_per_second};
use l16_fastest_ipc::table::Table;

use super::Story;
use super::cells::Cells;
use super::sizes::{KIB, MIB, Sizes};

// ANCHOR: throughput
const CARRIERS: [&str; 6] = [
    "shared-memory ring",
    "zero-copy slot ring",
    "pipe",
    "Unix socket",
    "memcpy, in cache",
    "memcpy, through DRAM",
];

pub fn throughput(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<Table> {
    let amount = sizes.amount;
    story.section(&format!(
        "2. Moving {} MiB from one process to another, {} KiB at a time",
        amount.bytes() / MIB as u64,
        amount.chunk / KIB
    ));
    let columns = vec!["median (min–max)".to_string()];
    let mut table = Table::new("throughput", "GiB/s", columns).with_rows(&CARRIERS);
    let mut cells = Cells::default();
    if let Some(cpus) = machine.pair() {
        let carriers = [
            Carrier::Ring(sizes.ring),
            Carrier::Slots(sizes.ring / amount.chunk),
            Carrier::Pipe,
            Carrier::UnixSocket,
        ];
        for (row, carrier) in carriers.into_iter().enumerate() {
            cells.add(row, 0, move || {
                let nanos = on_cpus(cpus, || stream::stream(carrier, amount))?;
                Ok(gib_per_second(amount, nanos))
            });
        }
    }
    let one = &machine.cpus[..1];
    cells.add(4, 0, move || {
        let nanos = on_cpus(one, || Ok(stream::memcpy_in_cache(amount)))?;
        Ok(gib_per_second(amount, nanos))
    });
    cells.add(5, 0, move || {
        let nanos = on_cpus(one, || {
            Ok(stream::memcpy_through_dram(amount, sizes.dram_buffer))
        })?;
        Ok(gib_per_second(amount, nanos))
    });
    cells.measure(sizes.plan, &mut table)?;
    story.table(&table);
    if machine.pair().is_some() {
        story.say(
            "the producer built every byte of every chunk, the consumer checked every byte: the",
        );
        story.say("rings, the pipe and the socket were exact in every run");
    }
    story.say(&format!(
        "the ring holds {} KiB, the zero-copy ring {} slots of {} KiB (as much); memcpy is one",
        sizes.ring / KIB,
        sizes.ring / amount.chunk,
        amount.chunk / KIB
    ));
    story.say(&format!(
        "thread copying: between two {} KiB buffers (in cache), then going round two {} MiB",
        amount.chunk / KIB,
        sizes.dram_buffer / MIB
    ));
    story.say("buffers (through DRAM): the ceilings");
    Ok(table)
}
// ANCHOR_END: throughput
