//! Step 2: the postmaster creates its structures by name, as each subsystem of
//! PostgreSQL does at start-up.
//!
//! `found = false` means "you are first: initialize it", and the postmaster does, for
//! "XLOG Ctl". Asking again gives the same offset and `found = true`; asking with another
//! size, or for more than is left, is an error in PostgreSQL's own words.

use common::{Result, parent, section};
use l13_shmem_index::{CACHE_LINE, Shmem, cache_line_align, init_struct};

use crate::{STARTUP, XLOG_GREETING};

// ANCHOR: create_structures
pub fn create_structures(shmem: &Shmem) -> Result<Vec<usize>> {
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
