//! Part 1 of the story: round trips between two pinned processes, over shared memory (spin,
//! futex, the copying ring, the zero-copy ring) and through the kernel (pipe, Unix socket),
//! on two CPUs and on one, against two threads of one process; and the CPU-to-CPU
//! interrupts that woke the sleepers.

use std::cell::RefCell;

use common::Result;
use l16_fastest_ipc::machine::{Machine, cpu_to_cpu_interrupts, on_cpus};
use l16_fastest_ipc::round_trip::{self, Channel};
use l16_fastest_ipc::table::Table;

use super::Story;
use super::cells::{Cells, recorded};
use super::sizes::Sizes;

// ANCHOR: round_trips
const CHANNELS: [(&str, Channel); 6] = [
    ("spin, shared memory", Channel::Spin),
    ("futex, shared memory", Channel::Futex),
    ("shared-memory ring", Channel::Ring),
    ("zero-copy slot ring", Channel::Slots),
    ("pipe", Channel::Pipe),
    ("Unix socket", Channel::UnixSocket),
];

pub fn round_trips(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<[Table; 2]> {
    story.section("1. Round trips: ping, pong, and again");
    story.say("one process stores or writes a ping, the other answers it; per round trip:");
    let columns = vec!["on 2 CPUs".to_string(), "on 1 CPU".to_string()];
    let names = CHANNELS.map(|(name, _)| name);
    let mut times = Table::new("round trips", "µs per round trip", columns.clone())
        .with_rows(&names)
        .with_rows(&["spin, 2 threads"]);
    let mut interrupts =
        Table::new("interrupts", "CPU-to-CPU interrupts", columns).with_rows(&names);
    let placements = [machine.pair(), Some(&machine.cpus[..1])];
    let counted: Vec<RefCell<Vec<f64>>> = (0..CHANNELS.len() * 2)
        .map(|_| RefCell::default())
        .collect();
    let mut cells = Cells::default();
    for (row, (_, channel)) in CHANNELS.into_iter().enumerate() {
        for (column, cpus) in placements.into_iter().enumerate() {
            let (Some(cpus), counted) = (cpus, &counted[row * 2 + column]) else {
                continue;
            };
            cells.add(row, column, move || {
                let before = cpu_to_cpu_interrupts();
                let trips = on_cpus(cpus, || round_trip::between_processes(channel, sizes.trips))?;
                if let (Some(before), Some(after)) = (before, cpu_to_cpu_interrupts()) {
                    counted
                        .borrow_mut()
                        .push((after - before) as f64 / trips.trips as f64);
                }
                Ok(trips.per_trip() / 1000.0)
            });
        }
    }
    if let Some(&[a, b]) = machine.pair() {
        let threads = round_trip::between_threads;
        cells.add(CHANNELS.len(), 0, move || {
            Ok(threads([a, b], sizes.trips)?.per_trip() / 1000.0)
        });
    }
    cells.measure(sizes.plan, &mut times)?;
    for (index, counted) in counted.iter().enumerate() {
        interrupts.rows[index / 2].cells[index % 2] = recorded(counted, sizes.plan);
    }
    story.table(&times);
    story.say("spin: a store, and a load on the other CPU; the hardware moves the cache line");
    story.say("futex: the same word, but the waiter sleeps in the kernel until it is woken");
    story.say("rings: a one-byte message each way, pushed and popped, or built and read in a slot");
    story.say("pipe, socket: a write and a read per message, and the reader sleeps in between");
    story.say("on 1 CPU nothing overlaps: every answer waits for the other process to be run");
    story.say("");
    story.say(
        "what woke the sleepers: interrupts from CPU to CPU (/proc/interrupts), per round trip:",
    );
    story.table(&interrupts);
    Ok([times, interrupts])
}
// ANCHOR_END: round_trips
