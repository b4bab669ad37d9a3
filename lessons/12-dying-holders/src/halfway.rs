//! The moment of death: a holder stopped between the two writes of a transfer, and killed
//! there.
//!
//! "Usually halfway" would prove nothing, so nothing here sleeps to get there: the holder
//! raises a flag in shared memory after its first write and waits in `pause()`; the parent
//! spins until it sees the flag, then sends SIGKILL. By then the first write has certainly
//! happened, and the second certainly never will.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Child, Error, Exit, Result};
use l10_sleeping_locks::SharedLock;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid};

use crate::Accounts;

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
