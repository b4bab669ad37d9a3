//! The lock's one word of state, bit by bit, in PostgreSQL 18's own layout.
//!
//! Everything an LWLock knows is in this word: how many hold it shared, whether one holds
//! it exclusive, and three flags for its wait queue. Because it is one word, a process
//! checks and changes all of it in one compare-and-swap, and that swap fails if *anything*
//! changed since the process read it: no state can fall between two fields.

// ANCHOR: state
/// The bits of [`LwLock::state`], PostgreSQL 18's own layout (`LW_VAL_SHARED` ...).
/// Bits 0-17: how many processes hold the lock shared; add `SHARED` to count one more.
/// (`LW_SHARED_MASK` is `MAX_BACKENDS`, 2^18 - 1: room for every process a server may have.)
pub const SHARED: u32 = 1;
pub const SHARED_MASK: u32 = (1 << 18) - 1;
/// Bit 18: a process holds the lock exclusive. Never set while the shared count is not 0.
pub const EXCLUSIVE: u32 = 1 << 18;
/// Bits 0-18: "somebody holds the lock", in either mode.
pub const LOCK_MASK: u32 = (1 << 19) - 1;
/// Bit 29: the wait-list lock. Whoever sets it may change the wait queue; nobody else.
pub const LOCKED: u32 = 1 << 29;
/// Bit 30: a release may wake waiters. Cleared by a wake-up, set again by the woken
/// process once it runs: until then, more releases would only wake more processes that
/// cannot get the lock either.
pub const RELEASE_OK: u32 = 1 << 30;
/// Bit 31: the wait queue may hold processes; a release that frees the lock must look.
pub const HAS_WAITERS: u32 = 1 << 31;

/// The two ways to hold the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Mode {
    /// With any number of other readers, never with a writer.
    Shared = 1,
    /// Alone.
    Exclusive = 2,
}
// ANCHOR_END: state

/// The state word in words: `2 shared | HAS_WAITERS | RELEASE_OK`.
pub fn describe(state: u32) -> String {
    let holders = if state & EXCLUSIVE != 0 {
        // A shared count beside the exclusive bit is a bug (a reader that added itself and
        // did not take it back): show it rather than hide it.
        match state & SHARED_MASK {
            0 => "exclusive".to_string(),
            n => format!("exclusive + {n} shared"),
        }
    } else {
        match state & SHARED_MASK {
            0 => "free".to_string(),
            n => format!("{n} shared"),
        }
    };
    let flags = [
        (LOCKED, "LOCKED"),
        (HAS_WAITERS, "HAS_WAITERS"),
        (RELEASE_OK, "RELEASE_OK"),
    ];
    flags
        .iter()
        .filter(|(bit, _)| state & bit != 0)
        .fold(holders, |text, (_, name)| format!("{text} | {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_is_described_in_postgres_terms() {
        assert_eq!(describe(RELEASE_OK), "free | RELEASE_OK");
        assert_eq!(
            describe((2 * SHARED) | HAS_WAITERS | RELEASE_OK),
            "2 shared | HAS_WAITERS | RELEASE_OK"
        );
        assert_eq!(describe(EXCLUSIVE | LOCKED), "exclusive | LOCKED");
    }

    #[test]
    fn the_layout_leaves_room_for_every_shared_holder() {
        assert!(crate::MAX_PROCS as u32 <= SHARED_MASK);
        assert_eq!(LOCK_MASK, SHARED_MASK | EXCLUSIVE);
    }
}
