//! The interlock: a System V segment of just a header, kept for the one fact the kernel
//! tracks for System V segments and not for mappings: how many processes have it attached.
//!
//! The postmaster creates it by lesson 06's key search and stays attached; every child
//! inherits the attachment through `fork`. So while any process of the server lives, even
//! after the postmaster itself has died, `shm_nattch` is not zero, and a new start refuses.

use std::path::Path;

use common::Result;
use l01_mmap::{Mapping, page_size};
use l06_keys_and_strangers::{Created, Found, Header, Probe, key_hex};

use crate::shmem_size::PARTS_OFFSET;

// ANCHOR: interlock
/// The tiny segment: just a [`Header`] (56 bytes, PostgreSQL's), at the first free key from
/// `dir`'s inode number (lesson 06's search, which skips strangers and removes a stale
/// segment of ours). Its header's tag names `lesson`, the lesson whose server this is.
/// `report` hears of every segment the search met on its way. It stays attached: that is
/// our `nattch`.
pub fn create_interlock(dir: &Path, lesson: u8, report: &mut dyn FnMut(&Probe)) -> Result<Created> {
    let key = l06_keys_and_strangers::key_from_inode(dir)?;
    l06_keys_and_strangers::create_from(dir, size_of::<Header>(), lesson, key, report)
}

/// What a start says of a segment the key search met on its way; nothing of one in use,
/// where the search stops with an error that says why.
pub fn probe_note(probe: &Probe) -> Option<String> {
    let (key, shmid) = (key_hex(probe.key), probe.shmid);
    match probe.found {
        Found::Stranger => Some(format!(
            "key {key}: shmid {shmid} is a stranger's: next key"
        )),
        Found::OursStale => Some(format!(
            "key {key}: shmid {shmid} is ours, stale: removed it"
        )),
        Found::Gone => Some(format!("key {key}: shmid {shmid} vanished: try again")),
        Found::OursInUse { .. } => None,
    }
}

/// Copies the interlock's header into the start of the big mapping, as PostgreSQL copies its
/// `PGShmemHeader` into the anonymous segment: whoever finds the big area finds it described.
pub fn copy_header(shmem: &Mapping, header: &Header) {
    assert!(shmem.len() >= PARTS_OFFSET && page_size() > 0);
    // SAFETY: the mapping is page-aligned and longer than a Header (asserted); no other
    // process exists yet, so nobody reads while we write.
    unsafe { shmem.as_ptr().cast::<Header>().write(*header) };
}
// ANCHOR_END: interlock
