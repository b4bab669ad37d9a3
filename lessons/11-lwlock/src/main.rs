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

use std::time::Duration;

use clap::Parser;
use common::{Child, Error, Result, child, fork_child, parent, section};
use l08_races::{Finish, MAX_WORKERS, ProcessLock, Shared, count_under_lock, race, usable_cpus};
use l10_sleeping_locks::{FutexMutex, futex_op_name, wait_until_blocked};
use l11_lwlock::{
    LwLock, MAX_PROCS, Mode, SharedLock, SharedMode, describe, describe_queue, readers_and_writers,
};

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
/// How long a step waits for a child to fall asleep before it gives up.
const ASLEEP_WITHIN: Duration = Duration::from_secs(5);
/// Seconds a racer of step 5 may run before its alarm ends it; readers give up on the
/// writers after half of it.
const PATIENCE_SECONDS: u32 = 10;

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
        let slept = lock.acquire(Mode::Shared);
        child!(
            "acquire(Shared) {}: state {}",
            if slept { "slept?!" } else { "got in at once" },
            describe(lock.state())
        );
        lock.release(Mode::Shared);
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

// ANCHOR: a_writer_waits
fn a_writer_waits(lock: &SharedLock<LwLock>) -> Result<()> {
    section("3. A writer waits, asleep on its own semaphore");
    parent!("we still hold it shared; a child asks for it exclusive");
    let writer = fork_child(|| {
        lock.acquire(Mode::Exclusive);
        child!(
            "woken, tried again, and holds it: state {}",
            describe(lock.state())
        );
        lock.release(Mode::Exclusive);
        0
    })?;
    let asleep = asleep(lock, &writer)?;
    parent!("child pid {} sleeps in {asleep}", writer.pid());
    show(lock);

    let reader = fork_child(|| {
        lock.acquire(Mode::Shared);
        child!(
            "a new reader got in at once, past the sleeping writer: state {}",
            describe(lock.state())
        );
        lock.release(Mode::Shared);
        0
    })?;
    let pid = reader.pid();
    parent!("child pid {pid} {}", reader.wait()?);
    parent!("release(Shared): we are the last holder, and HAS_WAITERS is set: wake the queue");
    let woken = lock.release(Mode::Shared);
    let pid = writer.pid();
    let exit = writer.wait()?;
    parent!(
        "it posted {}; child pid {pid} {exit}",
        semaphores(woken.slots())
    );
    Ok(())
}

/// Where `waiter` sleeps: `futex(&slot 0's semaphore, FUTEX_WAIT_BITSET, 0)`.
fn asleep(lock: &LwLock, waiter: &Child) -> Result<String> {
    let blocked = wait_until_blocked(waiter.pid(), &[libc::SYS_futex], ASLEEP_WITHIN)?;
    let [word, op, expected] = blocked.args;
    let slot = (0..MAX_PROCS).find(|&slot| lock.semaphore_address(slot) as u64 == word);
    let on = match slot {
        Some(slot) => format!("&slot {slot}'s semaphore"),
        None => "a word that is no slot's semaphore?!".into(),
    };
    Ok(format!("futex({on}, {}, {expected})", futex_op_name(op)))
}

/// `slot 0's semaphore`, `the semaphores of slots 1 and 3`.
fn semaphores(slots: &[u32]) -> String {
    let names: Vec<String> = slots.iter().map(u32::to_string).collect();
    match names.as_slice() {
        [] => "no semaphore".into(),
        [one] => format!("slot {one}'s semaphore"),
        [first @ .., last] => format!("the semaphores of slots {} and {last}", first.join(", ")),
    }
}

fn show(lock: &LwLock) {
    parent!(
        "state {}; queue: {}",
        describe(lock.state()),
        describe_queue(&lock.waiters())
    );
}
// ANCHOR_END: a_writer_waits

// ANCHOR: a_release_wakes_readers
fn a_release_wakes_readers(lock: &SharedLock<LwLock>) -> Result<()> {
    section("4. A writer's release wakes every waiting reader, and no writer");
    lock.acquire(Mode::Exclusive);
    parent!("acquire(Exclusive): state {}", describe(lock.state()));
    let mut waiters = Vec::new();
    for mode in [Mode::Shared, Mode::Exclusive, Mode::Shared] {
        let waiter = fork_child(|| {
            lock.acquire(mode);
            lock.release(mode);
            0
        })?;
        let asleep = asleep(lock, &waiter)?;
        let wants = match mode {
            Mode::Shared => "shared",
            Mode::Exclusive => "exclusive",
        };
        parent!(
            "child pid {} wants it {wants}: sleeps in {asleep}",
            waiter.pid()
        );
        waiters.push(waiter);
    }
    show(lock);
    let woken = lock.release(Mode::Exclusive);
    parent!(
        "release(Exclusive) posted {}: both readers; the writer stays queued",
        semaphores(woken.slots())
    );
    parent!("once the readers have let go, a release finds the writer at the head and wakes it");
    for waiter in waiters {
        let pid = waiter.pid();
        parent!("child pid {pid} {}", waiter.wait()?);
    }
    show(lock);
    Ok(())
}
// ANCHOR_END: a_release_wakes_readers

// ANCHOR: readers_keep_coming
fn readers_keep_coming(readers: usize, writers: usize, writes: u64) -> Result<()> {
    let total = writers as u64 * writes;
    section(&format!(
        "5. Readers keep coming while {} make{} {writes} transfers each",
        plural(writers, "writer"),
        if writers == 1 { "s" } else { "" }
    ));
    let lock = LwLock::new_shared()?;
    parent!(
        "{} and {}, pinned round-robin to the {}, released together",
        plural(readers, "reader"),
        plural(writers, "writer"),
        plural(usable_cpus()?.len(), "usable CPU")
    );
    parent!("a writer moves 1 from A to B under the exclusive lock, A + B = {total} always;");
    parent!("a reader checks A + B under the shared lock, again and again, until they are done");
    let seen = readers_and_writers(&lock, readers, writers, writes, true, PATIENCE_SECONDS)?;
    if seen.starved {
        return Err(Error::Failed(format!(
            "the writers starved: after {} s of readers coming, they had made {} of {total} \
             transfers",
            PATIENCE_SECONDS / 2,
            seen.writes
        )));
    }
    if seen.overlaps != 0 || seen.torn != 0 || (seen.a, seen.b) != (0, total) {
        return Err(Error::Failed(format!(
            "the lock did not exclude: {} overlaps, {} torn reads, A = {}, B = {}",
            seen.overlaps, seen.torn, seen.a, seen.b
        )));
    }
    parent!("all done; the race took {:.1?}", seen.finish.elapsed);
    parent!("the writers: {total} = {writers} x {writes} transfers, A = 0 and B = {total}: exact");
    parent!(
        "the readers: {}, up to {} inside at once",
        common::count(seen.reads, "shared read", "shared reads"),
        common::count(seen.max_readers, "reader", "readers")
    );
    parent!("not one read saw A + B != {total}; no reader was ever inside with a writer,");
    parent!("and no writer with another: 0 overlaps, counted by both sides");
    parent!(
        "the writers slept {} for the lock; the longest wait took {:.1?}",
        common::count(seen.writer_sleeps, "time", "times"),
        seen.longest_wait
    );
    parent!(
        "lock after the race: state {}; queue: {}",
        describe(seen.state_after),
        describe_queue(&lock.waiters())
    );
    Ok(())
}
// ANCHOR_END: readers_keep_coming

fn plural(n: usize, what: &str) -> String {
    match (n, what) {
        (1, _) => format!("1 {what}"),
        (n, "process") => format!("{n} processes"),
        (n, _) => format!("{n} {what}s"),
    }
}

// ANCHOR: costs
fn costs(workers: usize, iterations: u64) -> Result<()> {
    section(&format!(
        "6. What it costs, as a multiple of lesson 10's futex mutex in this run, {} each",
        common::count(iterations, "round", "rounds")
    ));
    let futex = FutexMutex::new_shared()?;
    for processes in [1, workers] {
        let lwlock = LwLock::new_shared()?;
        let ratio = ns_per_increment(&*lwlock, processes, iterations)?
            / ns_per_increment(&*futex, processes, iterations)?;
        parent!(
            "exclusive, as a mutex, {}: {ratio:.1}× per increment (count exact under both)",
            plural(processes, "process")
        );
    }
    let lwlock = LwLock::new_shared()?;
    let ratio = ns_per_read(&SharedMode(&lwlock), workers, iterations)?
        / ns_per_read(&*futex, workers, iterations)?;
    parent!(
        "{} that only read, shared mode against the mutex: {ratio:.1}× per read",
        plural(workers, "process")
    );
    Ok(())
}

/// Lesson 08's counter under `lock`: exact, or an error; the time per increment.
fn ns_per_increment(lock: &impl ProcessLock, workers: usize, iterations: u64) -> Result<f64> {
    let (count, finish) = count_under_lock(lock, workers, iterations, true)?;
    let expected = workers as u64 * iterations;
    if count != expected {
        return Err(Error::Failed(format!(
            "{count} of {expected} increments: the lock does not exclude"
        )));
    }
    Ok(per(&finish, expected))
}

/// `workers` processes that each read a shared value `iterations` times under `lock`, with
/// the same work inside as an increment: the time per read.
fn ns_per_read(lock: &impl ProcessLock, workers: usize, iterations: u64) -> Result<f64> {
    let value = Shared::<u64>::new()?;
    let value = value.as_ptr();
    let finish = race(workers, true, |_| {
        for _ in 0..iterations {
            let _held = lock.lock()?;
            // SAFETY: a live u64 in shared memory that nobody writes during the race.
            let _ = unsafe { value.read_volatile() };
            for _ in 0..l08_races::WORK_BETWEEN_LOAD_AND_STORE {
                std::hint::spin_loop();
            }
        }
        Ok(())
    })?;
    Ok(per(&finish, workers as u64 * iterations))
}

fn per(finish: &Finish, operations: u64) -> f64 {
    finish.elapsed.as_nanos() as f64 / operations as f64
}
// ANCHOR_END: costs
