//! glibc's mutex, made to work across processes with `PTHREAD_PROCESS_SHARED`.
//!
//! A pthread mutex is private to one process unless its attributes say otherwise: a
//! private one sleeps with `FUTEX_PRIVATE_FLAG`, where no other process can wake it. Made
//! shared, it is the same three-state futex mutex as ours. Lesson 12 uses its robust
//! kind, which tells the next locker that the holder died.

use std::cell::UnsafeCell;

use common::{Error, Result};
use l08_races::ProcessLock;
use nix::errno::Errno;

use crate::SharedLock;

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
            panic!(
                "{err}: unlocking a mutex this process holds fails only if its memory was \
                 unmapped or overwritten under it; the processes waiting for it would wait \
                 for ever"
            );
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
