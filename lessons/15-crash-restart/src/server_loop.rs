//! The postmaster between forks: it sleeps in `poll` until a child ends or reports
//! (`ServerLoop`), treats an unplanned exit as a crash and stops everyone else
//! (`HandleChildCrash`), and at the end stops everyone in order (a fast shutdown). It
//! learns everything from `waitpid`, its signalfd and its pipes; never from shared memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, OwnedFd};

use common::{Error, Exit, Result, Signals, parent};
use l07_postgres_hybrid::{LockFile, STATUS_STOPPING};
use l14_mini_postmaster::SHUTDOWN;
use l15_crash_restart::{Role, is_crash, log_child_exit, terminate_children};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, write};

use crate::children::Server;
use crate::{GRACE, step};

/// How a round ended.
pub enum Outcome {
    /// Every backend finished its work (and, with --hold, Enter was pressed).
    Done,
    /// A child ended in a way that is a crash.
    Crash(Role, Pid, Exit),
}

// ANCHOR: serve
/// `ServerLoop`: sleeps in `poll` until a child ends (SIGCHLD, from the signalfd), a child
/// reports, or (with --hold) Enter is pressed. Reaps with `waitpid(pid, WNOHANG)`.
pub fn serve(server: &mut Server, signals: &Signals, hold: bool) -> Result<Outcome> {
    let backends = server
        .children
        .iter()
        .filter(|(role, _)| matches!(role, Role::Backend(_)))
        .count();
    let mut reports = BufReader::new(File::from(server.reports.try_clone()?));
    let mut done = 0;
    let stdin = std::io::stdin();
    loop {
        let all_done = done == backends;
        if all_done && !hold {
            return Ok(Outcome::Done);
        }
        let mut fds = vec![
            PollFd::new(signals.fd(), PollFlags::POLLIN),
            PollFd::new(server.reports.as_fd(), PollFlags::POLLIN),
        ];
        if all_done {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
        let ready = |i: usize| fds.get(i).is_some_and(|fd| fd.any().unwrap_or(false));
        let (signal_ready, report_ready, enter) = (ready(0), ready(1), ready(2));
        drop(fds);
        if signal_ready {
            while let Some(signal) = signals.take()? {
                if signal != Signal::SIGCHLD {
                    return Err(Error::Failed(format!(
                        "interrupted by {}: every child stopped, shared memory removed",
                        signal.as_str()
                    )));
                }
            }
            if let Some(crash) = reap_any(server)? {
                return Ok(crash);
            }
        }
        if report_ready {
            // One read may bring several lines: take every whole line it buffered.
            loop {
                let mut line = String::new();
                reports.read_line(&mut line)?;
                if line.starts_with("Backend(") && line.contains("\tdone:") {
                    done += 1;
                }
                if !reports.buffer().contains(&b'\n') {
                    break;
                }
            }
        }
        if enter {
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            return Ok(Outcome::Done);
        }
        if all_done != (done == backends) && hold {
            parent!(
                "the backends are done and wait like idle sessions; press Enter to shut \
                 down, or kill -9 one of them from another terminal"
            );
        }
    }
}

/// Reaps every child that has ended. A crash is returned; any other exit during the work
/// means something failed (its report says what).
fn reap_any(server: &mut Server) -> Result<Option<Outcome>> {
    let mut i = 0;
    while i < server.children.len() {
        let (role, child) = &mut server.children[i];
        let (role, pid) = (*role, child.pid());
        match child.try_wait()? {
            None => i += 1,
            Some(exit) if is_crash(role, exit) => {
                server.children.remove(i);
                return Ok(Some(Outcome::Crash(role, pid, exit)));
            }
            Some(exit) => {
                return Err(Error::Failed(format!(
                    "{role} (child pid {pid}) {exit} during the work: see its error above"
                )));
            }
        }
    }
    Ok(None)
}
// ANCHOR_END: serve

// ANCHOR: crash
/// `HandleChildCrash`: log the exit, SIGQUIT everyone else, SIGKILL after the grace period.
pub fn handle_child_crash(server: &mut Server, role: Role, pid: Pid, exit: Exit) -> Result<()> {
    step("The crash: the postmaster hears of it from waitpid");
    parent!("SIGCHLD; waitpid: {role} (child pid {pid}) {exit}");
    parent!("LOG:  {}", log_child_exit(role, pid.as_raw(), exit));
    parent!("LOG:  terminating any other active server processes");
    let others = server.children.len();
    parent!(
        "kill(pid, SIGQUIT) to the {others} others; SIGKILL for whoever is left after {} s",
        GRACE.as_secs()
    );
    let mut ended = terminate_children(&mut server.children, GRACE)?;
    ended.sort_by_key(|(role, _, _)| *role);
    let mut backends: Vec<(usize, Exit)> = Vec::new();
    for (role, pid, exit) in &ended {
        match role {
            Role::Backend(n) => backends.push((*n, *exit)),
            _ => parent!("{role} (child pid {pid}) {exit}"),
        }
    }
    // Backends were working, waiting for the dead one's page lock, or idle: all alike now.
    let numbers: Vec<String> = backends.iter().map(|(n, _)| n.to_string()).collect();
    let how = match role {
        Role::Backend(n) => format!("working, idle, or stuck on backend {n}'s page lock"),
        _ => "working or idle".into(),
    };
    match backends.first() {
        Some(&(_, exit)) if backends.iter().all(|(_, e)| *e == exit) => parent!(
            "{} {} ({how}): {}{exit}",
            if backends.len() == 1 {
                "backend"
            } else {
                "backends"
            },
            numbers.join(", "),
            if backends.len() == 1 { "" } else { "each " },
        ),
        _ => {
            for (n, exit) in &backends {
                parent!("backend {n} {exit}");
            }
        }
    }
    let killed = ended
        .iter()
        .filter(|(_, _, exit)| *exit == Exit::Signal(Signal::SIGKILL))
        .count();
    parent!("needed SIGKILL: {killed} (each left at its SIGQUIT, through quickdie: _exit(2))");
    Ok(())
}
// ANCHOR_END: crash

// ANCHOR: shutdown
/// A fast shutdown: SIGTERM to the backends; the writers' and the checkpointer's pipes.
pub fn shut_down(mut server: Server, lock: &mut LockFile) -> Result<()> {
    step("Shut down (fast): the backends, the writers, the shutdown checkpoint");
    lock.update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    let wait_for = |server: &mut Server, which: fn(Role) -> bool| -> Result<()> {
        let mut i = 0;
        while i < server.children.len() {
            if !which(server.children[i].0) {
                i += 1;
                continue;
            }
            let (role, child) = server.children.remove(i);
            let pid = child.pid();
            let exit = child.wait()?;
            parent!("{role} (child pid {pid}) {exit}");
            if is_crash(role, exit) {
                return Err(Error::Failed(format!(
                    "abnormal database system shutdown: {}",
                    log_child_exit(role, pid.as_raw(), exit)
                )));
            }
        }
        Ok(())
    };
    for (role, child) in &server.children {
        if matches!(role, Role::Backend(_)) {
            kill(child.pid(), Signal::SIGTERM).map_err(Error::sys("kill"))?;
        }
    }
    parent!("SIGTERM to every backend: terminating connection due to administrator command");
    wait_for(&mut server, |role| matches!(role, Role::Backend(_)))?;
    let ask = |fd: &OwnedFd| write(fd, &[SHUTDOWN]).map_err(Error::sys("write"));
    ask(&server.walwriter)?;
    ask(&server.bgwriter)?;
    wait_for(&mut server, |role| {
        matches!(role, Role::WalWriter | Role::BgWriter)
    })?;
    // PostgreSQL 15 sends the checkpointer SIGUSR2; it logs "shutting down" (`ShutdownXLOG`).
    parent!(
        "shutdown request to the checkpointer: the shutdown checkpoint (PostgreSQL's \
         checkpointer logs \"shutting down\")"
    );
    ask(&server.checkpointer)?;
    wait_for(&mut server, |role| role == Role::Checkpointer)?;
    parent!("LOG:  database system is shut down");
    Ok(())
}
// ANCHOR_END: shutdown
