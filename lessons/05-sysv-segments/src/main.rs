//! Lesson 05: one System V segment, from `shmget` to the moment it is gone.
//!
//! The story: create a private segment of an odd size and attach it; count its attachments
//! (`shm_nattch`) as a child inherits one through `fork` and gives it up; read the kernel's
//! own line for it in `/proc/sysvipc/shm`; mark it with `IPC_RMID` and see that it lives on,
//! usable and even attachable, until the last attachment goes; then the kernel's limits.
//! Every step is ordered by `waitpid`; nothing sleeps. The segment is removed on every path
//! out: `Segment`'s `Drop` does it, in this process only, if the story stops early, and
//! its signal handler on Ctrl-C; after a `kill -9`, the next run does (see `leftovers`).
//!
//! The longer steps are modules of this binary, one file per step under `src/story/`, with
//! `text.rs`, the messages the processes leave each other in the segment; `src/lib.rs` and
//! its modules are what later lessons reuse.

use clap::Parser;
use common::{Result, child, fork_child, parent, section};
use l01_mmap::{listed_mapping, page_size};
use l05_sysv_segments::leftovers::{mark, remove_left_by_killed_runs};
use l05_sysv_segments::{Attachment, SHM_DEST, Segment, attach, limits, proc_entry, segment_stat};

mod story {
    pub mod create;
    pub mod fork;
    pub mod proc_line;
    pub mod text;
}
use story::create::create;
use story::fork::inherit_through_fork;
use story::proc_line::show_proc_line;
use story::text::{read_text, write_text};

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

// ANCHOR: attach
fn attach_and_look(segment: &Segment) -> Result<Attachment> {
    section("2. Attach: shmat(shmid, NULL, 0)");
    let attachment = attach(segment.id())?;
    let addr = attachment.as_ptr();
    parent!(
        "attached at {:#x}; shm_nattch {}",
        addr as usize,
        segment_stat(segment.id())?.nattch
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

// ANCHOR: rmid
fn mark_for_destruction(segment: Segment, attachment: &Attachment) -> Result<()> {
    section("5. IPC_RMID marks the segment; it does not remove it");
    let shmid = segment.id();
    segment.remove()?; // shmctl(shmid, IPC_RMID, NULL), and the owner is gone
    parent!("shmctl(shmid, IPC_RMID, NULL): done");
    let info = segment_stat(shmid)?;
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
            let nattch = segment_stat(shmid).map(|s| s.nattch).unwrap_or(0);
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
        segment_stat(shmid)?.nattch
    );
    Ok(())
}
// ANCHOR_END: reattach

// ANCHOR: last
fn last_detach(shmid: i32, attachment: Attachment) -> Result<()> {
    section("6. The last detach destroys it");
    drop(attachment); // Attachment's Drop calls shmdt
    parent!("shmdt: our attachment, the last one, is gone");
    match segment_stat(shmid) {
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
