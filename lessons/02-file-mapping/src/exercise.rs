//! Lesson 02's exercise: write into a file through a shared mapping.
//!
//! Fill in the function, then run `cargo course check 02` until it is green. `cargo course
//! hint 02` gives hints, one level at a time; src/solution.rs has an answer.

use std::path::Path;

use common::Result;

#[allow(unused_imports)] // you will need these
use crate::{map_file, msync};
#[allow(unused_imports)]
use common::Error;
#[allow(unused_imports)]
use l01_mmap::page_size;
#[allow(unused_imports)]
use nix::sys::mman::{MapFlags, MsFlags, ProtFlags};

/// Writes `bytes` into the file at `path`, at byte `offset`, through a `MAP_SHARED`
/// mapping, and returns once `msync` has written them to the file's storage.
///
/// Refuses (with an error, before mapping anything) a range that does not lie wholly
/// inside the file: past the end there is no file to write to. Bytes that fall in the rest
/// of the file's last page are silently dropped by the kernel, and a page wholly past
/// the end raises SIGBUS.
pub fn write_through_mapping(path: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    let _ = (path, offset, bytes);
    todo!(
        "open the file read-write, refuse a range past its end, map MAP_SHARED from a page start, copy, msync"
    )
}
