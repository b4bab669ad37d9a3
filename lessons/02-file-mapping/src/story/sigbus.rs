//! Step 6: past the end of the file, SIGBUS.
//!
//! `mmap` does not check a length against the file's size. The bytes after the end in the
//! file's last page read as zero; a page that lies wholly past the end has nothing behind
//! it, and touching it gets SIGBUS. A child takes that fault, so the lesson can report it.

use std::fs::File;

use common::{Result, child, fork_child, parent, section};
use l01_mmap::page_size;
use l02_file_mapping::map_file;
use nix::sys::mman::{MapFlags, ProtFlags};

// ANCHOR: sigbus
pub fn touch_past_the_end(file: &File, size: usize) -> Result<()> {
    section("6. Past the end of the file: SIGBUS");
    let page = page_size();
    let file_pages = size.div_ceil(page);
    let len = (file_pages + 1) * page;
    let mapping = map_file(file, 0, len, ProtFlags::PROT_READ, MapFlags::MAP_SHARED)?;
    println!(
        "mmap(NULL, {len}, PROT_READ, MAP_SHARED, fd, 0) = {:#x}: one page more than the file",
        mapping.as_ptr() as usize
    );
    if !size.is_multiple_of(page) {
        let last = file_pages * page - 1;
        // SAFETY: byte `last` is in the file's last page, which the file backs (partly);
        // nobody writes it now.
        let byte = unsafe { mapping.read_at(last, 1) }[0];
        println!("byte {last}, past the end of the file but inside its last page, reads {byte}");
    }

    let beyond = file_pages * page;
    let p = mapping.as_ptr();
    let child = fork_child(|| {
        // A deliberate crash should not leave a core file behind.
        let _ = nix::sys::prctl::set_dumpable(false);
        child!("reading byte {beyond}, in the page that lies wholly past the end of the file");
        // SAFETY: not sound, on purpose: no page of the file backs this address, so the
        // kernel sends SIGBUS instead of completing the read. Nothing after this runs.
        let byte = unsafe { p.add(beyond).read_volatile() };
        child!("read {byte} (it never should)");
        0
    })?;
    let pid = child.pid();
    let exit = child.wait()?;
    parent!("child pid {pid} {exit}");
    parent!("no page of the file backs byte {beyond}, so the kernel had nothing to map there");
    Ok(())
}
// ANCHOR_END: sigbus
