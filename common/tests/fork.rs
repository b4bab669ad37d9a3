//! Tests of `fork_child`. They fork, so this file has its own single-threaded `main`
//! (`harness = false` in Cargo.toml) instead of libtest's threads.

use std::io::Write;
use std::process::{Command, ExitCode};

use common::{Exit, fork_child};
use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
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
