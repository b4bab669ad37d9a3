//! Step 5: offsets, not pointers.
//!
//! Forked children inherit a mapping at the same address, so a pointer stored in shared
//! memory happens to work for them; a process that maps the memory itself finds it wherever
//! its kernel had room. One memory file mapped twice shows it in one process, and a child
//! that unmaps one view shows what following a stored pointer then does.

use common::{Result, child, fork_child, parent, section};
use l01_mmap::{Mapping, maps_entry};
use l04_shared_structs::map_twice;

// ANCHOR: offsets
/// Where, in the memory file, the record lives; and the two ways we remember that.
const RECORD_OFFSET: usize = 256;
const STORED_POINTER_AT: usize = 0;
const STORED_OFFSET_AT: usize = 8;

pub fn offsets_not_pointers() -> Result<()> {
    section("5. Offsets, not pointers");
    let (a, b) = map_twice("l04-shared-structs", 4096)?;
    println!(
        "one memfd, mapped twice with MAP_SHARED: view A at {:#x}, view B at {:#x}",
        a.as_ptr() as usize,
        b.as_ptr() as usize
    );
    let text = *b"record #1\0\0\0\0\0\0\0";
    let record = a.as_ptr() as usize + RECORD_OFFSET;
    View(&a).write(RECORD_OFFSET, &text);
    View(&a).write(STORED_POINTER_AT, &record.to_ne_bytes());
    View(&a).write(STORED_OFFSET_AT, &RECORD_OFFSET.to_ne_bytes());
    println!(
        "through A: wrote {:?} at offset {RECORD_OFFSET}, stored its address and its offset",
        cstr(&text)
    );
    let pointer = View(&b).word(STORED_POINTER_AT);
    let offset = View(&b).word(STORED_OFFSET_AT);
    println!(
        "through B: base + offset {offset} reads {:?}",
        View(&b).text(offset)
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

    let child = fork_child(move || {
        let _ = nix::sys::prctl::set_dumpable(false);
        // The closure owns both views (`move`): dropping A unmaps the child's copy of it. The
        // parent's copies go when fork_child drops the closure it did not run.
        drop(a);
        child!(
            "unmapped view A: here the file is mapped only at B, as in a process that mapped it elsewhere"
        );
        child!("base B + offset {offset} reads {:?}", View(&b).text(offset));
        let mapped = maps_entry(pointer as *const u8).ok().flatten().is_some();
        child!(
            "the stored address: /proc/self/maps lists {} there; following it...",
            if mapped { "a mapping" } else { "nothing" }
        );
        // SAFETY: not sound, on purpose: nothing is mapped at `pointer` in this process, so
        // the load faults and the kernel sends SIGSEGV. Nothing after this line runs.
        let text = unsafe { text_at(pointer) };
        child!("read {text:?} (it never should)");
        0
    })?;
    let pid = child.pid();
    parent!("child pid {pid} {}", child.wait()?);
    Ok(())
}
// ANCHOR_END: offsets

/// One view of the memory file. Only the lesson's processes have the file, and they take
/// turns (the parent waits for its child), so nobody writes while another reads; `Mapping`
/// checks every range.
struct View<'a>(&'a Mapping);

impl View<'_> {
    fn write(&self, offset: usize, bytes: &[u8]) {
        // SAFETY: the views are mapped read-write, `write_at` checks the range, and one
        // process at a time uses the file.
        unsafe { self.0.write_at(offset, bytes) }
    }

    /// The `usize` stored at `offset`.
    fn word(&self, offset: usize) -> usize {
        // SAFETY: as in `write`.
        let bytes = unsafe { self.0.read_at(offset, size_of::<usize>()) };
        usize::from_ne_bytes(
            bytes
                .try_into()
                .expect("read_at returns the length asked for"),
        )
    }

    /// The text at `offset`, up to 16 bytes.
    fn text(&self, offset: usize) -> String {
        // SAFETY: as in `write`.
        cstr(&unsafe { self.0.read_at(offset, 16) })
    }
}

/// The text at `address`, up to 16 bytes: a stored pointer, followed.
///
/// # Safety
/// `address..address + 16` must be mapped and readable, and nobody may write it meanwhile.
unsafe fn text_at(address: usize) -> String {
    let mut bytes = [0u8; 16];
    // SAFETY: the caller's promise.
    unsafe { (address as *const u8).copy_to_nonoverlapping(bytes.as_mut_ptr(), 16) };
    cstr(&bytes)
}

fn cstr(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}
