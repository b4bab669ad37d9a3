//! Lesson 10: locks that sleep, shared by processes.
//!
//! A spinlock (lesson 09) waits by running: fine for a few instructions, wasteful when the
//! holder is descheduled or holds the lock for long. A sleeping lock asks the kernel to
//! put the waiter to sleep and to wake it when the holder lets go. Four of them, each
//! working across processes, each behind lesson 08's [`ProcessLock`]:
//!
//! - [`FutexMutex`]: one atomic word and two futex calls, without `FUTEX_PRIVATE_FLAG`;
//! - [`PthreadMutex`]: glibc's mutex made with `PTHREAD_PROCESS_SHARED` (and, for lesson
//!   12, optionally `PTHREAD_MUTEX_ROBUST`);
//! - [`PosixSemaphore`]: an unnamed semaphore, `sem_init(sem, 1, value)`: PostgreSQL's
//!   `PGSemaphore` on Linux, and what lesson 11's waiters sleep on;
//! - [`SysVSemaphore`]: a System V semaphore set of one, used with `SEM_UNDO`.
//!
//! The first three are plain memory: each is made in place in a shared mapping before
//! fork ([`SharedLock`]) and never moved, because its address is its identity. The fourth
//! lives in the kernel; processes share only its id, and its creator removes it in `Drop`.

use std::cell::UnsafeCell;
use std::ops::Deref;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::marks::Mark;
use common::on_signal::Remove;
use common::parent_death::{leave_if_orphaned_too_long, lock_wait_nap};
use common::{Error, Result};
use l08_races::{ProcessLock, Shared};
use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{Pid, getpid};

#[cfg_attr(feature = "exercise", path = "exercise.rs")]
#[cfg_attr(not(feature = "exercise"), path = "solution.rs")]
pub mod exercise;
pub mod set_keys;

// ANCHOR: futex_calls
/// Which wait queue the kernel files a futex waiter under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FutexScope {
    /// No flag: the kernel keys the queue by the memory itself (for a shared mapping, the
    /// page of the mapped object and the offset in it), so every process that maps the
    /// word finds the same queue, wherever the word sits in its address space.
    Shared,
    /// `FUTEX_PRIVATE_FLAG`: keyed by this process's address space and the virtual address.
    /// Quicker to look up, and unreachable from any other process.
    Private,
}

fn futex_op(operation: i32, scope: FutexScope) -> i32 {
    match scope {
        FutexScope::Shared => operation,
        FutexScope::Private => operation | libc::FUTEX_PRIVATE_FLAG,
    }
}

/// `futex(word, FUTEX_WAIT, expected)`: sleeps if `word` still holds `expected`, until a
/// `FUTEX_WAKE` on the same futex. The kernel compares and queues atomically, so a wake
/// that comes after the comparison is never missed. Returns at once if the word differs
/// (`EAGAIN`), and may return early (a signal): callers look at the word again, in a loop.
pub fn futex_wait(word: &AtomicU32, expected: u32, scope: FutexScope) {
    // SAFETY: `word` is a live, aligned u32 during the call; FUTEX_WAIT only reads it, and
    // a null timeout means "no time limit".
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAIT, scope),
            expected,
            std::ptr::null::<libc::timespec>(),
        )
    };
}

/// `futex(word, FUTEX_WAKE, count)`: wakes up to `count` waiters queued on this futex and
/// returns how many it woke.
pub fn futex_wake(word: &AtomicU32, count: u32, scope: FutexScope) -> u32 {
    let count = count.min(i32::MAX as u32) as i32;
    // SAFETY: FUTEX_WAKE neither reads nor writes the word; it only names the queue.
    let woken = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAKE, scope),
            count,
        )
    };
    woken.max(0) as u32
}
// ANCHOR_END: futex_calls

// ANCHOR: futex_mutex
/// A mutex made of one word in shared memory, like "Mutex, Take 3" of Ulrich Drepper's
/// "Futexes Are Tricky". It never enters the kernel unless two processes want it at once.
/// All-zero bytes are an unlocked mutex, so a zeroed shared mapping holds one already.
#[repr(C)]
pub struct FutexMutex {
    /// 0: unlocked. 1: locked, and nobody sleeps on it. 2: locked, and some process may
    /// be asleep in `FUTEX_WAIT` on this word: whoever unlocks must wake one.
    state: AtomicU32,
}

impl FutexMutex {
    pub const fn new() -> FutexMutex {
        FutexMutex {
            state: AtomicU32::new(0),
        }
    }
}

impl ProcessLock for FutexMutex {
    fn acquire(&self) -> Result<()> {
        // Uncontended: 0 -> 1 in user space, no system call at all.
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(());
        }
        // Contended: say "someone sleeps" (2) and sleep while the word stays 2. A swap that
        // returns 0 means the lock was free: we now hold it, in state 2, which costs at
        // most one needless wake when we unlock.
        while self.state.swap(2, Ordering::Acquire) != 0 {
            futex_wait(&self.state, 2, FutexScope::Shared);
        }
        Ok(())
    }

    /// Releases the lock and wakes one sleeper if there may be one: the exercise
    /// (src/exercise.rs; the answer is in src/solution.rs).
    fn release(&self) {
        exercise::unlock(&self.state);
    }
}
// ANCHOR_END: futex_mutex

impl FutexMutex {
    /// The state word right now (0, 1 or 2), for the story and the tests.
    pub fn state(&self) -> u32 {
        self.state.load(Ordering::Relaxed)
    }

    /// The address of the state word: what waiters sleep on.
    pub fn word(&self) -> &AtomicU32 {
        &self.state
    }

    /// An unlocked mutex in a shared mapping of its own, to be created before fork.
    pub fn new_shared() -> Result<SharedLock<FutexMutex>> {
        // SAFETY: all-zero bytes are an unlocked FutexMutex; nothing else to initialize.
        unsafe { SharedLock::make(|_| Ok(())) }
    }
}

impl Default for FutexMutex {
    fn default() -> Self {
        FutexMutex::new()
    }
}

// ANCHOR: shared_lock
/// A lock made in place in a shared mapping of its own (lesson 08's [`Shared`]), before
/// fork: every process forked afterwards finds it at the same address. Moving a
/// `SharedLock` moves the handle, never the lock, whose address is part of its identity
/// (the kernel files futex waiters by it). Dereferences to the lock.
pub struct SharedLock<L> {
    memory: Shared<L>,
}

impl<L> SharedLock<L> {
    /// Maps zeroed shared memory for an `L` and runs `init` on it.
    ///
    /// # Safety
    /// When `init` returns `Ok`, the memory must hold a valid `L`, usable through `&L` by
    /// many processes at once.
    pub unsafe fn make(init: impl FnOnce(*mut L) -> Result<()>) -> Result<SharedLock<L>> {
        let memory = Shared::<L>::new()?;
        init(memory.as_ptr())?;
        Ok(SharedLock { memory })
    }

    pub fn as_ptr(&self) -> *mut L {
        self.memory.as_ptr()
    }
}

impl<L: Sync> Deref for SharedLock<L> {
    type Target = L;
    fn deref(&self) -> &L {
        // SAFETY: `make`'s caller promised a valid, shareable L; the mapping lives as long
        // as `self`.
        unsafe { &*self.memory.as_ptr() }
    }
}
// SAFETY: a `&SharedLock<L>` gives out nothing but a `&L`, which `L: Sync` allows to share.
unsafe impl<L: Sync> Sync for SharedLock<L> {}
// ANCHOR_END: shared_lock

// ANCHOR: pthread_mutex
/// A glibc mutex in shared memory, made with `PTHREAD_PROCESS_SHARED`. Without that
/// attribute glibc waits with `FUTEX_PRIVATE_FLAG`, and a waiter in another process is
/// never woken (the same trap as `std::sync::Mutex`, lesson 04).
#[repr(C)]
pub struct PthreadMutex {
    mutex: UnsafeCell<libc::pthread_mutex_t>,
}

/// What to do when the holder dies holding the mutex (lesson 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Robustness {
    /// `PTHREAD_MUTEX_STALLED`, the default: the mutex stays locked forever.
    Stalled,
    /// `PTHREAD_MUTEX_ROBUST`: the next `lock` succeeds with `EOWNERDEAD`.
    Robust,
}

/// How `lock` got the mutex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acquired {
    /// The ordinary way: the previous holder unlocked it.
    Clean,
    /// `EOWNERDEAD` (robust mutexes only): the previous holder died holding it. We hold it
    /// now, the data it protects may be half written, and unless `make_consistent` is
    /// called before `unlock`, the mutex becomes unusable (`ENOTRECOVERABLE`).
    OwnerDied,
}

impl PthreadMutex {
    /// `pthread_mutexattr_setpshared(PTHREAD_PROCESS_SHARED)`, optionally
    /// `pthread_mutexattr_setrobust(PTHREAD_MUTEX_ROBUST)`, then `pthread_mutex_init` at `at`.
    ///
    /// # Safety
    /// `at` is aligned, writable memory for a `PthreadMutex` that no process uses yet, and
    /// the mutex is never moved or copied afterwards (make it in a shared mapping before
    /// fork, and use it where it is).
    pub unsafe fn init(at: *mut PthreadMutex, robustness: Robustness) -> Result<()> {
        // SAFETY: a zeroed attribute object is valid storage for pthread_mutexattr_init.
        let mut attr: libc::pthread_mutexattr_t = unsafe { std::mem::zeroed() };
        // SAFETY: for each of the calls below, `attr` is a live attribute object on our
        // stack, and `at` is valid, unshared memory for a mutex (the caller's promise).
        unsafe {
            check(
                "pthread_mutexattr_init",
                libc::pthread_mutexattr_init(&mut attr),
            )?;
            let shared =
                libc::pthread_mutexattr_setpshared(&mut attr, libc::PTHREAD_PROCESS_SHARED);
            let robust = match robustness {
                Robustness::Robust => {
                    libc::pthread_mutexattr_setrobust(&mut attr, libc::PTHREAD_MUTEX_ROBUST)
                }
                Robustness::Stalled => 0,
            };
            let init = libc::pthread_mutex_init(UnsafeCell::raw_get(&raw const (*at).mutex), &attr);
            libc::pthread_mutexattr_destroy(&mut attr);
            check("pthread_mutexattr_setpshared", shared)?;
            check("pthread_mutexattr_setrobust", robust)?;
            check("pthread_mutex_init", init)
        }
    }

    /// An unlocked process-shared mutex in a shared mapping of its own, before fork.
    pub fn new_shared(robustness: Robustness) -> Result<SharedLock<PthreadMutex>> {
        // SAFETY: `init` makes a valid mutex in the fresh mapping, which is never moved.
        unsafe { SharedLock::make(|at| PthreadMutex::init(at, robustness)) }
    }

    /// `pthread_mutex_lock`: blocks until this process holds the mutex.
    pub fn lock(&self) -> Result<Acquired> {
        // SAFETY: the mutex was initialized by `init` and stays where it is.
        match unsafe { libc::pthread_mutex_lock(self.mutex.get()) } {
            libc::EOWNERDEAD => Ok(Acquired::OwnerDied),
            rc => check("pthread_mutex_lock", rc).map(|()| Acquired::Clean),
        }
    }

    /// `pthread_mutex_trylock`: `None` if someone holds it (`EBUSY`).
    pub fn try_lock(&self) -> Result<Option<Acquired>> {
        // SAFETY: as in `lock`.
        match unsafe { libc::pthread_mutex_trylock(self.mutex.get()) } {
            libc::EBUSY => Ok(None),
            libc::EOWNERDEAD => Ok(Some(Acquired::OwnerDied)),
            rc => check("pthread_mutex_trylock", rc).map(|()| Some(Acquired::Clean)),
        }
    }

    /// `pthread_mutex_unlock`. Only the holder may call it.
    pub fn unlock(&self) -> Result<()> {
        // SAFETY: as in `lock`.
        check("pthread_mutex_unlock", unsafe {
            libc::pthread_mutex_unlock(self.mutex.get())
        })
    }

    /// `pthread_mutex_consistent`: after [`Acquired::OwnerDied`], declares the protected
    /// data repaired, so that the mutex keeps working after `unlock`.
    pub fn make_consistent(&self) -> Result<()> {
        // SAFETY: as in `lock`.
        check("pthread_mutex_consistent", unsafe {
            libc::pthread_mutex_consistent(self.mutex.get())
        })
    }
}

// SAFETY: a pthread mutex exists to be used through a pointer by many threads (and, with
// PTHREAD_PROCESS_SHARED, processes) at once; every access goes through pthread calls.
unsafe impl Sync for PthreadMutex {}

impl ProcessLock for PthreadMutex {
    /// A holder that died (robust mutexes only) is an error here: whatever it was changing
    /// may be half done, and only code that knows the data can repair it (lesson 12).
    fn acquire(&self) -> Result<()> {
        match PthreadMutex::lock(self)? {
            Acquired::Clean => Ok(()),
            Acquired::OwnerDied => Err(Error::Failed(
                "pthread_mutex_lock: EOWNERDEAD: the mutex's last holder died holding it".into(),
            )),
        }
    }
    fn release(&self) {
        if let Err(err) = PthreadMutex::unlock(self) {
            panic!("{err}");
        }
    }
}
// ANCHOR_END: pthread_mutex

/// pthread functions return their errno instead of setting it.
fn check(call: &'static str, rc: i32) -> Result<()> {
    match rc {
        0 => Ok(()),
        errno => Err(Error::Sys {
            call,
            errno: Errno::from_raw(errno),
        }),
    }
}

/// For calls that return -1 and set errno.
fn check_errno(call: &'static str, rc: i32) -> Result<i32> {
    match rc {
        -1 => Err(Error::sys(call)(Errno::last())),
        rc => Ok(rc),
    }
}

// ANCHOR: posix_semaphore
/// An unnamed POSIX semaphore in shared memory, made with `sem_init(sem, 1, value)`: the
/// 1 (`pshared`) makes glibc wait without `FUTEX_PRIVATE_FLAG`. A counter that `wait`
/// takes one from (sleeping while it is 0) and `post` adds one to. With 1 to start with,
/// it is a lock (PostgreSQL's `PGSemaphoreCreate`); with 0, a place for one process to
/// sleep until another posts (lesson 11).
#[repr(C)]
pub struct PosixSemaphore {
    sem: UnsafeCell<libc::sem_t>,
}

impl PosixSemaphore {
    /// `sem_init(at, 1, value)`.
    ///
    /// # Safety
    /// `at` is aligned, writable memory for a `PosixSemaphore` that no process uses yet,
    /// and the semaphore is never moved or copied afterwards.
    pub unsafe fn init(at: *mut PosixSemaphore, value: u32) -> Result<()> {
        // SAFETY: the caller's promise: valid, unshared memory for a sem_t.
        let rc = unsafe { libc::sem_init(UnsafeCell::raw_get(&raw const (*at).sem), 1, value) };
        check_errno("sem_init", rc).map(drop)
    }

    /// A process-shared semaphore holding `value`, in a shared mapping of its own.
    pub fn new_shared(value: u32) -> Result<SharedLock<PosixSemaphore>> {
        // SAFETY: `init` makes a valid semaphore in the fresh mapping, which is never moved.
        unsafe { SharedLock::make(|at| PosixSemaphore::init(at, value)) }
    }

    /// `sem_wait`, again after a signal (`EINTR`), like `PGSemaphoreLock`. A postmaster's child
    /// sleeps in naps instead (`sem_timedwait`), and leaves if its parent died more than a
    /// second ago: the holder it waits for may be dead too (`common::parent_death`).
    pub fn wait(&self) -> Result<()> {
        loop {
            let waited = match lock_wait_nap() {
                // SAFETY: initialized by `init`, never moved.
                None => unsafe { libc::sem_wait(self.sem.get()) },
                Some(nap) => {
                    let now = clock_gettime(ClockId::CLOCK_REALTIME)
                        .map_err(Error::sys("clock_gettime"))?;
                    let until = now + TimeSpec::from_duration(nap);
                    // SAFETY: as above; `until` is a live timespec during the call.
                    unsafe { libc::sem_timedwait(self.sem.get(), until.as_ref()) }
                }
            };
            match check_errno("sem_wait", waited) {
                Err(Error::Sys {
                    errno: Errno::EINTR | Errno::ETIMEDOUT,
                    ..
                }) => leave_if_orphaned_too_long(), // else: again
                other => return other.map(drop),
            }
        }
    }

    /// `sem_trywait`: `false` instead of sleeping when the value is 0 (`EAGAIN`).
    pub fn try_wait(&self) -> Result<bool> {
        // SAFETY: as in `wait`.
        match check_errno("sem_trywait", unsafe { libc::sem_trywait(self.sem.get()) }) {
            Ok(_) => Ok(true),
            Err(Error::Sys {
                errno: Errno::EAGAIN,
                ..
            }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `sem_post`: adds one, and wakes a sleeper if there is one.
    pub fn post(&self) -> Result<()> {
        // SAFETY: as in `wait`.
        check_errno("sem_post", unsafe { libc::sem_post(self.sem.get()) }).map(drop)
    }

    /// `sem_getvalue`: the value right now (already stale when you read it).
    pub fn value(&self) -> Result<i32> {
        let mut value = 0;
        // SAFETY: as in `wait`; `value` is a live int to write.
        check_errno("sem_getvalue", unsafe {
            libc::sem_getvalue(self.sem.get(), &mut value)
        })?;
        Ok(value)
    }
}

// SAFETY: a sem_t exists to be used through a pointer by many threads and, made with
// pshared = 1, processes at once; every access goes through sem_* calls.
unsafe impl Sync for PosixSemaphore {}

impl ProcessLock for PosixSemaphore {
    fn acquire(&self) -> Result<()> {
        self.wait()
    }
    fn release(&self) {
        if let Err(err) = self.post() {
            panic!("{err}");
        }
    }
}
// ANCHOR_END: posix_semaphore

// ANCHOR: sysv_semaphore
/// A System V semaphore set of one semaphore, owned by the process that created it:
/// `Drop` removes it (`IPC_RMID`) there, and only there, as lesson 05's `Segment` does; so
/// does SIGINT, SIGTERM or SIGHUP. Its key holds the creator's PID, so that the next run
/// removes it if its creator is killed (see [`set_keys`]). The set lives in the kernel, so
/// this handle is just its id; forked children use the copy they inherit. As a lock, `wait`
/// and `post` carry `SEM_UNDO`.
#[derive(Debug)]
pub struct SysVSemaphore {
    semid: i32,
    key: libc::key_t,
    creator: Pid,
    /// Removes the set if a signal ends the process before `Drop` can.
    on_signal: Option<Remove>,
    /// Says, until the set is gone, that this process made it (dropped last).
    _mark: Mark,
}

impl SysVSemaphore {
    /// `semget(key, 1, IPC_CREAT | IPC_EXCL | 0600)`, with a key that holds our PID, after
    /// removing the sets of killed runs (each removal is reported on stderr). The new
    /// semaphore is NOT ready: POSIX leaves its value undefined (Linux makes it 0), so the
    /// creator must [`set_value`](Self::set_value) before any other process can learn the id.
    pub fn create() -> Result<SysVSemaphore> {
        let program = std::env::args().next().unwrap_or_default();
        let program = program.rsplit('/').next().unwrap_or_default();
        for removed in set_keys::remove_left_by_killed_runs()? {
            eprintln!("{program}: {removed}");
        }
        let (n, key) = set_keys::next_key().ok_or_else(|| {
            Error::Failed(format!(
                "one process may make {} semaphore sets",
                set_keys::SETS_PER_PROCESS
            ))
        })?;
        let mark = Mark::make(set_keys::MARK, Some(n))?; // before the set: see set_keys
        let flags = libc::IPC_CREAT | libc::IPC_EXCL | 0o600;
        // SAFETY: semget takes plain integers and touches no memory of ours.
        let semget = |flags| check_errno("semget", unsafe { libc::semget(key, 1, flags) });
        let semid = match semget(flags) {
            // A set with our key: made by a process that had our PID before us, so it is
            // dead, and so is its set.
            Err(Error::Sys {
                errno: Errno::EEXIST,
                ..
            }) => {
                let old = semget(0)?;
                remove(old)?;
                eprintln!(
                    "{program}: removed semaphore set semid {old}, left by a run with our pid"
                );
                semget(flags)?
            }
            other => other?,
        };
        let mut set = SysVSemaphore {
            semid,
            key,
            creator: getpid(),
            on_signal: None,
            _mark: mark,
        };
        set.on_signal = Some(Remove::semaphore_set(semid)?); // on error, Drop removes it
        Ok(set)
    }

    /// The key it was made with (see [`set_keys`]).
    pub fn key(&self) -> libc::key_t {
        self.key
    }

    pub fn id(&self) -> i32 {
        self.semid
    }

    /// `semctl(semid, 0, SETVAL, value)`.
    pub fn set_value(&self, value: i32) -> Result<()> {
        // SAFETY: SETVAL takes its argument (union semun's `val`) by value.
        check_errno("semctl(SETVAL)", unsafe {
            libc::semctl(self.semid, 0, libc::SETVAL, value)
        })
        .map(drop)
    }

    /// `semctl(semid, 0, GETVAL)`.
    pub fn value(&self) -> Result<i32> {
        // SAFETY: GETVAL reads no argument.
        check_errno("semctl(GETVAL)", unsafe {
            libc::semctl(self.semid, 0, libc::GETVAL)
        })
    }

    /// `semop(semid, {0, -1, SEM_UNDO})`: waits until the value is at least 1 and takes
    /// one; again after a signal, like `PGSemaphoreLock`.
    pub fn wait(&self) -> Result<()> {
        while !self.operate(-1, libc::SEM_UNDO)? {}
        Ok(())
    }

    /// `semop(semid, {0, -1, SEM_UNDO | IPC_NOWAIT})`: `false` instead of sleeping.
    pub fn try_wait(&self) -> Result<bool> {
        match self.operate(-1, libc::SEM_UNDO | libc::IPC_NOWAIT) {
            Err(Error::Sys {
                errno: Errno::EAGAIN,
                ..
            }) => Ok(false),
            other => other,
        }
    }

    /// `semop(semid, {0, +1, SEM_UNDO})`.
    pub fn post(&self) -> Result<()> {
        while !self.operate(1, libc::SEM_UNDO)? {}
        Ok(())
    }

    /// One `semop`; `Ok(false)` if a signal interrupted it (`EINTR`).
    fn operate(&self, delta: i16, flags: i32) -> Result<bool> {
        let mut op = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: flags as i16,
        };
        // SAFETY: `op` is one live sembuf, and we pass a count of 1.
        match check_errno("semop", unsafe { libc::semop(self.semid, &mut op, 1) }) {
            Ok(_) => Ok(true),
            Err(Error::Sys {
                errno: Errno::EINTR,
                ..
            }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// `semctl(semid, 0, IPC_STAT)`: the set's times and mode.
    pub fn stat(&self) -> Result<SemStat> {
        stat(self.semid)
    }

    /// `IPC_RMID` now, reporting failure (`Drop` can only ignore it). Processes asleep in
    /// `semop` on it wake with `EIDRM`.
    pub fn remove(mut self) -> Result<()> {
        drop(self.on_signal.take());
        let removed = remove(self.semid);
        self.semid = -1; // removed (or not ours to retry): Drop now only drops the mark
        removed
    }
}

impl Drop for SysVSemaphore {
    fn drop(&mut self) {
        // A forked child that dropped its copy must not remove its parent's set.
        if getpid() == self.creator && self.semid >= 0 {
            drop(self.on_signal.take());
            let _ = remove(self.semid);
        }
    }
}

impl ProcessLock for SysVSemaphore {
    fn acquire(&self) -> Result<()> {
        self.wait()
    }
    fn release(&self) {
        if let Err(err) = self.post() {
            panic!("{err}");
        }
    }
}
// ANCHOR_END: sysv_semaphore

/// What `semctl(IPC_STAT)` says about a semaphore set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemStat {
    pub nsems: u64,
    /// Permission bits (0o600).
    pub mode: u16,
    /// The last `semop`, in seconds since 1970; 0 if no `semop` ever ran on the set.
    pub otime: i64,
    /// The last change by `semctl` (or creation).
    pub ctime: i64,
}

/// `semctl(semid, 0, IPC_STAT, &buf)`; `EINVAL` once the set is gone.
pub fn stat(semid: i32) -> Result<SemStat> {
    // SAFETY: semid_ds is plain old data; all zeroes is a valid value to be overwritten.
    let mut buf: libc::semid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: IPC_STAT writes one semid_ds through the pointer; `buf` is one.
    check_errno("semctl(IPC_STAT)", unsafe {
        libc::semctl(semid, 0, libc::IPC_STAT, &mut buf as *mut libc::semid_ds)
    })?;
    Ok(SemStat {
        nsems: buf.sem_nsems as u64,
        mode: buf.sem_perm.mode & 0o777,
        otime: buf.sem_otime,
        ctime: buf.sem_ctime,
    })
}

/// `semctl(semid, 0, IPC_RMID)`: removes the set at once (unlike a shared memory segment,
/// a semaphore set is not kept until its last user lets go).
pub fn remove(semid: i32) -> Result<()> {
    // SAFETY: IPC_RMID reads no argument.
    check_errno("semctl(IPC_RMID)", unsafe {
        libc::semctl(semid, 0, libc::IPC_RMID)
    })
    .map(drop)
}

/// The semids in `/proc/sysvipc/sem` (what `ipcs -s` lists), of every user.
pub fn semaphore_sets() -> Result<Vec<i32>> {
    let text = std::fs::read_to_string("/proc/sysvipc/sem")?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect())
}

// ANCHOR: blocked_in
/// A system call a process is blocked in, as `/proc/PID/syscall` shows it: the call's
/// number and its first arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub number: i64,
    pub args: [u64; 3],
}

/// What `pid` is blocked in right now, or `None` if it is running (or not in a call).
/// Reading another process's `/proc/PID/syscall` needs ptrace rights over it: our own
/// children qualify unless `kernel.yama.ptrace_scope` is 2 or 3.
pub fn blocked_in(pid: Pid) -> Result<Option<Blocked>> {
    let path = format!("/proc/{pid}/syscall");
    let line = std::fs::read_to_string(&path).map_err(|err| {
        Error::Failed(format!(
            "{path}: {err}; the lesson watches its own children there, which a strict \
             ptrace policy (kernel.yama.ptrace_scope = 2 or 3) forbids"
        ))
    })?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |i: usize| u64::from_str_radix(fields.get(i)?.trim_start_matches("0x"), 16).ok();
    Ok(
        match (
            fields.first().and_then(|n| n.parse().ok()),
            hex(1),
            hex(2),
            hex(3),
        ) {
            (Some(number), Some(a), Some(b), Some(c)) if number >= 0 => Some(Blocked {
                number,
                args: [a, b, c],
            }),
            _ => None,
        },
    )
}

/// Waits (up to `limit`) until `pid` is blocked in one of `calls`.
pub fn wait_until_blocked(pid: Pid, calls: &[i64], limit: Duration) -> Result<Blocked> {
    let start = Instant::now();
    loop {
        if let Some(blocked) = blocked_in(pid)?
            && calls.contains(&blocked.number)
        {
            return Ok(blocked);
        }
        if start.elapsed() > limit {
            return Err(Error::Failed(format!(
                "process {pid} did not go to sleep within {limit:?}"
            )));
        }
        std::thread::yield_now();
    }
}

/// The name of a futex operation, flag included: `FUTEX_WAIT|FUTEX_PRIVATE_FLAG`.
pub fn futex_op_name(op: u64) -> String {
    let op = op as i32;
    let command = match op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) {
        libc::FUTEX_WAIT => "FUTEX_WAIT",
        libc::FUTEX_WAIT_BITSET => "FUTEX_WAIT_BITSET",
        libc::FUTEX_WAKE => "FUTEX_WAKE",
        _ => "another futex operation",
    };
    match op & libc::FUTEX_PRIVATE_FLAG {
        0 => command.to_string(),
        _ => format!("{command}|FUTEX_PRIVATE_FLAG"),
    }
}
// ANCHOR_END: blocked_in

/// Removes every semaphore set that a lesson's output names as `semid N` and that still
/// exists; returns their ids. Tests run it after a lesson, so that a run that failed
/// halfway leaves no set behind (and can be told it would have).
pub fn sweep_printed_sets(output: &str) -> Vec<i32> {
    let sets = semaphore_sets().unwrap_or_default();
    let printed = output.split("semid ").skip(1).filter_map(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    let mut left: Vec<i32> = printed.filter(|semid| sets.contains(semid)).collect();
    left.dedup();
    for &semid in &left {
        let _ = remove(semid);
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    // With the `exercise` feature, unlock is the learner's stub: its own checks say more.
    #[cfg(not(feature = "exercise"))]
    fn an_uncontended_futex_mutex_goes_0_1_0() {
        let mutex = FutexMutex::new();
        let held = mutex.lock().unwrap();
        assert_eq!(mutex.state(), 1);
        drop(held);
        assert_eq!(mutex.state(), 0);
    }

    #[test]
    fn a_wake_with_nobody_asleep_wakes_nobody() {
        let word = AtomicU32::new(0);
        assert_eq!(futex_wake(&word, 1, FutexScope::Shared), 0);
        assert_eq!(futex_wake(&word, 1, FutexScope::Private), 0);
    }

    #[test]
    fn a_wait_on_a_changed_word_returns_at_once() {
        let word = AtomicU32::new(1);
        futex_wait(&word, 2, FutexScope::Shared); // EAGAIN: 1 != 2
    }

    #[test]
    fn a_pthread_mutex_is_busy_while_held() {
        let mutex = PthreadMutex::new_shared(Robustness::Stalled).unwrap();
        assert_eq!(mutex.lock().unwrap(), Acquired::Clean);
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(mutex.try_lock().unwrap(), None));
        });
        mutex.unlock().unwrap();
        assert_eq!(mutex.try_lock().unwrap(), Some(Acquired::Clean));
        mutex.unlock().unwrap();
    }

    #[test]
    fn a_robust_mutex_reports_a_holder_that_died() {
        // A thread that ends holding a robust mutex counts as a dead owner too; lesson 12
        // shows the same with a process killed by SIGKILL.
        let mutex = PthreadMutex::new_shared(Robustness::Robust).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(mutex.lock().unwrap(), Acquired::Clean));
        });
        assert_eq!(mutex.lock().unwrap(), Acquired::OwnerDied);
        mutex.make_consistent().unwrap();
        mutex.unlock().unwrap();
        assert_eq!(mutex.lock().unwrap(), Acquired::Clean);
        mutex.unlock().unwrap();
    }

    #[test]
    fn a_posix_semaphore_counts() {
        let sem = PosixSemaphore::new_shared(0).unwrap();
        assert!(!sem.try_wait().unwrap());
        sem.post().unwrap();
        sem.post().unwrap();
        assert_eq!(sem.value().unwrap(), 2);
        sem.wait().unwrap();
        assert!(sem.try_wait().unwrap());
        assert_eq!(sem.value().unwrap(), 0);
    }

    #[test]
    fn a_system_v_semaphore_starts_unset_and_is_removed_on_drop() {
        let sem = SysVSemaphore::create().unwrap();
        let semid = sem.id();
        let info = stat(semid).unwrap();
        assert_eq!((info.nsems, info.mode, info.otime), (1, 0o600, 0));
        assert_eq!(sem.value().unwrap(), 0, "Linux starts a new semaphore at 0");
        assert!(!sem.try_wait().unwrap());
        sem.set_value(1).unwrap();
        assert!(sem.try_wait().unwrap());
        assert!(sem.stat().unwrap().otime > 0, "a semop sets sem_otime");
        sem.post().unwrap();
        assert!(semaphore_sets().unwrap().contains(&semid));
        drop(sem);
        assert_eq!(
            stat(semid).unwrap_err().to_string(),
            "semctl(IPC_STAT): Invalid argument (EINVAL)"
        );
        assert!(!semaphore_sets().unwrap().contains(&semid));
    }

    #[test]
    fn futex_operations_are_named_with_their_flag() {
        assert_eq!(futex_op_name(0), "FUTEX_WAIT");
        assert_eq!(futex_op_name(128), "FUTEX_WAIT|FUTEX_PRIVATE_FLAG");
        assert_eq!(futex_op_name(9), "FUTEX_WAIT_BITSET");
    }
}
