//! Lesson 16: shared memory against pipes and sockets, and every lock of Part IV, measured
//! on this machine in one run.
//!
//! The story: which machine and CPUs; round trips between two pinned processes (on two
//! CPUs, then on one) over shared memory and through the kernel, against two threads;
//! streaming a large amount through a ring in shared memory, a pipe and a socket, every
//! byte checked, against memcpy; what an increment costs under each lock as 1, 2, 4 and 8
//! processes share two CPUs, and what no lock loses; then the ratios that matter. Figures
//! are medians of several runs after a warm-up. `--quick` makes everything small: that is
//! what the tests run, for the story and the checks, not for the figures.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use common::{Error, Result, section};
use l16_fastest_ipc::chart;
use l16_fastest_ipc::figures::{Figure, Measure, Plan, Table, number, quote};
use l16_fastest_ipc::locks::{self, Limit, Lock};
use l16_fastest_ipc::machine::{Machine, cpu_to_cpu_interrupts, on_cpus};
use l16_fastest_ipc::round_trip::{self, Budget, Channel};
use l16_fastest_ipc::stream::{self, Amount, Carrier, gib_per_second};
use nix::errno::Errno;

/// Measure how fast processes talk through shared memory, pipes and sockets, and what each
/// lock of Part IV costs. Build with --release: a debug build measures the debug build.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Small sizes and one run of each (about a second): checks that everything works; the
    /// figures are not worth reading.
    #[arg(long, conflicts_with_all = ["runs", "mib"])]
    quick: bool,

    /// Runs per figure, after one warm-up run: each figure is their median.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = common::up_to::<100>)]
    runs: u64,

    /// MiB each throughput run moves (at least 64, so that the copy through DRAM does not
    /// fit in a cache).
    #[arg(long, value_name = "MiB", default_value_t = 256, value_parser = mib)]
    mib: u64,

    /// Print the figures as JSON, for tools, instead of the story.
    #[arg(long)]
    json: bool,

    /// Also draw the figures as an SVG chart into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
}

/// How big everything is, in the full run and in `--quick`.
struct Sizes {
    plan: Plan,
    trips: Budget,
    amount: Amount,
    /// Each of memcpy's two buffers for the DRAM figure: far larger than any CPU's caches.
    dram_buffer: usize,
    ring: usize,
    limit: Limit,
    /// Increments per process in the races without a lock (never cut short by time, so
    /// that the number lost is out of a fixed total).
    unlocked: u64,
}

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const CHUNK: usize = 64 * KIB;
const PROCESSES: [usize; 4] = [1, 2, 4, 8];

impl Sizes {
    fn new(args: &Args) -> Sizes {
        if args.quick {
            return Sizes {
                plan: Plan {
                    runs: 1,
                    warm_up: false,
                },
                trips: Budget {
                    trips: 2_000,
                    time: Duration::from_millis(20),
                },
                amount: Amount {
                    chunk: CHUNK,
                    chunks: 64,
                },
                dram_buffer: 4 * MIB,
                ring: 256 * KIB,
                limit: Limit {
                    increments: 5_000,
                    time: Duration::from_millis(20),
                },
                unlocked: 1_000_000,
            };
        }
        Sizes {
            plan: Plan {
                runs: args.runs as usize,
                warm_up: true,
            },
            trips: Budget {
                trips: 1_000_000,
                time: Duration::from_millis(100),
            },
            amount: Amount {
                chunk: CHUNK,
                chunks: args.mib * (MIB / CHUNK) as u64,
            },
            dram_buffer: 256 * MIB,
            ring: 256 * KIB,
            limit: Limit {
                increments: 1_000_000,
                time: Duration::from_millis(50),
            },
            unlocked: 1_000_000,
        }
    }
}

fn main() -> std::process::ExitCode {
    common::main(run)
}

/// `--mib`: 64 to 65536.
fn mib(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (64..=65536).contains(&n) => Ok(n),
        _ => Err("expected a whole number from 64 to 65536".into()),
    }
}

fn run(args: Args) -> Result<()> {
    let sizes = Sizes::new(&args);
    // Open the chart's file first: a typo in its path should not cost a whole run.
    let svg = match &args.svg {
        Some(path) => Some((
            path,
            std::fs::File::create(path).map_err(|err| {
                let why = err.raw_os_error().map_or(err.to_string(), |errno| {
                    Errno::from_raw(errno).desc().into()
                });
                Error::Failed(format!(
                    "cannot write the chart to {}: {why}",
                    path.display()
                ))
            })?,
        )),
        None => None,
    };
    let story = Story { quiet: args.json };
    let machine = Machine::find()?;
    story.machine(&machine, &sizes);
    let [trips, interrupts] = round_trips(&machine, &sizes, &story)?;
    let moved = throughput(&machine, &sizes, &story)?;
    let [costs, lost] = lock_costs(&machine, &sizes, &story)?;
    story.conclusions(&trips, &moved, &costs);
    let tables = [trips, interrupts, moved, costs, lost];
    if args.json {
        print_json(&machine, &sizes, &tables);
    }
    if let Some((path, mut file)) = svg {
        use std::io::Write;
        let [trips, _, moved, costs, _] = &tables;
        file.write_all(chart::svg(&machine, trips, moved, costs).as_bytes())?;
        story.say(&format!("chart written to {}", path.display()));
    }
    Ok(())
}

/// The story printed as the run goes; nothing of it with `--json`.
struct Story {
    quiet: bool,
}

impl Story {
    fn say(&self, line: &str) {
        if !self.quiet {
            println!("{line}");
        }
    }

    fn section(&self, title: &str) {
        if !self.quiet {
            section(title);
        }
    }

    fn table(&self, table: &Table) {
        if !self.quiet {
            print!("{}", table.text());
        }
    }

    fn machine(&self, machine: &Machine, sizes: &Sizes) {
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

/// The figures of one table still to measure: where each goes, and how to take it once.
#[derive(Default)]
struct Cells<'a> {
    places: Vec<(usize, usize)>,
    measures: Vec<Measure<'a>>,
}

impl<'a> Cells<'a> {
    fn add(&mut self, row: usize, column: usize, measure: impl FnMut() -> Result<f64> + 'a) {
        self.places.push((row, column));
        self.measures.push(Box::new(measure));
    }

    /// Measures them all in rounds (figures.rs) and puts each figure in its place.
    fn measure(mut self, plan: Plan, table: &mut Table) -> Result<()> {
        let figures = plan.rounds(&mut self.measures)?;
        for ((row, column), figure) in self.places.into_iter().zip(figures) {
            table.rows[row].cells[column] = Some(figure);
        }
        Ok(())
    }
}

/// A second figure that the same runs recorded on the side (interrupts, lost updates):
/// every value but the warm-up run's, which is the first.
fn recorded(values: &RefCell<Vec<f64>>, plan: Plan) -> Option<Figure> {
    let values = values.borrow();
    let measured = values.get(usize::from(plan.warm_up)..)?;
    (!measured.is_empty()).then(|| Figure::of(measured))
}

// ANCHOR: round_trips
const CHANNELS: [(&str, Channel); 4] = [
    ("spin, shared memory", Channel::Spin),
    ("futex, shared memory", Channel::Futex),
    ("pipe", Channel::Pipe),
    ("Unix socket", Channel::UnixSocket),
];

fn round_trips(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<[Table; 2]> {
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
    let counted: Vec<RefCell<Vec<f64>>> = (0..8).map(|_| RefCell::default()).collect();
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
        cells.add(4, 0, move || {
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

// ANCHOR: throughput
const CARRIERS: [&str; 5] = [
    "shared-memory ring",
    "pipe",
    "Unix socket",
    "memcpy, in cache",
    "memcpy, through DRAM",
];

fn throughput(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<Table> {
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
    cells.add(3, 0, move || {
        let nanos = on_cpus(one, || Ok(stream::memcpy_in_cache(amount)))?;
        Ok(gib_per_second(amount, nanos))
    });
    cells.add(4, 0, move || {
        let nanos = on_cpus(one, || {
            Ok(stream::memcpy_through_dram(amount, sizes.dram_buffer))
        })?;
        Ok(gib_per_second(amount, nanos))
    });
    cells.measure(sizes.plan, &mut table)?;
    story.table(&table);
    if machine.pair().is_some() {
        story
            .say("the consumer checked every byte, in every run: ring, pipe and socket were exact");
    }
    story.say(&format!(
        "the ring holds {} KiB; memcpy is one thread copying: between two {} KiB buffers (in",
        sizes.ring / KIB,
        amount.chunk / KIB
    ));
    story.say(&format!(
        "cache), then going round two {} MiB buffers (through DRAM): the ceilings",
        sizes.dram_buffer / MIB
    ));
    Ok(table)
}
// ANCHOR_END: throughput

// ANCHOR: lock_costs
fn lock_costs(machine: &Machine, sizes: &Sizes, story: &Story) -> Result<[Table; 2]> {
    story.section("3. What an increment costs, as processes outnumber CPUs");
    story.say(&format!(
        "1, 2, 4 and 8 processes, pinned round-robin to {}, each",
        machine.placement()
    ));
    story.say(&format!(
        "increment one counter under the lock (a load and a store), up to {} times or for {} ms:",
        sizes.limit.increments,
        sizes.limit.time.as_millis()
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
                let counted = on_cpus(cpus, || locks::increments(lock, workers, limit))?;
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

// ANCHOR: conclusions
impl Story {
    /// The ratios the lesson is about, each of two medians from the same rounds.
    fn conclusions(&self, trips: &Table, moved: &Table, costs: &Table) {
        self.section("4. What this run shows (ratios of medians)");
        // Row `a.0`, column `a.1` over row `b.0`, column `b.1`, as `1.23×`.
        let ratio = |table: &Table, a: (&str, usize), b: (&str, usize)| {
            let (a, b) = (table.get(a.0, a.1)?, table.get(b.0, b.1)?);
            Some(format!("{}×", number(a.median / b.median)))
        };
        let (spin, pipe, ring) = ("spin, shared memory", "pipe", "shared-memory ring");
        let (tas, slock, futex) = ("plain test-and-set", "s_lock with backoff", "futex mutex");
        let lines = [
            ratio(trips, (spin, 0), ("spin, 2 threads", 0)).map(|r| {
                format!("a round trip between processes through shared memory: {r} the threads'")
            }),
            ratio(trips, (pipe, 1), (spin, 0))
                .map(|r| format!("a pipe round trip on 1 CPU: {r} the shared-memory one on 2")),
            ratio(trips, (pipe, 0), (pipe, 1)).map(|r| {
                format!("a pipe round trip on 2 CPUs: {r} the same on 1 (waking the other CPU)")
            }),
            ratio(moved, (ring, 0), ("memcpy, through DRAM", 0))
                .map(|r| format!("the ring's throughput: {r} memcpy through DRAM")),
            ratio(moved, (ring, 0), ("Unix socket", 0))
                .zip(ratio(moved, (ring, 0), (pipe, 0)))
                .map(|(s, p)| format!("the ring's throughput: {s} a Unix socket's, {p} a pipe's")),
            (1..=3)
                .map(|column| ratio(costs, (futex, column), ("pthread mutex", column)))
                .collect::<Option<Vec<String>>>()
                .map(|r| {
                    format!(
                        "futex mutex against pthread mutex, 2/4/8 processes: {}",
                        r.join(", ")
                    )
                }),
            ratio(costs, (tas, 3), (tas, 1))
                .zip(ratio(costs, (slock, 3), (slock, 1)))
                .map(|(t, s)| {
                    format!(
                        "from 2 to 8 processes: plain test-and-set {t}, s_lock with backoff {s}"
                    )
                }),
            ratio(costs, ("System V semaphore", 3), (futex, 3))
                .map(|r| format!("System V semaphore against futex mutex, 8 processes: {r}")),
        ];
        for line in lines.into_iter().flatten() {
            self.say(&line);
        }
    }
}
// ANCHOR_END: conclusions

/// Everything measured, as one JSON document.
fn print_json(machine: &Machine, sizes: &Sizes, tables: &[Table]) {
    let tables: Vec<String> = tables.iter().map(Table::json).collect();
    println!("{{");
    println!(
        "  \"machine\": {{\"cpu\": {}, \"virtual_cpus\": {}, \"kernel\": {}, \"usable_cpus\": {}, \
         \"cpus\": {:?}, \"hyperthread_siblings\": {}, \"build\": {}}},",
        quote(&machine.cpu_model),
        machine.virtual_cpus,
        quote(&machine.kernel),
        machine.usable,
        machine.cpus,
        machine.siblings,
        quote(machine.build)
    );
    println!(
        "  \"runs\": {}, \"warm_up\": {}, \"bytes_moved\": {}, \"chunk\": {}, \"ring\": {},",
        sizes.plan.runs,
        sizes.plan.warm_up,
        sizes.amount.bytes(),
        sizes.amount.chunk,
        sizes.ring
    );
    println!("  \"tables\": [\n    {}\n  ]", tables.join(",\n    "));
    println!("}}");
}
