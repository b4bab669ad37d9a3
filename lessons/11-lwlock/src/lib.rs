//! Lesson 11: a reader/writer lock for processes, built the way PostgreSQL's LWLock is.
//!
//! A spinlock (lesson 09) is for a few instructions; a futex mutex (lesson 10) lets one
//! process in at a time. Much of PostgreSQL's shared memory is read far more often than
//! it is written (the buffer mapping table, the lock tables), so its LWLocks have two
//! modes: *shared*, which any number of processes hold together, and *exclusive*, which
//! one holds alone. Waiters sleep, each on its own process's semaphore.
//!
//! The design, `lwlock.c`'s since PostgreSQL 9.5:
//! - the whole lock is one atomic word ([`LwLock::state`]): a count of shared holders, an
//!   exclusive bit, and flags. Taking and releasing it is a compare-and-swap or an atomic
//!   add, with no system call, whenever nobody has to wait;
//! - a process that must wait puts its own slot ([`Proc`], like a `PGPROC`) at the end of
//!   the lock's wait queue, tries once more, and sleeps on its slot's semaphore;
//! - the queue is guarded by one more bit of the same word (`LOCKED`), a tiny spinlock;
//! - whoever releases the lock and finds it free with waiters queued wakes them by posting
//!   their semaphores. They do not get the lock handed over: they try again.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use common::{Error, Result};
use l08_races::{Finish, ProcessLock, Shared, now_ns, race};
use l09_spinlock::{Backoff, SpinDelay};
pub use l10_sleeping_locks::{PosixSemaphore, SharedLock};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;

// ANCHOR: state
/// The bits of [`LwLock::state`], PostgreSQL 18's own layout (`LW_VAL_SHARED` ...).
/// Bits 0-17: how many processes hold the lock shared; add `SHARED` to count one more.
/// (`LW_SHARED_MASK` is `MAX_BACKENDS`, 2^18 - 1: room for every process a server may have.)
pub const SHARED: u32 = 1;
pub const SHARED_MASK: u32 = (1 << 18) - 1;
/// Bit 18: a process holds the lock exclusive. Never set while the shared count is not 0.
pub const EXCLUSIVE: u32 = 1 << 18;
/// Bits 0-18: "somebody holds the lock", in either mode.
pub const LOCK_MASK: u32 = (1 << 19) - 1;
/// Bit 29: the wait-list lock. Whoever sets it may change the wait queue; nobody else.
pub const LOCKED: u32 = 1 << 29;
/// Bit 30: a release may wake waiters. Cleared by a wake-up, set again by the woken
/// process once it runs: until then, more releases would only wake more processes that
/// cannot get the lock either.
pub const RELEASE_OK: u32 = 1 << 30;
/// Bit 31: the wait queue may hold processes; a release that frees the lock must look.
pub const HAS_WAITERS: u32 = 1 << 31;

/// The two ways to hold the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Mode {
    /// With any number of other readers, never with a writer.
    Shared = 1,
    /// Alone.
    Exclusive = 2,
}
// ANCHOR_END: state

// ANCHOR: proc
/// One process's slot, like PostgreSQL's `PGPROC`: where it sleeps, and its place in a
/// wait queue. Slots live in shared memory, so a releasing process can reach a waiter's.
/// Links are slot numbers plus one (0: none), never pointers.
#[repr(C, align(64))] // one x86-64 cache line each, as PostgreSQL pads its semaphores (to 128)
pub struct Proc {
    /// Starts at 0; the process sleeps in `wait`, a releaser wakes it with `post`.
    sem: PosixSemaphore,
    /// The process that claimed this slot (0: free).
    owner: AtomicU32,
    /// 1 from queueing until a releaser takes it off the queue (`lwWaiting`).
    waiting: AtomicU32,
    /// The mode it waits for, a [`Mode`] (`lwWaitMode`).
    mode: AtomicU32,
    /// The next slot in the queue, plus one (`lwWaitLink`).
    next: AtomicU32,
}

/// How many processes can use one lock: slots are claimed once per process, never freed.
pub const MAX_PROCS: usize = 72;

/// The lock: one state word, a wait queue, and the processes' slots (in PostgreSQL the
/// `PGPROC`s are one array for every lock; one lock per mapping keeps the lesson short).
#[repr(C)]
pub struct LwLock {
    /// Holders and flags: see [`SHARED`], [`EXCLUSIVE`], [`LOCKED`], [`RELEASE_OK`] and
    /// [`HAS_WAITERS`]. A new lock is `RELEASE_OK`: free, nobody waiting.
    state: AtomicU32,
    /// The first and last queued slot, plus one (0: empty). Only with `LOCKED` held.
    head: AtomicU32,
    tail: AtomicU32,
    /// How many slots processes have claimed.
    claimed: AtomicU32,
    procs: [Proc; MAX_PROCS],
}
// ANCHOR_END: proc

impl LwLock {
    /// A free lock and its slots in a shared mapping of their own, to be made before fork.
    pub fn new_shared() -> Result<SharedLock<LwLock>> {
        // SAFETY: a fresh mapping is zeroed, aligned, and used by nobody yet.
        unsafe { SharedLock::make(|at| LwLock::init(at)) }
    }

    /// Makes a free lock in place, in shared memory that is already mapped (lesson 14 puts
    /// its page locks in its region this way, as PostgreSQL puts its LWLocks in its own).
    ///
    /// # Safety
    /// `at` is zeroed, 64-byte aligned, writable memory for an `LwLock` that no process
    /// uses yet, and the lock is never moved or copied afterwards.
    pub unsafe fn init(at: *mut LwLock) -> Result<()> {
        // SAFETY: zeroed memory holds valid atomics and an empty queue (the caller's
        // promise); each semaphore is made in place and never moves; then RELEASE_OK.
        unsafe {
            for slot in 0..MAX_PROCS {
                PosixSemaphore::init(&raw mut (*at).procs[slot].sem, 0)?;
            }
            (*at).state.store(RELEASE_OK, Ordering::Release);
        }
        Ok(())
    }

    /// The state word right now (already stale when you look at it).
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Acquire)
    }

    /// The word itself, for the exercise checks.
    pub fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// The address of slot `slot`'s semaphore: what a sleeping waiter's futex call names.
    pub fn semaphore_address(&self, slot: usize) -> usize {
        &self.procs[slot].sem as *const PosixSemaphore as usize
    }
}

// ANCHOR: attempt
/// One attempt at the exclusive mode, without waiting: succeeds only on a lock nobody
/// holds in either mode. Flags are kept as they are.
pub fn try_acquire_exclusive(state: &AtomicU32) -> bool {
    let mut old = state.load(Ordering::Relaxed);
    loop {
        if old & LOCK_MASK != 0 {
            return false;
        }
        match state.compare_exchange_weak(
            old,
            old + EXCLUSIVE,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return true,
            Err(now) => old = now,
        }
    }
}

impl LwLock {
    /// `LWLockAttemptLock`: the shared mode is the exercise (src/exercise.rs).
    fn attempt(&self, mode: Mode) -> bool {
        match mode {
            Mode::Shared => exercise::try_acquire_shared(&self.state),
            Mode::Exclusive => try_acquire_exclusive(&self.state),
        }
    }
}
// ANCHOR_END: attempt

// ANCHOR: acquire
impl LwLock {
    /// `LWLockAcquire`: returns once this process holds the lock in `mode`; `true` if it
    /// had to sleep for it.
    pub fn acquire(&self, mode: Mode) -> bool {
        let mut slept = false;
        let mut extra_wakeups = 0;
        loop {
            // 1. Try. Nearly always enough, and no system call.
            if self.attempt(mode) {
                break;
            }
            // 2. Queue ourselves. The lock may have been freed a moment ago, by a process
            // that looked at the queue before we were in it: nobody would wake us.
            let me = self.my_proc();
            self.queue_self(me, mode);
            // 3. So try again. Any release from now on sees HAS_WAITERS and wakes us.
            if self.attempt(mode) {
                extra_wakeups += self.dequeue_self(me);
                break;
            }
            // 4. Sleep until a releaser takes us off the queue and posts our semaphore.
            extra_wakeups += self.sleep(me);
            slept = true;
            // Woken: we are off the queue. Let releases wake waiters again, and retry.
            self.state.fetch_or(RELEASE_OK, Ordering::Relaxed);
        }
        // Posts that came while we did not wait for them belong to a later sleep.
        for _ in 0..extra_wakeups {
            self.post(self.my_proc());
        }
        slept
    }

    /// Sleeps on slot `me`'s semaphore until a releaser has cleared `waiting`. Returns how
    /// many posts it took that were not that one (none, in this lesson: in PostgreSQL the
    /// same semaphore serves other waits too, so a post can mean something else).
    fn sleep(&self, me: usize) -> u32 {
        let proc = &self.procs[me];
        let mut extra = 0;
        loop {
            if let Err(err) = proc.sem.wait() {
                panic!("{err}");
            }
            if proc.waiting.load(Ordering::Acquire) == 0 {
                return extra;
            }
            extra += 1;
        }
    }

    fn post(&self, slot: usize) {
        if let Err(err) = self.procs[slot].sem.post() {
            panic!("{err}");
        }
    }
}
// ANCHOR_END: acquire

// ANCHOR: release
/// The slots one release woke, in queue order.
pub struct Woken {
    slots: [u32; MAX_PROCS],
    count: usize,
}

impl Woken {
    pub fn slots(&self) -> &[u32] {
        &self.slots[..self.count]
    }
}

impl LwLock {
    /// `LWLockRelease`: gives up this process's hold (taken in `mode`) and, if that left the
    /// lock free with waiters queued, wakes them. Returns the slots it woke.
    pub fn release(&self, mode: Mode) -> Woken {
        let value = match mode {
            Mode::Shared => SHARED,
            Mode::Exclusive => EXCLUSIVE,
        };
        // From here on, any process may take the lock, even before we wake anybody.
        let old = self.state.fetch_sub(value, Ordering::Release);
        let held = match mode {
            Mode::Shared => old & SHARED_MASK != 0 && old & EXCLUSIVE == 0,
            Mode::Exclusive => old & EXCLUSIVE != 0,
        };
        if !held {
            panic!(
                "release({mode:?}) of a lock not held that way: the word read {}",
                describe(old)
            );
        }
        let now = old - value;
        let wake = HAS_WAITERS | RELEASE_OK;
        if now & wake == wake && now & LOCK_MASK == 0 {
            self.wake_up()
        } else {
            Woken {
                slots: [0; MAX_PROCS],
                count: 0,
            }
        }
    }

    /// `LWLockWakeup`: takes waiters off the queue and posts their semaphores. If the first
    /// waiter wants the lock exclusive, it alone; otherwise every waiter that wants it
    /// shared, anywhere in the queue (they can all hold it together), and no writer.
    fn wake_up(&self) -> Woken {
        let mut woken = Woken {
            slots: [0; MAX_PROCS],
            count: 0,
        };
        self.wait_list_lock();
        let (mut previous, mut current) = (0, self.head.load(Ordering::Relaxed));
        while current != 0 {
            let proc = &self.procs[current as usize - 1];
            let next = proc.next.load(Ordering::Relaxed);
            let exclusive = proc.mode.load(Ordering::Relaxed) == Mode::Exclusive as u32;
            if exclusive && woken.count > 0 {
                (previous, current) = (current, next); // a writer stays queued behind readers
                continue;
            }
            self.unlink(previous, current, next);
            woken.slots[woken.count] = current - 1;
            woken.count += 1;
            if exclusive {
                break; // a writer alone
            }
            current = next;
        }
        // Drop the wait-list lock, and in the same step: no more wake-ups until a woken
        // process has run (RELEASE_OK); no HAS_WAITERS once the queue is empty.
        let empty = self.head.load(Ordering::Relaxed) == 0;
        let mut old = self.state.load(Ordering::Relaxed);
        loop {
            let mut new = old & !LOCKED;
            if woken.count > 0 {
                new &= !RELEASE_OK;
            }
            if empty {
                new &= !HAS_WAITERS;
            }
            match self
                .state
                .compare_exchange_weak(old, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => old = now,
            }
        }
        for &slot in woken.slots() {
            // Release: the unlinking above happens before the waiter sees 0 here.
            self.procs[slot as usize]
                .waiting
                .store(0, Ordering::Release);
            self.post(slot as usize);
        }
        woken
    }
}
// ANCHOR_END: release

// ANCHOR: wait_list
impl LwLock {
    /// `LWLockWaitListLock`: sets `LOCKED` in the state word, a spinlock inside the lock.
    /// Held for a few instructions, so a waiter spins, reading only, with lesson 09's
    /// backoff (`perform_spin_delay` in PostgreSQL) in case the holder was descheduled.
    fn wait_list_lock(&self) {
        loop {
            let old = self.state.fetch_or(LOCKED, Ordering::Acquire);
            if old & LOCKED == 0 {
                return;
            }
            let mut delay = SpinDelay::new(Backoff::POSTGRES);
            while self.state.load(Ordering::Relaxed) & LOCKED != 0 {
                if let Err(stuck) = delay.perform() {
                    panic!("{stuck} (the wait-list lock)");
                }
            }
            delay.finish();
        }
    }

    fn wait_list_unlock(&self) {
        self.state.fetch_and(!LOCKED, Ordering::Release);
    }

    /// `LWLockQueueSelf`: slot `me` goes to the end of the queue, waiting for `mode`.
    fn queue_self(&self, me: usize, mode: Mode) {
        self.wait_list_lock();
        self.state.fetch_or(HAS_WAITERS, Ordering::Relaxed);
        let proc = &self.procs[me];
        proc.waiting.store(1, Ordering::Relaxed);
        proc.mode.store(mode as u32, Ordering::Relaxed);
        proc.next.store(0, Ordering::Relaxed);
        let link = me as u32 + 1;
        match self.tail.load(Ordering::Relaxed) {
            0 => self.head.store(link, Ordering::Relaxed),
            last => self.procs[last as usize - 1]
                .next
                .store(link, Ordering::Relaxed),
        }
        self.tail.store(link, Ordering::Relaxed);
        self.wait_list_unlock();
    }

    /// `LWLockDequeueSelf`: after the second attempt succeeded, take slot `me` off the
    /// queue again. A releaser may have done it already, and then its post is on the way:
    /// wait for it, so it cannot end a later sleep too early. Returns posts taken besides.
    fn dequeue_self(&self, me: usize) -> u32 {
        self.wait_list_lock();
        let link = me as u32 + 1;
        let (mut previous, mut current) = (0, self.head.load(Ordering::Relaxed));
        while current != 0 && current != link {
            previous = current;
            current = self.procs[current as usize - 1]
                .next
                .load(Ordering::Relaxed);
        }
        let found = current == link;
        if found {
            let next = self.procs[me].next.load(Ordering::Relaxed);
            self.unlink(previous, current, next);
        }
        if self.head.load(Ordering::Relaxed) == 0 {
            self.state.fetch_and(!HAS_WAITERS, Ordering::Relaxed);
        }
        self.wait_list_unlock();
        if found {
            self.procs[me].waiting.store(0, Ordering::Relaxed);
            return 0;
        }
        // Someone woke us, and cleared RELEASE_OK for us: we never needed it, so set it.
        self.state.fetch_or(RELEASE_OK, Ordering::Relaxed);
        self.sleep(me)
    }

    /// Takes `current` (whose predecessor is `previous`, 0 at the head) off the queue.
    /// Only with `LOCKED` held.
    fn unlink(&self, previous: u32, current: u32, next: u32) {
        match previous {
            0 => self.head.store(next, Ordering::Relaxed),
            p => self.procs[p as usize - 1]
                .next
                .store(next, Ordering::Relaxed),
        }
        if self.tail.load(Ordering::Relaxed) == current {
            self.tail.store(previous, Ordering::Relaxed);
        }
        self.procs[current as usize - 1]
            .next
            .store(0, Ordering::Relaxed);
    }

    /// The queue right now: each waiting slot and the mode it waits for.
    pub fn waiters(&self) -> Vec<(usize, Mode)> {
        self.wait_list_lock();
        let mut list = Vec::new();
        let mut current = self.head.load(Ordering::Relaxed);
        while current != 0 {
            let proc = &self.procs[current as usize - 1];
            let mode = match proc.mode.load(Ordering::Relaxed) {
                1 => Mode::Shared,
                _ => Mode::Exclusive,
            };
            list.push((current as usize - 1, mode));
            current = proc.next.load(Ordering::Relaxed);
        }
        self.wait_list_unlock();
        list
    }
}
// ANCHOR_END: wait_list

// ANCHOR: my_proc
impl LwLock {
    /// This process's slot, claimed the first time it must wait (PostgreSQL's
    /// `InitProcess` gives each backend its `PGPROC` when it starts; `MyProc` points to it).
    /// A forked child inherits its parent's memory, cache included, so the cache says
    /// whose it is.
    fn my_proc(&self) -> usize {
        // Per process, not in shared memory: (pid, lock address, slot).
        static MINE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];
        let pid = std::process::id();
        let here = self as *const LwLock as u64;
        let cached = MINE[0].load(Ordering::Relaxed);
        if cached >> 32 == u64::from(pid) && MINE[1].load(Ordering::Relaxed) == here {
            return (cached & 0xffff_ffff) as usize;
        }
        let claimed = (self.claimed.load(Ordering::Acquire) as usize).min(MAX_PROCS);
        let slot = match (0..claimed).find(|&s| self.procs[s].owner.load(Ordering::Acquire) == pid)
        {
            Some(slot) => slot,
            None => {
                let slot = self.claimed.fetch_add(1, Ordering::AcqRel) as usize;
                if slot >= MAX_PROCS {
                    panic!(
                        "no free slot: all {MAX_PROCS} of this lock's process slots are \
                         taken (PostgreSQL: \"sorry, too many clients already\")"
                    );
                }
                self.procs[slot].owner.store(pid, Ordering::Release);
                slot
            }
        };
        MINE[0].store(u64::from(pid) << 32 | slot as u64, Ordering::Relaxed);
        MINE[1].store(here, Ordering::Relaxed);
        slot
    }
}
// ANCHOR_END: my_proc

// ANCHOR: process_lock
impl LwLock {
    /// Takes the lock in `mode` and returns the guard that holds it; dropping the guard is
    /// `LWLockRelease`. A semaphore that fails under a sleeping waiter ends the process
    /// (PostgreSQL's `PGSemaphoreLock` reports it as FATAL).
    pub fn hold(&self, mode: Mode) -> Held<'_> {
        let slept = self.acquire(mode);
        Held {
            lock: self,
            mode,
            slept,
        }
    }
}

/// Proof that this process holds an [`LwLock`] in `mode`; dropping it releases the lock.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct Held<'a> {
    lock: &'a LwLock,
    mode: Mode,
    slept: bool,
}

impl Held<'_> {
    /// Whether this process had to sleep for the lock.
    pub fn slept(&self) -> bool {
        self.slept
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.lock.release(self.mode);
    }
}

/// In exclusive mode an LWLock is a mutex: lesson 08's harness can count under it.
impl ProcessLock for LwLock {
    fn acquire(&self) -> Result<()> {
        LwLock::acquire(self, Mode::Exclusive);
        Ok(())
    }
    fn release(&self) {
        LwLock::release(self, Mode::Exclusive);
    }
}

/// The same lock in shared mode, for races where every process only reads.
pub struct SharedMode<'a>(pub &'a LwLock);

impl ProcessLock for SharedMode<'_> {
    fn acquire(&self) -> Result<()> {
        self.0.acquire(Mode::Shared);
        Ok(())
    }
    fn release(&self) {
        self.0.release(Mode::Shared);
    }
}
// ANCHOR_END: process_lock

/// The state word in words: `2 shared | HAS_WAITERS | RELEASE_OK`.
pub fn describe(state: u32) -> String {
    let holders = if state & EXCLUSIVE != 0 {
        // A shared count beside the exclusive bit is a bug (a reader that added itself and
        // did not take it back): show it rather than hide it.
        match state & SHARED_MASK {
            0 => "exclusive".to_string(),
            n => format!("exclusive + {n} shared"),
        }
    } else {
        match state & SHARED_MASK {
            0 => "free".to_string(),
            n => format!("{n} shared"),
        }
    };
    let flags = [
        (LOCKED, "LOCKED"),
        (HAS_WAITERS, "HAS_WAITERS"),
        (RELEASE_OK, "RELEASE_OK"),
    ];
    flags
        .iter()
        .filter(|(bit, _)| state & bit != 0)
        .fold(holders, |text, (_, name)| format!("{text} | {name}"))
}

/// The queue in words: `slot 0 (exclusive), slot 1 (shared)`, or `empty`.
pub fn describe_queue(waiters: &[(usize, Mode)]) -> String {
    if waiters.is_empty() {
        return "empty".into();
    }
    let each: Vec<String> = waiters
        .iter()
        .map(|(slot, mode)| match mode {
            Mode::Shared => format!("slot {slot} (shared)"),
            Mode::Exclusive => format!("slot {slot} (exclusive)"),
        })
        .collect();
    each.join(", ")
}

// ANCHOR: readers_and_writers
/// What [`readers_and_writers`] saw, counted in shared memory by the racers themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// Shared acquisitions the readers made, and the most readers inside at one moment.
    pub reads: u64,
    pub max_readers: u32,
    /// Exclusive acquisitions (transfers) the writers made, and the balances at the end.
    pub writes: u64,
    pub a: u64,
    pub b: u64,
    /// Times a reader found a writer inside, or a writer found anyone else inside.
    pub overlaps: u64,
    /// Reads that saw A + B wrong.
    pub torn: u64,
    /// How often the writers slept for the lock, and their longest wait for it.
    pub writer_sleeps: u64,
    pub longest_wait: Duration,
    /// Set if the readers gave up waiting for the writers to finish (half the patience).
    pub starved: bool,
    /// The lock's state once every racer has gone: free, no waiters.
    pub state_after: u32,
    pub finish: Finish,
}

/// The racers' shared notebook.
#[repr(C)]
struct Notebook {
    readers_inside: AtomicU32,
    writers_inside: AtomicU32,
    max_readers: AtomicU32,
    writers_done: AtomicU32,
    starved: AtomicU32,
    reads: AtomicU64,
    overlaps: AtomicU64,
    torn: AtomicU64,
    writer_sleeps: AtomicU64,
    longest_wait_ns: AtomicU64,
    /// The data the lock protects: money moves from A to B, A + B never changes.
    a: AtomicU64,
    b: AtomicU64,
}

/// Spin hints a reader spends inside the lock, and at most outside it.
const READ_WORK: u32 = 20;
const PAUSE_WORK: u32 = 256;

/// `readers` processes read A and B under the shared lock, again and again, for as long
/// as the `writers` are busy; each writer makes `writes` transfers of 1 from A to B under
/// the exclusive lock. All are released together at lesson 08's start barrier.
///
/// Nothing here waits for ever. Each racer arms an alarm for `patience_seconds`: one that
/// sleeps for good (a broken lock) dies of SIGALRM, and the race returns that as an error.
/// Readers stop after half the patience even if the writers are not done, and the result
/// says `starved`.
pub fn readers_and_writers(
    lock: &LwLock,
    readers: usize,
    writers: usize,
    writes: u64,
    pin: bool,
    patience_seconds: u32,
) -> Result<Watched> {
    let total = writes
        .checked_mul(writers as u64)
        .ok_or_else(|| Error::Usage(format!("{writers} x {writes} transfers overflow")))?;
    let memory = Shared::<Notebook>::new()?;
    // SAFETY: zeroed atomics in a live mapping that outlives `book`, used only atomically.
    let book: &Notebook = unsafe { &*memory.as_ptr() };
    book.a.store(total, Ordering::SeqCst);

    let finish = race(readers + writers, pin, |index| {
        nix::unistd::alarm::set(patience_seconds);
        if index < readers {
            let give_up = Duration::from_secs(patience_seconds.into()) / 2;
            read_until_writers_are_done(lock, book, writers as u32, total, give_up);
        } else {
            write(lock, book, writes);
        }
        Ok(())
    })?;
    Ok(Watched {
        reads: book.reads.load(Ordering::SeqCst),
        max_readers: book.max_readers.load(Ordering::SeqCst),
        writes: total - book.a.load(Ordering::SeqCst).min(total),
        a: book.a.load(Ordering::SeqCst),
        b: book.b.load(Ordering::SeqCst),
        overlaps: book.overlaps.load(Ordering::SeqCst),
        torn: book.torn.load(Ordering::SeqCst),
        writer_sleeps: book.writer_sleeps.load(Ordering::SeqCst),
        longest_wait: Duration::from_nanos(book.longest_wait_ns.load(Ordering::SeqCst)),
        starved: book.starved.load(Ordering::SeqCst) != 0,
        state_after: lock.state(),
        finish,
    })
}

fn read_until_writers_are_done(
    lock: &LwLock,
    book: &Notebook,
    writers: u32,
    total: u64,
    give_up: Duration,
) {
    let give_up = now_ns() + give_up.as_nanos() as u64;
    let (mut reads, mut overlaps, mut torn) = (0, 0, 0);
    let mut random = Xorshift::new();
    while book.writers_done.load(Ordering::Acquire) < writers {
        if now_ns() > give_up {
            book.starved.store(1, Ordering::SeqCst);
            break;
        }
        let held = lock.hold(Mode::Shared);
        let inside = book.readers_inside.fetch_add(1, Ordering::SeqCst) + 1;
        book.max_readers.fetch_max(inside, Ordering::Relaxed);
        if book.writers_inside.load(Ordering::SeqCst) != 0 {
            overlaps += 1;
        }
        let a = book.a.load(Ordering::Relaxed);
        spin(READ_WORK);
        let b = book.b.load(Ordering::Relaxed);
        if a + b != total {
            torn += 1;
        }
        book.readers_inside.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        reads += 1;
        spin(random.next() % PAUSE_WORK);
    }
    book.reads.fetch_add(reads, Ordering::Relaxed);
    book.overlaps.fetch_add(overlaps, Ordering::Relaxed);
    book.torn.fetch_add(torn, Ordering::Relaxed);
}

fn write(lock: &LwLock, book: &Notebook, writes: u64) {
    let (mut sleeps, mut longest, mut overlaps) = (0, 0, 0);
    let mut random = Xorshift::new();
    for _ in 0..writes {
        let asked = now_ns();
        let held = lock.hold(Mode::Exclusive);
        sleeps += u64::from(held.slept());
        longest = longest.max(now_ns() - asked);
        let writers = book.writers_inside.fetch_add(1, Ordering::SeqCst);
        if writers != 0 || book.readers_inside.load(Ordering::SeqCst) != 0 {
            overlaps += 1;
        }
        // Two steps, with readers forbidden to look in between: that is the lock's job.
        book.a.fetch_sub(1, Ordering::Relaxed);
        spin(READ_WORK);
        book.b.fetch_add(1, Ordering::Relaxed);
        book.writers_inside.fetch_sub(1, Ordering::SeqCst);
        drop(held);
        spin(random.next() % PAUSE_WORK);
    }
    book.writer_sleeps.fetch_add(sleeps, Ordering::Relaxed);
    book.longest_wait_ns.fetch_max(longest, Ordering::Relaxed);
    book.overlaps.fetch_add(overlaps, Ordering::Relaxed);
    book.writers_done.fetch_add(1, Ordering::Release);
}
// ANCHOR_END: readers_and_writers

fn spin(hints: u32) {
    for _ in 0..hints {
        std::hint::spin_loop();
    }
}

/// A small random generator private to each process, seeded from its pid and the clock.
struct Xorshift(u32);

impl Xorshift {
    fn new() -> Xorshift {
        Xorshift((std::process::id() ^ now_ns() as u32) | 1)
    }
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

// Not with the `exercise` feature: these tests take the lock, which then runs the learner's
// `try_acquire_shared`, and a wrong one could make them sleep for ever; the exercise's own
// checks have deadlines and say what is wrong.
#[cfg(all(test, not(feature = "exercise")))]
mod tests {
    use super::*;

    #[test]
    fn the_word_is_described_in_postgres_terms() {
        assert_eq!(describe(RELEASE_OK), "free | RELEASE_OK");
        assert_eq!(
            describe((2 * SHARED) | HAS_WAITERS | RELEASE_OK),
            "2 shared | HAS_WAITERS | RELEASE_OK"
        );
        assert_eq!(describe(EXCLUSIVE | LOCKED), "exclusive | LOCKED");
    }

    #[test]
    fn exclusive_takes_only_a_lock_nobody_holds_and_keeps_the_flags() {
        let state = AtomicU32::new(RELEASE_OK | HAS_WAITERS);
        assert!(try_acquire_exclusive(&state));
        assert_eq!(
            state.load(Ordering::Relaxed),
            EXCLUSIVE | RELEASE_OK | HAS_WAITERS
        );
        assert!(!try_acquire_exclusive(&state));
        let shared = AtomicU32::new(SHARED | RELEASE_OK);
        assert!(!try_acquire_exclusive(&shared));
    }

    #[test]
    fn one_process_takes_and_releases_in_both_modes() {
        let lock = LwLock::new_shared().unwrap();
        assert!(!lock.acquire(Mode::Shared));
        assert!(!lock.acquire(Mode::Shared));
        assert_eq!(describe(lock.state()), "2 shared | RELEASE_OK");
        lock.release(Mode::Shared);
        lock.release(Mode::Shared);
        assert!(!lock.acquire(Mode::Exclusive));
        assert_eq!(describe(lock.state()), "exclusive | RELEASE_OK");
        assert_eq!(lock.release(Mode::Exclusive).slots(), &[] as &[u32]);
        assert_eq!(lock.state(), RELEASE_OK);
        assert!(lock.waiters().is_empty());
    }

    #[test]
    fn the_layout_leaves_room_for_every_shared_holder() {
        assert!(MAX_PROCS as u32 <= SHARED_MASK);
        assert_eq!(LOCK_MASK, SHARED_MASK | EXCLUSIVE);
        assert_eq!(size_of::<Proc>(), 64);
    }
}
