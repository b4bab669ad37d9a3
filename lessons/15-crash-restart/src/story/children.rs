//! A round's children: the checkpointer, the background writer, the WAL writer and the
//! backends, forked by the postmaster after shared memory exists (PostgreSQL's
//! `StartChildProcess` and `BackendStartup`). Each inherits the region, opens the data files
//! itself, and talks to the postmaster through pipes only: the background processes wait
//! on a pipe of their own for requests, every child reports on one shared pipe, and the
//! backends watch one whose write end only the postmaster holds (its EOF: the postmaster
//! died).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use common::{Child, Error, OnParentDeath, Result, Signals, fork_child_with, parent};
use l14_mini_postmaster::{bgwriter, checkpointer, walwriter};
use l15_crash_restart::{Crash, Notebook, Role, install_quickdie};
use nix::fcntl::OFlag;
use nix::sys::signal::Signal;
use nix::unistd::{getpid, pipe2, write};

use super::backend::{Work, backend};
use super::checkpoint::checkpoint_at;
use super::round::updates_in_round;
use super::shmem::SharedMemory;
use crate::{Options, step};

// ANCHOR: child_init
/// A child, first thing: the postmaster's signalfd closed; SIGINT, SIGTERM and SIGHUP still
/// blocked (the postmaster reads Ctrl-C and a hang-up; a backend reads SIGTERM at a safe
/// point); SIGQUIT
/// let in only once its handler, `quickdie`, is in place; and a name for `ps -o comm`
/// (`prctl(PR_SET_NAME)`), as lesson 14's children take.
pub fn child_init(signals: &Signals, role: Role) -> Result<()> {
    signals.leave_in_child(&[
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ]);
    let name = CString::new(role.process_name()).expect("no NUL in a name");
    let _ = nix::sys::prctl::set_name(&name);
    install_quickdie()
}
// ANCHOR_END: child_init

/// One round's children and the postmaster's ends of their pipes. Dropping it kills and
/// reaps any child still there (`Child`'s drop), then closes the pipes.
pub struct Server {
    pub children: Vec<(Role, Child)>,
    /// Write ends: the background processes' request pipes (lesson 14's "latches").
    pub checkpointer: OwnedFd,
    pub bgwriter: OwnedFd,
    pub walwriter: OwnedFd,
    /// Write end of the backends' pipe, held and never written: its EOF tells them that
    /// the postmaster died.
    _alive: OwnedFd,
    /// Read end of the pipe every child reports on.
    pub reports: OwnedFd,
}

// ANCHOR: fork
/// A round: a line per backend in the notebook, then the children (StartChildProcess).
pub fn fork_the_children(
    shmem: &SharedMemory,
    dir: &Path,
    options: &Options,
    crash: Option<Crash>,
    signals: &Signals,
) -> Result<Server> {
    let workers = options.workers as usize;
    let updates = updates_in_round(crash);
    let lines = Notebook::open(dir)?.begin_round(workers, shmem.buffers, updates, crash)?;
    step(&match crash {
        Some(c) => format!(
            "Work: {workers} backends, {updates} updates each; backend {} will die in its update {}",
            c.backend, c.update
        ),
        None => format!("Work: {workers} backends, {updates} updates each"),
    });
    let pool = shmem.pool()?;
    let (checkpointer_wait, checkpointer_requests) = pipe()?;
    let (bgwriter_wait, bgwriter_requests) = pipe()?;
    let (walwriter_wait, walwriter_requests) = pipe()?;
    let (alive_watch, alive) = pipe()?;
    let (reports, report) = pipe()?;
    // The postmaster's ends: a child closes them, so that it sees EOF when the postmaster
    // dies (a backend keeps the checkpointer's, to ask for checkpoints).
    let postmaster_ends = [
        checkpointer_requests.as_raw_fd(),
        bgwriter_requests.as_raw_fd(),
        walwriter_requests.as_raw_fd(),
        alive.as_raw_fd(),
    ];
    let mut roles = vec![Role::Checkpointer, Role::BgWriter, Role::WalWriter];
    roles.extend((1..=workers).map(Role::Backend));
    let mut children = Vec::new();
    for role in roles {
        let child = fork_child_with(OnParentDeath::ExitAtSafePoints, || {
            if child_init(signals, role).is_err() {
                return 1;
            }
            let outcome = match role {
                Role::Checkpointer => {
                    close_inherited(&postmaster_ends);
                    checkpointer(&pool, dir, &checkpointer_wait)
                }
                Role::BgWriter => {
                    close_inherited(&postmaster_ends);
                    bgwriter(&pool, dir, &bgwriter_wait)
                }
                Role::WalWriter => {
                    close_inherited(&postmaster_ends);
                    walwriter(&pool, dir, &walwriter_wait)
                }
                Role::Startup => unreachable!("forked by run_the_startup_process"),
                Role::Backend(n) => {
                    close_inherited(&postmaster_ends[1..]);
                    let work = Work {
                        pool: &pool,
                        dir,
                        number: n,
                        updates,
                        line: lines[n - 1],
                        crash: crash.filter(|c| c.backend == n),
                        checkpoint_at: checkpoint_at(crash, n, updates),
                    };
                    backend(work, &checkpointer_requests, &report, &alive_watch)
                }
            };
            let (text, status) = match outcome {
                Ok(text) => (
                    text,
                    if matches!(role, Role::Backend(_)) {
                        1
                    } else {
                        0
                    },
                ),
                Err(err) => (format!("failed: {err}"), 1),
            };
            send_report(&report, role, &text);
            status
        })?;
        children.push((role, child));
    }
    parent!("the process tree (ps -o pid,ppid,comm shows each child by this name):");
    parent!("postmaster          parent pid {}", getpid());
    let last = children.len() - 1;
    for (i, (role, child)) in children.iter().enumerate() {
        let branch = if i == last { "└─" } else { "├─" };
        parent!(
            "{branch} {:<16} child pid {}",
            role.process_name(),
            child.pid()
        );
    }
    Ok(Server {
        children,
        checkpointer: checkpointer_requests,
        bgwriter: bgwriter_requests,
        walwriter: walwriter_requests,
        _alive: alive,
        reports,
    })
}

/// A pipe whose ends are closed by dropping them (and by exec, if there were one).
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))
}

/// Closes this child's copies of the postmaster's ends of the pipes.
pub fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: in this child the descriptor belongs to our copy of an OwnedFd that is
        // never dropped here (children leave with _exit): it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// One line on the report pipe: `process name\ttext`. One write of less than PIPE_BUF bytes
/// is never interleaved with another child's.
pub fn send_report(report: &OwnedFd, role: Role, text: &str) {
    let _ = write(
        report,
        format!("{}\t{text}\n", role.process_name()).as_bytes(),
    );
}
// ANCHOR_END: fork
