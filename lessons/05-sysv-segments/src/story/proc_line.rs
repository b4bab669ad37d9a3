//! Step 4: the same segment in `/proc/sysvipc/shm`, the table `ipcs -m` reads.
//!
//! Every column is printed; the values that differ from machine to machine (user and
//! group ids, times) are checked against this process and shown in words, so the output
//! stays the same everywhere and still says what each number is.

use common::{Error, Result, parent, section};
use l05_sysv_segments::{Segment, proc_entry};
use nix::unistd::{getegid, geteuid};

// ANCHOR: proc
pub fn show_proc_line(segment: &Segment) -> Result<()> {
    section("4. The same segment in /proc/sysvipc/shm (what `ipcs -m` reads)");
    let line = proc_entry(segment.id())?
        .ok_or_else(|| Error::Failed("our segment is missing from /proc/sysvipc/shm".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // The times are in seconds since 1970; any within the last minute are this run's.
    let moments_ago = |seconds: i64| (0..60).contains(&(now - seconds));
    // The kernel gives a segment its creator's effective user and group.
    let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
    for (name, value) in line.fields() {
        let number = value.parse::<i64>().unwrap_or(-1);
        // Values that differ from machine to machine are checked, then shown in words.
        let shown = match name.as_str() {
            "key" => format!("{value}  IPC_PRIVATE"),
            "perms" => format!("{value}  octal, like a file's mode: rw for the owner only"),
            "size" => format!("{value}  shm_segsz: the bytes asked for, not rounded"),
            "cpid" => format!("parent pid {value}: created it"),
            "lpid" => format!("child pid {value}: attached or detached last (its shmdt)"),
            "uid" if number == i64::from(uid) => "yours: the owner".into(),
            "cuid" if number == i64::from(uid) => "yours: the creator".into(),
            "gid" | "cgid" if number == i64::from(gid) => "your group".into(),
            "atime" if moments_ago(number) => "moments ago: the last shmat".into(),
            "dtime" if moments_ago(number) => "moments ago: the last shmdt".into(),
            "ctime" if moments_ago(number) => "moments ago: the last change (creation)".into(),
            "rss" => format!("{value}  bytes in memory: the one page written so far"),
            "swap" => format!("{value}  bytes in swap"),
            _ => value.clone(),
        };
        parent!("  {name:<6} {shown}");
    }
    Ok(())
}
// ANCHOR_END: proc
