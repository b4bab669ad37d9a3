//! Lesson 04: structures in shared memory, and Rust's rules for memory others change.
//!
//! The story: lay out a `#[repr(C)]` header; write it before any child exists and publish
//! it last with a Release store; show what `attach` refuses; let children attach and count
//! together through atomics made in place; map one memory file twice to see why a pointer
//! stored in shared memory is wrong where an offset is right; and watch a waiter on
//! `std::sync::Mutex` sleep forever, because std's futex is private to one process.

use std::ptr::addr_of_mut;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, maps_entry};
use l04_shared_structs::{
    AttachError, COUNTERS_OFFSET, Header, REGION_SIZE, Region, atomic_u32, header_layout, hex32,
    map_twice,
};
use nix::sys::mman::ProtFlags;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Share a #[repr(C)] header and atomics between processes; offsets, not pointers.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many children attach to the region and count together.
    #[arg(long, default_value_t = 3, value_parser = common::positive)]
    children: u64,
}

/// More children than this only makes the lesson slower, not clearer.
const MAX_CHILDREN: u64 = 64;
/// How many times each child adds 1 to the shared total.
const INCREMENTS: u64 = 10_000;

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let children = checked_children(args.children)?;
    let mapping = lay_out()?;
    let region = initialize_before_fork(&mapping)?;
    attach_checks_first(&region)?;
    children_attach_and_count(region, children)?;
    offsets_not_pointers()?;
    std_mutex_stays_home()
}

fn checked_children(children: u64) -> Result<u64> {
    if children > MAX_CHILDREN {
        return Err(Error::Usage(format!(
            "--children {children} is more than this lesson forks; use at most {MAX_CHILDREN}"
        )));
    }
    Ok(children)
}

// ANCHOR: lay_out
fn lay_out() -> Result<Mapping> {
    section("1. Lay out the region: a #[repr(C)] header at offset 0");
    println!(
        "Header: {} bytes, aligned to {}",
        size_of::<Header>(),
        align_of::<Header>()
    );
    for (name, offset, size) in header_layout() {
        println!("  offset {offset:2}  {name:<16} {size} bytes");
    }
    println!("Counters at offset {COUNTERS_OFFSET}: attached (AtomicU32), total (AtomicU64)");
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = Mapping::anonymous(REGION_SIZE, prot, PG_MMAP_FLAGS)?;
    println!(
        "mmap(NULL, {REGION_SIZE}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        mapping.as_ptr() as usize
    );
    Ok(mapping)
}
// ANCHOR_END: lay_out

// ANCHOR: initialize
fn initialize_before_fork(mapping: &Mapping) -> Result<Region> {
    section("2. Initialize before fork; publish \"ready\" last, with Release");
    let region = Region::initialize(mapping)?;
    let header = region.header();
    println!(
        "wrote magic {}, version {}, total_size {}, counters_offset {} through raw pointers",
        hex32(header.magic),
        header.version,
        header.total_size,
        header.counters_offset
    );
    println!("then ready.store(1, Release): whoever loads 1 with Acquire sees all of the above");
    Ok(region)
}
// ANCHOR_END: initialize

// ANCHOR: attach
fn attach_checks_first(region: &Region) -> Result<()> {
    section("3. attach checks before it trusts");
    let scratch = Mapping::anonymous(
        REGION_SIZE,
        ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
        PG_MMAP_FLAGS,
    )?;
    let base = scratch.as_ptr();
    let cases: [Corruption; 4] = [
        ("a copy with magic 0xdead_beef", |h| h.magic = 0xdead_beef),
        ("a copy with version 2", |h| h.version = 2),
        ("a copy claiming 1048576 bytes", |h| h.total_size = 1 << 20),
        ("an exact copy", |_| {}),
    ];
    // SAFETY: `scratch` stays mapped for this whole step.
    report("fresh zeroed pages", unsafe {
        Region::attach(base, REGION_SIZE)
    });
    for (what, corrupt) in cases {
        let mut header = region.header();
        corrupt(&mut header);
        // SAFETY: `scratch` is page-aligned and REGION_SIZE bytes; only this process uses it.
        unsafe { base.cast::<Header>().write(header) };
        // SAFETY: `scratch` stays mapped for this whole step.
        report(what, unsafe { Region::attach(base, REGION_SIZE) });
    }
    // SAFETY: `base + 4 .. base + REGION_SIZE` is inside `scratch`.
    report("base + 4", unsafe {
        Region::attach(base.add(4), REGION_SIZE - 4)
    });
    // SAFETY: the first 16 bytes are inside `scratch`.
    report("only 16 bytes", unsafe { Region::attach(base, 16) });
    Ok(())
}

/// What was done to a copy of the header, and how.
type Corruption = (&'static str, fn(&mut Header));

fn report(what: &str, outcome: Result<Region, AttachError>) {
    match outcome {
        Ok(region) => println!("attach({what}): ok, magic {}", hex32(region.header().magic)),
        Err(err) => println!("attach({what}): refused: {err}"),
    }
}
// ANCHOR_END: attach

// ANCHOR: children
fn children_attach_and_count(region: Region, children: u64) -> Result<()> {
    section(&match children {
        1 => "4. 1 child attaches, checks the header, and counts".to_string(),
        n => format!("4. {n} children attach, check the header, and count together"),
    });
    let (base, len) = (region.base(), region.len());
    let mut forked = Vec::new();
    for i in 0..children {
        forked.push(fork_child(move || {
            // SAFETY: the child inherited the mapping at the same address, and never unmaps it.
            let region = match unsafe { Region::attach(base, len) } {
                Ok(region) => region,
                Err(err) => {
                    eprintln!("error: attach: {err}");
                    return 1;
                }
            };
            let (attached, total) = region.counters();
            if i == 0 {
                let h = region.header();
                child!(
                    "attached: magic {}, version {}, {} bytes, ready; adding 1, {INCREMENTS} times",
                    hex32(h.magic),
                    h.version,
                    h.total_size
                );
            }
            attached.fetch_add(1, Ordering::Relaxed);
            for _ in 0..INCREMENTS {
                total.fetch_add(1, Ordering::Relaxed);
            }
            0
        })?);
    }
    for child in forked {
        let pid = child.pid();
        parent!("child pid {pid} {}", child.wait()?);
    }
    let (attached, total) = region.counters();
    parent!(
        "attached = {}, total = {} ({children} x {INCREMENTS}): fetch_add lost nothing",
        attached.load(Ordering::Relaxed),
        total.load(Ordering::Relaxed)
    );
    Ok(())
}
// ANCHOR_END: children

// ANCHOR: offsets
/// Where, in the memory file, the record lives; and the two ways we remember that.
const RECORD_OFFSET: usize = 256;
const STORED_POINTER_AT: usize = 0;
const STORED_OFFSET_AT: usize = 8;

fn offsets_not_pointers() -> Result<()> {
    section("5. Offsets, not pointers");
    let (a, b) = map_twice("l04-shared-structs", 4096)?;
    println!(
        "one memfd, mapped twice with MAP_SHARED: view A at {:#x}, view B at {:#x}",
        a.as_ptr() as usize,
        b.as_ptr() as usize
    );
    let text = *b"record #1\0\0\0\0\0\0\0";
    // SAFETY: offsets 0, 8 and 256..272 are inside the 4096-byte view A, aligned for what
    // is written there; only this process has the file.
    unsafe {
        let record = a.as_ptr().add(RECORD_OFFSET);
        record.copy_from_nonoverlapping(text.as_ptr(), text.len());
        a.as_ptr()
            .add(STORED_POINTER_AT)
            .cast::<usize>()
            .write(record as usize);
        a.as_ptr()
            .add(STORED_OFFSET_AT)
            .cast::<usize>()
            .write(RECORD_OFFSET);
    }
    println!(
        "through A: wrote {:?} at offset {RECORD_OFFSET}, stored its address and its offset",
        cstr(&text)
    );
    // SAFETY: offsets 0 and 8 are inside view B, aligned for usize.
    let (pointer, offset) = unsafe {
        (
            b.as_ptr().add(STORED_POINTER_AT).cast::<usize>().read(),
            b.as_ptr().add(STORED_OFFSET_AT).cast::<usize>().read(),
        )
    };
    println!(
        "through B: base + offset {offset} reads {:?}",
        read_text(b.as_ptr().wrapping_add(offset))
    );
    println!(
        "through B: the stored address {pointer:#x} is in view {}",
        if b.contains(pointer) {
            "B"
        } else if a.contains(pointer) {
            "A, not B"
        } else {
            "neither"
        }
    );

    let (a_addr, a_len, b_addr) = (a.as_ptr(), a.len(), b.as_ptr());
    let child = fork_child(|| {
        let _ = nix::sys::prctl::set_dumpable(false);
        // SAFETY: view A is this child's own copy of the mapping; nothing in the child uses it
        // again, and the child leaves with _exit, so no Drop unmaps it a second time.
        let _ = unsafe {
            nix::sys::mman::munmap(std::ptr::NonNull::new(a_addr).unwrap().cast(), a_len)
        };
        child!(
            "unmapped view A: here the file is mapped only at B, as in a process that mapped it elsewhere"
        );
        child!(
            "base B + offset {offset} reads {:?}",
            read_text(b_addr.wrapping_add(offset))
        );
        let mapped = maps_entry(pointer as *const u8).ok().flatten().is_some();
        child!(
            "the stored address: /proc/self/maps lists {} there; following it...",
            if mapped { "a mapping" } else { "nothing" }
        );
        // Not sound, on purpose: nothing is mapped at `pointer` in this process, so the load
        // faults and the kernel sends SIGSEGV. Nothing after this line runs.
        let text = read_text(pointer as *mut u8);
        child!("read {text:?} (it never should)");
        0
    })?;
    let pid = child.pid();
    parent!("child pid {pid} {}", child.wait()?);
    Ok(())
}

// ANCHOR_END: offsets
fn read_text(at: *mut u8) -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: callers pass an address with 16 readable bytes, except the one deliberate fault
    // in step 5, where the read never completes.
    unsafe { at.copy_to_nonoverlapping(bytes.as_mut_ptr(), 16) };
    cstr(&bytes)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

// ANCHOR: std_mutex
fn std_mutex_stays_home() -> Result<()> {
    section("6. std::sync::Mutex stays in its own process");
    #[repr(C)]
    struct Shared {
        mutex: Mutex<u64>,
        holding: u32,
        release: u32,
    }
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = Mapping::anonymous(size_of::<Shared>(), prot, PG_MMAP_FLAGS)?;
    let shared = mapping.as_ptr().cast::<Shared>();
    // SAFETY: a fresh, page-aligned mapping big enough for Shared; no other process yet.
    // Mutex needs no Drop to release resources, so never dropping it leaks nothing.
    unsafe {
        shared.write(Shared {
            mutex: Mutex::new(0),
            holding: 0,
            release: 0,
        })
    };
    // SAFETY: Mutex is made of atomics and an UnsafeCell, so a `&Mutex` promises nothing
    // that another process breaks by changing it; the mapping outlives these references.
    let (mutex, holding, release) = unsafe {
        (
            &(*shared).mutex,
            atomic_u32(addr_of_mut!((*shared).holding)),
            atomic_u32(addr_of_mut!((*shared).release)),
        )
    };
    println!(
        "a std::sync::Mutex<u64> written into the shared mapping at {:#x}",
        mutex as *const _ as usize
    );

    let holder = fork_child(|| {
        let guard = mutex.lock().unwrap();
        child!("holder: locked it");
        holding.store(1, Ordering::Release);
        wait_for(release);
        drop(guard); // unlock: wakes waiters with FUTEX_WAKE | FUTEX_PRIVATE_FLAG
        0
    })?;
    wait_for(holding);
    let waiter = fork_child(|| {
        child!("waiter: calling lock()");
        let _guard = mutex.lock();
        child!("waiter: got the lock (it never should)");
        0
    })?;
    let range = mutex as *const _ as usize..mutex as *const _ as usize + size_of::<Mutex<u64>>();
    let (futex, op) = wait_until_asleep_on(waiter.pid(), &range)?;
    parent!(
        "the waiter sleeps in futex({futex:#x}, {}), says /proc/{}/syscall",
        futex_op_name(op),
        waiter.pid()
    );

    release.store(1, Ordering::Release);
    let pid = holder.pid();
    parent!("the holder unlocked; child pid {pid} {}", holder.wait()?);
    let free = mutex.try_lock().is_ok();
    let still = futex_sleep(waiter.pid())? == Some((futex, op));
    parent!(
        "the lock is {}, and the waiter {}",
        if free {
            "free (try_lock succeeds here)"
        } else {
            "still held"
        },
        if still {
            "still sleeps: the holder's private wake-up never reached it"
        } else {
            "woke up"
        }
    );
    let pid = waiter.pid();
    kill(pid, Signal::SIGKILL).map_err(Error::sys("kill"))?;
    parent!("child pid {pid} {} (by us)", waiter.wait()?);
    Ok(())
}

// ANCHOR_END: std_mutex
fn wait_for(flag: &AtomicU32) {
    while flag.load(Ordering::Acquire) == 0 {
        std::thread::yield_now();
    }
}

/// Waits until `pid` sleeps in futex() on a word inside `range`; returns that word's
/// address and the futex operation.
fn wait_until_asleep_on(pid: Pid, range: &std::ops::Range<usize>) -> Result<(usize, u64)> {
    loop {
        match futex_sleep(pid)? {
            Some((addr, op)) if range.contains(&addr) => return Ok((addr, op)),
            _ => std::thread::yield_now(),
        }
    }
}

/// If `pid` is blocked in futex(), its first two arguments: the word's address and the
/// operation. `/proc/PID/syscall` shows the syscall number, then the arguments in hex
/// (or `running` when the process is not blocked in a system call).
fn futex_sleep(pid: Pid) -> Result<Option<(usize, u64)>> {
    let path = format!("/proc/{pid}/syscall");
    let line = std::fs::read_to_string(&path).map_err(|e| {
        Error::Failed(format!(
            "{path}: {e}; step 6 watches its own child there, which a strict ptrace policy \
             (kernel.yama.ptrace_scope = 2 or 3) forbids"
        ))
    })?;
    let fields: Vec<&str> = line.split_whitespace().collect();
    let hex = |i: usize| {
        let field = fields.get(i)?;
        u64::from_str_radix(field.trim_start_matches("0x"), 16).ok()
    };
    let number = fields.first().and_then(|n| n.parse::<i64>().ok());
    Ok(match (number, hex(1), hex(2)) {
        (Some(libc::SYS_futex), Some(addr), Some(op)) => Some((addr as usize, op)),
        _ => None,
    })
}

fn futex_op_name(op: u64) -> String {
    let op = op as i32;
    let command = match op & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) {
        libc::FUTEX_WAIT => "FUTEX_WAIT",
        libc::FUTEX_WAIT_BITSET => "FUTEX_WAIT_BITSET",
        _ => "another futex operation",
    };
    if op & libc::FUTEX_PRIVATE_FLAG != 0 {
        format!("{command}|FUTEX_PRIVATE_FLAG")
    } else {
        command.to_string()
    }
}
