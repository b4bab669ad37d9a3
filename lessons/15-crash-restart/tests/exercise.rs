//! Checks for lesson 15's exercise. `cargo test -p l15-crash-restart` runs them against
//! src/solution.rs; `cargo exercise l15-crash-restart` against your src/exercise.rs.
//! They fork, so they run in this file's own single-threaded `main`.
//!
//! Each check that calls `terminate_children` runs in a forked process with a watchdog
//! (`common::watchdog`): a call that never returns fails the check with a message. Every
//! test child arms an alarm of its own, so none outlives a failed check by long.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::watchdog::{self, Checked, check_in_child};
use common::{Child, Exit, fork_child};
use l15_crash_restart::{Role, install_quickdie, is_crash, terminate_children};
use nix::errno::Errno;
use nix::sys::mman::{MapFlags, ProtFlags, mmap_anonymous};
use nix::sys::signal::{SigHandler, Signal, kill, signal};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::time::{ClockId, clock_gettime};
use nix::unistd::{Pid, pipe, read, write};

fn main() -> std::process::ExitCode {
    common::run_tests!(
        a_signal_is_a_crash_and_clean_exits_are_not,
        children_that_obey_sigquit_are_reaped_at_once,
        a_child_that_ignores_sigquit_gets_sigkill_after_the_grace,
        a_child_that_already_exited_is_reaped_and_reported,
    )
}

/// Seconds a test child lives at most (its alarm), and a check may take at most.
const CHILD_LIFETIME: u32 = 12;
const WATCHDOG: u32 = 10;

/// Runs a check in a forked process under the watchdog; a panic there (its message is
/// printed above) or a `terminate_children` that never returns fails the check here.
fn watched(check: impl FnOnce()) {
    match check_in_child(WATCHDOG, check) {
        Checked::Passed => {}
        Checked::Failed => panic!("the check failed (its message is above)"),
        Checked::Hung => panic!(
            "terminate_children did not return within {WATCHDOG} s: after the grace period, \
             SIGKILL every child still there, then reap it"
        ),
        Checked::Ended(exit) => panic!("the checking process {exit}"),
    }
}

// ANCHOR: is_crash_cases
fn a_signal_is_a_crash_and_clean_exits_are_not() {
    let cases = [
        (
            Role::Backend(1),
            Exit::Code(0),
            false,
            "a backend whose client left",
        ),
        (
            Role::Backend(1),
            Exit::Code(1),
            false,
            "a backend ending with FATAL (exit 1)",
        ),
        (
            Role::Backend(1),
            Exit::Code(2),
            true,
            "a backend that quit by quickdie (exit 2)",
        ),
        (
            Role::Backend(3),
            Exit::Signal(Signal::SIGKILL),
            true,
            "a backend killed by SIGKILL",
        ),
        (
            Role::Backend(3),
            Exit::Signal(Signal::SIGSEGV),
            true,
            "a backend that segfaulted",
        ),
        (
            Role::Checkpointer,
            Exit::Code(0),
            false,
            "the checkpointer told to stop",
        ),
        (
            Role::Checkpointer,
            Exit::Code(1),
            true,
            "the checkpointer exiting with 1",
        ),
        (
            Role::BgWriter,
            Exit::Code(1),
            true,
            "the background writer exiting with 1",
        ),
        (
            Role::WalWriter,
            Exit::Signal(Signal::SIGABRT),
            true,
            "the walwriter aborting",
        ),
    ];
    for (role, exit, crash, what) in cases {
        assert_eq!(
            is_crash(role, exit),
            crash,
            "is_crash({role:?}, {exit:?}), {what}: should be {crash}. A backend may exit with \
             0 or 1, any other process only with 0; a signal is always a crash"
        );
    }
}
// ANCHOR_END: is_crash_cases

/// How a test child behaves when SIGQUIT comes.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Installs the lesson's quickdie: exits with 2.
    Obeys,
    /// Ignores SIGQUIT and notes the time every millisecond until something kills it.
    Ignores,
}

/// A mapping shared with the children: where an ignoring child writes its heartbeat.
fn shared_word() -> &'static AtomicU64 {
    // SAFETY: a fresh anonymous shared mapping of one page, zeroed and page-aligned; it is
    // never unmapped, so the reference lives as long as the process.
    unsafe {
        let at = mmap_anonymous(
            None,
            std::num::NonZeroUsize::new(4096).unwrap(),
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
        )
        .expect("mmap");
        AtomicU64::from_ptr(at.as_ptr().cast())
    }
}

fn monotonic_ns() -> u64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("clock_gettime");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

/// Forks a child of `kind` and returns once it is ready for SIGQUIT.
fn spawn(kind: Kind, heartbeat: &'static AtomicU64) -> Child {
    let (ready_read, ready_write): (OwnedFd, OwnedFd) = pipe().expect("pipe");
    let child = fork_child(|| {
        watchdog::arm(CHILD_LIFETIME);
        match kind {
            Kind::Obeys => install_quickdie().expect("quickdie"),
            Kind::Ignores => {
                // SAFETY: SIG_IGN installs no code of ours.
                unsafe { signal(Signal::SIGQUIT, SigHandler::SigIgn) }.expect("signal");
            }
        }
        write(&ready_write, b"r").expect("write");
        loop {
            if kind == Kind::Ignores {
                heartbeat.store(monotonic_ns(), Ordering::Release);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
    .expect("fork");
    drop(ready_write);
    assert_eq!(
        read(&ready_read, &mut [0; 1]),
        Ok(1),
        "a test child did not start"
    );
    child
}

/// Runs `terminate_children`; returns what it said and how long it took.
fn terminate(
    children: &mut Vec<(&'static str, Child)>,
    grace: Duration,
) -> (Vec<(&'static str, Pid, Exit)>, Duration) {
    let started = Instant::now();
    let ended = terminate_children(children, grace)
        .unwrap_or_else(|err| panic!("terminate_children failed: {err}"));
    (ended, started.elapsed())
}

/// Each child in `pids` is reported with the exit `expected` says, and is gone: reaped,
/// not even a zombie (`kill(pid, 0)` fails with ESRCH).
fn assert_reaped(
    ended: &[(&'static str, Pid, Exit)],
    pids: &[(&'static str, Pid, Exit)],
    children: &[(&'static str, Child)],
) {
    assert!(
        children.is_empty(),
        "{} children are still in the vector after terminate_children: remove each one you \
         reaped, and SIGKILL and reap whoever is left after the grace period",
        children.len()
    );
    for &(name, pid, expected) in pids {
        let reported = ended.iter().find(|(_, p, _)| *p == pid);
        assert!(
            kill(pid, None) == Err(Errno::ESRCH),
            "the {name} child (pid {pid}) is still there (a zombie, if nobody reaped it): \
             reap every child with try_wait or wait"
        );
        let Some(&(role, _, exit)) = reported else {
            panic!(
                "no exit reported for the {name} child (pid {pid}): return (role, pid, exit) \
                 for every child, as try_wait or wait told you"
            );
        };
        assert_eq!(
            role, name,
            "the {name} child was reported under another role"
        );
        assert_eq!(
            exit,
            expected,
            "the {name} child (pid {pid}) should have {expected}; it {exit}. {}",
            match (expected, exit) {
                (Exit::Code(2), Exit::Signal(Signal::SIGKILL)) =>
                    "It obeys SIGQUIT: send SIGQUIT first and give it the grace period; \
                     SIGKILL only whoever is left after it",
                _ => "Report the exit that try_wait or wait returned",
            }
        );
    }
}

fn children_that_obey_sigquit_are_reaped_at_once() {
    watched(|| {
        let grace = Duration::from_secs(3);
        let heartbeat = shared_word();
        let mut children: Vec<(&'static str, Child)> = ["first", "second", "third"]
            .into_iter()
            .map(|name| (name, spawn(Kind::Obeys, heartbeat)))
            .collect();
        let pids: Vec<_> = children
            .iter()
            .map(|(name, c)| (*name, c.pid(), Exit::Code(2)))
            .collect();
        let (ended, took) = terminate(&mut children, grace);
        assert_reaped(&ended, &pids, &children);
        assert!(
            took < Duration::from_secs(1),
            "terminate_children took {took:?} for children that all exit at SIGQUIT: return as \
             soon as every child is reaped, do not wait out the grace period ({grace:?}). If you \
             ask kill(pid, 0) whether a child is gone: a child that has exited is a zombie, and \
             answers kill(pid, 0) until it is reaped; ask child.try_wait() (waitpid WNOHANG), \
             which reaps it too"
        );
    });
}

fn a_child_that_ignores_sigquit_gets_sigkill_after_the_grace() {
    watched(|| {
        let grace = Duration::from_millis(400);
        let heartbeat = shared_word();
        let mut children = vec![
            ("obeying", spawn(Kind::Obeys, heartbeat)),
            ("ignoring", spawn(Kind::Ignores, heartbeat)),
        ];
        let pids = [
            ("obeying", children[0].1.pid(), Exit::Code(2)),
            (
                "ignoring",
                children[1].1.pid(),
                Exit::Signal(Signal::SIGKILL),
            ),
        ];
        let started = monotonic_ns();
        let (ended, took) = terminate(&mut children, grace);
        assert_reaped(&ended, &pids, &children);
        // The ignoring child noted the time until it died: it must have lived through the grace
        // period (less a few milliseconds for its 1 ms naps).
        let lived = Duration::from_nanos(heartbeat.load(Ordering::Acquire).saturating_sub(started));
        assert!(
            lived + Duration::from_millis(20) >= grace,
            "the child that ignores SIGQUIT died {lived:?} after the call began, before the grace \
             period of {grace:?} was over: send SIGKILL only once the grace period has passed"
        );
        assert!(
            took < grace + Duration::from_secs(1),
            "terminate_children took {took:?} with a grace of {grace:?}: SIGKILL the rest right \
             after the grace period"
        );
    });
}

fn a_child_that_already_exited_is_reaped_and_reported() {
    watched(|| {
        let heartbeat = shared_word();
        let gone = fork_child(|| 0).expect("fork");
        // Wait until it has exited, without reaping it: a zombie now.
        waitid(
            Id::Pid(gone.pid()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT,
        )
        .expect("waitid");
        let mut children = vec![("exited", gone), ("obeying", spawn(Kind::Obeys, heartbeat))];
        let pids = [
            ("exited", children[0].1.pid(), Exit::Code(0)),
            ("obeying", children[1].1.pid(), Exit::Code(2)),
        ];
        let (ended, _) = terminate(&mut children, Duration::from_secs(3));
        assert_reaped(&ended, &pids, &children);
    });
}
