//! The namespaces the trials run in, so that the leftovers they count are only theirs and
//! nobody else's objects are seen or removed.

use std::process::Command;

/// A System V IPC namespace and a mount namespace of our own, with a fresh tmpfs on
/// /dev/shm. As root directly; otherwise inside a user namespace where we are root.
pub(crate) fn enter_namespaces() -> Result<(), String> {
    use nix::sched::{CloneFlags, unshare};
    // SAFETY: getuid and getgid cannot fail and touch no memory.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    let flags = CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWNS;
    if unshare(flags).is_err() {
        unshare(flags | CloneFlags::CLONE_NEWUSER).map_err(|errno| {
            format!("cannot make an IPC namespace (unshare: {errno}): run as root")
        })?;
        let write = |file: &str, text: String| std::fs::write(format!("/proc/self/{file}"), text);
        write("setgroups", "deny".into())
            .and_then(|_| write("uid_map", format!("0 {uid} 1")))
            .and_then(|_| write("gid_map", format!("0 {gid} 1")))
            .map_err(|err| format!("user namespace maps: {err}"))?;
    }
    let status = Command::new("mount")
        .args(["--make-rprivate", "/"])
        .status()
        .and_then(|_| {
            Command::new("mount")
                .args(["-t", "tmpfs", "kill-trials", "/dev/shm"])
                .status()
        });
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => Err("cannot mount a tmpfs of our own on /dev/shm".into()),
    }
}
