//! The processes a run starts, and those they leave: started, waited for with a time limit,
//! reaped (orphans come to us, the child subreaper), and found alive through /proc.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

pub(crate) fn spawn(mut command: Command) -> Result<Pid, String> {
    let child = command.spawn().map_err(|err| format!("spawn: {err}"))?;
    Ok(Pid::from_raw(child.id() as i32)) // reaped by waitpid below, not by std
}

pub(crate) fn wait_for(pid: Pid, limit: Duration) -> Result<WaitStatus, String> {
    let start = Instant::now();
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) if start.elapsed() < limit => {
                std::thread::sleep(Duration::from_millis(1))
            }
            Ok(WaitStatus::StillAlive) => {
                let _ = killpg(pid, Signal::SIGKILL);
                return Err(format!("still running after {limit:?}: killed"));
            }
            Ok(status @ (WaitStatus::Exited(..) | WaitStatus::Signaled(..))) => return Ok(status),
            Ok(_) => continue,
            Err(errno) => return Err(format!("waitpid: {errno}")),
        }
    }
}

/// Reaps whatever of ours has ended: children, and orphans re-parented to us.
pub(crate) fn reap_orphans() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// Waits until no descendant of ours is alive (zombies do not count), up to `limit`; then
/// names those left and kills them.
pub(crate) fn orphans_gone(limit: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        reap_orphans();
        let alive = descendants();
        if alive.is_empty() {
            reap_orphans(); // those that became zombies since the last reaping
            return Ok(());
        }
        if start.elapsed() > limit {
            // Where each sleeps, before they are killed: the kernel function (wchan).
            let names: Vec<String> = alive
                .iter()
                .map(|(pid, name)| {
                    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan"));
                    format!("{name} ({pid}, in {})", wchan.unwrap_or_default())
                })
                .collect();
            for (pid, _) in &alive {
                let _ = kill(*pid, Signal::SIGKILL);
            }
            return Err(format!("still alive after {limit:?}: {}", names.join(", ")));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Our living descendants (not zombies), from /proc: pid and command name.
fn descendants() -> Vec<(Pid, String)> {
    let mut family = BTreeSet::from([std::process::id() as i32]);
    let mut processes = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after its last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head
            .split_once('(')
            .map_or("", |(_, name)| name)
            .to_string();
        let mut fields = tail.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid: i32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        processes.push((pid, ppid, state == "Z", name));
    }
    // Parents may come after their children in /proc's order: repeat until nothing is added.
    let mut found = Vec::new();
    loop {
        let before = family.len();
        for (pid, ppid, zombie, name) in &processes {
            if family.contains(ppid) && family.insert(*pid) && !zombie {
                found.push((Pid::from_raw(*pid), name.clone()));
            }
        }
        if family.len() == before {
            return found;
        }
    }
}
