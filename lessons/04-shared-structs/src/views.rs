//! Two views of one memory file: the same pages at two addresses in one process.
//!
//! Unrelated processes that map one segment each find it wherever their kernel had room.
//! Mapping one memory file twice shows the same thing inside a single process, which is
//! why shared structures store offsets, never pointers.

use std::fs::File;

use common::{Error, Result};
use l01_mmap::Mapping;
use l02_file_mapping::map_file;
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::mman::{MapFlags, ProtFlags};

// ANCHOR: views
/// Makes a memory file (`memfd_create`: no name on disk, nothing left in /dev/shm) of `len`
/// bytes and maps it twice, `MAP_SHARED`: two addresses, the same pages. Another process
/// that maps a shared segment sees it the way view B sees view A's bytes.
pub fn map_twice(name: &str, len: usize) -> Result<(Mapping, Mapping)> {
    let fd = memfd_create(name, MFdFlags::MFD_CLOEXEC).map_err(Error::sys("memfd_create"))?;
    let file = File::from(fd);
    file.set_len(len as u64)?; // ftruncate: no page of either view lies past the end
    let prot = ProtFlags::PROT_READ | ProtFlags::PROT_WRITE;
    let a = map_file(&file, 0, len, prot, MapFlags::MAP_SHARED)?;
    let b = map_file(&file, 0, len, prot, MapFlags::MAP_SHARED)?;
    // The file closes when `file` drops; the two mappings keep the memory alive.
    Ok((a, b))
}
// ANCHOR_END: views

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_views_share_their_bytes() {
        let (a, b) = map_twice("l04-test", 4096).unwrap();
        assert_ne!(a.as_ptr(), b.as_ptr());
        // SAFETY: both views are 4096 bytes, mapped read-write, used only by this test.
        unsafe {
            a.as_ptr().add(100).write(42);
            assert_eq!(b.as_ptr().add(100).read(), 42);
        }
    }
}
