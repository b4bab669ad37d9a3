//! Lesson 02's exercise, solved: write into a file through a shared mapping.

use std::path::Path;

use common::{Error, Result};
use l01_mmap::page_size;
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags};

use crate::{map_file, msync};

// ANCHOR: solution
/// Writes `bytes` into the file at `path`, at byte `offset`, through a `MAP_SHARED`
/// mapping, and returns once `msync` has written them to the file's storage.
///
/// Refuses (with an error, before mapping anything) a range that does not lie wholly
/// inside the file: past the end there is no file to write to. Bytes that fall in the rest
/// of the file's last page are silently dropped by the kernel, and a page wholly past
/// the end raises SIGBUS.
pub fn write_through_mapping(path: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    let file = std::fs::File::options().read(true).write(true).open(path)?;
    let file_len = file.metadata()?.len();
    let end = offset.checked_add(bytes.len() as u64);
    if end.is_none_or(|end| end > file_len) {
        return Err(Error::Usage(format!(
            "cannot write {} bytes at offset {offset}: the file ends at byte {file_len}",
            bytes.len()
        )));
    }
    if bytes.is_empty() {
        return Ok(()); // mmap refuses a length of 0, and there is nothing to do
    }

    // mmap takes only whole pages of the file: start at the page that holds `offset`,
    // and write `skip` bytes into it.
    let page = page_size() as u64;
    let page_start = offset - offset % page;
    let skip = (offset - page_start) as usize;
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let mapping = map_file(
        &file,
        page_start,
        skip + bytes.len(),
        prot,
        MapFlags::MAP_SHARED,
    )?;
    // SAFETY: `skip..skip + len` is inside the mapping, and it maps file bytes
    // `offset..end`, which lie inside the file (checked above). If another process
    // truncates the file right now, the write faults with SIGBUS: a checked length is
    // only as good as the cooperation of everyone else who opens the file.
    unsafe { mapping.write_at(skip, bytes) };
    msync(&mapping, MsFlags::MS_SYNC)
}
// ANCHOR_END: solution
