//! The fast shutdown at the end of a run, in PostgreSQL's order: the backends are told to
//! stop (SIGTERM), then the WAL writer and the background writer, and only then does the
//! checkpointer write the shutdown checkpoint, when nobody inserts WAL any more.

use std::os::fd::OwnedFd;

use common::{Error, Result, parent};
use l07_postgres_hybrid::{LockFile, STATUS_STOPPING};
use l14_mini_postmaster::SHUTDOWN;
use l15_crash_restart::{Role, is_crash, log_child_exit};
use nix::sys::signal::{Signal, kill};
use nix::unistd::write;

use super::children::Server;
use crate::step;

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
