//! Scene 2: the postmaster itself is killed. The lesson forks a postmaster, kills it with
//! SIGKILL while its children work, and reaps the orphans, which it receives as a child
//! subreaper. They notice the death by the signal each asked for (`PR_SET_PDEATHSIG`, see
//! `common::parent_death`) or by the end-of-file of pipes whose write ends only the
//! postmaster held, where they wait, and leave; its lock file and its interlock segment stay
//! behind, for the next start to find stale.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;

use common::on_signal::Remove;
use common::{Error, Exit, OnParentDeath, Result, fork_child_with, parent};
use l05_sysv_segments::segment_stat;
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{owner_alive, read_lock_file};
use l14_mini_postmaster::{CONTROL_FILE, ControlFile};
use l15_crash_restart::Role;
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, write};

use super::children::{Server, close_inherited, pipe};
use super::shmem::yes;
use crate::{NEXT_STEP, Options, Start, postmaster, step};

// ANCHOR: ready
/// Scene 2's postmaster tells the lesson its children's roles and PIDs, then "ready".
pub fn tell_ready(pipe: OwnedFd, server: &Server) -> Result<()> {
    let mut text = String::new();
    for (role, child) in &server.children {
        text += &format!("{} {}\n", role.process_name(), child.pid());
    }
    text += &format!("ready {}\n", NEXT_STEP.load(Ordering::Relaxed));
    write(&pipe, text.as_bytes()).map_err(Error::sys("write"))?;
    Ok(())
}
// ANCHOR_END: ready

// ANCHOR: postmaster_killed
/// Scene 2: a postmaster in a child of ours, killed with SIGKILL while its children work;
/// its orphans come to us (a child subreaper) and leave; then a new start in its directory.
pub fn postmaster_killed(dir: &Path, options: &Options) -> Result<()> {
    // Orphans are given to the nearest subreaper ancestor instead of init: to us.
    nix::sys::prctl::set_child_subreaper(true).map_err(Error::sys("prctl"))?;
    let (ready_read, ready_write) = pipe()?;
    let (read_end, write_end) = (ready_read.as_raw_fd(), ready_write.as_raw_fd());
    // If the lesson itself is stopped (Ctrl-C, kill), this postmaster is sent SIGINT: a fast
    // shutdown, which removes what it made, as any postmaster of ours does on Ctrl-C.
    let postmaster_child = fork_child_with(OnParentDeath::Send(Signal::SIGINT), || {
        close_inherited(&[read_end]);
        // SAFETY: this child's copy of `ready_write` is never dropped (children leave with
        // _exit): the descriptor gets one owner here, which closes it once.
        let ready = unsafe { OwnedFd::from_raw_fd(write_end) };
        match postmaster(dir, options, Start::Fresh, None, false, Some(ready)) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("error: {err}");
                1
            }
        }
    })?;
    drop(ready_write);
    let children = read_ready(ready_read)?;
    // What the kill will leave behind, for the next start to find. Should we be stopped by
    // a signal before that start, our handler removes it (`common::on_signal`).
    let text = read_lock_file(dir)?.unwrap_or_default();
    let pid_file = l07_postgres_hybrid::PidFile::parse(&text)
        .ok_or_else(|| Error::Failed("postmaster.pid is gone or garbled".into()))?;
    let (key, shmid) = pid_file
        .shmem
        .ok_or_else(|| Error::Failed("postmaster.pid has no line 7".into()))?;
    let _removed_on_a_signal = (
        Remove::segment(shmid)?,
        Remove::file(&dir.join(l07_postgres_hybrid::LOCK_FILE))?,
    );
    step("kill -9 the postmaster while its children work");
    let pid = postmaster_child.pid();
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!(
        "kill(PID {pid}, SIGKILL): the postmaster; waitpid: {}",
        postmaster_child.wait()?
    );
    parent!("its children are orphans now, given to us (PR_SET_CHILD_SUBREAPER); they:");
    let orphans = reap_orphans(&children)?;
    for (role, pid, exit) in orphans {
        parent!("  {role} (child pid {pid}) {exit}");
    }
    parent!("(each at a safe point: the death signal, SIGPWR, woke the background processes");
    parent!(" in their waits at once; a backend went on committing and noticed it when it next");
    parent!(" waited: for a checkpoint, or idle)");
    parent!(
        "left behind: postmaster.pid (PID {}: running: {}), {CONTROL_FILE}: {}",
        pid_file.pid,
        yes(owner_alive(pid_file.pid)),
        ControlFile::read(dir)?.state.name()
    );
    parent!(
        "left behind: the interlock, key {} shmid {shmid}, shm_nattch = {}",
        key_hex(key),
        segment_stat(shmid)?.nattch
    );
    nix::sys::prctl::set_child_subreaper(false).map_err(Error::sys("prctl"))?;
    postmaster(dir, options, Start::AsItIs, None, false, None)
}

/// Reads the children's roles and PIDs until "ready" (or EOF: the postmaster failed).
fn read_ready(pipe: OwnedFd) -> Result<Vec<(Role, Pid)>> {
    let mut children = Vec::new();
    for line in BufReader::new(File::from(pipe)).lines() {
        let line = line?;
        if let Some(next_step) = line.strip_prefix("ready ") {
            let next_step = next_step.parse().unwrap_or(1);
            NEXT_STEP.store(next_step, Ordering::Relaxed);
            return Ok(children);
        }
        let (role, pid) = line.rsplit_once(' ').unwrap_or_default();
        let role = Role::from_process_name(role)
            .ok_or_else(|| Error::Failed(format!("bad line {line:?}")))?;
        let pid = pid
            .parse()
            .map_err(|_| Error::Failed(format!("bad line {line:?}")))?;
        children.push((role, Pid::from_raw(pid)));
    }
    Err(Error::Failed(
        "the postmaster failed before it was ready".into(),
    ))
}

/// `waitpid(-1)` until there is no child left: each orphan, as it exits.
fn reap_orphans(children: &[(Role, Pid)]) -> Result<Vec<(Role, Pid, Exit)>> {
    use nix::sys::wait::{WaitStatus, waitpid};
    let mut ended = Vec::new();
    loop {
        let (pid, exit) = match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => break,
            Err(errno) => return Err(Error::sys("waitpid")(errno)),
        };
        if let Some((role, _)) = children.iter().find(|(_, p)| *p == pid) {
            ended.push((*role, pid, exit));
        }
    }
    ended.sort_by_key(|(role, _, _)| *role);
    Ok(ended)
}
// ANCHOR_END: postmaster_killed
