//! Lesson 12: a process that dies while it holds a lock.
//!
//! A lock protects an invariant: here, two balances whose sum is always 200. Whoever holds
//! the lock may break the invariant for a moment (take 50 from `a`, then give 50 to `b`),
//! because nobody else can look. If the holder is killed in that moment, two things are
//! left behind: a lock that nobody will release, and data that is half written. Lessons
//! 09 and 10's locks differ only in the first: some hang for ever, a robust pthread mutex
//! tells the next locker (`EOWNERDEAD`), a System V semaphore with `SEM_UNDO` is released
//! by the kernel. None of them can do anything about the second.
//!
//! - [`Accounts`]: the two balances and their two-step transfer;
//! - [`Scene`]: what a demonstration shares besides the lock (the accounts, and the flag
//!   by which a holder says "I am halfway"), with [`stop_halfway`] for the holder and
//!   [`wait_for_halfway`] and [`kill_and_reap`] for the parent that kills it there;
//! - [`wait_with_deadline`]: waits for a child, but only so long: how a lock that will never
//!   be released is told from one that is merely slow;
//! - [`Ledger`]: accounts under a robust mutex with a journal, for the exercise
//!   ([`exercise::lock_and_repair`]).

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Error, Exit, Result};
use l10_sleeping_locks::{Acquired, PthreadMutex, Robustness, SharedLock};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

// ANCHOR: accounts
/// Two balances in shared memory, and the invariant a lock must protect: `a + b == TOTAL`.
/// Atomics only so that a reader in another process is sound; the lock around a transfer
/// is what keeps the two writes together.
#[repr(C)]
pub struct Accounts {
    pub a: AtomicI64,
    pub b: AtomicI64,
}

/// Each account opens with this much.
pub const OPENING: i64 = 100;
/// What `a + b` must always be, whenever nobody holds the lock.
pub const TOTAL: i64 = 2 * OPENING;

impl Accounts {
    /// Both balances back to [`OPENING`].
    pub fn open(&self) {
        self.a.store(OPENING, Ordering::Relaxed);
        self.b.store(OPENING, Ordering::Relaxed);
    }

    pub fn balances(&self) -> (i64, i64) {
        (
            self.a.load(Ordering::Relaxed),
            self.b.load(Ordering::Relaxed),
        )
    }

    pub fn sum(&self) -> i64 {
        let (a, b) = self.balances();
        a + b
    }

    /// Moves `amount` from `a` to `b`: two writes, with `halfway` run between them. Call it
    /// only with the lock held: between the two writes the invariant is broken.
    pub fn transfer(&self, amount: i64, halfway: impl FnOnce()) {
        self.a.fetch_sub(amount, Ordering::Relaxed);
        halfway();
        self.b.fetch_add(amount, Ordering::Relaxed);
    }
}

impl std::fmt::Display for Accounts {
    /// `a 50 + b 100 = 150, not 200` (or `= 200`).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.balances();
        match a + b {
            TOTAL => write!(f, "a {a} + b {b} = {TOTAL}"),
            sum => write!(f, "a {a} + b {b} = {sum}, not {TOTAL}"),
        }
    }
}
// ANCHOR_END: accounts

// ANCHOR: halfway
/// What a demonstration shares besides its lock: the accounts, and a flag the holder raises
/// when it has made the first write of a transfer and not the second.
#[repr(C)]
pub struct Scene {
    pub accounts: Accounts,
    /// 0 until the holder is halfway through its transfer, then 1.
    pub halfway: AtomicU32,
}

impl Scene {
    /// A scene in a shared mapping of its own, accounts open, to be made before fork.
    pub fn new_shared() -> Result<SharedLock<Scene>> {
        // SAFETY: zeroed memory is a valid Scene (atomics), and `open` only stores to it.
        unsafe {
            SharedLock::make(|at: *mut Scene| {
                (*at).accounts.open();
                Ok(())
            })
        }
    }
}

/// For the holder, lock held: takes `amount` from `a`, says "halfway", and waits there to
/// be killed. Never returns: the second write never happens.
pub fn stop_halfway(scene: &Scene, amount: i64) -> ! {
    scene.accounts.transfer(amount, || {
        scene.halfway.store(1, Ordering::Release);
        loop {
            nix::unistd::pause(); // until SIGKILL
        }
    });
    unreachable!("stop_halfway's holder waits in pause() until it is killed")
}

/// For the parent: waits (without sleeping) until the holder says it is halfway. An error if
/// the holder ends first, or does not get there within `limit`.
pub fn wait_for_halfway(holder: &Child, scene: &Scene, limit: Duration) -> Result<()> {
    let start = Instant::now();
    while scene.halfway.load(Ordering::Acquire) == 0 {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        if !matches!(
            waitid(Id::Pid(holder.pid()), flags),
            Ok(WaitStatus::StillAlive)
        ) || start.elapsed() > limit
        {
            return Err(Error::Failed(format!(
                "the holder, child pid {}, never got halfway through its transfer (could it \
                 not take the lock?)",
                holder.pid()
            )));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// `kill -9`, then `waitpid`: how the child ended (SIGKILL, unless it had ended already).
pub fn kill_and_reap(child: Child) -> Result<Exit> {
    kill(child.pid(), Signal::SIGKILL).map_err(Error::sys("kill"))?;
    child.wait()
}
// ANCHOR_END: halfway

// ANCHOR: deadline
/// How a [`wait_with_deadline`] ended.
#[derive(Debug)]
pub enum Waited {
    /// The child ended within the deadline (and is reaped): how.
    Finished(Exit),
    /// The deadline passed first. The child still runs; dropping it kills and reaps it.
    StillWaiting(Child),
}

/// Waits for `child` to end, for at most `deadline`. The wait is `poll` on a pidfd (Linux
/// 5.3), which becomes readable when the process ends: the call returns as soon as it does,
/// or when the deadline passes, whichever comes first. No sleep decides the order of
/// anything; the deadline only bounds how long we watch.
pub fn wait_with_deadline(child: Child, deadline: Duration) -> Result<Waited> {
    // SAFETY: pidfd_open takes a pid and flags, touches no memory, and returns a new fd
    // (or -1), which we own from here on.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid().as_raw(), 0) };
    if raw < 0 {
        return Err(Error::sys("pidfd_open")(Errno::last()));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let start = Instant::now();
    loop {
        let left = deadline.saturating_sub(start.elapsed());
        // Whole milliseconds, rounded up, so that a wait never ends before the deadline.
        let millis = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(
            &mut fds,
            PollTimeout::try_from(millis).unwrap_or(PollTimeout::MAX),
        ) {
            Err(Errno::EINTR) => continue,
            Err(errno) => return Err(Error::sys("poll")(errno)),
            Ok(0) if start.elapsed() < deadline => continue,
            Ok(0) => return Ok(Waited::StillWaiting(child)),
            Ok(_) => return Ok(Waited::Finished(child.wait()?)),
        }
    }
}
// ANCHOR_END: deadline

// ANCHOR: ledger
/// The exercise's shared data: accounts under a robust mutex, and a journal that says what
/// a transfer is about to change, written before the first write of the transfer.
#[repr(C)]
pub struct Ledger {
    pub mutex: PthreadMutex,
    pub accounts: Accounts,
    pub journal: Journal,
}

/// An undo record: enough to put the accounts back as they were before a transfer that
/// did not finish. Written and cleared under the mutex.
#[repr(C)]
pub struct Journal {
    /// 0: no transfer under way. 1: one is under way, and the balances below are what the
    /// accounts held before it began.
    pub in_progress: AtomicU32,
    pub a_before: AtomicI64,
    pub b_before: AtomicI64,
}

/// A point in [`Ledger::transfer`] where a test may stop the holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// After the first of the two writes (`a -= amount`), before the second.
    Halfway,
    /// After both writes and after the journal was cleared, before the unlock.
    Done,
}

impl Ledger {
    /// A ledger in a shared mapping of its own: a robust, process-shared mutex, both
    /// accounts open, no transfer in progress. Make it before fork.
    pub fn new_shared() -> Result<SharedLock<Ledger>> {
        // SAFETY: the fresh mapping is zeroed (a valid Journal and Accounts); `init` makes
        // the mutex in place, and the mapping is never moved.
        unsafe {
            SharedLock::make(|at: *mut Ledger| {
                PthreadMutex::init(&raw mut (*at).mutex, Robustness::Robust)?;
                (*at).accounts.open();
                Ok(())
            })
        }
    }

    /// Moves `amount` from `a` to `b` the careful way: lock; journal the balances before;
    /// the two writes; clear the journal; unlock. `at(step)` is called at each [`Step`].
    /// If the previous holder died, an error, and nothing written: the mutex is then held
    /// by this process, still marked inconsistent (that is what EOWNERDEAD hands over).
    /// Do not copy this shortcut: a caller must repair (as `lock_and_repair` does) or exit,
    /// so that the next locker is told in turn; unlocking it as it is would make the mutex
    /// unusable for good (ENOTRECOVERABLE).
    pub fn transfer(&self, amount: i64, mut at: impl FnMut(Step)) -> Result<()> {
        if self.mutex.lock()? == Acquired::OwnerDied {
            return Err(Error::Failed(
                "transfer: EOWNERDEAD: a holder died; repair first (lock_and_repair)".into(),
            ));
        }
        let (a, b) = self.accounts.balances();
        self.journal.a_before.store(a, Ordering::Relaxed);
        self.journal.b_before.store(b, Ordering::Relaxed);
        self.journal.in_progress.store(1, Ordering::Relaxed);
        self.accounts.transfer(amount, || at(Step::Halfway));
        self.journal.in_progress.store(0, Ordering::Relaxed);
        at(Step::Done);
        self.mutex.unlock()
    }
}

/// What [`exercise::lock_and_repair`] found when it took the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// The previous holder unlocked: nothing to repair.
    Clean,
    /// The previous holder died in the middle of a transfer; the journal put the accounts
    /// back as they were before it.
    RolledBack,
    /// The previous holder died, but not in the middle of a transfer: the data was whole.
    NothingToRepair,
}
// ANCHOR_END: ledger

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_keeps_the_sum_and_breaks_it_halfway() {
        let scene = Scene::new_shared().unwrap();
        assert_eq!(scene.accounts.to_string(), "a 100 + b 100 = 200");
        scene
            .accounts
            .transfer(50, || assert_eq!(scene.accounts.sum(), 150));
        assert_eq!(scene.accounts.to_string(), "a 50 + b 150 = 200");
    }

    #[test]
    fn a_broken_sum_says_what_it_should_be() {
        let scene = Scene::new_shared().unwrap();
        scene.accounts.a.store(50, Ordering::Relaxed);
        assert_eq!(scene.accounts.to_string(), "a 50 + b 100 = 150, not 200");
    }

    #[test]
    fn a_ledger_transfer_clears_its_journal() {
        let ledger = Ledger::new_shared().unwrap();
        let mut steps = Vec::new();
        ledger.transfer(30, |step| steps.push(step)).unwrap();
        assert_eq!(steps, [Step::Halfway, Step::Done]);
        assert_eq!(ledger.accounts.balances(), (70, 130));
        assert_eq!(ledger.journal.in_progress.load(Ordering::Relaxed), 0);
        assert_eq!(ledger.journal.a_before.load(Ordering::Relaxed), 100);
    }
}
