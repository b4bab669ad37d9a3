//! Every scene's second half: a next locker asks for the lock, and is either stuck for
//! good or let through.
//!
//! "Stuck" can only be told by a deadline: the next locker gets so long, and is then
//! declared stuck and killed (nobody is left to release the lock). "Through" has a bound
//! too, but one that only a broken lesson ever reaches.

use std::time::Duration;

use common::{Error, Exit, Result, fork_child, parent};
use l10_sleeping_locks::{futex_op_name, wait_until_blocked};
use l12_dying_holders::{Waited, kill_and_reap, wait_with_deadline};

use crate::MUST_HAPPEN_WITHIN;

// ANCHOR: expect_stuck
/// Forks a next locker that runs `body`, and gives it `deadline` to get the lock and end.
/// Still waiting by then: there is nobody left to release the lock. Says so, and where
/// the waiter sleeps (if `sleeps_in` names a system call), then kills it.
pub fn expect_stuck(
    deadline: Duration,
    body: impl FnOnce() -> i32,
    sleeps_in: Option<i64>,
) -> Result<()> {
    let waiter = fork_child(body)?;
    let pid = waiter.pid();
    let ms = deadline.as_millis();
    parent!("next locker, child pid {pid}, asks for the lock; it gets {ms} ms");
    match wait_with_deadline(waiter, deadline)? {
        Waited::Finished(Exit::Code(0)) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, got a lock whose holder was killed?!"
        ))),
        Waited::Finished(exit) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, {exit} before its deadline"
        ))),
        Waited::StillWaiting(waiter) => {
            parent!("after {ms} ms it is still waiting: nobody will ever release the lock");
            if let Some(call) = sleeps_in {
                let blocked = wait_until_blocked(pid, &[call], MUST_HAPPEN_WITHIN)?;
                let [_, op, value] = blocked.args;
                parent!(
                    "  /proc/{pid}/syscall: asleep in futex(&lock, {}, {value})",
                    futex_op_name(op)
                );
            }
            parent!(
                "kill -9; waitpid: child pid {pid} {}",
                kill_and_reap(waiter)?
            );
            Ok(())
        }
    }
}
// ANCHOR_END: expect_stuck

/// Forks a next locker that is expected to get the lock: runs `body`, and fails the lesson
/// if it does not end with status 0.
pub fn expect_through(body: impl FnOnce() -> i32) -> Result<()> {
    let waiter = fork_child(body)?;
    let pid = waiter.pid();
    match wait_with_deadline(waiter, MUST_HAPPEN_WITHIN)? {
        Waited::Finished(Exit::Code(0)) => Ok(()),
        Waited::Finished(exit) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, {exit}"
        ))),
        Waited::StillWaiting(_) => Err(Error::Failed(format!(
            "the next locker, child pid {pid}, did not get the lock within \
             {MUST_HAPPEN_WITHIN:?}"
        ))),
    }
}
