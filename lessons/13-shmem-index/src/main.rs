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
//!
//! Steps 1 and 6 are below, with what every step shares (the structures made at start-up
//! and late, `read_bytes`); the steps in between are in src/story/, one file each; what
//! later lessons reuse is the library (src/lib.rs).

use clap::Parser;
use common::{Error, Result, parent, section};
use l13_shmem_index::{IndexEntry, Segment, Shmem, allocation_table, cache_line_align};

mod story {
    pub mod another_address;
    pub mod children_find_them;
    pub mod create_structures;
    pub mod late_creators;
}
use story::another_address::another_address;
use story::children_find_them::children_find_them;
use story::create_structures::create_structures;
use story::late_creators::late_creators;

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

/// Asked for by every racer at once.
const LATE_SHARED: (&str, usize) = ("pg_stat_statements", 640);

/// Created by racer 0 after the shared one, one by one, while the others list the index.
const LATE: &[(&str, usize)] = &[
    ("my_ext counters", 40),
    ("my_ext queue", 3000),
    ("my_ext flags", 8),
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

/// `len` bytes at `ptr`, as text.
///
/// # Safety
/// `ptr..ptr + len` is readable, and nobody writes it meanwhile.
unsafe fn read_bytes(ptr: *const u8, len: usize) -> String {
    // SAFETY: the caller's promise.
    let bytes = unsafe { std::slice::from_raw_parts(ptr, len) };
    String::from_utf8_lossy(bytes).into_owned()
}
