//! The steps of lesson 16's story, one file each, in the order `run` (src/main.rs) takes
//! them: the sizes, the round trips, the throughput, the lock costs and the conclusions; the
//! figures as JSON. What they measure with is the library (src/lib.rs), which a later lesson
//! may reuse; the [`Story`] here only tells it, and stays silent with `--json`.

pub mod cells;
pub mod conclusions;
pub mod json;
pub mod lock_costs;
pub mod round_trips;
pub mod sizes;
pub mod throughput;

use common::section;
use l16_fastest_ipc::figures::Plan;
use l16_fastest_ipc::machine::Machine;
use l16_fastest_ipc::table::Table;

use sizes::Sizes;

/// The story printed as the run goes; nothing of it with `--json`.
pub struct Story {
    pub quiet: bool,
}

impl Story {
    pub fn say(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }

    pub fn section(&self, title: &str) {
        if !self.quiet {
            section(title);
        }
    }

    pub fn table(&self, table: &Table) {
        if !self.quiet {
            print!("{}", table.text());
        }
    }

    pub fn machine(&self, machine: &Machine, sizes: &Sizes) {
        self.section("The machine");
        self.say(&format!(
            "cpu: {}{}",
            machine.cpu_model,
            if machine.virtual_cpus {
                " (virtual CPUs: a hypervisor schedules them)"
            } else {
                ""
            }
        ));
        self.say(&format!(
            "kernel: Linux {}, {} build",
            machine.kernel, machine.build
        ));
        self.say(&format!(
            "every measurement runs on {}, of the {} usable CPUs",
            machine.placement(),
            machine.usable
        ));
        self.say(&match sizes.plan {
            Plan {
                runs: 1,
                warm_up: false,
            } => {
                "each figure: one run, with small sizes (--quick): for the checks, not the figures"
                    .to_string()
            }
            plan => format!(
                "each figure: the median of {} runs after a warm-up run, (fastest–slowest)",
                plan.runs
            ),
        });
        if machine.cpus.len() < 2 {
            self.say("only one CPU: the two-CPU measurements are left out (—)");
        }
    }
}
