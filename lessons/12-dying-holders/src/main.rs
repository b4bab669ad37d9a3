//! Lesson 12: a holder killed with the lock held, for each lock of lessons 09 and 10.
//!
//! The story, five times over: a holder takes the lock and starts a transfer between two
//! accounts; after the first of its two writes it says "halfway" through shared memory, and
//! the parent kills it there with SIGKILL. Then a next locker tries. The spinlock, the futex
//! mutex and the default pthread mutex never let it in: after a short deadline it is still
//! waiting, and is killed. The robust pthread mutex lets it in with EOWNERDEAD; the System V
//! semaphore with SEM_UNDO lets it in as if nothing had happened. Either way the accounts are
//! half written. Last, PostgreSQL's answer: after any abnormal exit, stop every process and
//! make shared memory anew. Every step is ordered by a flag in shared memory, by waitpid, or
//! by /proc/PID/syscall; the deadlines are the only waits, and nothing sleeps to order them.
//!
//! The steps of the story are in src/story/, one file per scene (and one for each half of
//! a scene: the holder killed halfway, the next locker); what later lessons reuse is the
//! library (src/lib.rs).

use std::time::Duration;

use clap::Parser;
use common::{Error, Result};

mod story {
    pub mod kill_halfway;
    pub mod next_locker;
    pub mod restart;
    pub mod robust;
    pub mod stuck;
    pub mod sysv;
}
use story::restart::crash_restart;
use story::robust::robust_pthread_mutex;
use story::stuck::{futex_mutex, spinlock, stalled_pthread_mutex};
use story::sysv::sysv_semaphore;

/// Kill a process while it holds a lock, for each kind of lock, and see who notices.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How long a next locker may wait for a lock whose holder was killed before it is
    /// declared stuck (and killed). The lesson waits this long three times.
    #[arg(long, value_name = "MS", default_value_t = 10, value_parser = common::positive)]
    deadline_ms: u64,
}

/// A waiter on a dead holder's lock waits for ever; watching it longer proves nothing more.
const MAX_DEADLINE_MS: u64 = 10_000;
/// How much each transfer moves from `a` to `b`.
const AMOUNT: i64 = 50;
/// A bound on steps that must happen (a holder getting halfway, a robust next locker
/// finishing): reached only if something is broken, never part of the story.
const MUST_HAPPEN_WITHIN: Duration = Duration::from_secs(5);

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    if args.deadline_ms > MAX_DEADLINE_MS {
        return Err(Error::Usage(format!(
            "--deadline-ms {}: a lock whose holder is dead is never released, so waiting \
             longer shows nothing more; use at most {MAX_DEADLINE_MS}",
            args.deadline_ms
        )));
    }
    let deadline = Duration::from_millis(args.deadline_ms);
    spinlock(deadline)?;
    futex_mutex(deadline)?;
    stalled_pthread_mutex(deadline)?;
    robust_pthread_mutex()?;
    sysv_semaphore()?;
    crash_restart()
}
