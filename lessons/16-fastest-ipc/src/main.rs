//! Lesson 16: shared memory against pipes and sockets, and every lock of Part IV, measured
//! on this machine in one run.
//!
//! The story: which machine and CPUs; round trips between two pinned processes (on two
//! CPUs, then on one) over shared memory and through the kernel, against two threads;
//! streaming a large amount through a ring in shared memory that copies every byte in and
//! out, a ring of slots that copies none, a pipe and a socket, every byte checked, against
//! memcpy; what an increment costs under each lock as 1, 2, 4 and 8
//! processes share two CPUs, and what no lock loses; then the ratios that matter. Figures
//! are medians of several runs after a warm-up. `--quick` makes everything small: that is
//! what the tests run, for the story and the checks, not for the figures.
//!
//! The steps of the story are in src/story/; what later lessons reuse is the library
//! (src/lib.rs).

mod story;

use std::path::PathBuf;

use clap::Parser;
use common::{Error, Result};
use l16_fastest_ipc::chart;
use l16_fastest_ipc::machine::Machine;
use nix::errno::Errno;

use story::Story;
use story::json::print_json;
use story::lock_costs::lock_costs;
use story::round_trips::round_trips;
use story::sizes::Sizes;
use story::throughput::throughput;

/// Measure how fast processes talk through shared memory, pipes and sockets, and what each
/// lock of Part IV costs. Build with --release: a debug build measures the debug build.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Small sizes and one run of each (about a second): checks that everything works; the
    /// figures are not worth reading.
    #[arg(long, conflicts_with_all = ["runs", "mib", "chunk"])]
    quick: bool,

    /// Runs per figure, after one warm-up run: each figure is their median.
    #[arg(long, value_name = "N", default_value_t = 5,
          value_parser = common::up_to::<100>)]
    runs: u64,

    /// MiB each throughput run moves (at least 64, so that the copy through DRAM does not
    /// fit in a cache).
    #[arg(long, value_name = "MiB", default_value_t = 256, value_parser = mib)]
    mib: u64,

    /// KiB in each chunk the throughput runs move, through every channel alike: a power of
    /// two from 8 to 1024. The default fits in a CPU's level-1 data cache.
    #[arg(long, value_name = "KiB", default_value_t = 16, value_parser = chunk)]
    chunk: usize,

    /// Print the figures as JSON, for tools, instead of the story.
    #[arg(long)]
    json: bool,

    /// Also draw the figures as an SVG chart into FILE.
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
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

/// `--chunk`: a power of two from 8 to 1024.
fn chunk(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n.is_power_of_two() && (8..=1024).contains(&n) => Ok(n),
        _ => Err("expected a power of two from 8 to 1024".into()),
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
