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
//! The story is in this file, in the order it runs; the rest is in modules: [`shmem`]
//! (creating, removing and re-creating shared memory), [`startup`] (forking the startup
//! process), [`children`] (forking a round's children), [`backend`] (a backend's work and
//! its death), [`server_loop`] (waiting, the crash response, the shutdown) and
//! [`postmaster_killed`] (scene 2).

mod backend;
mod children;
mod postmaster_killed;
mod server_loop;
mod shmem;
mod startup;

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use common::{Error, Result, Signals, parent, section};
use l05_sysv_segments::stat;
use l06_keys_and_strangers::key_hex;
use l07_postgres_hybrid::{LockFile, Note, lock_data_dir, now, read_lock_file};
use l14_mini_postmaster::{
    CONTROL_FILE, ControlFile, DataFiles, DbState, UnfinishedControlFile, WAL_FILE,
};
use l15_crash_restart::check::check;
use l15_crash_restart::notebook::{Crash, NOTEBOOK_FILE, Notebook, parse_crash};
use nix::sys::signal::Signal;
use nix::unistd::getpid;

use children::fork_the_children;
use postmaster_killed::{postmaster_killed, tell_ready};
use server_loop::{Outcome, handle_child_crash, serve, shut_down};
use shmem::{SharedMemory, create_shared_memory, reinitialize, yes};
use startup::{check_after_recovery, run_the_startup_process};

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

/// PostgreSQL's `SIGKILL_CHILDREN_AFTER_SECS`.
const GRACE: Duration = Duration::from_secs(5);

/// Where the default run's backend dies: backend 2, in its 40th update.
const DEFAULT_CRASH: Crash = Crash {
    backend: 2,
    update: 40,
};

/// Updates each backend makes in a round where one of them is to die: room for `--crash`
/// to choose where. Each is a commit that waits for `fdatasync`.
const UPDATES: usize = 50;

/// Updates each backend makes in the other rounds (the default run has three): enough to
/// show that new children work and to put WAL after the round's checkpoint, few because
/// every commit waits for `fdatasync`.
const UPDATES_WITHOUT_CRASH: usize = 10;

/// How many updates each backend makes in a round with this crash, or none.
fn updates_in_round(crash: Option<Crash>) -> usize {
    if crash.is_some() {
        UPDATES
    } else {
        UPDATES_WITHOUT_CRASH
    }
}

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

// ANCHOR: take
/// `CreateLockFile`, then `initdb` if there is nothing to recover.
fn take_the_directory(dir: &Path, start: Start) -> Result<LockFile> {
    let found_pid_file = read_lock_file(dir)?.is_some();
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    step(&format!("Start: the data directory {}", dir.display()));
    if found_pid_file {
        // pg_ctl says this whenever postmaster.pid exists, before the server looks closer.
        parent!("pg_ctl: another server might be running; trying to start server anyway");
    }
    for note in notes {
        match note {
            Note::StaleLockFile { pid } => {
                parent!("postmaster.pid names PID {pid}, which is not running: stale, deleted")
            }
            Note::RemovedSegment { key, shmid } => parent!(
                "its shared memory block (key {}, shmid {shmid}) is ours with shm_nattch 0: \
                 nobody uses it; IPC_RMID",
                key_hex(key)
            ),
            Note::LeftSegment { shmid, found } => {
                parent!("its shared memory block shmid {shmid} is {found}: left alone")
            }
        }
    }
    parent!(
        "the postmaster is parent pid {}; postmaster.pid is ours",
        getpid()
    );
    let control = ControlFile::read(dir).ok();
    let crashed = control.is_some_and(|c| c.state != DbState::ShutDown);
    if start == Start::Fresh || !crashed {
        DataFiles::create(dir)?;
        Notebook::create(dir)?;
        parent!(
            "initdb: an empty table and {WAL_FILE}, an empty {NOTEBOOK_FILE}; {CONTROL_FILE}: shut down"
        );
    } else {
        parent!(
            "{CONTROL_FILE}: {}: the last server did not shut down; its files are kept",
            control.expect("crashed").state.name()
        );
    }
    Ok(lock)
}
// ANCHOR_END: take

fn final_check(dir: &Path) -> Result<()> {
    step("Check again after the shutdown, from the files only");
    let checked = check(dir, false)?;
    let control = ControlFile::read(dir)?;
    let wal_end = DataFiles::open(dir)?.read_wal(0)?.len() * l14_mini_postmaster::RECORD_SIZE;
    let clean = control.state == DbState::ShutDown && control.redo == wal_end as u64;
    parent!(
        "{CONTROL_FILE}: {}, its redo point the end of {WAL_FILE}: {}",
        control.state.name(),
        yes(clean)
    );
    if !clean {
        return Err(Error::Failed(format!(
            "check failed: {CONTROL_FILE} should say \"shut down\" at the end of the WAL"
        )));
    }
    parent!(
        "consistent: all {} rows, every acknowledged commit kept",
        checked.rows
    );
    Ok(())
}

// ANCHOR: clean_up
fn clean_up(shmem: SharedMemory, lock: LockFile) -> Result<()> {
    step("Leave nothing behind");
    let shmid = shmem.shmid();
    parent!("shm_nattch = {}: every child is gone", stat(shmid)?.nattch);
    shmem.remove()?;
    parent!("shmdt, IPC_RMID: shmid {shmid} removed; munmap: the region is gone");
    let path = lock.path().to_path_buf();
    lock.delete()?;
    parent!("deleted {}", path.display());
    Ok(())
}
// ANCHOR_END: clean_up
