//! Lesson 15: a crash and a restart.
//!
//! Scene 1: lesson 14's postmaster runs its backends, and one of them is killed with SIGKILL
//! in the middle of an update, holding its page's LWLock. The postmaster sees the signal in
//! `waitpid`, treats it as a crash, SIGQUITs every other child, waits for them all, removes
//! shared memory and makes it anew; a startup process replays the WAL; the check proves
//! that every acknowledged commit is kept and the dead backend's change is gone; new
//! children work; a clean shutdown. Scene 2: the postmaster itself is killed with SIGKILL;
//! its children notice and leave; the next start finds its lock file and its interlock
//! segment, sees both are stale, removes them and recovers.
//!
//! The postmaster never reads or writes shared memory after creating it: every step is
//! ordered by `waitpid`, pipes and a signalfd, and the only timeout is the grace period
//! before SIGKILL, which nobody in this story needs.
//!
//! The story is [`postmaster`], in the order it runs. The steps of the story are in
//! src/story/; what later lessons reuse is the library (src/lib.rs).

mod story;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::{Parser, Subcommand};
use common::{Error, Result, Signals, parent, section};
use l14_mini_postmaster::UnfinishedControlFile;
use l15_crash_restart::{Crash, parse_crash};
use nix::sys::signal::Signal;

use story::check::{check_after_recovery, final_check};
use story::children::fork_the_children;
use story::clean_up::clean_up;
use story::crash_response::handle_child_crash;
use story::data_directory::take_the_directory;
use story::postmaster_killed::{postmaster_killed, tell_ready};
use story::round::UPDATES;
use story::server_loop::{Outcome, serve};
use story::shmem::{create_shared_memory, reinitialize};
use story::shutdown::shut_down;
use story::startup::run_the_startup_process;

/// A mini postmaster that survives the crash of a child, and a start that survives the
/// crash of the postmaster.
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
    /// Start a mini postmaster in data directory DIR, run one round of work, stop, check.
    /// A DIR without a cluster, or with a cleanly shut down one, gets a fresh one (initdb);
    /// a DIR whose last server did not shut down is recovered first.
    Start {
        /// The data directory (it must exist).
        dir: PathBuf,
        /// Backend K dies with SIGKILL in the middle of its update U (from 1 to 50),
        /// holding the page's lock, before logging the change. The round after the
        /// recovery runs without a crash.
        #[arg(long, value_name = "K:U", value_parser = parse_crash)]
        crash: Option<Crash>,
        /// Once the backends are done, wait for Enter before shutting down: time to look
        /// (ps, ipcs -m) or to kill -9 a backend from another terminal.
        #[arg(long)]
        hold: bool,
    },
}

#[derive(clap::Args, Clone, Copy)]
struct Options {
    /// How many backends to fork (each makes 50 updates in a round where one is to die, 10
    /// in the others; each update is a transaction of its own).
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
          value_parser = common::up_to::<{ MAX_WORKERS }>)]
    workers: u64,
    /// How many 8192-byte buffers (pages of the table) the buffer pool holds.
    #[arg(long, global = true, value_name = "N", default_value_t = 16,
          value_parser = common::up_to::<{ MAX_BUFFERS }>)]
    buffers: u64,
}

/// Each LWLock has 72 process slots (lesson 11): backends, three writers, the startup
/// process, with room to spare.
const MAX_WORKERS: u64 = 32;
const MAX_BUFFERS: u64 = 256;

/// Where the default run's backend dies: backend 2, in its 40th update.
const DEFAULT_CRASH: Crash = Crash {
    backend: 2,
    update: 40,
};

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let options = args.options;
    match args.command {
        Some(Command::Start { dir, crash, hold }) => {
            if !dir.exists() {
                return Err(Error::Usage(format!(
                    "data directory \"{}\" does not exist: create it first (mkdir)",
                    dir.display()
                )));
            }
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "data directory \"{}\" is not a directory",
                    dir.display()
                )));
            }
            if let Some(crash) = crash {
                check_crash(crash, &options)?;
            }
            postmaster(&dir, &options, Start::AsItIs, crash, hold, None)
        }
        None => {
            // A directory of our own, always the same one, as lessons 07 and 14 do.
            let dir = std::env::temp_dir().join("l15-crash-restart");
            std::fs::create_dir_all(&dir)?;
            let crash = Crash {
                backend: DEFAULT_CRASH.backend.min(options.workers as usize),
                ..DEFAULT_CRASH
            };
            section(&format!(
                "Scene 1: backend {} is killed with SIGKILL in its update {}",
                crash.backend, crash.update
            ));
            postmaster(&dir, &options, Start::Fresh, Some(crash), false, None)?;
            section("Scene 2: the postmaster is killed with SIGKILL");
            postmaster_killed(&dir, &options)
        }
    }
}

fn check_crash(crash: Crash, options: &Options) -> Result<()> {
    if crash.backend as u64 > options.workers || crash.update > UPDATES {
        return Err(Error::Usage(format!(
            "--crash {}:{}: there are backends 1 to {} and updates 1 to {UPDATES}",
            crash.backend, crash.update, options.workers
        )));
    }
    Ok(())
}

/// Numbered steps: `1. ...`, `2. ...`, across both scenes.
pub fn step(title: &str) {
    section(&format!(
        "{}. {title}",
        NEXT_STEP.fetch_add(1, Ordering::Relaxed)
    ));
}

/// The next step's number. Scene 2's postmaster, a forked child, counts on in its own copy
/// and hands the number back with "ready".
static NEXT_STEP: AtomicUsize = AtomicUsize::new(1);

/// Whether a start makes a new cluster.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Always `initdb` (the default run: the chapter's story starts from nothing).
    Fresh,
    /// `initdb` only where there is no cluster or a cleanly shut down one; recover otherwise.
    AsItIs,
}

// ANCHOR: postmaster
/// The postmaster's life: take the directory, create shared memory, recover (the startup
/// process), then rounds of work until one ends without a crash; shut down; check; clean up.
/// `ready`: in scene 2, where to say "my children run" (their roles and PIDs).
fn postmaster(
    dir: &Path,
    options: &Options,
    start: Start,
    mut crash: Option<Crash>,
    hold: bool,
    ready: Option<OwnedFd>,
) -> Result<()> {
    // From here on SIGCHLD, SIGINT, SIGTERM, SIGHUP and SIGQUIT wait in a signalfd;
    // children inherit them blocked (SIGQUIT until its handler is in place). SIGHUP (the
    // terminal is gone) stops the server as SIGINT does.
    let signals = Signals::block(&[
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ])?;
    let mut lock = take_the_directory(dir, start)?;
    // Declared before any child exists, so dropped after they are all gone, however we end.
    let _unfinished = UnfinishedControlFile(dir.to_path_buf());
    let mut shmem = create_shared_memory(dir, options, &mut lock, None)?;
    if run_the_startup_process(&shmem, dir, &signals)? {
        check_after_recovery(dir)?;
    }
    parent!("LOG:  database system is ready to accept connections");
    let mut ready = ready;
    let server = loop {
        let mut server = fork_the_children(&shmem, dir, options, crash.take(), &signals)?;
        if let Some(pipe) = ready.take() {
            tell_ready(pipe, &server)?;
        }
        match serve(&mut server, &signals, hold)? {
            Outcome::Done => break server,
            Outcome::Crash(role, pid, exit) => {
                handle_child_crash(&mut server, role, pid, exit)?;
                drop(server);
                shmem = reinitialize(shmem, dir, options, &mut lock)?;
                run_the_startup_process(&shmem, dir, &signals)?;
                check_after_recovery(dir)?;
                parent!("LOG:  database system is ready to accept connections");
            }
        }
    };
    shut_down(server, &mut lock)?;
    final_check(dir)?;
    clean_up(shmem, lock)
}
// ANCHOR_END: postmaster
