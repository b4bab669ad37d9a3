//! Tests of `fork_child`. They fork, so this file has its own single-threaded `main`
//! (`harness = false` in Cargo.toml) instead of libtest's threads.

use std::io::Write;
use std::process::{Command, ExitCode};

use common::on_signal::Remove;
use common::parent_death::{ORPHAN_EXIT_STATUS, PARENT_DEATH_SIGNAL};
use common::{Exit, OnParentDeath, fork_child, fork_child_with};
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

fn main() -> ExitCode {
    // Re-executed by `partial_line_is_printed_once`: print half a line, fork, finish it.
    if std::env::var_os("COMMON_FORK_TEST_PARTIAL_LINE").is_some() {
        print!("printed before fork");
        let child = fork_child(|| 0).expect("fork");
        child.wait().expect("wait");
        println!();
        return ExitCode::SUCCESS;
    }

    common::run_tests!(
        child_exit_status_is_reported,
        child_panic_becomes_status_101,
        child_killed_by_signal_is_reported,
        dropping_an_unwaited_child_kills_and_reaps_it,
        partial_line_is_printed_once,
        an_orphan_leaves_when_its_parent_dies,
        a_stopped_orphan_leaves_only_once_continued,
        an_orphan_at_safe_points_finishes_its_step,
        an_orphan_at_safe_points_leaves_a_wait_that_would_never_end,
        sigterm_removes_a_registered_segment,
        a_signal_between_making_and_registering_waits_for_the_registration,
        a_forked_child_never_removes_its_parents_objects,
        // Last: it makes this process multi-threaded for a moment.
        fork_is_refused_with_two_threads,
    )
}

fn child_exit_status_is_reported() {
    let child = fork_child(|| 7).unwrap();
    assert_eq!(child.wait().unwrap(), Exit::Code(7));
}

fn child_panic_becomes_status_101() {
    // The child's panic message goes to stderr through the default hook; silence it here.
    let child = fork_child(|| {
        std::panic::set_hook(Box::new(|_| {}));
        panic!("on purpose")
    })
    .unwrap();
    assert_eq!(child.wait().unwrap(), Exit::Code(101));
}

fn child_killed_by_signal_is_reported() {
    let child = fork_child(|| {
        signal::raise(Signal::SIGKILL).unwrap();
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    assert_eq!(exit, Exit::Signal(Signal::SIGKILL));
    assert_eq!(exit.to_string(), "was killed by SIGKILL");
}

fn dropping_an_unwaited_child_kills_and_reaps_it() {
    let child = fork_child(|| {
        loop {
            nix::unistd::pause();
        }
    })
    .unwrap();
    let pid: Pid = child.pid();
    drop(child);
    // Reaped: the pid no longer names a process of ours, not even a zombie.
    assert_eq!(signal::kill(pid, None), Err(Errno::ESRCH));
}

fn partial_line_is_printed_once() {
    let output = Command::new(std::env::current_exe().unwrap())
        .env("COMMON_FORK_TEST_PARTIAL_LINE", "1")
        .output()
        .unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        stdout, "printed before fork\n",
        "the child printed the parent's buffer again"
    );
}

fn fork_is_refused_with_two_threads() {
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || stopped.recv());
    let refused = fork_child(|| 0).unwrap_err();
    assert!(
        refused.to_string().contains("refusing to fork"),
        "{refused}"
    );
    stop.send(()).unwrap();
    thread.join().unwrap().unwrap();
    std::io::stdout().flush().unwrap();
}

/// Forks a child that forks `grandchild` (which exits only at safe points if asked) and exits at once (after `before_exit`, given the
/// grandchild's pid), leaving the grandchild an orphan. This process is a child subreaper,
/// so the orphan becomes its child: its pid is returned, to be waited for.
fn orphan(grandchild: fn() -> i32, at_safe_points: bool, before_exit: fn(Pid)) -> Pid {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    let child = fork_child(|| {
        let (running, started) = nix::unistd::pipe().unwrap();
        let on_death = match at_safe_points {
            true => OnParentDeath::ExitAtSafePoints,
            false => OnParentDeath::ExitAtOnce,
        };
        let orphan = fork_child_with(on_death, || {
            // fork_child_with has made it watch its parent by now.
            nix::unistd::write(&started, b"!").unwrap();
            grandchild()
        })
        .unwrap();
        assert_eq!(nix::unistd::read(&running, &mut [0u8]).unwrap(), 1);
        before_exit(orphan.pid());
        nix::unistd::write(&write_end, &orphan.pid().as_raw().to_ne_bytes()).unwrap();
        std::mem::forget(orphan); // its Drop would kill it: it must outlive us
        0
    })
    .unwrap();
    drop(write_end);
    assert_eq!(child.wait().unwrap(), Exit::Code(0));
    let mut pid = [0u8; 4];
    assert_eq!(nix::unistd::read(&read_end, &mut pid).unwrap(), 4);
    Pid::from_raw(i32::from_ne_bytes(pid))
}

/// Waits for `pid` (a child of ours) to end, for at most `limit`; kills it after that.
fn ends_within(pid: Pid, limit: std::time::Duration) -> Option<WaitStatus> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).unwrap() {
            WaitStatus::StillAlive => std::thread::sleep(std::time::Duration::from_millis(1)),
            status => return Some(status),
        }
    }
    let _ = signal::kill(pid, Signal::SIGKILL);
    let _ = waitpid(pid, None);
    None
}

fn wait_forever() -> i32 {
    loop {
        nix::unistd::pause();
    }
}

fn an_orphan_leaves_when_its_parent_dies() {
    let pid = orphan(wait_forever, false, |_| {});
    assert_eq!(
        ends_within(pid, std::time::Duration::from_secs(5)),
        Some(WaitStatus::Exited(pid, ORPHAN_EXIT_STATUS)),
        "a child kept waiting after its parent died"
    );
}

fn a_stopped_orphan_leaves_only_once_continued() {
    let pid = orphan(wait_forever, false, |orphan| {
        signal::kill(orphan, Signal::SIGSTOP).unwrap();
        let stopped = waitpid(orphan, Some(WaitPidFlag::WUNTRACED)).unwrap();
        assert_eq!(stopped, WaitStatus::Stopped(orphan, Signal::SIGSTOP));
    });
    // The parent is reaped, so its death signal was sent: it waits, pending, while the
    // orphan is stopped (the way lesson 07's frozen children keep holding the segment).
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    let stopped = status.contains("State:\tT (stopped)");
    let pending = field("SigPnd:") | field("ShdPnd:");
    signal::kill(pid, Signal::SIGCONT).unwrap();
    let ended = ends_within(pid, std::time::Duration::from_secs(5));
    assert!(
        stopped,
        "the stopped orphan did not stay stopped:\n{status}"
    );
    let bit = 1 << (PARENT_DEATH_SIGNAL as i32 - 1);
    assert_ne!(pending & bit, 0, "no death signal pending:\n{status}");
    assert_eq!(ended, Some(WaitStatus::Exited(pid, ORPHAN_EXIT_STATUS)));
}

fn an_orphan_at_safe_points_finishes_its_step() {
    let pid = orphan(
        || {
            while !common::parent_death::parent_gone() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            42 // reached its safe point, and left from there
        },
        true,
        |_| {},
    );
    assert_eq!(
        ends_within(pid, std::time::Duration::from_secs(5)),
        Some(WaitStatus::Exited(pid, 42))
    );
}

fn an_orphan_at_safe_points_leaves_a_wait_that_would_never_end() {
    let pid = orphan(
        || {
            // A lock wait whose holder is dead: nothing will ever wake it.
            let nap = common::parent_death::lock_wait_nap().expect("it naps");
            loop {
                std::thread::sleep(nap);
                common::parent_death::leave_if_orphaned_too_long();
            }
        },
        true,
        |_| {},
    );
    assert_eq!(
        ends_within(pid, std::time::Duration::from_secs(10)),
        Some(WaitStatus::Exited(pid, ORPHAN_EXIT_STATUS))
    );
}

/// A new private System V segment of one page; its id.
fn new_segment() -> i32 {
    // SAFETY: shmget takes plain integers.
    let shmid = unsafe { libc::shmget(libc::IPC_PRIVATE, 4096, libc::IPC_CREAT | 0o600) };
    assert!(shmid >= 0, "shmget: {}", Errno::last());
    shmid
}

/// Whether the segment still exists (`IPC_STAT` works on it).
fn segment_exists(shmid: i32) -> bool {
    // SAFETY: shmid_ds is plain data; IPC_STAT writes one through the pointer.
    let mut stat: libc::shmid_ds = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::shmctl(shmid, libc::IPC_STAT, &mut stat) == 0 }
}

fn sigterm_removes_a_registered_segment() {
    let shmid = new_segment();
    let child = fork_child(|| {
        let _registered = Remove::segment(shmid).unwrap();
        signal::raise(Signal::SIGTERM).unwrap();
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    let removed = !segment_exists(shmid);
    if !removed {
        // SAFETY: IPC_RMID reads no argument.
        unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
    }
    assert_eq!(
        exit,
        Exit::Signal(Signal::SIGTERM),
        "it dies of the signal all the same"
    );
    assert!(removed, "SIGTERM left the registered segment behind");
}

fn a_signal_between_making_and_registering_waits_for_the_registration() {
    let shmid = new_segment();
    let child = fork_child(|| {
        let registered = common::on_signal::holding_off(|| {
            // The worst moment: the object exists, the handler does not know it yet.
            signal::raise(Signal::SIGTERM).unwrap();
            Remove::segment(shmid)
        });
        // Not reached: the signal acts as soon as holding_off has restored the mask.
        drop(registered);
        0
    })
    .unwrap();
    let exit = child.wait().unwrap();
    let removed = !segment_exists(shmid);
    if !removed {
        // SAFETY: IPC_RMID reads no argument.
        unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
    }
    assert_eq!(exit, Exit::Signal(Signal::SIGTERM));
    assert!(
        removed,
        "a SIGTERM held off until the registration left the segment behind"
    );
}

fn a_forked_child_never_removes_its_parents_objects() {
    let shmid = new_segment();
    let child = fork_child(|| {
        let registered = Remove::segment(shmid).unwrap();
        let grandchild = fork_child(|| {
            signal::raise(Signal::SIGTERM).unwrap();
            0
        })
        .unwrap();
        assert_eq!(grandchild.wait().unwrap(), Exit::Signal(Signal::SIGTERM));
        drop(registered);
        i32::from(!segment_exists(shmid))
    })
    .unwrap();
    let exit = child.wait().unwrap();
    // SAFETY: IPC_RMID reads no argument.
    unsafe { libc::shmctl(shmid, libc::IPC_RMID, std::ptr::null_mut()) };
    assert_eq!(
        exit,
        Exit::Code(0),
        "a child's SIGTERM removed its parent's segment"
    );
}
