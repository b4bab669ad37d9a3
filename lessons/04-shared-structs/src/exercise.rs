//! Lesson 04's exercise: publish a record so that a reader never sees it half written.
//!
//! Fill in the three functions, then run `cargo course check 04` until it is green. `cargo
//! course hint 04` gives hints, one level at a time; src/solution.rs has an answer.

#[allow(unused_imports)] // you will need these
use std::mem::{align_of, size_of};
#[allow(unused_imports)]
use std::ptr::addr_of_mut;
#[allow(unused_imports)]
use std::sync::atomic::Ordering;

#[allow(unused_imports)]
use crate::{AttachError, MAILBOX_MAGIC, MAILBOX_VERSION, MAILBOX_WORDS, Mailbox, atomic_u32};

/// Checks that `base..base + len` holds a mailbox of ours, and returns it. Refuse, each with
/// its own `AttachError`: a `base` not aligned for `Mailbox`, a `len` smaller than a
/// `Mailbox`, a wrong magic, a wrong version. Never read a byte before you know it is there.
///
/// # Safety
/// `base..base + len` must be mapped, readable and writable, while the mailbox is used.
pub unsafe fn attach(base: *mut u8, len: usize) -> Result<*mut Mailbox, AttachError> {
    let _ = (base, len);
    todo!("check alignment and length, then magic and version; return base as *mut Mailbox")
}

/// Copies `words` into the mailbox's `data` and publishes them, so that a reader in another
/// process that sees `ready == 1` also sees every word.
///
/// # Safety
/// `mailbox` came from [`attach`]; this is the only writer, and it publishes only once.
pub unsafe fn publish(mailbox: *mut Mailbox, words: &[u64; MAILBOX_WORDS]) {
    let _ = (mailbox, words);
    todo!("write the data through a raw pointer, then set ready to 1 (which ordering?)")
}

/// The published record, or `None` while there is none.
///
/// # Safety
/// `mailbox` came from [`attach`].
pub unsafe fn try_read(mailbox: *mut Mailbox) -> Option<Vec<u64>> {
    let _ = mailbox;
    todo!("load ready (which ordering?); only if it is 1, copy the data out")
}
