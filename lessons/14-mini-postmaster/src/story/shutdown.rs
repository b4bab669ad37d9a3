//! The run and the shutdown: the backends work while the postmaster sleeps in its server
//! loop and reaps them; with `--hold`, the server stays up until told to stop; then the
//! shutdown, in PostgreSQL's order: the writers stop, and only then does the checkpointer
//! write the shutdown checkpoint.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;

use common::{Error, Result, parent};
use l05_sysv_segments::segment_stat;
use l07_postgres_hybrid::STATUS_STOPPING;
use l14_mini_postmaster::SHUTDOWN;
use nix::unistd::write;

use super::server::{Role, Server, Shutdown};
use super::server_loop::{report_exits, server_loop};
use crate::step;

// ANCHOR: run
pub fn run_and_reap(server: &mut Server, workers: usize) -> Result<()> {
    step("The backends work; the postmaster sleeps in its server loop (ServerLoop, reaper)");
    let reaped = server_loop(
        server,
        |role| matches!(role, Role::Backend(_)),
        |server| {
            !server
                .children
                .iter()
                .any(|(role, _)| matches!(role, Role::Backend(_)))
        },
    )?;
    parent!(
        "SIGCHLD, waitpid(-1, WNOHANG) until none is left: reaped {workers} backends (listed \
         by number, not by when they ended):"
    );
    report_exits(&reaped, server.shutdown == Some(Shutdown::Fast))
}

/// `--hold`: the backends are gone; the server stays up until SIGTERM or SIGINT.
pub fn hold_until_told(server: &mut Server, dir: &Path) -> Result<()> {
    step("Hold: the server stays up until SIGTERM (smart) or SIGINT (fast, Ctrl-C)");
    parent!(
        "holding: postmaster parent pid {} and its checkpointer, bgwriter and walwriter are \
         up; run `cargo run -p l14-mini-postmaster -- status {}`; stop with SIGTERM or Ctrl-C",
        std::process::id(),
        dir.display()
    );
    std::io::stdout().flush()?;
    server_loop(server, |_| false, |server| server.shutdown.is_some())?;
    Ok(())
}

pub fn shut_down(server: &mut Server) -> Result<()> {
    step("Shut down: backends are gone; the writers stop, the checkpointer checkpoints");
    if server.shutdown.is_none() {
        parent!("the workload is done: the same steps as a smart shutdown");
    }
    server
        .lock
        .as_mut()
        .expect("alive")
        .update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    parent!("postmaster.pid line 8: {STATUS_STOPPING:?}");
    let shmid = server.interlock.as_ref().expect("alive").segment.id();
    parent!(
        "shm_nattch = {}: the postmaster and the three background processes",
        segment_stat(shmid)?.nattch
    );
    let ask = |fd: &OwnedFd| write(fd, &[SHUTDOWN]).map_err(Error::sys("write"));
    ask(&server.requests.walwriter)?;
    ask(&server.requests.bgwriter)?;
    let writers = |role: Role| matches!(role, Role::WalWriter | Role::BgWriter);
    let reaped = server_loop(server, writers, |server| {
        !server.children.iter().any(|(role, _)| writers(*role))
    })?;
    report_exits(&reaped, false)?;
    ask(&server.requests.checkpointer)?; // PostgreSQL ≤ 17 sends it SIGUSR2
    let reaped = server_loop(
        server,
        |role| role == Role::Checkpointer,
        |server| server.children.is_empty(),
    )?;
    report_exits(&reaped, false)
}
// ANCHOR_END: run
