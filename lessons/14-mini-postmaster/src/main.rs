//! Lesson 14: a mini postmaster.
//!
//! `start DIR` does what PostgreSQL's postmaster does, in small: it takes the data directory
//! (lock file), adds up the size of its shared memory, creates lesson 07's hybrid (one big
//! anonymous mapping, a tiny System V segment as the interlock), lays out lesson 13's region
//! in the mapping's place and creates its structures by name, then forks a background
//! writer, a WAL writer and N backends. From then on it only forks, waits and reaps: it
//! never touches shared memory again. The backends update rows under page LWLocks and log
//! each update; at shutdown the WAL writer writes the WAL out, then the background writer
//! the dirty pages. Last, the postmaster checks the files against the workload. Every step
//! is ordered by `waitpid` or by a pipe; nothing sleeps.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use clap::{Parser, Subcommand};
use common::{Child, Error, Exit, Result, fork_child, parent, section};
use l05_sysv_segments::stat;
use l06_keys_and_strangers::{Created, key_hex};
use l07_postgres_hybrid::{
    LockFile, STATUS_READY, STATUS_STOPPING, ShmemPart, create_interlock, lock_data_dir, now,
    shmem_size,
};
use l11_lwlock::{LwLock, SharedLock};
use l13_shmem_index::{Segment, allocation_table};
use l14_mini_postmaster::{
    BLOCK_SIZE, DIRTY, INDEX_CAPACITY, Mode, Pool, RECORD_SIZE, RELATION, ROWS_PER_PAGE,
    UPDATES_PER_BACKEND, WalRecord, page_locks, region_parts, target, update_row,
};
use nix::fcntl::OFlag;
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{Pid, pipe2, read, write};

/// A mini PostgreSQL postmaster: shared memory, a background writer, a WAL writer and
/// backends, started and stopped in order.
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
    /// Start a mini postmaster in data directory DIR, run the workload, stop.
    Start {
        /// The data directory (it must exist). The table and the WAL are written into it.
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

/// Each page lock has 72 process slots (lesson 11): backends, plus the background writer.
const MAX_WORKERS: u64 = 32;
/// Each page lock is a mapping of its own: keep their number modest.
const MAX_BUFFERS: u64 = 256;

/// The table's file and the WAL's file in the data directory.
const TABLE_FILE: &str = "16384";
const WAL_FILE: &str = "wal";

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    match args.command {
        Some(Command::Start { dir }) => start(&dir, &args.options),
        None => {
            // A directory of our own, always the same one, as lesson 07 does.
            let dir = std::env::temp_dir().join("l14-mini-postmaster");
            std::fs::create_dir_all(&dir)?;
            start(&dir, &args.options)
        }
    }
}

/// Who a child is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Role {
    BgWriter,
    WalWriter,
    Backend(usize),
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Role::BgWriter => write!(f, "background writer"),
            Role::WalWriter => write!(f, "walwriter"),
            Role::Backend(n) => write!(f, "backend {n}"),
        }
    }
}

/// Shared memory: the region and the page locks, mapped before fork.
struct Memory {
    locks: Vec<SharedLock<LwLock>>,
    region: Segment,
}

/// Everything else a start creates. Fields drop in the order declared: children killed and
/// reaped, pipes closed, the interlock removed, the lock file deleted last. (`Memory` is
/// declared before it in `start`, so it is unmapped after.)
struct Server {
    children: Vec<(Role, Child)>,
    stop_walwriter: Option<OwnedFd>,
    stop_bgwriter: Option<OwnedFd>,
    reports: OwnedFd,
    report_write: Option<OwnedFd>,
    interlock: Option<Created>,
    lock: Option<LockFile>,
}

fn start(dir: &Path, options: &Options) -> Result<()> {
    let (workers, buffers) = (options.workers as usize, options.buffers as usize);
    let wal_records = workers * UPDATES_PER_BACKEND;
    let parts = region_parts(buffers, wal_records);
    let size = shmem_size(&parts).expect("the options are bounded");
    let lock = take_the_directory(dir)?;
    show_the_size(&parts, size, buffers);
    let (memory, mut server) = create_shared_memory(dir, size, buffers, lock)?;
    {
        let pool = create_the_structures(&memory, wal_records)?;
        create_the_files(dir)?;
        fork_the_children(&mut server, &memory, &pool, dir, workers, wal_records)?;
    } // the postmaster's view of the structures ends here: it never touches them again
    run_and_reap(&mut server, workers)?;
    shut_down(&mut server)?;
    what_they_did(&mut server)?;
    check(dir, workers, buffers)?;
    clean_up(server, memory)
}

// ANCHOR: lock
fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let lock = lock_data_dir(dir, now(), &mut Vec::new())?;
    section(&format!(
        "1. Take the data directory: {}",
        lock.path().display()
    ));
    parent!("the postmaster is parent pid {}", std::process::id());
    parent!("open(\"postmaster.pid\", O_CREAT|O_EXCL, 0600): created; the directory is ours");
    Ok(lock)
}
// ANCHOR_END: lock

// ANCHOR: size
fn show_the_size(parts: &[ShmemPart], size: usize, buffers: usize) {
    section("2. Size shared memory: a sum of parts (CalculateShmemSize)");
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
    parent!("and {buffers} page LWLocks (lesson 11), each in a small mapping of its own");
}
// ANCHOR_END: size

// ANCHOR: create
fn create_shared_memory(
    dir: &Path,
    size: usize,
    buffers: usize,
    lock: LockFile,
) -> Result<(Memory, Server)> {
    section("3. Create shared memory: the big mapping, the interlock, the page locks");
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
    let locks = page_locks(buffers)?;
    parent!("{buffers} LWLocks mapped, free (RELEASE_OK)");
    let (reports, report_write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let mut server = Server {
        children: Vec::new(),
        stop_walwriter: None,
        stop_bgwriter: None,
        reports,
        report_write: Some(report_write),
        interlock: Some(interlock),
        lock: Some(lock),
    };
    server.lock.as_mut().expect("just set").update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_READY.into());
    })?;
    parent!("postmaster.pid line 7: key and shmid; line 8: {STATUS_READY:?}");
    Ok((Memory { locks, region }, server))
}
// ANCHOR_END: create

// ANCHOR: structures
fn create_the_structures(memory: &Memory, wal_records: usize) -> Result<Pool<'_>> {
    section("4. Create the structures by name (CreateSharedMemoryAndSemaphores)");
    let (pool, found) = Pool::attach(memory.region.shmem(), &memory.locks, wal_records)?;
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

/// The table's file and the WAL's, empty: our `initdb`.
fn create_the_files(dir: &Path) -> Result<()> {
    File::create(dir.join(TABLE_FILE))?;
    File::create(dir.join(WAL_FILE))?;
    Ok(())
}

// ANCHOR: fork
fn fork_the_children(
    server: &mut Server,
    memory: &Memory,
    pool: &Pool,
    dir: &Path,
    workers: usize,
    wal_records: usize,
) -> Result<()> {
    section("5. Fork the children (StartChildProcess); the postmaster keeps out of shmem");
    let (walwriter_wait, stop_walwriter) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let (bgwriter_wait, stop_bgwriter) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    // Every child must close its copies of these write ends, or the writers would never
    // read end-of-file: the postmaster's close is their shutdown request.
    let inherited = [stop_walwriter.as_raw_fd(), stop_bgwriter.as_raw_fd()];
    let report = server.report_write.as_ref().expect("open until all forked");
    let mut roles = vec![Role::BgWriter, Role::WalWriter];
    roles.extend((1..=workers).map(Role::Backend));
    for role in roles {
        let child = fork_child(|| {
            close_inherited(&inherited);
            let outcome = match role {
                Role::BgWriter => bgwriter(pool, dir, &bgwriter_wait),
                Role::WalWriter => walwriter(pool, dir, &walwriter_wait),
                Role::Backend(n) => backend(memory, n, wal_records),
            };
            let (text, status) = match outcome {
                Ok(text) => (text, 0),
                Err(err) => (format!("failed: {err}"), 1),
            };
            let line = format!(
                "{role:?}\t{role} (child pid {}): {text}\n",
                std::process::id()
            );
            // One write of less than PIPE_BUF bytes: never interleaved with another's.
            if write(report, line.as_bytes()).is_err() {
                return 2;
            }
            status
        })?;
        server.children.push((role, child));
    }
    server.report_write = None; // only the children write reports now
    server.stop_walwriter = Some(stop_walwriter);
    server.stop_bgwriter = Some(stop_bgwriter);
    parent!("PID    ROLE (like ps -o pid,ppid,cmd)");
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

/// Closes this child's copies of the postmaster's ends of the shutdown pipes.
fn close_inherited(fds: &[RawFd]) {
    for &fd in fds {
        // SAFETY: in this child the descriptor belongs to our copy of an OwnedFd that is
        // never dropped here (children leave with _exit): it is closed once, here.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
}
// ANCHOR_END: fork

// ANCHOR: backend
/// A backend: finds the structures by name, takes its relation lock, makes its updates.
fn backend(memory: &Memory, number: usize, wal_records: usize) -> Result<String> {
    let (pool, found) = Pool::attach(memory.region.shmem(), &memory.locks, wal_records)?;
    let found = found.iter().filter(|(_, _, found)| *found).count();
    pool.lock_relation(RELATION)?;
    let mut pages = std::collections::BTreeSet::new();
    for i in 0..UPDATES_PER_BACKEND {
        let (buffer, row) = target(number, i, pool.buffers);
        update_row(&pool, buffer, row)?;
        pages.insert(buffer);
    }
    pool.unlock_relation(RELATION);
    Ok(format!(
        "found {found} structures by name; {UPDATES_PER_BACKEND} updates on {} pages under \
         their LWLocks, {UPDATES_PER_BACKEND} WAL records",
        pages.len()
    ))
}
// ANCHOR_END: backend

/// Waits until the postmaster closes the other end: the shutdown request (or its death).
fn wait_for_shutdown(pipe: &OwnedFd) {
    let mut byte = [0u8; 1];
    while let Ok(1) = read(pipe.as_fd(), &mut byte) {}
}

// ANCHOR: walwriter
/// The WAL writer: at shutdown, writes everything inserted to the WAL file, fsyncs it, and
/// publishes how far the WAL is flushed.
fn walwriter(pool: &Pool, dir: &Path, shutdown: &OwnedFd) -> Result<String> {
    wait_for_shutdown(shutdown);
    let ctl = pool.wal_ctl();
    let (from, to) = (
        ctl.flushed.load(Ordering::Acquire),
        ctl.insert.load(Ordering::Acquire),
    );
    let records = pool.wal_records(from, to);
    let bytes: Vec<u8> = records
        .iter()
        .flat_map(|r| {
            let mut b = r.block.to_le_bytes().to_vec();
            b.extend(r.row.to_le_bytes());
            b.extend(r.value.to_le_bytes());
            b
        })
        .collect();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(WAL_FILE))?;
    file.write_all_at(&bytes, from)?;
    file.sync_all()?;
    ctl.flushed.store(to, Ordering::Release);
    Ok(format!(
        "wrote {} WAL records ({} bytes) to {WAL_FILE}, fsynced; flushed up to LSN {to}",
        records.len(),
        bytes.len()
    ))
}
// ANCHOR_END: walwriter

// ANCHOR: bgwriter
/// The background writer: at shutdown, after the WAL writer, writes every dirty page to the
/// table's file (WAL first: a page is written only if its LSN is flushed), then fsyncs.
fn bgwriter(pool: &Pool, dir: &Path, shutdown: &OwnedFd) -> Result<String> {
    wait_for_shutdown(shutdown);
    let flushed = pool.wal_ctl().flushed.load(Ordering::Acquire);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(TABLE_FILE))?;
    let mut written = 0;
    for buffer in 0..pool.buffers {
        let desc = pool.descriptor(buffer);
        if desc.flags.load(Ordering::Acquire) & DIRTY == 0 {
            continue;
        }
        let lock = pool.page_lock(buffer);
        lock.acquire(Mode::Shared);
        // SAFETY: we hold the page's lock shared: nobody writes the page while we copy it.
        let (lsn, copy) = unsafe {
            let bytes = std::slice::from_raw_parts(pool.page(buffer).cast::<u8>(), BLOCK_SIZE);
            ((*pool.page(buffer)).lsn, bytes.to_vec())
        };
        desc.flags.fetch_and(!DIRTY, Ordering::AcqRel);
        lock.release(Mode::Shared);
        if lsn > flushed {
            return Err(Error::Failed(format!(
                "page {buffer} has LSN {lsn}, but the WAL is flushed only to {flushed}"
            )));
        }
        file.write_all_at(&copy, desc.block as u64 * BLOCK_SIZE as u64)?;
        written += 1;
    }
    file.sync_all()?;
    let slot = pool.lock_slot(RELATION);
    let (granted, held) = slot.map_or((0, 0), |s| {
        (
            s.granted.load(Ordering::Acquire),
            s.held.load(Ordering::Acquire),
        )
    });
    Ok(format!(
        "wrote {written} dirty pages of {} to {TABLE_FILE}, each with LSN <= {flushed} \
         (WAL first), fsynced; lock table: relation {RELATION} granted {granted} times, held \
         by {held} now",
        pool.buffers
    ))
}
// ANCHOR_END: bgwriter

// ANCHOR: reap
/// `reaper`: waits for any child (`waitpid(-1)`), notes who it was and how it ended.
/// Stops when every child whose role `until` accepts has been reaped.
fn reap(server: &mut Server, until: impl Fn(Role) -> bool) -> Result<Vec<(Role, Pid, Exit)>> {
    let mut reaped = Vec::new();
    while server.children.iter().any(|(role, _)| until(*role)) {
        let (pid, exit) = match waitpid(None, None).map_err(Error::sys("waitpid"))? {
            WaitStatus::Exited(pid, code) => (pid, Exit::Code(code)),
            WaitStatus::Signaled(pid, signal, _) => (pid, Exit::Signal(signal)),
            _ => continue,
        };
        let Some(at) = server.children.iter().position(|(_, c)| c.pid() == pid) else {
            continue;
        };
        let (role, child) = server.children.remove(at);
        std::mem::forget(child); // reaped already: its Drop must not kill or wait again
        reaped.push((role, pid, exit));
    }
    reaped.sort_by_key(|(role, _, _)| *role);
    Ok(reaped)
}
// ANCHOR_END: reap

fn report_exits(reaped: &[(Role, Pid, Exit)]) -> Result<()> {
    for (role, pid, exit) in reaped {
        parent!("{role} (child pid {pid}) {exit}");
    }
    match reaped.iter().find(|(_, _, exit)| *exit != Exit::Code(0)) {
        Some((role, pid, exit)) => Err(Error::Failed(format!(
            "{role} (child pid {pid}) {exit}: stopping the server"
        ))),
        None => Ok(()),
    }
}

// ANCHOR: run
fn run_and_reap(server: &mut Server, workers: usize) -> Result<()> {
    section("6. The backends work; the postmaster waits in waitpid (ServerLoop, reaper)");
    let reaped = reap(server, |role| matches!(role, Role::Backend(_)))?;
    parent!("waitpid(-1) reaped {workers} backends (listed by number, not by when they ended):");
    report_exits(&reaped)
}

fn shut_down(server: &mut Server) -> Result<()> {
    section("7. Shut down: backends are gone; the WAL writer, then the background writer");
    server
        .lock
        .as_mut()
        .expect("alive")
        .update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    parent!("postmaster.pid line 8: {STATUS_STOPPING:?}");
    let shmid = server.interlock.as_ref().expect("alive").segment.id();
    parent!(
        "shm_nattch = {}: the postmaster and the two writers, waiting for their shutdown request",
        stat(shmid)?.nattch
    );
    server.stop_walwriter = None; // end-of-file on its pipe: the shutdown request
    let reaped = reap(server, |role| role == Role::WalWriter)?;
    report_exits(&reaped)?;
    server.stop_bgwriter = None;
    let reaped = reap(server, |role| role == Role::BgWriter)?;
    report_exits(&reaped)
}
// ANCHOR_END: run

fn what_they_did(server: &mut Server) -> Result<()> {
    section("8. What each process did (its report, read from a pipe after it exited)");
    let mut text = String::new();
    // A duplicate of our read end, owned by `file` and closed when it drops.
    let mut file = File::from(server.reports.try_clone()?);
    file.read_to_string(&mut text)?;
    let mut lines: Vec<(Role, &str)> = text
        .lines()
        .filter_map(|line| {
            let (role, rest) = line.split_once('\t')?;
            let role = match role {
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
            Some((role, rest))
        })
        .collect();
    lines.sort_by_key(|(role, _)| *role);
    for (_, line) in lines {
        println!("  {line}");
    }
    Ok(())
}

// ANCHOR: check
/// Reads the files only: what the table must hold follows from the workload alone.
fn check(dir: &Path, workers: usize, buffers: usize) -> Result<()> {
    section("9. Check the files against the workload");
    let mut expected = vec![[0u64; ROWS_PER_PAGE]; buffers];
    for backend in 1..=workers {
        for i in 0..UPDATES_PER_BACKEND {
            let (buffer, row) = target(backend, i, buffers);
            expected[buffer][row] += 1;
        }
    }
    let table = std::fs::read(dir.join(TABLE_FILE))?;
    let on_disk: Vec<[u64; ROWS_PER_PAGE]> = (0..buffers)
        .map(|block| {
            let mut rows = [0u64; ROWS_PER_PAGE];
            for (row, value) in rows.iter_mut().enumerate() {
                let at = block * BLOCK_SIZE + size_of::<u64>() * (1 + row);
                if let Some(bytes) = table.get(at..at + 8) {
                    *value = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                }
            }
            rows
        })
        .collect();
    let updates = (workers * UPDATES_PER_BACKEND) as u64;
    let sum: u64 = on_disk.iter().flatten().sum();
    parent!(
        "{TABLE_FILE}: {} bytes, {buffers} pages; the rows add up to {sum}: {updates} expected",
        table.len()
    );
    let wal = std::fs::read(dir.join(WAL_FILE))?;
    let records: Vec<WalRecord> = wal
        .chunks_exact(RECORD_SIZE)
        .map(|c| WalRecord {
            block: u32::from_le_bytes(c[0..4].try_into().expect("4")),
            row: u32::from_le_bytes(c[4..8].try_into().expect("4")),
            value: u64::from_le_bytes(c[8..16].try_into().expect("8")),
        })
        .collect();
    parent!(
        "{WAL_FILE}: {} bytes, {} records: {updates} expected",
        wal.len(),
        records.len()
    );
    // Replay: each record sets a row; in WAL order, each must be one more than the last.
    let mut replayed = vec![[0u64; ROWS_PER_PAGE]; buffers];
    let mut out_of_order = 0;
    for r in &records {
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
        "replaying the WAL rebuilds the table: {rows_match} of {total} rows agree with the \
         file and with the workload; {out_of_order} records out of order"
    );
    if sum != updates || records.len() as u64 != updates || rows_match != total || out_of_order != 0
    {
        return Err(Error::Failed(
            "the files do not match what the backends committed".into(),
        ));
    }
    parent!("consistent: every committed update is on disk, once, and in the WAL");
    Ok(())
}
// ANCHOR_END: check

// ANCHOR: clean_up
fn clean_up(mut server: Server, memory: Memory) -> Result<()> {
    section("10. Leave nothing behind");
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
    parent!("shmdt, IPC_RMID: shmid {shmid} removed; the big mapping and the page locks unmapped");
    let lock = server.lock.take().expect("alive");
    let path = lock.path().to_path_buf();
    drop(server);
    drop(memory); // munmap, the region and every page lock
    lock.delete()?;
    parent!("deleted {}", path.display());
    Ok(())
}
// ANCHOR_END: clean_up
