//! Lesson 13: the postmaster's region and its index of named structures.
//!
//! The story: the parent (our postmaster) maps one region and lays out its header and
//! index; it creates a few named structures, as PostgreSQL's subsystems do at start-up,
//! and is told off for a wrong size and for a request too big. Then it forks: children
//! find every structure by name, at the same offsets; one child reads the region from a
//! copy at another address, to show that offsets are all it needs; a team of processes
//! creates structures late, racing each other and readers of the index. Last, the region
//! as PostgreSQL's `pg_shmem_allocations` view would list it. Every step is ordered by
//! `waitpid` or by lesson 08's start barrier; nothing sleeps to wait for another process.

use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use common::{Error, Exit, Result, child, fork_child, parent, section};
use l13_shmem_index::{
    CACHE_LINE, IndexEntry, Segment, Shmem, allocation_table, cache_line_align, decode_name,
    init_struct, race,
};

/// Lay out a shared region like PostgreSQL's, find structures in it by name, list it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Bytes in the shared region.
    #[arg(long, value_name = "BYTES", default_value_t = 65536,
          value_parser = common::up_to::<{ 1 << 30 }>)]
    size: u64,

    /// Processes in the late-creation race.
    #[arg(long, value_name = "N", default_value_t = 4,
          value_parser = common::within::<2, { l08_races::MAX_WORKERS as u64 }>)]
    workers: u64,
}

/// Entries the index can hold (PostgreSQL sizes its index for `SHMEM_INDEX_SIZE`, 64).
const INDEX_CAPACITY: usize = 16;

/// What the postmaster creates at start-up, as `CreateSharedMemoryAndSemaphores` has each
/// subsystem do: a name and a size (small ones: 4 buffers of 8 kB).
const STARTUP: &[(&str, usize)] = &[
    ("Buffer Descriptors", 4 * 64),
    ("Buffer Blocks", 4 * 8192),
    ("XLOG Ctl", 520),
    ("Lock table", 2000),
];

/// What the postmaster writes into "XLOG Ctl" when it creates it (found = false).
const XLOG_GREETING: &[u8] = b"initialized by the postmaster";

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let need = calculate_size();
    if (args.size as usize) < need {
        return Err(Error::Usage(format!(
            "--size {} is too small: the header, the index and every structure this lesson \
             creates need {need} bytes",
            args.size
        )));
    }
    let segment = create_region(args.size as usize)?;
    let shmem = segment.shmem();
    let offsets = create_structures(&shmem)?;
    children_find_them(&shmem, &offsets)?;
    another_address(&shmem, args.size as usize)?;
    late_creators(&shmem, args.workers as usize)?;
    list_allocations(&shmem);
    Ok(())
}

// ANCHOR: calculate_size
/// What `CalculateShmemSize` does for PostgreSQL: add up every part before mapping anything,
/// so that a region too small fails at once, not halfway through start-up.
fn calculate_size() -> usize {
    let structures = STARTUP.iter().chain(LATE).chain([&LATE_SHARED]);
    Segment::minimum_size(INDEX_CAPACITY)
        + structures
            .map(|&(_, size)| cache_line_align(size))
            .sum::<usize>()
}
// ANCHOR_END: calculate_size

// ANCHOR: create_region
fn create_region(size: usize) -> Result<Segment> {
    section("1. One region, made before fork");
    let segment = Segment::create(size, INDEX_CAPACITY)?;
    let shmem = segment.shmem();
    parent!(
        "mmap {size} bytes, MAP_SHARED|MAP_ANONYMOUS, at {:p}",
        shmem.base()
    );
    parent!(
        "header at offset 0: magic, total size {}, free offset, index offset, 2 spinlocks",
        shmem.total_size()
    );
    parent!(
        "the index (ShmemIndex): {INDEX_CAPACITY} entries of {} bytes, allocated like anything \
         else",
        size_of::<IndexEntry>()
    );
    parent!(
        "free offset now {}: the header and the index, which is not listed in itself",
        shmem.free_offset()
    );
    Ok(segment)
}
// ANCHOR_END: create_region

// ANCHOR: create_structures
fn create_structures(shmem: &Shmem) -> Result<Vec<usize>> {
    section("2. The postmaster creates its structures by name");
    let mut offsets = Vec::new();
    for &(name, size) in STARTUP {
        let (offset, found) = init_struct(shmem, name, size)?;
        parent!(
            "init_struct({:<21} {size:>5}) -> offset {offset:>5}, found = {found}: initialize it",
            format!("\"{name}\",")
        );
        if name == "XLOG Ctl" && !found {
            // SAFETY: the structure is ours alone (nobody else exists yet), `size` bytes long.
            unsafe {
                shmem
                    .ptr(offset)
                    .copy_from_nonoverlapping(XLOG_GREETING.as_ptr(), XLOG_GREETING.len())
            };
        }
        offsets.push(offset);
    }
    parent!(
        "every offset is a multiple of {CACHE_LINE}; \"XLOG Ctl\" asked for 520 bytes and got {}",
        cache_line_align(520)
    );
    let (offset, found) = init_struct(shmem, "XLOG Ctl", 520)?;
    parent!("init_struct(\"XLOG Ctl\", 520) again -> offset {offset}, found = {found}");
    for (name, size) in [("XLOG Ctl", 600), ("Shared Buffer Lookup Table", 1 << 20)] {
        let err = init_struct(shmem, name, size).unwrap_err();
        parent!("init_struct(\"{name}\", {size}) -> error: {err}");
    }
    Ok(offsets)
}
// ANCHOR_END: create_structures

// ANCHOR: children
fn children_find_them(shmem: &Shmem, offsets: &[usize]) -> Result<()> {
    section("3. Children find them by name");
    for backend in 1..=2 {
        let child = fork_child(|| {
            let mut same = 0;
            for (&(name, size), &expected) in STARTUP.iter().zip(offsets) {
                match init_struct(shmem, name, size) {
                    Ok((offset, true)) if offset == expected => same += 1,
                    _ => {}
                }
            }
            let (offset, _) = init_struct(shmem, "XLOG Ctl", 520).unwrap_or((0, false));
            // SAFETY: "XLOG Ctl" is 520 bytes long; the postmaster wrote it before fork.
            let greeting = unsafe { read_bytes(shmem.ptr(offset), XLOG_GREETING.len()) };
            child!(
                "backend {backend}, child pid {}: {same} of {} found, at the postmaster's offsets",
                std::process::id(),
                STARTUP.len()
            );
            child!(
                "  \"XLOG Ctl\" at base + {offset} = {:p} reads \"{greeting}\"",
                shmem.ptr(offset)
            );
            if same == STARTUP.len() { 0 } else { 1 }
        })?;
        let pid = child.pid();
        let exit = child.wait()?;
        if exit != Exit::Code(0) {
            return Err(Error::Failed(format!("backend child pid {pid} {exit}")));
        }
    }
    parent!("same base in every child (the mapping is inherited), same offsets: same memory");
    Ok(())
}
// ANCHOR_END: children

// ANCHOR: another_address
fn another_address(shmem: &Shmem, size: usize) -> Result<()> {
    section("4. At another address: offsets, not pointers");
    let child = fork_child(|| {
        // A private copy of the region's bytes, on the heap: another address. A copy is not
        // shared (writes to it stay here), but it shows that nothing in the bytes depends on
        // where they are: the header, the index, the entries hold offsets only.
        let layout = Layout::from_size_align(size, 4096).expect("a valid layout");
        // SAFETY: the layout is not zero-sized (the region holds at least a header).
        let Some(copy) = NonNull::new(unsafe { std::alloc::alloc(layout) }) else {
            return 2;
        };
        // SAFETY: both ranges are `size` bytes long, and the copy is fresh. The other
        // processes are waiting for us, so nobody changes the region while we copy it.
        unsafe { copy.as_ptr().copy_from_nonoverlapping(shmem.base(), size) };
        // SAFETY: the copy is ours, `size` bytes, page-aligned, and lives until dealloc.
        let Ok(there) = (unsafe { Shmem::attach(copy, size) }) else {
            return 3;
        };
        let moved = there.base() != shmem.base();
        let entry = there.find("XLOG Ctl").ok().flatten();
        let status = match entry {
            Some(entry) => {
                let offset = entry.offset as usize;
                // SAFETY: the entry's 520 bytes lie inside the copy.
                let greeting = unsafe { read_bytes(there.ptr(offset), XLOG_GREETING.len()) };
                child!(
                    "child pid {}: copied the region to {:p}; a different address: {moved}",
                    std::process::id(),
                    there.base()
                );
                child!("attach() checked the magic; find(\"XLOG Ctl\") -> offset {offset}");
                child!(
                    "  base + {offset} = {:p} reads \"{greeting}\"",
                    there.ptr(offset)
                );
                0
            }
            None => 4,
        };
        // SAFETY: allocated above with this layout, and no longer used.
        unsafe { std::alloc::dealloc(copy.as_ptr(), layout) };
        status
    })?;
    let pid = child.pid();
    match child.wait()? {
        Exit::Code(0) => {}
        exit => return Err(Error::Failed(format!("child pid {pid} {exit}"))),
    }
    parent!("PostgreSQL maps its region at the same address in every process and stores");
    parent!("pointers; with offsets the region would work at any address, as it did here");
    Ok(())
}
// ANCHOR_END: another_address

/// What the racers report, in shared memory (lesson 08's `Shared`).
#[repr(C)]
struct Report {
    /// How many racers were told found = false for the shared name (must end at 1).
    created: AtomicU64,
    /// The offset each racer was given for it, +1 (0: not reported).
    offsets: [AtomicU64; l08_races::MAX_WORKERS],
    /// Index listings taken by the readers, and entries in them that were not whole.
    listings: AtomicU64,
    torn: AtomicU64,
}

/// Asked for by every racer at once.
const LATE_SHARED: (&str, usize) = ("pg_stat_statements", 640);

/// Created by racer 0 after the shared one, one by one, while the others list the index.
const LATE: &[(&str, usize)] = &[
    ("my_ext counters", 40),
    ("my_ext queue", 3000),
    ("my_ext flags", 8),
];

// ANCHOR: late
fn late_creators(shmem: &Shmem, workers: usize) -> Result<()> {
    section("5. Late creators, racing: one lock around look-up and insert");
    parent!(
        "{workers} processes, released together: each calls init_struct(\"pg_stat_statements\", \
         640)"
    );
    parent!(
        "then the first creates {} more, one by one, while the others list the index",
        LATE.len()
    );
    let report = l08_races::Shared::<Report>::new()?;
    // SAFETY: zeroed atomics in a live mapping, used only atomically, outliving `report`.
    let report: &Report = unsafe { &*report.as_ptr() };
    race(workers, true, |index| {
        let (name, size) = LATE_SHARED;
        let (offset, found) = init_struct(shmem, name, size)?;
        if !found {
            report.created.fetch_add(1, Ordering::Relaxed);
        }
        report.offsets[index].store(offset as u64 + 1, Ordering::Relaxed);
        if index == 0 {
            for &(name, size) in LATE {
                init_struct(shmem, name, size)?;
            }
        } else {
            for _ in 0..200 {
                let entries = shmem.entries();
                let torn = entries.iter().filter(|entry| !whole(entry)).count();
                report.torn.fetch_add(torn as u64, Ordering::Relaxed);
                report.listings.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    })?;
    let offsets: Vec<u64> = (0..workers)
        .map(|i| report.offsets[i].load(Ordering::Relaxed))
        .collect();
    let created = report.created.load(Ordering::Relaxed);
    let same = offsets.iter().all(|&o| o != 0 && o == offsets[0]);
    parent!(
        "{created} of them was told found = false and created it, {} found it; {}",
        workers as u64 - created,
        if same {
            format!("all got offset {}", offsets[0] - 1)
        } else {
            "the offsets differ!".into()
        }
    );
    let torn = report.torn.load(Ordering::Relaxed);
    parent!(
        "{} listed the index {} each: {torn} entries seen half written",
        common::count(workers as u64 - 1, "reader", "readers"),
        common::count(
            report.listings.load(Ordering::Relaxed) / (workers as u64 - 1),
            "time",
            "times"
        )
    );
    if created != 1 || !same || torn != 0 {
        return Err(Error::Failed(
            "the index lock did not keep the racers apart".into(),
        ));
    }
    Ok(())
}

/// An entry as only a finished insert leaves it: a name, an aligned offset, and an
/// allocated size that is its size rounded up to cache lines.
fn whole(entry: &IndexEntry) -> bool {
    !decode_name(&entry.name).is_empty()
        && (entry.offset as usize).is_multiple_of(CACHE_LINE)
        && entry.allocated_size as usize == cache_line_align(entry.size as usize)
}
// ANCHOR_END: late

// ANCHOR: list
fn list_allocations(shmem: &Shmem) {
    section("6. The region as pg_shmem_allocations would show it");
    parent!("SELECT name, off, size, allocated_size FROM pg_shmem_allocations ORDER BY off;");
    let rows = allocation_table(shmem.allocations());
    for line in &rows {
        parent!("{line}");
    }
    parent!("({} rows)", rows.len() - 2); // less the header and the rule
    parent!("<anonymous>: the header and the index, allocated but in no entry; the row with");
    parent!("no name: the unused rest, from the free offset to the end. Nothing is ever freed.");
}
// ANCHOR_END: list

/// `len` bytes at `ptr`, as text.
///
/// # Safety
/// `ptr..ptr + len` is readable, and nobody writes it meanwhile.
unsafe fn read_bytes(ptr: *const u8, len: usize) -> String {
    // SAFETY: the caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    String::from_utf8_lossy(bytes).into_owned()
}
