//! Step 5: fork the children (PostgreSQL's `StartChildProcess`): the checkpointer, the
//! background writer, the WAL writer and the backends. Each inherits the region and the
//! interlock at `fork`, waits on a pipe of its own, and reports on one shared pipe when it
//! ends; the postmaster keeps out of shared memory.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use common::{OnParentDeath, Result, fork_child_with, parent};
use l14_mini_postmaster::{
    CONTROL_FILE, ControlFile, DbState, Pool, bgwriter, checkpointer, walwriter,
};
use nix::unistd::{Pid, write};

use super::backend::{Report, backend};
use super::server::{Requests, Role, Server};
use super::shared_memory::pipe;
use super::{signals, status};
use crate::step;

// ANCHOR: fork
pub fn fork_the_children(
    server: &mut Server,
    pool: &Pool,
    dir: &Path,
    workers: usize,
    wal_records: usize,
) -> Result<()> {
    step("Fork the children (StartChildProcess); the postmaster keeps out of shmem");
    // Each background process waits on the read end of its own pipe.
    let (checkpointer_wait, checkpointer_requests) = pipe()?;
    let (bgwriter_wait, bgwriter_requests) = pipe()?;
    let (walwriter_wait, walwriter_requests) = pipe()?;
    let inherited = [
        checkpointer_requests.as_raw_fd(),
        bgwriter_requests.as_raw_fd(),
        walwriter_requests.as_raw_fd(),
    ];
    ControlFile {
        state: DbState::InProduction,
        ..ControlFile::read(dir)?
    }
    .write(dir)?;
    let report_pipe = server.report_write.as_ref().expect("open until all forked");
    let mut roles = vec![Role::Checkpointer, Role::BgWriter, Role::WalWriter];
    roles.extend((1..=workers).map(Role::Backend));
    let signals = &server.signals;
    for role in roles {
        let child = fork_child_with(OnParentDeath::ExitAtSafePoints, || {
            signals::child_init(signals, role);
            let outcome = match role {
                Role::Checkpointer => {
                    close_inherited(&inherited);
                    checkpointer(pool, dir, &checkpointer_wait).map(Report::of_writer)
                }
                Role::BgWriter => {
                    close_inherited(&inherited);
                    bgwriter(pool, dir, &bgwriter_wait).map(Report::of_writer)
                }
                Role::WalWriter => {
                    close_inherited(&inherited);
                    walwriter(pool, dir, &walwriter_wait).map(Report::of_writer)
                }
                // A backend keeps the checkpointer's request pipe, to ask for checkpoints.
                Role::Backend(n) => {
                    close_inherited(&inherited[1..]);
                    backend(pool, dir, n, wal_records, &checkpointer_requests)
                }
            };
            let report = outcome.unwrap_or_else(|err| Report {
                updates: 0,
                text: format!("failed: {err}"),
                status: 1,
            });
            let line = format!(
                "{}\t{}\t{role} (child pid {}): {}\n",
                role.process_name(),
                report.updates,
                std::process::id(),
                report.text
            );
            // One write of less than PIPE_BUF bytes: never interleaved with another's.
            if write(report_pipe, line.as_bytes()).is_err() {
                return 2;
            }
            report.status
        })?;
        server.children.push((role, child));
    }
    server.report_write = None; // only the children write reports now
    server.requests = Requests {
        checkpointer: checkpointer_requests,
        bgwriter: bgwriter_requests,
        walwriter: walwriter_requests,
    };
    parent!("{CONTROL_FILE}: in production");
    parent!("the process tree, each child under the name it gives itself, as ps -o pid,ppid,comm");
    parent!("shows it (bgwriter is the background writer):");
    let children: Vec<(Pid, String)> = server
        .children
        .iter()
        .map(|(role, child)| (child.pid(), role.process_name()))
        .collect();
    for line in status::tree(Pid::this(), &children) {
        parent!("{line}");
    }
    Ok(())
}

/// Closes this child's copies of the postmaster's ends of the request pipes: a background
/// process must see end-of-file when the postmaster dies.
fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: in this child the descriptor belongs to our copy of an OwnedFd that is
        // never dropped here (children leave with _exit): it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
// ANCHOR_END: fork
