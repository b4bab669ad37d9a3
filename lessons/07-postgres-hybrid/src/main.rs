//! Lesson 07: a small postmaster's start-up and shutdown, PostgreSQL's way.
//!
//! `start DIR` takes the data directory DIR for itself: it creates DIR/postmaster.pid (or finds
//! out why it cannot), sizes its shared memory as a sum of named parts, maps the big area
//! anonymously, creates the tiny System V segment that serves as the interlock, records key
//! and shmid in the lock file, forks children that use the big area and inherit the
//! interlock's attachment, and stops cleanly. With `--hold` it waits in the middle, so that a
//! second `start` on DIR, `kill -9`, `ipcs -m` and `/proc/PID/maps` can be tried on it.
//! Without a subcommand it runs `start` on a directory of its own and tries a second start
//! there while the first runs. `sidebar` shows POSIX shared memory and `memfd_create`.
//!
//! This file is the table of contents: the command line, and `start`, which runs the steps in
//! the chapter's order. Each step is a file of src/story/ named after it, and so is the
//! sidebar. Files in src/story/ belong to this binary; the other files in src/ are the
//! library, which lessons 14 and 15 reuse.

mod story {
    pub mod create_the_interlock;
    pub mod fork_the_children;
    pub mod hold_until_told;
    pub mod map_the_big_area;
    pub mod record_in_the_lock_file;
    pub mod show_the_size;
    pub mod sidebar;
    pub mod stop;
    pub mod take_the_directory;
    pub mod try_a_second_start;
}

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use common::{Child, Error, Result};
use l06_keys_and_strangers::Created;
use l07_postgres_hybrid::{HugePages, LockFile, SharedMemory, ShmemPart, parts, shmem_size};

use story::create_the_interlock::create_the_interlock;
use story::fork_the_children::fork_the_children;
use story::hold_until_told::{block_stop_signals, hold_until_told};
use story::map_the_big_area::map_the_big_area;
use story::record_in_the_lock_file::record_in_the_lock_file;
use story::show_the_size::show_the_size;
use story::stop::stop;
use story::take_the_directory::take_the_directory;
use story::try_a_second_start::try_a_second_start;

/// PostgreSQL's shared memory layout since 9.3: a big anonymous mapping, a tiny System V
/// segment as the interlock, and a lock file that records them.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Start a small postmaster in data directory DIR, then stop it.
    Start {
        /// The data directory (it must exist; its inode number makes the segment's key).
        dir: PathBuf,
        /// Wait after start-up until standard input is closed (Ctrl-D) or SIGTERM/SIGINT
        /// arrives, printing "ready" first, so other commands can look at the running server.
        #[arg(long)]
        hold: bool,
    },
    /// POSIX shared memory (shm_open, /dev/shm) and memfd_create, which PostgreSQL uses for
    /// dynamic shared memory.
    Sidebar,
}

#[derive(clap::Args)]
struct Options {
    /// How many children to fork.
    #[arg(long, global = true, default_value_t = 3, value_parser = common::positive)]
    children: u64,
    /// How many 8192-byte buffers the shared area holds (PostgreSQL's minimum is 16).
    #[arg(long, global = true, default_value_t = 16, value_parser = common::positive)]
    buffers: u64,
    /// Use huge pages for the big area (PostgreSQL's default is try; the lesson's is off, so
    /// that its output is the same on every machine).
    #[arg(long, global = true, value_enum, default_value_t = HugePages::Off)]
    huge_pages: HugePages,
}

/// The most children the lesson forks (each one is a process on your machine).
const MAX_CHILDREN: u64 = 64;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Some(Command::Start { dir, hold }) => start(&dir, &args.options, hold, false),
        Some(Command::Sidebar) => story::sidebar::run(),
        None => {
            // A directory of our own, always the same one: if a run is killed, the next run
            // finds what it left (a lock file, a segment) and cleans up, as PostgreSQL does.
            let dir = std::env::temp_dir().join("l07-postgres-hybrid");
            // On Ctrl-C, removed once empty (after the lock file), like the line below.
            let _on_signal = common::on_signal::Remove::directory(&dir)?;
            std::fs::create_dir_all(&dir)?;
            let outcome = start(&dir, &args.options, false, true);
            let _ = std::fs::remove_dir(&dir); // only if empty: no lock file left in it
            outcome
        }
    }
}

/// The server: everything a start creates. Fields drop in the order declared, so an early
/// return undoes it all in the order a clean stop does: the children's pipe closed and the
/// children killed and reaped, then the interlock removed and detached, the big area
/// unmapped, and the lock file deleted last.
struct Server {
    /// The write end of the pipe the children wait on: closing it tells them to exit, and
    /// so does our death, since the kernel closes it then (PostgreSQL's postmaster-death pipe).
    stop: Option<OwnedFd>,
    children: Vec<Child>,
    interlock: Created,
    shmem: SharedMemory,
    lock: LockFile,
}

fn start(dir: &Path, options: &Options, hold: bool, second_start: bool) -> Result<()> {
    let (parts, size) = plan(options)?; // refuse bad options before touching anything
    let lock = take_the_directory(dir)?;
    show_the_size(&parts, size);
    let shmem = map_the_big_area(size, options.huge_pages)?;
    let interlock = create_the_interlock(dir, &shmem)?;
    let mut server = Server {
        stop: None,
        children: Vec::new(),
        interlock,
        shmem,
        lock,
    };
    record_in_the_lock_file(&mut server)?;
    if hold {
        block_stop_signals()?; // before forking: children inherit the mask
    }
    fork_the_children(&mut server, &parts, options.children)?;
    if second_start {
        try_a_second_start(dir)?;
    }
    if hold {
        hold_until_told(dir)?;
    }
    stop(server, if second_start { 8 } else { 7 })
}

/// The parts and the total size for these options, or a usage error.
fn plan(options: &Options) -> Result<(Vec<ShmemPart>, usize)> {
    if options.children > MAX_CHILDREN {
        return Err(Error::Usage(format!(
            "--children {} is too many; at most {MAX_CHILDREN}",
            options.children
        )));
    }
    let too_big = || {
        Error::Usage(format!(
            "--buffers {} is more than this machine has (memory plus swap); try fewer",
            options.buffers
        ))
    };
    let buffers = usize::try_from(options.buffers).map_err(|_| too_big())?;
    let parts = parts(buffers, options.children as usize + 1).ok_or_else(too_big)?;
    let size = shmem_size(&parts).ok_or_else(too_big)?;
    let info = nix::sys::sysinfo::sysinfo().map_err(Error::sys("sysinfo"))?;
    if size as u64 > info.ram_total() + info.swap_total() {
        return Err(too_big());
    }
    Ok((parts, size))
}
