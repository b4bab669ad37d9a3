//! Lesson 11: a reader/writer lock shared by processes, the way PostgreSQL's LWLocks work.
//!
//! The story: the lock's one word of state; two readers inside at once; a writer that
//! must wait, queued and asleep on its own semaphore, while a new reader walks past it;
//! a writer's release that wakes every waiting reader and leaves the waiting writer
//! queued; then readers that keep coming while two writers make their transfers, with
//! counters in shared memory that prove readers share, writers exclude, and the writers
//! finish; last, what it costs next to lesson 10's futex mutex, as ratios in this run.
//! Every step is ordered by waitpid or by watching /proc/PID/syscall; nothing sleeps
//! for a time.
//!
//! Steps 1 and 2 are below; the steps of the story from 3 on are in src/story/, one file
//! each; what later lessons reuse is the library (src/lib.rs): the lock and its harness.

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l08_races::MAX_WORKERS;
use l11_lwlock::{LwLock, MAX_PROCS, Mode, SharedLock, describe};

mod story {
    pub mod a_release_wakes_readers;
    pub mod a_writer_waits;
    pub mod costs;
    pub mod readers_keep_coming;
    mod sleepers;
}
use story::a_release_wakes_readers::a_release_wakes_readers;
use story::a_writer_waits::a_writer_waits;
use story::costs::costs;
use story::readers_keep_coming::readers_keep_coming;

/// A reader/writer lock like PostgreSQL's LWLock: readers share, writers exclude, waiters
/// sleep on their own semaphores.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Readers in step 5: they keep reading until the writers are done.
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = common::up_to::<{ MAX_WORKERS as u64 }>)]
    readers: u64,

    /// Writers in step 5.
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = common::up_to::<{ MAX_WORKERS as u64 }>)]
    writers: u64,

    /// Transfers per writer in step 5, and lock-increment-unlock rounds per process in
    /// step 6.
    #[arg(long, value_name = "N", default_value_t = 300,
          value_parser = common::up_to::<{ MAX_ITERATIONS }>)]
    iterations: u64,

    /// Processes racing for the lock in step 6.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = common::up_to::<{ MAX_WORKERS as u64 }>)]
    workers: u64,
}

/// More rounds than this only makes the lesson slow.
const MAX_ITERATIONS: u64 = 1_000_000;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let args = checked(args)?;
    let lock = one_word()?;
    readers_share(&lock)?;
    a_writer_waits(&lock)?;
    a_release_wakes_readers(&lock)?;
    readers_keep_coming(args.readers, args.writers, args.iterations)?;
    costs(args.workers, args.iterations)
}

struct Checked {
    readers: usize,
    writers: usize,
    iterations: u64,
    workers: usize,
}

fn checked(args: Args) -> Result<Checked> {
    if args.readers + args.writers > MAX_WORKERS as u64 {
        return Err(Error::Usage(format!(
            "--readers {} and --writers {} make {} processes: the race harness has room \
             for {MAX_WORKERS} at most",
            args.readers,
            args.writers,
            args.readers + args.writers
        )));
    }
    Ok(Checked {
        readers: args.readers as usize,
        writers: args.writers as usize,
        iterations: args.iterations,
        workers: args.workers as usize,
    })
}

// ANCHOR: one_word
fn one_word() -> Result<SharedLock<LwLock>> {
    section("1. One word of state, and a slot per process to sleep in");
    let lock = LwLock::new_shared()?;
    parent!(
        "an LwLock in a MAP_SHARED mapping: state {}",
        describe(lock.state())
    );
    parent!("bits 0-17 count shared holders, bit 18 is EXCLUSIVE (PostgreSQL 18's layout),");
    parent!("bit 29 LOCKED guards the wait queue, 30 is RELEASE_OK, 31 HAS_WAITERS");
    parent!(
        "{MAX_PROCS} process slots (like PGPROC), each a POSIX semaphore at 0 and a queue link"
    );
    Ok(lock)
}
// ANCHOR_END: one_word

// ANCHOR: readers_share
fn readers_share(lock: &LwLock) -> Result<()> {
    section("2. Readers share");
    lock.acquire(Mode::Shared);
    parent!(
        "acquire(Shared): one compare-and-swap, no system call: state {}",
        describe(lock.state())
    );
    let reader = fork_child(|| {
        let held = lock.hold(Mode::Shared);
        child!(
            "acquire(Shared) {}: state {}",
            if held.slept() {
                "slept?!"
            } else {
                "got in at once"
            },
            describe(lock.state())
        );
        0
    })?;
    let pid = reader.pid();
    parent!(
        "child pid {pid} {}: two readers were inside together",
        reader.wait()?
    );
    Ok(())
}
// ANCHOR_END: readers_share
