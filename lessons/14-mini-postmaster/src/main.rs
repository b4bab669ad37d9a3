//! Lesson 14: a mini postmaster.
//!
//! `start DIR` does what PostgreSQL's postmaster does, in small: it takes the data directory
//! (lock file), adds up the size of its shared memory, creates lesson 07's hybrid (one big
//! anonymous mapping, a tiny System V segment as the interlock), lays out lesson 13's region
//! in the mapping's place and creates its structures by name, then forks a checkpointer, a
//! background writer, a WAL writer and N backends. From then on it only waits for signals
//! (SIGCHLD, SIGTERM, SIGINT, read from a signalfd), reaps and forks: it never touches shared
//! memory again. The backends update rows under page LWLocks and commit each update by
//! flushing its WAL record; the checkpointer writes every dirty page when the WAL has grown
//! enough, and once more at shutdown. Last, the postmaster checks the files against what the
//! backends did. With `--hold` the server stays up after the workload until SIGTERM or
//! SIGINT; `status DIR` shows such a running server as `ps`, `ipcs` and `/proc` see it.
//! Every step is ordered by a signal, `waitpid` or a pipe; the only timeouts are the two
//! writers' naps between rounds.
//!
//! The story is [`start`], in the order it runs. The steps of the story are in src/story/;
//! what later lessons reuse is the library (src/lib.rs).

mod story;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{Parser, Subcommand};
use common::{Result, section};
use l07_postgres_hybrid::shmem_size;
use l14_mini_postmaster::{UPDATES_PER_BACKEND, region_parts};

use story::check::{check, what_they_did};
use story::clean_up::clean_up;
use story::data_directory::take_the_directory;
use story::fork::fork_the_children;
use story::shared_memory::{create_shared_memory, create_the_structures, show_the_size};
use story::shutdown::{hold_until_told, run_and_reap, shut_down};
use story::{signals, status};

/// A mini PostgreSQL postmaster: shared memory, a checkpointer, a background writer, a WAL
/// writer and backends, started and stopped in order.
#[derive(Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Without a command it runs `start $TMPDIR/l14-mini-postmaster` (/tmp when \
                  TMPDIR is unset; the directory is made if missing) with the options above: \
                  the workload, then a shutdown."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Start a mini postmaster in data directory DIR, run the workload, stop. SIGTERM stops
    /// it once the backends are done (smart shutdown), SIGINT (Ctrl-C) at once (fast).
    Start {
        /// The data directory (it must exist). The table, the WAL and the control file are
        /// created anew in it.
        dir: PathBuf,
        /// After the workload, keep the server up (the postmaster and its three background
        /// processes) until SIGTERM or SIGINT, so that `status DIR`, `ps` and `ipcs` can see it.
        #[arg(long)]
        hold: bool,
        #[command(flatten)]
        options: Options,
    },
    /// Show the server running in DIR as `ps`, `ipcs -m` and /proc/PID/maps see it. Exits
    /// with status 3 when no server runs there (as `pg_ctl status` does).
    Status {
        /// The data directory of a server started with `start DIR --hold`.
        dir: PathBuf,
    },
}

/// The workload's size: for `start`, and for a run without a command.
#[derive(clap::Args)]
struct Options {
    /// How many backends to fork (each makes 100 updates).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = common::up_to::<{ MAX_WORKERS }>)]
    workers: u64,
    /// How many 8192-byte buffers (pages of the table) the buffer pool holds.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = common::up_to::<{ MAX_BUFFERS }>)]
    buffers: u64,
}

/// Each LWLock has 72 process slots (lesson 11): backends, plus the three writers.
const MAX_WORKERS: u64 = 64;
/// Pages of the table: 8 MiB of buffers at most.
const MAX_BUFFERS: u64 = 1024;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Some(Command::Start { dir, hold, options }) => start(&dir, &options, hold),
        Some(Command::Status { dir }) => status::status(&dir),
        None => {
            // A directory of our own, always the same one, as lesson 07 does.
            let dir = std::env::temp_dir().join("l14-mini-postmaster");
            std::fs::create_dir_all(&dir)?;
            start(&dir, &args.options, false)
        }
    }
}

/// Section headings, numbered as the run goes (`--hold` adds one).
fn step(title: &str) {
    static STEP: AtomicU32 = AtomicU32::new(0);
    section(&format!(
        "{}. {title}",
        STEP.fetch_add(1, Ordering::Relaxed) + 1
    ));
}

fn start(dir: &Path, options: &Options, hold: bool) -> Result<()> {
    let (workers, buffers) = (options.workers as usize, options.buffers as usize);
    let wal_records = workers * UPDATES_PER_BACKEND;
    let parts = region_parts(buffers, wal_records);
    let size = shmem_size(&parts).expect("the options are bounded");
    // From here on SIGCHLD, SIGTERM and SIGINT wait in the signalfd: a Ctrl-C now is read by
    // the server loop later, and cannot kill us halfway through creating things.
    let signals = signals::block()?;
    let lock = take_the_directory(dir)?;
    show_the_size(&parts, size);
    let (region, mut server) = create_shared_memory(dir, size, lock, signals)?;
    {
        let pool = create_the_structures(&region, buffers, wal_records)?;
        fork_the_children(&mut server, &pool, dir, workers, wal_records)?;
    } // the postmaster's view of the structures ends here: it never touches them again
    run_and_reap(&mut server, workers)?;
    if hold {
        hold_until_told(&mut server, dir)?;
    }
    shut_down(&mut server)?;
    let updates = what_they_did(&mut server, workers)?;
    check(dir, buffers, &updates)?;
    clean_up(server, region)
}
