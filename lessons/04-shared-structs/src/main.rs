//! Lesson 04: structures in shared memory, and Rust's rules for memory others change.
//!
//! The story: lay out a `#[repr(C)]` header; write it before any child exists and publish
//! it last with a Release store; show what `attach` refuses; let children attach and count
//! together through atomics made in place; map one memory file twice to see why a pointer
//! stored in shared memory is wrong where an offset is right; and watch a waiter on
//! `std::sync::Mutex` sleep forever, because std's futex is private to one process.
//!
//! The longer steps are modules of this binary, one file per step under `src/story/`;
//! `src/lib.rs` and its modules are what later lessons reuse. The steps themselves are safe
//! code, but for step 5's deliberate fault: the `unsafe` blocks sit in small typed helpers
//! next to the steps that need them, and in the library, each with the reason it holds.

use std::sync::atomic::Ordering;

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS};
use l04_shared_structs::{COUNTERS_OFFSET, Header, REGION_SIZE, Region, header_layout, hex32};
use nix::sys::mman::ProtFlags;

mod story {
    pub mod attach_checks;
    pub mod offsets;
    pub mod std_mutex;
}
use story::attach_checks::attach_checks_first;
use story::offsets::offsets_not_pointers;
use story::std_mutex::std_mutex_stays_home;

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
    children_attach_and_count(&mapping, children)?;
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
fn initialize_before_fork(mapping: &Mapping) -> Result<Region<'_>> {
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

// ANCHOR: children
fn children_attach_and_count(mapping: &Mapping, children: u64) -> Result<()> {
    section(&match children {
        1 => "4. 1 child attaches, checks the header, and counts".to_string(),
        n => format!("4. {n} children attach, check the header, and count together"),
    });
    let mut forked = Vec::new();
    for i in 0..children {
        // The child inherited the mapping at the same address, and never unmaps it.
        forked.push(fork_child(move || {
            let region = match Region::attach_to(mapping) {
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
    let (attached, total) = Region::attach_to(mapping)?.counters();
    parent!(
        "attached = {}, total = {} ({children} x {INCREMENTS}): fetch_add lost nothing",
        attached.load(Ordering::Relaxed),
        total.load(Ordering::Relaxed)
    );
    Ok(())
}
// ANCHOR_END: children
