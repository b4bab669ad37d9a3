//! Part 3 of the story: what an increment costs under each lock of Part IV as 1, 2, 4 and 8
//! processes share the two CPUs, and how many updates no lock loses.

use std::cell::RefCell;
use std::time::Duration;

use common::Result;
use l10_sleeping_locks::SysVSemaphore;
use l16_fastest_ipc::locks::{self, Limit, Lock};
use l16_fastest_ipc::machine::{Machine, on_cpus};
use l16_fastest_ipc::table::Table;

use super::Story;
use super::cells::{Cells, recorded};
use super::sizes::Sizes;

/// How many processes race, column by column.
const PROCESSES: [usize; 4] = [1, 2, 4, 8];

// ANCHOR: lock_costs
pub fn lock_costs(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<[Table; 2]> {
    story.section("3. What an increment costs, as processes outnumber CPUs");
    story.say(&format!(
        "1, 2, 4 and 8 processes, pinned round-robin to {}, each",
        machine.placement()
    ));
    story.say(&format!(
        "increment one counter under the lock (a load and a store) for {} ms, {} times at most:",
        sizes.limit.time.as_millis(),
        sizes.limit.increments
    ));
    let columns: Vec<String> = PROCESSES.iter().map(|&n| processes(n)).collect();
    let locks = Lock::ALL.into_iter().chain([Lock::None]);
    let names: Vec<&str> = locks.clone().map(Lock::name).collect();
    let mut costs = Table::new("lock costs", "ns per increment", columns.clone()).with_rows(&names);
    let lost_name = format!("of {} per process", sizes.unlocked);
    let mut lost =
        Table::new("lost updates", "% of updates lost", columns).with_rows(&[&lost_name]);
    let unlocked = Limit {
        increments: sizes.unlocked,
        time: Duration::from_secs(3600),
    };
    let cpus = &machine.cpus[..];
    // The one System V semaphore set of the run (see locks::increments).
    let set = &SysVSemaphore::create()?;
    let lost_in_runs: Vec<RefCell<Vec<f64>>> = PROCESSES.map(|_| RefCell::default()).into();
    let mut cells = Cells::default();
    for (row, lock) in locks.enumerate() {
        for (column, workers) in PROCESSES.into_iter().enumerate() {
            let lost_in_runs = &lost_in_runs[column];
            let limit = if lock == Lock::None {
                unlocked
            } else {
                sizes.limit
            };
            cells.add(row, column, move || {
                let counted = on_cpus(cpus, || locks::increments(lock, workers, limit, set))?;
                if lock == Lock::None {
                    let share = counted.lost() as f64 / counted.made as f64 * 100.0;
                    lost_in_runs.borrow_mut().push(share);
                }
                Ok(counted.per_increment())
            });
        }
    }
    cells.measure(sizes.plan, &mut costs)?;
    for (column, lost_in_runs) in lost_in_runs.iter().enumerate() {
        lost.rows[0].cells[column] = recorded(lost_in_runs, sizes.plan);
    }
    story.table(&costs);
    story.say("every lock was exact in every run: the counter equalled the processes' own counts");
    story.table(&lost);
    if let (Some(_), Some(lost_by_two)) = (machine.pair(), lost.get(&lost_name, 1)) {
        let made = 2 * sizes.unlocked;
        story.say(&format!(
            "without a lock, 2 processes on 2 CPUs lost {} of {made} updates",
            (lost_by_two.median / 100.0 * made as f64).round()
        ));
    }
    Ok([costs, lost])
}
// ANCHOR_END: lock_costs

fn processes(n: usize) -> String {
    format!("{n} process{}", if n == 1 { "" } else { "es" })
}
