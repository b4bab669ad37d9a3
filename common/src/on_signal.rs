//! Removing what the kernel keeps after a process dies, when a signal ends the process.
//!
//! A System V segment or semaphore set, and a file, outlive the process that made them.
//! Their owners remove them in `Drop`, but Ctrl-C (SIGINT), `kill` (SIGTERM) or a closed
//! terminal (SIGHUP) end a process without running any destructor. So an owner also
//! registers what it made here, for as long as it lives ([`Remove`]); a handler for those
//! three signals removes everything registered by this very process (never what a forked
//! child inherited a copy of), then dies of the signal as it would have without us. Between
//! making an object and registering it there is a moment the handler would miss: make and
//! register inside [`holding_off`], which holds the three signals back until both are done.
//!
//! SIGKILL cannot be caught: for it, each lesson leaves a mark that its next run can find
//! and clean up (a key, a magic, the creator's PID), as PostgreSQL does.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};

use nix::sys::signal::{
    SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal, sigaction, sigprocmask,
};

use crate::{Error, Result};

/// The signals that end a process politely, and run the handler.
pub const STOPPING: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

const EMPTY: u8 = 0;
const SEGMENT: u8 = 1;
const SEMAPHORE_SET: u8 = 2;
const FILE: u8 = 3;
const DIRECTORY: u8 = 4;

/// One registered object. Only atomics: the handler may run between any two instructions.
struct Slot {
    /// EMPTY, or what to remove: SEGMENT, SEMAPHORE_SET, FILE or DIRECTORY.
    kind: AtomicU8,
    /// The process that registered it: only that process removes it.
    owner: AtomicI32,
    /// The shmid or semid.
    id: AtomicI32,
    /// The path of a FILE or DIRECTORY, a leaked `CString` (freed when deregistered).
    path: AtomicPtr<libc::c_char>,
}

const SLOTS: usize = 32;
static REGISTERED: [Slot; SLOTS] = [const {
    Slot {
        kind: AtomicU8::new(EMPTY),
        owner: AtomicI32::new(0),
        id: AtomicI32::new(-1),
        path: AtomicPtr::new(std::ptr::null_mut()),
    }
}; SLOTS];

/// Something this process made that the handler removes on SIGINT, SIGTERM or SIGHUP,
/// until this value is dropped. Its owner drops it just before removing the thing itself.
#[must_use = "the object is unregistered again when this is dropped"]
#[derive(Debug)]
pub struct Remove {
    slot: usize,
}

impl Remove {
    /// A System V segment (`shmctl(IPC_RMID)`).
    pub fn segment(shmid: i32) -> Result<Remove> {
        register(SEGMENT, shmid, None)
    }

    /// A System V semaphore set (`semctl(IPC_RMID)`).
    pub fn semaphore_set(semid: i32) -> Result<Remove> {
        register(SEMAPHORE_SET, semid, None)
    }

    /// A file (`unlink`).
    pub fn file(path: &Path) -> Result<Remove> {
        register(FILE, -1, Some(path))
    }

    /// A directory, removed after the files (`rmdir`: it must be empty by then).
    pub fn directory(path: &Path) -> Result<Remove> {
        register(DIRECTORY, -1, Some(path))
    }
}

impl Drop for Remove {
    fn drop(&mut self) {
        let slot = &REGISTERED[self.slot];
        slot.kind.store(EMPTY, Ordering::SeqCst);
        let path = slot.path.swap(std::ptr::null_mut(), Ordering::SeqCst);
        if !path.is_null() {
            // SAFETY: `path` came from CString::into_raw in `register`, and the swap above
            // took it out of the slot, so the handler can no longer reach it.
            drop(unsafe { CString::from_raw(path) });
        }
    }
}

/// Runs `make`, which creates an object and registers it, with SIGINT, SIGTERM and SIGHUP
/// held back: a signal between the creation and the registration would end the process
/// with the object made but unknown to the handler, and it would be left behind. A signal
/// that arrives meanwhile waits, and acts as soon as `make` has returned, when the handler
/// finds the object registered (or, if `make` failed, nothing left to remove).
pub fn holding_off<T>(make: impl FnOnce() -> Result<T>) -> Result<T> {
    install_handler()?;
    let held: SigSet = STOPPING.into_iter().collect();
    let mut before = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&held), Some(&mut before))
        .map_err(Error::sys("sigprocmask"))?;
    let made = make();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&before), None).map_err(Error::sys("sigprocmask"))?;
    made
}

fn register(kind: u8, id: i32, path: Option<&Path>) -> Result<Remove> {
    install_handler()?;
    let path = match path {
        Some(path) => CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::Failed(format!("{}: a path with a NUL byte", path.display())))?
            .into_raw(),
        None => std::ptr::null_mut(),
    };
    for (index, slot) in REGISTERED.iter().enumerate() {
        // Claimed with a placeholder kind, filled in, then made visible with its real kind.
        if slot
            .kind
            .compare_exchange(EMPTY, u8::MAX, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            slot.owner
                .store(std::process::id() as i32, Ordering::SeqCst);
            slot.id.store(id, Ordering::SeqCst);
            slot.path.store(path, Ordering::SeqCst);
            slot.kind.store(kind, Ordering::SeqCst);
            return Ok(Remove { slot: index });
        }
    }
    if !path.is_null() {
        // SAFETY: made by into_raw above and never shared.
        drop(unsafe { CString::from_raw(path) });
    }
    Err(Error::Failed(format!(
        "more than {SLOTS} objects to remove on a signal"
    )))
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP where it is not installed yet. A
/// signal this process was told to ignore (`nohup`, or a background job of a script, which
/// starts with SIGINT ignored) stays ignored: then it cannot end the process either.
fn install_handler() -> Result<()> {
    let ours = SigAction::new(
        SigHandler::Handler(remove_and_die),
        SaFlags::empty(),
        SigSet::all(),
    );
    for signal in STOPPING {
        // SAFETY: a zeroed sigaction is a valid buffer for the kernel to fill; a null new
        // action only reads the current one.
        let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        if unsafe { libc::sigaction(signal as libc::c_int, std::ptr::null(), &mut now) } != 0 {
            return Err(Error::sys("sigaction")(nix::errno::Errno::last()));
        }
        let handler = now.sa_sigaction;
        if handler == libc::SIG_IGN || handler == remove_and_die as *const () as libc::sighandler_t
        {
            continue;
        }
        // SAFETY: the handler makes only async-signal-safe calls (shmctl, semctl, unlink,
        // rmdir, getpid, signal, raise).
        unsafe { sigaction(signal, &ours) }.map_err(Error::sys("sigaction"))?;
    }
    Ok(())
}

extern "C" fn remove_and_die(signal: libc::c_int) {
    // SAFETY: getpid is async-signal-safe.
    let me = unsafe { libc::getpid() };
    // Files and kernel objects first, directories last (they must be empty by then).
    for pass in [false, true] {
        for slot in &REGISTERED {
            let kind = slot.kind.load(Ordering::SeqCst);
            if kind == EMPTY || (kind == DIRECTORY) != pass {
                continue;
            }
            if slot.owner.load(Ordering::SeqCst) != me {
                continue; // a copy inherited by a forked child: the parent's to remove
            }
            let id = slot.id.load(Ordering::SeqCst);
            let path = slot.path.load(Ordering::SeqCst);
            // SAFETY: plain system calls; a path is a live NUL-terminated string (freed
            // only after it leaves the slot); an object already gone only makes them fail.
            unsafe {
                match kind {
                    SEGMENT => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
                    SEMAPHORE_SET => libc::semctl(id, 0, libc::IPC_RMID),
                    FILE if !path.is_null() => libc::unlink(path),
                    DIRECTORY if !path.is_null() => libc::rmdir(path),
                    _ => 0,
                };
            }
        }
    }
    // Then die of the signal, so that whoever waits for us sees how we ended. It is
    // blocked while this handler runs, and acts as soon as the handler returns.
    // SAFETY: signal and raise are async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        libc::raise(signal);
    }
}
