//! Cleaning up after a lesson that makes System V semaphore sets (lessons 10 and 12).
//!
//! A lesson removes its set itself, on every path it can; a test checks that it did, and
//! removes what a failed run left, so that a failure leaves nothing behind either.

/// Removes every semaphore set that a lesson's output names as `semid N` and that still
/// exists; returns their ids, for the test to fail on.
pub fn sweep_printed_sets(output: &str) -> Vec<i32> {
    let sets = semaphore_sets();
    let printed = output.split("semid ").skip(1).filter_map(|rest| {
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    let mut left: Vec<i32> = printed.filter(|semid| sets.contains(semid)).collect();
    left.dedup();
    for &semid in &left {
        // SAFETY: IPC_RMID takes no argument beyond the id; a set already gone gives EINVAL.
        unsafe { libc::semctl(semid, 0, libc::IPC_RMID) };
    }
    left
}

/// The ids of the semaphore sets that exist now, as `/proc/sysvipc/sem` lists them.
fn semaphore_sets() -> Vec<i32> {
    let text = std::fs::read_to_string("/proc/sysvipc/sem").unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1)?.parse().ok())
        .collect()
}
