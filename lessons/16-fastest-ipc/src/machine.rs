//! Which CPUs the measurements run on, and what machine that is.
//!
//! A figure means little without the machine it was measured on: whether the two CPUs are
//! two cores or two hyperthreads of one, whether they are real or a hypervisor's virtual
//! CPUs, whether the program was optimized. This file finds out, from `/proc` and `/sys`.

use common::{Error, Result};
use l08_races::usable_cpus;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// The machine, as far as the figures depend on it.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` in /proc/cpuinfo.
    pub cpu_model: String,
    /// The `hypervisor` flag in /proc/cpuinfo: the CPUs are virtual.
    pub virtual_cpus: bool,
    /// /proc/sys/kernel/osrelease.
    pub kernel: String,
    /// How many CPUs this process may run on.
    pub usable: usize,
    /// The two CPUs every measurement uses (the first two usable ones), or one if that is all.
    pub cpus: Vec<usize>,
    /// Whether those two are hyperthreads of one core (they share its caches and its pipeline).
    pub siblings: bool,
    /// "release" or "debug".
    pub build: &'static str,
}

impl Machine {
    pub fn find() -> Result<Machine> {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name"))
            .and_then(|rest| rest.split_once(':'))
            .map_or("unknown CPU".into(), |(_, model)| model.trim().to_string());
        let virtual_cpus = cpuinfo.lines().any(|line| {
            line.starts_with("flags") && line.split_whitespace().any(|f| f == "hypervisor")
        });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or("unknown".into(), |text| text.trim().to_string());
        let usable = usable_cpus()?;
        let cpus: Vec<usize> = usable.iter().copied().take(2).collect();
        let siblings = match cpus[..] {
            [a, b] => thread_siblings(a).contains(&b),
            _ => false,
        };
        let build = if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        };
        Ok(Machine {
            cpu_model,
            virtual_cpus,
            kernel,
            usable: usable.len(),
            cpus,
            siblings,
            build,
        })
    }

    /// The two CPUs, if this process may use two.
    pub fn pair(&self) -> Option<&[usize]> {
        (self.cpus.len() == 2).then_some(&self.cpus[..])
    }

    /// `CPUs 0 and 1 (two cores)`, as the story and the chart say it.
    pub fn placement(&self) -> String {
        match self.cpus[..] {
            [a, b] if self.siblings => format!("CPUs {a} and {b} (hyperthreads of one core)"),
            [a, b] => format!("CPUs {a} and {b} (two cores)"),
            [a] => format!("CPU {a} (the only one this process may use)"),
            _ => "no CPU".into(),
        }
    }

    /// One line naming the machine, for the chart and the JSON.
    pub fn summary(&self) -> String {
        format!(
            "{}{}, {} usable CPUs, Linux {}, {} build",
            self.cpu_model,
            if self.virtual_cpus {
                " (virtual CPUs)"
            } else {
                ""
            },
            self.usable,
            self.kernel,
            self.build
        )
    }
}

/// The CPUs that share a core with `cpu`, from /sys (empty if the kernel does not say).
fn thread_siblings(cpu: usize) -> Vec<usize> {
    let path = format!("/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list");
    let list = std::fs::read_to_string(path).unwrap_or_default();
    let mut cpus = Vec::new();
    for part in list.trim().split(',').filter(|part| !part.is_empty()) {
        let (first, last) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(first), Ok(last)) = (first.parse::<usize>(), last.parse::<usize>()) {
            cpus.extend(first..=last);
        }
    }
    cpus.retain(|&other| other != cpu);
    cpus
}

// ANCHOR: on_cpus
/// Runs `measure` with this process (and so every process it forks meanwhile) allowed only
/// on `cpus`, then gives it back the CPUs it had. Lesson 08's `race` pins its workers
/// round-robin over exactly these.
pub fn on_cpus<T>(cpus: &[usize], measure: impl FnOnce() -> Result<T>) -> Result<T> {
    let before = sched_getaffinity(Pid::from_raw(0)).map_err(Error::sys("sched_getaffinity"))?;
    let mut set = CpuSet::new();
    for &cpu in cpus {
        set.set(cpu).map_err(Error::sys("CpuSet::set"))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(Error::sys("sched_setaffinity"))?;
    let result = measure();
    sched_setaffinity(Pid::from_raw(0), &before).map_err(Error::sys("sched_setaffinity"))?;
    result
}
// ANCHOR_END: on_cpus

// ANCHOR: interrupts
/// Interrupts one CPU has sent another so far, all CPUs together, from /proc/interrupts:
/// "Rescheduling interrupts" (RES: run the scheduler, a task was woken for you) and
/// "Function call interrupts" (CAL: run this function, which is how Linux usually hands a
/// woken task to another CPU). `None` if the kernel does not show them.
pub fn cpu_to_cpu_interrupts() -> Option<u64> {
    let table = std::fs::read_to_string("/proc/interrupts").ok()?;
    let mut total = None;
    for line in table.lines() {
        if line.contains("Rescheduling interrupts") || line.contains("unction call interrupts") {
            let counts = line.split_whitespace().skip(1);
            let sum: u64 = counts.map_while(|count| count.parse::<u64>().ok()).sum();
            total = Some(total.unwrap_or(0) + sum);
        }
    }
    total
}
// ANCHOR_END: interrupts
