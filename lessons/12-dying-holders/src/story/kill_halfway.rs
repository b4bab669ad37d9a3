//! Every scene's first half: a holder takes the lock, starts a transfer, and is killed
//! halfway through it.
//!
//! The holder keeps its guard, where the lock has one, to the very end: a guard releases
//! the lock in its `Drop`, and SIGKILL runs no code of the process, `Drop` included. So the
//! lock is left held, and the accounts half written, whatever the kind of lock.

use common::{Result, child, fork_child, parent};
use l12_dying_holders::{Scene, kill_and_reap, stop_halfway, wait_for_halfway};

use crate::{AMOUNT, MUST_HAPPEN_WITHIN};

// ANCHOR: kill_halfway
/// Forks a holder that runs `take` (true: it holds the lock now), starts a transfer and
/// stops halfway. Kills it there, and reports what it left.
pub fn kill_holder_halfway<Held>(scene: &Scene, take: impl Fn() -> Option<Held>) -> Result<()> {
    let holder = fork_child(|| {
        // A guard, where the lock has one: its Drop would release the lock, but SIGKILL
        // ends the process with no code of its own run, so it never does.
        let Some(_held) = take() else {
            return 1;
        };
        child!(
            "holder, child pid {}: took the lock; a -= {AMOUNT}, and b += {AMOUNT} comes next",
            std::process::id()
        );
        stop_halfway(scene, AMOUNT)
    })?;
    wait_for_halfway(&holder, scene, MUST_HAPPEN_WITHIN)?;
    let pid = holder.pid();
    let exit = kill_and_reap(holder)?;
    parent!("the holder is halfway: kill -9; waitpid: child pid {pid} {exit}");
    parent!(
        "it left the lock held and the accounts at {}",
        scene.accounts
    );
    Ok(())
}
// ANCHOR_END: kill_halfway
