//! Lesson 05: one System V segment, from `shmget` to the moment it is gone.
//!
//! The story: create a private segment of an odd size and attach it; count its attachments
//! (`shm_nattch`) as a child inherits one through `fork` and gives it up; read the kernel's
//! own line for it in `/proc/sysvipc/shm`; mark it with `IPC_RMID` and see that it lives on,
//! usable and even attachable, until the last attachment goes; then the kernel's limits.
//! Every step is ordered by `waitpid`; nothing sleeps. The segment is removed on every path
//! out: `Segment`'s `Drop` does it, in this process only, if the story stops early, and
//! its signal handler on Ctrl-C; after a `kill -9`, the next run does (see `leftovers`).

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{listed_mapping, page_size};
use l05_sysv_segments::leftovers::{mark, remove_left_by_killed_runs};
use l05_sysv_segments::{
    Attachment, IPC_PRIVATE, SHM_DEST, Segment, attach, limits, proc_entry, stat,
};
use nix::errno::Errno;

const LESSON: &str = env!("CARGO_PKG_NAME");

/// Create a System V segment, share it with a child, mark it for removal, watch it go.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The segment's size in bytes (the kernel maps whole pages).
    #[arg(long, value_name = "BYTES", default_value_t = 5000, value_parser = common::positive)]
    size: u64,

    /// Stop after steps 2 and 5 until you press Enter, so that you can look at the segment
    /// from another terminal (`ipcs -m`, `/proc/sysvipc/shm`, `/proc/PID/maps`).
    #[arg(long)]
    pause: bool,
}

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    // A run killed by SIGKILL could not remove its segment: this one does, and says so.
    for removed in remove_left_by_killed_runs(LESSON)? {
        eprintln!("{LESSON}: {removed}");
    }
    let _mark = mark(LESSON)?;
    let segment = create(args.size)?;
    let attachment = attach_and_look(&segment)?;
    pause(args.pause, segment.id())?;
    inherit_through_fork(&segment, &attachment)?;
    show_proc_line(&segment)?;
    let shmid = segment.id();
    mark_for_destruction(segment, &attachment)?;
    pause(args.pause, shmid)?;
    attach_while_marked(shmid)?;
    last_detach(shmid, attachment)?;
    show_limits()
}

// ANCHOR: create
fn create(size: u64) -> Result<Segment> {
    let len = usize::try_from(size)
        .map_err(|_| Error::Usage(format!("--size {size} does not fit in a size_t here")))?;
    let segment = Segment::create(IPC_PRIVATE, len, 0o600).map_err(|err| explain(err, size))?;
    section(&format!(
        "1. Create: shmget(IPC_PRIVATE, {size}, IPC_CREAT | IPC_EXCL | 0600)"
    ));
    let info = stat(segment.id())?;
    parent!(
        "shmid {}: a new segment; key IPC_PRIVATE, so no other process can find it by key",
        segment.id()
    );
    parent!(
        "IPC_STAT: shm_segsz {}, perms {:o}, shm_nattch {}, shm_cpid = parent pid {} (us)",
        info.size,
        info.permissions(),
        info.nattch,
        info.creator_pid
    );
    Ok(segment)
}

/// Turns shmget's errno into a sentence that says what to do.
fn explain(err: Error, size: u64) -> Error {
    let Error::Sys { errno, .. } = err else {
        return err;
    };
    match errno {
        Errno::EINVAL => match limits() {
            Ok(limits) if size > limits.shmmax => Error::Usage(format!(
                "--size {size} is more than this kernel allows for one segment \
                 (shmmax {} bytes, /proc/sys/kernel/shmmax): ask for less",
                limits.shmmax
            )),
            _ => err,
        },
        Errno::ENOMEM => Error::Usage(format!(
            "--size {size}: the kernel will not reserve that much memory \
             (shmget: ENOMEM, more than memory and swap allow): ask for less"
        )),
        Errno::ENOSPC => Error::Failed(
            "shmget: ENOSPC: the system-wide limits on System V shared memory are used up \
             (shmmni segments, or shmall pages in all); not a full disk: look for leftover \
             segments with `ipcs -m`"
                .into(),
        ),
        _ => err,
    }
}
// ANCHOR_END: create

// ANCHOR: attach
fn attach_and_look(segment: &Segment) -> Result<Attachment> {
    section("2. Attach: shmat(shmid, NULL, 0)");
    let attachment = attach(segment.id())?;
    let addr = attachment.as_ptr();
    parent!(
        "attached at {:#x}; shm_nattch {}",
        addr as usize,
        stat(segment.id())?.nattch
    );
    let entry = listed_mapping(addr)?;
    parent!("/proc/self/maps: {entry}");
    let pages = entry.size() / page_size();
    parent!(
        "{} bytes mapped: shm_segsz {} rounded up to {pages} whole page{}",
        entry.size(),
        attachment.size(),
        if pages == 1 { "" } else { "s" }
    );
    write_text(&attachment, "written by the parent");
    parent!("wrote {:?}", read_text(&attachment));
    Ok(attachment)
}
// ANCHOR_END: attach

// ANCHOR: fork
fn inherit_through_fork(segment: &Segment, attachment: &Attachment) -> Result<()> {
    section("3. Fork: the child inherits the attachment");
    let shmid = segment.id();
    let child = fork_child(|| {
        let nattch = stat(shmid).map(|s| s.nattch).unwrap_or(0);
        child!(
            "child pid {}: attached at {:#x} here too; shm_nattch {nattch}",
            std::process::id(),
            attachment.as_ptr() as usize
        );
        child!("it reads {:?}", read_text(attachment));
        write_text(attachment, "written by the child");
        // SAFETY: we are the forked child, which leaves with _exit and never drops its copy
        // of `attachment`; nothing below touches the segment's memory.
        match unsafe { attachment.detach_inherited() } {
            Ok(()) => {
                let nattch = stat(shmid).map(|s| s.nattch).unwrap_or(0);
                child!(
                    "wrote {:?}; shmdt: shm_nattch {nattch}",
                    "written by the child"
                );
                0
            }
            Err(err) => {
                child!("{err}");
                1
            }
        }
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!("waitpid: child pid {pid} {exit}");
    parent!(
        "shm_nattch {}; the segment reads {:?}",
        stat(shmid)?.nattch,
        read_text(attachment)
    );
    Ok(())
}
// ANCHOR_END: fork

// ANCHOR: proc
fn show_proc_line(segment: &Segment) -> Result<()> {
    section("4. The same segment in /proc/sysvipc/shm (what `ipcs -m` reads)");
    let line = proc_entry(segment.id())?
        .ok_or_else(|| Error::Failed("our segment is missing from /proc/sysvipc/shm".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // The times are in seconds since 1970; any within the last minute are this run's.
    let moments_ago = |seconds: i64| (0..60).contains(&(now - seconds));
    // /proc/self belongs to this process's (effective) user and group.
    let me = std::fs::metadata("/proc/self")?;
    let (uid, gid) = (
        std::os::unix::fs::MetadataExt::uid(&me),
        std::os::unix::fs::MetadataExt::gid(&me),
    );
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

// ANCHOR: rmid
fn mark_for_destruction(segment: Segment, attachment: &Attachment) -> Result<()> {
    section("5. IPC_RMID marks the segment; it does not remove it");
    let shmid = segment.id();
    segment.remove()?; // shmctl(shmid, IPC_RMID, NULL), and the owner is gone
    parent!("shmctl(shmid, IPC_RMID, NULL): done");
    let info = stat(shmid)?;
    parent!(
        "IPC_STAT still answers: mode {:o} ({}SHM_DEST {:o} + perms {:o}), key {}, shm_nattch {}",
        info.mode,
        if info.marked_for_destruction() {
            ""
        } else {
            "no "
        },
        SHM_DEST,
        info.permissions(),
        info.key,
        info.nattch
    );
    write_text(attachment, "written after IPC_RMID");
    parent!(
        "still usable: it reads {:?}; `ipcs -m` shows it as \"dest\"",
        read_text(attachment)
    );
    Ok(())
}

// ANCHOR_END: rmid

// ANCHOR: reattach
fn attach_while_marked(shmid: i32) -> Result<()> {
    parent!("fork a child that attaches it anew by its shmid (Linux allows that)");
    let child = fork_child(|| match attach(shmid) {
        Ok(again) => {
            let nattch = stat(shmid).map(|s| s.nattch).unwrap_or(0);
            child!(
                "shmat on the marked segment: attached again, at {:#x}; shm_nattch {nattch}",
                again.as_ptr() as usize
            );
            child!("(the parent's, the one fork gave us, and this new one: it counts attachments)");
            child!("it reads {:?}; exiting without shmdt", read_text(&again));
            std::mem::forget(again); // no Drop, no shmdt: leave it to the kernel
            0 // fork_child's _exit: the kernel detaches all the process still has attached
        }
        Err(err) => {
            child!("{err}");
            1
        }
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!(
        "waitpid: child pid {pid} {exit}; shm_nattch {}: exit detached both of its attachments",
        stat(shmid)?.nattch
    );
    Ok(())
}
// ANCHOR_END: reattach

// ANCHOR: last
fn last_detach(shmid: i32, attachment: Attachment) -> Result<()> {
    section("6. The last detach destroys it");
    drop(attachment); // Attachment's Drop calls shmdt
    parent!("shmdt: our attachment, the last one, is gone");
    match stat(shmid) {
        Err(err) => parent!("{err}: the segment no longer exists"),
        Ok(info) => parent!("still there?! shm_nattch {}", info.nattch),
    }
    let listed = proc_entry(shmid)?.is_some();
    parent!(
        "/proc/sysvipc/shm {} shmid {shmid}",
        if listed {
            "still lists"
        } else {
            "no longer lists"
        }
    );
    Ok(())
}
// ANCHOR_END: last

// ANCHOR: limits
fn show_limits() -> Result<()> {
    section("7. The kernel's limits (/proc/sys/kernel/shm*)");
    let limits = limits()?;
    println!(
        "shmmax {} bytes: the largest one segment may be",
        limits.shmmax
    );
    println!(
        "shmall {} pages: all segments together ({} bytes a page)",
        limits.shmall,
        page_size()
    );
    println!(
        "shmmni {}: how many segments may exist at once",
        limits.shmmni
    );
    Ok(())
}
// ANCHOR_END: limits

/// With `--pause`: waits for Enter, saying where to look meanwhile.
fn pause(enabled: bool, shmid: i32) -> Result<()> {
    if enabled {
        common::pause(&format!(
            "[paused] pid {}, shmid {shmid}: try `ipcs -m -i {shmid}` in another terminal; \
             press Enter to go on",
            std::process::id()
        ))?;
    }
    Ok(())
}

/// Longest text the lesson keeps at the start of the segment, with its terminating 0.
const TEXT_CAPACITY: usize = 64;

/// Copies `text` and a terminating 0 to the start of the segment.
fn write_text(attachment: &Attachment, text: &str) {
    assert!(text.len() < TEXT_CAPACITY && TEXT_CAPACITY <= page_size());
    // SAFETY: the attachment maps at least one whole page, so the first TEXT_CAPACITY
    // bytes are mapped and writable (whatever shm_segsz is); the lesson's processes take
    // turns, ordered by waitpid, so nobody else reads or writes them meanwhile.
    unsafe {
        let p = attachment.as_ptr();
        p.copy_from_nonoverlapping(text.as_ptr(), text.len());
        p.add(text.len()).write(0);
    }
}

/// The text at the start of the segment, up to its terminating 0.
fn read_text(attachment: &Attachment) -> String {
    let mut bytes = [0u8; TEXT_CAPACITY];
    // SAFETY: as in `write_text`: mapped, readable, and nobody writes while we read.
    unsafe {
        attachment
            .as_ptr()
            .copy_to_nonoverlapping(bytes.as_mut_ptr(), TEXT_CAPACITY)
    };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(TEXT_CAPACITY);
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
