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

mod sidebar;

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use common::{Child, Error, Result, Wake, child, fork_child, parent, section};
use l01_mmap::{listed_mapping, maps_entry, page_size};
use l05_sysv_segments::{proc_entry, stat};
use l06_keys_and_strangers::{Created, DirId, Found, Probe, key_hex, read_header};
use l07_postgres_hybrid::{
    HugePages, LockFile, Note, PidFile, SLOP, SLOT_SIZE, STATUS_READY, STATUS_STARTING,
    STATUS_STOPPING, SharedMemory, ShmemPart, copy_header, create_anonymous_segment,
    create_interlock, huge_page_size, lock_data_dir, now, offsets, parts, shmem_size,
};
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::{pipe2, read, write};

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
        Some(Command::Sidebar) => sidebar::run(),
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

// ANCHOR: lock
fn take_the_directory(dir: &Path) -> Result<LockFile> {
    let mut notes = Vec::new();
    let lock = lock_data_dir(dir, now(), &mut notes)?;
    section(&format!(
        "1. Take the data directory: {}",
        lock.path().display()
    ));
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
    parent!(
        "open(DIR, O_TMPFILE), write, linkat(\"{}\"): created whole; the directory is ours",
        lock.path().display()
    );
    Ok(lock)
}
// ANCHOR_END: lock

// ANCHOR: size
fn show_the_size(parts: &[ShmemPart], size: usize) {
    section("2. Size the shared area: a sum of named parts (CalculateShmemSize)");
    let row = |name: &str, bytes: usize| println!("  {name:<32}{bytes:>12}");
    row("fixed slop", SLOP);
    for part in parts {
        row(&part.name, part.size);
    }
    println!("  {}", "-".repeat(44));
    row("sum", SLOP + parts.iter().map(|p| p.size).sum::<usize>());
    row("rounded up to a multiple of 8192", size);
}
// ANCHOR_END: size

// ANCHOR: big
fn map_the_big_area(size: usize, huge_pages: HugePages) -> Result<SharedMemory> {
    section("3. The big area: one anonymous shared mapping (CreateAnonymousSegment)");
    let shmem = create_anonymous_segment(size, huge_pages)?;
    let flags = if shmem.huge_pages {
        "MAP_SHARED|MAP_ANONYMOUS|MAP_HUGETLB"
    } else {
        "MAP_SHARED|MAP_ANONYMOUS"
    };
    if let Some(err) = &shmem.fallback {
        parent!("huge_pages = try: mmap with MAP_HUGETLB failed ({err}); normal pages then");
    }
    parent!(
        "mmap(NULL, {}, PROT_READ|PROT_WRITE, {flags}, -1, 0) = {:#x}",
        shmem.mapping.len(),
        shmem.mapping.as_ptr() as usize
    );
    parent!(
        "huge_pages_status = {}",
        if shmem.huge_pages { "on" } else { "off" }
    );
    let unit = if shmem.huge_pages {
        huge_page_size()
    } else {
        page_size()
    };
    show_maps_line(shmem.mapping.as_ptr(), unit)?;
    Ok(shmem)
}
// ANCHOR_END: big

// ANCHOR: interlock
fn create_the_interlock(dir: &Path, shmem: &SharedMemory) -> Result<Created> {
    section("4. The interlock: a tiny System V segment (PGSharedMemoryCreate)");
    let inode = DirId::of(dir)?.inode;
    parent!(
        "the directory is inode {inode}: the first key to try is key {}",
        key_hex(inode as i32)
    );
    let created = create_interlock(dir, &mut |probe: &Probe| {
        let key = key_hex(probe.key);
        let shmid = probe.shmid;
        match probe.found {
            Found::Stranger => parent!("key {key}: shmid {shmid} is a stranger's: next key"),
            Found::OursStale => parent!("key {key}: shmid {shmid} is ours, stale: removed it"),
            Found::Gone => parent!("key {key}: shmid {shmid} vanished: try again"),
            Found::OursInUse { .. } => {}
        }
    })?;
    let (key, shmid) = (key_hex(created.key), created.segment.id());
    let header = read_header(&created.attachment).expect("create_from wrote it");
    copy_header(&shmem.mapping, &header);
    parent!(
        "shmget(key {key}, {}, IPC_CREAT|IPC_EXCL|0600) = shmid {shmid}; attached; header \
         written, and copied to the start of the big area",
        created.attachment.size()
    );
    show_maps_line(created.attachment.as_ptr(), page_size())?;
    show_ipcs(shmid)?;
    Ok(created)
}
// ANCHOR_END: interlock

// ANCHOR: record
fn record_in_the_lock_file(server: &mut Server) -> Result<()> {
    section("5. Record key and shmid in the lock file (AddToDataDirLockFile)");
    let (key, shmid) = (server.interlock.key, server.interlock.segment.id());
    server.lock.update(|pid_file| {
        pid_file.shmem = Some((key, shmid));
        pid_file.status = Some(STATUS_STARTING.into());
    })?;
    let text = std::fs::read_to_string(server.lock.path())?;
    let found = PidFile::parse(&text).expect("we just wrote it");
    let quoted = |n: usize| format!("{:?}", text.lines().nth(n - 1).unwrap_or(""));
    println!("  line 1: PID {}", found.pid);
    println!("  line 2: data directory {}", found.data_dir);
    println!("  line 3: started at {}", found.start_time);
    println!("  line 4: port {}", found.port);
    println!("  line 5: socket directory {}", quoted(5));
    println!("  line 6: listen address {}", quoted(6));
    println!("  line 7: {}", quoted(7));
    println!("  line 8: {}", quoted(8));
    parent!(
        "line 7 is the key in decimal and the shmid, each right-aligned in 9 columns (\"%9lu %9lu\")"
    );
    Ok(())
}
// ANCHOR_END: record

// ANCHOR: children
fn fork_the_children(server: &mut Server, parts: &[ShmemPart], count: u64) -> Result<()> {
    section("6. Fork the children: each inherits the big area and the interlock");
    let slots = offsets(parts)[0]; // "process slots" is the first part; slot 0 is ours
    let (ready_read, ready_write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let (stop_read, stop_write) = pipe2(OFlag::O_CLOEXEC).map_err(Error::sys("pipe2"))?;
    let mapping = &server.shmem.mapping;
    for number in 1..=count as usize {
        let offset = slots + number * SLOT_SIZE;
        let child = fork_child(|| {
            // A session of its own, as each PostgreSQL child takes one (InitPostmasterChild
            // calls setsid). Then a signal for the terminal's foreground job, or the SIGHUP
            // the kernel sends a stopped job whose leader died, does not reach the children.
            let _ = nix::unistd::setsid();
            let me = std::process::id();
            let text = format!("child {number} (child pid {me}) was here");
            // SAFETY: the slot lies inside the mapping (the size counted one per process) and
            // only this child writes it; the parent reads it after our byte on the pipe.
            unsafe { mapping.write_at(offset, text.as_bytes()) };
            child!("child pid {me}: wrote slot {number} at offset {offset} of the big area");
            // Our copy of the pipe's write end must go, or we would never see end-of-file.
            // SAFETY: in this child, the descriptor belongs to our copy of `stop_write`,
            // which is never dropped (we leave with _exit): it is closed here, once.
            drop(unsafe { OwnedFd::from_raw_fd(stop_write.as_raw_fd()) });
            if write(&ready_write, b"!").is_err() {
                return 1;
            }
            // Wait for the postmaster to close its end: at shutdown, or when it dies.
            let mut byte = [0u8; 1];
            while let Ok(1) = read(stop_read.as_fd(), &mut byte) {}
            0
        })?;
        server.children.push(child);
        let mut byte = [0u8; 1];
        read(ready_read.as_fd(), &mut byte).map_err(Error::sys("read"))?; // one at a time
    }
    server.stop = Some(stop_write);
    let shmid = server.interlock.segment.id();
    let nattch = stat(shmid)?.nattch;
    let children = common::count(count, "child", "children");
    parent!("shm_nattch = {nattch}: the postmaster and its {children}");
    for number in 1..=count as usize {
        // SAFETY: each child wrote its slot before its byte on the pipe, which we have read;
        // nobody writes the slots any more.
        let bytes = unsafe { mapping.read_at(slots + number * SLOT_SIZE, SLOT_SIZE) };
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(SLOT_SIZE);
        parent!(
            "slot {number} reads {:?}",
            String::from_utf8_lossy(&bytes[..end])
        );
    }
    server
        .lock
        .update(|pid_file| pid_file.status = Some(STATUS_READY.into()))?;
    parent!("lock file line 8 = {STATUS_READY:?}");
    Ok(())
}
// ANCHOR_END: children

// ANCHOR: second
fn try_a_second_start(dir: &Path) -> Result<()> {
    section("7. A second start on the same directory, while this one runs");
    let output = std::process::Command::new(std::env::current_exe()?)
        .arg("start")
        .arg(dir)
        .output()?;
    println!("$ l07-postgres-hybrid start {}", dir.display());
    print!("{}", String::from_utf8_lossy(&output.stderr));
    parent!(
        "the lock file names us, the new process's parent: CreateLockFile takes its own and \
         its parent's PID for a stale file (after a reboot, PIDs repeat), so the interlock, \
         shm_nattch, had to stop it"
    );
    parent!(
        "it {}, and created nothing",
        match output.status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed".into(),
        }
    );
    Ok(())
}
// ANCHOR_END: second

// ANCHOR: hold
/// SIGTERM and SIGINT, blocked so that they wait in a signalfd for [`hold_until_told`]
/// instead of killing us before we clean up; the children inherit the mask, so Ctrl-C in
/// the terminal does not kill them either: they leave when we close their pipe.
fn stop_signals() -> SigSet {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
}

fn block_stop_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&stop_signals()), None)
        .map_err(Error::sys("sigprocmask"))
}

fn hold_until_told(dir: &Path) -> Result<()> {
    println!(
        "ready: parent pid {} holds {}; close standard input (Ctrl-D) or send SIGTERM to stop",
        std::process::id(),
        dir.display()
    );
    loop {
        match common::wait_for_input(&stop_signals())? {
            Wake::Line => continue, // typed lines are ignored
            Wake::EndOfInput => parent!("standard input closed: stopping"),
            Wake::Signal(name) => parent!("{name}: stopping"),
        }
        return Ok(());
    }
}
// ANCHOR_END: hold

// ANCHOR: stop
fn stop(mut server: Server, step: u32) -> Result<()> {
    section(&format!(
        "{step}. Stop: children first, then shared memory, then the lock file"
    ));
    server
        .lock
        .update(|pid_file| pid_file.status = Some(STATUS_STOPPING.into()))?;
    parent!("lock file line 8 = {STATUS_STOPPING:?}");
    server.stop.take(); // close our end of the pipe: every child reads end-of-file and exits
    for child in std::mem::take(&mut server.children) {
        let pid = child.pid();
        let exit = child.wait()?;
        parent!("child pid {pid} {exit}");
    }
    let shmid = server.interlock.segment.id();
    parent!("shm_nattch = {}: only ours is left", stat(shmid)?.nattch);
    let Server {
        lock,
        shmem,
        interlock,
        ..
    } = server;
    let Created {
        segment,
        attachment,
        ..
    } = interlock;
    drop(attachment); // shmdt
    segment.remove()?; // IPC_RMID: nobody is attached, so the kernel frees it at once
    parent!(
        "shmdt, then IPC_RMID: shmid {shmid} {} /proc/sysvipc/shm",
        if proc_entry(shmid)?.is_some() {
            "is still in"
        } else {
            "is gone from"
        }
    );
    let (addr, len) = (shmem.mapping.as_ptr(), shmem.mapping.len());
    drop(shmem); // munmap
    let mapped = maps_entry(addr)?.is_some_and(|e| e.start == addr as usize);
    parent!(
        "munmap({:#x}, {len}): /proc/self/maps {} it",
        addr as usize,
        if mapped {
            "still lists"
        } else {
            "no longer lists"
        }
    );
    let path = lock.path().to_path_buf();
    lock.delete()?;
    parent!("deleted {}", path.display());
    Ok(())
}
// ANCHOR_END: stop

/// This process's line of /proc/self/maps for the mapping at `addr`, made of `unit`-byte pages.
fn show_maps_line(addr: *const u8, unit: usize) -> Result<()> {
    let entry = listed_mapping(addr)?;
    let pages = entry.size() / unit;
    parent!(
        "/proc/self/maps: {entry}  ({} bytes, {pages} page{} of {unit})",
        entry.size(),
        if pages == 1 { "" } else { "s" },
    );
    Ok(())
}

/// The segment as `ipcs -m` would list it, from the kernel's own table.
fn show_ipcs(shmid: i32) -> Result<()> {
    let line = proc_entry(shmid)?
        .ok_or_else(|| Error::Failed(format!("shmid {shmid} is missing from /proc/sysvipc/shm")))?;
    let info = stat(shmid)?;
    parent!(
        "ipcs -m: key {} shmid {shmid} perms {} bytes {} nattch {}",
        key_hex(info.key),
        line.get("perms").unwrap_or("?"),
        info.size,
        info.nattch
    );
    Ok(())
}
