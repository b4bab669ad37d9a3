//! Step 6: `std::sync::Mutex` stays in its own process.
//!
//! std's Mutex is a futex that it waits on and wakes with `FUTEX_PRIVATE_FLAG`: the kernel
//! then finds sleepers by this process's address space, and a waiter in another process
//! is never woken. The step does not take that on faith: it reads the waiter's
//! `/proc/PID/syscall` to see it asleep in `futex` with the private flag, before and after
//! the holder unlocks.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use nix::sys::mman::ProtFlags;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

// ANCHOR: std_mutex
/// What step 6 shares: std's Mutex, and two flags by which the parent and the holder take
/// turns. Every field is an atomic or built on `UnsafeCell` (as Mutex is), so a `&Shared`
/// promises the compiler nothing that another process breaks by changing it.
#[repr(C)]
struct Shared {
    mutex: Mutex<u64>,
    /// 0 until the holder has locked the mutex.
    holding: AtomicU32,
    /// 0 until the parent tells the holder to unlock.
    release: AtomicU32,
}

pub fn std_mutex_stays_home() -> Result<()> {
    section("6. std::sync::Mutex stays in its own process");
    let mapping = SharedMapping::new()?;
    let Shared {
        mutex,
        holding,
        release,
    } = mapping.get();
    println!(
        "a std::sync::Mutex<u64> written into the shared mapping at {:#x}",
        mutex as *const _ as usize
    );

    let holder = fork_child(|| {
        let guard = mutex.lock().unwrap();
        child!("holder: locked it");
        holding.store(1, Ordering::Release);
        wait_for(release);
        drop(guard); // unlock: wakes waiters with FUTEX_WAKE | FUTEX_PRIVATE_FLAG
        0
    })?;
    wait_for(holding);
    let waiter = fork_child(|| {
        child!("waiter: calling lock()");
        let _guard = mutex.lock();
        child!("waiter: got the lock (it never should)");
        0
    })?;
    let range = mutex as *const _ as usize..mutex as *const _ as usize + size_of::<Mutex<u64>>();
    let (futex, op) = wait_until_asleep_on(waiter.pid(), &range)?;
    parent!(
        "the waiter sleeps in futex({futex:#x}, {}), says /proc/{}/syscall",
        futex_op_name(op),
        waiter.pid()
    );

    release.store(1, Ordering::Release);
    let pid = holder.pid();
    parent!("the holder unlocked; child pid {pid} {}", holder.wait()?);
    let free = mutex.try_lock().is_ok();
    let still = futex_sleep(waiter.pid())? == Some((futex, op));
    parent!(
        "the lock is {}, and the waiter {}",
        if free {
            "free (try_lock succeeds here)"
        } else {
            "still held"
        },
        if still {
            "still sleeps: the holder's private wake-up never reached it"
        } else {
            "woke up"
        }
    );
    let pid = waiter.pid();
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!("child pid {pid} {} (by us)", waiter.wait()?);
    Ok(())
}
// ANCHOR_END: std_mutex

/// A [`Shared`] alone in a mapping of its own, written before any child exists.
struct SharedMapping(Mapping);

impl SharedMapping {
    fn new() -> Result<SharedMapping> {
        let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
        let mapping = Mapping::anonymous(size_of::<Shared>(), prot, PG_MMAP_FLAGS)?;
        let fresh = Shared {
            mutex: Mutex::new(0),
            holding: AtomicU32::new(0),
            release: AtomicU32::new(0),
        };
        // SAFETY: a fresh, page-aligned mapping big enough for Shared; no other process
        // exists yet. Mutex needs no Drop to release resources, so never dropping it leaks
        // nothing.
        unsafe { mapping.as_ptr().cast::<Shared>().write(fresh) };
        Ok(SharedMapping(mapping))
    }

    fn get(&self) -> &Shared {
        // SAFETY: `new` wrote a Shared there, and the mapping lives as long as `self`. Every
        // field is an atomic or built on UnsafeCell, so the `&Shared` promises nothing that
        // another process breaks by changing it.
        unsafe { &*self.0.as_ptr().cast::<Shared>() }
    }
}

fn wait_for(flag: &AtomicU32) {
    while flag.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
}

/// Waits until `pid` sleeps in futex() on a word inside `range`; returns that word's
/// address and the futex operation.
fn wait_until_asleep_on(pid: Pid, range: &std::ops::Range<usize>) -> Result<(usize, u64)> {
    loop {
        match futex_sleep(pid)? {
            Some((addr, op)) if range.contains(&addr) => return Ok((addr, op)),
            _ => std::thread::yield_now(),
        }
    }
}

/// If `pid` is blocked in futex(), its first two arguments: the word's address and the
/// operation. `/proc/PID/syscall` shows the syscall number, then the arguments in hex
/// (or `running` when the process is not blocked in a system call).
fn futex_sleep(pid: Pid) -> Result<Option<(usize, u64)>> {
    let path = format!("/proc/{pid}/syscall");
    let line = std::fs::read_to_string(&path).map_err(|e| {
        Error::Failed(format!(
            "{path}: {e}; step 6 watches its own child there, which a strict ptrace policy \
             (kernel.yama.ptrace_scope = 2 or 3) forbids"
        ))
    })?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |i: usize| {
        let field = fields.get(i)?;
        u64::from_str_radix(field.trim_start_matches("0x"), 16).ok()
    };
    let number = fields.first().and_then(|n| n.parse::<i64>().ok());
    Ok(match (number, hex(1), hex(2)) {
        (Some(libc::SYS_futex), Some(addr), Some(op)) => Some((addr as usize, op)),
        _ => None,
    })
}

fn futex_op_name(op: u64) -> String {
    let op = op as i32;
    let command = match op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) {
        libc::FUTEX_WAIT => "FUTEX_WAIT",
        libc::FUTEX_WAIT_BITSET => "FUTEX_WAIT_BITSET",
        _ => "another futex operation",
    };
    if op & libc::FUTEX_PRIVATE_FLAG != 0 {
        format!("{command}|FUTEX_PRIVATE_FLAG")
    } else {
        command.to_string()
    }
}
