//! Keys of our own, for tests that make segments at keys derived from directories.

/// For a test that puts segments at keys made from temporary directories' inode numbers:
/// two directories made one after the other have neighbouring inodes, so beside another
/// run of the same tests (another clone, say) the two would meet at each other's keys. The
/// calling thread, and the processes it starts, move to a System V IPC namespace of their
/// own, where no other segment exists (`unshare(CLONE_NEWIPC)`: root only). Where that is
/// not allowed, the tests named `turn` take turns machine-wide, through an exclusive
/// `flock` on a file in the temporary directory, held until the returned file is dropped.
pub fn keys_of_our_own(turn: &str) -> Option<std::fs::File> {
    use std::os::fd::AsRawFd;
    if nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWIPC).is_ok() {
        return None;
    }
    let path = std::env::temp_dir().join(format!("{turn}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()));
    // SAFETY: flock on a descriptor we own; it blocks until the lock is ours.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock {}", path.display());
    Some(file)
}
