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

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use clap::{Parser, Subcommand};
use common::{Child, Error, Exit, Result, fork_child, parent, section};
use l05_sysv_segments::stat;
use l06_keys_and_strangers::{Created, key_hex};
use l07_postgres_hybrid::{
    LOCK_FILE, LockFile, PidFile, STATUS_READY, STATUS_STOPPING, ShmemPart, create_interlock,
    lock_data_dir, now, shmem_size,
};
use l13_shmem_index::{Segment, allocation_table};
use l14_mini_postmaster::processes::{CHECKPOINT, SHUTDOWN, bgwriter, checkpointer, walwriter};
use l14_mini_postmaster::storage::{
    CONTROL_FILE, ControlFile, DataFiles, DbState, TABLE_FILE, WAL_FILE,
};
use l14_mini_postmaster::{
    INDEX_CAPACITY, Pool, RECORD_SIZE, RELATION, ROWS_PER_PAGE, UPDATES_PER_BACKEND,
    checkpoint_due, region_parts, target, update_row,
};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, kill, sigprocmask};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, setsid, write};

/// A mini PostgreSQL postmaster: shared memory, a checkpointer, a background writer, a WAL
/// writer and backends, started and stopped in order.
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
    },
    /// Show the server running in DIR as `ps`, `ipcs -m` and /proc/PID/maps see it. Exits
    /// with status 3 when no server runs there (as `pg_ctl status` does).
    Status {
        /// The data directory of a server started with `start DIR --hold`.
        dir: PathBuf,
    },
}

#[derive(clap::Args)]
struct Options {
    /// How many backends to fork (each makes 100 updates).
    #[arg(long, global = true, value_name = "N", default_value_t = 4,
          value_parser = clap::value_parser!(u64).range(1..=MAX_WORKERS))]
    workers: u64,
    /// How many 8192-byte buffers (pages of the table) the buffer pool holds.
    #[arg(long, global = true, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=MAX_BUFFERS))]
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
        Some(Command::Start { dir, hold }) => start(&dir, &args.options, hold),
        Some(Command::Status { dir }) => status(&dir),
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
    let signals = Signals::block()?;
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

// ANCHOR: signals
/// The postmaster's signals: blocked, so that none interrupts anything or kills us, and
/// read one at a time from a signalfd by the server loop. (PostgreSQL 16+ also does its
/// work in `ServerLoop`; its handlers only set flags and its latch.)
struct Signals {
    fd: SignalFd,
    /// The mask before we blocked them: every child restores it first thing.
    original: SigSet,
}

impl Signals {
    fn block() -> Result<Signals> {
        let mut set = SigSet::empty();
        for signal in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
            set.add(signal);
        }
        let mut original = SigSet::empty();
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut original))
            .map_err(Error::sys("sigprocmask"))?;
        let fd =
            SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC).map_err(Error::sys("signalfd"))?;
        Ok(Signals { fd, original })
    }

    /// Sleeps until one of them arrives.
    fn next(&self) -> Result<Signal> {
        loop {
            match self.fd.read_signal() {
                Ok(Some(info)) => match Signal::try_from(info.ssi_signo as i32) {
                    Ok(signal) => return Ok(signal),
                    Err(_) => continue,
                },
                Ok(None) | Err(Errno::EINTR) => continue,
                Err(errno) => return Err(Error::sys("read(signalfd)")(errno)),
            }
        }
    }

    /// In a child, first thing: the signal mask it had before the postmaster blocked them,
    /// no signalfd (it reads the postmaster's signals), a session of its own (Ctrl-C in the
    /// terminal goes to the postmaster only, as PostgreSQL's children call `setsid`), and a
    /// name for `ps`.
    /// A backend keeps SIGTERM blocked from the start: it reads it at a safe point (see
    /// [`backend`]), and one sent before it got there must not kill it.
    fn child_init(&self, role: Role) {
        let mut mask = self.original;
        if let Role::Backend(_) = role {
            mask.add(Signal::SIGTERM);
        }
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&mask), None);
        close_inherited(&[self.fd.as_raw_fd()]);
        let _ = setsid();
        let name = CString::new(role.process_name()).expect("no NUL in a name");
        let _ = nix::sys::prctl::set_name(&name);
    }
}
// ANCHOR_END: signals

// ANCHOR: lock
fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let lock = lock_data_dir(dir, now(), &mut Vec::new())?;
    step(&format!(
        "Take the data directory: {}",
        lock.path().display()
    ));
    parent!("the postmaster is parent pid {}", std::process::id());
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
    let interlock = create_interlock(dir, &mut |_| {})?;
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
        let child = fork_child(|| {
            signals.child_init(role);
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
    parent!("PID    ROLE (ps -o pid,ppid,comm shows the names the children give themselves)");
    parent!("postmaster               parent pid {}", std::process::id());
    let last = server.children.len() - 1;
    for (i, (role, child)) in server.children.iter().enumerate() {
        let branch = if i == last { "└─" } else { "├─" };
        parent!(
            "{branch} {:<21} child pid {}",
            role.to_string(),
            child.pid()
        );
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

/// What a child reports when it ends: how many updates it committed (backends), a line of
/// text, and its exit status.
struct Report {
    updates: usize,
    text: String,
    status: i32,
}

impl Report {
    fn of_writer(text: String) -> Report {
        Report {
            updates: 0,
            text,
            status: 0,
        }
    }
}

// ANCHOR: backend
/// A backend: finds the structures by name, takes its relation lock, and makes its updates,
/// each a transaction of its own: changed under the page's LWLock, then committed by
/// flushing the WAL up to its record (`synchronous_commit = on`). Asks the checkpointer for
/// a checkpoint when its record crossed the checkpoint distance (`XLogCheckpointNeeded`).
/// A SIGTERM (fast shutdown) waits, blocked, until the update in progress is committed, and
/// ends the backend there with status 1 (PostgreSQL's `die` and `CHECK_FOR_INTERRUPTS`).
fn backend(
    pool: &Pool,
    dir: &Path,
    number: usize,
    wal_records: usize,
    checkpoint_requests: &OwnedFd,
) -> Result<Report> {
    let interrupts = interrupts_at_safe_points()?;
    let (pool, found) = Pool::attach(pool.shmem, pool.buffers, wal_records)?;
    let found = found.iter().filter(|(_, _, found)| *found).count();
    let files = DataFiles::open(dir)?;
    pool.lock_relation(RELATION)?;
    let mut pages = std::collections::BTreeSet::new();
    let mut updates = 0;
    let mut terminated = false;
    for i in 0..UPDATES_PER_BACKEND {
        let (buffer, row) = target(number, i, pool.buffers);
        let lsn = update_row(&pool, buffer, row)?;
        if checkpoint_due(lsn) {
            write(checkpoint_requests, &[CHECKPOINT]).map_err(Error::sys("write"))?;
        }
        pool.flush_wal(lsn, &files)?; // commit: the record is on disk when this returns
        pages.insert(buffer);
        updates += 1;
        // A safe point: nothing half done. Has the postmaster asked us to stop?
        if interrupts
            .read_signal()
            .map_err(Error::sys("read(signalfd)"))?
            .is_some()
        {
            terminated = true;
            break;
        }
    }
    pool.unlock_relation(RELATION);
    let done = format!(
        "{updates} updates on {} pages under their LWLocks, each committed (WAL flushed up \
         to its record)",
        pages.len()
    );
    Ok(match terminated {
        false => Report {
            updates,
            text: format!("found {found} structures by name; {done}"),
            status: 0,
        },
        true => Report {
            updates,
            text: format!("terminating connection due to administrator command (SIGTERM): {done}"),
            status: 1,
        },
    })
}

/// A non-blocking signalfd to poll for SIGTERM, which `child_init` left blocked.
fn interrupts_at_safe_points() -> Result<SignalFd> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(Error::sys("signalfd"))
}
// ANCHOR_END: backend

// ANCHOR: reap
/// `ServerLoop`: sleeps in the signalfd and handles one signal at a time until `done`.
/// SIGCHLD: reap. SIGTERM, SIGINT: a shutdown request. A child that ends while `expected`
/// does not accept its role stops the server (lesson 15 restarts instead).
fn server_loop(
    server: &mut Server,
    expected: impl Fn(Role) -> bool,
    done: impl Fn(&Server) -> bool,
) -> Result<Vec<(Role, Pid, Exit)>> {
    let mut reaped = Vec::new();
    while !done(server) {
        match server.signals.next()? {
            Signal::SIGCHLD => {
                for (role, pid, exit) in reaper(server)? {
                    if !expected(role) {
                        return Err(Error::Failed(format!(
                            "{role} (child pid {pid}) {exit}: stopping the server"
                        )));
                    }
                    reaped.push((role, pid, exit));
                }
            }
            Signal::SIGTERM => shutdown_request(server, Shutdown::Smart)?,
            Signal::SIGINT => shutdown_request(server, Shutdown::Fast)?,
            _ => {}
        }
    }
    reaped.sort_by_key(|(role, _, _)| *role);
    Ok(reaped)
}

/// `reaper`: one SIGCHLD may stand for several exits (pending signals do not queue up), so
/// it reaps with `waitpid(-1, WNOHANG)` until no ended child is left.
fn reaper(server: &mut Server) -> Result<Vec<(Role, Pid, Exit)>> {
    let mut reaped = Vec::new();
    loop {
        let (pid, exit) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => (pid, Exit::Code(code)),
            Ok(WaitStatus::Signaled(pid, signal, _)) => (pid, Exit::Signal(signal)),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return Ok(reaped),
            Ok(_) => continue,
            Err(errno) => return Err(Error::sys("waitpid")(errno)),
        };
        let Some(at) = server.children.iter().position(|(_, c)| c.pid() == pid) else {
            continue;
        };
        let (role, child) = server.children.remove(at);
        std::mem::forget(child); // reaped already: its Drop must not kill or wait again
        reaped.push((role, pid, exit));
    }
}

/// `pmdie`: SIGTERM asks for a smart shutdown (the backends finish their work), SIGINT for a
/// fast one (the backends are told to stop now, with SIGTERM). The first request is logged;
/// a fast one after a smart one upgrades it.
fn shutdown_request(server: &mut Server, mode: Shutdown) -> Result<()> {
    if server.shutdown >= Some(mode) {
        return Ok(());
    }
    server.shutdown = Some(mode);
    match mode {
        Shutdown::Smart => parent!("received smart shutdown request"),
        Shutdown::Fast => {
            parent!("received fast shutdown request");
            let backends: Vec<Pid> = server
                .children
                .iter()
                .filter(|(role, _)| matches!(role, Role::Backend(_)))
                .map(|(_, child)| child.pid())
                .collect();
            if !backends.is_empty() {
                parent!("aborting any active transactions: SIGTERM to every backend");
            }
            for pid in backends {
                kill(pid, Signal::SIGTERM).map_err(Error::sys("kill"))?;
            }
        }
    }
    Ok(())
}
// ANCHOR_END: reap

fn report_exits(reaped: &[(Role, Pid, Exit)], fast: bool) -> Result<()> {
    for (role, pid, exit) in reaped {
        parent!("{role} (child pid {pid}) {exit}");
    }
    // Status 1 is a backend's FATAL: expected when a fast shutdown told it to stop.
    let fine = |role: &Role, exit: &Exit| {
        *exit == Exit::Code(0)
            || (fast && matches!(role, Role::Backend(_)) && *exit == Exit::Code(1))
    };
    match reaped.iter().find(|(role, _, exit)| !fine(role, exit)) {
        Some((role, pid, exit)) => Err(Error::Failed(format!(
            "{role} (child pid {pid}) {exit}: stopping the server"
        ))),
        None => Ok(()),
    }
}

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
         up; run `l14-mini-postmaster status {}`; stop with SIGTERM or Ctrl-C",
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

/// Prints the children's reports in role order; returns how many updates each backend
/// committed (backend 1 first).
fn what_they_did(server: &mut Server, workers: usize) -> Result<Vec<usize>> {
    step("What each process did (its report, read from a pipe after it exited)");
    let mut text = String::new();
    // A duplicate of our read end, owned by `file` and closed when it drops.
    let mut file = File::from(server.reports.try_clone()?);
    file.read_to_string(&mut text)?;
    let mut lines: Vec<(Role, usize, &str)> = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let (role, updates, rest) = (fields.next()?, fields.next()?, fields.next()?);
            let role = match role {
                "Checkpointer" => Role::Checkpointer,
                "BgWriter" => Role::BgWriter,
                "WalWriter" => Role::WalWriter,
                other => Role::Backend(
                    other
                        .trim_start_matches("Backend(")
                        .trim_end_matches(')')
                        .parse()
                        .ok()?,
                ),
            };
            Some((role, updates.parse().ok()?, rest))
        })
        .collect();
    lines.sort_by_key(|(role, _, _)| *role);
    let mut updates = vec![0; workers];
    for (role, done, line) in lines {
        println!("  {line}");
        if let Role::Backend(n) = role {
            updates[n - 1] = done;
        }
    }
    Ok(updates)
}

// ANCHOR: check
/// Reads the files only: what the table must hold follows from the workload and from how
/// many updates each backend committed (all of them, unless a fast shutdown stopped it).
fn check(dir: &Path, buffers: usize, committed: &[usize]) -> Result<()> {
    step("Check the files against the workload");
    let files = DataFiles::open(dir)?;
    let records = files.read_wal(0)?;
    let updates: usize = committed.iter().sum();
    let wal_end = (records.len() * RECORD_SIZE) as u64;
    parent!(
        "{WAL_FILE}: {wal_end} bytes, {} records: {updates} expected",
        records.len()
    );
    let control = ControlFile::read(dir)?;
    parent!(
        "{CONTROL_FILE}: {}, redo at LSN {}, {} checkpoints: nothing to replay",
        control.state.name(),
        control.redo,
        control.checkpoints
    );
    let mut expected = vec![[0u64; ROWS_PER_PAGE]; buffers];
    for (backend, &done) in (1..).zip(committed) {
        for i in 0..done {
            let (buffer, row) = target(backend, i, buffers);
            expected[buffer][row] += 1;
        }
    }
    let on_disk = (0..buffers)
        .map(|block| Ok(rows_of(&files.read_page(block as u32)?)))
        .collect::<Result<Vec<_>>>()?;
    let sum: u64 = on_disk.iter().flatten().sum();
    parent!("{TABLE_FILE}: {buffers} pages; the rows add up to {sum}: {updates} expected");
    // Replay from an empty table: each record sets a row, one more than it was.
    let mut replayed = vec![[0u64; ROWS_PER_PAGE]; buffers];
    let mut out_of_order = 0;
    for (_, r) in &records {
        let (block, row) = (r.block as usize, r.row as usize);
        let Some(value) = replayed.get_mut(block).and_then(|rows| rows.get_mut(row)) else {
            return Err(Error::Failed(format!(
                "a WAL record names block {block} row {row}"
            )));
        };
        if r.value != *value + 1 {
            out_of_order += 1;
        }
        *value = r.value;
    }
    let rows_match = (0..buffers)
        .flat_map(|b| (0..ROWS_PER_PAGE).map(move |r| (b, r)))
        .filter(|&(b, r)| on_disk[b][r] == expected[b][r] && replayed[b][r] == expected[b][r])
        .count();
    let total = buffers * ROWS_PER_PAGE;
    parent!(
        "replaying the whole WAL rebuilds the table: {rows_match} of {total} rows agree with \
         the file and with the workload; {out_of_order} records out of order"
    );
    if sum != updates as u64
        || records.len() != updates
        || rows_match != total
        || out_of_order != 0
        || control.state != DbState::ShutDown
        || control.redo != wal_end
    {
        return Err(Error::Failed(
            "the files do not match what the backends committed".into(),
        ));
    }
    parent!("consistent: every committed update is on disk, once, and in the WAL");
    Ok(())
}

/// The rows of a page as the table's file holds it (after its 8-byte LSN).
fn rows_of(page: &[u8]) -> [u64; ROWS_PER_PAGE] {
    std::array::from_fn(|row| {
        let at = size_of::<u64>() * (1 + row);
        u64::from_le_bytes(page[at..at + 8].try_into().expect("8 bytes"))
    })
}
// ANCHOR_END: check

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

// ANCHOR: status
/// `status DIR`, like `pg_ctl status`: is a postmaster running in DIR? If so, what `ps`,
/// `ipcs -m` and /proc/PID/maps show of it. Exit status 3 when none runs.
fn status(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: no such directory; give the path of an existing directory",
            dir.display()
        )));
    }
    let path = dir.join(LOCK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => no_server(&format!(
            "no server running in {}: there is no {LOCK_FILE}",
            dir.display()
        )),
        Err(err) => {
            return Err(Error::Failed(format!(
                "cannot read {}: {err}",
                path.display()
            )));
        }
    };
    let pid_file = PidFile::parse(&text)
        .ok_or_else(|| Error::Failed(format!("{} is damaged: no PID on line 1", path.display())))?;
    let postmaster = Pid::from_raw(pid_file.pid);
    if kill(postmaster, None) == Err(Errno::ESRCH) {
        no_server(&format!(
            "no server running in {}: {LOCK_FILE} names PID {}, which is gone (a stale lock file)",
            dir.display(),
            pid_file.pid
        ));
    }
    let line8 = pid_file.status.as_deref().unwrap_or("(none yet)");
    println!("postmaster: parent pid {postmaster}, {LOCK_FILE} line 8: {line8:?}");

    let Some((key, shmid)) = pid_file.shmem else {
        return Ok(()); // still starting: no interlock yet
    };
    let interlock = stat(shmid)?;
    println!("\nthe interlock, as ipcs -m shows it ({LOCK_FILE} line 7):");
    println!(
        "  key {}, shmid {shmid}, owner uid {}, perms {:o}, {} bytes, nattch {}",
        key_hex(key),
        interlock.uid,
        interlock.permissions(),
        interlock.size,
        interlock.nattch
    );

    println!("\nthe process tree, as ps -o pid,ppid,comm shows it (children: whose ppid is ours):");
    println!("  postmaster            parent pid {postmaster}");
    let mut children = children_of(postmaster)?;
    children.sort_by_key(|(pid, name)| (rank(name), pid.as_raw()));
    for (i, (pid, name)) in children.iter().enumerate() {
        let branch = if i + 1 == children.len() {
            "└─"
        } else {
            "├─"
        };
        println!("  {branch} {name:<18} child pid {pid}");
    }

    println!("\nthe shared mappings in /proc/{postmaster}/maps:");
    let maps = shared_mappings(postmaster)?;
    for (range, perms, name) in &maps {
        let what = match name.starts_with("/SYSV") {
            true => "the interlock (System V, shmat)",
            false => "the region (mmap MAP_SHARED|MAP_ANONYMOUS)",
        };
        println!("  {range} {perms} {name}: {what}");
    }
    let same = children
        .iter()
        .map(|(pid, _)| shared_mappings(*pid))
        .collect::<Result<Vec<_>>>()?;
    let everywhere = same.iter().all(|theirs| {
        theirs.iter().any(|(range, _, name)| {
            name.starts_with("/dev/zero") && maps.iter().any(|m| &m.0 == range && m.2 == *name)
        })
    });
    if everywhere {
        println!(
            "  every child maps the region at the same address (inherited at fork), and the \
             interlock: nattch {}",
            interlock.nattch
        );
    }
    Ok(())
}

/// `pg_ctl status` without a server: one line, exit status 3 (the LSB's "not running").
fn no_server(line: &str) -> ! {
    eprintln!("error: {line}");
    std::process::exit(3)
}

/// Every process whose parent is `parent`, with its name (/proc/PID/stat, /proc/PID/comm).
fn children_of(parent: Pid) -> Result<Vec<(Pid, String)>> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        // "PID (comm) S PPID ...": the name may hold spaces, so split after its last ')'.
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone meanwhile
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|ppid| ppid.parse::<i32>().ok());
        if ppid == Some(parent.as_raw()) {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            children.push((Pid::from_raw(pid), name.trim_end().to_string()));
        }
    }
    Ok(children)
}

/// The order the postmaster forks them in.
fn rank(name: &str) -> (usize, usize) {
    match name {
        "checkpointer" => (0, 0),
        "bgwriter" => (1, 0),
        "walwriter" => (2, 0),
        _ => (3, name.trim_start_matches("backend ").parse().unwrap_or(0)),
    }
}

/// The shared mappings (`rw-s`) of process `pid`: address range, permissions, name.
fn shared_mappings(pid: Pid) -> Result<Vec<(String, String, String)>> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))?;
    Ok(maps
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.splitn(6, ' ').collect();
            let name = fields.get(5)?.trim_start();
            let shared = fields[1].ends_with('s');
            (shared && (name.starts_with("/dev/zero") || name.starts_with("/SYSV"))).then(|| {
                (
                    fields[0].to_string(),
                    fields[1].to_string(),
                    name.to_string(),
                )
            })
        })
        .collect())
}
// ANCHOR_END: status
