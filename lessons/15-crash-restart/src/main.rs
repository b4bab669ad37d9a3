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

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use common::{Child, Error, Exit, Result, Signals, child, fork_child, parent, section};
use l05_sysv_segments::stat;
use l06_keys_and_strangers::{Created, Key, key_hex};
use l07_postgres_hybrid::{
    LockFile, Note, STATUS_READY, STATUS_STOPPING, create_interlock, lock_data_dir, now,
    owner_alive, read_lock_file, shmem_size,
};
use l13_shmem_index::Segment;
use l14_mini_postmaster::processes::{CHECKPOINT, SHUTDOWN, bgwriter, checkpointer, walwriter};
use l14_mini_postmaster::storage::{CONTROL_FILE, ControlFile, DataFiles, DbState, WAL_FILE};
use l14_mini_postmaster::{
    DIRTY, INDEX_CAPACITY, Mode, Pool, RELATION, region_parts, target, update_row,
};
use l15_crash_restart::check::check;
use l15_crash_restart::notebook::{
    Crash, Died, Line, NOTEBOOK_FILE, Notebook, Progress, parse_crash,
};
use l15_crash_restart::recovery::startup_process;
use l15_crash_restart::{Role, install_quickdie, is_crash, log_child_exit, terminate_children};
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{Signal, kill};
use nix::unistd::{Pid, getpid, pipe2, read, write};

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
        /// holding the page's lock, before logging the change.
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
    /// How many backends to fork (each makes 50 updates a round, each its own transaction).
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    workers: u64,
    /// How many 8192-byte buffers (pages of the table) the buffer pool holds.
    #[arg(long, global = true, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BUFFERS))]
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

/// Updates each backend makes in a round: half of lesson 14's. Each is a commit that waits
/// for `fdatasync`, and this lesson runs four rounds.
const UPDATES: usize = 50;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let options = args.options;
    match args.command {
        Some(Command::Start { dir, crash, hold }) => {
            if !dir.is_dir() {
                return Err(Error::Usage(format!(
                    "data directory \"{}\" does not exist: create it first (mkdir)",
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
fn step(title: &str) {
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

/// Shared memory, as the postmaster holds it: the region and the interlock. Dropped in
/// this order: the interlock is removed (IPC_RMID) and detached, the region unmapped.
struct SharedMemory {
    interlock: Created,
    region: Segment,
    buffers: usize,
    wal_records: usize,
}

impl SharedMemory {
    fn shmid(&self) -> i32 {
        self.interlock.segment.id()
    }

    /// A view of the structures, found by name: for the children to inherit.
    fn pool(&self) -> Result<Pool<'_>> {
        Ok(Pool::attach(self.region.shmem(), self.buffers, self.wal_records)?.0)
    }

    /// `shmdt` and `IPC_RMID` of the interlock, then `munmap` of the region.
    fn remove(self) -> Result<()> {
        let Created {
            segment,
            attachment,
            ..
        } = self.interlock;
        drop(attachment);
        segment.remove()?;
        drop(self.region);
        Ok(())
    }
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
    // From here on SIGCHLD, SIGINT, SIGTERM and SIGQUIT wait in a signalfd; children
    // inherit them blocked (SIGQUIT until its handler is in place).
    let signals = Signals::block(&[
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGQUIT,
    ])?;
    let mut lock = take_the_directory(dir, start)?;
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

// ANCHOR: create
/// Lesson 14's shared memory: the region (an anonymous mapping laid out by lesson 13, with
/// the structures created by name) and the interlock. `previous`: the interlock it replaces.
fn create_shared_memory(
    dir: &Path,
    options: &Options,
    lock: &mut LockFile,
    previous: Option<(Key, i32)>,
) -> Result<SharedMemory> {
    let buffers = options.buffers as usize;
    // The WAL buffers hold the whole WAL (lesson 14): what is in the file, and a round more.
    let round = options.workers as usize * UPDATES;
    let in_file = DataFiles::open(dir)?.read_wal(0)?.len();
    let wal_records = (in_file.div_ceil(round) + 1) * round;
    let size = shmem_size(&region_parts(buffers, wal_records)).expect("the options are bounded");
    let region = Segment::create(size, INDEX_CAPACITY)?;
    parent!(
        "mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        region.shmem().base() as usize
    );
    let (_, found) = Pool::attach(region.shmem(), buffers, wal_records)?;
    let names: Vec<&str> = found.iter().map(|(name, _, _)| name.as_str()).collect();
    let new = found.iter().filter(|(_, _, found)| !found).count();
    parent!(
        "{new} structures created by name (found = false): {}",
        names.join(", ")
    );
    let interlock = create_interlock(dir, &mut |_| {})?;
    let (key, shmid) = (interlock.key, interlock.segment.id());
    parent!(
        "shmget(key {}, ..., IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}: the interlock, attached",
        key_hex(key)
    );
    if let Some((old_key, old_shmid)) = previous {
        parent!(
            "the same key as before: {}; a new shmid: {} (the old one was shmid {old_shmid})",
            yes(key == old_key),
            yes(shmid != old_shmid)
        );
    }
    lock.update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_READY.into());
    })?;
    Ok(SharedMemory {
        interlock,
        region,
        buffers,
        wal_records,
    })
}

fn yes(truth: bool) -> &'static str {
    if truth { "yes" } else { "no" }
}
// ANCHOR_END: create

// ANCHOR: child_signals
/// A child's signals, first thing: the postmaster's signalfd closed, SIGINT and SIGTERM
/// still blocked (the postmaster reads Ctrl-C; a backend reads SIGTERM at a safe point),
/// and SIGQUIT let in only once its handler, `quickdie`, is in place.
fn child_signals(signals: &Signals) -> Result<()> {
    signals.leave_in_child(&[Signal::SIGINT, Signal::SIGTERM, Signal::SIGQUIT]);
    install_quickdie()
}
// ANCHOR_END: child_signals

// ANCHOR: startup
/// Forks the startup process, alone in the new shared memory, and waits for it. Returns
/// whether it recovered (the control file did not say "shut down").
fn run_the_startup_process(shmem: &SharedMemory, dir: &Path, signals: &Signals) -> Result<bool> {
    let crashed = ControlFile::read(dir)?.state != DbState::ShutDown;
    let pool = shmem.pool()?;
    let startup = fork_child(|| {
        if child_signals(signals).is_err() {
            return 1;
        }
        child!("the startup process, child pid {}", getpid());
        match startup_process(&pool, dir) {
            Ok(()) => 0,
            Err(err) => {
                child!("FATAL:  {err}");
                1
            }
        }
    })?;
    let pid = startup.pid();
    let exit = startup.wait()?;
    parent!("startup process (child pid {pid}) {exit}");
    if is_crash(Role::Startup, exit) {
        return Err(Error::Failed(format!(
            "aborting startup due to startup process failure ({})",
            log_child_exit(Role::Startup, pid.as_raw(), exit)
        )));
    }
    Ok(crashed)
}
// ANCHOR_END: startup

fn check_after_recovery(dir: &Path) -> Result<()> {
    step("Check, from the files only: committed is kept, uncommitted is gone");
    let checked = check(dir, true)?;
    parent!(
        "committed: kept (all {} rows); uncommitted: {}",
        checked.rows,
        if checked.uncommitted_gone {
            "gone"
        } else {
            "none was in flight"
        }
    );
    Ok(())
}

/// One round's children and the postmaster's ends of their pipes. Dropping it kills and
/// reaps any child still there (`Child`'s drop), then closes the pipes.
struct Server {
    children: Vec<(Role, Child)>,
    /// Write ends: the background processes' request pipes (lesson 14's "latches").
    checkpointer: OwnedFd,
    bgwriter: OwnedFd,
    walwriter: OwnedFd,
    /// Write end of the backends' pipe, held and never written: its EOF tells them that
    /// the postmaster died.
    _alive: OwnedFd,
    /// Read end of the pipe every child reports on.
    reports: OwnedFd,
}

// ANCHOR: fork
/// A round: a line per backend in the notebook, then the children (StartChildProcess).
fn fork_the_children(
    shmem: &SharedMemory,
    dir: &Path,
    options: &Options,
    crash: Option<Crash>,
    signals: &Signals,
) -> Result<Server> {
    let workers = options.workers as usize;
    let lines = Notebook::open(dir)?.begin_round(workers, shmem.buffers, UPDATES, crash)?;
    step(&match crash {
        Some(c) => format!(
            "Work: {workers} backends, {UPDATES} updates each; backend {} will die in its update {}",
            c.backend, c.update
        ),
        None => format!("Work: {workers} backends, {UPDATES} updates each"),
    });
    let pool = shmem.pool()?;
    let (checkpointer_wait, checkpointer_requests) = pipe()?;
    let (bgwriter_wait, bgwriter_requests) = pipe()?;
    let (walwriter_wait, walwriter_requests) = pipe()?;
    let (alive_watch, alive) = pipe()?;
    let (reports, report) = pipe()?;
    // The postmaster's ends: a child closes them, so that it sees EOF when the postmaster
    // dies (a backend keeps the checkpointer's, to ask for checkpoints).
    let postmaster_ends = [
        checkpointer_requests.as_raw_fd(),
        bgwriter_requests.as_raw_fd(),
        walwriter_requests.as_raw_fd(),
        alive.as_raw_fd(),
    ];
    let mut roles = vec![Role::Checkpointer, Role::BgWriter, Role::WalWriter];
    roles.extend((1..=workers).map(Role::Backend));
    let mut children = Vec::new();
    for role in roles {
        let child = fork_child(|| {
            if child_signals(signals).is_err() {
                return 1;
            }
            let outcome = match role {
                Role::Checkpointer => {
                    close_inherited(&postmaster_ends);
                    checkpointer(&pool, dir, &checkpointer_wait)
                }
                Role::BgWriter => {
                    close_inherited(&postmaster_ends);
                    bgwriter(&pool, dir, &bgwriter_wait)
                }
                Role::WalWriter => {
                    close_inherited(&postmaster_ends);
                    walwriter(&pool, dir, &walwriter_wait)
                }
                Role::Startup => unreachable!("forked by run_the_startup_process"),
                Role::Backend(n) => {
                    close_inherited(&postmaster_ends[1..]);
                    let work = Work {
                        pool: &pool,
                        dir,
                        number: n,
                        line: lines[n - 1],
                        crash: crash.filter(|c| c.backend == n),
                        checkpoint_at: checkpoint_at(crash, n),
                    };
                    backend(work, &checkpointer_requests, &report, &alive_watch)
                }
            };
            let (text, status) = match outcome {
                Ok(text) => (
                    text,
                    if matches!(role, Role::Backend(_)) {
                        1
                    } else {
                        0
                    },
                ),
                Err(err) => (format!("failed: {err}"), 1),
            };
            send_report(&report, role, &text);
            status
        })?;
        children.push((role, child));
    }
    parent!("PID    ROLE (like ps -o pid,ppid,cmd)");
    parent!("postmaster               parent pid {}", getpid());
    let last = children.len() - 1;
    for (i, (role, child)) in children.iter().enumerate() {
        let branch = if i == last { "└─" } else { "├─" };
        parent!(
            "{branch} {:<21} child pid {}",
            role.to_string(),
            child.pid()
        );
    }
    Ok(Server {
        children,
        checkpointer: checkpointer_requests,
        bgwriter: bgwriter_requests,
        walwriter: walwriter_requests,
        _alive: alive,
        reports,
    })
}

/// A pipe whose ends are closed by dropping them (and by exec, if there were one).
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))
}

/// Closes this child's copies of the postmaster's ends of the pipes.
fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: in this child the descriptor belongs to our copy of an OwnedFd that is
        // never dropped here (children leave with _exit): it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}

/// One line on the report pipe: `Role\ttext`. One write of less than PIPE_BUF bytes is
/// never interleaved with another child's.
fn send_report(report: &OwnedFd, role: Role, text: &str) {
    let _ = write(report, format!("{role:?}\t{text}\n").as_bytes());
}
// ANCHOR_END: fork

/// What one backend is to do.
struct Work<'a> {
    pool: &'a Pool<'a>,
    dir: &'a Path,
    number: usize,
    line: Line,
    crash: Option<Crash>,
    /// Before which of its updates (counted from 1) it runs a CHECKPOINT, if any.
    checkpoint_at: Option<usize>,
}

/// Who runs the round's one CHECKPOINT, and when: the backend that will die, just before
/// its last committed update; without a crash, backend 1 halfway. Either way a committed
/// record follows the checkpoint's redo point, so recovery always has WAL to replay. (The
/// backends here do not ask for checkpoints by WAL volume, as lesson 14's do: a checkpoint
/// that began late could leave nothing after its redo point, and the story would change.)
fn checkpoint_at(crash: Option<Crash>, backend: usize) -> Option<usize> {
    match crash {
        Some(c) if c.backend == backend && c.update >= 2 => Some(c.update - 1),
        Some(_) => None,
        None => (backend == 1).then_some(UPDATES / 2),
    }
}

// ANCHOR: backend
/// A backend: its updates, each a transaction committed by flushing its WAL record, each
/// acknowledged in the notebook once the commit returned. Then it stays, like a connected
/// client's session, until SIGTERM (a fast shutdown) or the postmaster's death.
fn backend(
    work: Work,
    checkpoint_requests: &OwnedFd,
    report: &OwnedFd,
    alive_watch: &OwnedFd,
) -> Result<String> {
    let pool = work.pool;
    let files = DataFiles::open(work.dir)?;
    let notebook = Notebook::open(work.dir)?;
    pool.lock_relation(RELATION)?;
    let mut progress = Progress::default();
    for i in 0..UPDATES {
        progress.sent = i + 1; // the client sent its statement
        notebook.write(work.line, &progress)?;
        let (buffer, row) = target(work.number, i, pool.buffers);
        if work.crash.is_some_and(|c| c.update == i + 1) {
            die_in_the_middle(pool, buffer, row, &notebook, work.line, progress);
        }
        if work.checkpoint_at == Some(i + 1) {
            run_checkpoint(checkpoint_requests, work.dir)?;
        }
        let lsn = update_row(pool, buffer, row)?;
        pool.flush_wal(lsn, &files)?; // commit: the record is on disk when this returns
        progress.acked = i + 1; // "COMMIT" reached the client
        notebook.write(work.line, &progress)?;
    }
    pool.unlock_relation(RELATION);
    send_report(
        report,
        Role::Backend(work.number),
        &format!("done: {UPDATES} updates, each acknowledged once its commit returned"),
    );
    idle_until_told(alive_watch)
}

/// The `CHECKPOINT` command: asks the checkpointer for a checkpoint and waits until it is
/// done, that is, until pg_control counts one more (PostgreSQL's `RequestCheckpoint` with
/// `CHECKPOINT_WAIT` sleeps on a condition variable; we look at the file every millisecond).
fn run_checkpoint(requests: &OwnedFd, dir: &Path) -> Result<()> {
    let before = ControlFile::read(dir)?.checkpoints;
    write(requests, &[CHECKPOINT]).map_err(Error::sys("write"))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while ControlFile::read(dir)?.checkpoints == before {
        if Instant::now() > deadline {
            return Err(Error::Failed(
                "CHECKPOINT: no checkpoint completed within 10 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Kills this backend with SIGKILL in the middle of an update: the page's LWLock held, the
/// row changed, the buffer dirty, and no WAL record. (It stands for `kill -9` from an
/// operator or the kernel's OOM killer, which could strike at any instruction.)
fn die_in_the_middle(
    pool: &Pool,
    buffer: usize,
    row: usize,
    notebook: &Notebook,
    line: Line,
    progress: Progress,
) -> ! {
    pool.page_lock(buffer).acquire(Mode::Exclusive);
    let page = pool.page(buffer);
    // SAFETY: we hold the page's lock exclusive.
    let was = unsafe { (*page).rows[row] };
    // SAFETY: as above.
    unsafe { (*page).rows[row] = was + 1 };
    pool.descriptor(buffer)
        .flags
        .fetch_or(DIRTY, std::sync::atomic::Ordering::AcqRel);
    let died = Died {
        block: buffer as u32,
        row: row as u32,
        was,
        made: was + 1,
    };
    // For the check only: a real dying process leaves no note.
    let _ = notebook.write(
        line,
        &Progress {
            died: Some(died),
            ..progress
        },
    );
    let _ = kill(getpid(), Signal::SIGKILL);
    unreachable!("SIGKILL to oneself is delivered before kill returns");
}

/// Waits, as an idle session does, for SIGTERM (PostgreSQL's `die`: "terminating connection
/// due to administrator command", exit 1) or for the postmaster's death (EOF on the pipe
/// whose write end only the postmaster holds; exit 1 too).
fn idle_until_told(alive_watch: &OwnedFd) -> Result<String> {
    let sigterm = Signals::block(&[Signal::SIGTERM])?; // blocked since fork
    loop {
        let mut fds = [
            PollFd::new(sigterm.fd(), PollFlags::POLLIN),
            PollFd::new(alive_watch.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
        if sigterm.take()?.is_some() {
            return Ok("terminating connection due to administrator command".into());
        }
        if fds[1].any().unwrap_or(false) && read(alive_watch.as_fd(), &mut [0; 1]) == Ok(0) {
            return Ok("terminating connection due to unexpected postmaster exit".into());
        }
    }
}
// ANCHOR_END: backend

/// How a round ended.
enum Outcome {
    /// Every backend finished its work (and, with --hold, Enter was pressed).
    Done,
    /// A child ended in a way that is a crash.
    Crash(Role, Pid, Exit),
}

// ANCHOR: serve
/// `ServerLoop`: sleeps in `poll` until a child ends (SIGCHLD, from the signalfd), a child
/// reports, or (with --hold) Enter is pressed. Reaps with `waitpid(pid, WNOHANG)`.
fn serve(server: &mut Server, signals: &Signals, hold: bool) -> Result<Outcome> {
    let backends = server
        .children
        .iter()
        .filter(|(role, _)| matches!(role, Role::Backend(_)))
        .count();
    let mut reports = BufReader::new(File::from(server.reports.try_clone()?));
    let mut done = 0;
    let stdin = std::io::stdin();
    loop {
        let all_done = done == backends;
        if all_done && !hold {
            return Ok(Outcome::Done);
        }
        let mut fds = vec![
            PollFd::new(signals.fd(), PollFlags::POLLIN),
            PollFd::new(server.reports.as_fd(), PollFlags::POLLIN),
        ];
        if all_done {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(Error::sys("poll")(errno)),
        }
        let ready = |i: usize| fds.get(i).is_some_and(|fd| fd.any().unwrap_or(false));
        let (signal_ready, report_ready, enter) = (ready(0), ready(1), ready(2));
        drop(fds);
        if signal_ready {
            while let Some(signal) = signals.take()? {
                if signal != Signal::SIGCHLD {
                    return Err(Error::Failed(format!(
                        "interrupted by {}: every child stopped, shared memory removed",
                        signal.as_str()
                    )));
                }
            }
            if let Some(crash) = reap_any(server)? {
                return Ok(crash);
            }
        }
        if report_ready {
            // One read may bring several lines: take every whole line it buffered.
            loop {
                let mut line = String::new();
                reports.read_line(&mut line)?;
                if line.starts_with("Backend(") && line.contains("\tdone:") {
                    done += 1;
                }
                if !reports.buffer().contains(&b'\n') {
                    break;
                }
            }
        }
        if enter {
            let mut line = String::new();
            stdin.lock().read_line(&mut line)?;
            return Ok(Outcome::Done);
        }
        if all_done != (done == backends) && hold {
            parent!(
                "the backends are done and wait like idle sessions; press Enter to shut \
                 down, or kill -9 one of them from another terminal"
            );
        }
    }
}

/// Reaps every child that has ended. A crash is returned; any other exit during the work
/// means something failed (its report says what).
fn reap_any(server: &mut Server) -> Result<Option<Outcome>> {
    let mut i = 0;
    while i < server.children.len() {
        let (role, child) = &mut server.children[i];
        let (role, pid) = (*role, child.pid());
        match child.try_wait()? {
            None => i += 1,
            Some(exit) if is_crash(role, exit) => {
                server.children.remove(i);
                return Ok(Some(Outcome::Crash(role, pid, exit)));
            }
            Some(exit) => {
                return Err(Error::Failed(format!(
                    "{role} (child pid {pid}) {exit} during the work: see its error above"
                )));
            }
        }
    }
    Ok(None)
}
// ANCHOR_END: serve

// ANCHOR: crash
/// `HandleChildCrash`: log the exit, SIGQUIT everyone else, SIGKILL after the grace period.
fn handle_child_crash(server: &mut Server, role: Role, pid: Pid, exit: Exit) -> Result<()> {
    step("The crash: the postmaster hears of it from waitpid");
    parent!("SIGCHLD; waitpid: {role} (child pid {pid}) {exit}");
    parent!("LOG:  {}", log_child_exit(role, pid.as_raw(), exit));
    parent!("LOG:  terminating any other active server processes");
    let others = server.children.len();
    parent!(
        "kill(pid, SIGQUIT) to the {others} others; SIGKILL for whoever is left after {} s",
        GRACE.as_secs()
    );
    let mut ended = terminate_children(&mut server.children, GRACE)?;
    ended.sort_by_key(|(role, _, _)| *role);
    let mut backends: Vec<(usize, Exit)> = Vec::new();
    for (role, pid, exit) in &ended {
        match role {
            Role::Backend(n) => backends.push((*n, *exit)),
            _ => parent!("{role} (child pid {pid}) {exit}"),
        }
    }
    // Backends were working, waiting for the dead one's page lock, or idle: all alike now.
    let numbers: Vec<String> = backends.iter().map(|(n, _)| n.to_string()).collect();
    let how = match role {
        Role::Backend(n) => format!("working, idle, or stuck on backend {n}'s page lock"),
        _ => "working or idle".into(),
    };
    match backends.first() {
        Some(&(_, exit)) if backends.iter().all(|(_, e)| *e == exit) => parent!(
            "{} {} ({how}): {}{exit}",
            if backends.len() == 1 {
                "backend"
            } else {
                "backends"
            },
            numbers.join(", "),
            if backends.len() == 1 { "" } else { "each " },
        ),
        _ => {
            for (n, exit) in &backends {
                parent!("backend {n} {exit}");
            }
        }
    }
    let killed = ended
        .iter()
        .filter(|(_, _, exit)| *exit == Exit::Signal(Signal::SIGKILL))
        .count();
    parent!("needed SIGKILL: {killed} (each left at its SIGQUIT, through quickdie: _exit(2))");
    Ok(())
}
// ANCHOR_END: crash

// ANCHOR: reinitialize
/// All children are gone: remove shared memory and create it again.
fn reinitialize(
    shmem: SharedMemory,
    dir: &Path,
    options: &Options,
    lock: &mut LockFile,
) -> Result<SharedMemory> {
    step("Reinitialize: new shared memory, the old one thrown away");
    parent!("LOG:  all server processes terminated; reinitializing");
    let (key, shmid) = (shmem.interlock.key, shmem.shmid());
    parent!(
        "shm_nattch = {}: only the postmaster is attached",
        stat(shmid)?.nattch
    );
    shmem.remove()?;
    parent!(
        "shmdt, IPC_RMID: shmid {shmid} removed; munmap: the region is gone, the dead \
         backend's page lock and its half-made change with it"
    );
    create_shared_memory(dir, options, lock, Some((key, shmid)))
}
// ANCHOR_END: reinitialize

// ANCHOR: shutdown
/// A fast shutdown: SIGTERM to the backends; the writers' and the checkpointer's pipes.
fn shut_down(mut server: Server, lock: &mut LockFile) -> Result<()> {
    step("Shut down (fast): the backends, the writers, the shutdown checkpoint");
    lock.update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    let wait_for = |server: &mut Server, which: fn(Role) -> bool| -> Result<()> {
        let mut i = 0;
        while i < server.children.len() {
            if !which(server.children[i].0) {
                i += 1;
                continue;
            }
            let (role, child) = server.children.remove(i);
            let pid = child.pid();
            let exit = child.wait()?;
            parent!("{role} (child pid {pid}) {exit}");
            if is_crash(role, exit) {
                return Err(Error::Failed(format!(
                    "abnormal database system shutdown: {}",
                    log_child_exit(role, pid.as_raw(), exit)
                )));
            }
        }
        Ok(())
    };
    for (role, child) in &server.children {
        if matches!(role, Role::Backend(_)) {
            kill(child.pid(), Signal::SIGTERM).map_err(Error::sys("kill"))?;
        }
    }
    parent!("SIGTERM to every backend: terminating connection due to administrator command");
    wait_for(&mut server, |role| matches!(role, Role::Backend(_)))?;
    let ask = |fd: &OwnedFd| write(fd, &[SHUTDOWN]).map_err(Error::sys("write"));
    ask(&server.walwriter)?;
    ask(&server.bgwriter)?;
    wait_for(&mut server, |role| {
        matches!(role, Role::WalWriter | Role::BgWriter)
    })?;
    parent!("LOG:  shutting down");
    ask(&server.checkpointer)?; // PostgreSQL 15 sends it SIGUSR2
    wait_for(&mut server, |role| role == Role::Checkpointer)?;
    parent!("LOG:  database system is shut down");
    Ok(())
}
// ANCHOR_END: shutdown

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

// ANCHOR: ready
/// Scene 2's postmaster tells the lesson its children's roles and PIDs, then "ready".
fn tell_ready(pipe: OwnedFd, server: &Server) -> Result<()> {
    let mut text = String::new();
    for (role, child) in &server.children {
        text += &format!("{role:?} {}\n", child.pid());
    }
    text += &format!("ready {}\n", NEXT_STEP.load(Ordering::Relaxed));
    write(&pipe, text.as_bytes()).map_err(Error::sys("write"))?;
    Ok(())
}
// ANCHOR_END: ready

// ANCHOR: postmaster_killed
/// Scene 2: a postmaster in a child of ours, killed with SIGKILL while its children work;
/// its orphans come to us (a child subreaper) and leave; then a new start in its directory.
fn postmaster_killed(dir: &Path, options: &Options) -> Result<()> {
    // Orphans are given to the nearest subreaper ancestor instead of init: to us.
    nix::sys::prctl::set_child_subreaper(true).map_err(Error::sys("prctl"))?;
    let (ready_read, ready_write) = pipe()?;
    let (read_end, write_end) = (ready_read.as_raw_fd(), ready_write.as_raw_fd());
    let postmaster_child = fork_child(|| {
        close_inherited(&[read_end]);
        // SAFETY: this child's copy of `ready_write` is never dropped (children leave with
        // _exit): the descriptor gets one owner here, which closes it once.
        let ready = unsafe { OwnedFd::from_raw_fd(write_end) };
        match postmaster(dir, options, Start::Fresh, None, false, Some(ready)) {
            Ok(()) => 0,
            Err(err) => {
                eprintln!("error: {err}");
                1
            }
        }
    })?;
    drop(ready_write);
    let children = read_ready(ready_read)?;
    step("kill -9 the postmaster while its children work");
    let pid = postmaster_child.pid();
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!(
        "kill(PID {pid}, SIGKILL): the postmaster; waitpid: {}",
        postmaster_child.wait()?
    );
    parent!("its children are orphans now, given to us (PR_SET_CHILD_SUBREAPER); they:");
    let orphans = reap_orphans(&children)?;
    for (role, pid, exit) in orphans {
        parent!("  {role} (child pid {pid}) {exit}");
    }
    parent!(
        "(the writers saw EOF on their pipes at once; the backends finished their work, \
         then saw EOF while idle; the checkpointer, once the backends had closed its pipe)"
    );
    let text = read_lock_file(dir)?.unwrap_or_default();
    let pid_file = l07_postgres_hybrid::PidFile::parse(&text)
        .ok_or_else(|| Error::Failed("postmaster.pid is gone or garbled".into()))?;
    let (key, shmid) = pid_file
        .shmem
        .ok_or_else(|| Error::Failed("postmaster.pid has no line 7".into()))?;
    parent!(
        "left behind: postmaster.pid (PID {}: running: {}), {CONTROL_FILE}: {}",
        pid_file.pid,
        yes(owner_alive(pid_file.pid)),
        ControlFile::read(dir)?.state.name()
    );
    parent!(
        "left behind: the interlock, key {} shmid {shmid}, shm_nattch = {}",
        key_hex(key),
        stat(shmid)?.nattch
    );
    nix::sys::prctl::set_child_subreaper(false).map_err(Error::sys("prctl"))?;
    postmaster(dir, options, Start::AsItIs, None, false, None)
}

/// Reads the children's roles and PIDs until "ready" (or EOF: the postmaster failed).
fn read_ready(pipe: OwnedFd) -> Result<Vec<(Role, Pid)>> {
    let mut children = Vec::new();
    for line in BufReader::new(File::from(pipe)).lines() {
        let line = line?;
        if let Some(next_step) = line.strip_prefix("ready ") {
            let next_step = next_step.parse().unwrap_or(1);
            NEXT_STEP.store(next_step, Ordering::Relaxed);
            return Ok(children);
        }
        let (role, pid) = line.rsplit_once(' ').unwrap_or_default();
        let role = match role {
            "Checkpointer" => Role::Checkpointer,
            "BgWriter" => Role::BgWriter,
            "WalWriter" => Role::WalWriter,
            other => Role::Backend(
                other
                    .trim_start_matches("Backend(")
                    .trim_end_matches(')')
                    .parse()
                    .map_err(|_| Error::Failed(format!("bad line {line:?}")))?,
            ),
        };
        let pid = pid
            .parse()
            .map_err(|_| Error::Failed(format!("bad line {line:?}")))?;
        children.push((role, Pid::from_raw(pid)));
    }
    Err(Error::Failed(
        "the postmaster failed before it was ready".into(),
    ))
}

/// `waitpid(-1)` until there is no child left: each orphan, as it exits.
fn reap_orphans(children: &[(Role, Pid)]) -> Result<Vec<(Role, Pid, Exit)>> {
    use nix::sys::wait::{WaitStatus, waitpid};
    let mut ended = Vec::new();
    loop {
        let (pid, exit) = match waitpid(None, None) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => break,
            Err(errno) => return Err(Error::sys("waitpid")(errno)),
        };
        if let Some((role, _)) = children.iter().find(|(_, p)| *p == pid) {
            ended.push((*role, pid, exit));
        }
    }
    ended.sort_by_key(|(role, _, _)| *role);
    Ok(ended)
}
// ANCHOR_END: postmaster_killed
