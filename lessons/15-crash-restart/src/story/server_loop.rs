//! The postmaster between forks (`ServerLoop`): it sleeps in `poll` until a child ends or
//! reports, and hands an unplanned exit to the crash response (crash_response.rs). It learns
//! everything from `waitpid`, its signalfd and its pipes; never from shared memory.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;

use common::{Error, Exit, Result, Signals, parent};
use l15_crash_restart::{Role, is_crash};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::children::Server;

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
                let (name, text) = line.split_once('\t').unwrap_or_default();
                let role = Role::from_process_name(name);
                if matches!(role, Some(Role::Backend(_))) && text.starts_with("done:") {
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
