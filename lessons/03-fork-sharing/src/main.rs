//! Lesson 03: the article's experiment, done right.
//!
//! The parent writes "AA" into three places: a `MAP_SHARED` page, a `MAP_PRIVATE` page and
//! an ordinary heap value. It forks; the child writes "BB" into all three and exits. The
//! parent waits for it with `waitpid` (never by sleeping) and looks again: only the shared
//! page changed. Then the pitfall that makes the article's C program print its greeting
//! twice: a buffer in the parent's memory is copied into the child, unless flushed first.

use std::io::{BufWriter, Write};
use std::time::Duration;

use clap::Parser;
use common::{Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, maps_entry, page_size};
use nix::sys::mman::{MapFlags, ProtFlags};

/// Fork a child, let it write "BB", and see which of the parent's memory changed.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Replay the article's timeline instead (the child sleeps 5 s, the parent 10 s),
    /// to see why sleeping is not a way to order two processes.
    #[arg(long)]
    seed_timing: bool,
}

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    if args.seed_timing {
        return seed_timing();
    }
    let mut places = prepare()?;
    fork_and_write(&mut places)?;
    look_again(&places)?;
    duplicated_buffer()
}

/// The three places the child will write into.
struct Places {
    shared: Mapping,
    private: Mapping,
    heap: String,
}

// ANCHOR: prepare
fn prepare() -> Result<Places> {
    section("1. Before fork: \"AA\" in three places");
    let rw = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let shared = Mapping::anonymous(page_size(), rw, PG_MMAP_FLAGS)?;
    let private = Mapping::anonymous(page_size(), rw, MapFlags::MAP_PRIVATE)?;
    let heap = String::from("AA");
    // SAFETY: both pages are writable, and there is no other process yet.
    unsafe {
        shared.write_at(0, b"AA");
        private.write_at(0, b"AA");
    }
    for (name, mapping) in [("MAP_SHARED ", &shared), ("MAP_PRIVATE", &private)] {
        let perms = maps_entry(mapping.as_ptr())?
            .map(|e| e.perms)
            .unwrap_or_default();
        parent!(
            "{name} page at {:#x} ({perms}) holds {}",
            mapping.as_ptr() as usize,
            text(mapping)
        );
    }
    parent!(
        "a String's bytes on the heap at {:#x} hold {heap:?}",
        heap.as_ptr() as usize
    );
    Ok(Places {
        shared,
        private,
        heap,
    })
}
// ANCHOR_END: prepare

// ANCHOR: fork
fn fork_and_write(places: &mut Places) -> Result<()> {
    section("2. Fork; the child writes \"BB\" into all three");
    let child = fork_child(|| {
        // The child's memory is a copy of the parent's: same addresses, same values.
        child!(
            "child pid {}: the shared page is at {:#x} here too",
            std::process::id(),
            places.shared.as_ptr() as usize
        );
        // SAFETY: the parent does not touch these pages until it has reaped this child.
        unsafe {
            places.shared.write_at(0, b"BB");
            places.private.write_at(0, b"BB");
        }
        places.heap.replace_range(.., "BB");
        let (shared, private) = (text(&places.shared), text(&places.private));
        child!(
            "wrote \"BB\" into all three; here they read {shared}, {private}, {:?}",
            places.heap
        );
        0
    })?;
    let pid = child.pid();
    let exit = child.wait()?; // waitpid: from here on the child's writes are all done
    parent!("waitpid: child pid {pid} {exit}");
    Ok(())
}
// ANCHOR_END: fork

// ANCHOR: look
fn look_again(places: &Places) -> Result<()> {
    section("3. What the parent sees now");
    parent!(
        "MAP_SHARED  page: {}  <- the child's write: one set of pages, two processes",
        text(&places.shared)
    );
    parent!(
        "MAP_PRIVATE page: {}  <- the child wrote to its own copy (copy-on-write)",
        text(&places.private)
    );
    parent!(
        "the String:       {:?}  <- the same: ordinary memory is private after fork",
        places.heap
    );
    Ok(())
}
// ANCHOR_END: look

// ANCHOR: buffer
fn duplicated_buffer() -> Result<()> {
    section("4. Why we flush before fork");
    // A BufWriter holds text in our own memory until flushed, as C's stdio does when its
    // output is a pipe or a file. Whatever it holds at fork time, the child holds too.
    let mut out = BufWriter::new(std::io::stdout());
    writeln!(out, "hello from before the fork")?;
    parent!("fork without flushing; the child flushes its copy as it exits, like C's exit()");
    let child = fork_child(|| match out.flush() {
        Ok(()) => 0,
        Err(_) => 1,
    })?;
    child.wait()?;
    out.flush()?;
    parent!("the line came out twice: once from the child's copy of the buffer, once from ours");

    writeln!(out, "hello from before the fork")?;
    out.flush()?;
    parent!("flushed, then fork: the child's copy of the buffer is empty");
    let child = fork_child(|| match out.flush() {
        Ok(()) => 0,
        Err(_) => 1,
    })?;
    child.wait()?;
    parent!("the line came out once");
    Ok(())
}
// ANCHOR_END: buffer

// ANCHOR: seed
/// The article's timeline: no waitpid, only sleeps. It usually prints "BB", because 10 s
/// is usually plenty; nothing guarantees it.
fn seed_timing() -> Result<()> {
    let shared = Mapping::anonymous(
        page_size(),
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        PG_MMAP_FLAGS,
    )?;
    // SAFETY: the page is writable and no other process exists yet.
    unsafe { shared.write_at(0, b"AA") };
    let child = fork_child(|| {
        std::thread::sleep(Duration::from_secs(5));
        // SAFETY: by then the parent is (very probably) asleep: this is the race the
        // article's timeline hides, and the reason the lesson uses waitpid instead.
        unsafe { shared.write_at(0, b"BB") };
        0
    })?;
    parent!(
        "parent pid {}, child pid {}",
        std::process::id(),
        child.pid()
    );
    parent!("before sleep: {}", text(&shared));
    parent!("sleeping 10 seconds");
    std::thread::sleep(Duration::from_secs(10));
    parent!("after sleep:  {}", text(&shared));
    child.wait()?;
    Ok(())
}
// ANCHOR_END: seed

/// The first two bytes of the mapping, quoted.
fn text(mapping: &Mapping) -> String {
    // SAFETY: callers read only while no other process runs, or (in `seed_timing`)
    // accept the race the chapter discusses.
    let bytes = unsafe { mapping.read_at(0, 2) };
    format!("{:?}", String::from_utf8_lossy(&bytes))
}
