//! The crash response (PostgreSQL's `HandleChildCrash`): a child ended in a way nobody
//! planned, so shared memory can no longer be trusted. The postmaster logs the exit, asks
//! every other child to quit at once (SIGQUIT), and kills whoever is still there after a
//! grace period. Then nobody is attached, and shared memory can go.

use std::time::Duration;

use common::{Exit, Result, parent};
use l15_crash_restart::{Role, log_child_exit, terminate_children};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::children::Server;
use crate::step;

/// PostgreSQL's `SIGKILL_CHILDREN_AFTER_SECS`.
const GRACE: Duration = Duration::from_secs(5);

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
