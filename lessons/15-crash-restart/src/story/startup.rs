//! The startup process, as the postmaster runs it: forked alone into new shared memory,
//! before any other child, and waited for (PostgreSQL's `StartupDataBase`, then the
//! postmaster's reaper seeing it exit 0). What it does is in the library's `recovery`.
//! Then the check, from the files only.

use std::path::Path;

use common::{Error, OnParentDeath, Result, Signals, child, fork_child_with, parent};
use l14_mini_postmaster::{ControlFile, DbState};
use l15_crash_restart::{Role, is_crash, log_child_exit, startup_process};
use nix::unistd::getpid;

use super::children::child_init;
use super::shmem::SharedMemory;

// ANCHOR: startup
/// Forks the startup process, alone in the new shared memory, and waits for it. Returns
/// whether it recovered (the control file did not say "shut down").
pub fn run_the_startup_process(
    shmem: &SharedMemory,
    dir: &Path,
    signals: &Signals,
) -> Result<bool> {
    let crashed = ControlFile::read(dir)?.state != DbState::ShutDown;
    let pool = shmem.pool()?;
    let startup = fork_child_with(OnParentDeath::ExitAtSafePoints, || {
        if child_init(signals, Role::Startup).is_err() {
            return 1;
        }
        child!("the startup process, child pid {}", getpid());
        match startup_process(&pool, dir) {
            Ok(()) => 0,
            Err(err) => {
                child!("FATAL:  {err}");
                1
            }
        }
    })?;
    let pid = startup.pid();
    let exit = startup.wait()?;
    parent!("startup process (child pid {pid}) {exit}");
    if is_crash(Role::Startup, exit) {
        return Err(Error::Failed(format!(
            "aborting startup due to startup process failure ({})",
            log_child_exit(Role::Startup, pid.as_raw(), exit)
        )));
    }
    Ok(crashed)
}
// ANCHOR_END: startup
