//! Lesson 14: a mini postmaster.
//!
//! `start DIR` does what PostgreSQL's postmaster does, in small: it takes the data directory
//! (lock file), adds up the size of its shared memory, creates lesson 07's hybrid (one big
//! anonymous mapping, a tiny System V segment as the interlock), lays out lesson 13's region
//! in the mapping's place and creates its structures by name, then forks a checkpointer, a
//! background writer, a WAL writer and N backends. From then on it only waits for signals
//! (SIGCHLD, SIGTERM, SIGINT, read from a signalfd), reaps and forks: it never touches shared
//! memory again. The backends update rows under page LWLocks and commit each update by
//! flushing its WAL record; the checkpointer writes every dirty page when the WAL has grown
//! enough, and once more at shutdown. Last, the postmaster checks the files against what the
//! backends did. With `--hold` the server stays up after the workload until SIGTERM or
//! SIGINT; `status DIR` shows such a running server as `ps`, `ipcs` and `/proc` see it.
//! Every step is ordered by a signal, `waitpid` or a pipe; the only timeouts are the two
//! writers' naps between rounds.
//!
//! The story is in this file, in the order it runs; the rest of the binary is in modules:
//! [`signals`] (the blocked signals and their signalfd), [`backend`] (a backend's work),
//! [`server_loop`] (reaping and shutdown requests), [`check`] (the files against the reports)
//! and [`status`] (the `status` subcommand).

mod backend;
mod check;
mod server_loop;
mod signals;
mod status;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{Parser, Subcommand};
use common::{Child, Error, OnParentDeath, Result, fork_child_with, parent, section};
use l05_sysv_segments::stat;
use l06_keys_and_strangers::{Created, Found, Probe, key_hex};
use l07_postgres_hybrid::{
    LockFile, Note, STATUS_READY, STATUS_STOPPING, ShmemPart, create_interlock, lock_data_dir, now,
    shmem_size,
};
use l13_shmem_index::{Segment, allocation_table};
use l14_mini_postmaster::processes::{SHUTDOWN, bgwriter, checkpointer, walwriter};
use l14_mini_postmaster::storage::{
    CONTROL_FILE, ControlFile, DataFiles, DbState, TABLE_FILE, WAL_FILE,
};
use l14_mini_postmaster::{INDEX_CAPACITY, Pool, UPDATES_PER_BACKEND, region_parts};
use nix::fcntl::OFlag;
use nix::unistd::{Pid, pipe2, write};

use backend::{Report, backend};
use check::{check, what_they_did};
use common::Signals;
use server_loop::{report_exits, server_loop};

/// A mini PostgreSQL postmaster: shared memory, a checkpointer, a background writer, a WAL
/// writer and backends, started and stopped in order.
#[derive(Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = "Without a command it runs `start $TMPDIR/l14-mini-postmaster` (/tmp when \
                  TMPDIR is unset; the directory is made if missing) with the options above: \
                  the workload, then a shutdown."
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Start a mini postmaster in data directory DIR, run the workload, stop. SIGTERM stops
    /// it once the backends are done (smart shutdown), SIGINT (Ctrl-C) at once (fast).
    Start {
        /// The data directory (it must exist). The table, the WAL and the control file are
        /// created anew in it.
        dir: PathBuf,
        /// After the workload, keep the server up (the postmaster and its three background
        /// processes) until SIGTERM or SIGINT, so that `status DIR`, `ps` and `ipcs` can see it.
        #[arg(long)]
        hold: bool,
        #[command(flatten)]
        options: Options,
    },
    /// Show the server running in DIR as `ps`, `ipcs -m` and /proc/PID/maps see it. Exits
    /// with status 3 when no server runs there (as `pg_ctl status` does).
    Status {
        /// The data directory of a server started with `start DIR --hold`.
        dir: PathBuf,
    },
}

/// The workload's size: for `start`, and for a run without a command.
#[derive(clap::Args)]
struct Options {
    /// How many backends to fork (each makes 100 updates).
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = common::up_to::<{ MAX_WORKERS }>)]
    workers: u64,
    /// How many 8192-byte buffers (pages of the table) the buffer pool holds.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = common::up_to::<{ MAX_BUFFERS }>)]
    buffers: u64,
}

/// Each LWLock has 72 process slots (lesson 11): backends, plus the three writers.
const MAX_WORKERS: u64 = 64;
/// Pages of the table: 8 MiB of buffers at most.
const MAX_BUFFERS: u64 = 1024;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Some(Command::Start { dir, hold, options }) => start(&dir, &options, hold),
        Some(Command::Status { dir }) => status::status(&dir),
        None => {
            // A directory of our own, always the same one, as lesson 07 does.
            let dir = std::env::temp_dir().join("l14-mini-postmaster");
            std::fs::create_dir_all(&dir)?;
            start(&dir, &args.options, false)
        }
    }
}

/// Who a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    Checkpointer,
    BgWriter,
    WalWriter,
    Backend(usize),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::Checkpointer => write!(f, "checkpointer"),
            Role::BgWriter => write!(f, "background writer"),
            Role::WalWriter => write!(f, "walwriter"),
            Role::Backend(n) => write!(f, "backend {n}"),
        }
    }
}

impl Role {
    /// The name the child gives itself (`prctl(PR_SET_NAME)`, at most 15 bytes): what
    /// `ps -o comm` and /proc/PID/comm show.
    fn process_name(self) -> String {
        match self {
            Role::Checkpointer => "checkpointer".into(),
            Role::BgWriter => "bgwriter".into(),
            Role::WalWriter => "walwriter".into(),
            Role::Backend(n) => format!("backend {n}"),
        }
    }
}

/// Smart (SIGTERM): let the backends finish. Fast (SIGINT): tell them to stop now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Shutdown {
    Smart,
    Fast,
}

/// Everything a start creates but the region. Fields drop in the order declared: children
/// killed and reaped, pipes closed, the interlock removed, the lock file deleted. (The
/// region is declared before it in `start`, so it is unmapped after.)
struct Server {
    children: Vec<(Role, Child)>,
    /// The postmaster's ends of the pipes its background processes wait on (their latches).
    requests: Requests,
    reports: OwnedFd,
    report_write: Option<OwnedFd>,
    /// Where SIGCHLD, SIGTERM and SIGINT wait for the server loop (they are blocked).
    signals: Signals,
    /// The shutdown requested so far, if any.
    shutdown: Option<Shutdown>,
    interlock: Option<Created>,
    lock: Option<LockFile>,
}

/// Write ends of the background processes' pipes (see [`processes`]).
struct Requests {
    checkpointer: OwnedFd,
    bgwriter: OwnedFd,
    walwriter: OwnedFd,
}

/// Section headings, numbered as the run goes (`--hold` adds one).
fn step(title: &str) {
    static STEP: AtomicU32 = AtomicU32::new(0);
    section(&format!(
        "{}. {title}",
        STEP.fetch_add(1, Ordering::Relaxed) + 1
    ));
}

fn start(dir: &Path, options: &Options, hold: bool) -> Result<()> {
    let (workers, buffers) = (options.workers as usize, options.buffers as usize);
    let wal_records = workers * UPDATES_PER_BACKEND;
    let parts = region_parts(buffers, wal_records);
    let size = shmem_size(&parts).expect("the options are bounded");
    // From here on SIGCHLD, SIGTERM and SIGINT wait in the signalfd: a Ctrl-C now is read by
    // the server loop later, and cannot kill us halfway through creating things.
    let signals = signals::block()?;
    let lock = take_the_directory(dir)?;
    show_the_size(&parts, size);
    let (region, mut server) = create_shared_memory(dir, size, lock, signals)?;
    {
        let pool = create_the_structures(&region, buffers, wal_records)?;
        fork_the_children(&mut server, &pool, dir, workers, wal_records)?;
    } // the postmaster's view of the structures ends here: it never touches them again
    run_and_reap(&mut server, workers)?;
    if hold {
        hold_until_told(&mut server, dir)?;
    }
    shut_down(&mut server)?;
    let updates = what_they_did(&mut server, workers)?;
    check(dir, buffers, &updates)?;
    clean_up(server, region)
}

// ANCHOR: lock
fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    step(&format!(
        "Take the data directory: {}",
        lock.path().display()
    ));
    parent!("the postmaster is parent pid {}", std::process::id());
    // What a server that died without cleaning up (kill -9) left behind, and what became of it.
    for note in notes {
        match note {
            Note::StaleLockFile { pid } => parent!(
                "found a lock file of PID {pid}, which is not running: another server might \
                 have been running; trying to start anyway"
            ),
            Note::RemovedSegment { key, shmid } => parent!(
                "its segment (key {}, shmid {shmid}) is ours and nobody has it attached: \
                 removed it",
                key_hex(key)
            ),
            Note::LeftSegment { shmid, found } => {
                parent!("its segment shmid {shmid} is {found} now: left it alone")
            }
        }
    }
    parent!("open(\"postmaster.pid\", O_CREAT|O_EXCL, 0600): created; the directory is ours");
    DataFiles::create(dir)?;
    parent!("initdb: empty {TABLE_FILE} (the table) and {WAL_FILE}; {CONTROL_FILE}: shut down");
    Ok(lock)
}
// ANCHOR_END: lock

// ANCHOR: size
fn show_the_size(parts: &[ShmemPart], size: usize) {
    step("Size shared memory: a sum of parts (CalculateShmemSize)");
    let row = |name: &str, bytes: usize| println!("  {name:<32}{bytes:>12}");
    row("fixed slop", l07_postgres_hybrid::SLOP);
    for part in parts {
        row(&part.name, part.size);
    }
    println!("  {}", "-".repeat(44));
    row(
        "sum",
        l07_postgres_hybrid::SLOP + parts.iter().map(|p| p.size).sum::<usize>(),
    );
    row("rounded up to a multiple of 8192", size);
}
// ANCHOR_END: size

// ANCHOR: create
fn create_shared_memory(
    dir: &Path,
    size: usize,
    lock: LockFile,
    signals: Signals,
) -> Result<(Segment, Server)> {
    step("Create shared memory: the big mapping and the interlock");
    let region = Segment::create(size, INDEX_CAPACITY)?;
    parent!(
        "mmap(NULL, {size}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        region.shmem().base() as usize
    );
    parent!("laid out as lesson 13's region: header, ShmemIndex, bump allocator");
    // Lesson 06's search for a free key reports every segment it meets on its way.
    let interlock = create_interlock(dir, &mut |probe: &Probe| {
        let (key, shmid) = (key_hex(probe.key), probe.shmid);
        match probe.found {
            Found::Stranger => parent!("key {key}: shmid {shmid} is a stranger's: next key"),
            Found::OursStale => parent!("key {key}: shmid {shmid} is ours, stale: removed it"),
            Found::Gone => parent!("key {key}: shmid {shmid} vanished: try again"),
            Found::OursInUse { .. } => {}
        }
    })?;
    let (key, shmid) = (interlock.key, interlock.segment.id());
    parent!(
        "shmget(key {}, ..., IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}: the interlock, attached",
        key_hex(key)
    );
    let (reports, report_write) = pipe()?;
    let mut server = Server {
        children: Vec::new(),
        requests: Requests {
            checkpointer: pipe()?.1,
            bgwriter: pipe()?.1,
            walwriter: pipe()?.1,
        },
        reports,
        report_write: Some(report_write),
        signals,
        shutdown: None,
        interlock: Some(interlock),
        lock: Some(lock),
    };
    server.lock.as_mut().expect("just set").update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_READY.into());
    })?;
    parent!("postmaster.pid line 7: key and shmid; line 8: {STATUS_READY:?}");
    Ok((region, server))
}

/// A pipe whose ends are closed by exec (there is none here) and by dropping them.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))
}
// ANCHOR_END: create

// ANCHOR: structures
fn create_the_structures(region: &Segment, buffers: usize, wal_records: usize) -> Result<Pool<'_>> {
    step("Create the structures by name (CreateSharedMemoryAndSemaphores)");
    let (pool, found) = Pool::attach(region.shmem(), buffers, wal_records)?;
    for (name, offset, found) in found {
        parent!("init_struct({name:?}) -> offset {offset:>6}, found = {found}");
    }
    parent!("SELECT name, off, size, allocated_size FROM pg_shmem_allocations ORDER BY off;");
    for line in allocation_table(pool.shmem.allocations()) {
        println!("  {line}");
    }
    Ok(pool)
}
// ANCHOR_END: structures

// ANCHOR: fork
fn fork_the_children(
    server: &mut Server,
    pool: &Pool,
    dir: &Path,
    workers: usize,
    wal_records: usize,
) -> Result<()> {
    step("Fork the children (StartChildProcess); the postmaster keeps out of shmem");
    // Each background process waits on the read end of its own pipe.
    let (checkpointer_wait, checkpointer_requests) = pipe()?;
    let (bgwriter_wait, bgwriter_requests) = pipe()?;
    let (walwriter_wait, walwriter_requests) = pipe()?;
    let inherited = [
        checkpointer_requests.as_raw_fd(),
        bgwriter_requests.as_raw_fd(),
        walwriter_requests.as_raw_fd(),
    ];
    ControlFile {
        state: DbState::InProduction,
        ..ControlFile::read(dir)?
    }
    .write(dir)?;
    let report_pipe = server.report_write.as_ref().expect("open until all forked");
    let mut roles = vec![Role::Checkpointer, Role::BgWriter, Role::WalWriter];
    roles.extend((1..=workers).map(Role::Backend));
    let signals = &server.signals;
    for role in roles {
        let child = fork_child_with(OnParentDeath::ExitAtSafePoints, || {
            signals::child_init(signals, role);
            let outcome = match role {
                Role::Checkpointer => {
                    close_inherited(&inherited);
                    checkpointer(pool, dir, &checkpointer_wait).map(Report::of_writer)
                }
                Role::BgWriter => {
                    close_inherited(&inherited);
                    bgwriter(pool, dir, &bgwriter_wait).map(Report::of_writer)
                }
                Role::WalWriter => {
                    close_inherited(&inherited);
                    walwriter(pool, dir, &walwriter_wait).map(Report::of_writer)
                }
                // A backend keeps the checkpointer's request pipe, to ask for checkpoints.
                Role::Backend(n) => {
                    close_inherited(&inherited[1..]);
                    backend(pool, dir, n, wal_records, &checkpointer_requests)
                }
            };
            let report = outcome.unwrap_or_else(|err| Report {
                updates: 0,
                text: format!("failed: {err}"),
                status: 1,
            });
            let line = format!(
                "{role:?}\t{}\t{role} (child pid {}): {}\n",
                report.updates,
                std::process::id(),
                report.text
            );
            // One write of less than PIPE_BUF bytes: never interleaved with another's.
            if write(report_pipe, line.as_bytes()).is_err() {
                return 2;
            }
            report.status
        })?;
        server.children.push((role, child));
    }
    server.report_write = None; // only the children write reports now
    server.requests = Requests {
        checkpointer: checkpointer_requests,
        bgwriter: bgwriter_requests,
        walwriter: walwriter_requests,
    };
    parent!("{CONTROL_FILE}: in production");
    parent!(
        "the process tree, each child under the name it gives itself, as ps -o pid,ppid,comm \
         shows it (bgwriter is the background writer):"
    );
    let children: Vec<(Pid, String)> = server
        .children
        .iter()
        .map(|(role, child)| (child.pid(), role.process_name()))
        .collect();
    for line in status::tree(Pid::this(), &children) {
        parent!("{line}");
    }
    Ok(())
}

/// Closes this child's copies of the postmaster's ends of the request pipes: a background
/// process must see end-of-file when the postmaster dies.
fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: in this child the descriptor belongs to our copy of an OwnedFd that is
        // never dropped here (children leave with _exit): it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
// ANCHOR_END: fork

// ANCHOR: run
fn run_and_reap(server: &mut Server, workers: usize) -> Result<()> {
    step("The backends work; the postmaster sleeps in its server loop (ServerLoop, reaper)");
    let reaped = server_loop(
        server,
        |role| matches!(role, Role::Backend(_)),
        |server| {
            !server
                .children
                .iter()
                .any(|(role, _)| matches!(role, Role::Backend(_)))
        },
    )?;
    parent!(
        "SIGCHLD, waitpid(-1, WNOHANG) until none is left: reaped {workers} backends (listed \
         by number, not by when they ended):"
    );
    report_exits(&reaped, server.shutdown == Some(Shutdown::Fast))
}

/// `--hold`: the backends are gone; the server stays up until SIGTERM or SIGINT.
fn hold_until_told(server: &mut Server, dir: &Path) -> Result<()> {
    step("Hold: the server stays up until SIGTERM (smart) or SIGINT (fast, Ctrl-C)");
    parent!(
        "holding: postmaster parent pid {} and its checkpointer, bgwriter and walwriter are \
         up; run `cargo run -p l14-mini-postmaster -- status {}`; stop with SIGTERM or Ctrl-C",
        std::process::id(),
        dir.display()
    );
    std::io::stdout().flush()?;
    server_loop(server, |_| false, |server| server.shutdown.is_some())?;
    Ok(())
}

fn shut_down(server: &mut Server) -> Result<()> {
    step("Shut down: backends are gone; the writers stop, the checkpointer checkpoints");
    if server.shutdown.is_none() {
        parent!("the workload is done: the same steps as a smart shutdown");
    }
    server
        .lock
        .as_mut()
        .expect("alive")
        .update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    parent!("postmaster.pid line 8: {STATUS_STOPPING:?}");
    let shmid = server.interlock.as_ref().expect("alive").segment.id();
    parent!(
        "shm_nattch = {}: the postmaster and the three background processes",
        stat(shmid)?.nattch
    );
    let ask = |fd: &OwnedFd| write(fd, &[SHUTDOWN]).map_err(Error::sys("write"));
    ask(&server.requests.walwriter)?;
    ask(&server.requests.bgwriter)?;
    let writers = |role: Role| matches!(role, Role::WalWriter | Role::BgWriter);
    let reaped = server_loop(server, writers, |server| {
        !server.children.iter().any(|(role, _)| writers(*role))
    })?;
    report_exits(&reaped, false)?;
    ask(&server.requests.checkpointer)?; // PostgreSQL ≤ 17 sends it SIGUSR2
    let reaped = server_loop(
        server,
        |role| role == Role::Checkpointer,
        |server| server.children.is_empty(),
    )?;
    report_exits(&reaped, false)
}
// ANCHOR_END: run

// ANCHOR: clean_up
fn clean_up(mut server: Server, region: Segment) -> Result<()> {
    step("Leave nothing behind");
    let interlock = server.interlock.take().expect("alive");
    let shmid = interlock.segment.id();
    parent!("shm_nattch = {}: every child is gone", stat(shmid)?.nattch);
    let Created {
        segment,
        attachment,
        ..
    } = interlock;
    drop(attachment);
    segment.remove()?;
    parent!("shmdt, IPC_RMID: shmid {shmid} removed");
    let lock = server.lock.take().expect("alive");
    let path = lock.path().to_path_buf();
    drop(server);
    drop(region); // munmap: the region, and every structure in it
    parent!("munmap: the big mapping is gone");
    lock.delete()?;
    parent!("deleted {}", path.display());
    parent!("database system is shut down");
    Ok(())
}
// ANCHOR_END: clean_up
