//! Without a command: the conversation the chapter opens with, played by the program itself.
//!
//! Each command is a run of this program in a process of its own, as if typed in separate
//! terminals: only the key connects them. Stopping halfway (an error, Ctrl-C, a reader gone
//! from a pipe) must not leave the segment behind, and a command still running must not
//! outlive us, so the commands run under a signalfd and a guard removes what they left.

use std::io::Write;
use std::path::Path;

use common::{Error, Result, Signals};
use nix::sys::signal::SigmaskHow;
use nix::sys::signal::Signal::{SIGCHLD, SIGHUP, SIGINT, SIGTERM};
use nix::unistd::Pid;

use crate::KeyFrom;

// ANCHOR: conversation
/// Without a command: the four commands in turn, each a run of this program in a process of
/// its own (as from separate terminals), around a directory of the lesson's own. Only the key
/// connects them.
pub fn conversation(key_from: KeyFrom) -> Result<()> {
    // Ctrl-C and kill wait for us in a signalfd, with the end of each command (SIGCHLD).
    let signals = Signals::block(&[SIGCHLD, SIGINT, SIGTERM, SIGHUP])?;
    let dir = std::env::temp_dir().join("l06-keys-and-strangers");
    std::fs::create_dir_all(&dir)?;
    let me = std::env::current_exe()?;
    let key_from = match key_from {
        KeyFrom::Inode => "inode",
        KeyFrom::Ftok => "ftok",
    };
    let mut leftovers = Leftovers {
        me: &me,
        dir: &dir,
        key_from,
        segment: true,
    };
    for command in ["create", "attach", "inspect", "remove"] {
        println!("$ l06-keys-and-strangers {command} {}", dir.display());
        std::io::stdout().flush()?; // before the next process writes to the same stdout
        let mut run = std::process::Command::new(&me);
        run.args([command, "--key-from", key_from]).arg(&dir);
        let status = run_until_stopped(run, &signals)?;
        if !status.success() {
            return Err(Error::Failed(format!("`{command}` failed ({status})")));
        }
        println!();
    }
    leftovers.segment = false; // `remove` has removed it
    Ok(())
}

/// What the conversation leaves if it stops halfway (an error, a signal, a reader gone from
/// a pipe): the segment `create` left, which `remove` removes (it never touches a
/// stranger's), and the directory. Removed when dropped.
struct Leftovers<'a> {
    me: &'a Path,
    dir: &'a Path,
    /// `--key-from`'s value.
    key_from: &'a str,
    /// Whether the segment may still be there.
    segment: bool,
}

impl Drop for Leftovers<'_> {
    fn drop(&mut self) {
        if self.segment {
            let _ = std::process::Command::new(self.me)
                .args(["remove", "--key-from", self.key_from])
                .arg(self.dir)
                .output();
        }
        let _ = std::fs::remove_dir(self.dir);
    }
}

/// Runs `command` to its end, unless SIGINT, SIGTERM or SIGHUP comes first: then the
/// command is stopped (SIGTERM) and waited for, and the signal is the error. The command
/// gets the signal mask we had before, and SIGTERM if we die (`PR_SET_PDEATHSIG`).
fn run_until_stopped(
    mut command: std::process::Command,
    signals: &Signals,
) -> Result<std::process::ExitStatus> {
    use std::os::unix::process::CommandExt;
    let mut unblocked = nix::sys::signal::SigSet::empty();
    for signal in [SIGCHLD, SIGINT, SIGTERM, SIGHUP] {
        unblocked.add(signal);
    }
    // SAFETY: between fork and exec the closure makes only async-signal-safe calls
    // (sigprocmask, prctl) and allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&unblocked), None)?;
            nix::sys::prctl::set_pdeathsig(SIGTERM)?;
            Ok(())
        })
    };
    let mut child = command.spawn()?;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        match signals.wait(None)? {
            Some(SIGCHLD) | None => continue,
            Some(signal) => {
                let _ = nix::sys::signal::kill(Pid::from_raw(child.id() as i32), SIGTERM);
                let _ = child.wait();
                return Err(Error::Failed(format!(
                    "interrupted by {}: stopped, and cleaned up",
                    signal.as_str()
                )));
            }
        }
    }
}
// ANCHOR_END: conversation
