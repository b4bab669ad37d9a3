//! The exercise's structure: a record published whole, while a reader is already watching.
//!
//! Unlike the story's region, a mailbox is attached before anything is published in it:
//! its `ready` flag is about the record, not the header. The learner writes `attach`,
//! `publish` and `try_read` in src/exercise.rs.

use std::ptr::addr_of_mut;

#[cfg(doc)]
use crate::atomic_u32;

// ANCHOR: mailbox
/// The exercise's structure: one record of [`MAILBOX_WORDS`] words, published whole.
pub const MAILBOX_MAGIC: u32 = 0x4d41_494c;
pub const MAILBOX_VERSION: u32 = 1;
/// Large on purpose: writing 32 KiB takes long enough for a reader to catch a writer midway.
pub const MAILBOX_WORDS: usize = 4096;

/// A mailbox in shared memory. The creator writes magic and version (and zeroes the rest)
/// before any reader can see it ([`Mailbox::initialize`]); a writer then fills `data` once
/// and publishes it through `ready`.
#[repr(C)]
pub struct Mailbox {
    /// Always [`MAILBOX_MAGIC`].
    pub magic: u32,
    /// Always [`MAILBOX_VERSION`].
    pub version: u32,
    /// 0: empty, or being written: readers must not look at `data`.
    /// 1: `data` is complete and will not change.
    /// Accessed only as an `AtomicU32` ([`atomic_u32`]).
    pub ready: u32,
    reserved: u32,
    /// The record. Written only while `ready` is 0, read only after `ready` is 1.
    pub data: [u64; MAILBOX_WORDS],
}

impl Mailbox {
    /// Writes an empty mailbox at `base`: magic, version, `ready` 0, every word 0.
    ///
    /// # Safety
    /// `base` must be aligned for `Mailbox` and have `size_of::<Mailbox>()` writable bytes
    /// that no other process reads or writes during this call.
    pub unsafe fn initialize(base: *mut u8) -> *mut Mailbox {
        let mailbox = base.cast::<Mailbox>();
        // SAFETY: aligned, in bounds and unobserved (the caller's promise); zero is a valid
        // value for every field, and magic and version are then written in place.
        unsafe {
            mailbox.write_bytes(0, 1);
            addr_of_mut!((*mailbox).magic).write(MAILBOX_MAGIC);
            addr_of_mut!((*mailbox).version).write(MAILBOX_VERSION);
        }
        mailbox
    }
}
// ANCHOR_END: mailbox
