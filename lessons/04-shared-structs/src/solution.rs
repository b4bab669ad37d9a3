//! Lesson 04's exercise, solved: publish a record so that a reader never sees it half written.

use std::mem::{align_of, size_of};
use std::ptr::addr_of_mut;
use std::sync::atomic::Ordering;

use crate::{AttachError, MAILBOX_MAGIC, MAILBOX_VERSION, MAILBOX_WORDS, Mailbox, atomic_u32};

// ANCHOR: attach
/// Checks that `base..base + len` holds a mailbox of ours, and returns it.
/// Alignment and length come first, because until they hold, reading even the magic could
/// touch bytes past the end or make a misaligned atomic.
///
/// # Safety
/// `base..base + len` must be mapped, readable and writable, while the mailbox is used.
pub unsafe fn attach(base: *mut u8, len: usize) -> Result<*mut Mailbox, AttachError> {
    let align = align_of::<Mailbox>();
    if !(base as usize).is_multiple_of(align) {
        return Err(AttachError::Misaligned {
            addr: base as usize,
            align,
        });
    }
    let need = size_of::<Mailbox>();
    if len < need {
        return Err(AttachError::TooSmall { len, need });
    }
    let mailbox = base.cast::<Mailbox>();
    // SAFETY: aligned and in bounds (checked above). The creator wrote magic and version
    // before any reader existed, and nobody writes them again, so plain reads race with nobody.
    let (magic, version) = unsafe { ((*mailbox).magic, (*mailbox).version) };
    if magic != MAILBOX_MAGIC {
        return Err(AttachError::WrongMagic {
            found: magic,
            expected: MAILBOX_MAGIC,
        });
    }
    if version != MAILBOX_VERSION {
        return Err(AttachError::WrongVersion {
            found: version,
            expected: MAILBOX_VERSION,
        });
    }
    Ok(mailbox)
}
// ANCHOR_END: attach

// ANCHOR: publish
/// Copies `words` into the mailbox, then publishes them: the data first, `ready` last, with
/// Release, so that whoever loads `ready == 1` with Acquire also sees every word.
///
/// # Safety
/// `mailbox` came from [`attach`]; this is the only writer, and it publishes only once.
pub unsafe fn publish(mailbox: *mut Mailbox, words: &[u64; MAILBOX_WORDS]) {
    // SAFETY: `data` is inside the mailbox; while `ready` is 0 no reader looks at it, so
    // this plain copy races with nobody.
    unsafe {
        addr_of_mut!((*mailbox).data)
            .cast::<u64>()
            .copy_from_nonoverlapping(words.as_ptr(), MAILBOX_WORDS)
    };
    // SAFETY: `ready` is inside the mailbox and is only ever accessed atomically.
    let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) };
    ready.store(1, Ordering::Release);
}
// ANCHOR_END: publish

// ANCHOR: try_read
/// The published record, or `None` while there is none: `ready` first, with Acquire, and
/// only then the data.
///
/// # Safety
/// `mailbox` came from [`attach`].
pub unsafe fn try_read(mailbox: *mut Mailbox) -> Option<Vec<u64>> {
    // SAFETY: `ready` is inside the mailbox and is only ever accessed atomically.
    let ready = unsafe { atomic_u32(addr_of_mut!((*mailbox).ready)) };
    if ready.load(Ordering::Acquire) != 1 {
        return None;
    }
    let mut words = vec![0u64; MAILBOX_WORDS];
    // SAFETY: the Acquire load saw 1, so every word was written before it and none is
    // written after; a plain copy through a raw pointer (no `&` to shared memory) is sound.
    unsafe {
        addr_of_mut!((*mailbox).data)
            .cast::<u64>()
            .copy_to_nonoverlapping(words.as_mut_ptr(), MAILBOX_WORDS)
    };
    Some(words)
}
// ANCHOR_END: try_read
