//! Lesson 01: one anonymous mapping, from `mmap` to `munmap`.
//!
//! The story: ask the kernel for a few thousand bytes; see in `/proc/self/maps` that it
//! mapped whole pages; read the zeros it filled them with; make them read-only and watch a
//! child die of SIGSEGV for writing anyway; unmap, and see the range disappear.
//! Everything later in the course (sharing across fork, System V, locks, the postmaster)
//! starts from this one call.

use clap::Parser;
use common::{Error, Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, PG_MMAP_FLAGS, listed_mapping, maps_entry, page_size};
use nix::sys::mman::ProtFlags;

/// Map anonymous memory, look at it in /proc/self/maps, protect it, unmap it.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// How many bytes to ask mmap for (the kernel maps whole pages).
    #[arg(long, default_value_t = 5000, value_parser = common::positive)]
    bytes: u64,
}

fn main() -> std::process::ExitCode {
    common::main(run)
}

fn run(args: Args) -> Result<()> {
    let len = checked_size(args.bytes)?;
    let mapping = ask_for_memory(len)?;
    show_what_was_mapped(&mapping)?;
    read_and_write(&mapping)?;
    protect_and_trespass(&mapping)?;
    unmap(mapping)
}

/// Refuses sizes this machine could never provide, before asking the kernel.
fn checked_size(bytes: u64) -> Result<usize> {
    let info = nix::sys::sysinfo::sysinfo().map_err(Error::sys("sysinfo"))?;
    let available = info.ram_total() + info.swap_total();
    match usize::try_from(bytes) {
        Ok(len) if bytes <= available => Ok(len),
        _ => Err(Error::Usage(format!(
            "--bytes {bytes} is more than this machine has (memory plus swap); try a smaller size"
        ))),
    }
}

// ANCHOR: ask
fn ask_for_memory(len: usize) -> Result<Mapping> {
    section(&format!(
        "1. Ask the kernel for {len} byte{}",
        if len == 1 { "" } else { "s" }
    ));
    println!("page size: {} bytes", page_size());
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = Mapping::anonymous(len, prot, PG_MMAP_FLAGS)?;
    println!(
        "mmap(NULL, {len}, PROT_READ|PROT_WRITE, MAP_SHARED|MAP_ANONYMOUS, -1, 0) = {:#x}",
        mapping.as_ptr() as usize
    );
    Ok(mapping)
}
// ANCHOR_END: ask

// ANCHOR: maps
fn show_what_was_mapped(mapping: &Mapping) -> Result<()> {
    section("2. What the kernel really mapped, says /proc/self/maps");
    let entry = listed_mapping(mapping.as_ptr())?;
    println!("{entry}");
    let pages = entry.size() / page_size();
    let plural = if pages == 1 { "" } else { "s" };
    if entry.size() == mapping.len() {
        println!(
            "{} bytes: exactly the {pages} whole page{plural} asked for",
            entry.size()
        );
    } else {
        println!(
            "{} bytes: the {} asked for, rounded up to {pages} whole page{plural}",
            entry.size(),
            mapping.len()
        );
    }
    Ok(())
}
// ANCHOR_END: maps

// ANCHOR: touch
fn read_and_write(mapping: &Mapping) -> Result<()> {
    section("3. Fresh pages read as zero; what we write stays");
    let p = mapping.as_ptr();
    let last = mapping.mapped_len() - 1;
    // SAFETY: offsets 0, len-1 and `last` all lie in the mapped pages, which are readable;
    // no other process exists yet, so nobody writes them while we read.
    let (first, end, tail) = unsafe { (*p, *p.add(mapping.len() - 1), *p.add(last)) };
    println!(
        "byte 0 = {first}, byte {} = {end}, byte {last} = {tail}",
        mapping.len() - 1
    );
    // SAFETY: 5 bytes at offset 0 fit in the smallest mapping we make (one page), and the
    // pages are writable.
    unsafe { p.copy_from_nonoverlapping(b"hello".as_ptr(), 5) };
    println!(
        "wrote {:?} at offset 0, read back {:?}",
        "hello",
        read_text(mapping)
    );
    Ok(())
}
// ANCHOR_END: touch

// ANCHOR: protect
fn protect_and_trespass(mapping: &Mapping) -> Result<()> {
    section("4. Read-only pages: reading works, writing kills");
    mapping.protect(0, mapping.len(), ProtFlags::PROT_READ)?;
    let entry = maps_entry(mapping.as_ptr())?.expect("still mapped");
    println!(
        "mprotect(PROT_READ); /proc/self/maps now says {}",
        entry.perms
    );
    println!("reading still works: {:?}", read_text(mapping));

    let p = mapping.as_ptr();
    let child = fork_child(|| {
        // A deliberate crash should not leave a core file behind.
        let _ = nix::sys::prctl::set_dumpable(false);
        child!("writing 'X' at offset 0 of the read-only page");
        // SAFETY: not sound, on purpose: the page is read-only, so the CPU faults and the
        // kernel sends SIGSEGV before the write happens. Nothing after this line runs.
        unsafe { p.write_volatile(b'X') };
        child!("the write went through (it never should)");
        0
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!("child pid {pid} {exit}");
    parent!(
        "the shared page still reads {:?}: the write never happened",
        read_text(mapping)
    );
    Ok(())
}
// ANCHOR_END: protect

// ANCHOR: unmap
fn unmap(mapping: Mapping) -> Result<()> {
    section("5. Unmap");
    let (start, size) = (mapping.as_ptr(), mapping.len());
    drop(mapping); // Mapping's Drop calls munmap
    let still_there = maps_entry(start)?.is_some_and(|e| e.start == start as usize);
    println!(
        "after munmap({:#x}, {size}), /proc/self/maps {} the range",
        start as usize,
        if still_there {
            "still lists"
        } else {
            "no longer lists"
        }
    );
    Ok(())
}
// ANCHOR_END: unmap

/// The first five bytes of the mapping, as text.
fn read_text(mapping: &Mapping) -> String {
    // SAFETY: the pages are readable, and the only other process (step 4's child) never
    // manages to write.
    String::from_utf8_lossy(&unsafe { mapping.read_at(0, 5) }).into_owned()
}
