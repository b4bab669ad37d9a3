//! The postmaster's server loop: it sleeps in `poll` on the signalfd, reaps children on
//! SIGCHLD and takes shutdown requests on SIGTERM and SIGINT. It never touches shared
//! memory: a child that died halfway through a change cannot take the postmaster with it.

use common::{Error, Exit, Result, parent};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::server::{Role, Server, Shutdown};

// ANCHOR: reap
/// `ServerLoop`: sleeps in `poll` on the signalfd (`Signals::wait`) and handles one signal
/// at a time until `done`.
/// SIGCHLD: reap. SIGTERM, SIGINT: a shutdown request. A child that ends while `expected`
/// does not accept its role stops the server (lesson 15 restarts instead).
pub fn server_loop(
    server: &mut Server,
    expected: impl Fn(Role) -> bool,
    done: impl Fn(&Server) -> bool,
) -> Result<Vec<(Role, Pid, Exit)>> {
    let mut reaped = Vec::new();
    while !done(server) {
        let Some(signal) = server.signals.wait(None)? else {
            continue; // no deadline: only a signal ends the wait
        };
        match signal {
            Signal::SIGCHLD => {
                for (role, pid, exit) in reaper(server)? {
                    if !expected(role) {
                        return Err(Error::Failed(format!(
                            "{role} (child pid {pid}) {exit}: stopping the server"
                        )));
                    }
                    reaped.push((role, pid, exit));
                }
            }
            Signal::SIGTERM => shutdown_request(server, Shutdown::Smart)?,
            Signal::SIGINT => shutdown_request(server, Shutdown::Fast)?,
            // The terminal is gone. PostgreSQL's postmaster rereads its configuration on
            // SIGHUP (it runs detached from any terminal); ours has none, and it stops.
            Signal::SIGHUP => shutdown_request(server, Shutdown::Fast)?,
            _ => {}
        }
    }
    reaped.sort_by_key(|(role, _, _)| *role);
    Ok(reaped)
}

/// `reaper`: one SIGCHLD may stand for several exits (pending signals do not queue up), so
/// it reaps with `waitpid(-1, WNOHANG)` until no ended child is left.
fn reaper(server: &mut Server) -> Result<Vec<(Role, Pid, Exit)>> {
    let mut reaped = Vec::new();
    loop {
        let (pid, exit) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(reaped),
            Ok(_) => continue,
            Err(errno) => return Err(Error::sys("waitpid")(errno)),
        };
        let Some(at) = server.children.iter().position(|(_, c)| c.pid() == pid) else {
            continue;
        };
        let (role, child) = server.children.remove(at);
        std::mem::forget(child); // reaped already: its Drop must not kill or wait again
        reaped.push((role, pid, exit));
    }
}

/// `pmdie`: SIGTERM asks for a smart shutdown (the backends finish their work), SIGINT for a
/// fast one (the backends are told to stop now, with SIGTERM). The first request is logged;
/// a fast one after a smart one upgrades it.
fn shutdown_request(server: &mut Server, mode: Shutdown) -> Result<()> {
    if server.shutdown >= Some(mode) {
        return Ok(());
    }
    server.shutdown = Some(mode);
    match mode {
        Shutdown::Smart => parent!("received smart shutdown request"),
        Shutdown::Fast => {
            parent!("received fast shutdown request");
            let backends: Vec<Pid> = server
                .children
                .iter()
                .filter(|(role, _)| matches!(role, Role::Backend(_)))
                .map(|(_, child)| child.pid())
                .collect();
            if !backends.is_empty() {
                parent!("aborting any active transactions: SIGTERM to every backend");
            }
            for pid in backends {
                kill(pid, Signal::SIGTERM).map_err(Error::sys("kill"))?;
            }
        }
    }
    Ok(())
}
// ANCHOR_END: reap

pub fn report_exits(reaped: &[(Role, Pid, Exit)], fast: bool) -> Result<()> {
    for (role, pid, exit) in reaped {
        parent!("{role} (child pid {pid}) {exit}");
    }
    // Status 1 is a backend's FATAL: expected when a fast shutdown told it to stop.
    let fine = |role: &Role, exit: &Exit| {
        *exit == Exit::Code(0)
            || (fast && matches!(role, Role::Backend(_)) && *exit == Exit::Code(1))
    };
    match reaped.iter().find(|(role, _, exit)| !fine(role, exit)) {
        Some((role, pid, exit)) => Err(Error::Failed(format!(
            "{role} (child pid {pid}) {exit}: stopping the server"
        ))),
        None => Ok(()),
    }
}
